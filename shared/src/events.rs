//! The events users receive (Socket.IO event name + payload, and the push a phone shows): one
//! enum, so a name, its payload type and its push text are written once. The worker's `notify`
//! job carries a [`ClientEvent`]; `realtime` moves it to sockets as `{event, payload}` JSON, and
//! README.md's event list is checked against [`ClientEvent::NAMES`] by a test.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::machine::{BroadcastStatus, TruckRequestStatus};
use crate::domain::trip::TripStatus;
use crate::lifecycle::views::{AcceptedTruckBody, LineBody, OpenBroadcastBody, TripBody};

/// Declares the events: variant, payload type, wire name and push title (None: no push).
macro_rules! client_events {
    ($( $(#[$doc:meta])* $variant:ident($payload:ty) = $name:literal, push: $push:expr; )*) => {
        /// Everything a user can be told, as `{"event": name, "payload": {...}}`.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "event", content = "payload")]
        pub enum ClientEvent {
            $( $(#[$doc])* #[serde(rename = $name)] $variant($payload), )*
        }

        impl ClientEvent {
            /// Every event name, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($name),*];

            /// The Socket.IO event name.
            pub fn name(&self) -> &'static str {
                match self { $(Self::$variant(_) => $name,)* }
            }

            /// The notification title a phone shows; events without one are not pushed.
            pub fn push_title(&self) -> Option<&'static str> {
                Self::push_title_of(self.name())
            }

            /// The push title of the event named `name` (a push task carries only the name).
            pub fn push_title_of(name: &str) -> Option<&'static str> {
                match name { $($name => $push,)* _ => None }
            }
        }
    };
}

client_events! {
    /// To a transporter: a broadcast in reach (its own distance to the pickup merged in).
    NewBroadcast(NewBroadcast) = "new_broadcast", push: Some("New load near you");
    /// To the customer, and to the notified transporters while the broadcast is open: what is
    /// still to be taken (a filled broadcast's close tells the transporters instead).
    TrucksRemainingUpdate(TrucksRemaining) = "trucks_remaining_update", push: None;
    /// To the customer: a transporter took one of its trucks.
    TruckRequestAccepted(TruckRequestAccepted) = "truck_request_accepted", push: Some("A truck accepted your request");
    /// To the notified transporters: the broadcast ended (any terminal state).
    BroadcastClosed(BroadcastEnded) = "broadcast_closed", push: None;
    /// To the customer: its search expired.
    BroadcastExpired(BroadcastEnded) = "broadcast_expired", push: Some("Your search expired");
    /// To the customer: its search was cancelled.
    BroadcastCancelled(BroadcastEnded) = "broadcast_cancelled", push: Some("Your search was cancelled");
    /// To the customer: every truck was taken.
    BroadcastFullyFilled(BroadcastEnded) = "broadcast_fully_filled", push: Some("All trucks found");
    /// To the customer: every trip of its filled broadcast finished (`completed`, final).
    BroadcastCompleted(BroadcastEnded) = "broadcast_completed", push: Some("All deliveries done");
    /// To a transporter: one of its drivers went on or off duty.
    DriverStatusChanged(DriverStatus) = "driver_status_changed", push: None;
    /// To the customer and the driver: a driver was named for a truck.
    AssignmentUpdated(AssignmentUpdated) = "assignment_updated", push: Some("Driver assigned");
    /// To the driver: a trip to accept or decline by `respondBy`, with everything its screen needs.
    TripAssigned(TripBody) = "trip_assigned", push: Some("New trip: accept or decline");
    /// To the transporter and the customer: the driver accepted.
    DriverAccepted(TripUpdate) = "driver_accepted", push: Some("Driver accepted the trip");
    /// To the transporter: the driver declined; staff the truck again by `restaffBy`.
    DriverDeclined(TripUpdate) = "driver_declined", push: Some("A driver declined: staff the truck again");
    /// To the transporter and the driver: the driver did not answer in time.
    DriverTimeout(TripUpdate) = "driver_timeout", push: Some("A driver did not answer: staff the truck again");
    /// To the customer and the transporter: the trip moved on the road (or was released).
    TripStatusChanged(TripUpdate) = "trip_status_changed", push: Some("Trip update");
    /// To the driver and the transporter: the customer cancelled before pickup.
    TripCancelled(TripUpdate) = "trip_cancelled", push: Some("Trip cancelled");
    /// To the customer: a taken truck was given back (it searches again, or was cancelled).
    TruckReleased(TruckReleasedEvent) = "truck_released", push: Some("A truck was given back");
    /// To the transporters told before and not declined: a filled broadcast searches again.
    BroadcastReopened(TrucksRemaining) = "broadcast_reopened", push: Some("A load is open again");
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TripUpdate {
    pub trip_id: Uuid,
    pub broadcast_id: Uuid,
    pub truck_request_id: Uuid,
    pub status: TripStatus,
    pub from: Option<TripStatus>,
    pub restaff_by: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TruckReleasedEvent {
    pub broadcast_id: Uuid,
    pub truck_request_id: Uuid,
    /// True: the truck searches again; false: it was cancelled (`reason`).
    pub searching: bool,
    pub reason: String,
    pub trucks_remaining: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewBroadcast {
    pub broadcast_id: Uuid,
    pub radius_step: usize,
    #[serde(flatten)]
    pub broadcast: OpenBroadcastBody,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrucksRemaining {
    pub broadcast_id: Uuid,
    pub status: BroadcastStatus,
    pub lines: Vec<LineBody>,
    pub trucks_remaining: i32,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TruckRequestAccepted {
    pub broadcast_id: Uuid,
    pub truck_request_id: Uuid,
    pub status: BroadcastStatus,
    pub truck: Option<AcceptedTruckBody>,
    pub trucks_remaining: i32,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BroadcastEnded {
    pub broadcast_id: Uuid,
    pub status: BroadcastStatus,
    pub reason: String,
}

impl BroadcastEnded {
    /// The customer's event for this end.
    pub fn for_customer(self) -> ClientEvent {
        match self.status {
            BroadcastStatus::Expired => ClientEvent::BroadcastExpired(self),
            BroadcastStatus::FullyFilled => ClientEvent::BroadcastFullyFilled(self),
            BroadcastStatus::Completed => ClientEvent::BroadcastCompleted(self),
            _ => ClientEvent::BroadcastCancelled(self),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DriverStatus {
    pub driver_id: Uuid,
    pub online: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssignmentUpdated {
    pub broadcast_id: Uuid,
    pub truck_request_id: Uuid,
    pub driver_id: Uuid,
    pub status: TruckRequestStatus,
}

impl ClientEvent {
    /// The payload as it reaches the socket.
    pub fn payload(&self) -> serde_json::Value {
        let mut tagged = serde_json::to_value(self).unwrap_or_default();
        tagged["payload"].take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_travel_as_name_and_payload() {
        let e = ClientEvent::DriverStatusChanged(DriverStatus { driver_id: Uuid::nil(), online: true });
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["event"], "driver_status_changed");
        assert_eq!(v["payload"]["online"], true);
        assert_eq!(e.payload()["driverId"], Uuid::nil().to_string());
        assert_eq!(serde_json::from_value::<ClientEvent>(v).unwrap(), e);
        assert_eq!(e.name(), "driver_status_changed");
        assert!(ClientEvent::NAMES.contains(&e.name()));
    }

    /// README.md's realtime section names every event, and no event that does not exist.
    #[test]
    fn the_readme_lists_exactly_these_events() {
        let readme = include_str!("../../README.md");
        let section = readme.split("<!-- events -->").nth(1).and_then(|s| s.split("<!-- /events -->").next());
        let section = section.expect("README.md has an <!-- events --> ... <!-- /events --> list");
        let listed: Vec<&str> =
            section.lines().filter_map(|l| l.strip_prefix("- `")).filter_map(|l| l.split('`').next()).collect();
        let mut want: Vec<&str> = ClientEvent::NAMES.to_vec();
        let mut got = listed.clone();
        want.sort_unstable();
        got.sort_unstable();
        assert_eq!(got, want, "README.md's event list differs from ClientEvent");
    }
}
