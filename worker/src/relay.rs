//! The outbox relay: rows written by the API's transactions become apalis jobs. The API's
//! transaction NOTIFYs on commit, so the relay usually wakes within milliseconds; a poll
//! catches whatever a crash or a missed notification left behind. A row is marked dispatched
//! only after its jobs were pushed; pushes carry idempotency keys derived from the row id, so a
//! row dispatched twice (a crash between push and mark) still yields each job once.

use std::time::Duration;

use anyhow::Context;
use serde_json::json;
use sqlx::postgres::PgListener;
use tracing::Instrument;
use uuid::Uuid;
use weelo_shared::cache::Keys;
use weelo_shared::domain::machine::{BroadcastStatus, TruckRequestStatus};
use weelo_shared::domain::trip::TripStatus;
use weelo_shared::events::{
    AssignmentUpdated, BroadcastEnded, ClientEvent, DriverStatus, NewBroadcast, TripUpdate, TruckReleasedEvent,
    TruckRequestAccepted, TrucksRemaining,
};
use weelo_shared::lifecycle::holds::HoldStatus;
use weelo_shared::lifecycle::views;
use weelo_shared::outbox::{self, OutboxEvent};
use weelo_shared::shutdown::Shutdown;

use crate::jobs::{
    CleanupBroadcast, DriverResponse, ExpandRadius, ExpireBroadcast, ExpireHold, Notify, Rebroadcast, RestaffDeadline,
    Schedule, StaffDeadline,
};
use crate::{WorkerState, runtime};

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
        let rows = sqlx::query!(
            "SELECT id, kind, payload, request_id FROM outbox WHERE dispatched_at IS NULL AND available_at <= now()
             ORDER BY id LIMIT 100 FOR UPDATE SKIP LOCKED",
        )
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            return Ok(total);
        }
        let mut done = Vec::with_capacity(rows.len());
        for row in &rows {
            let (id, kind, payload, request_id) = (&row.id, &row.kind, &row.payload, &row.request_id);
            // The request that wrote the row, so its jobs' logs lead back to it.
            let span =
                tracing::info_span!("outbox", outbox_id = id, %kind, request_id = request_id.as_deref().unwrap_or(""));
            let run = async {
                let event = OutboxEvent::from_row(kind, payload.clone())
                    .with_context(|| format!("decoding outbox row {id}"))?;
                dispatch(state, *id, event).await
            };
            match run.instrument(span).await {
                Ok(()) => done.push(*id),
                Err(e) => {
                    // A row that keeps failing (a poison row, or a dependency down) backs off
                    // exponentially up to 5 minutes, so it never holds up the rows behind it; the
                    // ops console shows the undispatched count and the oldest row's age.
                    let failed = sqlx::query!(
                        r#"UPDATE outbox SET attempts = attempts + 1,
                                available_at = now() + make_interval(secs => least(300, power(2, least(attempts, 9))))
                         WHERE id = $1
                         RETURNING attempts, EXTRACT(EPOCH FROM (available_at - now()))::float8 AS "retry_in!""#,
                        id
                    )
                    .fetch_one(&mut *tx)
                    .await?;
                    let (attempts, retry_in) = (failed.attempts, failed.retry_in);
                    metrics::counter!("outbox_failures_total").increment(1);
                    if attempts >= state.config.outbox_max_attempts {
                        // Given up: kept as a dead letter (retry it from the ops console), and
                        // out of the outbox's way.
                        let letter = json!({ "outboxId": id, "kind": kind, "payload": payload });
                        let error = format!("{e:#}");
                        runtime::dead_letter(&mut *tx, runtime::OUTBOX_QUEUE, &letter, &error, attempts as usize)
                            .await?;
                        sqlx::query!("UPDATE outbox SET dispatched_at = now() WHERE id = $1", id)
                            .execute(&mut *tx)
                            .await?;
                        tracing::error!(outbox_id = id, %kind, attempts, %error,
                            "outbox row given up after its attempts: kept as a dead letter");
                        metrics::counter!("jobs_total", "queue" => "outbox", "outcome" => "dead").increment(1);
                    } else {
                        tracing::error!(outbox_id = id, %kind, attempts, retry_in_secs = retry_in, error = %format!("{e:#}"),
                            "outbox row not dispatched; retried later");
                    }
                }
            }
        }
        sqlx::query!("UPDATE outbox SET dispatched_at = now() WHERE id = ANY($1)", &done).execute(&mut *tx).await?;
        tx.commit().await?;
        metrics::counter!("outbox_dispatched_total").increment(done.len() as u64);
        total += done.len();
        if done.len() < rows.len() {
            // Something failed: back off to the next poll rather than spin.
            return Ok(total);
        }
    }
}

