//! Housekeeping jobs: pruning finished OTP challenges and dead refresh tokens.

use std::time::Duration;

use apalis::prelude::*;
use apalis_redis::ConnectionManager;
use weelo_shared::auth::AuthService;
use weelo_shared::cache::Keys;
use weelo_shared::jobs::{self, Job, PruneAuth};

use crate::WorkerState;

/// Idempotent: deleting what is already gone deletes nothing.
pub async fn prune_auth(job: PruneAuth, state: Data<WorkerState>) -> Result<(), BoxDynError> {
    let deleted = AuthService::prune(&state.db, Duration::from_secs(job.older_than_secs)).await?;
    tracing::info!(deleted, "pruned auth records");
    metrics::counter!("auth_records_pruned_total").increment(deleted);
    Ok(())
}

/// Pushes this hour's prune job; every replica pushes the same idempotency key, so it runs once.
pub async fn schedule_prune(conn: ConnectionManager, keys: &Keys) {
    let hour = chrono::Utc::now().timestamp() / 3600;
    let task = TaskBuilder::new(PruneAuth {
        older_than_secs: 24 * 3600,
    })
    .idempotency_key(format!("prune_auth:{hour}"))
    .build();
    let mut storage = jobs::storage::<PruneAuth>(conn, keys);
    if let Err(e) = storage.push_task(task).await {
        tracing::warn!(error = %e, queue = PruneAuth::QUEUE, "could not schedule housekeeping");
    }
}
