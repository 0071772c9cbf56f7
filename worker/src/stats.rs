//! What the ops console shows of the job spine (docs/DESIGN.md, "Ops console"). Each worker
//! process counts its own tasks per queue (in flight, done, retried, dead, and how late its
//! scheduled jobs started) and every few seconds writes a snapshot of them, with the queues'
//! depths, to Redis under its own name with a short TTL: a worker that stops writing disappears
//! from the page. Once a minute it appends what it finished in that minute to a capped history
//! list the page's charts draw.

use std::collections::{HashMap, VecDeque};
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use apalis_redis::ConnectionManager;
use redis::AsyncCommands;
use weelo_shared::console::{self, HistorySample, QueueStats, WorkerSnapshot};
use weelo_shared::shutdown::Shutdown;

use crate::{WorkerState, jobs};

/// Lateness readings kept per queue for the p99.
const LATENESS_WINDOW: usize = 2_000;
/// How often a worker writes its snapshot.
const SNAPSHOT_EVERY: Duration = Duration::from_secs(2);

#[derive(Default)]
struct Counts {
    inflight: u64,
    done: u64,
    retried: u64,
    dead: u64,
    lateness_ms: VecDeque<u64>,
}

static COUNTS: LazyLock<Mutex<HashMap<&'static str, Counts>>> = LazyLock::new(Default::default);

fn with<R>(queue: &'static str, f: impl FnOnce(&mut Counts) -> R) -> R {
    let mut all = COUNTS.lock().unwrap_or_else(|p| p.into_inner());
    f(all.entry(queue).or_default())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Done,
    Retried,
    Dead,
}

/// One task running: counted in flight until it finishes (or its future is dropped).
pub struct Running {
    queue: &'static str,
    finished: bool,
}

impl Running {
    pub fn start(queue: &'static str) -> Self {
        with(queue, |c| c.inflight += 1);
        Self { queue, finished: false }
    }

    pub fn finish(mut self, outcome: Outcome) {
        self.finished = true;
        with(self.queue, |c| {
            c.inflight = c.inflight.saturating_sub(1);
            match outcome {
                Outcome::Done => c.done += 1,
                Outcome::Retried => c.retried += 1,
                Outcome::Dead => c.dead += 1,
            }
        });
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.finished {
            with(self.queue, |c| c.inflight = c.inflight.saturating_sub(1));
        }
    }
}

/// A scheduled job of `queue` started `ms` after it was due.
pub fn late(queue: &'static str, ms: u64) {
    with(queue, |c| {
        if c.lateness_ms.len() == LATENESS_WINDOW {
            c.lateness_ms.pop_front();
        }
        c.lateness_ms.push_back(ms);
    });
}

fn p99(values: &VecDeque<u64>) -> Option<u64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted: Vec<u64> = values.iter().copied().collect();
    sorted.sort_unstable();
    let rank = ((sorted.len() as f64) * 0.99).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// This process's counts per queue, with depths from Redis (pending, scheduled).
async fn snapshot(
    state: &WorkerState,
    conn: &mut ConnectionManager,
    started_at_ms: i64,
) -> redis::RedisResult<WorkerSnapshot> {
    let mut pipe = redis::pipe();
    for name in jobs::QUEUES.iter().copied() {
        let cfg = jobs::queue_config(&state.cache.keys, name);
        pipe.llen(cfg.active_jobs_list()).zcard(cfg.scheduled_jobs_set());
    }
    let depths: Vec<u64> = pipe.query_async(conn).await?;
    let all = COUNTS.lock().unwrap_or_else(|p| p.into_inner());
    let queues = jobs::QUEUES
        .iter()
        .copied()
        .zip(depths.chunks(2))
        .map(|(name, depth)| {
            let c = all.get(name);
            QueueStats {
                queue: name.to_owned(),
                pending: depth[0],
                scheduled: depth[1],
                inflight: c.map_or(0, |c| c.inflight),
                done: c.map_or(0, |c| c.done),
                retried: c.map_or(0, |c| c.retried),
                dead: c.map_or(0, |c| c.dead),
                lateness_p99_ms: c.and_then(|c| p99(&c.lateness_ms)),
            }
        })
        .collect();
    Ok(WorkerSnapshot { name: state.name.clone(), started_at_ms, at_ms: chrono::Utc::now().timestamp_millis(), queues })
}

