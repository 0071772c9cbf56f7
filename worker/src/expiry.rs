//! Expiry at `expires_at`, and cleanup after every terminal transition.

use std::time::Duration;

use redis::AsyncCommands;
use weelo_shared::jobs::{self, CleanupBroadcast, ExpireBroadcast, Schedule};
use weelo_shared::lifecycle;

use crate::WorkerState;
use crate::runtime;

/// The longest the handler waits in place for a deadline (apalis runs jobs up to ~1 s early).
const MAX_WAIT: Duration = Duration::from_secs(5);

pub async fn expire(state: &WorkerState, job: &ExpireBroadcast) -> anyhow::Result<()> {
    let wait_ms = job.due_ms - chrono::Utc::now().timestamp_millis();
    if wait_ms > MAX_WAIT.as_millis() as i64 {
        // Far too early (a clock step, or a moved deadline): come back at the due second.
        let run_at = job.due_ms.div_euclid(1000) - 1;
        let key = format!("expire:{}:{}", job.broadcast_id, job.due_ms);
        jobs::push(
            state.jobs.clone(),
            &state.cache.keys,
            job.clone(),
            Schedule { run_at: Some(run_at), idempotency_key: Some(&key) },
        )
        .await?;
        return Ok(());
    }
    if wait_ms > 0 {
        tokio::time::sleep(Duration::from_millis(wait_ms as u64)).await;
    }
    runtime::lateness(<ExpireBroadcast as jobs::Job>::QUEUE, job.due_ms);
    expire_now(state, job.broadcast_id).await?;
    Ok(())
}

/// Expires one broadcast if it is open and overdue; true when it did.
pub async fn expire_now(state: &WorkerState, broadcast: uuid::Uuid) -> anyhow::Result<bool> {
    let mut tx = state.db.begin().await?;
    let expired = lifecycle::expire(&mut tx, broadcast).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    tx.commit().await?;
    if expired {
        metrics::counter!("broadcasts_expired_total").increment(1);
        tracing::info!(broadcast_id = %broadcast, "broadcast expired");
    }
    Ok(expired)
}

/// Removes every Redis key of a terminal broadcast. An open broadcast is left alone.
pub async fn cleanup(state: &WorkerState, job: &CleanupBroadcast) -> anyhow::Result<()> {
    let open: Option<bool> =
        sqlx::query_scalar("SELECT status IN ('active', 'partially_filled') FROM broadcasts WHERE id = $1")
            .bind(job.broadcast_id)
            .fetch_optional(&state.db)
            .await?;
    if open == Some(true) {
        return Ok(());
    }
    // The keys are known by name: deleting them is one command, whatever the keyspace holds.
    let keys = state.cache.keys.broadcast_keys(job.broadcast_id);
    let mut c = state.cache.conn().await?;
    let _: () = c.del(&keys).await?;
    tracing::debug!(broadcast_id = %job.broadcast_id, keys = keys.len(), "broadcast keys removed");
    Ok(())
}
