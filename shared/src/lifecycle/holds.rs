//! Holds (docs/DESIGN.md, "Holds"): a transporter reserves up to N searching trucks of one line
//! for `WEELO_HOLD_SECS`, then confirms them all as trips in one transaction, or gives them back
//! (release, or the hold's expiry job; the sweep is the backstop). Every command takes the
//! broadcast's lock first and then the hold's, so confirm, release and expiry of one hold are
//! serialised and exactly one of them wins.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{
    Actor, LineKind, closed, lock, log, refusal, settle_taken, take_vehicle, transporter_access, trips, vehicle_misfit,
};
use crate::domain::VehicleType;
use crate::domain::machine::{BroadcastStatus, TruckRequestStatus};
use crate::domain::{BroadcastId, HoldId, UserId};
use crate::error::{Error, Result};
use crate::outbox::{self, OutboxEvent};

#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type, Serialize, Deserialize, poem_openapi::Enum)]
#[sqlx(type_name = "hold_status", rename_all = "snake_case")]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum HoldStatus {
    Active,
    /// Its trucks became trips.
    Confirmed,
    /// Given back by its transporter.
    Released,
    /// Its window passed unconfirmed.
    Expired,
    /// Its broadcast ended (cancelled or expired) while it was held.
    Cancelled,
}

impl HoldStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HoldStatus::Active => "active",
            HoldStatus::Confirmed => "confirmed",
            HoldStatus::Released => "released",
            HoldStatus::Expired => "expired",
            HoldStatus::Cancelled => "cancelled",
        }
    }
}

/// Why a truck moved, for the transition log.
pub mod why {
    pub const HELD: &str = "HELD";
    pub const HOLD_CONFIRMED: &str = "HOLD_CONFIRMED";
    pub const HOLD_RELEASED: &str = "HOLD_RELEASED";
    pub const HOLD_EXPIRED: &str = "HOLD_EXPIRED";
}

/// The windows a hold runs on (configuration).
#[derive(Debug, Clone, Copy)]
pub struct HoldWindows {
    pub hold: Duration,
    pub extend: Duration,
}

impl From<&crate::config::Config> for HoldWindows {
    fn from(c: &crate::config::Config) -> Self {
        HoldWindows { hold: c.hold, extend: c.hold_extend }
    }
}

/// At most this many extensions per hold (the schema's check says the same).
pub const MAX_EXTENSIONS: i32 = 2;

/// A hold as its transporter sees it.
#[derive(Debug, Clone, Serialize, Deserialize, poem_openapi::Object, PartialEq)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct HoldBody {
    pub id: Uuid,
    pub broadcast_id: Uuid,
    /// The line it holds trucks of.
    pub line: i32,
    pub vehicle_type: VehicleType,
    /// How many trucks were asked for.
    pub requested: i32,
    /// How many it got (a partial hold holds fewer).
    pub held: i32,
    pub status: HoldStatus,
    /// The held trucks while active; the trucks it confirmed once confirmed.
    pub truck_request_ids: Vec<Uuid>,
    pub expires_at: DateTime<Utc>,
    pub extensions_left: i32,
    pub created_at: DateTime<Utc>,
}

struct HoldRow {
    id: Uuid,
    broadcast_id: Uuid,
    line_no: i32,
    vehicle_type: VehicleType,
    requested: i32,
    held: i32,
    status: HoldStatus,
    expires_at: DateTime<Utc>,
    extensions: i32,
    created_at: DateTime<Utc>,
    overdue: bool,
}

/// A query that yields `HoldRow`s: `SELECT`, a hold's columns (written once, here), `FROM
/// truck_holds`, then `$tail`; checked by the compiler like any `query_as!`.
macro_rules! hold_query {
    ($tail:tt $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            HoldRow,
            r#"SELECT id, broadcast_id, line_no, vehicle_type AS "vehicle_type: VehicleType", requested, held,
                      status AS "status: HoldStatus", expires_at, extensions, created_at,
                      expires_at <= now() AS "overdue!"
               FROM truck_holds "#
                + $tail
            $(, $arg)*
        )
    };
}

pub fn not_found() -> Error {
    Error::rejected(404, "HOLD_NOT_FOUND", "no such hold of yours")
}

fn ended(status: HoldStatus) -> Error {
    let code = if status == HoldStatus::Expired { "HOLD_EXPIRED" } else { "HOLD_ENDED" };
    Error::rejected(409, code, format!("this hold is {}", status.as_str())).with("state", status.as_str())
}

