//! Broadcasts: customers create, read, list and cancel them; notified transporters see, accept
//! and decline them and assign drivers. One code path serves bookings (one line) and orders.

use std::sync::Arc;
use std::time::Instant;

use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde::Serialize;
use uuid::Uuid;
use weelo_shared::domain::machine::{Broadcast, BroadcastStatus, Draft, RawLine, RawPlace};
use weelo_shared::domain::{BroadcastId, Role, TruckRequestId, UserId, VehicleId};
use weelo_shared::error::Error;
use weelo_shared::idempotency::{self, Stored};
use weelo_shared::lifecycle::views::{self, AssignmentBody, BroadcastBody, BroadcastSummary, OpenBroadcastBody};
use weelo_shared::lifecycle::{self, Accepted};
use weelo_shared::ratelimit;

use super::security::BearerAuth;
use super::{ApiTags, from_stored, page_limit, take, to_body};
use crate::error_set;
use crate::problem::ApiError;
use crate::state::AppState;
use crate::text::Text;

#[derive(Object, Serialize, Debug, Clone)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
#[serde(rename_all = "camelCase")]
pub struct PlaceInput {
    /// Latitude inside India (6.5 to 37).
    pub lat: f64,
    /// Longitude inside India (68 to 97.5).
    pub lng: f64,
    pub address: Text,
    #[oai(nullable)]
    pub city: Option<Text>,
}

/// One line: `count` trucks of one type and subtype at one price.
#[derive(Object, Serialize, Debug, Clone)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
#[serde(rename_all = "camelCase")]
pub struct VehicleLineInput {
    /// One of mini, lcv, tipper, container, trailer, tanker, bulker, open, dumper, tractor.
    #[oai(rename = "type")]
    #[serde(rename = "type")]
    pub vehicle_type: Text,
    /// e.g. `open_17ft`.
    pub subtype: Text,
    /// 1 to 20.
    pub count: i64,
    /// Rupees; at least the type's floor (mini 500, lcv 800, tipper/open 1000, dumper 1500,
    /// container/tractor 2000, tanker/bulker 3000, trailer 5000).
    pub price_per_truck: i64,
}

#[derive(Object, Serialize, Debug, Clone)]
#[oai(rename_all = "camelCase", example, skip_serializing_if_is_none)]
#[serde(rename_all = "camelCase")]
pub struct CreateBroadcastRequest {
    pub pickup: PlaceInput,
    pub drop: PlaceInput,
    /// One line is a booking; several are an order. At most 50.
    pub vehicles: Vec<VehicleLineInput>,
    /// Cancel my open broadcast (if any) in the same transaction instead of answering 409.
    #[oai(nullable)]
    pub replace_active: Option<bool>,
}

impl Example for CreateBroadcastRequest {
    fn example() -> Self {
        Self {
            pickup: PlaceInput {
                lat: 19.076,
                lng: 72.8777,
                address: "Bhiwandi warehouse 4".into(),
                city: Some("Mumbai".into()),
            },
            drop: PlaceInput {
                lat: 18.5204,
                lng: 73.8567,
                address: "Chakan MIDC gate 2".into(),
                city: Some("Pune".into()),
            },
            vehicles: vec![VehicleLineInput {
                vehicle_type: "open".into(),
                subtype: "open_17ft".into(),
                count: 2,
                price_per_truck: 12000,
            }],
            replace_active: None,
        }
    }
}

impl CreateBroadcastRequest {
    fn draft(&self) -> Result<Draft, Error> {
        let place = |p: &PlaceInput| -> (f64, f64) { (p.lat, p.lng) };
        let (plat, plng) = place(&self.pickup);
        let (dlat, dlng) = place(&self.drop);
        let lines: Vec<RawLine> = self
            .vehicles
            .iter()
            .map(|l| RawLine {
                vehicle_type: &l.vehicle_type,
                vehicle_subtype: &l.subtype,
                count: l.count,
                price_per_truck: l.price_per_truck,
            })
            .collect();
        Draft::parse(
            RawPlace { lat: plat, lng: plng, address: &self.pickup.address, city: self.pickup.city.as_deref() },
            RawPlace { lat: dlat, lng: dlng, address: &self.drop.address, city: self.drop.city.as_deref() },
            &lines,
        )
        .map_err(Error::validation)
    }
}

