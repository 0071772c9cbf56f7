//! The broadcast lifecycle against PostgreSQL: create, accept, decline, cancel, assign a
//! driver, expire. Each command locks the broadcast row, asks the pure state machine
//! (`domain::machine`) what happens, writes the answer with guarded statements, logs the
//! transition and enqueues the outbox row, all in the caller's transaction.

pub mod gate;
pub mod holds;
pub mod trips;
pub mod views;

use std::time::Duration;

use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::db::violated_constraint;
use crate::domain::VehicleType;
use crate::domain::machine::{Broadcast, BroadcastStatus, Draft, LineState, Refusal, TruckRequestStatus, reason};
use crate::domain::{BroadcastId, TruckRequestId, UserId, VehicleId};
use crate::error::{Error, Result};
use crate::outbox::{self, OutboxEvent};

/// Who did something, for the transition log.
#[derive(Debug, Clone, Copy)]
pub struct Actor {
    pub id: Option<Uuid>,
    pub role: &'static str,
}

impl Actor {
    pub fn customer(id: Uuid) -> Self {
        Self { id: Some(id), role: "customer" }
    }
    pub fn transporter(id: Uuid) -> Self {
        Self { id: Some(id), role: "transporter" }
    }
    pub fn driver(id: Uuid) -> Self {
        Self { id: Some(id), role: "driver" }
    }
    pub fn admin(id: Uuid) -> Self {
        Self { id: Some(id), role: "admin" }
    }
    pub fn system() -> Self {
        Self { id: None, role: "system" }
    }
}

#[allow(clippy::too_many_arguments)]
async fn log(
    conn: &mut PgConnection,
    broadcast: Uuid,
    truck_request: Option<Uuid>,
    from: Option<&str>,
    to: &str,
    actor: Actor,
    why: &str,
) -> Result<()> {
    sqlx::query!(
        "INSERT INTO broadcast_transitions (broadcast_id, truck_request_id, from_status, to_status, actor_id,
                 actor_role, reason)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        broadcast,
        truck_request,
        from,
        to,
        actor.id,
        actor.role,
        why
    )
    .execute(conn)
    .await?;
    Ok(())
}

fn closed(status: BroadcastStatus) -> Error {
    Error::rejected(409, "BROADCAST_CLOSED", format!("this broadcast is {}", status.as_str()))
        .with("state", status.as_str())
}

fn filled() -> Error {
    Error::rejected(409, "BROADCAST_FILLED", "every truck of this broadcast is taken").with("state", "fully_filled")
}

fn refusal(r: Refusal, line: Option<&LineKind>) -> Error {
    match r {
        Refusal::Filled => filled(),
        Refusal::Closed(s) => closed(s),
        Refusal::LineFilled => Error::rejected(
            409,
            "LINE_FILLED",
            match line {
                Some(l) => format!("every truck of line {} ({}) is taken", l.no, l.describe()),
                None => "every truck of this line is taken".to_owned(),
            },
        ),
        Refusal::NoSuchLine => no_such_line(),
    }
}

/// A line number as a request sent it (`line`): below `MAX_LINES`.
pub fn parse_line(raw: i64) -> Result<i32> {
    let max = crate::domain::machine::MAX_LINES as i64;
    if (0..max).contains(&raw) {
        Ok(raw as i32)
    } else {
        Err(Error::field("line", format!("must be 0 to {}", max - 1)))
    }
}

fn no_such_line() -> Error {
    Error::rejected(422, "NO_SUCH_LINE", "this broadcast has no such line")
        .with("errors", [serde_json::json!({ "field": "line", "message": "is not a line of this broadcast" })])
}

/// One line of a broadcast as the commands need it: what a vehicle must be to take its trucks
/// (docs/DESIGN.md, "Lines": a line is a type, a subtype and a price).
#[derive(Debug, Clone, PartialEq)]
pub struct LineKind {
    pub no: i32,
    pub vehicle_type: VehicleType,
    pub vehicle_subtype: String,
}

impl LineKind {
    fn describe(&self) -> String {
        format!("{} {}", self.vehicle_type, self.vehicle_subtype)
    }

