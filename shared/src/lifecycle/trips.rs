//! Trips against PostgreSQL (docs/DESIGN.md, "After the match"): a taken truck with a named
//! vehicle and driver, from the driver's answer to delivery, release or cancellation. Every
//! command locks the broadcast row first (as every broadcast command does, so the two never
//! deadlock), then the trip; asks the pure machine (`domain::trip`) what happens; writes it with
//! a guarded statement, its transition-log row and an outbox row, in the caller's transaction.
//! Every exit and `delivered` frees the vehicle and the driver in the same transaction.

use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Actor, lock, log, views, write_status};
use crate::db::violated_constraint;
use crate::domain::machine::{BroadcastStatus, TruckRequestStatus};
use crate::domain::trip::{TripEvent, TripStatus};
use crate::domain::{TripId, UserId, VehicleId, VehicleType};
use crate::error::{Error, Result};
use crate::outbox::{self, OutboxEvent};
use sqlx::PgConnection;

/// The windows a trip's timers run on (configuration).
#[derive(Debug, Clone, Copy)]
pub struct Windows {
    pub driver_response: Duration,
    pub restaff: Duration,
}

impl From<&crate::config::Config> for Windows {
    fn from(c: &crate::config::Config) -> Self {
        Windows { driver_response: c.driver_response, restaff: c.restaff }
    }
}

/// Why a trip or its truck moved, for the logs and the events.
pub mod why {
    pub const ASSIGNED: &str = "ASSIGNED";
    pub const DRIVER_ACCEPTED: &str = "DRIVER_ACCEPTED";
    pub const DRIVER_DECLINED: &str = "DRIVER_DECLINED";
    pub const RESPONSE_TIMEOUT: &str = "RESPONSE_TIMEOUT";
    pub const DRIVER_PROGRESS: &str = "DRIVER_PROGRESS";
    pub const RESTAFFED: &str = "RESTAFFED";
    pub const RELEASED_BY_TRANSPORTER: &str = "RELEASED_BY_TRANSPORTER";
    pub const RESTAFF_TIMEOUT: &str = "RESTAFF_TIMEOUT";
    pub const CUSTOMER_CANCELLED: &str = "CUSTOMER_CANCELLED";
    pub const REOPENED: &str = "REOPENED";
    pub const DEADLINE_PASSED: &str = "DEADLINE_PASSED";
    pub const BROADCAST_CLOSED: &str = "BROADCAST_CLOSED";
    pub const CUSTOMER_HAS_ANOTHER_OPEN: &str = "CUSTOMER_HAS_ANOTHER_OPEN";
    /// Taken without a driver, and none was named within the restaff window.
    pub const NOT_STAFFED: &str = "NOT_STAFFED";
}

/// A locked trip row.
#[derive(Debug, Clone)]
pub struct Trip {
    pub id: Uuid,
    pub broadcast_id: Uuid,
    pub truck_request_id: Uuid,
    pub transporter_id: Uuid,
    pub vehicle_id: Uuid,
    pub driver_id: Uuid,
    pub status: TripStatus,
    pub respond_by: Option<DateTime<Utc>>,
    pub restaff_by: Option<DateTime<Utc>>,
    /// The line its truck belongs to (what a new vehicle must be).
    pub line: super::LineKind,
}

pub fn not_found() -> Error {
    Error::rejected(404, "TRIP_NOT_FOUND", "no such trip of yours")
}

fn illegal(s: TripStatus) -> Error {
    Error::rejected(409, "TRIP_STATE_CONFLICT", format!("this trip is {}", s.as_str())).with("state", s.as_str())
}