#[derive(Object, Serialize, Debug, Clone)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
#[serde(rename_all = "camelCase")]
pub struct AcceptRequest {
    /// The line to take a truck of (`lines[].line` of the broadcast).
    pub line: i64,
    /// One of your available vehicles of that line's type and subtype.
    pub vehicle_id: Uuid,
    /// Optionally a driver of yours; the truck is then `assigned` at once.
    #[oai(nullable)]
    pub driver_id: Option<Uuid>,
}

#[derive(Object, Debug, Default)]
pub struct CancelRequest {
    /// Free text kept with the broadcast.
    #[oai(nullable)]
    pub reason: Option<Text>,
}

#[derive(Object, Debug)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct AssignDriverRequest {
    pub driver_id: Uuid,
}

#[derive(Object, Debug)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct DriverAssigned {
    pub truck_request_id: Uuid,
    pub broadcast_id: Uuid,
    pub driver_id: Uuid,
}

#[derive(Object, Debug)]
#[oai(skip_serializing_if_is_none)]
pub struct ActiveBroadcast {
    /// The open broadcast; absent when there is none.
    pub broadcast: Option<BroadcastBody>,
}

#[derive(Object, Debug)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct BroadcastPage {
    pub items: Vec<BroadcastSummary>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Object, Debug)]
pub struct OpenBroadcastList {
    pub items: Vec<OpenBroadcastBody>,
}

#[derive(Object, Debug)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct AssignmentPage {
    pub items: Vec<AssignmentBody>,
    pub next_cursor: Option<String>,
}

#[derive(ApiResponse)]
pub enum Created {
    /// Created (or, for a repeated Idempotency-Key, the first response again).
    #[oai(status = 201)]
    Created(Json<BroadcastBody>),
}

#[derive(ApiResponse)]
pub enum Declined {
    /// Declined; the broadcast no longer shows in your list.
    #[oai(status = 204)]
    Done,
}

error_set!(CreateErrors {
    401 => "UNAUTHORIZED",
    403 => "ROLE_FORBIDDEN: only customers create broadcasts",
    409 => "ACTIVE_BROADCAST_EXISTS (see activeBroadcastId) or IDEMPOTENCY_IN_PROGRESS",
    422 => "VALIDATION_FAILED (see errors), IDEMPOTENCY_KEY_REQUIRED or IDEMPOTENCY_KEY_REUSED",
    429 => "RATE_LIMITED: at most 5 creates per minute (see Retry-After)",
    503 => "DEPENDENCY_UNAVAILABLE",
});

error_set!(CustomerReadErrors {
    401 => "UNAUTHORIZED",
    403 => "ROLE_FORBIDDEN: customers only",
    404 => "BROADCAST_NOT_FOUND (also for someone else's broadcast)",
    422 => "VALIDATION_FAILED",
    503 => "DEPENDENCY_UNAVAILABLE",
});

error_set!(CancelErrors {
    401 => "UNAUTHORIZED",
    403 => "ROLE_FORBIDDEN: customers only",
    404 => "BROADCAST_NOT_FOUND",
    409 => "BROADCAST_FILLED or BROADCAST_CLOSED (see state): it ended before the cancel",
    422 => "VALIDATION_FAILED",
    503 => "DEPENDENCY_UNAVAILABLE",
});

error_set!(SentBroadcastErrors {
    401 => "UNAUTHORIZED",
    403 => "ROLE_FORBIDDEN: transporters only",
    404 => "BROADCAST_NOT_FOUND (also for one never sent to you)",
    422 => "VALIDATION_FAILED (the id is not a UUID)",
    503 => "DEPENDENCY_UNAVAILABLE",
});