    /// Why a vehicle of this type and subtype cannot take a truck of this line, if it cannot.
    fn misfit(&self, t: VehicleType, subtype: &str) -> Option<(&'static str, String)> {
        if t != self.vehicle_type {
            Some((
                "VEHICLE_TYPE_MISMATCH",
                format!("line {} needs a {}; this vehicle is a {t}", self.no, self.describe()),
            ))
        } else if subtype != self.vehicle_subtype {
            Some((
                "VEHICLE_SUBTYPE_MISMATCH",
                format!("line {} needs a {}; this vehicle is a {t} {subtype}", self.no, self.describe()),
            ))
        } else {
            None
        }
    }
}

/// The locked broadcast: its state machine and deadline.
struct Locked {
    customer: Uuid,
    machine: Broadcast,
    /// What each of the machine's lines is, in the machine's order (by line number).
    kinds: Vec<LineKind>,
    overdue: bool,
}

impl Locked {
    /// Line `no`: the machine's index of it (`usize::MAX`, which the machine refuses, when there
    /// is none) and what it is.
    fn line(&self, no: i32) -> (usize, Option<&LineKind>) {
        match self.kinds.iter().position(|k| k.no == no) {
            Some(i) => (i, self.kinds.get(i)),
            None => (usize::MAX, None),
        }
    }
}

/// Locks the broadcast row (every command takes this lock first, so they never deadlock).
async fn lock(conn: &mut PgConnection, id: Uuid) -> Result<Locked> {
    let row: Option<(Uuid, BroadcastStatus, bool)> = sqlx::query!(
        r#"SELECT customer_id, status AS "status: BroadcastStatus", expires_at <= now() AS "overdue!" FROM
                     broadcasts WHERE id = $1 FOR UPDATE"#,
        id
    )
    .map(|r| (r.customer_id, r.status, r.overdue))
    .fetch_optional(&mut *conn)
    .await?;
    let (customer, status, overdue) = row.ok_or_else(views::not_found)?;
    let counts: Vec<(i32, VehicleType, String, i64, i64, i64)> = sqlx::query!(
        r#"SELECT line_no, vehicle_type AS "vehicle_type: VehicleType", vehicle_subtype, count(*) AS "needed!",
                count(*) FILTER (WHERE status IN ('accepted', 'assigned', 'delivered')) AS "filled!",
                count(*) FILTER (WHERE status = 'held') AS "held!"
         FROM truck_requests WHERE broadcast_id = $1 GROUP BY line_no, vehicle_type, vehicle_subtype ORDER BY line_no"#,
        id
    )
    .map(|r| (r.line_no, r.vehicle_type, r.vehicle_subtype, r.needed, r.filled, r.held))
    .fetch_all(&mut *conn)
    .await?;
    let lines = counts.iter().map(|c| LineState { needed: c.3 as u32, filled: c.4 as u32, held: c.5 as u32 }).collect();
    let kinds = counts
        .into_iter()
        .map(|(no, vehicle_type, vehicle_subtype, ..)| LineKind { no, vehicle_type, vehicle_subtype })
        .collect();
    Ok(Locked { customer, machine: Broadcast { status, lines }, kinds, overdue })
}

/// Writes a broadcast transition the machine allowed; the guard makes a lost lock impossible to miss.
async fn write_status(
    conn: &mut PgConnection,
    id: Uuid,
    from: BroadcastStatus,
    next: &Broadcast,
    terminal_reason: Option<&str>,
) -> Result<()> {
    let done = sqlx::query!(
        "UPDATE broadcasts SET status = $3, trucks_filled = $4, terminal_reason = $5, updated_at = now(),
                closed_at = CASE WHEN $5::text IS NULL THEN NULL ELSE now() END
         WHERE id = $1 AND status = $2",
        id,
        from as _,
        next.status as _,
        next.filled() as i32,
        terminal_reason
    )
    .execute(conn)
    .await?;
    if done.rows_affected() != 1 {
        return Err(anyhow::anyhow!("broadcast {id} changed under its lock").into());
    }
    Ok(())
}

/// Writes the broadcast's state after trucks were taken (an accept, a hold's confirm): closed
/// when every truck is taken, otherwise its new count, and its status move logged as `why`.
async fn settle_taken(
    conn: &mut PgConnection,
    id: Uuid,
    locked: &Locked,
    next: &Broadcast,
    actor: Actor,
    why: &str,
) -> Result<()> {
    if next.status == BroadcastStatus::FullyFilled {
        return close(conn, id, locked, next, reason::FULLY_FILLED, actor).await;
    }
    write_status(conn, id, locked.machine.status, next, None).await?;
    if next.status != locked.machine.status {
        log(conn, id, None, Some(locked.machine.status.as_str()), next.status.as_str(), actor, why).await?;
    }
    Ok(())
}

