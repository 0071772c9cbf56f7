//! Durable jobs on apalis-redis. Each job type declares its queue name and retry policy next to
//! its payload; the worker binary registers the handlers. Queue names carry the deployment's
//! Redis prefix so tests and deployments never share a queue.

use std::time::Duration;

use apalis::prelude::TaskSink;
use apalis_redis::{ConnectionManager, RedisStorage};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::cache::Keys;

/// What a job type declares about itself.
pub trait Job: Serialize + DeserializeOwned + Send + Sync + Unpin + 'static {
    /// Queue name (without the deployment prefix).
    const QUEUE: &'static str;
    /// How many times a failed run is retried before the task is given up (and logged).
    const RETRIES: usize;
    /// Concurrent runs per worker process.
    const CONCURRENCY: usize;
}

/// Housekeeping: deletes finished OTP challenges and dead refresh tokens.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PruneAuth {
    pub older_than_secs: u64,
}

impl Job for PruneAuth {
    const QUEUE: &'static str = "prune_auth";
    const RETRIES: usize = 3;
    const CONCURRENCY: usize = 1;
}

/// apalis-redis storage for `J`, configured for prompt scheduling and quick orphan recovery
/// (see ../shared/notes/apalis-1.0.md: heartbeats, idempotency TTL).
pub fn storage<J: Job>(conn: ConnectionManager, keys: &Keys) -> RedisStorage<J> {
    let config = apalis_redis::Config::default()
        .queue(keys.queue(J::QUEUE))
        .heartbeat_interval(Duration::from_secs(5))
        .missed_heartbeats(3)
        .idempotency_ttl(Some(Duration::from_secs(24 * 3600)));
    RedisStorage::new(conn).with_config(config)
}

/// Pushes one job now.
pub async fn push<J: Job>(conn: ConnectionManager, keys: &Keys, job: J) -> anyhow::Result<()> {
    let mut s = storage::<J>(conn, keys);
    s.push(job)
        .await
        .map_err(|e| anyhow::anyhow!("pushing {} job: {e}", J::QUEUE))?;
    Ok(())
}

/// A connection manager for apalis (it needs its own: deadpool connections are not Clone).
pub async fn connect(redis_url: &str) -> anyhow::Result<ConnectionManager> {
    apalis_redis::connect(redis_url)
        .await
        .map_err(|e| anyhow::anyhow!("cannot connect to Redis for jobs (REDIS_URL): {e}"))
}
