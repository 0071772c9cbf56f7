//! Presence and devices: transporters go online and send heartbeats; drivers toggle their
//! availability; every user registers push tokens.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use weelo_shared::domain::{LatLng, Role, VehicleType};
use weelo_shared::error::Error;
use weelo_shared::outbox::{self, OutboxEvent};
use weelo_shared::presence;

use super::ApiTags;
use super::security::BearerAuth;
use crate::error_set;
use crate::problem::ApiError;
use crate::state::AppState;
use crate::text::Text;

#[derive(Object, Debug)]
pub struct Availability {
    pub online: bool,
}

#[derive(Object, Debug)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct AvailabilityBody {
    pub online: bool,
}

#[derive(Object, Debug)]
pub struct Heartbeat {
    pub lat: f64,
    pub lng: f64,
}

#[derive(Object, Debug)]
#[oai(rename_all = "camelCase")]
pub struct DriverHeartbeatBody {
    /// Send the next heartbeat well before this many seconds pass (every ~12 s).
    pub presence_expires_in: u64,
}

#[derive(Object, Debug)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct HeartbeatBody {
    /// Send the next heartbeat well before this many seconds pass (every ~12 s).
    pub presence_expires_in: u64,
    /// The vehicle types you are matched for (those with an available vehicle).
    pub matching_vehicle_types: Vec<VehicleType>,
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "lowercase")]
pub enum Platform {
    Android,
    Ios,
    Web,
}

#[derive(Object, Debug)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct DeviceRegistration {
    pub fcm_token: Text,
    pub platform: Platform,
}

#[derive(Object, Debug)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct DeviceRemoval {
    pub fcm_token: Text,
}

#[derive(ApiResponse)]
pub enum Done {
    #[oai(status = 204)]
    Done,
}

error_set!(DriverHeartbeatErrors {
    401 => "UNAUTHORIZED",
    403 => "ROLE_FORBIDDEN",
    503 => "DEPENDENCY_UNAVAILABLE",
});

error_set!(AvailabilityErrors {
    401 => "UNAUTHORIZED",
    403 => "ROLE_FORBIDDEN",
    422 => "VALIDATION_FAILED",
    429 => "AVAILABILITY_THROTTLED: toggled less than 5 s ago (see Retry-After)",
    503 => "DEPENDENCY_UNAVAILABLE",
});

error_set!(HeartbeatErrors {
    401 => "UNAUTHORIZED",
    403 => "ROLE_FORBIDDEN: transporters only",
    409 => "TRANSPORTER_OFFLINE: go online first",
    422 => "VALIDATION_FAILED: coordinates outside India",
    503 => "DEPENDENCY_UNAVAILABLE",
});

error_set!(DeviceErrors {
    401 => "UNAUTHORIZED",
    422 => "VALIDATION_FAILED",
    503 => "DEPENDENCY_UNAVAILABLE",
});

error_set!(RegisterDeviceErrors {
    401 => "UNAUTHORIZED",
    422 => "VALIDATION_FAILED",
    429 => "RATE_LIMITED: too many device registrations this hour (see Retry-After)",
    503 => "DEPENDENCY_UNAVAILABLE",
});

pub struct PresenceApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Presence")]
impl PresenceApi {
    /// Go online or offline for broadcasts.
    ///
    /// Online transporters are matched once their heartbeats give a position. Going online also
    /// sends you the open broadcasts already in reach. At most one toggle per 5 s.
    #[oai(path = "/transporters/me/availability", method = "put", operation_id = "setTransporterAvailability")]
    async fn transporter_availability(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        body: Json<Availability>,
    ) -> Result<Json<AvailabilityBody>, ApiError<AvailabilityErrors>> {
        let me = auth.require(&[Role::Transporter])?.sub;
        presence::throttle_toggle(&state.cache, me, state.config.availability_throttle).await?;
        let came_online = presence::set_online(&state.cache, me, body.online).await?;
        // With a position already known, catch up at once; otherwise the first heartbeat does.
        if came_online && presence::position(&state.cache, me).await?.is_some() {
            let mut conn = state.db.acquire().await?;
            let event = OutboxEvent::TransporterOnline(outbox::TransporterOnline { transporter_id: me });
            outbox::enqueue(&mut conn, &event, None).await?;
        }
        tracing::info!(transporter_id = %me, online = body.online, "availability");
        Ok(Json(AvailabilityBody { online: body.online }))
    }

    /// Report your position (every ~12 s while online).
    #[oai(path = "/transporters/me/heartbeat", method = "post", operation_id = "transporterHeartbeat")]
    async fn heartbeat(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        body: Json<Heartbeat>,
    ) -> Result<Json<HeartbeatBody>, ApiError<HeartbeatErrors>> {
        let me = auth.require(&[Role::Transporter])?.sub;
        let at = LatLng::parse(body.lat, body.lng).map_err(|m| Error::field("lat", m))?;
        let ttl = state.config.presence_ttl;
        let was_present = presence::position(&state.cache, me).await?.is_some();
        let types = presence::heartbeat(&state.cache, &state.db, me, at, ttl).await?;
        if !was_present {
            // First position since going online (or since presence lapsed): send what is in reach.
            let mut conn = state.db.acquire().await?;
            let event = OutboxEvent::TransporterOnline(outbox::TransporterOnline { transporter_id: me });
            outbox::enqueue(&mut conn, &event, None).await?;
        }
        if types.is_empty() {
            tracing::debug!(transporter_id = %me, "online without an available vehicle: not matched");
        }
        Ok(Json(HeartbeatBody { presence_expires_in: ttl.as_secs(), matching_vehicle_types: types }))
    }