/// A filled broadcast whose every truck is finished (delivered, or cancelled after the match) is
/// `completed`: final, and what the history shows (docs/DESIGN.md, "After the match"). Called in
/// the transaction that ended a trip, after the broadcast was locked; does nothing otherwise.
pub(crate) async fn complete_if_finished(conn: &mut PgConnection, id: Uuid, actor: Actor) -> Result<bool> {
    let locked = lock(conn, id).await?;
    if locked.machine.status != BroadcastStatus::FullyFilled {
        return Ok(false);
    }
    let unfinished: bool = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM truck_requests WHERE broadcast_id = $1
                        AND status IN ('searching', 'held', 'accepted', 'assigned')) AS "exists!""#,
        id
    )
    .fetch_one(&mut *conn)
    .await?;
    let Some(next) = (!unfinished).then(|| locked.machine.complete().ok()).flatten() else {
        return Ok(false);
    };
    write_status(conn, id, locked.machine.status, &next, Some(reason::TRIPS_FINISHED)).await?;
    log(conn, id, None, Some(locked.machine.status.as_str()), next.status.as_str(), actor, reason::TRIPS_FINISHED)
        .await?;
    let event =
        outbox::BroadcastClosed { broadcast_id: id, status: next.status, reason: reason::TRIPS_FINISHED.to_owned() };
    outbox::enqueue(conn, &OutboxEvent::BroadcastClosed(event), None).await?;
    Ok(true)
}

/// Ends an open broadcast: releases searching trucks, logs, and tells the worker.
async fn close(
    conn: &mut PgConnection,
    id: Uuid,
    locked: &Locked,
    next: &Broadcast,
    why: &str,
    actor: Actor,
) -> Result<()> {
    write_status(conn, id, locked.machine.status, next, Some(why)).await?;
    let released = match next.status {
        BroadcastStatus::Expired => TruckRequestStatus::Expired,
        _ => TruckRequestStatus::Cancelled,
    };
    if next.status != BroadcastStatus::FullyFilled {
        // Held trucks close with the searching ones, and their holds end.
        holds::end_all(conn, id).await?;
        sqlx::query!(
            "UPDATE truck_requests SET status = $2, hold_id = NULL, updated_at = now()
             WHERE broadcast_id = $1 AND status IN ('searching', 'held')",
            id,
            released as _
        )
        .execute(&mut *conn)
        .await?;
    }
    log(conn, id, None, Some(locked.machine.status.as_str()), next.status.as_str(), actor, why).await?;
    let event = outbox::BroadcastClosed { broadcast_id: id, status: next.status, reason: why.to_owned() };
    outbox::enqueue(conn, &OutboxEvent::BroadcastClosed(event), None).await?;
    Ok(())
}

