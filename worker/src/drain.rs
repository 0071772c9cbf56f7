//! The in-process drain for tests (zero2prod's `dispatch_all_pending_emails`, crates.io's
//! `run_pending_background_jobs`): relay the outbox, then run every due task of every queue in
//! this process, the same `Job::run` the worker runs, until nothing is left. Binary-level tests
//! stay for kill -9, restarts and several processes; everything else drains in-process, so it
//! asserts what happened instead of polling for it.

use anyhow::Context;
use apalis_redis::ConnectionManager;
use redis::AsyncCommands;
use weelo_shared::cache::Keys;

use crate::{WorkerState, jobs, promote, relay};

/// How many relay-and-run rounds before a job that keeps making due jobs is reported.
const MAX_ROUNDS: usize = 200;

/// Runs the relay and every due task until none is left; returns how many tasks ran. The first
/// task that fails is an error naming its queue and id (a drained test expects no failure).
pub async fn run_pending_jobs(state: &WorkerState) -> anyhow::Result<usize> {
    let keys = &state.cache.keys;
    let script = redis::Script::new(promote::PROMOTE);
    let mut conn = state.jobs.clone();
    let mut ran = 0;
    for _ in 0..MAX_ROUNDS {
        let relayed = relay::dispatch_pending(state).await.context("relaying the outbox")?;
        let mut this_round = 0;
        for queue in jobs::QUEUES.iter().copied() {
            promote::promote(&mut conn, keys, queue, &script).await?;
            let cfg = jobs::queue_config(keys, queue);
            while let Some(id) = conn.lpop::<_, Option<String>>(cfg.active_jobs_list(), None).await? {
                let data: Option<Vec<u8>> = conn.hget(cfg.job_data_hash(), &id).await?;
                let _: () = conn.hdel(cfg.job_data_hash(), &id).await?;
                let _: () = conn.del(format!("{}:{id}", cfg.job_meta_hash())).await?;
                let Some(data) = data else { continue };
                jobs::run_stored(state, queue, &data).await.with_context(|| format!("{queue} task {id} failed"))?;
                this_round += 1;
            }
        }
        ran += this_round;
        if this_round == 0 && relayed == 0 {
            return Ok(ran);
        }
    }
    anyhow::bail!("jobs were still making due jobs after {MAX_ROUNDS} rounds ({ran} ran)")
}

/// Due work left behind: (queue, tasks) for every queue with an active or overdue task.
pub async fn pending(mut conn: ConnectionManager, keys: &Keys) -> anyhow::Result<Vec<(String, u64)>> {
    let now = chrono::Utc::now().timestamp();
    let mut left = Vec::new();
    for queue in jobs::QUEUES.iter().copied() {
        let cfg = jobs::queue_config(keys, queue);
        let active: u64 = conn.llen(cfg.active_jobs_list()).await?;
        let due: u64 = conn.zcount(cfg.scheduled_jobs_set(), 0, now).await?;
        if active + due > 0 {
            left.push((queue.to_owned(), active + due));
        }
    }
    Ok(left)
}