/// `dead_jobs` (dead letters nobody resolved) and `outbox_oldest_undispatched_seconds`, from
/// PostgreSQL, so an alarm can watch what the ops console shows.
async fn backlog_gauges(db: &sqlx::PgPool) -> Result<(), sqlx::Error> {
    let row = sqlx::query!(
        r#"SELECT (SELECT count(*) FROM dead_letters WHERE status IN ('dead', 'retry_requested')) AS "dead!",
                (SELECT EXTRACT(EPOCH FROM (now() - min(created_at)))::float8 FROM outbox WHERE dispatched_at IS NULL) AS oldest"#,
    )
    .fetch_one(db)
    .await?;
    metrics::gauge!("dead_jobs").set(row.dead as f64);
    metrics::gauge!("outbox_oldest_undispatched_seconds").set(row.oldest.unwrap_or(0.0));
    Ok(())
}

/// Writes this worker's snapshot every [`SNAPSHOT_EVERY`] and a history sample every minute,
/// until shutdown; then removes the snapshot (the page shows the worker gone at once).
pub async fn publish(state: WorkerState, shutdown: Shutdown) {
    let started_at_ms = chrono::Utc::now().timestamp_millis();
    let mut conn = state.jobs.clone();
    let keys = state.cache.keys.clone();
    let mut minute = started_at_ms.div_euclid(60_000);
    let mut done_at_minute: HashMap<String, u64> = HashMap::new();
    loop {
        if let Err(e) = backlog_gauges(&state.db).await {
            // Left at their last value, never 0: an unreadable backlog is not an empty one.
            tracing::warn!(error = %e, "dead-letter and outbox gauges not updated");
        }
        let written = async {
            let snap = snapshot(&state, &mut conn, started_at_ms).await?;
            let json = serde_json::to_string(&snap).map_err(|e| redis::RedisError::from(std::io::Error::other(e)))?;
            let mut pipe = redis::pipe();
            pipe.set_ex(keys.ops_worker(&state.name), json, console::WORKER_SNAPSHOT_TTL_SECS)
                .ignore()
                .sadd(keys.ops_workers(), &state.name)
                .ignore();
            let now_minute = snap.at_ms.div_euclid(60_000);
            if now_minute != minute {
                let sample = HistorySample {
                    at_ms: minute * 60_000,
                    worker: state.name.clone(),
                    queues: snap
                        .queues
                        .iter()
                        .map(|q| {
                            let before = done_at_minute.get(&q.queue).copied().unwrap_or(0);
                            (q.queue.clone(), q.done.saturating_sub(before), q.pending)
                        })
                        .collect(),
                };
                let json =
                    serde_json::to_string(&sample).map_err(|e| redis::RedisError::from(std::io::Error::other(e)))?;
                pipe.lpush(keys.ops_history(), json)
                    .ignore()
                    .ltrim(keys.ops_history(), 0, console::HISTORY_SAMPLES - 1)
                    .ignore();
                minute = now_minute;
                done_at_minute = snap.queues.iter().map(|q| (q.queue.clone(), q.done)).collect();
            }
            let _: () = pipe.query_async(&mut conn).await?;
            redis::RedisResult::Ok(())
        };
        if let Err(e) = written.await {
            tracing::warn!(error = %e, "could not write the ops snapshot; the next one tries again");
        }
        tokio::select! {
            _ = tokio::time::sleep(SNAPSHOT_EVERY) => {}
            _ = shutdown.wait() => break,
        }
    }
    let _: redis::RedisResult<()> = conn.del(keys.ops_worker(&state.name)).await;
    let _: redis::RedisResult<()> = conn.srem(keys.ops_workers(), &state.name).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p99_is_the_value_at_the_99th_rank() {
        assert_eq!(p99(&VecDeque::new()), None);
        assert_eq!(p99(&VecDeque::from(vec![7])), Some(7));
        let hundred: VecDeque<u64> = (1..=100).collect();
        assert_eq!(p99(&hundred), Some(99));
        let two_hundred: VecDeque<u64> = (1..=200).rev().collect();
        assert_eq!(p99(&two_hundred), Some(198));
    }

    #[test]
    fn a_dropped_run_leaves_flight_without_counting_an_outcome() {
        let q = "stats-test-queue";
        let before = with(q, |c| (c.inflight, c.done));
        let a = Running::start(q);
        let b = Running::start(q);
        assert_eq!(with(q, |c| c.inflight), before.0 + 2);
        a.finish(Outcome::Done);
        drop(b);
        assert_eq!(with(q, |c| (c.inflight, c.done)), (before.0, before.1 + 1));
    }
}