/// The hold's line in the locked broadcast's machine, and what the line is.
fn line_of<'a>(locked: &'a super::Locked, h: &HoldRow) -> Result<(usize, &'a LineKind)> {
    match locked.line(h.line_no) {
        (index, Some(kind)) => Ok((index, kind)),
        (_, None) => Err(anyhow::anyhow!("hold {} of line {} its broadcast lacks", h.id, h.line_no).into()),
    }
}

/// Locks the broadcast, then the hold. `owner` (a transporter) must hold it; None is the system.
async fn lock_hold(conn: &mut PgConnection, id: Uuid, owner: Option<Uuid>) -> Result<(super::Locked, HoldRow)> {
    let found: Option<(Uuid, Uuid)> =
        sqlx::query!(r#"SELECT broadcast_id, transporter_id FROM truck_holds WHERE id = $1"#, id)
            .map(|r| (r.broadcast_id, r.transporter_id))
            .fetch_optional(&mut *conn)
            .await?;
    let Some((broadcast, transporter)) = found else { return Err(not_found()) };
    if owner.is_some_and(|o| o != transporter) {
        return Err(not_found());
    }
    let locked = lock(conn, broadcast).await?;
    let hold = hold_query!("WHERE id = $1 FOR UPDATE", id).fetch_one(&mut *conn).await?;
    Ok((locked, hold))
}

async fn held_trucks(conn: &mut PgConnection, hold: Uuid) -> Result<Vec<Uuid>> {
    Ok(sqlx::query_scalar!(
        "SELECT id FROM truck_requests WHERE hold_id = $1 AND status = 'held' ORDER BY seq FOR UPDATE",
        hold
    )
    .fetch_all(&mut *conn)
    .await?)
}

async fn changed(
    conn: &mut PgConnection,
    hold_id: Uuid,
    broadcast_id: Uuid,
    status: HoldStatus,
    expires_at: DateTime<Utc>,
) -> Result<()> {
    let event = outbox::HoldChanged { hold_id, broadcast_id, status, expires_at };
    outbox::enqueue(conn, &OutboxEvent::HoldChanged(event), None).await?;
    Ok(())
}

/// Reserves up to `quantity` searching trucks of line `line` (docs/DESIGN.md, holds invariants
/// 1 and 2: one conditional claim under the broadcast's lock). Partial holds are allowed; none
/// free is a 409.
pub async fn place(
    conn: &mut PgConnection,
    transporter: UserId,
    broadcast: BroadcastId,
    line: i32,
    quantity: u32,
    w: HoldWindows,
    sight: &mut super::gate::Sight,
) -> Result<Uuid> {
    let transporter = transporter.uuid();
    let broadcast = broadcast.uuid();
    transporter_access(conn, broadcast, transporter).await?;
    let locked = sight.lock(conn, broadcast).await?;
    if locked.overdue && locked.machine.status.is_open() {
        return Err(closed(BroadcastStatus::Expired));
    }
    let (index, kind) = locked.line(line);
    let (next, got) = locked.machine.hold(index, quantity).map_err(|r| refusal(r, kind))?;
    let kind = kind.ok_or_else(super::no_such_line)?;
    let id = Uuid::now_v7();
    let expires_at: DateTime<Utc> = sqlx::query_scalar!(
        "INSERT INTO truck_holds (id, broadcast_id, transporter_id, line_no, vehicle_type, requested, held, expires_at)
         SELECT $1, b.id, $3, $4, $5, $6, $7, LEAST(now() + make_interval(secs => $8), b.expires_at)
         FROM broadcasts b WHERE b.id = $2 RETURNING expires_at",
        id,
        broadcast,
        transporter,
        line,
        kind.vehicle_type as _,
        quantity as i32,
        got as i32,
        w.hold.as_secs_f64()
    )
    .fetch_one(&mut *conn)
    .await?;
    let trucks: Vec<Uuid> = sqlx::query_scalar!(
        "UPDATE truck_requests SET status = 'held', hold_id = $3, updated_at = now()
         WHERE id IN (SELECT id FROM truck_requests WHERE broadcast_id = $1 AND line_no = $2 AND status = 'searching'
                      ORDER BY seq LIMIT $4 FOR UPDATE)
           AND status = 'searching'
         RETURNING id",
        broadcast,
        line,
        id,
        got as i64
    )
    .fetch_all(&mut *conn)
    .await?;
    if trucks.len() != got as usize {
        return Err(
            anyhow::anyhow!("machine allowed a hold of {got} but {} trucks were searching", trucks.len()).into()
        );
    }
    let actor = Actor::transporter(transporter);
    for t in &trucks {
        log(conn, broadcast, Some(*t), Some("searching"), "held", actor, why::HELD).await?;
    }
    changed(conn, id, broadcast, HoldStatus::Active, expires_at).await?;
    sight.leaves(&next, &locked.kinds);
    Ok(id)
}

/// Adds `WEELO_HOLD_EXTEND_SECS` (at most twice, never past the broadcast's deadline).
pub async fn extend(conn: &mut PgConnection, transporter: UserId, id: HoldId, w: HoldWindows) -> Result<()> {
    let transporter = transporter.uuid();
    let id = id.uuid();
    let (_, h) = lock_hold(conn, id, Some(transporter)).await?;
    refuse_unless_active(&h)?;
    if h.extensions >= MAX_EXTENSIONS {
        return Err(Error::rejected(
            409,
            "HOLD_EXTEND_LIMIT",
            format!("a hold is extended at most {MAX_EXTENSIONS} times"),
        ));
    }
    let expires_at: Option<DateTime<Utc>> = sqlx::query_scalar!(
        "UPDATE truck_holds h SET expires_at = LEAST(h.expires_at + make_interval(secs => $2), b.expires_at),
                extensions = h.extensions + 1
         FROM broadcasts b WHERE h.id = $1 AND b.id = h.broadcast_id AND h.status = 'active' AND b.expires_at >
                 h.expires_at
         RETURNING h.expires_at",
        id,
        w.extend.as_secs_f64()
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(expires_at) = expires_at else {
        return Err(Error::rejected(409, "HOLD_AT_DEADLINE", "this hold already lasts until the broadcast's deadline"));
    };
    changed(conn, h.id, h.broadcast_id, HoldStatus::Active, expires_at).await
}

fn refuse_unless_active(h: &HoldRow) -> Result<()> {
    match h.status {
        HoldStatus::Active if h.overdue => Err(ended(HoldStatus::Expired)),
        HoldStatus::Active => Ok(()),
        s => Err(ended(s)),
    }
}

/// One vehicle and one driver for a held truck.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, poem_openapi::Object, PartialEq)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct Crew {
    pub vehicle_id: Uuid,
    pub driver_id: Uuid,
}

/// Why one entry of a confirm was refused.
#[derive(Debug, Clone, Serialize, Deserialize, poem_openapi::Object, PartialEq)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct CrewRefusal {
    /// The entry's position in `assignments`.
    pub index: i32,
    pub vehicle_id: Uuid,
    pub driver_id: Uuid,
    /// VEHICLE_NOT_FOUND, VEHICLE_TYPE_MISMATCH, VEHICLE_SUBTYPE_MISMATCH, VEHICLE_UNAVAILABLE, VEHICLE_TWICE, DRIVER_NOT_FOUND,
    /// DRIVER_ON_TRIP or DRIVER_TWICE.
    pub code: String,
    pub detail: String,
}