error_set!(AcceptErrors {
    401 => "UNAUTHORIZED",
    403 => "ROLE_FORBIDDEN: transporters only, or TRANSPORTER_NOT_VERIFIED (verification is required and pending)",
    404 => "BROADCAST_NOT_FOUND (not notified to you), VEHICLE_NOT_FOUND or DRIVER_NOT_FOUND",
    409 => "BROADCAST_FILLED, LINE_FILLED, BROADCAST_CLOSED (see state), BROADCAST_DECLINED, VEHICLE_UNAVAILABLE, ALREADY_ACCEPTED or IDEMPOTENCY_IN_PROGRESS",
    422 => "VALIDATION_FAILED, NO_SUCH_LINE, VEHICLE_TYPE_MISMATCH or VEHICLE_SUBTYPE_MISMATCH (the vehicle does not fit the line), IDEMPOTENCY_KEY_REQUIRED or IDEMPOTENCY_KEY_REUSED",
    503 => "DEPENDENCY_UNAVAILABLE",
});

error_set!(DeclineErrors {
    401 => "UNAUTHORIZED",
    403 => "ROLE_FORBIDDEN: transporters only",
    404 => "BROADCAST_NOT_FOUND",
    409 => "BROADCAST_FILLED or BROADCAST_CLOSED",
    422 => "VALIDATION_FAILED",
    503 => "DEPENDENCY_UNAVAILABLE",
});

error_set!(TransporterReadErrors {
    401 => "UNAUTHORIZED",
    403 => "ROLE_FORBIDDEN: transporters only",
    422 => "VALIDATION_FAILED",
    503 => "DEPENDENCY_UNAVAILABLE",
});

error_set!(AssignErrors {
    401 => "UNAUTHORIZED",
    403 => "ROLE_FORBIDDEN: transporters only",
    404 => "TRUCK_REQUEST_NOT_FOUND or DRIVER_NOT_FOUND",
    409 => "TRUCK_REQUEST_NOT_ASSIGNABLE (see state)",
    422 => "VALIDATION_FAILED",
    503 => "DEPENDENCY_UNAVAILABLE",
});

pub struct BroadcastApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Broadcasts")]
impl BroadcastApi {
    /// Post a search for trucks.
    ///
    /// Requires an `Idempotency-Key` (UUID): repeating a request with the same key and body
    /// returns the first response; the same key with another body is 422. A customer has at
    /// most one open broadcast (409 `ACTIVE_BROADCAST_EXISTS`, or `replaceActive: true`).
    #[oai(path = "/broadcasts", method = "post", operation_id = "createBroadcast")]
    async fn create(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        /// A UUID chosen by the client, the same for retries of one request.
        #[oai(name = "Idempotency-Key")]
        key: Header<String>,
        body: Json<CreateBroadcastRequest>,
    ) -> Result<Created, ApiError<CreateErrors>> {
        let customer = auth.require(&[Role::Customer])?.sub;
        let key = idempotency::parse_key(Some(&key.0))?;
        let draft = body.draft()?;
        let hash = idempotency::request_hash("create_broadcast", &to_body(&body.0)?);
        let limit = state.config.create_rate_limit_per_min;
        ratelimit::check(&state.cache, "create_broadcast", &customer.to_string(), &key.to_string(), limit, 60).await?;
        let replace = body.replace_active.unwrap_or(false);
        let timeout = state.config.broadcast_timeout;
        let stored = idempotency::run(&state.db, customer, "create_broadcast", key, &hash, async |tx| {
            let id = lifecycle::create(tx, customer, &draft, replace, timeout).await?;
            let view = views::broadcast(tx, id).await?;
            Ok(Stored { status: 201, body: to_body(&view)? })
        })
        .await?;
        Ok(Created::Created(Json(from_stored(stored)?)))
    }

