//! A transporter's fleet: vehicles and drivers. Everything is scoped to the transporter: another
//! transporter's vehicle or driver is 404, never data.

use sqlx::PgConnection;
use uuid::Uuid;

use crate::db::violated_constraint;
use crate::domain::vehicle::VehicleStatus;
use crate::domain::{Phone, RegistrationNumber, VehicleType};
use crate::domain::{UserId, VehicleId};
use crate::error::{Error, Result};
use crate::lifecycle::views::{DriverBody, VehicleBody};

/// A query that yields vehicles as `VehicleBody`: `$head`, the columns of a vehicle and its
/// current (crewed) trip (written once, here), then `$tail`; checked by the compiler like any
/// `query_as!`.
macro_rules! vehicle_query {
    ($head:tt, $tail:tt $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            VehicleBody,
            $head
                + r#" id, registration_number, vehicle_type AS "vehicle_type: VehicleType", vehicle_subtype,
                 status AS "status: VehicleStatus", created_at, updated_at,
                 (SELECT t.id FROM trips t WHERE t.vehicle_id = vehicles.id AND trip_is_crewed(t.status) LIMIT 1)
                 AS current_trip_id "#
                + $tail
            $(, $arg)*
        )
    };
}

fn vehicle_not_found() -> Error {
    Error::rejected(404, "VEHICLE_NOT_FOUND", "no such vehicle in your fleet")
}

fn driver_not_found() -> Error {
    Error::rejected(404, "DRIVER_NOT_FOUND", "no such driver in your fleet")
}