/// Every entry checked; the refusals of all failing ones.
async fn check_crews(
    conn: &mut PgConnection,
    transporter: Uuid,
    line: &LineKind,
    crews: &[Crew],
) -> Result<Vec<CrewRefusal>> {
    let (mut vehicles, mut drivers) = (HashSet::new(), HashSet::new());
    let mut refused = Vec::new();
    for (i, c) in crews.iter().enumerate() {
        let misfit = vehicle_misfit(conn, transporter, c.vehicle_id, line).await?;
        let (driver, busy): (bool, bool) = sqlx::query!(
            r#"SELECT EXISTS (SELECT 1 FROM users WHERE id = $1 AND role = 'driver' AND transporter_id = $2) AS
                     "driver!",
                    EXISTS (SELECT 1 FROM trips WHERE driver_id = $1 AND trip_is_crewed(status)) AS "busy!""#,
            c.driver_id,
            transporter
        )
        .map(|r| (r.driver, r.busy))
        .fetch_one(&mut *conn)
        .await?;
        let vehicle_refusal = match misfit {
            Some(refused) => Some(refused),
            None if !vehicles.insert(c.vehicle_id) => {
                Some(("VEHICLE_TWICE", "this vehicle is named for another truck of this confirm".to_owned()))
            }
            None => None,
        };
        let driver_refusal = if !driver {
            Some(("DRIVER_NOT_FOUND", "no such driver in your fleet".to_owned()))
        } else if busy {
            Some(("DRIVER_ON_TRIP", "this driver is on another unfinished trip".to_owned()))
        } else if !drivers.insert(c.driver_id) {
            Some(("DRIVER_TWICE", "this driver is named for another truck of this confirm".to_owned()))
        } else {
            None
        };
        for (code, detail) in [vehicle_refusal, driver_refusal].into_iter().flatten() {
            let entry = CrewRefusal {
                index: i as i32,
                vehicle_id: c.vehicle_id,
                driver_id: c.driver_id,
                code: code.to_owned(),
                detail,
            };
            refused.push(entry);
        }
    }
    Ok(refused)
}

