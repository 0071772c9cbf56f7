//! Trips, after the match: a driver sees its trips, accepts or declines one and reports its
//! progress to delivery; a transporter staffs a trip again or gives its truck back. Every command
//! takes an `Idempotency-Key`, so a retried tap never moves a trip twice.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;
use weelo_shared::domain::trip::TripStatus;
use weelo_shared::domain::{Role, TripId, UserId, VehicleId};
use weelo_shared::error::Error;
use weelo_shared::lifecycle::trips::{self, Windows};
use weelo_shared::lifecycle::views::{self, TripBody};

use super::security::BearerAuth;
use super::{ApiTags, keyed, page_limit};
use crate::error_set;
use crate::problem::ApiError;
use crate::state::AppState;
use crate::text::Text;

#[derive(Object, Serialize, Debug, Clone)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct DeclineTripRequest {
    /// Why (1 to 500 characters), shown to the transporter.
    pub reason: Text,
}

#[derive(Object, Serialize, Debug, Clone)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct TripStatusRequest {
    /// The next state on the road: en_route_to_pickup, at_pickup, in_transit, then delivered.
    pub status: TripStatus,
}

#[derive(Object, Serialize, Debug, Clone)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct CrewRequest {
    pub vehicle_id: Uuid,
    pub driver_id: Uuid,
}

#[derive(Object, Serialize, Debug, Clone)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
#[serde(rename_all = "camelCase")]
pub struct TripPage {
    pub items: Vec<TripBody>,
    pub next_cursor: Option<String>,
}

error_set!(DriverReadErrors {
    401 => "UNAUTHORIZED",
    403 => "ROLE_FORBIDDEN: drivers only",
    404 => "TRIP_NOT_FOUND (also for someone else's trip)",
    422 => "VALIDATION_FAILED",
    503 => "DEPENDENCY_UNAVAILABLE",
});

error_set!(TripCommandErrors {
    401 => "UNAUTHORIZED",
    403 => "ROLE_FORBIDDEN",
    404 => "TRIP_NOT_FOUND (also for someone else's trip), VEHICLE_NOT_FOUND or DRIVER_NOT_FOUND",
    409 => "TRIP_STATE_CONFLICT (see state: the step is not legal now), DRIVER_ON_TRIP, VEHICLE_UNAVAILABLE or IDEMPOTENCY_IN_PROGRESS",
    422 => "VALIDATION_FAILED, VEHICLE_TYPE_MISMATCH, IDEMPOTENCY_KEY_REQUIRED or IDEMPOTENCY_KEY_REUSED",
    503 => "DEPENDENCY_UNAVAILABLE",
});

pub struct TripApi;