/// Creates a broadcast (docs/DESIGN.md, invariant 1: one open broadcast per customer; `replace_active` cancels
/// the open one in the same transaction).
pub async fn create(
    conn: &mut PgConnection,
    customer: Uuid,
    draft: &Draft,
    replace_active: bool,
    timeout: Duration,
) -> Result<Uuid> {
    if replace_active {
        let open: Option<Uuid> = sqlx::query_scalar!(
            "SELECT id FROM broadcasts WHERE customer_id = $1 AND broadcast_is_open(status) FOR UPDATE",
            customer
        )
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(old) = open {
            let locked = lock(conn, old).await?;
            if let Ok(next) = locked.machine.cancel() {
                close(conn, old, &locked, &next, reason::REPLACED_BY_NEW, Actor::customer(customer)).await?;
            }
        }
    }
    let id = Uuid::now_v7();
    sqlx::query!("SAVEPOINT create_broadcast").execute(&mut *conn).await?;
    let inserted = sqlx::query!(
        "INSERT INTO broadcasts (id, customer_id, pickup_lat, pickup_lng, pickup_address, pickup_city,
                                 drop_lat, drop_lng, drop_address, drop_city, distance_km, trucks_needed, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, now() + make_interval(secs => $13))",
        id,
        customer,
        draft.pickup.at.lat,
        draft.pickup.at.lng,
        &draft.pickup.address,
        draft.pickup.city.as_deref(),
        draft.drop.at.lat,
        draft.drop.at.lng,
        &draft.drop.address,
        draft.drop.city.as_deref(),
        draft.distance_km,
        draft.trucks_needed() as i32,
        timeout.as_secs_f64()
    )
    .execute(&mut *conn)
    .await;
    if let Err(e) = inserted {
        if violated_constraint(&e) == Some("broadcasts_one_open_per_customer") {
            sqlx::query!("ROLLBACK TO SAVEPOINT create_broadcast").execute(&mut *conn).await?;
            let open: Option<Uuid> = sqlx::query_scalar!(
                "SELECT id FROM broadcasts WHERE customer_id = $1 AND broadcast_is_open(status)",
                customer
            )
            .fetch_optional(&mut *conn)
            .await?;
            return Err(Error::rejected(
                409,
                "ACTIVE_BROADCAST_EXISTS",
                "you already have an open broadcast; cancel it or send replaceActive: true",
            )
            .with("activeBroadcastId", open));
        }
        return Err(e.into());
    }
    // One row per truck; a line is a run of rows with the same line_no.
    let (mut line_nos, mut seqs, mut types, mut subtypes, mut prices) = (vec![], vec![], vec![], vec![], vec![]);
    let mut seq = 0i32;
    for (line_no, line) in draft.lines.iter().enumerate() {
        for _ in 0..line.count {
            line_nos.push(line_no as i32);
            seqs.push(seq);
            types.push(line.vehicle_type);
            subtypes.push(line.vehicle_subtype.clone());
            prices.push(line.price_per_truck as i32);
            seq += 1;
        }
    }
    sqlx::query!(
        "INSERT INTO truck_requests (id, broadcast_id, line_no, seq, vehicle_type, vehicle_subtype, price_per_truck)
         SELECT gen_random_uuid(), $1, l, s, t, st, p
         FROM unnest($2::int[], $3::int[], $4::vehicle_type[], $5::text[], $6::int[]) AS u(l, s, t, st, p)",
        id,
        &line_nos,
        &seqs,
        &types as _,
        &subtypes,
        &prices
    )
    .execute(&mut *conn)
    .await?;
    log(conn, id, None, None, BroadcastStatus::Active.as_str(), Actor::customer(customer), "CREATED").await?;
    let expires_at: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar!("SELECT expires_at FROM broadcasts WHERE id = $1", id).fetch_one(&mut *conn).await?;
    let event = outbox::BroadcastCreated { broadcast_id: id, expires_at };
    outbox::enqueue(conn, &OutboxEvent::BroadcastCreated(event), None).await?;
    Ok(id)
}

/// What an accept produced.
#[derive(Debug, Clone, Serialize, serde::Deserialize, poem_openapi::Object, PartialEq)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
#[serde(rename_all = "camelCase")]
pub struct Accepted {
    pub truck_request_id: Uuid,
    pub broadcast_id: Uuid,
    pub status: TruckRequestStatus,
    pub broadcast_status: BroadcastStatus,
    /// The line the truck belongs to.
    pub line: i32,
    pub vehicle_type: VehicleType,
    pub vehicle_id: Uuid,
    pub driver_id: Option<Uuid>,
    pub trucks_remaining: i32,
}

/// Where the transporter stands with a broadcast; refuses when it was never told of it.
async fn transporter_access(conn: &mut PgConnection, broadcast: Uuid, transporter: Uuid) -> Result<()> {
    let (notified, declined): (bool, bool) = sqlx::query!(
        r#"SELECT EXISTS (SELECT 1 FROM broadcast_notifications WHERE broadcast_id = $1 AND transporter_id = $2) AS
                 "notified!",
                EXISTS (SELECT 1 FROM broadcast_declines WHERE broadcast_id = $1 AND transporter_id = $2) AS
                 "declined!""#,
        broadcast,
        transporter
    )
    .map(|r| (r.notified, r.declined))
    .fetch_one(&mut *conn)
    .await?;
    if !notified {
        return Err(views::not_found());
    }
    if declined {
        return Err(Error::rejected(409, "BROADCAST_DECLINED", "you declined this broadcast"));
    }
    Ok(())
}

