//! Sign-in: `POST /v1/auth/otp/request`, `/otp/verify`, `/refresh`, `/logout`.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use weelo_shared::auth::{Delivery, TokenPair, UserRecord};
use weelo_shared::domain::{FieldError, Phone, Role};
use weelo_shared::error::Error;

use super::ApiTags;
use super::security::BearerAuth;
use crate::error_set;
use crate::problem::ApiError;
use crate::state::AppState;
use crate::text::Text;

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "lowercase")]
pub enum RoleDto {
    Customer,
    Transporter,
    Driver,
    Admin,
}

impl From<RoleDto> for Role {
    fn from(r: RoleDto) -> Self {
        match r {
            RoleDto::Customer => Role::Customer,
            RoleDto::Transporter => Role::Transporter,
            RoleDto::Driver => Role::Driver,
            RoleDto::Admin => Role::Admin,
        }
    }
}

impl From<Role> for RoleDto {
    fn from(r: Role) -> Self {
        match r {
            Role::Customer => RoleDto::Customer,
            Role::Transporter => RoleDto::Transporter,
            Role::Driver => RoleDto::Driver,
            Role::Admin => RoleDto::Admin,
        }
    }
}

#[derive(Object, Debug)]
#[oai(example)]
pub struct OtpRequest {
    /// Indian mobile number: 10 digits starting 6-9; `+91` accepted.
    pub phone: Text,
    pub role: RoleDto,
}

impl Example for OtpRequest {
    fn example() -> Self {
        OtpRequest { phone: "+919876543210".into(), role: RoleDto::Customer }
    }
}

/// How the code reaches its user.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "lowercase")]
pub enum DeliveryDto {
    /// By SMS to the phone asked about.
    Sms,
    /// A driver's code: by SMS to its transporter, who passes it on.
    Transporter,
}

#[derive(Object, Debug)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct OtpSentBody {
    /// The phone asked about, masked. The answer is the same for every phone of a role, also
    /// one that cannot sign in with it (then nothing is sent).
    pub sent_to: String,
    pub delivered_via: DeliveryDto,
    pub expires_in_seconds: u64,
    pub resend_after_seconds: u64,
}

#[derive(Object, Debug)]
#[oai(example)]
pub struct OtpVerify {
    pub phone: Text,
    pub role: RoleDto,
    /// The 6-digit code.
    pub code: Text,
}

impl Example for OtpVerify {
    fn example() -> Self {
        OtpVerify { phone: "+919876543210".into(), role: RoleDto::Customer, code: "123456".into() }
    }
}

#[derive(Object, Debug)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct RefreshRequest {
    pub refresh_token: Text,
}

#[derive(Object, Debug, Default)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct LogoutRequest {
    /// Also revoke this refresh token's session.
    #[oai(nullable)]
    pub refresh_token: Option<Text>,
}

/// A user as the apps see it.
#[derive(Object, Debug)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct UserBody {
    pub id: uuid::Uuid,
    pub phone: String,
    pub role: RoleDto,
    pub name: Option<String>,
    /// For drivers: the transporter they drive for.
    pub transporter_id: Option<uuid::Uuid>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<UserRecord> for UserBody {
    fn from(u: UserRecord) -> Self {
        Self {
            id: u.id,
            phone: u.phone,
            role: u.role.into(),
            name: u.name,
            transporter_id: u.transporter_id,
            created_at: u.created_at,
        }
    }
}

#[derive(Object, Debug)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct TokenBody {
    /// HS256 JWT for the `Authorization: Bearer` header.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    pub expires_in: u64,
    /// Opaque; rotate it with `POST /v1/auth/refresh` (each one works once).
    pub refresh_token: String,
    pub refresh_expires_in: u64,
    pub user: UserBody,
}

impl From<TokenPair> for TokenBody {
    fn from(p: TokenPair) -> Self {
        Self {
            access_token: p.access_token,
            token_type: "Bearer".into(),
            expires_in: p.access_expires_in,
            refresh_token: p.refresh_token,
            refresh_expires_in: p.refresh_expires_in,
            user: p.user.into(),
        }
    }
}

#[derive(ApiResponse)]
pub enum OtpRequested {
    /// The code was sent.
    #[oai(status = 202)]
    Sent(Json<OtpSentBody>),
}

#[derive(ApiResponse)]
pub enum LoggedOut {
    /// Signed out.
    #[oai(status = 204)]
    Done,
}

error_set!(OtpRequestErrors {
    403 => "ACCOUNT_SUSPENDED: this account is suspended",
    422 => "VALIDATION_FAILED: a field is invalid (see `errors`)",
    429 => "OTP_COOLDOWN (a code was sent recently; each resend waits twice as long), OTP_DAILY_LIMIT (codes per phone per day), OTP_LOCKED (too many wrong codes today) or OTP_SOURCE_LIMIT (requests per network per hour); see Retry-After",
    503 => "SMS_UNAVAILABLE: the code could not be sent",
});

