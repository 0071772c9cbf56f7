//! Durable jobs on apalis-redis. Each job type declares its queue, its attempts and its
//! concurrency next to its payload; the worker binary registers the handlers. Queue names carry
//! the deployment's Redis prefix so tests and deployments never share a queue.
//!
//! Every job is idempotent: it re-reads the database first, and running it twice changes
//! nothing the second time.

use std::time::Duration;

use apalis::prelude::{TaskBuilder, TaskSink};
use apalis_redis::{ConnectionManager, RedisStorage};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use uuid::Uuid;

use crate::cache::Keys;

/// What a job type declares about itself.
pub trait Job: Serialize + DeserializeOwned + Send + Sync + Unpin + 'static {
    /// Queue name (without the deployment prefix).
    const QUEUE: &'static str;
    /// Runs before the task is dead-lettered (logged and counted, then dropped).
    const MAX_ATTEMPTS: usize;
    /// Concurrent runs per worker process.
    const CONCURRENCY: usize;
}

/// One radius step of a broadcast: find, notify, schedule the next step.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExpandRadius {
    pub broadcast_id: Uuid,
    pub step: usize,
}

impl Job for ExpandRadius {
    const QUEUE: &'static str = "expand_radius";
    const MAX_ATTEMPTS: usize = 5;
    const CONCURRENCY: usize = 32;
}

/// Expires a broadcast at its deadline (the handler waits out apalis' whole-second rounding).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExpireBroadcast {
    pub broadcast_id: Uuid,
    /// Unix milliseconds of `expires_at`, to measure lateness.
    pub due_ms: i64,
}

impl Job for ExpireBroadcast {
    const QUEUE: &'static str = "expire_broadcast";
    const MAX_ATTEMPTS: usize = 10;
    const CONCURRENCY: usize = 256;
}

/// Removes a terminal broadcast's Redis keys.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CleanupBroadcast {
    pub broadcast_id: Uuid,
}

impl Job for CleanupBroadcast {
    const QUEUE: &'static str = "cleanup_broadcast";
    const MAX_ATTEMPTS: usize = 10;
    const CONCURRENCY: usize = 16;
}

/// An event for users: realtime to their sockets, and a push job per registered device.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Notify {
    /// Stable id of this event: a retry does not emit it to a user twice.
    pub id: String,
    pub recipients: Vec<Uuid>,
    pub event: String,
    pub payload: serde_json::Value,
    /// Members merged into `payload` for one recipient (e.g. its own distance to the pickup).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub overrides: std::collections::BTreeMap<Uuid, serde_json::Value>,
    /// Also push to devices (FCM); events that only update an open screen skip it.
    pub push: bool,
    /// Each user gets this event at most once per dedup scope (default: the job id), however
    /// many jobs carry it: `new:{broadcast}` makes `new_broadcast` once per broadcast.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedup: Option<String>,
}

impl Notify {
    /// The scope of the once-per-user guarantee.
    pub fn dedup_scope(&self) -> &str {
        self.dedup.as_deref().unwrap_or(&self.id)
    }

    /// The payload `user` receives.
    pub fn payload_for(&self, user: &Uuid) -> serde_json::Value {
        let mut payload = self.payload.clone();
        if let (Some(obj), Some(serde_json::Value::Object(extra))) = (payload.as_object_mut(), self.overrides.get(user))
        {
            for (k, v) in extra {
                obj.insert(k.clone(), v.clone());
            }
        }
        payload
    }
}

impl Job for Notify {
    const QUEUE: &'static str = "notify";
    const MAX_ATTEMPTS: usize = 5;
    const CONCURRENCY: usize = 64;
}

/// One FCM message to one device.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Push {
    pub device_token: String,
    pub event: String,
    pub data: std::collections::BTreeMap<String, String>,
}

impl Job for Push {
    const QUEUE: &'static str = "push";
    const MAX_ATTEMPTS: usize = 6;
    const CONCURRENCY: usize = 64;
}

/// A transporter came online: send it the open broadcasts in reach.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Rebroadcast {
    pub transporter_id: Uuid,
}

impl Job for Rebroadcast {
    const QUEUE: &'static str = "rebroadcast";
    const MAX_ATTEMPTS: usize = 5;
    const CONCURRENCY: usize = 8;
}

/// The periodic sweep (one run per tick across all workers).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Sweep {
    pub tick: i64,
}

impl Job for Sweep {
    const QUEUE: &'static str = "sweep";
    const MAX_ATTEMPTS: usize = 2;
    const CONCURRENCY: usize = 1;
}

/// Every queue, for the maintenance that works on all of them (promotion, vacuum, depth).
/// A new job type is added here too.
pub const QUEUES: [&str; 7] = [
    ExpandRadius::QUEUE,
    ExpireBroadcast::QUEUE,
    CleanupBroadcast::QUEUE,
    Notify::QUEUE,
    Push::QUEUE,
    Rebroadcast::QUEUE,
    Sweep::QUEUE,
];

/// The apalis-redis configuration of queue `name`: quick orphan recovery and deduplication by
/// idempotency key (see ../shared/notes/apalis-1.0.md: heartbeats, idempotency TTL).
pub fn queue_config(keys: &Keys, name: &str) -> apalis_redis::Config {
    apalis_redis::Config::default()
        .queue(keys.queue(name))
        .heartbeat_interval(keys.job_heartbeat)
        .missed_heartbeats(3)
        .idempotency_ttl(Some(Duration::from_secs(24 * 3600)))
}

/// apalis-redis storage for `J`.
pub fn storage<J: Job>(conn: ConnectionManager, keys: &Keys) -> RedisStorage<J> {
    RedisStorage::new(conn).with_config(queue_config(keys, J::QUEUE))
}

/// Where and when to run a job, and its deduplication key.
pub struct Schedule<'a> {
    /// Unix seconds; None = now.
    pub run_at: Option<i64>,
    pub idempotency_key: Option<&'a str>,
}

impl Schedule<'_> {
    pub const NOW: Schedule<'static> = Schedule { run_at: None, idempotency_key: None };
}

/// Pushes one job.
pub async fn push<J: Job>(conn: ConnectionManager, keys: &Keys, job: J, when: Schedule<'_>) -> anyhow::Result<()> {
    let mut s = storage::<J>(conn, keys);
    let mut task = TaskBuilder::new(job);
    if let Some(at) = when.run_at {
        task = task.run_at_timestamp(at.max(0) as u64);
    }
    if let Some(k) = when.idempotency_key {
        task = task.idempotency_key(k);
    }
    s.push_task(task.build()).await.map_err(|e| anyhow::anyhow!("pushing {} job: {e}", J::QUEUE))?;
    Ok(())
}

/// A connection manager for apalis (it needs its own: deadpool connections are not Clone).
pub async fn connect(redis_url: &str) -> anyhow::Result<ConnectionManager> {
    apalis_redis::connect(redis_url)
        .await
        .map_err(|e| anyhow::anyhow!("cannot connect to Redis for jobs (REDIS_URL): {e}"))
}