async fn check_driver(conn: &mut PgConnection, transporter: Uuid, driver: Uuid) -> Result<()> {
    let ok: bool = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM users WHERE id = $1 AND role = 'driver' AND transporter_id = $2) AS "exists!""#,
        driver,
        transporter
    )
    .fetch_one(&mut *conn)
    .await?;
    if !ok {
        return Err(Error::rejected(404, "DRIVER_NOT_FOUND", "no such driver in your fleet"));
    }
    Ok(())
}

/// Puts the transporter's free `vehicle` on a trip; it must fit `line` (type and subtype).
async fn take_vehicle(conn: &mut PgConnection, transporter: Uuid, vehicle: Uuid, line: &LineKind) -> Result<()> {
    let taken = sqlx::query!(
        "UPDATE vehicles SET status = 'on_trip', updated_at = now()
         WHERE id = $1 AND transporter_id = $2 AND vehicle_type = $3 AND vehicle_subtype = $4 AND status = 'available'",
        vehicle,
        transporter,
        line.vehicle_type as _,
        &line.vehicle_subtype
    )
    .execute(&mut *conn)
    .await?;
    if taken.rows_affected() == 1 {
        return Ok(());
    }
    Err(match vehicle_misfit(conn, transporter, vehicle, line).await? {
        Some(("VEHICLE_NOT_FOUND", detail)) => Error::rejected(404, "VEHICLE_NOT_FOUND", detail),
        Some((code @ "VEHICLE_UNAVAILABLE", detail)) => Error::rejected(409, code, detail),
        Some((code, detail)) => Error::rejected(422, code, detail),
        None => anyhow::anyhow!("vehicle {vehicle} fits and is available but was not taken").into(),
    })
}

/// Why the transporter's `vehicle` cannot take a truck of `line` now: not theirs, does not fit,
/// or not available (None: it can).
async fn vehicle_misfit(
    conn: &mut PgConnection,
    transporter: Uuid,
    vehicle: Uuid,
    line: &LineKind,
) -> Result<Option<(&'static str, String)>> {
    let found: Option<(VehicleType, String, crate::domain::vehicle::VehicleStatus)> = sqlx::query!(
        r#"SELECT vehicle_type AS "vehicle_type: VehicleType", vehicle_subtype,
                 status AS "status: crate::domain::vehicle::VehicleStatus" FROM vehicles WHERE id = $1 AND
                 transporter_id = $2"#,
        vehicle,
        transporter
    )
    .map(|r| (r.vehicle_type, r.vehicle_subtype, r.status))
    .fetch_optional(&mut *conn)
    .await?;
    Ok(match found {
        None => Some(("VEHICLE_NOT_FOUND", "no such vehicle in your fleet".to_owned())),
        Some((t, subtype, status)) => line.misfit(t, &subtype).or_else(|| {
            (status != crate::domain::vehicle::VehicleStatus::Available).then(|| {
                let s = serde_json::to_value(status).unwrap_or_default();
                ("VEHICLE_UNAVAILABLE", format!("this vehicle is {}", s.as_str().unwrap_or("busy")))
            })
        }),
    })
}

/// What the early check found: a request to run, or a replay of an answer already recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Early {
    Run,
    Replay,
}

