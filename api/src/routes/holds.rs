//! Holds: a transporter reserves trucks of one line for a short window, names a vehicle and a
//! driver for each, then confirms them all at once (each becomes a trip) or gives them back.
//! Every command takes an `Idempotency-Key`, so a retried tap never holds or confirms twice.

use std::sync::Arc;
use std::time::Instant;

use poem::web::Data;
use poem_openapi::param::{Header, Path};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;
use weelo_shared::domain::machine::Broadcast;
use weelo_shared::domain::{BroadcastId, HoldId, Role, UserId};
use weelo_shared::error::Error;
use weelo_shared::idempotency;
use weelo_shared::lifecycle;
use weelo_shared::lifecycle::holds::{self, Crew, HoldBody, HoldWindows};

use super::security::BearerAuth;
use super::{ApiTags, keyed, take};
use crate::error_set;
use crate::problem::ApiError;
use crate::state::AppState;

#[derive(Object, Serialize, Debug, Clone)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct HoldRequest {
    /// The line to hold trucks of (`lines[].line` of the broadcast).
    pub line: i64,
    /// How many trucks (1 to 20); fewer are held when fewer are free.
    pub quantity: i64,
}

#[derive(Object, Serialize, Debug, Clone)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct ConfirmHoldRequest {
    /// One vehicle and one driver per held truck.
    #[oai(validator(max_items = 20))]
    pub assignments: Vec<Crew>,
}

#[derive(Object, Serialize, Debug, Clone)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct HoldList {
    pub items: Vec<HoldBody>,
}

error_set!(HoldErrors {
    401 => "UNAUTHORIZED",
    403 => "ROLE_FORBIDDEN: transporters only, or TRANSPORTER_NOT_VERIFIED (verification is required and pending)",
    404 => "BROADCAST_NOT_FOUND (not notified to you)",
    409 => "LINE_FILLED (no truck of the line is free), BROADCAST_FILLED, BROADCAST_CLOSED (see state), BROADCAST_DECLINED or IDEMPOTENCY_IN_PROGRESS",
    422 => "VALIDATION_FAILED, NO_SUCH_LINE, IDEMPOTENCY_KEY_REQUIRED or IDEMPOTENCY_KEY_REUSED",
    503 => "DEPENDENCY_UNAVAILABLE",
});

error_set!(HoldCommandErrors {
    401 => "UNAUTHORIZED",
    403 => "ROLE_FORBIDDEN: transporters only",
    404 => "HOLD_NOT_FOUND (also for someone else's hold)",
    409 => "HOLD_EXPIRED, HOLD_ENDED (see state), HOLD_EXTEND_LIMIT, HOLD_AT_DEADLINE, BROADCAST_CLOSED, DRIVER_ON_TRIP, VEHICLE_UNAVAILABLE or IDEMPOTENCY_IN_PROGRESS",
    422 => "VALIDATION_FAILED, HOLD_CONFIRM_REFUSED (entries: each failing assignment; nothing was confirmed), IDEMPOTENCY_KEY_REQUIRED or IDEMPOTENCY_KEY_REUSED",
    503 => "DEPENDENCY_UNAVAILABLE",
});

error_set!(HoldReadErrors {
    401 => "UNAUTHORIZED",
    403 => "ROLE_FORBIDDEN: transporters only",
    503 => "DEPENDENCY_UNAVAILABLE",
});

pub struct HoldApi;

