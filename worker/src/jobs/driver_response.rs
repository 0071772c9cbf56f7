//! `driver_response {trip, dueMs}`: the named driver's response window closes; a trip still
//! `assigned` goes back to its transporter (`driver_timeout`).

use anyhow::Context;
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use weelo_shared::lifecycle::trips;

use super::{Job, Schedule};
use crate::{WorkerState, runtime};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DriverResponse {
    pub trip_id: Uuid,
    /// Unix milliseconds of `respond_by`.
    pub due_ms: i64,
}

impl Job for DriverResponse {
    const QUEUE: &'static str = "driver_response";
    const MAX_ATTEMPTS: usize = 10;
    const CONCURRENCY: usize = 64;

    async fn run(&self, state: &WorkerState) -> anyhow::Result<()> {
        if !runtime::wait_until(self.due_ms).await {
            let key = format!("driver_response:{}:{}", self.trip_id, self.due_ms);
            let when = Schedule { run_at: Some(runtime::run_at(self.due_ms)), idempotency_key: Some(&key) };
            return state.enqueue(self.clone(), when).await;
        }
        runtime::lateness(Self::QUEUE, self.due_ms);
        let mut tx = state.db.begin().await?;
        let timed_out = trips::response_timeout(&mut tx, self.trip_id, (&*state.config).into())
            .await
            .context("timing out a driver's response")?;
        tx.commit().await?;
        if timed_out {
            tracing::info!(trip_id = %self.trip_id, "driver did not answer in time");
        }
        Ok(())
    }
}
