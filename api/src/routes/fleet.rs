//! A transporter's fleet: `/v1/transporters/me/vehicles` and `/v1/transporters/me/drivers`.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;
use weelo_shared::domain::vehicle::{VehicleStatus, parse_subtype};
use weelo_shared::domain::{FieldError, Phone, RegistrationNumber, Role, UserId, VehicleId, VehicleType};
use weelo_shared::error::Error;
use weelo_shared::lifecycle::views::{DriverBody, VehicleBody};
use weelo_shared::{fleet, presence};

use super::ApiTags;
use super::security::BearerAuth;
use crate::error_set;
use crate::problem::ApiError;
use crate::state::AppState;
use crate::text::Text;

#[derive(Object, Debug)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct NewVehicle {
    /// Normalised like `MH02AB1234` (spaces and dashes are dropped).
    pub registration_number: Text,
    /// One of mini, lcv, tipper, container, trailer, tanker, bulker, open, dumper, tractor.
    pub vehicle_type: Text,
    pub vehicle_subtype: Text,
}

#[derive(Object, Debug)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct VehicleChange {
    #[oai(nullable)]
    pub vehicle_subtype: Option<Text>,
    /// available, maintenance or inactive (`on_trip` is set by accepting a truck).
    #[oai(nullable)]
    pub status: Option<VehicleStatus>,
}

#[derive(Object, Debug)]
pub struct VehicleList {
    pub items: Vec<VehicleBody>,
}

#[derive(Object, Debug)]
pub struct NewDriver {
    /// The driver's Indian mobile number; their sign-in codes go to your phone.
    pub phone: Text,
    pub name: Text,
}

#[derive(Object, Debug)]
pub struct DriverChange {
    pub name: Text,
}

#[derive(Object, Debug)]
pub struct DriverList {
    pub items: Vec<DriverBody>,
}

#[derive(ApiResponse)]
pub enum VehicleCreated {
    #[oai(status = 201)]
    Created(Json<VehicleBody>),
}

#[derive(ApiResponse)]
pub enum DriverCreated {
    #[oai(status = 201)]
    Created(Json<DriverBody>),
}

#[derive(ApiResponse)]
pub enum Removed {
    #[oai(status = 204)]
    Done,
}

error_set!(FleetErrors {
    401 => "UNAUTHORIZED",
    403 => "ROLE_FORBIDDEN: transporters only",
    404 => "VEHICLE_NOT_FOUND or DRIVER_NOT_FOUND (also for another transporter's)",
    409 => "VEHICLE_EXISTS, VEHICLE_ON_TRIP, VEHICLE_IN_USE, DRIVER_EXISTS or DRIVER_IN_USE",
    422 => "VALIDATION_FAILED (see errors)",
    503 => "DEPENDENCY_UNAVAILABLE",
});

fn name(raw: &str, errors: &mut Vec<FieldError>) -> String {
    let n = raw.trim();
    if n.is_empty() || n.chars().count() > 120 {
        errors.push(FieldError::new("name", "must be 1-120 characters"));
    }
    n.to_owned()
}

pub struct FleetApi;

#[OpenApi(prefix_path = "/v1/transporters/me", tag = "ApiTags::Fleet")]
impl FleetApi {
    /// Register a vehicle.
    #[oai(path = "/vehicles", method = "post", operation_id = "addVehicle")]
    async fn add_vehicle(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        body: Json<NewVehicle>,
    ) -> Result<VehicleCreated, ApiError<FleetErrors>> {
        let me = auth.require(&[Role::Transporter])?.sub;
        let mut errors = Vec::new();
        let reg = RegistrationNumber::parse(&body.registration_number)
            .map_err(|m| errors.push(FieldError::new("registrationNumber", m)))
            .ok();
        let ty =
            body.vehicle_type.parse::<VehicleType>().map_err(|m| errors.push(FieldError::new("vehicleType", m))).ok();
        let sub =
            parse_subtype(&body.vehicle_subtype).map_err(|m| errors.push(FieldError::new("vehicleSubtype", m))).ok();
        let (Some(reg), Some(ty), Some(sub)) = (reg, ty, sub) else {
            return Err(Error::validation(errors).into());
        };
        let mut conn = state.db.acquire().await?;
        Ok(VehicleCreated::Created(Json(fleet::add_vehicle(&mut conn, me, &reg, ty, &sub).await?)))
    }

    /// My vehicles.
    #[oai(path = "/vehicles", method = "get", operation_id = "listVehicles")]
    async fn vehicles(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
    ) -> Result<Json<VehicleList>, ApiError<FleetErrors>> {
        let me = auth.require(&[Role::Transporter])?.sub;
        let mut conn = state.db.acquire().await?;
        Ok(Json(VehicleList { items: fleet::vehicles(&mut conn, me).await? }))
    }