    /// My open broadcast, if any.
    #[oai(path = "/broadcasts/active", method = "get", operation_id = "getActiveBroadcast")]
    async fn active(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
    ) -> Result<Json<ActiveBroadcast>, ApiError<CustomerReadErrors>> {
        let customer = auth.require(&[Role::Customer])?.sub;
        let mut conn = state.db.acquire().await?;
        Ok(Json(ActiveBroadcast { broadcast: views::active_for_customer(&mut conn, customer).await? }))
    }

    /// One of my broadcasts: status, per-line filled/needed, accepted trucks.
    #[oai(path = "/broadcasts/:id", method = "get", operation_id = "getBroadcast")]
    async fn get(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> Result<Json<BroadcastBody>, ApiError<CustomerReadErrors>> {
        let customer = auth.require(&[Role::Customer])?.sub;
        let mut conn = state.db.acquire().await?;
        Ok(Json(views::customer_broadcast(&mut conn, UserId(customer), BroadcastId(id.0)).await?))
    }

    /// My broadcasts, newest first.
    #[oai(path = "/broadcasts", method = "get", operation_id = "listBroadcasts")]
    async fn history(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        status: Query<Option<BroadcastStatus>>,
        cursor: Query<Option<String>>,
        /// 1 to 100, default 20.
        limit: Query<Option<i64>>,
    ) -> Result<Json<BroadcastPage>, ApiError<CustomerReadErrors>> {
        let customer = auth.require(&[Role::Customer])?.sub;
        let limit = page_limit(limit.0)?;
        let cursor = cursor.0.as_deref().map(views::decode_cursor).transpose()?;
        let mut conn = state.db.acquire().await?;
        let (items, next_cursor) = views::history(&mut conn, customer, status.0, cursor, limit).await?;
        Ok(Json(BroadcastPage { items, next_cursor }))
    }

    /// Cancel my open broadcast. Trucks not yet taken are released; if a transporter's accept
    /// committed first, that truck stays taken.
    #[oai(path = "/broadcasts/:id/cancel", method = "post", operation_id = "cancelBroadcast")]
    async fn cancel(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<CancelRequest>,
    ) -> Result<Json<BroadcastBody>, ApiError<CancelErrors>> {
        let customer = auth.require(&[Role::Customer])?.sub;
        let note = body.reason.as_deref().map(str::trim).filter(|r| !r.is_empty());
        if note.is_some_and(|n| n.chars().count() > 500) {
            return Err(Error::field("reason", "must be at most 500 characters").into());
        }
        let mut tx = state.db.begin().await?;
        lifecycle::cancel(&mut tx, UserId(customer), BroadcastId(id.0), note, (&state.config).into()).await?;
        let view = views::broadcast(&mut tx, id.0).await?;
        tx.commit().await?;
        Ok(Json(view))
    }

    /// Take one truck of a broadcast you were notified of.
    ///
    /// Requires an `Idempotency-Key`. Exactly as many accepts win as there are trucks; the rest
    /// get 409. Your vehicle goes `on_trip`.
    #[oai(path = "/broadcasts/:id/accept", method = "post", operation_id = "acceptBroadcast")]
    async fn accept(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        id: Path<Uuid>,
        #[oai(name = "Idempotency-Key")] key: Header<String>,
        body: Json<AcceptRequest>,
    ) -> Result<Json<Accepted>, ApiError<AcceptErrors>> {
        let arrived = Instant::now();
        let transporter = auth.require(&[Role::Transporter])?.sub;
        let key = idempotency::parse_key(Some(&key.0))?;
        let line = lifecycle::parse_line(body.line)?;
        let scope = format!("accept:{}", id.0);
        let hash = idempotency::request_hash(&scope, &to_body(&body.0)?);
        let (vehicle, driver) = (body.vehicle_id, body.driver_id);
        let judge = |m: &Broadcast, i: usize| m.accept(i).map(drop);
        let stored = take(&state, arrived, transporter, id.0, line, &scope, key, judge, async |sight| {
            idempotency::run(&state.db, transporter, &scope, key, &hash, async |tx| {
                let windows = (&state.config).into();
                let (who, at, with) = (UserId(transporter), BroadcastId(id.0), VehicleId(vehicle));
                let accepted = lifecycle::accept(tx, who, at, line, with, driver.map(UserId), windows, sight).await?;
                Ok(Stored { status: 200, body: to_body(&accepted)? })
            })
            .await
        })
        .await?;
        Ok(Json(from_stored(stored)?))
    }

    /// Decline a broadcast you were notified of.
    #[oai(path = "/broadcasts/:id/decline", method = "post", operation_id = "declineBroadcast")]
    async fn decline(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> Result<Declined, ApiError<DeclineErrors>> {
        let transporter = auth.require(&[Role::Transporter])?.sub;
        let mut conn = state.db.acquire().await?;
        lifecycle::decline(&mut conn, UserId(transporter), BroadcastId(id.0)).await?;
        Ok(Declined::Done)
    }

    /// One broadcast I was sent, in its current state (status, lines, remaining, deadline), also
    /// after it closed; one I was never sent is 404.
    #[oai(path = "/transporters/me/broadcasts/:id", method = "get", operation_id = "getSentBroadcast")]
    async fn sent_to_me(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> Result<Json<OpenBroadcastBody>, ApiError<SentBroadcastErrors>> {
        let transporter = auth.require(&[Role::Transporter])?.sub;
        let mut conn = state.db.acquire().await?;
        Ok(Json(views::sent_to_transporter(&mut conn, UserId(transporter), BroadcastId(id.0)).await?))
    }

    /// Open broadcasts I was notified of and have not declined, with trucks remaining per line.
    #[oai(path = "/transporters/me/broadcasts", method = "get", operation_id = "listMyOpenBroadcasts")]
    async fn open_for_me(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
    ) -> Result<Json<OpenBroadcastList>, ApiError<TransporterReadErrors>> {
        let transporter = auth.require(&[Role::Transporter])?.sub;
        let mut conn = state.db.acquire().await?;
        Ok(Json(OpenBroadcastList { items: views::open_for_transporter(&mut conn, transporter).await? }))
    }

    /// Trucks I have taken, newest first.
    #[oai(path = "/transporters/me/assignments", method = "get", operation_id = "listMyAssignments")]
    async fn assignments(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        cursor: Query<Option<String>>,
        /// 1 to 100, default 20.
        limit: Query<Option<i64>>,
    ) -> Result<Json<AssignmentPage>, ApiError<TransporterReadErrors>> {
        let transporter = auth.require(&[Role::Transporter])?.sub;
        let limit = page_limit(limit.0)?;
        let cursor = cursor.0.as_deref().map(views::decode_cursor).transpose()?;
        let mut conn = state.db.acquire().await?;
        let (items, next_cursor) = views::assignments(&mut conn, transporter, cursor, limit).await?;
        Ok(Json(AssignmentPage { items, next_cursor }))
    }

    /// Assign or change the driver of a truck I took (accepted -> assigned).
    #[oai(path = "/truck-requests/:id/driver", method = "put", operation_id = "assignDriver")]
    async fn assign_driver(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<AssignDriverRequest>,
    ) -> Result<Json<DriverAssigned>, ApiError<AssignErrors>> {
        let transporter = auth.require(&[Role::Transporter])?.sub;
        let mut tx = state.db.begin().await?;
        let windows = (&state.config).into();
        let broadcast = lifecycle::assign_driver(
            &mut tx,
            UserId(transporter),
            TruckRequestId(id.0),
            UserId(body.driver_id),
            windows,
        )
        .await?;
        tx.commit().await?;
        Ok(Json(DriverAssigned { truck_request_id: id.0, broadcast_id: broadcast, driver_id: body.driver_id }))
    }
}