error_set!(OtpVerifyErrors {
    401 => "OTP_INVALID (wrong code, see attemptsLeft) or OTP_EXPIRED (no valid code)",
    404 => "USER_NOT_FOUND: the driver or admin account no longer exists",
    422 => "VALIDATION_FAILED: a field is invalid (see `errors`)",
    429 => "OTP_TOO_MANY_ATTEMPTS (request a new code) or OTP_LOCKED (too many wrong codes for this phone today; see Retry-After)",
});

error_set!(RefreshErrors {
    401 => "REFRESH_TOKEN_INVALID, REFRESH_TOKEN_EXPIRED, REFRESH_TOKEN_REVOKED, or REFRESH_TOKEN_REUSED (the session is revoked)",
    422 => "VALIDATION_FAILED: a field is invalid (see `errors`)",
});

error_set!(LogoutErrors {
    401 => "UNAUTHORIZED: missing, invalid, expired or signed-out access token",
    422 => "VALIDATION_FAILED: a field is invalid (see `errors`)",
    503 => "DEPENDENCY_UNAVAILABLE: Redis is unavailable",
});

fn parse_phone(raw: &str, errors: &mut Vec<FieldError>) -> Option<Phone> {
    Phone::parse(raw).map_err(|m| errors.push(FieldError::new("phone", m))).ok()
}

pub struct AuthApi;

#[OpenApi(prefix_path = "/v1/auth", tag = "ApiTags::Auth")]
impl AuthApi {
    /// Send a one-time code by SMS.
    ///
    /// A 6-digit code valid for 5 minutes. Per phone: a resend waits 30 s, then twice as long
    /// each time, at most 10 codes and 10 wrong codes a day; per network, 30 requests an hour.
    /// A driver's code goes to its transporter's phone. The answer is the same for a phone that
    /// cannot sign in with the role (an unknown driver or admin): nothing is sent then.
    #[oai(path = "/otp/request", method = "post", operation_id = "requestOtp")]
    async fn request_otp(
        &self,
        state: Data<&Arc<AppState>>,
        req: &poem::Request,
        body: Json<OtpRequest>,
    ) -> Result<OtpRequested, ApiError<OtpRequestErrors>> {
        let mut errors = Vec::new();
        let phone = parse_phone(&body.phone, &mut errors);
        let Some(phone) = phone else {
            return Err(Error::validation(errors).into());
        };
        let source = crate::client_ip(req, state.config.trusted_proxy_hops);
        let sent = state.auth.request_otp(&phone, body.role.into(), source).await?;
        Ok(OtpRequested::Sent(Json(OtpSentBody {
            sent_to: sent.sent_to,
            delivered_via: match sent.delivered_via {
                Delivery::Sms => DeliveryDto::Sms,
                Delivery::Transporter => DeliveryDto::Transporter,
            },
            expires_in_seconds: sent.expires_in,
            resend_after_seconds: sent.resend_after,
        })))
    }

    /// Exchange a code for an access token and a refresh token.
    ///
    /// Three wrong codes use the code up. Customers and transporters are created on first sign-in.
    #[oai(path = "/otp/verify", method = "post", operation_id = "verifyOtp")]
    async fn verify_otp(
        &self,
        state: Data<&Arc<AppState>>,
        body: Json<OtpVerify>,
    ) -> Result<Json<TokenBody>, ApiError<OtpVerifyErrors>> {
        let mut errors = Vec::new();
        let phone = parse_phone(&body.phone, &mut errors);
        let code = body.code.trim();
        if code.len() != 6 || !code.chars().all(|c| c.is_ascii_digit()) {
            errors.push(FieldError::new("code", "must be 6 digits"));
        }
        let Some(phone) = phone.filter(|_| errors.is_empty()) else {
            return Err(Error::validation(errors).into());
        };
        let pair = state.auth.verify_otp(&phone, body.role.into(), code).await?;
        Ok(Json(pair.into()))
    }

    /// Rotate a refresh token.
    ///
    /// Returns a new pair; the presented refresh token stops working. Presenting an already
    /// rotated token revokes the whole session (`REFRESH_TOKEN_REUSED`).
    #[oai(path = "/refresh", method = "post", operation_id = "refreshTokens")]
    async fn refresh(
        &self,
        state: Data<&Arc<AppState>>,
        body: Json<RefreshRequest>,
    ) -> Result<Json<TokenBody>, ApiError<RefreshErrors>> {
        let token = body.refresh_token.trim();
        if token.is_empty() || token.len() > 256 {
            return Err(Error::field("refreshToken", "must be the refresh token returned at sign-in").into());
        }
        Ok(Json(state.auth.refresh(token).await?.into()))
    }

    /// Sign out: the access token stops working at once; with `refreshToken`, its session is revoked.
    #[oai(path = "/logout", method = "post", operation_id = "logout")]
    async fn logout(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        body: Json<LogoutRequest>,
    ) -> Result<LoggedOut, ApiError<LogoutErrors>> {
        state.auth.logout(&auth.0, body.refresh_token.as_deref()).await?;
        Ok(LoggedOut::Done)
    }
}
