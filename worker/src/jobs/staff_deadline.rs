//! `staff_deadline {truckRequest, dueMs}`: a truck taken without a driver must get one within the
//! restaff window (`WEELO_RESTAFF_SECS` after the accept); otherwise its vehicle is freed and the
//! truck given back (it searches again, or is cancelled past the deadline).

use anyhow::Context;
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use weelo_shared::lifecycle::trips;

use super::{Job, Schedule};
use crate::{WorkerState, runtime};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StaffDeadline {
    pub truck_request_id: Uuid,
    /// Unix milliseconds of `accepted_at + WEELO_RESTAFF_SECS`.
    pub due_ms: i64,
}

impl Job for StaffDeadline {
    const QUEUE: &'static str = "staff_deadline";
    const MAX_ATTEMPTS: usize = 10;
    const CONCURRENCY: usize = 32;

    async fn run(&self, state: &WorkerState) -> anyhow::Result<()> {
        if !runtime::wait_until(self.due_ms).await {
            let key = format!("staff_deadline:{}:{}", self.truck_request_id, self.due_ms);
            let when = Schedule { run_at: Some(runtime::run_at(self.due_ms)), idempotency_key: Some(&key) };
            return state.enqueue(self.clone(), when).await;
        }
        runtime::lateness(Self::QUEUE, self.due_ms);
        let mut tx = state.db.begin().await?;
        let released = trips::staff_timeout(&mut tx, self.truck_request_id, (&*state.config).into())
            .await
            .context("giving back a truck nobody staffed")?;
        tx.commit().await?;
        if released {
            tracing::info!(truck_request_id = %self.truck_request_id, "truck taken without a driver and not staffed in time: given back");
        }
        Ok(())
    }
}