/// Locks the trip's broadcast, then the trip.
pub async fn lock_trip(conn: &mut PgConnection, id: Uuid) -> Result<Trip> {
    let broadcast: Option<Uuid> =
        sqlx::query_scalar!("SELECT broadcast_id FROM trips WHERE id = $1", id).fetch_optional(&mut *conn).await?;
    let broadcast = broadcast.ok_or_else(not_found)?;
    sqlx::query!("SELECT id FROM broadcasts WHERE id = $1 FOR UPDATE", broadcast).fetch_optional(&mut *conn).await?;
    let r = sqlx::query!(
        r#"SELECT t.id, t.broadcast_id, t.truck_request_id, t.transporter_id, t.vehicle_id, t.driver_id,
                t.status AS "status: TripStatus", t.respond_by, t.restaff_by, tr.line_no,
                tr.vehicle_type AS "vehicle_type: VehicleType", tr.vehicle_subtype
         FROM trips t JOIN truck_requests tr ON tr.id = t.truck_request_id WHERE t.id = $1 FOR UPDATE OF t"#,
        id
    )
    .fetch_one(&mut *conn)
    .await?;
    let trip = Trip {
        id: r.id,
        broadcast_id: r.broadcast_id,
        truck_request_id: r.truck_request_id,
        transporter_id: r.transporter_id,
        vehicle_id: r.vehicle_id,
        driver_id: r.driver_id,
        status: r.status,
        respond_by: r.respond_by,
        restaff_by: r.restaff_by,
        line: super::LineKind { no: r.line_no, vehicle_type: r.vehicle_type, vehicle_subtype: r.vehicle_subtype },
    };
    Ok(trip)
}

async fn log_trip(
    conn: &mut PgConnection,
    trip: Uuid,
    from: Option<TripStatus>,
    to: TripStatus,
    actor: Actor,
    why: &str,
) -> Result<()> {
    sqlx::query!(
        "INSERT INTO trip_transitions (trip_id, from_status, to_status, actor_id, actor_role, reason)
         VALUES ($1, $2, $3, $4, $5, $6)",
        trip,
        from as _,
        to as _,
        actor.id,
        actor.role,
        why
    )
    .execute(&mut *conn)
    .await?;
    outbox::enqueue(conn, &OutboxEvent::TripChanged(outbox::TripChanged { trip_id: trip, from, to }), None).await?;
    Ok(())
}

/// Refusals the crew indexes raise, in the API's words.
fn crew_conflict(e: sqlx::Error) -> Error {
    match violated_constraint(&e) {
        Some("trips_one_per_driver") => {
            Error::rejected(409, "DRIVER_ON_TRIP", "this driver is on another unfinished trip")
        }
        Some("trips_one_per_vehicle" | "truck_requests_one_taken_per_vehicle") => {
            Error::rejected(409, "VEHICLE_UNAVAILABLE", "this vehicle is on another trip")
        }
        _ => e.into(),
    }
}

/// The driver must be the transporter's and free.
async fn check_driver_free(conn: &mut PgConnection, transporter: Uuid, driver: Uuid) -> Result<()> {
    super::check_driver(conn, transporter, driver).await?;
    let busy: bool = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM trips WHERE driver_id = $1 AND trip_is_crewed(status)) AS "exists!""#,
        driver
    )
    .fetch_one(&mut *conn)
    .await?;
    if busy {
        return Err(Error::rejected(409, "DRIVER_ON_TRIP", "this driver is on another unfinished trip"));
    }
    Ok(())
}

/// Starts the trip of a taken truck whose vehicle is already on it (accept with a driver, or
/// the assign call): `assigned`, waiting for the driver within the response window.
pub(crate) async fn start(
    conn: &mut PgConnection,
    truck_request: Uuid,
    driver: Uuid,
    windows: Windows,
    actor: Actor,
) -> Result<Uuid> {
    let id = Uuid::now_v7();
    sqlx::query!("SAVEPOINT start_trip").execute(&mut *conn).await?;
    let inserted = sqlx::query!(
        "INSERT INTO trips (id, truck_request_id, broadcast_id, transporter_id, vehicle_id, driver_id, respond_by)
         SELECT $1, tr.id, tr.broadcast_id, tr.transporter_id, tr.vehicle_id, $3, now() + make_interval(secs => $4)
         FROM truck_requests tr WHERE tr.id = $2",
        id,
        truck_request,
        driver,
        windows.driver_response.as_secs_f64()
    )
    .execute(&mut *conn)
    .await;
    if let Err(e) = inserted {
        sqlx::query!("ROLLBACK TO SAVEPOINT start_trip").execute(&mut *conn).await?;
        return Err(crew_conflict(e));
    }
    log_trip(conn, id, None, TripStatus::Assigned, actor, why::ASSIGNED).await?;
    Ok(id)
}

