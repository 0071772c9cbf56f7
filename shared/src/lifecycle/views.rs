//! What the apps see of broadcasts, truck requests and fleets: the response bodies of the HTTP
//! API (and, later, of socket events), and the queries that build them.

use chrono::{DateTime, Utc};
use poem_openapi::Object;
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::VehicleType;
use crate::domain::machine::{BroadcastStatus, TruckRequestStatus};
use crate::domain::trip::TripStatus;
use crate::domain::vehicle::VehicleStatus;
use crate::domain::{BroadcastId, UserId};
use crate::error::{Error, Result};

#[derive(Object, Serialize, serde::Deserialize, Debug, Clone, PartialEq)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
#[serde(rename_all = "camelCase")]
pub struct PlaceBody {
    pub lat: f64,
    pub lng: f64,
    pub address: String,
    pub city: Option<String>,
}

/// One line of a broadcast: trucks of one type and subtype at one price.
#[derive(Object, Serialize, serde::Deserialize, Debug, Clone, PartialEq)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
#[serde(rename_all = "camelCase")]
pub struct LineBody {
    /// The line's number (its place in the create's `vehicles`): what an accept or a hold names.
    pub line: i32,
    pub vehicle_type: VehicleType,
    pub vehicle_subtype: String,
    pub price_per_truck: i32,
    pub needed: i32,
    pub filled: i32,
    /// Reserved by a transporter's hold, not yet confirmed: taken for everybody else.
    pub held: i32,
    /// Neither taken nor held.
    pub remaining: i32,
}

#[derive(Object, Serialize, serde::Deserialize, Debug, Clone, PartialEq)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
#[serde(rename_all = "camelCase")]
pub struct PartyBody {
    pub id: Uuid,
    pub name: Option<String>,
    pub phone: String,
}

#[derive(Object, Serialize, serde::Deserialize, Debug, Clone, PartialEq)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
#[serde(rename_all = "camelCase")]
pub struct VehicleRef {
    pub id: Uuid,
    pub registration_number: String,
    pub vehicle_type: VehicleType,
    pub vehicle_subtype: String,
}

/// A truck a transporter has taken.
#[derive(Object, Serialize, serde::Deserialize, Debug, Clone, PartialEq)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
#[serde(rename_all = "camelCase")]
pub struct AcceptedTruckBody {
    pub truck_request_id: Uuid,
    pub status: TruckRequestStatus,
    /// The line it belongs to.
    pub line: i32,
    pub vehicle_type: VehicleType,
    pub vehicle_subtype: String,
    pub price_per_truck: i32,
    pub accepted_at: DateTime<Utc>,
    pub transporter: PartyBody,
    /// None while the truck waits for its transporter to staff it again.
    pub vehicle: Option<VehicleRef>,
    pub driver: Option<PartyBody>,
    /// The truck's trip, once a driver was named.
    pub trip: Option<TripRef>,
}

/// A broadcast as its customer sees it.
#[derive(Object, Serialize, serde::Deserialize, Debug, Clone, PartialEq)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
#[serde(rename_all = "camelCase")]
pub struct BroadcastBody {
    pub id: Uuid,
    pub status: BroadcastStatus,
    pub pickup: PlaceBody,
    pub drop: PlaceBody,
    pub distance_km: f64,
    pub trucks_needed: i32,
    pub trucks_filled: i32,
    pub lines: Vec<LineBody>,
    pub accepted_trucks: Vec<AcceptedTruckBody>,
    /// Clients count down to this; the server sends no ticks.
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    /// Why it ended: FULLY_FILLED, CUSTOMER_CANCELLED, ADMIN_CANCELLED, REPLACED_BY_NEW, NO_ACCEPTANCE, PARTIAL_FILL_TIMEOUT, NO_ONLINE_TRANSPORTERS, TRIPS_FINISHED (completed: every trip finished).
    pub terminal_reason: Option<String>,
    pub radius_step: i32,
}

/// A broadcast in the customer's history.
#[derive(Object, Serialize, serde::Deserialize, Debug, Clone, PartialEq)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
#[serde(rename_all = "camelCase")]
pub struct BroadcastSummary {
    pub id: Uuid,
    pub status: BroadcastStatus,
    pub pickup: PlaceBody,
    pub drop: PlaceBody,
    pub trucks_needed: i32,
    pub trucks_filled: i32,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub terminal_reason: Option<String>,
}