/// Turns every held truck into a trip in `assigned` (invariant 3: one outcome against release
/// and expiry; a confirm after the hold's window is a 409), or refuses the whole confirm with a
/// 422 listing each failing entry. Returns the confirmed trucks.
pub async fn confirm(
    conn: &mut PgConnection,
    transporter: UserId,
    id: HoldId,
    crews: &[Crew],
    windows: trips::Windows,
) -> Result<Vec<Uuid>> {
    let transporter = transporter.uuid();
    let id = id.uuid();
    let (locked, h) = lock_hold(conn, id, Some(transporter)).await?;
    refuse_unless_active(&h)?;
    if locked.overdue {
        return Err(closed(BroadcastStatus::Expired));
    }
    let trucks = held_trucks(conn, id).await?;
    if crews.len() != trucks.len() {
        return Err(Error::rejected(
            422,
            "VALIDATION_FAILED",
            format!("this hold has {} trucks: name one vehicle and driver for each", trucks.len()),
        )
        .with("errors", [serde_json::json!({ "field": "assignments", "message": "one entry per held truck" })]));
    }
    let (line, kind) = line_of(&locked, &h)?;
    let refused = check_crews(conn, transporter, kind, crews).await?;
    if !refused.is_empty() {
        return Err(Error::rejected(
            422,
            "HOLD_CONFIRM_REFUSED",
            format!("{} of {} assignments cannot be used; nothing was confirmed", refused.len(), crews.len()),
        )
        .with("entries", refused));
    }
    let next = locked.machine.confirm(line, trucks.len() as u32).map_err(|r| refusal(r, Some(kind)))?;
    let actor = Actor::transporter(transporter);
    let remaining = next.free() as i32;
    for (truck, crew) in trucks.iter().zip(crews) {
        take_vehicle(conn, transporter, crew.vehicle_id, kind).await?;
        let done = sqlx::query!(
            "UPDATE truck_requests SET status = 'assigned', hold_id = NULL, transporter_id = $2, vehicle_id = $3,
                    driver_id = $4, accepted_at = now(), assigned_at = now(), updated_at = now()
             WHERE id = $1 AND status = 'held' AND hold_id = $5",
            truck,
            transporter,
            crew.vehicle_id,
            crew.driver_id,
            id
        )
        .execute(&mut *conn)
        .await?;
        if done.rows_affected() != 1 {
            return Err(anyhow::anyhow!("held truck {truck} changed under its hold's lock").into());
        }
        let status = TruckRequestStatus::Assigned.as_str();
        log(conn, h.broadcast_id, Some(*truck), Some("held"), status, actor, why::HOLD_CONFIRMED).await?;
        trips::start(conn, *truck, crew.driver_id, windows, actor).await?;
        let event = outbox::TruckAccepted {
            broadcast_id: h.broadcast_id,
            truck_request_id: *truck,
            transporter_id: transporter,
            customer_id: locked.customer,
            broadcast_status: next.status,
            trucks_remaining: remaining,
        };
        outbox::enqueue(conn, &OutboxEvent::TruckAccepted(event), None).await?;
    }
    end_row(conn, &h, HoldStatus::Confirmed).await?;
    sqlx::query!("UPDATE truck_holds SET confirmed_trucks = $2 WHERE id = $1", id, &trucks).execute(&mut *conn).await?;
    settle_taken(conn, h.broadcast_id, &locked, &next, actor, why::HOLD_CONFIRMED).await?;
    Ok(trucks)
}

async fn end_row(conn: &mut PgConnection, h: &HoldRow, to: HoldStatus) -> Result<()> {
    let done = sqlx::query!(
        "UPDATE truck_holds SET status = $2, ended_at = now() WHERE id = $1 AND status = 'active'",
        h.id,
        to as _
    )
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() != 1 {
        return Err(anyhow::anyhow!("hold {} changed under its lock", h.id).into());
    }
    changed(conn, h.id, h.broadcast_id, to, h.expires_at).await
}

