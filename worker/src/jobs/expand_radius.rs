//! `expand_radius {broadcast, step}`: one radius step of a broadcast (find, notify, schedule
//! the next step); the matching rules live in `crate::matching`.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Job;
use crate::{WorkerState, matching};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExpandRadius {
    pub broadcast_id: Uuid,
    pub step: usize,
}

impl Job for ExpandRadius {
    const QUEUE: &'static str = "expand_radius";
    const MAX_ATTEMPTS: usize = 5;
    const CONCURRENCY: usize = 32;

    async fn run(&self, state: &WorkerState) -> anyhow::Result<()> {
        matching::expand(state, self).await
    }
}