    /// A driver's app, while its driver is available, every ~12 s: keeps the driver shown
    /// online (it lapses after `presenceExpiresIn` seconds without one, as a dead phone would).
    #[oai(path = "/drivers/me/heartbeat", method = "post", operation_id = "driverHeartbeat")]
    async fn driver_heartbeat(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
    ) -> Result<Json<DriverHeartbeatBody>, ApiError<DriverHeartbeatErrors>> {
        let claims = auth.require(&[Role::Driver])?;
        set_driver_presence(&state, claims.sub, claims.tid, true).await?;
        Ok(Json(DriverHeartbeatBody { presence_expires_in: state.config.presence_ttl.as_secs() }))
    }

    /// A driver tells its transporter whether it is available (online lasts the presence TTL
    /// unless heartbeats renew it).
    #[oai(path = "/drivers/me/availability", method = "put", operation_id = "setDriverAvailability")]
    async fn driver_availability(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        body: Json<Availability>,
    ) -> Result<Json<AvailabilityBody>, ApiError<AvailabilityErrors>> {
        let claims = auth.require(&[Role::Driver])?;
        let (me, transporter) = (claims.sub, claims.tid);
        presence::throttle_toggle(&state.cache, me, state.config.availability_throttle).await?;
        set_driver_presence(&state, me, transporter, body.online).await?;
        Ok(Json(AvailabilityBody { online: body.online }))
    }

    /// Register this device's FCM token for push notifications. A user has at most 5 devices (a
    /// sixth replaces the least recently registered) and may register 20 times an hour; a token
    /// belongs to the last user who registered it.
    #[oai(path = "/devices/me", method = "put", operation_id = "registerDevice")]
    async fn register_device(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        body: Json<DeviceRegistration>,
    ) -> Result<Done, ApiError<RegisterDeviceErrors>> {
        let token = body.fcm_token.trim();
        if token.is_empty() || token.len() > 4096 {
            return Err(Error::field("fcmToken", "must be 1-4096 characters").into());
        }
        let platform = match body.platform {
            Platform::Android => "android",
            Platform::Ios => "ios",
            Platform::Web => "web",
        };
        let me = auth.0.sub;
        limit_registrations(&state, me).await?;
        let mut tx = state.db.begin().await?;
        // A token moves with the device: the latest user to register it owns it, alone.
        sqlx::query!(
            "INSERT INTO device_tokens (id, user_id, token, platform) VALUES ($1, $2, $3, $4::device_platform)
             ON CONFLICT (token) DO UPDATE SET user_id = EXCLUDED.user_id, platform = EXCLUDED.platform,
                     updated_at = now()",
            uuid::Uuid::now_v7(),
            me,
            token,
            platform as _
        )
        .execute(&mut *tx)
        .await?;
        // At most MAX_DEVICES per user: a new one replaces the least recently registered.
        let replaced = sqlx::query!(
            "DELETE FROM device_tokens WHERE user_id = $1 AND id NOT IN
               (SELECT id FROM device_tokens WHERE user_id = $1 ORDER BY updated_at DESC, id DESC LIMIT $2)",
            me,
            MAX_DEVICES
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        if replaced.rows_affected() > 0 {
            tracing::info!(user_id = %me, replaced = replaced.rows_affected(), "oldest device tokens replaced");
        }
        Ok(Done::Done)
    }

    /// Stop push notifications to this device.
    #[oai(path = "/devices/me", method = "delete", operation_id = "removeDevice")]
    async fn remove_device(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        body: Json<DeviceRemoval>,
    ) -> Result<Done, ApiError<DeviceErrors>> {
        sqlx::query!("DELETE FROM device_tokens WHERE token = $1 AND user_id = $2", body.fcm_token.trim(), auth.0.sub)
            .execute(&state.db)
            .await?;
        Ok(Done::Done)
    }
}

/// Device tokens kept per user.
const MAX_DEVICES: i64 = 5;
/// Device registrations per user per hour (an app registers at start and on token refresh).
const REGISTRATIONS_PER_HOUR: i64 = 20;

async fn limit_registrations(state: &AppState, user: uuid::Uuid) -> Result<(), Error> {
    let keys = &state.cache.keys;
    let (count, wait) = state.cache.count_this_hour(|hour| keys.device_registrations(user, hour)).await?;
    if count > REGISTRATIONS_PER_HOUR {
        return Err(
            Error::rejected(429, "RATE_LIMITED", "too many device registrations; try again later").retry_after(wait)
        );
    }
    Ok(())
}

/// Sets a driver's online flag (for the presence TTL); a change tells its transporter
/// (`driver_status_changed`), whether it came by the toggle or by the first heartbeat after a lapse.
async fn set_driver_presence(
    state: &AppState,
    driver: uuid::Uuid,
    transporter: Option<uuid::Uuid>,
    online: bool,
) -> Result<(), Error> {
    let changed = presence::set_driver_online(&state.cache, driver, online, state.config.presence_ttl).await?;
    if changed && let Some(t) = transporter {
        let mut conn = state.db.acquire().await?;
        let change = outbox::DriverStatusChanged { driver_id: driver, transporter_id: t, online };
        outbox::enqueue(&mut conn, &OutboxEvent::DriverStatusChanged(change), None).await?;
    }
    Ok(())
}