/// Runs one trip command under its idempotency key and answers the trip as it is afterwards.
async fn command(
    state: &AppState,
    user: Uuid,
    trip: Uuid,
    action: &str,
    key: &str,
    body: &impl Serialize,
    op: impl AsyncFnOnce(&mut PgConnection, Windows) -> Result<TripStatus, Error>,
) -> Result<Json<TripBody>, Error> {
    let windows = Windows::from(&state.config);
    keyed(&state.db, user, &format!("trip:{trip}:{action}"), key, body, async |tx| {
        op(tx, windows).await?;
        views::trip(tx, trip).await
    })
    .await
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Trips")]
impl TripApi {
    /// My trips, newest first (the current one is the first unfinished).
    #[oai(path = "/drivers/me/trips", method = "get", operation_id = "listMyTrips")]
    async fn list(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        cursor: Query<Option<String>>,
        /// 1 to 100, default 20.
        limit: Query<Option<i64>>,
    ) -> Result<Json<TripPage>, ApiError<DriverReadErrors>> {
        let driver = auth.require(&[Role::Driver])?.sub;
        let limit = page_limit(limit.0)?;
        let before = cursor.0.as_deref().map(views::decode_cursor).transpose()?;
        let mut conn = state.db.acquire().await?;
        let (items, next_cursor) = trips::for_driver(&mut conn, driver, limit, before).await?;
        Ok(Json(TripPage { items, next_cursor }))
    }

    /// One of my trips: pickup, drop, fare, customer, vehicle and `respondBy`.
    #[oai(path = "/drivers/me/trips/:id", method = "get", operation_id = "getMyTrip")]
    async fn get(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> Result<Json<TripBody>, ApiError<DriverReadErrors>> {
        let driver = auth.require(&[Role::Driver])?.sub;
        let mut conn = state.db.acquire().await?;
        let trip = views::trip(&mut conn, id.0).await?;
        if trip.driver.id != driver {
            return Err(trips::not_found().into());
        }
        Ok(Json(trip))
    }

    /// Accept a trip I was named for (before `respondBy`).
    #[oai(path = "/drivers/me/trips/:id/accept", method = "post", operation_id = "acceptTrip")]
    async fn accept(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        id: Path<Uuid>,
        #[oai(name = "Idempotency-Key")] key: Header<String>,
    ) -> Result<Json<TripBody>, ApiError<TripCommandErrors>> {
        let driver = auth.require(&[Role::Driver])?.sub;
        let op = async |tx: &mut PgConnection, w| trips::driver_accept(tx, UserId(driver), TripId(id.0), w).await;
        Ok(command(&state, driver, id.0, "accept", &key.0, &(), op).await?)
    }

    /// Decline a trip I was named for; it goes back to my transporter.
    #[oai(path = "/drivers/me/trips/:id/decline", method = "post", operation_id = "declineTrip")]
    async fn decline(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        id: Path<Uuid>,
        #[oai(name = "Idempotency-Key")] key: Header<String>,
        body: Json<DeclineTripRequest>,
    ) -> Result<Json<TripBody>, ApiError<TripCommandErrors>> {
        let driver = auth.require(&[Role::Driver])?.sub;
        let note = body.reason.trim().to_owned();
        if note.is_empty() || note.chars().count() > 500 {
            return Err(Error::field("reason", "must be 1 to 500 characters").into());
        }
        let op =
            async |tx: &mut PgConnection, w| trips::driver_decline(tx, UserId(driver), TripId(id.0), &note, w).await;
        Ok(command(&state, driver, id.0, "decline", &key.0, &body.0, op).await?)
    }

    /// Report the next state on the road: en_route_to_pickup, at_pickup, in_transit, delivered.
    #[oai(path = "/drivers/me/trips/:id/status", method = "post", operation_id = "updateTripStatus")]
    async fn status(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        id: Path<Uuid>,
        #[oai(name = "Idempotency-Key")] key: Header<String>,
        body: Json<TripStatusRequest>,
    ) -> Result<Json<TripBody>, ApiError<TripCommandErrors>> {
        let driver = auth.require(&[Role::Driver])?.sub;
        let to = body.status;
        let op = async |tx: &mut PgConnection, w| trips::progress(tx, UserId(driver), TripId(id.0), to, w).await;
        Ok(command(&state, driver, id.0, to.as_str(), &key.0, &body.0, op).await?)
    }

    /// Staff a trip again after its driver declined or timed out (before `restaffBy`).
    #[oai(path = "/trips/:id/crew", method = "put", operation_id = "restaffTrip")]
    async fn crew(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        id: Path<Uuid>,
        #[oai(name = "Idempotency-Key")] key: Header<String>,
        body: Json<CrewRequest>,
    ) -> Result<Json<TripBody>, ApiError<TripCommandErrors>> {
        let transporter = auth.require(&[Role::Transporter])?.sub;
        let (vehicle, driver) = (body.vehicle_id, body.driver_id);
        let op = async |tx: &mut PgConnection, w| {
            trips::restaff(tx, UserId(transporter), TripId(id.0), VehicleId(vehicle), UserId(driver), w).await
        };
        Ok(command(&state, transporter, id.0, "crew", &key.0, &body.0, op).await?)
    }

    /// Give back a truck I cannot staff (before pickup): it searches again, or is cancelled
    /// when its broadcast can no longer search.
    #[oai(path = "/trips/:id/release", method = "post", operation_id = "releaseTrip")]
    async fn release(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        id: Path<Uuid>,
        #[oai(name = "Idempotency-Key")] key: Header<String>,
    ) -> Result<Json<TripBody>, ApiError<TripCommandErrors>> {
        let transporter = auth.require(&[Role::Transporter])?.sub;
        let op = async |tx: &mut PgConnection, w| trips::release(tx, UserId(transporter), TripId(id.0), w).await;
        Ok(command(&state, transporter, id.0, "release", &key.0, &(), op).await?)
    }
}
