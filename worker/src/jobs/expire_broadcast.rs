//! `expire_broadcast {broadcast, dueMs}`: expires a broadcast at its deadline. Pushed for the
//! second before (apalis stores whole seconds); the run waits out the rest.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Job, Schedule};
use crate::{WorkerState, expiry, runtime};

/// The longest a run waits in place for its deadline (apalis runs jobs up to ~1 s early).
const MAX_WAIT: Duration = Duration::from_secs(5);

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
        self.due_ms.div_euclid(1000) - 1
    }
}

impl Job for ExpireBroadcast {
    const QUEUE: &'static str = "expire_broadcast";
    const MAX_ATTEMPTS: usize = 10;
    const CONCURRENCY: usize = 256;

    async fn run(&self, state: &WorkerState) -> anyhow::Result<()> {
        let wait_ms = self.due_ms - chrono::Utc::now().timestamp_millis();
        if wait_ms > MAX_WAIT.as_millis() as i64 {
            // Far too early (a clock step, or a moved deadline): come back at the due second.
            let key = format!("expire:{}:{}", self.broadcast_id, self.due_ms);
            let when = Schedule { run_at: Some(self.run_at()), idempotency_key: Some(&key) };
            return state.enqueue(self.clone(), when).await;
        }
        if wait_ms > 0 {
            tokio::time::sleep(Duration::from_millis(wait_ms as u64)).await;
        }
        runtime::lateness(Self::QUEUE, self.due_ms);
        expiry::expire_now(state, self.broadcast_id).await?;
        Ok(())
    }
}
