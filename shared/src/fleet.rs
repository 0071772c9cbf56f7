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

/// Columns of a vehicle, and its current (crewed) trip.
const VEHICLE_COLUMNS: &str = "id, registration_number, vehicle_type, vehicle_subtype, status, created_at, updated_at,
     (SELECT t.id FROM trips t WHERE t.vehicle_id = vehicles.id AND trip_is_crewed(t.status) LIMIT 1) AS current_trip_id";

type VehicleRow = (
    Uuid,
    String,
    VehicleType,
    String,
    VehicleStatus,
    chrono::DateTime<chrono::Utc>,
    chrono::DateTime<chrono::Utc>,
    Option<Uuid>,
);

fn vehicle_body(r: VehicleRow) -> VehicleBody {
    VehicleBody {
        id: r.0,
        registration_number: r.1,
        vehicle_type: r.2,
        vehicle_subtype: r.3,
        status: r.4,
        created_at: r.5,
        updated_at: r.6,
        current_trip_id: r.7,
    }
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
    let row: std::result::Result<VehicleRow, sqlx::Error> = sqlx::query_as(&format!(
        "INSERT INTO vehicles (id, transporter_id, registration_number, vehicle_type, vehicle_subtype)
         VALUES ($1, $2, $3, $4, $5) RETURNING {VEHICLE_COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(transporter)
    .bind(registration.as_str())
    .bind(vehicle_type)
    .bind(subtype)
    .fetch_one(conn)
    .await;
    match row {
        Ok(r) => Ok(vehicle_body(r)),
        Err(e) if violated_constraint(&e) == Some("vehicles_registration_unique") => {
            Err(Error::rejected(409, "VEHICLE_EXISTS", format!("{} is already registered", registration.as_str())))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn vehicles(conn: &mut PgConnection, transporter: Uuid) -> Result<Vec<VehicleBody>> {
    let rows: Vec<VehicleRow> = sqlx::query_as(&format!(
        "SELECT {VEHICLE_COLUMNS} FROM vehicles WHERE transporter_id = $1 ORDER BY created_at, id"
    ))
    .bind(transporter)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(vehicle_body).collect())
}

pub async fn vehicle(conn: &mut PgConnection, transporter: UserId, id: VehicleId) -> Result<VehicleBody> {
    let transporter = transporter.uuid();
    let id = id.uuid();
    let row: Option<VehicleRow> =
        sqlx::query_as(&format!("SELECT {VEHICLE_COLUMNS} FROM vehicles WHERE id = $1 AND transporter_id = $2"))
            .bind(id)
            .bind(transporter)
            .fetch_optional(conn)
            .await?;
    row.map(vehicle_body).ok_or_else(vehicle_not_found)
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
    let row: Option<VehicleRow> = sqlx::query_as(&format!(
        "UPDATE vehicles SET vehicle_subtype = COALESCE($3, vehicle_subtype), status = COALESCE($4, status), updated_at = now()
         WHERE id = $1 AND transporter_id = $2 AND ($4::vehicle_status IS NULL OR status <> 'on_trip')
         RETURNING {VEHICLE_COLUMNS}"
    ))
    .bind(id)
    .bind(transporter)
    .bind(subtype)
    .bind(status)
    .fetch_optional(conn)
    .await?;
    row.map(vehicle_body).ok_or_else(|| {
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

type DriverRow = (Uuid, Option<String>, String, chrono::DateTime<chrono::Utc>, Option<Uuid>);

/// Columns of a driver, and its current (crewed) trip.
const DRIVER_COLUMNS: &str = "id, name, phone, created_at,
     (SELECT t.id FROM trips t WHERE t.driver_id = users.id AND trip_is_crewed(t.status) LIMIT 1) AS current_trip_id";

fn driver_body(r: DriverRow) -> DriverBody {
    // `online` lives in Redis: `presence::with_online` fills it in.
    DriverBody {
        id: r.0,
        name: r.1,
        phone: r.2,
        created_at: r.3,
        on_trip: r.4.is_some(),
        current_trip_id: r.4,
        online: false,
    }
}

pub async fn add_driver(conn: &mut PgConnection, transporter: Uuid, phone: &Phone, name: &str) -> Result<DriverBody> {
    let row: std::result::Result<DriverRow, sqlx::Error> = sqlx::query_as(&format!(
        "INSERT INTO users (id, phone, role, name, transporter_id) VALUES ($1, $2, 'driver', $3, $4)
         RETURNING {DRIVER_COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(phone.as_str())
    .bind(name)
    .bind(transporter)
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
    let rows: Vec<DriverRow> = sqlx::query_as(&format!(
        "SELECT {DRIVER_COLUMNS} FROM users WHERE role = 'driver' AND transporter_id = $1 ORDER BY created_at, id"
    ))
    .bind(transporter)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(driver_body).collect())
}

pub async fn driver(conn: &mut PgConnection, transporter: UserId, id: UserId) -> Result<DriverBody> {
    let transporter = transporter.uuid();
    let id = id.uuid();
    let row: Option<DriverRow> = sqlx::query_as(&format!(
        "SELECT {DRIVER_COLUMNS} FROM users WHERE id = $1 AND role = 'driver' AND transporter_id = $2"
    ))
    .bind(id)
    .bind(transporter)
    .fetch_optional(conn)
    .await?;
    row.map(driver_body).ok_or_else(driver_not_found)
}

pub async fn rename_driver(conn: &mut PgConnection, transporter: UserId, id: UserId, name: &str) -> Result<DriverBody> {
    let transporter = transporter.uuid();
    let id = id.uuid();
    let row: Option<DriverRow> = sqlx::query_as(&format!(
        "UPDATE users SET name = $3, updated_at = now() WHERE id = $1 AND role = 'driver' AND transporter_id = $2
         RETURNING {DRIVER_COLUMNS}"
    ))
    .bind(id)
    .bind(transporter)
    .bind(name)
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
