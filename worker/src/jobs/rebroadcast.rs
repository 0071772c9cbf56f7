//! `rebroadcast {transporter}`: a transporter came online; send it the open broadcasts in reach
//! (rules in `crate::matching`).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Job;
use crate::{WorkerState, matching};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Rebroadcast {
    pub transporter_id: Uuid,
}

impl Job for Rebroadcast {
    const QUEUE: &'static str = "rebroadcast";
    const MAX_ATTEMPTS: usize = 5;
    const CONCURRENCY: usize = 8;

    async fn run(&self, state: &WorkerState) -> anyhow::Result<()> {
        matching::rebroadcast(state, self).await
    }
}
