//! Promotes due scheduled tasks to the active lists in chunks.
//!
//! apalis-redis 1.0's fetch script moves every due scheduled task in one `unpack(...)`; Lua's
//! stack limit (about 8,000 values) makes that fetch fail when more tasks than that are due at
//! once (a burst of notifications, a backlog after an outage), and the queue then stays stuck
//! on every poll. This loop moves due tasks itself, at most 1,000 per call, so the fetch only
//! ever sees a short due list. Found by `just bench` (20,000 queued notify jobs). Moving them
//! publishes on the queue's wake-up channel, as apalis' push does (see `wake`).

use std::time::Duration;

use apalis_redis::ConnectionManager;
use weelo_shared::cache::Keys;
use weelo_shared::shutdown::Shutdown;

use crate::jobs;

pub(crate) const PROMOTE: &str = r"
local ids = redis.call('zrangebyscore', KEYS[1], 0, ARGV[1], 'LIMIT', 0, 1000)
if #ids > 0 then
    redis.call('rpush', KEYS[2], unpack(ids))
    redis.call('zrem', KEYS[1], unpack(ids))
    redis.call('publish', ARGV[2], #ids)
end
return #ids
";

/// Moves due tasks of queue `name`; returns how many.
pub(crate) async fn promote(
    conn: &mut ConnectionManager,
    keys: &Keys,
    name: &str,
    script: &redis::Script,
) -> anyhow::Result<usize> {
    let cfg = jobs::queue_config(keys, name);
    let now = chrono::Utc::now().timestamp();
    let mut total = 0;
    loop {
        let n: usize = script
            .key(cfg.scheduled_jobs_set())
            .key(cfg.active_jobs_list())
            .arg(now)
            .arg(crate::wake::channel(keys, name))
            .invoke_async(conn)
            .await?;
        total += n;
        if n < 1000 {
            return Ok(total);
        }
    }
}

/// How often due scheduled tasks are moved: this, not the consumers' fallback poll, bounds how
/// late a scheduled task (a radius step, an expiry) starts.
pub const EVERY: Duration = Duration::from_millis(100);

pub async fn run(mut conn: ConnectionManager, keys: Keys, shutdown: Shutdown) {
    let script = redis::Script::new(PROMOTE);
    loop {
        for name in jobs::QUEUES.iter().copied() {
            if let Err(e) = promote(&mut conn, &keys, name, &script).await {
                tracing::warn!(queue = name, error = %format!("{e:#}"), "promoting due tasks failed");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            _ = shutdown.wait() => return,
        }
    }
}
