//! The HTTP API, one module per area. Handlers parse into domain types, call one service
//! function and map the result.

pub mod auth;
pub mod broadcasts;
pub mod fleet;
pub mod me;
pub mod presence;
pub mod security;
pub mod trips;

use poem_openapi::Tags;

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
}
