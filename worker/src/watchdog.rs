//! The per-queue watchdog. apalis-redis 1.0 can leave a queue without a working consumer: a
//! Redis error during heartbeat, ack or fetch drops the worker future with its in-flight tasks
//! still listed under the worker's name, and orphans are only reclaimed for *other* names
//! (docs/notes/apalis-1.0.md, notes 14-15). So each queue's consumer is supervised here: when a
//! queue has due work but no task started or finished for `WEELO_QUEUE_STALL_SECS`, its consumer
//! is dropped, its in-flight entries are put back on the queue, and a new consumer starts under a
//! new name. Readiness reports a stalled queue by name until it moves again.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use apalis_redis::ConnectionManager;
use redis::AsyncCommands;
use tokio::sync::Notify;
use weelo_shared::cache::Keys;
use weelo_shared::shutdown::Shutdown;

use crate::jobs;

struct QueueWatch {
    /// Unix ms of the last task start or finish (or of the last restart).
    last_activity_ms: AtomicI64,
    stalled: AtomicBool,
    kick: Notify,
}

pub struct Watchdog {
    queues: HashMap<&'static str, QueueWatch>,
    bound: Duration,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Watchdog {
    pub fn new(bound: Duration) -> Arc<Self> {
        let queues = jobs::QUEUES
            .iter()
            .map(|q| {
                let watch = QueueWatch {
                    last_activity_ms: AtomicI64::new(now_ms()),
                    stalled: AtomicBool::new(false),
                    kick: Notify::new(),
                };
                (*q, watch)
            })
            .collect();
        Arc::new(Self { queues, bound })
    }

    /// A task of `queue` started or finished: the queue moves.
    pub fn touch(&self, queue: &str) {
        if let Some(w) = self.queues.get(queue) {
            w.last_activity_ms.store(now_ms(), Ordering::Relaxed);
            w.stalled.store(false, Ordering::Relaxed);
        }
    }

    /// Resolves when the watchdog decides `queue`'s consumer must be replaced.
    pub async fn stalled(&self, queue: &str) {
        match self.queues.get(queue) {
            Some(w) => w.kick.notified().await,
            None => std::future::pending().await,
        }
    }

    /// Queues with due work that have not moved within the bound.
    pub fn stalled_queues(&self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> =
            self.queues.iter().filter(|(_, w)| w.stalled.load(Ordering::Relaxed)).map(|(q, _)| *q).collect();
        out.sort_unstable();
        out
    }

    /// Due work of `queue`: active tasks plus scheduled ones already due.
    async fn due(conn: &mut ConnectionManager, keys: &Keys, queue: &str) -> redis::RedisResult<u64> {
        let cfg = jobs::queue_config(keys, queue);
        let active: u64 = conn.llen(cfg.active_jobs_list()).await?;
        let due: u64 = conn.zcount(cfg.scheduled_jobs_set(), 0, chrono::Utc::now().timestamp()).await?;
        Ok(active + due)
    }

    /// Checks every queue once a second until shutdown.
    pub async fn run(self: Arc<Self>, mut conn: ConnectionManager, keys: Keys, shutdown: Shutdown) {
        let bound_ms = self.bound.as_millis() as i64;
        loop {
            for (queue, w) in &self.queues {
                let due = match Self::due(&mut conn, &keys, queue).await {
                    Ok(n) => n,
                    // Redis unreachable: readiness says so; nothing can be judged stalled.
                    Err(e) => {
                        tracing::debug!(queue, error = %e, "watchdog cannot read the queue");
                        continue;
                    }
                };
                let idle_ms = now_ms() - w.last_activity_ms.load(Ordering::Relaxed);
                if due > 0 && idle_ms > bound_ms {
                    w.stalled.store(true, Ordering::Relaxed);
                    metrics::counter!("job_queue_stalls_total", "queue" => *queue).increment(1);
                    tracing::error!(queue, due, idle_ms, "job queue stalled: replacing its consumer");
                    // Give the new consumer a full bound before judging it.
                    w.last_activity_ms.store(now_ms(), Ordering::Relaxed);
                    w.kick.notify_one();
                } else if due == 0 {
                    w.stalled.store(false, Ordering::Relaxed);
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = shutdown.wait() => return,
            }
        }
    }
}

/// Puts the tasks a dropped consumer `worker` had in flight back on `queue`, and removes its
/// registration and metadata (a departed worker's entries are never cleaned up otherwise).
pub async fn reclaim(
    conn: &mut ConnectionManager,
    keys: &Keys,
    queue: &str,
    worker: &str,
) -> redis::RedisResult<usize> {
    let cfg = jobs::queue_config(keys, queue);
    let inflight = format!("{}:{worker}", cfg.inflight_jobs_set());
    let mut moved = 0;
    loop {
        // In chunks: Lua and argument lists stay short however many were in flight.
        let ids: Vec<String> = redis::cmd("SPOP").arg(&inflight).arg(500).query_async(conn).await?;
        if ids.is_empty() {
            break;
        }
        moved += ids.len();
        let _: () = conn.rpush(cfg.active_jobs_list(), &ids).await?;
    }
    let _: () = conn.zrem(cfg.workers_set(), worker).await?;
    let _: () = conn.del(format!("{}:workers:metadata:{worker}", keys.queue(queue))).await?;
    Ok(moved)
}
