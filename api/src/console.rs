//! The ops console (docs/DESIGN.md, "Ops console"): one server-rendered page with a small
//! vendored script (no CDN, no build step), and the JSON routes it calls, all on the private
//! ops listener (`WEELO_OPS_ADDR`), never on the public API port. Admins sign in with the usual
//! phone OTP; every route but sign-in needs an admin's token (anyone else: 403, never data).
//! Reads come from `weelo_shared::console`, actions from `weelo_shared::admin` (audited).

use std::sync::Arc;

use poem::web::{Data, Html, Json, Path, Query};
use poem::{EndpointExt, IntoResponse, Request, Response, Route, get, handler, post};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use weelo_shared::admin::{self, DeadLetters};
use weelo_shared::auth::Claims;
use weelo_shared::console::{self, CityBox};
use weelo_shared::domain::{BroadcastId, Phone, Role, UserId};
use weelo_shared::error::Error;

use crate::problem::{self, error_response};
use crate::state::AppState;

const PAGE: &str = include_str!("console/index.html");
const SCRIPT: &str = include_str!("console/console.js");
const STYLE: &str = include_str!("console/console.css");

fn answer<T: Serialize + Send>(result: Result<T, Error>) -> Response {
    match result {
        Ok(body) => Json(body).into_response(),
        Err(e) => error_response(&e),
    }
}

/// The caller's claims when it is a signed-in admin: 401 without a valid token, 403 for any
/// other role.
async fn admin(state: &AppState, req: &Request) -> Result<Claims, Error> {
    let token = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| Error::rejected(401, "UNAUTHORIZED", "sign in: send Authorization: Bearer <token>"))?;
    let claims = state.auth.authenticate(token).await?;
    if claims.role != Role::Admin {
        return Err(Error::rejected(
            403,
            "ROLE_FORBIDDEN",
            format!("the ops console is not available to a {}", claims.role),
        ));
    }
    Ok(claims)
}

#[handler]
fn page() -> Html<&'static str> {
    Html(PAGE)
}

#[handler]
fn script() -> Response {
    Response::builder().content_type("text/javascript; charset=utf-8").body(SCRIPT)
}