/// The refusal most losers of an accept or hold race get, from one query and without a
/// transaction (docs/DESIGN.md, "Contention"): the transporter is unverified (where
/// verification is required), the broadcast is gone, filled or closed, the line has no
/// searching truck, or the broadcast was never shown to this transporter. A request whose
/// idempotency key is already recorded is a replay: it still gets its first answer.
#[allow(clippy::too_many_arguments)]
pub async fn refuse_take_early(
    conn: &mut PgConnection,
    transporter: UserId,
    broadcast: BroadcastId,
    line: i32,
    scope: &str,
    key: Uuid,
    require_verified: bool,
) -> Result<Early> {
    let transporter = transporter.uuid();
    let broadcast = broadcast.uuid();
    let r = sqlx::query!(
        r#"SELECT b.status AS "status?: BroadcastStatus", b.expires_at <= now() AS "overdue?",
                EXISTS (SELECT 1 FROM users u WHERE u.id = $2 AND u.verified_at IS NOT NULL) AS "verified!",
                EXISTS (SELECT 1 FROM broadcast_notifications n WHERE n.broadcast_id = $1 AND n.transporter_id = $2)
                 AS "notified!",
                EXISTS (SELECT 1 FROM broadcast_declines d WHERE d.broadcast_id = $1 AND d.transporter_id = $2)
                 AS "declined!",
                EXISTS (SELECT 1 FROM truck_requests t WHERE t.broadcast_id = $1 AND t.line_no = $5) AS "line!",
                EXISTS (SELECT 1 FROM truck_requests t WHERE t.broadcast_id = $1 AND t.line_no = $5 AND t.status =
                 'searching') AS "free!",
                EXISTS (SELECT 1 FROM idempotency_records r WHERE r.user_id = $2 AND r.scope = $3 AND r.key = $4)
                 AS "replay!"
         FROM (VALUES (1)) AS one (x) LEFT JOIN broadcasts b ON b.id = $1"#,
        broadcast,
        transporter,
        scope,
        key,
        line
    )
    .fetch_one(conn)
    .await?;
    // Verification first, as before any broadcast is looked at: an unverified account learns
    // nothing of one.
    if require_verified && !r.verified {
        return Err(crate::admin::not_verified());
    }
    let Some(status) = r.status else { return Err(views::not_found()) };
    if r.replay {
        return Ok(Early::Replay);
    }
    if !r.notified {
        return Err(views::not_found());
    }
    if r.declined {
        return Err(Error::rejected(409, "BROADCAST_DECLINED", "you declined this broadcast"));
    }
    match status {
        BroadcastStatus::FullyFilled => Err(filled()),
        s if !s.is_open() => Err(closed(s)),
        // Open past its deadline: the expiry job has not run yet; refused as the transaction would.
        _ if r.overdue == Some(true) => Err(closed(BroadcastStatus::Expired)),
        _ if !r.line => Err(no_such_line()),
        _ if !r.free => Err(refusal(Refusal::LineFilled, None)),
        _ => Ok(Early::Run),
    }
}

/// Claims one searching truck of line `line` with the transporter's `vehicle` (docs/DESIGN.md,
/// invariant 3: one conditional claim; the broadcast's count and status move in the same transaction).
/// `sight` records what it saw for the broadcast's turn ("Contention").
#[allow(clippy::too_many_arguments)]
pub async fn accept(
    conn: &mut PgConnection,
    transporter: UserId,
    broadcast: BroadcastId,
    line: i32,
    vehicle: VehicleId,
    driver: Option<UserId>,
    windows: trips::Windows,
    sight: &mut gate::Sight,
) -> Result<Accepted> {
    let transporter = transporter.uuid();
    let broadcast = broadcast.uuid();
    let vehicle = vehicle.uuid();
    let driver = driver.map(UserId::uuid);
    transporter_access(conn, broadcast, transporter).await?;
    if let Some(d) = driver {
        check_driver(conn, transporter, d).await?;
    }

    let locked = sight.lock(conn, broadcast).await?;
    if locked.overdue && locked.machine.status.is_open() {
        return Err(closed(BroadcastStatus::Expired));
    }
    let (index, kind) = locked.line(line);
    let next = locked.machine.accept(index).map_err(|r| refusal(r, kind))?;
    let kind = kind.ok_or_else(no_such_line)?;

    let already: bool = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM truck_requests WHERE broadcast_id = $1 AND vehicle_id = $2 AND status IN
                 ('accepted', 'assigned')) AS "exists!""#,
        broadcast,
        vehicle
    )
    .fetch_one(&mut *conn)
    .await?;
    if already {
        return Err(Error::rejected(409, "ALREADY_ACCEPTED", "this vehicle already holds a truck of this broadcast"));
    }
    take_vehicle(conn, transporter, vehicle, kind).await?;
    let new_status = if driver.is_some() { TruckRequestStatus::Assigned } else { TruckRequestStatus::Accepted };
    // The claim: one searching truck of this line.
    let claimed: Option<Uuid> = sqlx::query_scalar!(
        "UPDATE truck_requests SET status = $5, transporter_id = $3, vehicle_id = $4, driver_id = $6,
                accepted_at = now(), assigned_at = CASE WHEN $6::uuid IS NULL THEN NULL ELSE now() END,
                 updated_at = now()
         WHERE id = (SELECT id FROM truck_requests
                     WHERE broadcast_id = $1 AND line_no = $2 AND status = 'searching'
                     ORDER BY seq LIMIT 1 FOR UPDATE)
           AND status = 'searching'
         RETURNING id",
        broadcast,
        line,
        transporter,
        vehicle,
        new_status as _,
        driver
    )
    .fetch_optional(&mut *conn)
    .await?;
    let truck_request = claimed.ok_or_else(|| {
        anyhow::anyhow!("machine allowed an accept but no searching truck request of line {line} was left")
    })?;
    let actor = Actor::transporter(transporter);
    log(conn, broadcast, Some(truck_request), Some("searching"), new_status.as_str(), actor, "ACCEPTED").await?;
    if let Some(d) = driver {
        // Named with the accept: the trip starts now and the driver is told like any assignment.
        trips::start(conn, truck_request, d, windows, actor).await?;
    }
    let remaining = next.free() as i32;
    let event = outbox::TruckAccepted {
        broadcast_id: broadcast,
        truck_request_id: truck_request,
        transporter_id: transporter,
        customer_id: locked.customer,
        broadcast_status: next.status,
        trucks_remaining: remaining,
    };
    outbox::enqueue(conn, &OutboxEvent::TruckAccepted(event), None).await?;
    settle_taken(conn, broadcast, &locked, &next, actor, "ACCEPTED").await?;
    sight.leaves(&next, &locked.kinds);
    let accepted = Accepted {
        truck_request_id: truck_request,
        broadcast_id: broadcast,
        status: new_status,
        broadcast_status: next.status,
        line,
        vehicle_type: kind.vehicle_type,
        vehicle_id: vehicle,
        driver_id: driver,
        trucks_remaining: remaining,
    };
    Ok(accepted)
}

