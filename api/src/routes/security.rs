//! Bearer JWT authentication and role checks for every protected operation.

use std::sync::Arc;

use poem::Request;
use poem_openapi::SecurityScheme;
use poem_openapi::auth::Bearer;
use weelo_shared::auth::Claims;
use weelo_shared::domain::Role;
use weelo_shared::error::Error;

use crate::problem::error_response;
use crate::state::AppState;

/// An access token from `POST /v1/auth/otp/verify` or `/v1/auth/refresh`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "check_bearer")]
pub struct BearerAuth(pub Claims);

async fn check_bearer(req: &Request, bearer: Bearer) -> poem::Result<Claims> {
    let state = req
        .data::<Arc<AppState>>()
        .ok_or_else(|| poem::Error::from_string("state missing", poem::http::StatusCode::INTERNAL_SERVER_ERROR))?;
    state.auth.authenticate(&bearer.token).await.map_err(|e| poem::Error::from_response(error_response(&e)))
}

impl BearerAuth {
    /// Refuses callers whose role is not one of `roles` (403, never data).
    pub fn require(&self, roles: &[Role]) -> Result<&Claims, Error> {
        if roles.contains(&self.0.role) {
            Ok(&self.0)
        } else {
            Err(Error::rejected(403, "ROLE_FORBIDDEN", format!("this operation is not available to a {}", self.0.role)))
        }
    }
}