/// Gives the held trucks back to the search.
async fn give_back(
    conn: &mut PgConnection,
    locked: &super::Locked,
    h: &HoldRow,
    to: HoldStatus,
    actor: Actor,
) -> Result<()> {
    let (line, kind) = line_of(locked, h)?;
    let trucks = held_trucks(conn, h.id).await?;
    locked.machine.unhold(line, trucks.len() as u32).map_err(|r| refusal(r, Some(kind)))?;
    sqlx::query!(
        "UPDATE truck_requests SET status = 'searching', hold_id = NULL, updated_at = now() WHERE id = ANY($1)",
        &trucks
    )
    .execute(&mut *conn)
    .await?;
    let why = if to == HoldStatus::Released { why::HOLD_RELEASED } else { why::HOLD_EXPIRED };
    for t in &trucks {
        log(conn, h.broadcast_id, Some(*t), Some("held"), "searching", actor, why).await?;
    }
    end_row(conn, h, to).await
}

/// The transporter gives its held trucks back.
pub async fn release(conn: &mut PgConnection, transporter: UserId, id: HoldId) -> Result<()> {
    let transporter = transporter.uuid();
    let id = id.uuid();
    let (locked, h) = lock_hold(conn, id, Some(transporter)).await?;
    refuse_unless_active(&h)?;
    give_back(conn, &locked, &h, HoldStatus::Released, Actor::transporter(transporter)).await
}

/// The hold's window passed: its trucks search again. Returns false (and changes nothing) when
/// it already ended or is not due, so the job and the sweep may both run it.
pub async fn expire(conn: &mut PgConnection, id: Uuid) -> Result<bool> {
    let (locked, h) = match lock_hold(conn, id, None).await {
        Ok(found) => found,
        Err(Error::Rejected(r)) if r.status == 404 => return Ok(false),
        Err(e) => return Err(e),
    };
    if h.status != HoldStatus::Active || !h.overdue {
        return Ok(false);
    }
    give_back(conn, &locked, &h, HoldStatus::Expired, Actor::system()).await?;
    Ok(true)
}

/// Ends a closing broadcast's active holds (its held trucks are closed with its searching ones).
pub(super) async fn end_all(conn: &mut PgConnection, broadcast: Uuid) -> Result<()> {
    let holds = hold_query!("WHERE broadcast_id = $1 AND status = 'active' FOR UPDATE", broadcast)
        .fetch_all(&mut *conn)
        .await?;
    for h in &holds {
        end_row(conn, h, HoldStatus::Cancelled).await?;
    }
    Ok(())
}

async fn body(conn: &mut PgConnection, h: HoldRow) -> Result<HoldBody> {
    let trucks: Vec<Uuid> = if h.status == HoldStatus::Confirmed {
        sqlx::query_scalar!(r#"SELECT unnest(confirmed_trucks) AS "truck!" FROM truck_holds WHERE id = $1"#, h.id)
            .fetch_all(&mut *conn)
            .await?
    } else {
        sqlx::query_scalar!("SELECT id FROM truck_requests WHERE hold_id = $1 ORDER BY seq", h.id)
            .fetch_all(&mut *conn)
            .await?
    };
    Ok(HoldBody {
        id: h.id,
        broadcast_id: h.broadcast_id,
        line: h.line_no,
        vehicle_type: h.vehicle_type,
        requested: h.requested,
        held: h.held,
        status: h.status,
        truck_request_ids: trucks,
        expires_at: h.expires_at,
        extensions_left: MAX_EXTENSIONS - h.extensions,
        created_at: h.created_at,
    })
}

/// One hold of the transporter's.
pub async fn view(conn: &mut PgConnection, transporter: UserId, id: HoldId) -> Result<HoldBody> {
    let transporter = transporter.uuid();
    let id = id.uuid();
    let h = hold_query!("WHERE id = $1 AND transporter_id = $2", id, transporter)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(not_found)?;
    body(conn, h).await
}

/// The transporter's active holds, soonest to expire first.
pub async fn active_for(conn: &mut PgConnection, transporter: Uuid) -> Result<Vec<HoldBody>> {
    let rows = hold_query!(
        "WHERE transporter_id = $1 AND status = 'active' AND expires_at > now() ORDER BY expires_at, id LIMIT 100",
        transporter
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for h in rows {
        out.push(body(conn, h).await?);
    }
    Ok(out)
}