/// The customer cancels (docs/DESIGN.md, invariant 4: whichever of cancel and accept commits
/// first wins). After the match too, until a truck is picked up: every trip is cancelled and
/// every vehicle and driver freed in the same transaction.
pub async fn cancel(
    conn: &mut PgConnection,
    customer: UserId,
    id: BroadcastId,
    note: Option<&str>,
    windows: trips::Windows,
) -> Result<()> {
    let customer = customer.uuid();
    let id = id.uuid();
    // Someone else's broadcast is a 404 before anything is locked: nobody can hold another
    // customer's broadcast row (stalling its accepts) by cancelling it.
    views::require_owned(conn, customer, id).await?;
    let locked = lock(conn, id).await?;
    end(conn, id, &locked, Actor::customer(customer), reason::CUSTOMER_CANCELLED, note, windows).await
}

/// An admin cancels a broadcast from the ops console: the customer's cancel, on the admin's
/// word (reason `ADMIN_CANCELLED`, the admin's note kept as the cancel note).
pub async fn force_cancel(
    conn: &mut PgConnection,
    admin: UserId,
    id: BroadcastId,
    note: &str,
    windows: trips::Windows,
) -> Result<()> {
    let admin = admin.uuid();
    let id = id.uuid();
    let locked = lock(conn, id).await?;
    end(conn, id, &locked, Actor::admin(admin), reason::ADMIN_CANCELLED, Some(note), windows).await
}

async fn end(
    conn: &mut PgConnection,
    id: Uuid,
    locked: &Locked,
    actor: Actor,
    why: &str,
    note: Option<&str>,
    windows: trips::Windows,
) -> Result<()> {
    if locked.overdue && locked.machine.status.is_open() {
        return Err(closed(BroadcastStatus::Expired));
    }
    let next = locked.machine.cancel().map_err(|r| refusal(r, None))?;
    trips::cancel_all(conn, id, actor, why, windows).await?;
    close(conn, id, locked, &next, why, actor).await?;
    if let Some(note) = note {
        sqlx::query!("UPDATE broadcasts SET cancel_note = $2 WHERE id = $1", id, note).execute(&mut *conn).await?;
    }
    Ok(())
}

/// Expires an open broadcast whose deadline passed. Returns false (and changes nothing) when it
/// is already terminal or not yet due, so running it twice is harmless.
pub async fn expire(conn: &mut PgConnection, id: Uuid) -> Result<bool> {
    let locked = match lock(conn, id).await {
        Ok(l) => l,
        Err(Error::Rejected(r)) if r.status == 404 => return Ok(false),
        Err(e) => return Err(e),
    };
    if !locked.overdue {
        return Ok(false);
    }
    let notified: bool = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM broadcast_notifications WHERE broadcast_id = $1) AS "exists!""#,
        id
    )
    .fetch_one(&mut *conn)
    .await?;
    let Ok((next, why)) = locked.machine.expire(notified) else {
        return Ok(false);
    };
    close(conn, id, &locked, &next, why, Actor::system()).await?;
    Ok(true)
}

