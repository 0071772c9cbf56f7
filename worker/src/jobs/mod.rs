//! Durable jobs on apalis-redis. A job is one file in this folder: its payload, what it declares
//! about itself (queue, attempts, concurrency) and its `run`. The one line in `all_jobs!` below
//! registers it with the monitor, the list of queues (promotion, vacuum, depth, `weelo-worker
//! queues`) and the in-process drain that tests use.
//!
//! Every job is idempotent: it re-reads the database first, and running it twice changes
//! nothing the second time. Queue names carry the deployment's Redis prefix, so tests and
//! deployments never share a queue.

mod cleanup_broadcast;
mod driver_response;
mod expand_radius;
mod expire_broadcast;
mod notify;
mod push;
mod rebroadcast;
mod restaff_deadline;
mod sweep;

use std::future::Future;
use std::time::Duration;

use apalis::prelude::*;
use apalis_redis::{ConnectionManager, RedisStorage};
use serde::Serialize;
use serde::de::DeserializeOwned;
use weelo_shared::cache::Keys;

pub use cleanup_broadcast::CleanupBroadcast;
pub use driver_response::DriverResponse;
pub use expand_radius::ExpandRadius;
pub use expire_broadcast::ExpireBroadcast;
pub use notify::Notify;
pub use push::Push;
pub use rebroadcast::Rebroadcast;
pub use restaff_deadline::RestaffDeadline;
pub use sweep::Sweep;

use crate::{WorkerState, runtime};

/// What a job type declares about itself, and how it runs.
pub trait Job: Serialize + DeserializeOwned + std::fmt::Debug + Clone + Send + Sync + Unpin + 'static {
    /// Queue name (without the deployment prefix).
    const QUEUE: &'static str;
    /// Runs before the task is dead-lettered (logged and counted, then dropped).
    const MAX_ATTEMPTS: usize;
    /// Concurrent runs per worker process.
    const CONCURRENCY: usize;
    /// Does the work; re-reads whatever it acts on.
    fn run(&self, state: &WorkerState) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// The job types. A new job is a file in this folder and one name here.
macro_rules! all_jobs {
    ($($job:ty),* $(,)?) => {
        /// Every queue, for the maintenance that works on all of them.
        pub const QUEUES: &[&str] = &[$(<$job as Job>::QUEUE),*];

        /// Registers every job type's worker on the monitor.
        pub(crate) fn register_all(monitor: Monitor, state: &WorkerState) -> Monitor {
            $(let monitor = register::<$job>(monitor, state);)*
            monitor
        }

        /// Runs one task of `queue` from its stored payload (the in-process drain).
        pub(crate) async fn run_stored(state: &WorkerState, queue: &str, data: &[u8]) -> anyhow::Result<()> {
            $(
                if queue == <$job as Job>::QUEUE {
                    let job: $job = serde_json::from_slice(data)
                        .map_err(|e| anyhow::anyhow!("decoding a {queue} task: {e}"))?;
                    return job.run(state).await;
                }
            )*
            anyhow::bail!("no job type for queue {queue}")
        }
    };
}

all_jobs![
    ExpandRadius,
    ExpireBroadcast,
    CleanupBroadcast,
    Notify,
    Push,
    Rebroadcast,
    Sweep,
    DriverResponse,
    RestaffDeadline,
];

async fn handle<J: Job>(job: J, state: Data<WorkerState>, attempt: Attempt) -> Result<(), BoxDynError> {
    runtime::run(&job, &attempt, job.run(&state)).await
}

/// One job type's worker, restarted by the monitor under a new name when it fails.
fn register<J: Job>(monitor: Monitor, state: &WorkerState) -> Monitor {
    let state = state.clone();
    monitor.register(move |_| {
        WorkerBuilder::new(crate::worker_name(J::QUEUE))
            .backend(
                storage::<J>(state.jobs.clone(), &state.cache.keys).poll_with_interval(state.config.job_poll_interval),
            )
            .data(state.clone())
            .concurrency(J::CONCURRENCY)
            .enable_tracing()
            .build(handle::<J>)
    })
}

/// The apalis-redis configuration of queue `name`: quick orphan recovery and deduplication by
/// idempotency key (docs/notes/apalis-1.0.md: heartbeats, idempotency TTL).
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

    /// Now, deduplicated by `key`.
    pub fn once(key: &str) -> Schedule<'_> {
        Schedule { run_at: None, idempotency_key: Some(key) }
    }
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

impl WorkerState {
    /// Pushes a follow-up job on this worker's queue connection.
    pub async fn enqueue<J: Job>(&self, job: J, when: Schedule<'_>) -> anyhow::Result<()> {
        push(self.jobs.clone(), &self.cache.keys, job, when).await
    }
}

/// A connection manager for apalis (it needs its own: deadpool connections are not Clone).
pub async fn connect(redis_url: &str) -> anyhow::Result<ConnectionManager> {
    apalis_redis::connect(redis_url)
        .await
        .map_err(|e| anyhow::anyhow!("cannot connect to Redis for jobs (REDIS_URL): {e}"))
}