/// An open broadcast as a notified transporter sees it.
#[derive(Object, Serialize, serde::Deserialize, Debug, Clone, PartialEq)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
#[serde(rename_all = "camelCase")]
pub struct OpenBroadcastBody {
    pub id: Uuid,
    pub status: BroadcastStatus,
    pub pickup: PlaceBody,
    pub drop: PlaceBody,
    pub distance_km: f64,
    /// From the transporter's position when it was notified.
    pub distance_to_pickup_km: Option<f64>,
    pub lines: Vec<LineBody>,
    pub trucks_remaining: i32,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

/// A truck request a transporter holds.
#[derive(Object, Serialize, serde::Deserialize, Debug, Clone, PartialEq)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
#[serde(rename_all = "camelCase")]
pub struct AssignmentBody {
    pub truck_request_id: Uuid,
    pub broadcast_id: Uuid,
    pub status: TruckRequestStatus,
    pub broadcast_status: BroadcastStatus,
    pub vehicle_type: VehicleType,
    pub vehicle_subtype: String,
    pub price_per_truck: i32,
    pub pickup: PlaceBody,
    pub drop: PlaceBody,
    /// None while the truck waits to be staffed again (`PUT /v1/trips/{id}/crew`).
    pub vehicle: Option<VehicleRef>,
    pub driver: Option<PartyBody>,
    pub trip: Option<TripRef>,
    pub accepted_at: DateTime<Utc>,
}

#[derive(Object, Serialize, serde::Deserialize, Debug, Clone, PartialEq)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
#[serde(rename_all = "camelCase")]
pub struct VehicleBody {
    pub id: Uuid,
    pub registration_number: String,
    pub vehicle_type: VehicleType,
    pub vehicle_subtype: String,
    pub status: VehicleStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The trip it is on, while it is on one.
    pub current_trip_id: Option<Uuid>,
}

#[derive(Object, Serialize, serde::Deserialize, Debug, Clone, PartialEq)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
#[serde(rename_all = "camelCase")]
pub struct DriverBody {
    pub id: Uuid,
    pub name: Option<String>,
    pub phone: String,
    pub created_at: DateTime<Utc>,
    /// On an unfinished trip with its crew (assigned, accepted or on the road).
    pub on_trip: bool,
    /// The driver's app says it is available and has renewed that within the presence TTL
    /// (`PUT /v1/drivers/me/availability`, then `POST /v1/drivers/me/heartbeat` every ~12 s).
    pub online: bool,
    pub current_trip_id: Option<Uuid>,
}

struct BroadcastRow {
    id: Uuid,
    status: BroadcastStatus,
    pickup_lat: f64,
    pickup_lng: f64,
    pickup_address: String,
    pickup_city: Option<String>,
    drop_lat: f64,
    drop_lng: f64,
    drop_address: String,
    drop_city: Option<String>,
    distance_km: f64,
    trucks_needed: i32,
    trucks_filled: i32,
    expires_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
    closed_at: Option<DateTime<Utc>>,
    terminal_reason: Option<String>,
    radius_step: i32,
}

impl BroadcastRow {
    fn pickup(&self) -> PlaceBody {
        PlaceBody {
            lat: self.pickup_lat,
            lng: self.pickup_lng,
            address: self.pickup_address.clone(),
            city: self.pickup_city.clone(),
        }
    }
    fn drop(&self) -> PlaceBody {
        PlaceBody {
            lat: self.drop_lat,
            lng: self.drop_lng,
            address: self.drop_address.clone(),
            city: self.drop_city.clone(),
        }
    }
    fn summary(&self) -> BroadcastSummary {
        BroadcastSummary {
            id: self.id,
            status: self.status,
            pickup: self.pickup(),
            drop: self.drop(),
            trucks_needed: self.trucks_needed,
            trucks_filled: self.trucks_filled,
            expires_at: self.expires_at,
            created_at: self.created_at,
            terminal_reason: self.terminal_reason.clone(),
        }
    }
}

/// A query that yields `BroadcastRow`s: `SELECT`, a broadcast's columns (written once, here),
/// `FROM broadcasts`, then `$tail`; checked by the compiler like any `query_as!`.
macro_rules! broadcast_query {
    ($tail:tt $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            BroadcastRow,
            r#"SELECT id, status AS "status: BroadcastStatus", pickup_lat, pickup_lng, pickup_address, pickup_city,
                      drop_lat, drop_lng, drop_address, drop_city, distance_km, trucks_needed, trucks_filled,
                      expires_at, created_at, closed_at, terminal_reason, radius_step
               FROM broadcasts "#
                + $tail
            $(, $arg)*
        )
    };
}

