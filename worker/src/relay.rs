//! The outbox relay: rows written by the API's transactions become apalis jobs. The API's
//! transaction NOTIFYs on commit, so the relay usually wakes within milliseconds; a poll
//! catches whatever a crash or a missed notification left behind. A row is marked dispatched
//! only after its jobs were pushed; pushes carry idempotency keys derived from the row id, so a
//! row dispatched twice (a crash between push and mark) still yields each job once.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::postgres::PgListener;
use uuid::Uuid;
use weelo_shared::jobs::{self, CleanupBroadcast, ExpandRadius, ExpireBroadcast, Notify, Rebroadcast, Schedule};
use weelo_shared::lifecycle::views;
use weelo_shared::outbox::{self, kind};
use weelo_shared::shutdown::Shutdown;

use crate::WorkerState;

pub async fn run(state: WorkerState, shutdown: Shutdown) {
    let mut listener = match PgListener::connect_with(&state.db).await {
        Ok(mut l) => match l.listen(outbox::CHANNEL).await {
            Ok(()) => Some(l),
            Err(e) => {
                tracing::warn!(error = %e, "outbox LISTEN failed; polling only");
                None
            }
        },
        Err(e) => {
            tracing::warn!(error = %e, "outbox listener could not connect; polling only");
            None
        }
    };
    let poll = state.config.outbox_poll_interval;
    loop {
        match dispatch_pending(&state).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(rows = n, "outbox rows dispatched"),
            Err(e) => tracing::error!(error = %format!("{e:#}"), "outbox relay failed; will retry"),
        }
        let woken = async {
            match listener.as_mut() {
                Some(l) => {
                    if l.recv().await.is_err() {
                        tokio::time::sleep(poll).await;
                    }
                }
                None => tokio::time::sleep(poll).await,
            }
        };
        tokio::select! {
            _ = woken => {}
            _ = tokio::time::sleep(poll) => {}
            _ = shutdown.wait() => break,
        }
    }
}

