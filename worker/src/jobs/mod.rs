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
mod expire_hold;
mod notify;
mod push;
mod rebroadcast;
mod restaff_deadline;
mod staff_deadline;

use std::future::Future;
use std::time::Duration;

use apalis::prelude::*;
pub use apalis_redis::ConnectionManager;
use apalis_redis::RedisStorage;
use serde::Serialize;
use serde::de::DeserializeOwned;
use weelo_shared::cache::Keys;
use weelo_shared::shutdown::Shutdown;

pub use cleanup_broadcast::CleanupBroadcast;
pub use driver_response::DriverResponse;
pub use expand_radius::ExpandRadius;
pub use expire_broadcast::ExpireBroadcast;
pub use expire_hold::ExpireHold;
pub use notify::{Notify, marker_ttl};
pub use push::Push;
pub use rebroadcast::Rebroadcast;
pub use restaff_deadline::RestaffDeadline;
pub use staff_deadline::StaffDeadline;

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

        /// Starts every queue's supervised consumer; they run until `shutdown`.
        pub(crate) fn spawn_all(state: &WorkerState, shutdown: &Shutdown) -> Vec<tokio::task::JoinHandle<()>> {
            vec![$(tokio::spawn(supervise::<$job>(state.clone(), shutdown.clone())),)*]
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
    DriverResponse,
    RestaffDeadline,
    ExpireHold,
    StaffDeadline,
];

async fn handle<J: Job>(job: J, state: Data<WorkerState>, attempt: Attempt) -> Result<(), BoxDynError> {
    state.watchdog.touch(J::QUEUE);
    let result = runtime::run(&job, &attempt, &state.db, job.run(&state)).await;
    state.watchdog.touch(J::QUEUE);
    result
}

/// Why a consumer stopped.
enum Stopped {
    Ended(Result<(), apalis::prelude::WorkerError>),
    Stalled,
}

/// One queue's consumer, supervised: it runs until shutdown; when it ends on an error (a Redis
/// restart, a lost registration) or the watchdog finds its queue stalled, its in-flight tasks are
/// put back on the queue and a new consumer starts under a new name, with a growing pause while
/// it keeps failing (Redis still loading, say).
async fn supervise<J: Job>(state: WorkerState, shutdown: Shutdown) {
    let keys = state.cache.keys.clone();
    let mut pause = Duration::from_millis(100);
    loop {
        let name = crate::worker_name(J::QUEUE);
        let worker = WorkerBuilder::new(name.as_str())
            .backend(storage::<J>(state.jobs.clone(), &keys).poll_with_strategy(
                Strategy::new().stream(state.wakers.signal(J::QUEUE)).interval(state.config.job_poll_interval),
            ))
            .data(state.clone())
            .concurrency(J::CONCURRENCY)
            .enable_tracing()
            .build(handle::<J>);
        let stop = shutdown.clone();
        let started = std::time::Instant::now();
        let stopped = tokio::select! {
            r = worker.run_until(async move { stop.wait().await; Ok::<(), std::io::Error>(()) }) => Stopped::Ended(r),
            _ = state.watchdog.stalled(J::QUEUE) => Stopped::Stalled,
        };
        if shutdown.is_triggered() {
            return;
        }
        match &stopped {
            Stopped::Ended(Ok(())) => {
                tracing::warn!(queue = J::QUEUE, worker = %name, "job consumer ended; starting a new one")
            }
            Stopped::Ended(Err(e)) => {
                tracing::warn!(queue = J::QUEUE, worker = %name, error = %e, "job consumer failed; starting a new one")
            }
            Stopped::Stalled => {
                tracing::warn!(queue = J::QUEUE, worker = %name, "job queue stalled; starting a new consumer")
            }
        }
        metrics::counter!("job_worker_restarts_total", "queue" => J::QUEUE).increment(1);
        let mut conn = state.jobs.clone();
        match crate::watchdog::reclaim(&mut conn, &keys, J::QUEUE, &name).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(queue = J::QUEUE, tasks = n, "in-flight tasks of the replaced consumer put back"),
            // Its entries stay listed under the old name; other workers reclaim them once its
            // heartbeats are missed.
            Err(e) => tracing::warn!(queue = J::QUEUE, error = %e, "could not reclaim the replaced consumer's tasks"),
        }
        if started.elapsed() > Duration::from_secs(30) {
            pause = Duration::from_millis(100);
        }
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = shutdown.wait() => return,
        }
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}

/// The apalis-redis configuration of queue `name`: quick orphan recovery and deduplication by
/// idempotency key (docs/notes/apalis-1.0.md: heartbeats, idempotency TTL).
///
/// `lock_tasks` is off: apalis' fetch already moves each task from the active list into this
/// worker's in-flight set in one script; its "lock" then runs `LREM` over the whole active list
/// for an id that is no longer there (O(length) per task: with 100,000 queued, Redis spent
/// 770 µs per task on it and one worker ran 680 jobs/s, found by the `just bench soak` run), and
/// writes a `Running` status nothing reads (orphans are found by the in-flight sets).
pub fn queue_config(keys: &Keys, name: &str) -> apalis_redis::Config {
    apalis_redis::Config::default()
        .queue(keys.queue(name))
        .heartbeat_interval(keys.job_heartbeat)
        .missed_heartbeats(3)
        .batch_size(keys.job_batch_size)
        .idempotency_ttl(Some(Duration::from_secs(24 * 3600)))
        .lock_tasks(false)
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
    let mut wake = conn.clone();
    let mut s = storage::<J>(conn, keys);
    let mut task = TaskBuilder::new(job);
    if let Some(at) = when.run_at {
        task = task.run_at_timestamp(at.max(0) as u64);
    }
    if let Some(k) = when.idempotency_key {
        task = task.idempotency_key(k);
    }
    s.push_task(task.build()).await.map_err(|e| anyhow::anyhow!("pushing {} job: {e}", J::QUEUE))?;
    // apalis files even a task due now under its scheduled set (its push script only publishes
    // for tasks without a time), so a task due now wakes its consumers here.
    if when.run_at.is_none_or(|at| at <= chrono::Utc::now().timestamp()) {
        crate::wake::publish(&mut wake, keys, J::QUEUE).await;
    }
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
