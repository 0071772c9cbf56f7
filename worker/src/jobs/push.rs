//! `push {deviceToken, event, data}`: one FCM message to one device. 5xx, 429 and timeouts are
//! retried; `UNREGISTERED` deletes the token; other refusals are dead-lettered at once.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use weelo_shared::events::ClientEvent;
use weelo_shared::push::Outcome;

use super::Job;
use crate::WorkerState;
use crate::runtime::Permanent;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Push {
    pub device_token: String,
    pub event: String,
    pub data: BTreeMap<String, String>,
}

impl Job for Push {
    const QUEUE: &'static str = "push";
    const MAX_ATTEMPTS: usize = 6;
    const CONCURRENCY: usize = 64;

    async fn run(&self, state: &WorkerState) -> anyhow::Result<()> {
        let Some(fcm) = &state.fcm else {
            tracing::debug!(event = %self.event, "FCM not configured; push skipped");
            metrics::counter!("push_total", "outcome" => "skipped").increment(1);
            return Ok(());
        };
        match fcm.send(&self.device_token, &self.data, ClientEvent::push_title_of(&self.event), None).await? {
            Outcome::Sent => {
                metrics::counter!("push_total", "outcome" => "sent").increment(1);
                Ok(())
            }
            Outcome::Unregistered => {
                sqlx::query!("DELETE FROM device_tokens WHERE token = $1", &self.device_token)
                    .execute(&state.db)
                    .await?;
                metrics::counter!("push_total", "outcome" => "unregistered").increment(1);
                tracing::info!("dead device token removed");
                Ok(())
            }
            Outcome::Rejected(why) => {
                metrics::counter!("push_total", "outcome" => "rejected").increment(1);
                Err(Permanent(why).into())
            }
        }
    }
}