/// Dispatches every due row; returns how many. Safe to run from several workers at once.
pub async fn dispatch_pending(state: &WorkerState) -> anyhow::Result<usize> {
    let mut total = 0;
    loop {
        let mut tx = state.db.begin().await?;
        let rows: Vec<(i64, String, Value)> = sqlx::query_as(
            "SELECT id, kind, payload FROM outbox WHERE dispatched_at IS NULL AND available_at <= now()
             ORDER BY id LIMIT 100 FOR UPDATE SKIP LOCKED",
        )
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            return Ok(total);
        }
        let mut done = Vec::with_capacity(rows.len());
        for (id, kind, payload) in &rows {
            match dispatch(state, *id, kind, payload).await {
                Ok(()) => done.push(*id),
                Err(e) => {
                    tracing::error!(outbox_id = id, %kind, error = %format!("{e:#}"), "outbox row not dispatched");
                    sqlx::query("UPDATE outbox SET attempts = attempts + 1 WHERE id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                }
            }
        }
        sqlx::query("UPDATE outbox SET dispatched_at = now() WHERE id = ANY($1)").bind(&done).execute(&mut *tx).await?;
        tx.commit().await?;
        metrics::counter!("outbox_dispatched_total").increment(done.len() as u64);
        total += done.len();
        if done.len() < rows.len() {
            // Something failed: back off to the next poll rather than spin.
            return Ok(total);
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Ids {
    broadcast_id: Option<Uuid>,
    truck_request_id: Option<Uuid>,
    transporter_id: Option<Uuid>,
    customer_id: Option<Uuid>,
    driver_id: Option<Uuid>,
    expires_at: Option<DateTime<Utc>>,
    status: Option<String>,
    reason: Option<String>,
    online: Option<bool>,
}

async fn notify(
    state: &WorkerState,
    key: String,
    recipients: Vec<Uuid>,
    event: &str,
    payload: Value,
    push: bool,
) -> anyhow::Result<()> {
    if recipients.is_empty() {
        return Ok(());
    }
    let job = Notify {
        id: key.clone(),
        recipients,
        event: event.to_owned(),
        payload,
        overrides: Default::default(),
        dedup: None,
        push,
    };
    jobs::push(state.jobs.clone(), &state.cache.keys, job, Schedule { run_at: None, idempotency_key: Some(&key) }).await
}

async fn notified_transporters(state: &WorkerState, broadcast: Uuid) -> anyhow::Result<Vec<Uuid>> {
    Ok(sqlx::query_scalar("SELECT transporter_id FROM broadcast_notifications WHERE broadcast_id = $1")
        .bind(broadcast)
        .fetch_all(&state.db)
        .await?)
}

async fn dispatch(state: &WorkerState, id: i64, kind: &str, payload: &Value) -> anyhow::Result<()> {
    let ids: Ids = serde_json::from_value(payload.clone())?;
    let keys = &state.cache.keys;
    let need = |v: Option<Uuid>, name: &str| v.ok_or_else(|| anyhow::anyhow!("outbox row {id} ({kind}) lacks {name}"));
    match kind {
        kind::BROADCAST_CREATED => {
            let b = need(ids.broadcast_id, "broadcastId")?;
            let expires_at = ids.expires_at.ok_or_else(|| anyhow::anyhow!("outbox row {id} lacks expiresAt"))?;
            let step = ExpandRadius { broadcast_id: b, step: 0 };
            jobs::push(
                state.jobs.clone(),
                keys,
                step,
                Schedule { run_at: None, idempotency_key: Some(&format!("expand:{b}:0")) },
            )
            .await?;
            // Run times are whole seconds: schedule a second early, the handler waits out the rest.
            let due_ms = expires_at.timestamp_micros().div_euclid(1000) + 1;
            let run_at = due_ms.div_euclid(1000) - 1;
            let expire = ExpireBroadcast { broadcast_id: b, due_ms };
            jobs::push(
                state.jobs.clone(),
                keys,
                expire,
                Schedule { run_at: Some(run_at), idempotency_key: Some(&format!("expire:{b}")) },
            )
            .await?;
        }
        kind::TRUCK_ACCEPTED => {
            let b = need(ids.broadcast_id, "broadcastId")?;
            let customer = need(ids.customer_id, "customerId")?;
            let tr = need(ids.truck_request_id, "truckRequestId")?;
            let mut conn = state.db.acquire().await?;
            let view = views::broadcast(&mut conn, b).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            let truck = view.accepted_trucks.iter().find(|t| t.truck_request_id == tr).cloned();
            let accepted = json!({ "broadcastId": b, "truckRequestId": tr, "status": view.status, "truck": truck,
                                   "trucksRemaining": view.trucks_needed - view.trucks_filled, "expiresAt": view.expires_at });
            notify(state, format!("outbox:{id}:accepted"), vec![customer], "truck_request_accepted", accepted, true)
                .await?;
            let remaining = json!({ "broadcastId": b, "status": view.status, "lines": view.lines,
                                    "trucksRemaining": view.trucks_needed - view.trucks_filled, "expiresAt": view.expires_at });
            let mut to = notified_transporters(state, b).await?;
            to.push(customer);
            notify(state, format!("outbox:{id}:remaining"), to, "trucks_remaining_update", remaining, false).await?;
        }
        kind::BROADCAST_CLOSED => {
            let b = need(ids.broadcast_id, "broadcastId")?;
            let cleanup = CleanupBroadcast { broadcast_id: b };
            jobs::push(
                state.jobs.clone(),
                keys,
                cleanup,
                Schedule { run_at: None, idempotency_key: Some(&format!("cleanup:{b}")) },
            )
            .await?;
            let status = ids.status.unwrap_or_default();
            let reason = ids.reason.unwrap_or_default();
            let customer: Uuid = sqlx::query_scalar("SELECT customer_id FROM broadcasts WHERE id = $1")
                .bind(b)
                .fetch_one(&state.db)
                .await?;
            let event = match status.as_str() {
                "expired" => "broadcast_expired",
                "fully_filled" => "broadcast_fully_filled",
                _ => "broadcast_cancelled",
            };
            let body = json!({ "broadcastId": b, "status": status, "reason": reason });
            notify(state, format!("outbox:{id}:customer"), vec![customer], event, body.clone(), true).await?;
            let to = notified_transporters(state, b).await?;
            notify(state, format!("outbox:{id}:closed"), to, "broadcast_closed", body, false).await?;
        }
        kind::TRUCK_ASSIGNED => {
            let b = need(ids.broadcast_id, "broadcastId")?;
            let driver = need(ids.driver_id, "driverId")?;
            let customer: Uuid = sqlx::query_scalar("SELECT customer_id FROM broadcasts WHERE id = $1")
                .bind(b)
                .fetch_one(&state.db)
                .await?;
            let body = json!({ "broadcastId": b, "truckRequestId": ids.truck_request_id, "driverId": driver, "status": "assigned" });
            notify(state, format!("outbox:{id}:assigned"), vec![customer, driver], "assignment_updated", body, true)
                .await?;
        }
        kind::TRANSPORTER_ONLINE => {
            let t = need(ids.transporter_id, "transporterId")?;
            let job = Rebroadcast { transporter_id: t };
            jobs::push(
                state.jobs.clone(),
                keys,
                job,
                Schedule { run_at: None, idempotency_key: Some(&format!("outbox:{id}")) },
            )
            .await?;
        }
        kind::DRIVER_STATUS_CHANGED => {
            let t = need(ids.transporter_id, "transporterId")?;
            let body = json!({ "driverId": ids.driver_id, "online": ids.online.unwrap_or(false) });
            notify(state, format!("outbox:{id}:driver"), vec![t], "driver_status_changed", body, false).await?;
        }
        other => anyhow::bail!("unknown outbox kind {other:?}"),
    }
    Ok(())
}

/// How long rows are kept after dispatch, for audits.
pub const KEEP_DISPATCHED: Duration = Duration::from_secs(7 * 24 * 3600);