#[handler]
fn style() -> Response {
    Response::builder().content_type("text/css; charset=utf-8").body(STYLE)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SignIn {
    phone: String,
    code: Option<String>,
}

fn phone(raw: &str) -> Result<Phone, Error> {
    Phone::parse(raw).map_err(|m| Error::field("phone", m))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CodeSent {
    sent_to: String,
    expires_in_seconds: u64,
}

/// Sends an admin's sign-in code (only to a phone `weelo-api admin add` created).
#[handler]
async fn sign_in_request(req: &Request, state: Data<&Arc<AppState>>, Json(body): Json<SignIn>) -> Response {
    answer(
        async {
            let source = crate::client_ip(req, state.config.trusted_proxy_hops);
            let sent = state.auth.request_otp(&phone(&body.phone)?, Role::Admin, source).await?;
            Ok(CodeSent { sent_to: sent.sent_to, expires_in_seconds: sent.expires_in })
        }
        .await,
    )
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SignedIn {
    access_token: String,
    expires_in_seconds: u64,
    admin_id: Uuid,
    phone: String,
}

/// Checks the code; answers an admin access token (the page keeps it for the tab's life).
#[handler]
async fn sign_in_verify(state: Data<&Arc<AppState>>, Json(body): Json<SignIn>) -> Response {
    answer(
        async {
            let code = body
                .code
                .as_deref()
                .filter(|c| !c.trim().is_empty())
                .ok_or_else(|| Error::field("code", "the 6-digit code"))?;
            let pair = state.auth.verify_otp(&phone(&body.phone)?, Role::Admin, code.trim()).await?;
            Ok(SignedIn {
                access_token: pair.access_token,
                expires_in_seconds: pair.access_expires_in,
                admin_id: pair.user.id,
                phone: pair.user.phone,
            })
        }
        .await,
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    status: Option<String>,
    /// minLat,minLng,maxLat,maxLng
    #[serde(rename = "box")]
    city: Option<String>,
}

#[handler]
async fn broadcasts(req: &Request, state: Data<&Arc<AppState>>, Query(q): Query<ListQuery>) -> Response {
    answer(
        async {
            admin(&state, req).await?;
            let city = q.city.as_deref().filter(|b| !b.is_empty()).map(CityBox::parse).transpose()?;
            console::broadcasts(&state.db, q.status.as_deref().filter(|s| !s.is_empty()), city).await
        }
        .await,
    )
}

#[handler]
async fn timeline(req: &Request, state: Data<&Arc<AppState>>, Path(id): Path<Uuid>) -> Response {
    answer(
        async {
            admin(&state, req).await?;
            console::timeline(&state.db, id).await
        }
        .await,
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Reason {
    reason: String,
}

/// An action's `{"reason": "..."}` body, read after the caller is known to be an admin (so
/// nobody else learns what the body should be); anything else is a 422 naming `reason`.
fn reason(body: &[u8]) -> Result<String, Error> {
    serde_json::from_slice::<Reason>(body)
        .map(|r| r.reason)
        .map_err(|_| Error::field("reason", "send a JSON body {\"reason\": \"why\"}"))
}

#[derive(Serialize)]
struct Done {
    ok: bool,
    changed: u64,
}

fn done(changed: u64) -> Done {
    Done { ok: true, changed }
}

#[handler]
async fn cancel(req: &Request, state: Data<&Arc<AppState>>, Path(id): Path<Uuid>, body: Vec<u8>) -> Response {
    answer(
        async {
            let me = admin(&state, req).await?;
            admin::force_cancel(&state.db, BroadcastId(id), UserId(me.sub), &reason(&body)?, (&state.config).into())
                .await?;
            Ok(done(1))
        }
        .await,
    )
}

#[handler]
async fn queues(req: &Request, state: Data<&Arc<AppState>>) -> Response {
    answer(
        async {
            admin(&state, req).await?;
            console::queues(&state.db, &state.cache).await
        }
        .await,
    )
}

#[derive(Deserialize)]
struct LetterQuery {
    queue: Option<String>,
    all: Option<bool>,
}

#[handler]
async fn dead_letters(req: &Request, state: Data<&Arc<AppState>>, Query(q): Query<LetterQuery>) -> Response {
    answer(
        async {
            admin(&state, req).await?;
            console::dead_letters(&state.db, q.queue.as_deref(), q.all.unwrap_or(false)).await
        }
        .await,
    )
}

async fn resolve(state: &AppState, req: &Request, which: DeadLetters<'_>, retry: bool, body: &[u8]) -> Response {
    answer(
        async {
            let me = admin(state, req).await?;
            Ok(done(admin::resolve_dead_letters(&state.db, which, retry, me.sub, &reason(body)?).await?))
        }
        .await,
    )
}

#[handler]
async fn retry_letter(req: &Request, state: Data<&Arc<AppState>>, Path(id): Path<i64>, body: Vec<u8>) -> Response {
    resolve(&state, req, DeadLetters::One(id), true, &body).await
}

#[handler]
async fn discard_letter(req: &Request, state: Data<&Arc<AppState>>, Path(id): Path<i64>, body: Vec<u8>) -> Response {
    resolve(&state, req, DeadLetters::One(id), false, &body).await
}

#[handler]
async fn retry_queue(req: &Request, state: Data<&Arc<AppState>>, Path(queue): Path<String>, body: Vec<u8>) -> Response {
    resolve(&state, req, DeadLetters::Queue(&queue), true, &body).await
}

#[handler]
async fn pending(req: &Request, state: Data<&Arc<AppState>>) -> Response {
    answer(
        async {
            admin(&state, req).await?;
            admin::pending_transporters(&state.db).await
        }
        .await,
    )
}

async fn verify_as(state: &AppState, req: &Request, id: Uuid, verified: bool, body: &[u8]) -> Response {
    answer(
        async {
            let me = admin(state, req).await?;
            admin::set_verified(&state.db, &id.to_string(), verified, Some(me.sub), &reason(body)?).await?;
            Ok(done(1))
        }
        .await,
    )
}

#[handler]
async fn verify(req: &Request, state: Data<&Arc<AppState>>, Path(id): Path<Uuid>, body: Vec<u8>) -> Response {
    verify_as(&state, req, id, true, &body).await
}

#[handler]
async fn unverify(req: &Request, state: Data<&Arc<AppState>>, Path(id): Path<Uuid>, body: Vec<u8>) -> Response {
    verify_as(&state, req, id, false, &body).await
}

#[derive(Deserialize)]
struct UserQuery {
    phone: Option<String>,
}

#[handler]
async fn users(req: &Request, state: Data<&Arc<AppState>>, Query(q): Query<UserQuery>) -> Response {
    answer(
        async {
            admin(&state, req).await?;
            console::users(&state.db, q.phone.as_deref().map(str::trim).filter(|p| !p.is_empty())).await
        }
        .await,
    )
}

async fn suspend_as(state: &AppState, req: &Request, id: Uuid, suspended: bool, body: &[u8]) -> Response {
    answer(
        async {
            let me = admin(state, req).await?;
            admin::set_suspended(&state.db, UserId(id), suspended, UserId(me.sub), &reason(body)?).await?;
            Ok(done(1))
        }
        .await,
    )
}

#[handler]
async fn suspend(req: &Request, state: Data<&Arc<AppState>>, Path(id): Path<Uuid>, body: Vec<u8>) -> Response {
    suspend_as(&state, req, id, true, &body).await
}

#[handler]
async fn restore(req: &Request, state: Data<&Arc<AppState>>, Path(id): Path<Uuid>, body: Vec<u8>) -> Response {
    suspend_as(&state, req, id, false, &body).await
}

#[handler]
async fn audit(req: &Request, state: Data<&Arc<AppState>>) -> Response {
    answer(
        async {
            admin(&state, req).await?;
            console::audit(&state.db, 200).await
        }
        .await,
    )
}

#[handler]
async fn map(req: &Request, state: Data<&Arc<AppState>>) -> Response {
    answer(
        async {
            admin(&state, req).await?;
            console::map(&state.db, &state.cache, state.config.radius_steps_km.clone()).await
        }
        .await,
    )
}

#[handler]
fn live() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// The ops listener's application.
pub fn app(state: Arc<AppState>) -> impl poem::Endpoint {
    let route = Route::new()
        .at("/", get(page))
        .at("/console.js", get(script))
        .at("/console.css", get(style))
        .at("/health/live", get(live))
        .at("/health/ready", get(crate::ready_in_detail))
        .at("/api/sign-in/request", post(sign_in_request))
        .at("/api/sign-in/verify", post(sign_in_verify))
        .at("/api/broadcasts", get(broadcasts))
        .at("/api/broadcasts/:id", get(timeline))
        .at("/api/broadcasts/:id/cancel", post(cancel))
        .at("/api/queues", get(queues))
        .at("/api/queues/:queue/retry-all", post(retry_queue))
        .at("/api/dead-letters", get(dead_letters))
        .at("/api/dead-letters/:id/retry", post(retry_letter))
        .at("/api/dead-letters/:id/discard", post(discard_letter))
        .at("/api/transporters/pending", get(pending))
        .at("/api/transporters/:id/verify", post(verify))
        .at("/api/transporters/:id/unverify", post(unverify))
        .at("/api/users", get(users))
        .at("/api/users/:id/suspend", post(suspend))
        .at("/api/users/:id/restore", post(restore))
        .at("/api/audit", get(audit))
        .at("/api/map", get(map));
    crate::with_docs_and_metrics(route)
        .data(state)
        .around(crate::body_limit)
        .around(weelo_shared::ops::observe)
        .catch_all_error(problem::from_poem_error)
        .map_to_response()
}

/// The routes that need an admin, for the role tests (method, path with ids filled in).
pub const ADMIN_ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/broadcasts"),
    ("GET", "/api/broadcasts/{id}"),
    ("POST", "/api/broadcasts/{id}/cancel"),
    ("GET", "/api/queues"),
    ("POST", "/api/queues/notify/retry-all"),
    ("GET", "/api/dead-letters"),
    ("POST", "/api/dead-letters/1/retry"),
    ("POST", "/api/dead-letters/1/discard"),
    ("GET", "/api/transporters/pending"),
    ("POST", "/api/transporters/{id}/verify"),
    ("POST", "/api/transporters/{id}/unverify"),
    ("GET", "/api/users"),
    ("POST", "/api/users/{id}/suspend"),
    ("POST", "/api/users/{id}/restore"),
    ("GET", "/api/audit"),
    ("GET", "/api/map"),
];
