//! Redis: the connection pool and the one place every key name is built, so each deployment
//! (and each test) lives under its own prefix.

use deadpool_redis::{Pool, Runtime};

use crate::config::Config;

#[derive(Clone)]
pub struct Cache {
    pub pool: Pool,
    pub keys: Keys,
}

/// Builds every Redis key we use from the configured prefix (and carries the job queues'
/// heartbeat, which decides how soon a dead worker's tasks are picked up again).
#[derive(Clone, Debug)]
pub struct Keys {
    prefix: String,
    pub job_heartbeat: std::time::Duration,
    /// Tasks one fetch takes from a queue (apalis-redis' `batch_size`).
    pub job_batch_size: usize,
}

impl Keys {
    pub fn new(prefix: impl Into<String>) -> Self {
        Self { prefix: prefix.into(), job_heartbeat: std::time::Duration::from_secs(5), job_batch_size: 10 }
    }
    pub fn prefix(&self) -> &str {
        &self.prefix
    }
    /// An access token's jti, revoked by logout until the token would have expired anyway.
    pub fn revoked_jti(&self, jti: &str) -> String {
        format!("{}:auth:revoked:{jti}", self.prefix)
    }
    /// A user's device registrations in one hour (`hour`: Unix time / 3600).
    pub fn device_registrations(&self, user: uuid::Uuid, hour: i64) -> String {
        format!("{}:devices:registrations:{user}:{hour}", self.prefix)
    }
    /// Code requests from one source address in one hour (`hour`: Unix time / 3600).
    pub fn otp_source(&self, ip: &str, hour: i64) -> String {
        format!("{}:auth:otp-source:{ip}:{hour}", self.prefix)
    }
    /// Online transporters with an available vehicle of this type (a Redis geo set).
    pub fn geo(&self, vehicle_type: crate::domain::VehicleType) -> String {
        format!("{}:geo:{vehicle_type}", self.prefix)
    }
    /// Present while the transporter's heartbeats keep coming; holds "lat,lng".
    pub fn presence(&self, transporter: impl std::fmt::Display) -> String {
        format!("{}:presence:{transporter}", self.prefix)
    }
    /// Set while a transporter has toggled itself online.
    pub fn online(&self, transporter: uuid::Uuid) -> String {
        format!("{}:online:{transporter}", self.prefix)
    }
    pub fn driver_online(&self, driver: uuid::Uuid) -> String {
        format!("{}:driver-online:{driver}", self.prefix)
    }
    pub fn availability_throttle(&self, user: uuid::Uuid) -> String {
        format!("{}:throttle:availability:{user}", self.prefix)
    }
    /// The dedup scope of a broadcast's `new_broadcast`: each transporter hears it once.
    pub fn new_broadcast_scope(broadcast: uuid::Uuid) -> String {
        format!("new:{broadcast}")
    }
    /// Every key one broadcast causes: the `new_broadcast` marker of each transporter told
    /// (`broadcast_notifications`). Cleanup deletes exactly these at the terminal transition.
    pub fn broadcast_keys(&self, broadcast: uuid::Uuid, told: &[uuid::Uuid]) -> Vec<String> {
        let scope = Self::new_broadcast_scope(broadcast);
        told.iter().map(|u| self.emitted(&scope, *u)).collect()
    }
    /// A lock that makes one cron tick run once across worker replicas.
    pub fn cron_lock(&self, name: &str, tick: i64) -> String {
        format!("{}:cron:{name}:{tick}", self.prefix)
    }
    /// Marks that `user` got the event of dedup scope `scope` (once-per-user delivery).
    pub fn emitted(&self, scope: &str, user: uuid::Uuid) -> String {
        format!("{}:emitted:{scope}:{user}", self.prefix)
    }
    /// The realtime channel every API task subscribes to.
    pub fn realtime_channel(&self) -> String {
        format!("{}:realtime", self.prefix)
    }
    /// A user's last realtime sequence number.
    pub fn realtime_seq(&self, user: uuid::Uuid) -> String {
        format!("{}:rt:seq:{user}", self.prefix)
    }
    /// A user's replay log (a sorted set by seq).
    pub fn realtime_log(&self, user: uuid::Uuid) -> String {
        format!("{}:rt:log:{user}", self.prefix)
    }
    /// The names of worker processes that wrote an ops snapshot (docs/DESIGN.md, "Ops console").
    pub fn ops_workers(&self) -> String {
        format!("{}:ops:workers", self.prefix)
    }
    /// One worker process's latest ops snapshot (expires when the worker stops writing it).
    pub fn ops_worker(&self, name: &str) -> String {
        format!("{}:ops:worker:{name}", self.prefix)
    }
    /// The capped list of per-minute job samples the console's charts draw.
    pub fn ops_history(&self) -> String {
        format!("{}:ops:history", self.prefix)
    }
    /// An apalis queue name.
    pub fn queue(&self, name: &str) -> String {
        format!("{}:jobs:{name}", self.prefix)
    }
}

