//! The transactional outbox: every state change writes what the worker must do next in the
//! same transaction, so a crash between commit and dispatch loses nothing.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

/// Kinds of outbox rows, and their payloads.
pub mod kind {
    /// `{broadcastId, expiresAt}`: start radius expansion and schedule expiry.
    pub const BROADCAST_CREATED: &str = "broadcast_created";
    /// `{broadcastId, truckRequestId, transporterId, broadcastStatus, trucksRemaining}`.
    pub const TRUCK_ACCEPTED: &str = "truck_accepted";
    /// `{broadcastId, status, reason}`: notify and clean up after a terminal transition.
    pub const BROADCAST_CLOSED: &str = "broadcast_closed";
    /// `{broadcastId, truckRequestId, driverId, transporterId}`.
    pub const TRUCK_ASSIGNED: &str = "truck_assigned";
    /// `{transporterId}`: send it the open broadcasts in reach.
    pub const TRANSPORTER_ONLINE: &str = "transporter_online";
    /// `{driverId, transporterId, online}`.
    pub const DRIVER_STATUS_CHANGED: &str = "driver_status_changed";
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BroadcastClosed<'a> {
    pub broadcast_id: Uuid,
    pub status: &'a str,
    pub reason: &'a str,
}

/// The PostgreSQL channel the worker's relay listens on; a NOTIFY is delivered at commit.
pub const CHANNEL: &str = "weelo_outbox";

pub async fn enqueue(
    conn: &mut PgConnection,
    kind: &str,
    payload: &impl Serialize,
    available_at: Option<DateTime<Utc>>,
) -> sqlx::Result<i64> {
    let payload = serde_json::to_value(payload).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let id = sqlx::query_scalar(
        "INSERT INTO outbox (kind, payload, available_at) VALUES ($1, $2, COALESCE($3, now())) RETURNING id",
    )
    .bind(kind)
    .bind(payload)
    .bind(available_at)
    .fetch_one(&mut *conn)
    .await?;
    // Wakes the relay the moment this transaction commits (and never if it rolls back).
    sqlx::query("SELECT pg_notify($1, '')").bind(CHANNEL).execute(conn).await?;
    Ok(id)
}