/// One broadcast's row, or 404.
async fn broadcast_row(conn: &mut PgConnection, id: Uuid) -> Result<BroadcastRow> {
    broadcast_query!("WHERE id = $1", id).fetch_optional(&mut *conn).await?.ok_or_else(not_found)
}

pub async fn lines(conn: &mut PgConnection, broadcast: Uuid) -> Result<Vec<LineBody>> {
    let rows: Vec<(i32, VehicleType, String, i32, i64, i64, i64)> = sqlx::query!(
        r#"SELECT line_no, vehicle_type AS "vehicle_type: VehicleType", vehicle_subtype, price_per_truck,
                 count(*) AS "needed!",
                count(*) FILTER (WHERE status IN ('accepted', 'assigned', 'delivered')) AS "filled!",
                count(*) FILTER (WHERE status = 'held') AS "held!"
         FROM truck_requests WHERE broadcast_id = $1
         GROUP BY line_no, vehicle_type, vehicle_subtype, price_per_truck ORDER BY line_no"#,
        broadcast
    )
    .map(|r| (r.line_no, r.vehicle_type, r.vehicle_subtype, r.price_per_truck, r.needed, r.filled, r.held))
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(line, vehicle_type, vehicle_subtype, price_per_truck, needed, filled, held)| LineBody {
            line,
            vehicle_type,
            vehicle_subtype,
            price_per_truck,
            needed: needed as i32,
            filled: filled as i32,
            held: held as i32,
            remaining: (needed - filled - held) as i32,
        })
        .collect())
}

struct TakenRow {
    id: Uuid,
    broadcast_id: Uuid,
    status: TruckRequestStatus,
    line_no: i32,
    vehicle_type: VehicleType,
    vehicle_subtype: String,
    price_per_truck: i32,
    accepted_at: DateTime<Utc>,
    transporter_id: Uuid,
    transporter_name: Option<String>,
    transporter_phone: String,
    vehicle_id: Option<Uuid>,
    registration_number: Option<String>,
    v_type: Option<VehicleType>,
    v_subtype: Option<String>,
    driver_id: Option<Uuid>,
    driver_name: Option<String>,
    driver_phone: Option<String>,
    trip_id: Option<Uuid>,
    trip_status: Option<TripStatus>,
    respond_by: Option<DateTime<Utc>>,
    restaff_by: Option<DateTime<Utc>>,
}

/// A query that yields `TakenRow`s: the columns of a taken truck with its transporter, vehicle,
/// driver and latest trip (written once, here), then `$tail`; checked by the compiler like any
/// `query_as!`.
macro_rules! taken_query {
    ($tail:tt $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            TakenRow,
            r#"SELECT tr.id, tr.broadcast_id, tr.status AS "status: TruckRequestStatus", tr.line_no,
                tr.vehicle_type AS "vehicle_type: VehicleType", tr.vehicle_subtype, tr.price_per_truck,
                tr.accepted_at AS "accepted_at!",
                t.id AS transporter_id, t.name AS transporter_name, t.phone AS transporter_phone,
                v.id AS "vehicle_id?", v.registration_number AS "registration_number?",
                v.vehicle_type AS "v_type?: VehicleType", v.vehicle_subtype AS "v_subtype?",
                d.id AS "driver_id?", d.name AS "driver_name?", d.phone AS "driver_phone?",
                trip.id AS "trip_id?", trip.status AS "trip_status?: TripStatus", trip.respond_by AS "respond_by?",
                trip.restaff_by AS "restaff_by?"
             FROM truck_requests tr
             JOIN users t ON t.id = tr.transporter_id
             LEFT JOIN vehicles v ON v.id = tr.vehicle_id
             LEFT JOIN users d ON d.id = tr.driver_id
             LEFT JOIN LATERAL (SELECT id, status, respond_by, restaff_by FROM trips WHERE truck_request_id = tr.id
                                ORDER BY created_at DESC LIMIT 1) trip ON true "#
                + $tail
            $(, $arg)*
        )
    };
}

impl TakenRow {
    fn vehicle(&self) -> Option<VehicleRef> {
        Some(VehicleRef {
            id: self.vehicle_id?,
            registration_number: self.registration_number.clone()?,
            vehicle_type: self.v_type?,
            vehicle_subtype: self.v_subtype.clone()?,
        })
    }
    fn trip(&self) -> Option<TripRef> {
        Some(TripRef {
            id: self.trip_id?,
            status: self.trip_status?,
            respond_by: self.respond_by,
            restaff_by: self.restaff_by,
        })
    }
    fn driver(&self) -> Option<PartyBody> {
        Some(PartyBody { id: self.driver_id?, name: self.driver_name.clone(), phone: self.driver_phone.clone()? })
    }
}