    /// One of my vehicles.
    #[oai(path = "/vehicles/:id", method = "get", operation_id = "getVehicle")]
    async fn vehicle(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> Result<Json<VehicleBody>, ApiError<FleetErrors>> {
        let me = auth.require(&[Role::Transporter])?.sub;
        let mut conn = state.db.acquire().await?;
        Ok(Json(fleet::vehicle(&mut conn, UserId(me), VehicleId(id.0)).await?))
    }

    /// Change a vehicle's subtype or status.
    #[oai(path = "/vehicles/:id", method = "patch", operation_id = "updateVehicle")]
    async fn update_vehicle(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<VehicleChange>,
    ) -> Result<Json<VehicleBody>, ApiError<FleetErrors>> {
        let me = auth.require(&[Role::Transporter])?.sub;
        let sub = body
            .vehicle_subtype
            .as_deref()
            .map(parse_subtype)
            .transpose()
            .map_err(|m| Error::field("vehicleSubtype", m))?;
        let mut conn = state.db.acquire().await?;
        Ok(Json(fleet::update_vehicle(&mut conn, UserId(me), VehicleId(id.0), sub.as_deref(), body.status).await?))
    }

    /// Remove a vehicle that has no trips on record.
    #[oai(path = "/vehicles/:id", method = "delete", operation_id = "removeVehicle")]
    async fn remove_vehicle(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> Result<Removed, ApiError<FleetErrors>> {
        let me = auth.require(&[Role::Transporter])?.sub;
        let mut conn = state.db.acquire().await?;
        fleet::remove_vehicle(&mut conn, UserId(me), VehicleId(id.0)).await?;
        Ok(Removed::Done)
    }

    /// Add a driver to my fleet.
    #[oai(path = "/drivers", method = "post", operation_id = "addDriver")]
    async fn add_driver(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        body: Json<NewDriver>,
    ) -> Result<DriverCreated, ApiError<FleetErrors>> {
        let me = auth.require(&[Role::Transporter])?.sub;
        let mut errors = Vec::new();
        let phone = Phone::parse(&body.phone).map_err(|m| errors.push(FieldError::new("phone", m))).ok();
        let name = name(&body.name, &mut errors);
        let Some(phone) = phone.filter(|_| errors.is_empty()) else {
            return Err(Error::validation(errors).into());
        };
        let mut conn = state.db.acquire().await?;
        Ok(DriverCreated::Created(Json(fleet::add_driver(&mut conn, me, &phone, &name).await?)))
    }

    /// My drivers.
    #[oai(path = "/drivers", method = "get", operation_id = "listDrivers")]
    async fn drivers(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
    ) -> Result<Json<DriverList>, ApiError<FleetErrors>> {
        let me = auth.require(&[Role::Transporter])?.sub;
        let mut conn = state.db.acquire().await?;
        let items = fleet::drivers(&mut conn, me).await?;
        Ok(Json(DriverList { items: presence::with_online(&state.cache, items).await? }))
    }

    /// One of my drivers.
    #[oai(path = "/drivers/:id", method = "get", operation_id = "getDriver")]
    async fn driver(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> Result<Json<DriverBody>, ApiError<FleetErrors>> {
        let me = auth.require(&[Role::Transporter])?.sub;
        let mut conn = state.db.acquire().await?;
        let driver = fleet::driver(&mut conn, UserId(me), UserId(id.0)).await?;
        Ok(Json(presence::with_online(&state.cache, vec![driver]).await?.remove(0)))
    }

    /// Rename a driver.
    #[oai(path = "/drivers/:id", method = "patch", operation_id = "updateDriver")]
    async fn update_driver(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<DriverChange>,
    ) -> Result<Json<DriverBody>, ApiError<FleetErrors>> {
        let me = auth.require(&[Role::Transporter])?.sub;
        let mut errors = Vec::new();
        let name = name(&body.name, &mut errors);
        if !errors.is_empty() {
            return Err(Error::validation(errors).into());
        }
        let mut conn = state.db.acquire().await?;
        Ok(Json(fleet::rename_driver(&mut conn, UserId(me), UserId(id.0), &name).await?))
    }

    /// Remove a driver who has no trips on record.
    #[oai(path = "/drivers/:id", method = "delete", operation_id = "removeDriver")]
    async fn remove_driver(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> Result<Removed, ApiError<FleetErrors>> {
        let me = auth.require(&[Role::Transporter])?.sub;
        let mut conn = state.db.acquire().await?;
        fleet::remove_driver(&mut conn, UserId(me), UserId(id.0)).await?;
        // The removed driver's open sockets end with the account (its tokens already fail).
        weelo_shared::realtime::revoke(&state.cache, id.0, None, "ACCOUNT_REMOVED").await?;
        Ok(Removed::Done)
    }
}
