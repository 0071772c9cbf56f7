//! The trip state machine (docs/DESIGN.md, "After the match"): one trip per taken truck, from the
//! moment a vehicle and a driver are named. Pure: the store locks the trip, asks this module
//! what an event does, and writes the answer with a guarded statement.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type, Serialize, Deserialize, poem_openapi::Enum)]
#[sqlx(type_name = "trip_status", rename_all = "snake_case")]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum TripStatus {
    /// Vehicle and driver named; waiting for the driver to answer.
    Assigned,
    DriverAccepted,
    EnRouteToPickup,
    AtPickup,
    InTransit,
    Delivered,
    /// The driver said no: back to the transporter to staff again (vehicle and driver free).
    DriverDeclined,
    /// The driver did not answer in time: back to the transporter as above.
    DriverTimeout,
    /// The transporter gave the truck back (or did not staff it in time): it searches again.
    Released,
    /// The customer cancelled before pickup.
    Cancelled,
}

/// What can happen to a trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TripEvent {
    DriverAccept,
    DriverDecline,
    /// The driver's response window passed.
    ResponseTimeout,
    /// The driver reports progress: the next state on the road.
    Progress(TripStatus),
    /// The transporter names a new vehicle and driver.
    Restaff,
    /// The transporter gives the truck back, or its restaff window passed.
    Release,
    CustomerCancel,
}

impl TripStatus {
    pub const ALL: [TripStatus; 10] = [
        TripStatus::Assigned,
        TripStatus::DriverAccepted,
        TripStatus::EnRouteToPickup,
        TripStatus::AtPickup,
        TripStatus::InTransit,
        TripStatus::Delivered,
        TripStatus::DriverDeclined,
        TripStatus::DriverTimeout,
        TripStatus::Released,
        TripStatus::Cancelled,
    ];

    /// The trip holds its vehicle and its driver (SQL: `trip_is_crewed`).
    pub fn is_crewed(self) -> bool {
        matches!(
            self,
            TripStatus::Assigned
                | TripStatus::DriverAccepted
                | TripStatus::EnRouteToPickup
                | TripStatus::AtPickup
                | TripStatus::InTransit
        )
    }

    /// Nothing will happen to it any more (SQL: `NOT trip_is_unfinished`).
    pub fn is_finished(self) -> bool {
        matches!(self, TripStatus::Delivered | TripStatus::Released | TripStatus::Cancelled)
    }

    /// Waiting for the transporter to name a new crew.
    pub fn needs_crew(self) -> bool {
        matches!(self, TripStatus::DriverDeclined | TripStatus::DriverTimeout)
    }

    /// The next state on the road, for the driver's status updates.
    fn road_next(self) -> Option<TripStatus> {
        Some(match self {
            TripStatus::DriverAccepted => TripStatus::EnRouteToPickup,
            TripStatus::EnRouteToPickup => TripStatus::AtPickup,
            TripStatus::AtPickup => TripStatus::InTransit,
            TripStatus::InTransit => TripStatus::Delivered,
            _ => return None,
        })
    }

    /// Where `event` takes a trip in this state; `Err(self)` when it is not a legal step.
    pub fn on(self, event: TripEvent) -> Result<TripStatus, TripStatus> {
        use TripStatus::*;
        let before_pickup =
            matches!(self, Assigned | DriverAccepted | EnRouteToPickup | DriverDeclined | DriverTimeout);
        match (self, event) {
            (Assigned, TripEvent::DriverAccept) => Ok(DriverAccepted),
            (Assigned, TripEvent::DriverDecline) => Ok(DriverDeclined),
            (Assigned, TripEvent::ResponseTimeout) => Ok(DriverTimeout),
            (s, TripEvent::Progress(to)) if s.road_next() == Some(to) => Ok(to),
            (DriverDeclined | DriverTimeout, TripEvent::Restaff) => Ok(Assigned),
            (_, TripEvent::Release) if before_pickup => Ok(Released),
            (_, TripEvent::CustomerCancel) if before_pickup => Ok(Cancelled),
            (s, _) => Err(s),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TripStatus::Assigned => "assigned",
            TripStatus::DriverAccepted => "driver_accepted",
            TripStatus::EnRouteToPickup => "en_route_to_pickup",
            TripStatus::AtPickup => "at_pickup",
            TripStatus::InTransit => "in_transit",
            TripStatus::Delivered => "delivered",
            TripStatus::DriverDeclined => "driver_declined",
            TripStatus::DriverTimeout => "driver_timeout",
            TripStatus::Released => "released",
            TripStatus::Cancelled => "cancelled",
        }
    }
}

/// Replays a transition log from `assigned`; the state it ends in, or the first illegal step.
pub fn replay(events: &[TripEvent]) -> Result<TripStatus, (usize, TripStatus)> {
    events.iter().enumerate().try_fold(TripStatus::Assigned, |s, (i, e)| s.on(*e).map_err(|s| (i, s)))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use TripStatus::*;

    fn event() -> impl Strategy<Value = TripEvent> {
        prop_oneof![
            Just(TripEvent::DriverAccept),
            Just(TripEvent::DriverDecline),
            Just(TripEvent::ResponseTimeout),
            Just(TripEvent::Restaff),
            Just(TripEvent::Release),
            Just(TripEvent::CustomerCancel),
            proptest::sample::select(TripStatus::ALL.to_vec()).prop_map(TripEvent::Progress),
        ]
    }

    #[test]
    fn the_happy_path_runs_in_order_and_only_in_order() {
        let road = [
            TripEvent::DriverAccept,
            TripEvent::Progress(EnRouteToPickup),
            TripEvent::Progress(AtPickup),
            TripEvent::Progress(InTransit),
            TripEvent::Progress(Delivered),
        ];
        assert_eq!(replay(&road), Ok(Delivered));
        assert_eq!(DriverAccepted.on(TripEvent::Progress(AtPickup)), Err(DriverAccepted), "no skipping");
        assert_eq!(Assigned.on(TripEvent::Progress(EnRouteToPickup)), Err(Assigned), "the driver answers first");
        assert_eq!(AtPickup.on(TripEvent::CustomerCancel), Err(AtPickup), "no cancel after pickup");
        assert_eq!(InTransit.on(TripEvent::Release), Err(InTransit));
        assert_eq!(
            replay(&[TripEvent::DriverDecline, TripEvent::Restaff, TripEvent::DriverAccept]),
            Ok(DriverAccepted)
        );
        assert_eq!(replay(&[TripEvent::ResponseTimeout, TripEvent::Release]), Ok(Released));
    }

    proptest! {
        /// Whatever happens, a finished trip never changes, the crew is held exactly in the
        /// crewed states, and any sequence of accepted events replays to the same state.
        #[test]
        fn finished_is_final_and_every_step_is_legal(events in proptest::collection::vec(event(), 0..30)) {
            let mut s = Assigned;
            let mut applied = Vec::new();
            for e in events {
                match s.on(e) {
                    Ok(next) => {
                        prop_assert!(!s.is_finished(), "{s:?} moved on {e:?}");
                        prop_assert!(next != s);
                        applied.push(e);
                        s = next;
                    }
                    Err(current) => prop_assert_eq!(current, s),
                }
                prop_assert!(s.is_crewed() != (s.is_finished() || s.needs_crew()));
            }
            prop_assert_eq!(replay(&applied), Ok(s));
        }
    }
}