/// Pushes a `notify` job for `recipients` under a key derived from the outbox row.
async fn notify(state: &WorkerState, key: String, recipients: Vec<Uuid>, event: ClientEvent) -> anyhow::Result<()> {
    if recipients.is_empty() {
        return Ok(());
    }
    let job = Notify::new(key.clone(), recipients, event);
    state.enqueue(job, Schedule::once(&key)).await
}

async fn notified_transporters(state: &WorkerState, broadcast: Uuid) -> anyhow::Result<Vec<Uuid>> {
    Ok(sqlx::query_scalar!("SELECT transporter_id FROM broadcast_notifications WHERE broadcast_id = $1", broadcast)
        .fetch_all(&state.db)
        .await?)
}

/// Trucks neither taken nor held, over every line.
fn remaining_of(view: &views::BroadcastBody) -> i32 {
    view.lines.iter().map(|l| l.remaining).sum()
}

/// What the transporters and the customer see of a broadcast's remaining trucks.
fn trucks_remaining(broadcast: Uuid, view: views::BroadcastBody) -> TrucksRemaining {
    TrucksRemaining {
        broadcast_id: broadcast,
        status: view.status,
        trucks_remaining: remaining_of(&view),
        lines: view.lines,
        expires_at: view.expires_at,
    }
}

/// The transporters told of a broadcast that did not decline it.
async fn told_not_declined(state: &WorkerState, broadcast: Uuid) -> anyhow::Result<Vec<Uuid>> {
    Ok(sqlx::query_scalar!(
        "SELECT n.transporter_id FROM broadcast_notifications n WHERE n.broadcast_id = $1
           AND NOT EXISTS (SELECT 1 FROM broadcast_declines d WHERE d.broadcast_id = $1 AND d.transporter_id =
                 n.transporter_id)",
        broadcast
    )
    .fetch_all(&state.db)
    .await?)
}

async fn customer_of(state: &WorkerState, broadcast: Uuid) -> anyhow::Result<Uuid> {
    Ok(sqlx::query_scalar!("SELECT customer_id FROM broadcasts WHERE id = $1", broadcast).fetch_one(&state.db).await?)
}

/// What one outbox row makes happen.
async fn dispatch(state: &WorkerState, id: i64, event: OutboxEvent) -> anyhow::Result<()> {
    match event {
        OutboxEvent::BroadcastCreated(e) => broadcast_created(state, e).await,
        OutboxEvent::TruckAccepted(e) => truck_accepted(state, id, e).await,
        OutboxEvent::BroadcastClosed(e) => broadcast_closed(state, id, e).await,
        OutboxEvent::TruckAssigned(e) => truck_assigned(state, id, e).await,
        OutboxEvent::TransporterOnline(e) => {
            state
                .enqueue(Rebroadcast { transporter_id: e.transporter_id }, Schedule::once(&format!("outbox:{id}")))
                .await
        }
        OutboxEvent::DriverStatusChanged(e) => {
            let event = ClientEvent::DriverStatusChanged(DriverStatus { driver_id: e.driver_id, online: e.online });
            notify(state, format!("outbox:{id}:driver"), vec![e.transporter_id], event).await
        }
        OutboxEvent::TripChanged(e) => trip_changed(state, id, e).await,
        OutboxEvent::TruckReleased(e) => truck_released(state, id, e).await,
        OutboxEvent::TransportersNotified(e) => transporters_notified(state, id, e).await,
        OutboxEvent::HoldChanged(e) => hold_changed(state, id, e).await,
        OutboxEvent::UserSuspended(e) => {
            Ok(weelo_shared::realtime::revoke(&state.cache, e.user_id, None, "ACCOUNT_SUSPENDED").await?)
        }
    }
}

