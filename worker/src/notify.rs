//! Notifications: realtime to each recipient's sockets (through Redis, to whichever API task
//! holds them) and one push job per registered device, each retried on its own.

use std::collections::BTreeMap;

use weelo_shared::jobs::{self, Notify, Push, Schedule};
use weelo_shared::push::Outcome;
use weelo_shared::realtime;

use crate::WorkerState;
use crate::runtime::Permanent;

pub async fn notify(state: &WorkerState, job: &Notify) -> anyhow::Result<()> {
    // A retried job must not emit an event to a user twice: one marker per (event id, user),
    // set for all recipients in one round trip.
    let markers: Vec<String> = job
        .recipients
        .iter()
        .map(|u| format!("{}:emitted:{}:{u}", state.cache.keys.prefix(), job.dedup_scope()))
        .collect();
    // A broadcast-wide scope must outlive the broadcast (a late rebroadcast is still
    // recognised); a job's own id only has to outlive its retries.
    let ttl = match job.dedup {
        Some(_) => state.config.broadcast_timeout.as_secs() + 600,
        None => 900,
    };
    let mut c = state.cache.conn().await?;
    let mut pipe = redis::pipe();
    for m in &markers {
        pipe.cmd("SET").arg(m).arg(1).arg("NX").arg("EX").arg(ttl);
    }
    let first: Vec<Option<String>> = pipe.query_async(&mut *c).await?;
    drop(c);
    let events: Vec<(uuid::Uuid, &str, serde_json::Value)> = job
        .recipients
        .iter()
        .zip(&first)
        .filter(|(_, f)| f.is_some())
        .map(|(u, _)| (*u, job.event.as_str(), job.payload_for(u)))
        .collect();
    if let Err(e) = realtime::emit_many(&state.cache, &events).await {
        // Nothing was published for sure: let the retry emit them.
        let mut c = state.cache.conn().await?;
        let _: () = redis::cmd("DEL").arg(&markers).query_async(&mut *c).await?;
        return Err(e);
    }
    if !job.push {
        return Ok(());
    }
    let tokens: Vec<(uuid::Uuid, String)> =
        sqlx::query_as("SELECT user_id, token FROM device_tokens WHERE user_id = ANY($1)")
            .bind(&job.recipients)
            .fetch_all(&state.db)
            .await?;
    for (user, token) in tokens {
        let mut data = BTreeMap::new();
        data.insert("event".to_owned(), job.event.clone());
        data.insert("payload".to_owned(), job.payload_for(&user).to_string());
        let key = format!("{}:{}", job.dedup_scope(), token);
        let push = Push { device_token: token, event: job.event.clone(), data };
        jobs::push(state.jobs.clone(), &state.cache.keys, push, Schedule { run_at: None, idempotency_key: Some(&key) })
            .await?;
    }
    Ok(())
}

fn title(event: &str) -> Option<&'static str> {
    match event {
        "new_broadcast" => Some("New load near you"),
        "truck_request_accepted" => Some("A truck accepted your request"),
        "broadcast_fully_filled" => Some("All trucks found"),
        "broadcast_expired" => Some("Your search expired"),
        "assignment_updated" => Some("Driver assigned"),
        _ => None,
    }
}

pub async fn push(state: &WorkerState, job: &Push) -> anyhow::Result<()> {
    let Some(fcm) = &state.fcm else {
        tracing::debug!(event = %job.event, "FCM not configured; push skipped");
        metrics::counter!("push_total", "outcome" => "skipped").increment(1);
        return Ok(());
    };
    match fcm.send(&job.device_token, &job.data, title(&job.event), None).await? {
        Outcome::Sent => {
            metrics::counter!("push_total", "outcome" => "sent").increment(1);
            Ok(())
        }
        Outcome::Unregistered => {
            sqlx::query("DELETE FROM device_tokens WHERE token = $1")
                .bind(&job.device_token)
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
