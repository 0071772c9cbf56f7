//! Notifications: realtime to each recipient's sockets (through Redis, to whichever API task
//! holds them) and one push job per registered device, each retried on its own.

use std::collections::BTreeMap;

use weelo_shared::jobs::{self, Notify, Push, Schedule};
use weelo_shared::push::Outcome;
use weelo_shared::realtime;

use crate::WorkerState;
use crate::runtime::Permanent;

pub async fn notify(state: &WorkerState, job: &Notify) -> anyhow::Result<()> {
    for user in &job.recipients {
        // A retried job must not emit an event to a user twice.
        let marker = format!("{}:emitted:{}:{user}", state.cache.keys.prefix(), job.id);
        let mut c = state.cache.conn().await?;
        let first: Option<String> =
            redis::cmd("SET").arg(&marker).arg(1).arg("NX").arg("EX").arg(3600).query_async(&mut *c).await?;
        drop(c);
        if first.is_some()
            && let Err(e) = realtime::emit(&state.cache, *user, &job.event, &job.payload).await
        {
            let mut c = state.cache.conn().await?;
            let _: () = redis::cmd("DEL").arg(&marker).query_async(&mut *c).await?;
            return Err(e);
        }
    }
    if !job.push {
        return Ok(());
    }
    let tokens: Vec<String> = sqlx::query_scalar("SELECT token FROM device_tokens WHERE user_id = ANY($1)")
        .bind(&job.recipients)
        .fetch_all(&state.db)
        .await?;
    let mut data = BTreeMap::new();
    data.insert("event".to_owned(), job.event.clone());
    data.insert("payload".to_owned(), job.payload.to_string());
    for token in tokens {
        let key = format!("{}:{}", job.id, token);
        let push = Push { device_token: token, event: job.event.clone(), data: data.clone() };
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
