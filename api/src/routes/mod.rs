//! The HTTP API, one module per area. Handlers parse into domain types, call one service
//! function and map the result.

pub mod auth;
pub mod broadcasts;
pub mod fleet;
pub mod holds;
pub mod me;
pub mod presence;
pub mod security;
pub mod trips;

use std::time::Instant;

use poem_openapi::Tags;
use poem_openapi::types::ParseFromJSON;
use serde::Serialize;
use uuid::Uuid;
use weelo_shared::domain::machine::{Broadcast, Refusal};
use weelo_shared::domain::{BroadcastId, UserId};
use weelo_shared::error::Error;
use weelo_shared::idempotency::{self, Stored};
use weelo_shared::lifecycle::{self, Early, gate::Sight};

use crate::state::AppState;

#[derive(Tags)]
pub enum ApiTags {
    /// Sign-in with a phone OTP, token refresh and sign-out.
    Auth,
    /// The signed-in user.
    Me,
    /// Searches for trucks: created by customers, accepted or declined by transporters.
    Broadcasts,
    /// A transporter's vehicles and drivers.
    Fleet,
    /// Availability, heartbeats and push-notification devices.
    Presence,
    /// After the match: drivers answer and drive their trips; transporters staff or release them.
    Trips,
    /// Reserve trucks of a line, staff them, then confirm them all as trips or give them back.
    Holds,
}

/// Runs `op` under the user's idempotency key for `scope` and answers what it returns (200); a
/// retry with the same key and body gets the first answer back.
pub(crate) async fn keyed<T: ParseFromJSON + Serialize>(
    db: &sqlx::PgPool,
    user: uuid::Uuid,
    scope: &str,
    key: &str,
    body: &impl Serialize,
    op: impl AsyncFnOnce(&mut sqlx::PgConnection) -> Result<T, Error>,
) -> Result<poem_openapi::payload::Json<T>, Error> {
    let key = weelo_shared::idempotency::parse_key(Some(key))?;
    let hash = weelo_shared::idempotency::request_hash(scope, &to_body(body)?);
    let stored = weelo_shared::idempotency::run(db, user, scope, key, &hash, async |tx| {
        Ok(Stored { status: 200, body: to_body(&op(tx).await?)? })
    })
    .await?;
    Ok(poem_openapi::payload::Json(from_stored(stored)?))
}

/// One take of trucks of `line` (an accept or a hold) by a request that reached the handler at
/// `arrived` (docs/DESIGN.md, "Contention"): most losers are refused by one query, the rest
/// wait for the broadcast's turn in this process holding no connection, and those that arrived
/// before the turn ahead of them saw `judge` refused are refused from that sight. `run` does the
/// take under its idempotency key, filling in what it saw; a replay runs it without a turn.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn take<T>(
    state: &AppState,
    arrived: Instant,
    transporter: Uuid,
    broadcast: Uuid,
    line: i32,
    scope: &str,
    key: Uuid,
    judge: impl Fn(&Broadcast, usize) -> Result<(), Refusal>,
    run: impl AsyncFnOnce(&mut Sight) -> Result<T, Error>,
) -> Result<T, Error> {
    let verified = state.config.require_verified_transporters;
    let early = {
        let mut conn = state.db.acquire().await?;
        lifecycle::refuse_take_early(&mut conn, UserId(transporter), BroadcastId(broadcast), line, scope, key, verified)
            .await
            .inspect_err(|e| count_refusal("early", e))?
    };
    if early == Early::Replay {
        return run(&mut Sight::default()).await;
    }
    let turn = state.gates.turn(BroadcastId(broadcast)).await;
    if let Some(refused) = turn.refusal(arrived, line, judge) {
        drop(turn);
        // The first try of this key may have won since the early check: its answer, not the refusal.
        if !idempotency::recorded(&state.db, transporter, scope, key).await? {
            count_refusal("sight", &refused);
            return Err(refused);
        }
        return run(&mut Sight::default()).await;
    }
    let mut sight = Sight::default();
    let result = run(&mut sight).await.inspect_err(|e| count_refusal("transaction", e));
    turn.publish(sight, result.is_ok());
    result
}

/// `take_refused_total{by}`: where accepts and holds were refused (the early query, a sight of the
/// broadcast's turn, or the transaction itself), so a hot broadcast's cost can be read off.
fn count_refusal(by: &'static str, e: &Error) {
    if matches!(e, Error::Rejected(_)) {
        metrics::counter!("take_refused_total", "by" => by).increment(1);
    }
}

/// A response recorded under an idempotency key, read back as the operation's body.
pub(crate) fn from_stored<T: ParseFromJSON>(stored: Stored) -> Result<T, Error> {
    T::parse_from_json(Some(stored.body))
        .map_err(|e| anyhow::anyhow!("stored response does not parse: {}", e.message()).into())
}

/// A body as the idempotency record stores it.
pub(crate) fn to_body(v: &impl Serialize) -> Result<serde_json::Value, Error> {
    serde_json::to_value(v).map_err(|e| anyhow::anyhow!(e).into())
}

/// The `limit` of a paged list: 1 to 100, default 20.
pub(crate) fn page_limit(limit: Option<i64>) -> Result<i64, Error> {
    match limit.unwrap_or(20) {
        l @ 1..=100 => Ok(l),
        _ => Err(Error::field("limit", "must be 1 to 100")),
    }
}