/// Runs one hold command under its idempotency key and answers the hold as it is afterwards.
async fn command(
    state: &AppState,
    transporter: Uuid,
    hold: Uuid,
    action: &str,
    key: &str,
    body: &impl Serialize,
    op: impl AsyncFnOnce(&mut PgConnection) -> Result<(), Error>,
) -> Result<Json<HoldBody>, Error> {
    keyed(&state.db, transporter, &format!("hold:{hold}:{action}"), key, body, async |tx| {
        op(tx).await?;
        holds::view(tx, UserId(transporter), HoldId(hold)).await
    })
    .await
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Holds")]
impl HoldApi {
    /// Hold up to `quantity` searching trucks of one line for `WEELO_HOLD_SECS` (never past the
    /// broadcast's deadline). Requires an `Idempotency-Key`. A partial hold says how many it got
    /// (`held`); none free is a 409. Held trucks are taken for everybody else, but the broadcast
    /// is not filled until they are confirmed.
    #[oai(path = "/broadcasts/:id/holds", method = "post", operation_id = "holdTrucks")]
    async fn place(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        id: Path<Uuid>,
        #[oai(name = "Idempotency-Key")] key: Header<String>,
        body: Json<HoldRequest>,
    ) -> Result<Json<HoldBody>, ApiError<HoldErrors>> {
        let arrived = Instant::now();
        let transporter = auth.require(&[Role::Transporter])?.sub;
        let line = lifecycle::parse_line(body.line)?;
        let quantity = match body.quantity {
            q @ 1..=20 => q as u32,
            _ => return Err(Error::field("quantity", "must be 1 to 20").into()),
        };
        let parsed = idempotency::parse_key(Some(&key.0))?;
        let windows = HoldWindows::from(&state.config);
        let scope = format!("hold:{}", id.0);
        let judge = |m: &Broadcast, i: usize| m.hold(i, quantity).map(drop);
        Ok(take(&state, arrived, transporter, id.0, line, &scope, parsed, judge, async |sight| {
            keyed(&state.db, transporter, &scope, &key.0, &body.0, async |tx| {
                let (who, at) = (UserId(transporter), BroadcastId(id.0));
                let hold = holds::place(tx, who, at, line, quantity, windows, sight).await?;
                holds::view(tx, who, HoldId(hold)).await
            })
            .await
        })
        .await?)
    }

    /// Add `WEELO_HOLD_EXTEND_SECS` to an active hold: at most twice, never past the deadline.
    #[oai(path = "/holds/:id/extend", method = "post", operation_id = "extendHold")]
    async fn extend(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        id: Path<Uuid>,
        #[oai(name = "Idempotency-Key")] key: Header<String>,
    ) -> Result<Json<HoldBody>, ApiError<HoldCommandErrors>> {
        let transporter = auth.require(&[Role::Transporter])?.sub;
        let windows = HoldWindows::from(&state.config);
        let op = async |tx: &mut PgConnection| holds::extend(tx, UserId(transporter), HoldId(id.0), windows).await;
        Ok(command(&state, transporter, id.0, "extend", &key.0, &(), op).await?)
    }

    /// Confirm every held truck at once, one `{vehicleId, driverId}` per truck: each becomes a
    /// trip in `assigned` and its driver is told. One bad entry refuses the whole confirm (422
    /// HOLD_CONFIRM_REFUSED listing each failing entry); after the hold expired it is a 409.
    #[oai(path = "/holds/:id/confirm", method = "post", operation_id = "confirmHold")]
    async fn confirm(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        id: Path<Uuid>,
        #[oai(name = "Idempotency-Key")] key: Header<String>,
        body: Json<ConfirmHoldRequest>,
    ) -> Result<Json<HoldBody>, ApiError<HoldCommandErrors>> {
        let transporter = auth.require(&[Role::Transporter])?.sub;
        let windows = (&state.config).into();
        let crews = body.assignments.clone();
        let op = async |tx: &mut PgConnection| {
            holds::confirm(tx, UserId(transporter), HoldId(id.0), &crews, windows).await.map(drop)
        };
        Ok(command(&state, transporter, id.0, "confirm", &key.0, &body.0, op).await?)
    }

    /// Give the held trucks back: they search again and the remaining count goes back up.
    #[oai(path = "/holds/:id/release", method = "post", operation_id = "releaseHold")]
    async fn release(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        id: Path<Uuid>,
        #[oai(name = "Idempotency-Key")] key: Header<String>,
    ) -> Result<Json<HoldBody>, ApiError<HoldCommandErrors>> {
        let transporter = auth.require(&[Role::Transporter])?.sub;
        let op = async |tx: &mut PgConnection| holds::release(tx, UserId(transporter), HoldId(id.0)).await;
        Ok(command(&state, transporter, id.0, "release", &key.0, &(), op).await?)
    }

    /// My active holds, soonest to expire first.
    #[oai(path = "/transporters/me/holds", method = "get", operation_id = "listMyHolds")]
    async fn list(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
    ) -> Result<Json<HoldList>, ApiError<HoldReadErrors>> {
        let transporter = auth.require(&[Role::Transporter])?.sub;
        let mut conn = state.db.acquire().await?;
        Ok(Json(HoldList { items: holds::active_for(&mut conn, transporter).await? }))
    }
}
