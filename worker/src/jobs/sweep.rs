//! `sweep {tick}`: the periodic backstop, once per tick across all workers (rules in
//! `crate::sweep`).

use serde::{Deserialize, Serialize};

use super::Job;
use crate::WorkerState;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Sweep {
    pub tick: i64,
}

impl Job for Sweep {
    const QUEUE: &'static str = "sweep";
    const MAX_ATTEMPTS: usize = 2;
    const CONCURRENCY: usize = 1;

    async fn run(&self, state: &WorkerState) -> anyhow::Result<()> {
        crate::sweep::sweep(state, self.tick).await
    }
}