/// A notified transporter declines; it stops seeing the broadcast.
pub async fn decline(conn: &mut PgConnection, transporter: UserId, id: BroadcastId) -> Result<()> {
    let transporter = transporter.uuid();
    let id = id.uuid();
    transporter_access(conn, id, transporter)
        .await
        .or_else(|e| if e.code() == "BROADCAST_DECLINED" { Ok(()) } else { Err(e) })?;
    let status: BroadcastStatus =
        sqlx::query_scalar!(r#"SELECT status AS "status: BroadcastStatus" FROM broadcasts WHERE id = $1"#, id)
            .fetch_one(&mut *conn)
            .await?;
    if !status.is_open() {
        return Err(if status == BroadcastStatus::FullyFilled { filled() } else { closed(status) });
    }
    sqlx::query!(
        "INSERT INTO broadcast_declines (broadcast_id, transporter_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        id,
        transporter
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Names the driver of a truck the transporter took without one (accepted -> assigned): its
/// trip starts and the driver is told. A truck whose trip lost its crew is staffed again with
/// `trips::restaff` instead.
pub async fn assign_driver(
    conn: &mut PgConnection,
    transporter: UserId,
    truck_request: TruckRequestId,
    driver: UserId,
    windows: trips::Windows,
) -> Result<Uuid> {
    let transporter = transporter.uuid();
    let truck_request = truck_request.uuid();
    let driver = driver.uuid();
    let row: Option<(Uuid, TruckRequestStatus)> = sqlx::query!(
        r#"SELECT broadcast_id, status AS "status: TruckRequestStatus" FROM truck_requests WHERE id = $1 AND
                     transporter_id = $2"#,
        truck_request,
        transporter
    )
    .map(|r| (r.broadcast_id, r.status))
    .fetch_optional(&mut *conn)
    .await?;
    let (broadcast, _) =
        row.ok_or_else(|| Error::rejected(404, "TRUCK_REQUEST_NOT_FOUND", "no such truck request of yours"))?;
    check_driver(conn, transporter, driver).await?;
    let _ = lock(conn, broadcast).await?;
    let (from, vehicle, trip): (TruckRequestStatus, Option<Uuid>, Option<Uuid>) = sqlx::query!(
        r#"SELECT status AS "status: TruckRequestStatus", vehicle_id,
                (SELECT id FROM trips WHERE truck_request_id = tr.id AND trip_is_unfinished(status)) AS trip
         FROM truck_requests tr WHERE id = $1 FOR UPDATE"#,
        truck_request
    )
    .map(|r| (r.status, r.vehicle_id, r.trip))
    .fetch_one(&mut *conn)
    .await?;
    if from != TruckRequestStatus::Accepted || vehicle.is_none() || trip.is_some() {
        let state = trip.map(|_| "assigned").unwrap_or(from.as_str());
        return Err(Error::rejected(
            409,
            "TRUCK_REQUEST_NOT_ASSIGNABLE",
            format!(
                "this truck request is {state}; a trip that lost its crew is staffed with PUT /v1/trips/{{id}}/crew"
            ),
        )
        .with("state", state));
    }
    sqlx::query!(
        "UPDATE truck_requests SET status = 'assigned', driver_id = $2, assigned_at = now(), updated_at = now()
         WHERE id = $1",
        truck_request,
        driver
    )
    .execute(&mut *conn)
    .await?;
    let actor = Actor::transporter(transporter);
    log(conn, broadcast, Some(truck_request), Some(from.as_str()), "assigned", actor, "DRIVER_ASSIGNED").await?;
    trips::start(conn, truck_request, driver, windows, actor).await?;
    let event = outbox::TruckAssigned {
        broadcast_id: broadcast,
        truck_request_id: truck_request,
        driver_id: driver,
        transporter_id: transporter,
    };
    outbox::enqueue(conn, &OutboxEvent::TruckAssigned(event), None).await?;
    Ok(broadcast)
}
