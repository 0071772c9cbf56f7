//! `restaff_deadline {trip, dueMs}`: the transporter's window to staff a declined or timed-out
//! trip closes; without a new crew the truck is released (and its broadcast searches again).

use anyhow::Context;
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use weelo_shared::lifecycle::trips;

use super::{Job, Schedule};
use crate::{WorkerState, runtime};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RestaffDeadline {
    pub trip_id: Uuid,
    /// Unix milliseconds of `restaff_by`.
    pub due_ms: i64,
}

impl Job for RestaffDeadline {
    const QUEUE: &'static str = "restaff_deadline";
    const MAX_ATTEMPTS: usize = 10;
    const CONCURRENCY: usize = 32;

    async fn run(&self, state: &WorkerState) -> anyhow::Result<()> {
        if !runtime::wait_until(self.due_ms).await {
            let key = format!("restaff_deadline:{}:{}", self.trip_id, self.due_ms);
            let when = Schedule { run_at: Some(runtime::run_at(self.due_ms)), idempotency_key: Some(&key) };
            return state.enqueue(self.clone(), when).await;
        }
        runtime::lateness(Self::QUEUE, self.due_ms);
        let mut tx = state.db.begin().await?;
        let released = trips::restaff_timeout(&mut tx, self.trip_id, (&*state.config).into())
            .await
            .context("releasing an unstaffed truck")?;
        tx.commit().await?;
        if released {
            tracing::info!(trip_id = %self.trip_id, "truck not staffed in time: released");
        }
        Ok(())
    }
}
