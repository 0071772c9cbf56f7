//! `notify {id, recipients, event, payload}`: an event for users, realtime to each recipient's
//! sockets (through Redis, to whichever API task holds them), then one `push` job per registered
//! device when the event rings a phone.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;
use weelo_shared::events::ClientEvent;
use weelo_shared::realtime;

use super::{Job, Push, Schedule};
use crate::WorkerState;

/// How long a once-per-user marker of a job's own id lives: the span in which a retry of the job
/// can still start, so that the markers of a million jobs an hour do not keep Redis growing
/// (docs/DESIGN.md, "Jobs"). A retry starts within apalis' backoff (attempt `a` waits `a`
/// seconds), a dead worker's task returns after three missed heartbeats, a stalled queue's
/// within the watchdog's bound; a minute on top covers the runs themselves. Later than that (a
/// lone worker replaced after minutes, an ops retry of a dead letter) the event can reach a user
/// a second time, with a new seq.
pub fn marker_ttl(config: &weelo_shared::config::Config) -> std::time::Duration {
    let backoff: u64 = (1..Notify::MAX_ATTEMPTS as u64).sum();
    std::time::Duration::from_secs(backoff + 60) + config.job_heartbeat * 3 + config.queue_stall
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Notify {
    /// Stable id of this event: a retry does not emit it to a user twice.
    pub id: String,
    pub recipients: Vec<Uuid>,
    /// Travels as `event` (the name) and `payload`.
    #[serde(flatten)]
    pub event: ClientEvent,
    /// Members merged into the payload for one recipient (e.g. its own distance to the pickup).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub overrides: BTreeMap<Uuid, serde_json::Value>,
    /// Also push to devices (FCM): exactly the events with a push title.
    pub push: bool,
    /// Each user gets this event at most once per dedup scope (default: the job id), however
    /// many jobs carry it: `new:{broadcast}` makes `new_broadcast` once per broadcast.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedup: Option<String>,
}

impl Notify {
    pub fn new(id: String, recipients: Vec<Uuid>, event: ClientEvent) -> Self {
        let push = event.push_title().is_some();
        Self { id, recipients, event, overrides: BTreeMap::new(), push, dedup: None }
    }

    /// The scope of the once-per-user guarantee.
    pub fn dedup_scope(&self) -> &str {
        self.dedup.as_deref().unwrap_or(&self.id)
    }

    /// The payload `user` receives.
    pub fn payload_for(&self, payload: &serde_json::Value, user: &Uuid) -> serde_json::Value {
        let mut payload = payload.clone();
        if let (Some(obj), Some(serde_json::Value::Object(extra))) = (payload.as_object_mut(), self.overrides.get(user))
        {
            for (k, v) in extra {
                obj.insert(k.clone(), v.clone());
            }
        }
        payload
    }
}

impl Job for Notify {
    const QUEUE: &'static str = "notify";
    const MAX_ATTEMPTS: usize = 5;
    const CONCURRENCY: usize = 64;

    async fn run(&self, state: &WorkerState) -> anyhow::Result<()> {
        let keys = &state.cache.keys;
        // A retried job must not emit an event to a user twice: one marker per (event id, user),
        // set for all recipients in one round trip.
        let markers: Vec<String> = self.recipients.iter().map(|u| keys.emitted(self.dedup_scope(), *u)).collect();
        // A broadcast-wide scope must outlive the broadcast (a late rebroadcast is still
        // recognised); a job's own id only has to outlive its retries.
        let ttl = match self.dedup {
            Some(_) => state.config.broadcast_timeout.as_secs() + 600,
            None => marker_ttl(&state.config).as_secs(),
        };
        let name = self.event.name();
        let payload = self.event.payload();
        let events: Vec<(Uuid, &str, serde_json::Value)> =
            self.recipients.iter().map(|u| (*u, name, self.payload_for(&payload, u))).collect();
        // Marker, seq, replay log and publish per recipient in one script: a run cut off here
        // leaves nothing half done, and its retry emits exactly what is missing.
        realtime::emit_once(&state.cache, &markers, ttl, &events).await?;
        if let ClientEvent::NewBroadcast(nb) = &self.event {
            // The broadcast may have closed (and been cleaned up) while this job waited: markers
            // set after its cleanup would stay behind until their TTL, so remove them again.
            let open: bool = sqlx::query_scalar!(
                r#"SELECT EXISTS (SELECT 1 FROM broadcasts WHERE id = $1 AND broadcast_is_open(status)) AS "open!""#,
                nb.broadcast_id
            )
            .fetch_one(&state.db)
            .await?;
            if !open {
                state.cache.delete(&markers).await?;
            }
        }
        if !self.push {
            return Ok(());
        }
        let tokens = sqlx::query!("SELECT user_id, token FROM device_tokens WHERE user_id = ANY($1)", &self.recipients)
            .fetch_all(&state.db)
            .await?;
        for device in tokens {
            let (user, token) = (device.user_id, device.token);
            let mut data = BTreeMap::new();
            data.insert("event".to_owned(), name.to_owned());
            data.insert("payload".to_owned(), self.payload_for(&payload, &user).to_string());
            let key = format!("{}:{}", self.dedup_scope(), token);
            let push = Push { device_token: token, event: name.to_owned(), data };
            state.enqueue(push, Schedule::once(&key)).await?;
        }
        Ok(())
    }
}
