//! Expiry of an overdue broadcast, and cleanup of a terminal broadcast's Redis keys (used by
//! the `expire_broadcast` and `cleanup_broadcast` jobs and by the sweep).

use anyhow::Context;
use weelo_shared::lifecycle;

use crate::WorkerState;

/// Expires one broadcast if it is open and overdue; true when it did.
pub async fn expire_now(state: &WorkerState, broadcast: uuid::Uuid) -> anyhow::Result<bool> {
    let mut tx = state.db.begin().await?;
    let expired = lifecycle::expire(&mut tx, broadcast).await.context("expiring a broadcast")?;
    tx.commit().await?;
    if expired {
        metrics::counter!("broadcasts_expired_total").increment(1);
        tracing::info!(broadcast_id = %broadcast, "broadcast expired");
    }
    Ok(expired)
}

/// Removes every Redis key of a terminal broadcast. An open broadcast is left alone.
pub async fn cleanup(state: &WorkerState, broadcast: uuid::Uuid) -> anyhow::Result<()> {
    let open: Option<bool> =
        sqlx::query_scalar!(r#"SELECT broadcast_is_open(status) AS "open!" FROM broadcasts WHERE id = $1"#, broadcast)
            .fetch_optional(&state.db)
            .await?;
    if open == Some(true) {
        return Ok(());
    }
    let told: Vec<uuid::Uuid> =
        sqlx::query_scalar!("SELECT transporter_id FROM broadcast_notifications WHERE broadcast_id = $1", broadcast)
            .fetch_all(&state.db)
            .await?;
    let keys = state.cache.keys.broadcast_keys(broadcast, &told);
    state.cache.delete(&keys).await?;
    tracing::debug!(broadcast_id = %broadcast, keys = keys.len(), "broadcast keys removed");
    Ok(())
}