/// Tells whoever a trip's move concerns, and starts the timer of the state it entered.
async fn trip_changed(state: &WorkerState, id: i64, e: outbox::TripChanged) -> anyhow::Result<()> {
    let mut conn = state.db.acquire().await?;
    let trip = views::trip(&mut conn, e.trip_id).await.context("reading the trip that moved")?;
    drop(conn);
    let (customer, transporter, driver) = (trip.customer.id, trip.transporter.id, trip.driver.id);
    let update = TripUpdate {
        trip_id: trip.id,
        broadcast_id: trip.broadcast_id,
        truck_request_id: trip.truck_request_id,
        status: e.to,
        from: e.from,
        restaff_by: trip.restaff_by,
    };
    let key = format!("outbox:{id}:trip");
    let ms = |at: Option<chrono::DateTime<chrono::Utc>>| at.map(|t| t.timestamp_micros().div_euclid(1000) + 1);
    match e.to {
        TripStatus::Assigned => {
            if let Some(due_ms) = ms(trip.respond_by) {
                let job = DriverResponse { trip_id: trip.id, due_ms };
                let when =
                    Schedule { run_at: Some(runtime::run_at(due_ms)), idempotency_key: Some(&format!("{key}:timer")) };
                state.enqueue(job, when).await?;
            }
            notify(state, key, vec![driver], ClientEvent::TripAssigned(trip)).await
        }
        TripStatus::DriverAccepted => {
            notify(state, key, vec![transporter, customer], ClientEvent::DriverAccepted(update)).await
        }
        TripStatus::DriverDeclined | TripStatus::DriverTimeout => {
            if let Some(due_ms) = ms(trip.restaff_by) {
                let job = RestaffDeadline { trip_id: trip.id, due_ms };
                let when =
                    Schedule { run_at: Some(runtime::run_at(due_ms)), idempotency_key: Some(&format!("{key}:timer")) };
                state.enqueue(job, when).await?;
            }
            if e.to == TripStatus::DriverDeclined {
                notify(state, key, vec![transporter], ClientEvent::DriverDeclined(update)).await
            } else {
                notify(state, key, vec![transporter, driver], ClientEvent::DriverTimeout(update)).await
            }
        }
        TripStatus::Cancelled => {
            let mut to = vec![transporter];
            if e.from.is_some_and(TripStatus::is_crewed) {
                to.push(driver);
            }
            notify(state, key, to, ClientEvent::TripCancelled(update)).await
        }
        TripStatus::Released => {
            let mut to = vec![transporter];
            if e.from.is_some_and(TripStatus::is_crewed) {
                to.push(driver);
            }
            notify(state, key, to, ClientEvent::TripStatusChanged(update)).await
        }
        TripStatus::EnRouteToPickup | TripStatus::AtPickup | TripStatus::InTransit | TripStatus::Delivered => {
            notify(state, key, vec![customer, transporter], ClientEvent::TripStatusChanged(update)).await
        }
    }
}