pub async fn add_vehicle(
    conn: &mut PgConnection,
    transporter: Uuid,
    registration: &RegistrationNumber,
    vehicle_type: VehicleType,
    subtype: &str,
) -> Result<VehicleBody> {
    let row = vehicle_query!(
        "INSERT INTO vehicles (id, transporter_id, registration_number, vehicle_type, vehicle_subtype)
         VALUES ($1, $2, $3, $4, $5) RETURNING",
        "",
        Uuid::now_v7(),
        transporter,
        registration.as_str(),
        vehicle_type as _,
        subtype
    )
    .fetch_one(conn)
    .await;
    match row {
        Ok(v) => Ok(v),
        Err(e) if violated_constraint(&e) == Some("vehicles_registration_unique") => {
            Err(Error::rejected(409, "VEHICLE_EXISTS", format!("{} is already registered", registration.as_str())))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn vehicles(conn: &mut PgConnection, transporter: Uuid) -> Result<Vec<VehicleBody>> {
    Ok(vehicle_query!("SELECT", "FROM vehicles WHERE transporter_id = $1 ORDER BY created_at, id", transporter)
        .fetch_all(conn)
        .await?)
}

pub async fn vehicle(conn: &mut PgConnection, transporter: UserId, id: VehicleId) -> Result<VehicleBody> {
    let transporter = transporter.uuid();
    let id = id.uuid();
    let row = vehicle_query!("SELECT", "FROM vehicles WHERE id = $1 AND transporter_id = $2", id, transporter)
        .fetch_optional(conn)
        .await?;
    row.ok_or_else(vehicle_not_found)
}

/// Changes a vehicle's subtype and/or status. `on_trip` is set only by accepting a truck, and a
/// vehicle on a trip keeps that status until released.
pub async fn update_vehicle(
    conn: &mut PgConnection,
    transporter: UserId,
    id: VehicleId,
    subtype: Option<&str>,
    status: Option<VehicleStatus>,
) -> Result<VehicleBody> {
    let transporter = transporter.uuid();
    let id = id.uuid();
    if status == Some(VehicleStatus::OnTrip) {
        return Err(Error::field("status", "on_trip is set by accepting a truck, not by hand"));
    }
    let current = vehicle(conn, UserId(transporter), VehicleId(id)).await?;
    if status.is_some() && current.status == VehicleStatus::OnTrip {
        return Err(Error::rejected(409, "VEHICLE_ON_TRIP", "this vehicle is on a trip").with("state", "on_trip"));
    }
    let row = vehicle_query!(
        "UPDATE vehicles SET vehicle_subtype = COALESCE($3, vehicle_subtype), status = COALESCE($4, status),
                updated_at = now()
         WHERE id = $1 AND transporter_id = $2 AND ($4::vehicle_status IS NULL OR status <> 'on_trip')
         RETURNING",
        "",
        id,
        transporter,
        subtype,
        status as _
    )
    .fetch_optional(conn)
    .await?;
    row.ok_or_else(|| {
        Error::rejected(409, "VEHICLE_ON_TRIP", "this vehicle went on a trip meanwhile").with("state", "on_trip")
    })
}

pub async fn remove_vehicle(conn: &mut PgConnection, transporter: UserId, id: VehicleId) -> Result<()> {
    let transporter = transporter.uuid();
    let id = id.uuid();
    let done =
        sqlx::query!("DELETE FROM vehicles WHERE id = $1 AND transporter_id = $2", id, transporter).execute(conn).await;
    match done {
        Ok(r) if r.rows_affected() == 1 => Ok(()),
        Ok(_) => Err(vehicle_not_found()),
        Err(e) if violated_constraint(&e) == Some("truck_requests_vehicle_id_fkey") => Err(Error::rejected(
            409,
            "VEHICLE_IN_USE",
            "this vehicle has trips on record; set its status to inactive instead",
        )),
        Err(e) => Err(e.into()),
    }
}

/// A driver row: its columns and its current (crewed) trip; `online` lives in Redis.
struct DriverRow {
    id: Uuid,
    name: Option<String>,
    phone: String,
    created_at: chrono::DateTime<chrono::Utc>,
    current_trip_id: Option<Uuid>,
}

/// A query that yields `DriverRow`s: `$head`, the columns of a driver (written once, here), then
/// `$tail`; checked by the compiler like any `query_as!`.
macro_rules! driver_query {
    ($head:tt, $tail:tt $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            DriverRow,
            $head
                + " id, name, phone, created_at,
                 (SELECT t.id FROM trips t WHERE t.driver_id = users.id AND trip_is_crewed(t.status) LIMIT 1)
                 AS current_trip_id "
                + $tail
            $(, $arg)*
        )
    };
}

fn driver_body(r: DriverRow) -> DriverBody {
    // `online` lives in Redis: `presence::with_online` fills it in.
    DriverBody {
        id: r.id,
        name: r.name,
        phone: r.phone,
        created_at: r.created_at,
        on_trip: r.current_trip_id.is_some(),
        current_trip_id: r.current_trip_id,
        online: false,
    }
}

pub async fn add_driver(conn: &mut PgConnection, transporter: Uuid, phone: &Phone, name: &str) -> Result<DriverBody> {
    let row = driver_query!(
        "INSERT INTO users (id, phone, role, name, transporter_id) VALUES ($1, $2, 'driver', $3, $4) RETURNING",
        "",
        Uuid::now_v7(),
        phone.as_str(),
        name,
        transporter
    )
    .fetch_one(conn)
    .await;
    match row {
        Ok(r) => Ok(driver_body(r)),
        Err(e) if violated_constraint(&e) == Some("users_phone_role_unique") => {
            Err(Error::rejected(409, "DRIVER_EXISTS", "a driver with this phone is already registered"))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn drivers(conn: &mut PgConnection, transporter: Uuid) -> Result<Vec<DriverBody>> {
    let rows = driver_query!(
        "SELECT",
        "FROM users WHERE role = 'driver' AND transporter_id = $1 ORDER BY created_at, id",
        transporter
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(driver_body).collect())
}

pub async fn driver(conn: &mut PgConnection, transporter: UserId, id: UserId) -> Result<DriverBody> {
    let transporter = transporter.uuid();
    let id = id.uuid();
    let row = driver_query!(
        "SELECT",
        "FROM users WHERE id = $1 AND role = 'driver' AND transporter_id = $2",
        id,
        transporter
    )
    .fetch_optional(conn)
    .await?;
    row.map(driver_body).ok_or_else(driver_not_found)
}

pub async fn rename_driver(conn: &mut PgConnection, transporter: UserId, id: UserId, name: &str) -> Result<DriverBody> {
    let transporter = transporter.uuid();
    let id = id.uuid();
    let row = driver_query!(
        "UPDATE users SET name = $3, updated_at = now() WHERE id = $1 AND role = 'driver' AND transporter_id = $2
         RETURNING",
        "",
        id,
        transporter,
        name
    )
    .fetch_optional(conn)
    .await?;
    row.map(driver_body).ok_or_else(driver_not_found)
}

pub async fn remove_driver(conn: &mut PgConnection, transporter: UserId, id: UserId) -> Result<()> {
    let transporter = transporter.uuid();
    let id = id.uuid();
    let done =
        sqlx::query!("DELETE FROM users WHERE id = $1 AND role = 'driver' AND transporter_id = $2", id, transporter)
            .execute(conn)
            .await;
    match done {
        Ok(r) if r.rows_affected() == 1 => Ok(()),
        Ok(_) => Err(driver_not_found()),
        Err(e) if violated_constraint(&e) == Some("truck_requests_driver_id_fkey") => {
            Err(Error::rejected(409, "DRIVER_IN_USE", "this driver has trips on record"))
        }
        Err(e) => Err(e.into()),
    }
}
