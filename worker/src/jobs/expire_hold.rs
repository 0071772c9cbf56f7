//! `expire_hold {hold, dueMs}`: a hold's window closes; unconfirmed, its trucks search again
//! (an extended hold's earlier job finds it not yet due and does nothing; the sweep is the
//! backstop for a lost one).

use anyhow::Context;
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use weelo_shared::lifecycle::holds;

use super::{Job, Schedule};
use crate::{WorkerState, runtime};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExpireHold {
    pub hold_id: Uuid,
    /// Unix milliseconds of the hold's `expires_at`.
    pub due_ms: i64,
}

impl Job for ExpireHold {
    const QUEUE: &'static str = "expire_hold";
    const MAX_ATTEMPTS: usize = 10;
    const CONCURRENCY: usize = 64;

    async fn run(&self, state: &WorkerState) -> anyhow::Result<()> {
        if !runtime::wait_until(self.due_ms).await {
            let key = format!("expire_hold:{}:{}", self.hold_id, self.due_ms);
            let when = Schedule { run_at: Some(runtime::run_at(self.due_ms)), idempotency_key: Some(&key) };
            return state.enqueue(self.clone(), when).await;
        }
        runtime::lateness(Self::QUEUE, self.due_ms);
        let mut tx = state.db.begin().await?;
        let expired = holds::expire(&mut tx, self.hold_id).await.context("expiring a hold")?;
        tx.commit().await?;
        if expired {
            tracing::info!(hold_id = %self.hold_id, "hold not confirmed in time: its trucks search again");
        }
        Ok(())
    }
}