impl Cache {
    /// Builds the pool lazily: nothing connects until the first command, so a Redis outage
    /// shows in readiness instead of preventing start-up.
    pub fn new(config: &Config) -> anyhow::Result<Self> {
        let pool = deadpool_redis::Config::from_url(config.redis_url.expose())
            .builder()
            .map_err(|e| anyhow::anyhow!("REDIS_URL: {e}"))?
            .max_size(32)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(std::time::Duration::from_secs(2)))
            .create_timeout(Some(std::time::Duration::from_secs(2)))
            .build()
            .map_err(|e| anyhow::anyhow!("REDIS_URL: {e}"))?;
        let mut keys = Keys::new(config.redis_prefix.clone());
        keys.job_heartbeat = config.job_heartbeat;
        keys.job_batch_size = config.job_batch_size;
        Ok(Self { pool, keys })
    }

    /// Refuses a cluster-mode Redis (ElastiCache Serverless is one): the job queue's Lua scripts
    /// touch keys in several hash slots, so on a cluster no job would ever run while readiness
    /// said ok. A Redis that does not answer yet is let through (readiness reports it).
    pub async fn refuse_cluster_mode(&self) -> anyhow::Result<()> {
        let info = tokio::time::timeout(std::time::Duration::from_secs(3), async {
            let mut c = self.conn().await?;
            let info: String = redis::cmd("INFO").arg("cluster").query_async(&mut *c).await?;
            anyhow::Ok(info)
        })
        .await;
        match info {
            Ok(Ok(info)) if info.lines().any(|l| l.trim() == "cluster_enabled:1") => anyhow::bail!(
                "REDIS_URL points at a cluster-mode Redis: the job queue (apalis-redis) cannot run on one \
                 (its scripts touch keys in several hash slots). Use a Redis with cluster mode disabled \
                 (infra/redis.tf: a replication group, not ElastiCache Serverless)"
            ),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => {
                tracing::warn!(error = %format!("{e:#}"), "Redis not reachable at start; cluster mode not checked yet");
                Ok(())
            }
            Err(_) => {
                tracing::warn!("Redis did not answer within 3 s at start; cluster mode not checked yet");
                Ok(())
            }
        }
    }

    /// Deletes keys known by name, one DEL each in one pipelined round trip (never a keyspace
    /// scan, never one multi-key DEL across hash slots); nothing to do for none.
    pub async fn delete(&self, keys: &[String]) -> crate::error::Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for k in keys {
            pipe.del(k).ignore();
        }
        let mut c = self.conn().await?;
        let _: () = pipe.query_async(&mut *c).await?;
        Ok(())
    }

    /// A pooled connection; an outage is `Error::unavailable()` (503 with Retry-After).
    /// Counts one more event of this clock hour under `key(hour)` (`hour`: Unix time / 3600; the
    /// key expires with the hour). Returns the count so far and the seconds left in the hour,
    /// for a limit's Retry-After.
    pub async fn count_this_hour(&self, key: impl FnOnce(i64) -> String) -> crate::error::Result<(i64, u64)> {
        let now = chrono::Utc::now().timestamp();
        let key = key(now / 3600);
        let mut conn = self.conn().await?;
        let (count, _): (i64, bool) =
            redis::pipe().atomic().incr(&key, 1).expire(&key, 3600).query_async(&mut *conn).await?;
        Ok((count, (3600 - now % 3600).max(1) as u64))
    }

    pub async fn conn(&self) -> crate::error::Result<deadpool_redis::Connection> {
        self.pool.get().await.map_err(|e| {
            tracing::error!(error = %e, "Redis unavailable");
            crate::error::Error::unavailable()
        })
    }
}
