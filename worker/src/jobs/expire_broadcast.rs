//! `expire_broadcast {broadcast, dueMs}`: expires a broadcast at its deadline. Pushed for the
//! second before (apalis stores whole seconds); the run waits out the rest.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Job, Schedule};
use crate::{WorkerState, expiry, runtime};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExpireBroadcast {
    pub broadcast_id: Uuid,
    /// Unix milliseconds of `expires_at`, to measure lateness.
    pub due_ms: i64,
}

impl ExpireBroadcast {
    /// The second to schedule it at: one early, the run waits out the rest.
    pub fn run_at(&self) -> i64 {
        runtime::run_at(self.due_ms)
    }
}

impl Job for ExpireBroadcast {
    const QUEUE: &'static str = "expire_broadcast";
    const MAX_ATTEMPTS: usize = 10;
    const CONCURRENCY: usize = 256;

    async fn run(&self, state: &WorkerState) -> anyhow::Result<()> {
        if !runtime::wait_until(self.due_ms).await {
            // Far too early (a clock step, or a moved deadline): come back at the due second.
            let key = format!("expire:{}:{}", self.broadcast_id, self.due_ms);
            let when = Schedule { run_at: Some(self.run_at()), idempotency_key: Some(&key) };
            return state.enqueue(self.clone(), when).await;
        }
        runtime::lateness(Self::QUEUE, self.due_ms);
        expiry::expire_now(state, self.broadcast_id).await?;
        Ok(())
    }
}