/// A taken truck went back: the customer is told; a filled broadcast that searches again is
/// announced to the transporters told before (not those who declined) and expands on.
async fn truck_released(state: &WorkerState, id: i64, e: outbox::TruckReleased) -> anyhow::Result<()> {
    let b = e.broadcast_id;
    let mut conn = state.db.acquire().await?;
    let view = views::broadcast(&mut conn, b).await.context("reading the broadcast a release changed")?;
    drop(conn);
    let remaining = remaining_of(&view);
    let customer = customer_of(state, b).await?;
    let released = ClientEvent::TruckReleased(TruckReleasedEvent {
        broadcast_id: b,
        truck_request_id: e.truck_request_id,
        searching: e.searching,
        reason: e.reason,
        trucks_remaining: remaining,
    });
    notify(state, format!("outbox:{id}:released"), vec![customer], released).await?;
    if !e.searching {
        return Ok(());
    }
    let again = ClientEvent::BroadcastReopened(trucks_remaining(b, view));
    let told = told_not_declined(state, b).await?;
    notify(state, format!("outbox:{id}:reopened"), told, again).await?;
    if e.reopened {
        // Its expansion stopped when it filled: go on from the step after the last one it ran.
        let step: i32 =
            sqlx::query_scalar!("SELECT radius_step FROM broadcasts WHERE id = $1", b).fetch_one(&state.db).await?;
        let next = ExpandRadius { broadcast_id: b, step: step as usize + 1 };
        state.enqueue(next, Schedule::once(&format!("outbox:{id}:expand"))).await?;
    }
    Ok(())
}

/// `new_broadcast` to the transporters a radius step or a rebroadcast recorded: one job, each
/// recipient's own distance to the pickup merged into its payload.
async fn transporters_notified(state: &WorkerState, id: i64, e: outbox::TransportersNotified) -> anyhow::Result<()> {
    let b = e.broadcast_id;
    let mut conn = state.db.acquire().await?;
    let body = views::open_broadcast(&mut conn, b, None).await.context("reading the broadcast to announce")?;
    drop(conn);
    let event =
        ClientEvent::NewBroadcast(NewBroadcast { broadcast_id: b, radius_step: e.radius_step, broadcast: body });
    let key = format!("outbox:{id}:new");
    let mut job = Notify::new(key.clone(), e.recipients.iter().map(|r| r.transporter_id).collect(), event);
    job.overrides = e
        .recipients
        .iter()
        .map(|r| (r.transporter_id, json!({ "distanceToPickupKm": (r.distance_km * 10.0).round() / 10.0 })))
        .collect();
    // Once per broadcast per transporter, whichever path (a step, a rebroadcast) told it.
    job.dedup = Some(Keys::new_broadcast_scope(b));
    state.enqueue(job, Schedule::once(&key)).await
}

/// A hold was placed, extended or ended: while active its expiry job waits for `expires_at`;
/// every change tells the customer and the transporters still told the remaining count.
async fn hold_changed(state: &WorkerState, id: i64, e: outbox::HoldChanged) -> anyhow::Result<()> {
    let b = e.broadcast_id;
    if e.status == HoldStatus::Active {
        let due_ms = e.expires_at.timestamp_micros().div_euclid(1000) + 1;
        let job = ExpireHold { hold_id: e.hold_id, due_ms };
        let key = format!("outbox:{id}:hold");
        state.enqueue(job, Schedule { run_at: Some(runtime::run_at(due_ms)), idempotency_key: Some(&key) }).await?;
    }
    if e.status == HoldStatus::Confirmed {
        // Its trucks' truck_accepted rows tell everybody.
        return Ok(());
    }
    let mut conn = state.db.acquire().await?;
    let view = views::broadcast(&mut conn, b).await.context("reading the broadcast a hold changed")?;
    drop(conn);
    if !view.status.is_open() {
        // Ended with its broadcast: the broadcast's own close tells everybody.
        return Ok(());
    }
    let update = ClientEvent::TrucksRemainingUpdate(trucks_remaining(b, view));
    let mut to = told_not_declined(state, b).await?;
    to.push(customer_of(state, b).await?);
    notify(state, format!("outbox:{id}:remaining"), to, update).await
}

async fn broadcast_created(state: &WorkerState, e: outbox::BroadcastCreated) -> anyhow::Result<()> {
    let b = e.broadcast_id;
    state.enqueue(ExpandRadius { broadcast_id: b, step: 0 }, Schedule::once(&format!("expand:{b}:0"))).await?;
    let expire = ExpireBroadcast { broadcast_id: b, due_ms: e.expires_at.timestamp_micros().div_euclid(1000) + 1 };
    let when = Schedule { run_at: Some(expire.run_at()), idempotency_key: Some(&format!("expire:{b}")) };
    state.enqueue(expire, when).await
}

