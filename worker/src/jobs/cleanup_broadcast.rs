//! `cleanup_broadcast {broadcast}`: removes every Redis key of a terminal broadcast.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Job;
use crate::{WorkerState, expiry};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CleanupBroadcast {
    pub broadcast_id: Uuid,
}

impl Job for CleanupBroadcast {
    const QUEUE: &'static str = "cleanup_broadcast";
    const MAX_ATTEMPTS: usize = 10;
    const CONCURRENCY: usize = 16;

    async fn run(&self, state: &WorkerState) -> anyhow::Result<()> {
        expiry::cleanup(state, self.broadcast_id).await
    }
}