/// The customer's view of one broadcast.
pub async fn broadcast(conn: &mut PgConnection, id: Uuid) -> Result<BroadcastBody> {
    let row = broadcast_row(conn, id).await?;
    let lines = lines(conn, id).await?;
    let taken = taken_query!(
        "WHERE tr.broadcast_id = $1 AND tr.status IN ('accepted', 'assigned', 'delivered')
         ORDER BY tr.accepted_at, tr.seq",
        id
    )
    .fetch_all(&mut *conn)
    .await?;
    let accepted_trucks = taken
        .iter()
        .map(|t| AcceptedTruckBody {
            truck_request_id: t.id,
            status: t.status,
            line: t.line_no,
            vehicle_type: t.vehicle_type,
            vehicle_subtype: t.vehicle_subtype.clone(),
            price_per_truck: t.price_per_truck,
            accepted_at: t.accepted_at,
            transporter: PartyBody {
                id: t.transporter_id,
                name: t.transporter_name.clone(),
                phone: t.transporter_phone.clone(),
            },
            vehicle: t.vehicle(),
            driver: t.driver(),
            trip: t.trip(),
        })
        .collect();
    Ok(BroadcastBody {
        id: row.id,
        status: row.status,
        pickup: row.pickup(),
        drop: row.drop(),
        distance_km: row.distance_km,
        trucks_needed: row.trucks_needed,
        trucks_filled: row.trucks_filled,
        lines,
        accepted_trucks,
        expires_at: row.expires_at,
        created_at: row.created_at,
        closed_at: row.closed_at,
        terminal_reason: row.terminal_reason,
        radius_step: row.radius_step,
    })
}

pub fn not_found() -> Error {
    Error::rejected(404, "BROADCAST_NOT_FOUND", "no such broadcast")
}

/// 404 unless broadcast `id` is `customer`'s.
pub(crate) async fn require_owned(conn: &mut PgConnection, customer: Uuid, id: Uuid) -> Result<()> {
    let owned: bool = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM broadcasts WHERE id = $1 AND customer_id = $2) AS "exists!""#,
        id,
        customer
    )
    .fetch_one(&mut *conn)
    .await?;
    if !owned {
        return Err(not_found());
    }
    Ok(())
}

/// The customer's broadcast `id`, or 404 when it is someone else's.
pub async fn customer_broadcast(conn: &mut PgConnection, customer: UserId, id: BroadcastId) -> Result<BroadcastBody> {
    require_owned(conn, customer.uuid(), id.uuid()).await?;
    broadcast(conn, id.uuid()).await
}

pub async fn active_for_customer(conn: &mut PgConnection, customer: Uuid) -> Result<Option<BroadcastBody>> {
    let id: Option<Uuid> =
        sqlx::query_scalar!("SELECT id FROM broadcasts WHERE customer_id = $1 AND broadcast_is_open(status)", customer)
            .fetch_optional(&mut *conn)
            .await?;
    match id {
        Some(id) => Ok(Some(broadcast(conn, id).await?)),
        None => Ok(None),
    }
}

/// An opaque position in a newest-first list: the last item's creation time and id.
pub fn encode_cursor(at: DateTime<Utc>, id: Uuid) -> String {
    format!("{}_{}", at.timestamp_micros(), id.simple())
}

pub fn decode_cursor(raw: &str) -> Result<(DateTime<Utc>, Uuid)> {
    let bad = || Error::field("cursor", "is not a cursor returned by this API");
    let (micros, id) = raw.split_once('_').ok_or_else(bad)?;
    let at = DateTime::from_timestamp_micros(micros.parse().map_err(|_| bad())?).ok_or_else(bad)?;
    Ok((at, Uuid::parse_str(id).map_err(|_| bad())?))
}

pub async fn history(
    conn: &mut PgConnection,
    customer: Uuid,
    status: Option<BroadcastStatus>,
    cursor: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<(Vec<BroadcastSummary>, Option<String>)> {
    let rows = broadcast_query!(
        "WHERE customer_id = $1 AND ($2::broadcast_status IS NULL OR status = $2)
           AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4))
         ORDER BY created_at DESC, id DESC LIMIT $5",
        customer,
        status as _,
        cursor.map(|c| c.0),
        cursor.map(|c| c.1),
        limit + 1
    )
    .fetch_all(&mut *conn)
    .await?;
    let more = rows.len() as i64 > limit;
    let items: Vec<BroadcastSummary> = rows.iter().take(limit as usize).map(BroadcastRow::summary).collect();
    let next = if more { items.last().map(|b| encode_cursor(b.created_at, b.id)) } else { None };
    Ok((items, next))
}

