//! `GET /v1/me`: the signed-in user.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::OpenApi;
use poem_openapi::payload::Json;

use super::ApiTags;
use super::auth::UserBody;
use super::security::BearerAuth;
use crate::error_set;
use crate::problem::ApiError;
use crate::state::AppState;

error_set!(MeErrors {
    401 => "UNAUTHORIZED: missing, invalid, expired or signed-out access token",
    404 => "USER_NOT_FOUND: the account no longer exists",
    503 => "DEPENDENCY_UNAVAILABLE: Redis is unavailable",
});

pub struct MeApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Me")]
impl MeApi {
    /// The signed-in user.
    #[oai(path = "/me", method = "get", operation_id = "getMe")]
    async fn me(&self, state: Data<&Arc<AppState>>, auth: BearerAuth) -> Result<Json<UserBody>, ApiError<MeErrors>> {
        Ok(Json(state.auth.user(auth.0.sub).await?.into()))
    }
}
