//! The pure domain: values that are valid once constructed, and the broadcast state machine.
//! No I/O here.

pub mod geo;
pub mod ids;
pub mod machine;
pub mod phone;
pub mod role;
pub mod trip;
pub mod vehicle;

pub use geo::LatLng;
pub use ids::{BroadcastId, HoldId, TripId, TruckRequestId, UserId, VehicleId};
pub use phone::Phone;
pub use role::Role;
pub use vehicle::{RegistrationNumber, VehicleType};

/// One field's reason for refusal, reported together with the others in a 422.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}