/// Open broadcasts this transporter was notified of and has not declined.
pub async fn open_for_transporter(conn: &mut PgConnection, transporter: Uuid) -> Result<Vec<OpenBroadcastBody>> {
    let rows: Vec<(Uuid, Option<f64>)> = sqlx::query!(
        r#"SELECT b.id, n.distance_km FROM broadcast_notifications n
         JOIN broadcasts b ON b.id = n.broadcast_id
         WHERE n.transporter_id = $1 AND broadcast_is_open(b.status) AND b.expires_at > now()
           AND NOT EXISTS (SELECT 1 FROM broadcast_declines d WHERE d.broadcast_id = b.id AND d.transporter_id = $1)
         ORDER BY b.created_at DESC LIMIT 100"#,
        transporter
    )
    .map(|r| (r.id, r.distance_km))
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for (id, distance_to_pickup_km) in rows {
        out.push(open_broadcast(conn, id, distance_to_pickup_km).await?);
    }
    Ok(out)
}

/// One broadcast sent to `transporter`, in whatever state it is now (what a tap on a
/// notification opens); never sent to it: not found.
pub async fn sent_to_transporter(
    conn: &mut PgConnection,
    transporter: UserId,
    id: BroadcastId,
) -> Result<OpenBroadcastBody> {
    let transporter = transporter.uuid();
    let id = id.uuid();
    let told: Option<Option<f64>> = sqlx::query_scalar!(
        "SELECT distance_km FROM broadcast_notifications WHERE broadcast_id = $1 AND transporter_id = $2",
        id,
        transporter
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(distance_to_pickup_km) = told else { return Err(not_found()) };
    open_broadcast(conn, id, distance_to_pickup_km).await
}

/// One broadcast as a transporter sees it (also the `new_broadcast` event's payload).
pub async fn open_broadcast(
    conn: &mut PgConnection,
    id: Uuid,
    distance_to_pickup_km: Option<f64>,
) -> Result<OpenBroadcastBody> {
    let b = broadcast_row(conn, id).await?;
    let lines = lines(conn, id).await?;
    Ok(OpenBroadcastBody {
        id,
        status: b.status,
        pickup: b.pickup(),
        drop: b.drop(),
        distance_km: b.distance_km,
        distance_to_pickup_km,
        trucks_remaining: lines.iter().map(|l| l.remaining).sum(),
        lines,
        expires_at: b.expires_at,
        created_at: b.created_at,
    })
}

/// The truck requests a transporter holds, newest first.
pub async fn assignments(
    conn: &mut PgConnection,
    transporter: Uuid,
    cursor: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<(Vec<AssignmentBody>, Option<String>)> {
    let taken = taken_query!(
        "WHERE tr.transporter_id = $1 AND ($2::timestamptz IS NULL OR (tr.accepted_at, tr.id) < ($2, $3))
         ORDER BY tr.accepted_at DESC, tr.id DESC LIMIT $4",
        transporter,
        cursor.map(|c| c.0),
        cursor.map(|c| c.1),
        limit + 1
    )
    .fetch_all(&mut *conn)
    .await?;
    let more = taken.len() as i64 > limit;
    let mut out = Vec::new();
    for t in taken.iter().take(limit as usize) {
        let b = broadcast_row(conn, t.broadcast_id).await?;
        out.push(AssignmentBody {
            truck_request_id: t.id,
            broadcast_id: t.broadcast_id,
            status: t.status,
            broadcast_status: b.status,
            vehicle_type: t.vehicle_type,
            vehicle_subtype: t.vehicle_subtype.clone(),
            price_per_truck: t.price_per_truck,
            pickup: b.pickup(),
            drop: b.drop(),
            vehicle: t.vehicle(),
            driver: t.driver(),
            trip: t.trip(),
            accepted_at: t.accepted_at,
        });
    }
    let next = if more { out.last().map(|a| encode_cursor(a.accepted_at, a.truck_request_id)) } else { None };
    Ok((out, next))
}

/// A truck's trip in a list: enough to act on it.
#[derive(Object, Serialize, serde::Deserialize, Debug, Clone, PartialEq)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
#[serde(rename_all = "camelCase")]
pub struct TripRef {
    pub id: Uuid,
    pub status: TripStatus,
    /// While `assigned`: the driver answers by then, or the trip goes back to the transporter.
    pub respond_by: Option<DateTime<Utc>>,
    /// While `driver_declined` / `driver_timeout`: staff it again by then, or it is released.
    pub restaff_by: Option<DateTime<Utc>>,
}

/// One trip, as its driver (and its transporter) sees it: everything the trip screen needs.
#[derive(Object, Serialize, serde::Deserialize, Debug, Clone, PartialEq)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
#[serde(rename_all = "camelCase")]
pub struct TripBody {
    pub id: Uuid,
    pub status: TripStatus,
    pub broadcast_id: Uuid,
    pub truck_request_id: Uuid,
    pub pickup: PlaceBody,
    pub drop: PlaceBody,
    pub distance_km: f64,
    pub vehicle_type: VehicleType,
    pub vehicle_subtype: String,
    /// Rupees for this truck.
    pub fare: i32,
    pub customer: PartyBody,
    pub transporter: PartyBody,
    pub vehicle: VehicleRef,
    pub driver: PartyBody,
    pub respond_by: Option<DateTime<Utc>>,
    pub restaff_by: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

struct TripRow {
    id: Uuid,
    status: TripStatus,
    broadcast_id: Uuid,
    truck_request_id: Uuid,
    vehicle_type: VehicleType,
    vehicle_subtype: String,
    price_per_truck: i32,
    customer_id: Uuid,
    customer_name: Option<String>,
    customer_phone: String,
    transporter_id: Uuid,
    transporter_name: Option<String>,
    transporter_phone: String,
    vehicle_id: Uuid,
    registration_number: String,
    v_type: VehicleType,
    v_subtype: String,
    driver_id: Uuid,
    driver_name: Option<String>,
    driver_phone: String,
    respond_by: Option<DateTime<Utc>>,
    restaff_by: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
}

pub async fn trip(conn: &mut PgConnection, id: Uuid) -> Result<TripBody> {
    let row: TripRow = sqlx::query_as!(TripRow, r#"SELECT trip.id, trip.status AS "status: TripStatus", trip.broadcast_id, trip.truck_request_id,
                tr.vehicle_type AS "vehicle_type: VehicleType", tr.vehicle_subtype,
                tr.price_per_truck, c.id AS customer_id, c.name AS customer_name, c.phone AS customer_phone,
                t.id AS transporter_id, t.name AS transporter_name, t.phone AS transporter_phone,
                v.id AS vehicle_id, v.registration_number, v.vehicle_type AS "v_type: VehicleType", v.vehicle_subtype AS v_subtype,
                d.id AS driver_id, d.name AS driver_name, d.phone AS driver_phone,
                trip.respond_by, trip.restaff_by, trip.created_at, trip.finished_at
         FROM trips trip
         JOIN truck_requests tr ON tr.id = trip.truck_request_id
         JOIN broadcasts b ON b.id = trip.broadcast_id
         JOIN users c ON c.id = b.customer_id
         JOIN users t ON t.id = trip.transporter_id
         JOIN vehicles v ON v.id = trip.vehicle_id
         JOIN users d ON d.id = trip.driver_id
         WHERE trip.id = $1"#, id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(super::trips::not_found)?;
    let b = broadcast_row(conn, row.broadcast_id).await?;
    Ok(TripBody {
        id: row.id,
        status: row.status,
        broadcast_id: row.broadcast_id,
        truck_request_id: row.truck_request_id,
        pickup: b.pickup(),
        drop: b.drop(),
        distance_km: b.distance_km,
        vehicle_type: row.vehicle_type,
        vehicle_subtype: row.vehicle_subtype,
        fare: row.price_per_truck,
        customer: PartyBody { id: row.customer_id, name: row.customer_name, phone: row.customer_phone },
        transporter: PartyBody { id: row.transporter_id, name: row.transporter_name, phone: row.transporter_phone },
        vehicle: VehicleRef {
            id: row.vehicle_id,
            registration_number: row.registration_number,
            vehicle_type: row.v_type,
            vehicle_subtype: row.v_subtype,
        },
        driver: PartyBody { id: row.driver_id, name: row.driver_name, phone: row.driver_phone },
        respond_by: row.respond_by,
        restaff_by: row.restaff_by,
        created_at: row.created_at,
        finished_at: row.finished_at,
    })
}