async fn truck_accepted(state: &WorkerState, id: i64, e: outbox::TruckAccepted) -> anyhow::Result<()> {
    let b = e.broadcast_id;
    // Taken without a driver: the transporter has the restaff window to name one.
    let driverless: Option<chrono::DateTime<chrono::Utc>> = sqlx::query_scalar!(
        "SELECT accepted_at FROM truck_requests WHERE id = $1 AND status = 'accepted' AND driver_id IS NULL",
        e.truck_request_id
    )
    .fetch_optional(&state.db)
    .await?
    .flatten();
    if let Some(at) = driverless {
        let due_ms = (at + state.config.restaff).timestamp_millis();
        let job = StaffDeadline { truck_request_id: e.truck_request_id, due_ms };
        let key = format!("outbox:{id}:staff");
        state.enqueue(job, Schedule { run_at: Some(runtime::run_at(due_ms)), idempotency_key: Some(&key) }).await?;
    }
    let mut conn = state.db.acquire().await?;
    let view = views::broadcast(&mut conn, b).await.context("reading the broadcast an accept changed")?;
    drop(conn);
    let truck = view.accepted_trucks.iter().find(|t| t.truck_request_id == e.truck_request_id).cloned();
    let remaining = remaining_of(&view);
    let accepted = ClientEvent::TruckRequestAccepted(TruckRequestAccepted {
        broadcast_id: b,
        truck_request_id: e.truck_request_id,
        status: view.status,
        truck,
        trucks_remaining: remaining,
        expires_at: view.expires_at,
    });
    notify(state, format!("outbox:{id}:accepted"), vec![e.customer_id], accepted).await?;
    // The count is read now, not at the accept: once the broadcast is filled (or closed) its close
    // event tells every transporter, so a burst of accepts relayed after the last one does not send
    // each of them the same "0 left" again. The customer hears every count.
    let open = view.status.is_open();
    let update = ClientEvent::TrucksRemainingUpdate(trucks_remaining(b, view));
    let mut to = if open { notified_transporters(state, b).await? } else { Vec::new() };
    to.push(e.customer_id);
    notify(state, format!("outbox:{id}:remaining"), to, update).await
}

async fn broadcast_closed(state: &WorkerState, id: i64, e: outbox::BroadcastClosed) -> anyhow::Result<()> {
    let b = e.broadcast_id;
    state.enqueue(CleanupBroadcast { broadcast_id: b }, Schedule::once(&format!("cleanup:{b}"))).await?;
    let customer = customer_of(state, b).await?;
    let ended = BroadcastEnded { broadcast_id: b, status: e.status, reason: e.reason };
    notify(state, format!("outbox:{id}:customer"), vec![customer], ended.clone().for_customer()).await?;
    if e.status == BroadcastStatus::Completed {
        // The transporters were told when the search closed; its trips' ends are theirs already.
        return Ok(());
    }
    let to = notified_transporters(state, b).await?;
    notify(state, format!("outbox:{id}:closed"), to, ClientEvent::BroadcastClosed(ended)).await
}

async fn truck_assigned(state: &WorkerState, id: i64, e: outbox::TruckAssigned) -> anyhow::Result<()> {
    let customer = customer_of(state, e.broadcast_id).await?;
    let event = ClientEvent::AssignmentUpdated(AssignmentUpdated {
        broadcast_id: e.broadcast_id,
        truck_request_id: e.truck_request_id,
        driver_id: e.driver_id,
        status: TruckRequestStatus::Assigned,
    });
    notify(state, format!("outbox:{id}:assigned"), vec![customer, e.driver_id], event).await
}

/// How long rows are kept after dispatch, for audits.
pub const KEEP_DISPATCHED: Duration = Duration::from_secs(7 * 24 * 3600);