/// The guarded move of a locked trip; `windows` sets the deadline of the state it enters.
async fn move_trip(conn: &mut PgConnection, t: &Trip, to: TripStatus, windows: Windows) -> Result<()> {
    let done = sqlx::query!(
        "UPDATE trips SET status = $3::trip_status, updated_at = now(),
                respond_by = CASE WHEN $3::trip_status = 'assigned' THEN now() + make_interval(secs => $4) ELSE
                 respond_by END,
                restaff_by = CASE WHEN $3::trip_status IN ('driver_declined',
                 'driver_timeout') THEN now() + make_interval(secs => $5)
                                  ELSE restaff_by END,
                finished_at = CASE WHEN trip_is_unfinished($3::trip_status) THEN NULL ELSE now() END
         WHERE id = $1 AND status = $2",
        t.id,
        t.status as _,
        to as _,
        windows.driver_response.as_secs_f64(),
        windows.restaff.as_secs_f64()
    )
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() != 1 {
        return Err(anyhow::anyhow!("trip {} changed under its lock", t.id).into());
    }
    Ok(())
}

/// Frees the crew of a trip leaving a crewed state; the truck goes to `truck_status`. A
/// delivered or cancelled truck keeps its last crew for history; a truck waiting to be staffed
/// again drops it.
async fn free_crew(conn: &mut PgConnection, t: &Trip, truck_status: TruckRequestStatus) -> Result<()> {
    let keep_crew = matches!(truck_status, TruckRequestStatus::Delivered | TruckRequestStatus::Cancelled);
    sqlx::query!(
        "UPDATE truck_requests SET status = $2, updated_at = now(),
                vehicle_id = CASE WHEN $3 THEN vehicle_id END, driver_id = CASE WHEN $3 THEN driver_id END,
                assigned_at = CASE WHEN $3 THEN assigned_at END
         WHERE id = $1",
        t.truck_request_id,
        truck_status as _,
        keep_crew
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "UPDATE vehicles SET status = 'available', updated_at = now() WHERE id = $1 AND status = 'on_trip'",
        t.vehicle_id
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Applies `event` to a locked trip: the move, its crew effects, the log and the outbox row.
async fn apply(
    conn: &mut PgConnection,
    t: &Trip,
    event: TripEvent,
    windows: Windows,
    actor: Actor,
    why: &str,
) -> Result<TripStatus> {
    let to = t.status.on(event).map_err(illegal)?;
    move_trip(conn, t, to, windows).await?;
    if t.status.is_crewed() && !to.is_crewed() {
        let truck = match to {
            TripStatus::Delivered => TruckRequestStatus::Delivered,
            TripStatus::Cancelled => TruckRequestStatus::Cancelled,
            // Declined, timed out or released: the truck stays taken until staffed or given back.
            _ => TruckRequestStatus::Accepted,
        };
        free_crew(conn, t, truck).await?;
    }
    log_trip(conn, t.id, Some(t.status), to, actor, why).await?;
    match to {
        // The truck searches again or is cancelled; give_back logs which.
        TripStatus::Released => give_back(conn, t, actor, why).await?,
        _ if !to.is_crewed() => {
            if to == TripStatus::Cancelled && !t.status.is_crewed() {
                set_truck(conn, t.truck_request_id, TruckRequestStatus::Cancelled).await?;
            }
            let truck_from = if t.status.is_crewed() { "assigned" } else { "accepted" };
            let truck_to = match to {
                TripStatus::Delivered => "delivered",
                TripStatus::Cancelled => "cancelled",
                _ => "accepted",
            };
            log(conn, t.broadcast_id, Some(t.truck_request_id), Some(truck_from), truck_to, actor, why).await?;
        }
        _ => {}
    }
    Ok(to)
}

async fn set_truck(conn: &mut PgConnection, truck: Uuid, status: TruckRequestStatus) -> Result<()> {
    sqlx::query!("UPDATE truck_requests SET status = $2, updated_at = now() WHERE id = $1", truck, status as _)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// A released truck goes back to `searching` and its broadcast reopens, unless the deadline
/// passed, the broadcast was cancelled or expired, or the customer has another open broadcast:
/// then the truck is cancelled and the customer told why.
async fn give_back(conn: &mut PgConnection, t: &Trip, actor: Actor, why_released: &str) -> Result<()> {
    let truck = Taken { broadcast_id: t.broadcast_id, truck_request_id: t.truck_request_id, line_no: t.line.no };
    give_back_truck(conn, &truck, actor, why_released).await
}

/// A taken truck, as `give_back_truck` needs it.
struct Taken {
    broadcast_id: Uuid,
    truck_request_id: Uuid,
    line_no: i32,
}

async fn give_back_truck(conn: &mut PgConnection, t: &Taken, actor: Actor, why_released: &str) -> Result<()> {
    let locked = lock(conn, t.broadcast_id).await?;
    let (line, _) = locked.line(t.line_no);
    let other_open: bool = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM broadcasts WHERE customer_id = $1 AND id <> $2 AND
                 broadcast_is_open(status)) AS "exists!""#,
        locked.customer,
        t.broadcast_id
    )
    .fetch_one(&mut *conn)
    .await?;
    let refused = if locked.overdue {
        Some(why::DEADLINE_PASSED)
    } else if !(locked.machine.status.is_open() || locked.machine.status == BroadcastStatus::FullyFilled) {
        Some(why::BROADCAST_CLOSED)
    } else if !locked.machine.status.is_open() && other_open {
        Some(why::CUSTOMER_HAS_ANOTHER_OPEN)
    } else {
        None
    };
    let next = match refused {
        None => locked.machine.release(line).ok(),
        Some(_) => None,
    };
    let Some(next) = next else {
        set_truck(conn, t.truck_request_id, TruckRequestStatus::Cancelled).await?;
        let reason = refused.unwrap_or(why::BROADCAST_CLOSED);
        log(conn, t.broadcast_id, Some(t.truck_request_id), Some("accepted"), "cancelled", actor, reason).await?;
        let reason = reason.to_owned();
        let event = outbox::TruckReleased {
            broadcast_id: t.broadcast_id,
            truck_request_id: t.truck_request_id,
            searching: false,
            reopened: false,
            reason,
        };
        outbox::enqueue(conn, &OutboxEvent::TruckReleased(event), None).await?;
        // A filled broadcast past its deadline whose last open truck this was is done.
        super::complete_if_finished(conn, t.broadcast_id, actor).await?;
        return Ok(());
    };
    sqlx::query!(
        "UPDATE truck_requests SET status = 'searching', transporter_id = NULL, vehicle_id = NULL, driver_id = NULL,
                accepted_at = NULL, assigned_at = NULL, updated_at = now()
         WHERE id = $1",
        t.truck_request_id
    )
    .execute(&mut *conn)
    .await?;
    log(conn, t.broadcast_id, Some(t.truck_request_id), Some("accepted"), "searching", actor, why_released).await?;
    write_status(conn, t.broadcast_id, locked.machine.status, &next, None).await?;
    if next.status != locked.machine.status {
        let why = if locked.machine.status == BroadcastStatus::FullyFilled { why::REOPENED } else { why_released };
        log(conn, t.broadcast_id, None, Some(locked.machine.status.as_str()), next.status.as_str(), actor, why).await?;
    }
    let event = outbox::TruckReleased {
        broadcast_id: t.broadcast_id,
        truck_request_id: t.truck_request_id,
        searching: true,
        reopened: locked.machine.status == BroadcastStatus::FullyFilled,
        reason: why_released.to_owned(),
    };
    outbox::enqueue(conn, &OutboxEvent::TruckReleased(event), None).await?;
    Ok(())
}

/// The driver's own trip, locked.
async fn drivers(conn: &mut PgConnection, driver: Uuid, trip: Uuid) -> Result<Trip> {
    let t = lock_trip(conn, trip).await?;
    if t.driver_id != driver {
        return Err(not_found());
    }
    Ok(t)
}

/// The transporter's own trip, locked.
async fn transporters(conn: &mut PgConnection, transporter: Uuid, trip: Uuid) -> Result<Trip> {
    let t = lock_trip(conn, trip).await?;
    if t.transporter_id != transporter {
        return Err(not_found());
    }
    Ok(t)
}

/// The named driver accepts (invariant 3: against timeout, release and cancel, the first
/// commit wins; the others find the state moved and get a 409 naming it).
pub async fn driver_accept(conn: &mut PgConnection, driver: UserId, trip: TripId, w: Windows) -> Result<TripStatus> {
    let driver = driver.uuid();
    let trip = trip.uuid();
    let t = drivers(conn, driver, trip).await?;
    apply(conn, &t, TripEvent::DriverAccept, w, Actor::driver(driver), why::DRIVER_ACCEPTED).await
}

/// The named driver declines, saying why; the truck goes back to its transporter to staff again.
pub async fn driver_decline(
    conn: &mut PgConnection,
    driver: UserId,
    trip: TripId,
    note: &str,
    w: Windows,
) -> Result<TripStatus> {
    let driver = driver.uuid();
    let trip = trip.uuid();
    let t = drivers(conn, driver, trip).await?;
    let to = apply(conn, &t, TripEvent::DriverDecline, w, Actor::driver(driver), why::DRIVER_DECLINED).await?;
    sqlx::query!("UPDATE trips SET decline_note = $2 WHERE id = $1", trip, note).execute(&mut *conn).await?;
    Ok(to)
}

/// The driver reports the next state on the road (en route, at pickup, in transit, delivered).
pub async fn progress(
    conn: &mut PgConnection,
    driver: UserId,
    trip: TripId,
    to: TripStatus,
    w: Windows,
) -> Result<TripStatus> {
    let driver = driver.uuid();
    let trip = trip.uuid();
    let t = drivers(conn, driver, trip).await?;
    let to = apply(conn, &t, TripEvent::Progress(to), w, Actor::driver(driver), why::DRIVER_PROGRESS).await?;
    if to == TripStatus::Delivered {
        super::complete_if_finished(conn, t.broadcast_id, Actor::driver(driver)).await?;
    }
    Ok(to)
}

/// The response window passed (the durable job). False when the driver answered first or the
/// window is not over yet, so running it twice or early changes nothing.
pub async fn response_timeout(conn: &mut PgConnection, trip: Uuid, w: Windows) -> Result<bool> {
    let t = lock_trip(conn, trip).await?;
    if t.status != TripStatus::Assigned || t.respond_by.is_some_and(|at| at > Utc::now()) {
        return Ok(false);
    }
    apply(conn, &t, TripEvent::ResponseTimeout, w, Actor::system(), why::RESPONSE_TIMEOUT).await?;
    Ok(true)
}

/// A query over unstaffed trucks: `$head`, the condition (written once, here) on a truck `tr`
/// taken without a driver that has no unfinished trip and was taken at least `$1` seconds ago
/// (what `staff_timeout` gives back, and what the sweep looks for), then `$tail`; checked by the
/// compiler like any `query!`.
macro_rules! unstaffed_query {
    ($macro:ident, $head:tt, $tail:tt $(, $arg:expr)* $(,)?) => {
        sqlx::$macro!(
            $head
                + " tr.status = 'accepted' AND tr.driver_id IS NULL
                   AND tr.accepted_at <= now() - make_interval(secs => $1)
                   AND NOT EXISTS (SELECT 1 FROM trips WHERE truck_request_id = tr.id
                                   AND status NOT IN ('delivered', 'released', 'cancelled')) "
                + $tail
            $(, $arg)*
        )
    };
}

/// Trucks whose staffing window passed at least `grace` ago (the sweep's backstop for a lost
/// `staff_deadline` job), at most `limit`.
pub async fn overdue_unstaffed(db: &sqlx::PgPool, w: Windows, grace: Duration, limit: i64) -> Result<Vec<Uuid>> {
    Ok(unstaffed_query!(
        query_scalar,
        "SELECT tr.id FROM truck_requests tr WHERE",
        "ORDER BY tr.id LIMIT $2",
        (w.restaff + grace).as_secs_f64(),
        limit
    )
    .fetch_all(db)
    .await?)
}

/// A truck taken without a driver, none named within the restaff window (the `staff_deadline`
/// job, `WEELO_RESTAFF_SECS` after the accept): its vehicle is freed and the truck given back
/// like a released one (it searches again, or is cancelled past the deadline). False when a
/// driver was named, the truck moved on, or the window is not over, so running it twice or
/// early changes nothing.
pub async fn staff_timeout(conn: &mut PgConnection, truck: Uuid, w: Windows) -> Result<bool> {
    let broadcast: Option<Uuid> = sqlx::query_scalar!("SELECT broadcast_id FROM truck_requests WHERE id = $1", truck)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(broadcast) = broadcast else { return Ok(false) };
    sqlx::query!("SELECT id FROM broadcasts WHERE id = $1 FOR UPDATE", broadcast).fetch_optional(&mut *conn).await?;
    let row = unstaffed_query!(
        query,
        "SELECT tr.vehicle_id, tr.line_no FROM truck_requests tr WHERE tr.id = $2 AND",
        "FOR UPDATE OF tr",
        w.restaff.as_secs_f64(),
        truck
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(false) };
    let (vehicle, line_no) = (row.vehicle_id, row.line_no);
    if let Some(v) = vehicle {
        sqlx::query!(
            "UPDATE vehicles SET status = 'available', updated_at = now() WHERE id = $1 AND status = 'on_trip'",
            v
        )
        .execute(&mut *conn)
        .await?;
    }
    let taken = Taken { broadcast_id: broadcast, truck_request_id: truck, line_no };
    give_back_truck(conn, &taken, Actor::system(), why::NOT_STAFFED).await?;
    Ok(true)
}

/// The restaff window passed without a new crew (the durable job): the truck is released.
pub async fn restaff_timeout(conn: &mut PgConnection, trip: Uuid, w: Windows) -> Result<bool> {
    let t = lock_trip(conn, trip).await?;
    if !t.status.needs_crew() || t.restaff_by.is_some_and(|at| at > Utc::now()) {
        return Ok(false);
    }
    apply(conn, &t, TripEvent::Release, w, Actor::system(), why::RESTAFF_TIMEOUT).await?;
    Ok(true)
}

/// The transporter gives a taken truck back before pickup.
pub async fn release(conn: &mut PgConnection, transporter: UserId, trip: TripId, w: Windows) -> Result<TripStatus> {
    let transporter = transporter.uuid();
    let trip = trip.uuid();
    let t = transporters(conn, transporter, trip).await?;
    apply(conn, &t, TripEvent::Release, w, Actor::transporter(transporter), why::RELEASED_BY_TRANSPORTER).await
}

/// The transporter names a new vehicle and driver after a decline or a timeout.
pub async fn restaff(
    conn: &mut PgConnection,
    transporter: UserId,
    trip: TripId,
    vehicle: VehicleId,
    driver: UserId,
    w: Windows,
) -> Result<TripStatus> {
    let transporter = transporter.uuid();
    let trip = trip.uuid();
    let vehicle = vehicle.uuid();
    let driver = driver.uuid();
    let t = transporters(conn, transporter, trip).await?;
    let to = t.status.on(TripEvent::Restaff).map_err(illegal)?;
    check_driver_free(conn, transporter, driver).await?;
    super::take_vehicle(conn, transporter, vehicle, &t.line).await?;
    sqlx::query!(
        "UPDATE truck_requests SET status = 'assigned', vehicle_id = $2, driver_id = $3, assigned_at = now(),
                 updated_at = now()
         WHERE id = $1",
        t.truck_request_id,
        vehicle,
        driver
    )
    .execute(&mut *conn)
    .await
    .map_err(crew_conflict)?;
    move_trip(conn, &t, to, w).await?;
    sqlx::query!("UPDATE trips SET vehicle_id = $2, driver_id = $3 WHERE id = $1", t.id, vehicle, driver)
        .execute(&mut *conn)
        .await
        .map_err(crew_conflict)?;
    let actor = Actor::transporter(transporter);
    log_trip(conn, t.id, Some(t.status), to, actor, why::RESTAFFED).await?;
    log(conn, t.broadcast_id, Some(t.truck_request_id), Some("accepted"), "assigned", actor, why::RESTAFFED).await?;
    Ok(to)
}

/// The customer cancels after the match: every trip of the broadcast is cancelled and every
/// taken truck freed, or nothing is when one was already picked up.
pub(crate) async fn cancel_all(
    conn: &mut PgConnection,
    broadcast: Uuid,
    actor: Actor,
    why: &str,
    w: Windows,
) -> Result<()> {
    let picked_up: Option<TripStatus> = sqlx::query_scalar!(
        r#"SELECT status AS "status: TripStatus" FROM trips WHERE broadcast_id = $1 AND status IN ('at_pickup',
                 'in_transit', 'delivered') LIMIT 1"#,
        broadcast
    )
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(s) = picked_up {
        return Err(Error::rejected(409, "TRIP_PICKED_UP", "a truck of this broadcast was already picked up")
            .with("state", s.as_str()));
    }
    let trips: Vec<Uuid> = sqlx::query_scalar!(
        "SELECT id FROM trips WHERE broadcast_id = $1 AND trip_is_unfinished(status) ORDER BY id",
        broadcast
    )
    .fetch_all(&mut *conn)
    .await?;
    for id in trips {
        let t = lock_trip(conn, id).await?;
        apply(conn, &t, TripEvent::CustomerCancel, w, actor, why).await?;
    }
    // Taken trucks no driver was named for yet: their vehicles go back too.
    let freed: Vec<(Uuid, Option<Uuid>)> = sqlx::query!(
        r#"UPDATE truck_requests SET status = 'cancelled', updated_at = now()
         WHERE broadcast_id = $1 AND status IN ('accepted', 'assigned') RETURNING id, vehicle_id"#,
        broadcast
    )
    .map(|r| (r.id, r.vehicle_id))
    .fetch_all(&mut *conn)
    .await?;
    for (truck, vehicle) in freed {
        if let Some(v) = vehicle {
            sqlx::query!(
                "UPDATE vehicles SET status = 'available', updated_at = now() WHERE id = $1 AND status = 'on_trip'",
                v
            )
            .execute(&mut *conn)
            .await?;
        }
        log(conn, broadcast, Some(truck), Some("accepted"), "cancelled", actor, why).await?;
    }
    Ok(())
}

/// A driver's trips, newest first, `limit` per page; the cursor of the next page if any.
pub async fn for_driver(
    conn: &mut PgConnection,
    driver: Uuid,
    limit: i64,
    before: Option<(DateTime<Utc>, Uuid)>,
) -> Result<(Vec<views::TripBody>, Option<String>)> {
    let ids: Vec<Uuid> = sqlx::query_scalar!(
        "SELECT id FROM trips WHERE driver_id = $1
           AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3))
         ORDER BY created_at DESC, id DESC LIMIT $4",
        driver,
        before.map(|b| b.0),
        before.map(|b| b.1),
        limit + 1
    )
    .fetch_all(&mut *conn)
    .await?;
    let more = ids.len() as i64 > limit;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids.into_iter().take(limit as usize) {
        out.push(views::trip(conn, id).await?);
    }
    let next = if more { out.last().map(|t| views::encode_cursor(t.created_at, t.id)) } else { None };
    Ok((out, next))
}
