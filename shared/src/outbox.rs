//! The transactional outbox: every state change writes what the worker must do next in the
//! same transaction, so a crash between commit and dispatch loses nothing.
//!
//! Both sides speak [`OutboxEvent`]: the API enqueues a value, the worker's relay decodes the
//! row back into one and matches it exhaustively. The row keeps its two columns, `kind` (the
//! variant's name) and `payload` (the variant's fields, camelCase), so rows written before this
//! type existed still decode (tested below).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::machine::BroadcastStatus;
use crate::domain::trip::TripStatus;

/// What the worker must do after a committed state change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "payload", rename_all = "snake_case")]
pub enum OutboxEvent {
    /// Start radius expansion and schedule expiry.
    BroadcastCreated(BroadcastCreated),
    /// Tell the customer and the notified transporters.
    TruckAccepted(TruckAccepted),
    /// Notify and clean up after a terminal transition.
    BroadcastClosed(BroadcastClosed),
    /// A driver was named for a taken truck.
    TruckAssigned(TruckAssigned),
    /// Send the transporter the open broadcasts in reach.
    TransporterOnline(TransporterOnline),
    /// Tell the transporter its driver's availability.
    DriverStatusChanged(DriverStatusChanged),
    /// A trip moved (created when `from` is None): tell whoever it concerns, start its timers.
    TripChanged(TripChanged),
    /// A taken truck went back: it searches again (`reopened`) or was cancelled.
    TruckReleased(TruckReleased),
    /// Transporters were recorded as notified of a broadcast: send them `new_broadcast`.
    TransportersNotified(TransportersNotified),
    /// A hold was placed or extended (`active`: its expiry job is scheduled for `expires_at`) or
    /// ended: the transporters still told and the customer hear the remaining count.
    HoldChanged(HoldChanged),
    /// An admin suspended a user: their sockets are dropped on every API instance.
    UserSuspended(UserSuspended),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserSuspended {
    pub user_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HoldChanged {
    pub hold_id: Uuid,
    pub broadcast_id: Uuid,
    pub status: crate::lifecycle::holds::HoldStatus,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BroadcastCreated {
    pub broadcast_id: Uuid,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TruckAccepted {
    pub broadcast_id: Uuid,
    pub truck_request_id: Uuid,
    pub transporter_id: Uuid,
    pub customer_id: Uuid,
    pub broadcast_status: BroadcastStatus,
    pub trucks_remaining: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BroadcastClosed {
    pub broadcast_id: Uuid,
    pub status: BroadcastStatus,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TruckAssigned {
    pub broadcast_id: Uuid,
    pub truck_request_id: Uuid,
    pub driver_id: Uuid,
    pub transporter_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransporterOnline {
    pub transporter_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DriverStatusChanged {
    pub driver_id: Uuid,
    pub transporter_id: Uuid,
    pub online: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TripChanged {
    pub trip_id: Uuid,
    pub from: Option<TripStatus>,
    pub to: TripStatus,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TruckReleased {
    pub broadcast_id: Uuid,
    pub truck_request_id: Uuid,
    /// The truck searches again (false: it was cancelled, `reason` says why).
    pub searching: bool,
    /// The broadcast had been filled and searches again: its expansion must be restarted.
    pub reopened: bool,
    pub reason: String,
}

/// Written in the transaction that records the notification rows, so nobody is recorded as
/// told without being told (docs/DESIGN.md, "Jobs").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransportersNotified {
    pub broadcast_id: Uuid,
    pub radius_step: usize,
    pub recipients: Vec<NotifiedTransporter>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotifiedTransporter {
    pub transporter_id: Uuid,
    pub distance_km: f64,
}

impl OutboxEvent {
    /// Splits the event into the row's `kind` and `payload` columns.
    pub fn to_row(&self) -> serde_json::Result<(String, serde_json::Value)> {
        let mut tagged = serde_json::to_value(self)?;
        let kind = tagged["kind"].as_str().unwrap_or_default().to_owned();
        Ok((kind, tagged["payload"].take()))
    }

    /// Reads a row back; an unknown kind or a payload missing a member is an error naming it.
    pub fn from_row(kind: &str, payload: serde_json::Value) -> serde_json::Result<Self> {
        serde_json::from_value(serde_json::json!({ "kind": kind, "payload": payload }))
    }
}

/// The PostgreSQL channel the worker's relay listens on; a NOTIFY is delivered at commit.
pub const CHANNEL: &str = "weelo_outbox";

/// Writes `event` in the caller's transaction; the relay sees it at commit.
pub async fn enqueue(
    conn: &mut PgConnection,
    event: &OutboxEvent,
    available_at: Option<DateTime<Utc>>,
) -> sqlx::Result<i64> {
    let (kind, payload) = event.to_row().map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    // The request that caused the row, so its jobs' logs can be followed back to it.
    let request_id = crate::telemetry::current_request_id();
    let id = sqlx::query_scalar!(
        "INSERT INTO outbox (kind, payload, available_at, request_id) VALUES ($1, $2, COALESCE($3, now()),
                 $4) RETURNING id",
        kind,
        payload,
        available_at,
        request_id
    )
    .fetch_one(&mut *conn)
    .await?;
    // Wakes the relay the moment this transaction commits (and never if it rolls back).
    sqlx::query!("SELECT pg_notify($1, '')", CHANNEL).execute(conn).await?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Rows exactly as the untyped `json!` writers of 2026-11 left them in the table.
    #[test]
    fn rows_written_before_the_enum_still_decode() {
        let b = Uuid::now_v7();
        let t = Uuid::now_v7();
        let rows = [
            ("broadcast_created", json!({ "broadcastId": b, "expiresAt": "2026-11-30T10:00:00.123456Z" })),
            (
                "truck_accepted",
                json!({ "broadcastId": b, "truckRequestId": t, "transporterId": t, "customerId": b,
                        "broadcastStatus": "partially_filled", "trucksRemaining": 2 }),
            ),
            ("broadcast_closed", json!({ "broadcastId": b, "status": "expired", "reason": "NO_ACCEPTANCE" })),
            ("truck_assigned", json!({ "broadcastId": b, "truckRequestId": t, "driverId": t, "transporterId": t })),
            ("transporter_online", json!({ "transporterId": t })),
            ("driver_status_changed", json!({ "driverId": t, "transporterId": b, "online": true })),
        ];
        for (kind, payload) in rows {
            let event = OutboxEvent::from_row(kind, payload.clone()).unwrap_or_else(|e| panic!("{kind}: {e}"));
            let (k, p) = event.to_row().unwrap();
            assert_eq!(k, kind);
            // Same wire format both ways (timestamps compare as instants).
            assert_eq!(OutboxEvent::from_row(&k, p).unwrap(), event);
        }
        let closed =
            OutboxEvent::from_row("broadcast_closed", json!({ "broadcastId": b, "status": "expired", "reason": "X" }));
        assert!(matches!(closed, Ok(OutboxEvent::BroadcastClosed(c)) if c.status == BroadcastStatus::Expired));
    }

    #[test]
    fn a_row_missing_a_member_or_of_an_unknown_kind_is_an_error() {
        let e = OutboxEvent::from_row("truck_accepted", json!({ "broadcastId": Uuid::nil() })).unwrap_err();
        assert!(e.to_string().contains("truckRequestId"), "{e}");
        assert!(OutboxEvent::from_row("no_such_kind", json!({})).is_err());
    }
}
