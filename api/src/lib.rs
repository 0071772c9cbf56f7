//! weelo-api: the HTTP API (poem + poem-openapi). Handlers are thin; the work lives in
//! `weelo_shared`'s services.

pub mod console;
pub mod problem;
pub mod routes;
pub mod socket;
pub mod state;
pub mod text;

use std::net::SocketAddr;
use std::sync::Arc;

use poem::listener::{Acceptor, Listener, TcpListener};
use poem::{EndpointExt, Route, Server, get, handler, web::Data};
use poem_openapi::OpenApiService;
use weelo_shared::auth::{MemorySms, SmsSender};
use weelo_shared::cache::Cache;
use weelo_shared::config::{Config, SmsSenderKind};
use weelo_shared::shutdown::Shutdown;
use weelo_shared::{db, ops};

use crate::routes::{
    auth::AuthApi, broadcasts::BroadcastApi, fleet::FleetApi, holds::HoldApi, me::MeApi, presence::PresenceApi,
    trips::TripApi,
};
use crate::state::AppState;

pub type Apis = (AuthApi, MeApi, BroadcastApi, FleetApi, PresenceApi, TripApi, HoldApi);

/// The OpenAPI service; building it needs no database or Redis.
pub fn api_service() -> OpenApiService<Apis, ()> {
    OpenApiService::new(
        (AuthApi, MeApi, BroadcastApi, FleetApi, PresenceApi, TripApi, HoldApi),
        "Weelo dispatch API",
        env!("CARGO_PKG_VERSION"),
    )
    .description(
        "Truck dispatch: customers broadcast searches for trucks, transporters accept them. \
             Errors are RFC 7807 `application/problem+json` with a stable `code`.",
    )
    .server("/")
}

/// The spec as JSON with sorted keys (what `just openapi` writes to `openapi/openapi.json`).
pub fn spec_json() -> String {
    let raw = api_service().spec();
    let value: serde_json::Value = serde_json::from_str(&raw).expect("poem-openapi emits valid JSON");
    let mut out = serde_json::to_string_pretty(&value).expect("serialise spec");
    out.push('\n');
    out
}

#[handler]
fn live() -> poem::web::Json<serde_json::Value> {
    poem::web::Json(serde_json::json!({ "status": "ok" }))
}

#[handler]
async fn ready(state: Data<&Arc<AppState>>) -> poem::Response {
    let r = ops::readiness(&state.db, &state.cache).await;
    if state.config.public_ops_endpoints { ops::readiness_response(r) } else { ops::public_readiness_response(r) }
}

/// Readiness with its details, on the ops listener.
#[handler]
pub async fn ready_in_detail(state: Data<&Arc<AppState>>) -> poem::Response {
    ops::readiness_response(ops::readiness(&state.db, &state.cache).await)
}

#[handler]
pub fn metrics() -> poem::Response {
    ops::metrics_response()
}

/// The methods each documented path allows, from the spec (for the `Allow` header of a 405).
fn allowed_methods(path: &str) -> Option<String> {
    static TABLE: std::sync::OnceLock<Vec<(Vec<String>, String)>> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let spec: serde_json::Value = serde_json::from_str(&api_service().spec()).unwrap_or_default();
        let paths = spec["paths"].as_object().cloned().unwrap_or_default();
        paths
            .into_iter()
            .map(|(template, item)| {
                let methods: Vec<String> =
                    item.as_object().map(|m| m.keys().map(|k| k.to_uppercase()).collect()).unwrap_or_default();
                (template.split('/').map(str::to_owned).collect(), methods.join(", "))
            })
            .collect()
    });
    let segments: Vec<&str> = path.split('/').collect();
    table
        .iter()
        .find(|(template, _)| {
            template.len() == segments.len()
                && template.iter().zip(&segments).all(|(t, s)| t == s || (t.starts_with('{') && t.ends_with('}')))
        })
        .map(|(_, methods)| methods.clone())
}

/// RFC 9110: a 405 names the methods that are allowed.
async fn allow_header<E: poem::Endpoint>(next: E, req: poem::Request) -> poem::Result<poem::Response> {
    let path = req.uri().path().to_owned();
    let mut resp = next.call(req).await.map(poem::IntoResponse::into_response)?;
    if resp.status() == poem::http::StatusCode::METHOD_NOT_ALLOWED
        && let Some(allow) = allowed_methods(&path)
        && let Ok(value) = poem::http::HeaderValue::from_str(&allow)
    {
        resp.headers_mut().insert("allow", value);
    }
    Ok(resp)
}

/// The client's address: the connection's peer, or with `hops` proxies in front (each appending
/// to X-Forwarded-For; the ALB is one), the address the outermost trusted proxy saw. What a
/// client writes into the header itself sits further left and is never used.
pub fn client_ip(req: &poem::Request, hops: usize) -> Option<std::net::IpAddr> {
    let peer = req.remote_addr().as_socket_addr().map(|a| a.ip());
    if hops == 0 {
        return peer;
    }
    let forwarded: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    forwarded.iter().rev().nth(hops - 1).and_then(|v| v.parse().ok()).or(peer)
}

/// The largest request body either listener reads (every body here is a small JSON object).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Refuses a body over `MAX_BODY_BYTES` with a 413 problem before reading it when its
/// Content-Length says so, and reads a body without one (chunked) only up to the limit, so no
/// request can make the API hold more than that in memory.
pub async fn body_limit<E: poem::Endpoint>(next: E, mut req: poem::Request) -> poem::Result<poem::Response> {
    use weelo_shared::error::Error;
    let too_large = || {
        let detail = format!("a request body may be at most {MAX_BODY_BYTES} bytes");
        problem::error_response(&Error::rejected(413, "PAYLOAD_TOO_LARGE", detail))
    };
    let declared = req.headers().get("content-length").and_then(|v| v.to_str().ok()).map(|v| v.trim().parse::<u64>());
    match declared {
        Some(Ok(len)) if len > MAX_BODY_BYTES as u64 => return Ok(too_large()),
        Some(Ok(_)) => {}
        Some(Err(_)) => {
            let e = Error::rejected(400, "BAD_REQUEST", "Content-Length is not a number");
            return Ok(problem::error_response(&e));
        }
        None if req.headers().contains_key("transfer-encoding") => {
            match req.take_body().into_bytes_limit(MAX_BODY_BYTES).await {
                Ok(body) => req.set_body(body),
                Err(_) => return Ok(too_large()),
            }
        }
        None => {}
    }
    next.call(req).await.map(poem::IntoResponse::into_response)
}

/// The whole HTTP application over `state`.
pub fn app(state: Arc<AppState>, sockets: socket::SocketEndpoint) -> impl poem::Endpoint {
    let public_ops = state.config.public_ops_endpoints;
    let service = api_service();
    let route = Route::new()
        .nest("/", service)
        .nest_no_strip("/socket.io", sockets)
        .at("/health/live", get(live))
        .at("/health/ready", get(ready));
    // In production the metrics and the docs are on the ops listener only (console::app).
    let route = if public_ops { with_docs_and_metrics(route) } else { route };
    route
        .catch_all_error(problem::from_poem_error)
        .data(state)
        .around(allow_header)
        .around(body_limit)
        .around(ops::observe)
        .catch_all_error(problem::from_poem_error)
        .map_to_response()
}

/// `/docs`, `/openapi.json` and `/metrics` added to `route`.
pub fn with_docs_and_metrics(route: Route) -> Route {
    let service = api_service();
    route.nest("/docs", service.swagger_ui()).at("/openapi.json", service.spec_endpoint()).at("/metrics", get(metrics))
}

/// A running API server.
pub struct Running {
    pub addr: SocketAddr,
    /// The private ops listener's address (the ops console), when `WEELO_OPS_ADDR` is set.
    pub ops_addr: Option<SocketAddr>,
    pub state: Arc<AppState>,
    pub task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Connects, migrates (unless disabled), binds and serves until `shutdown` fires.
pub async fn start(config: Config, sms: Option<Arc<dyn SmsSender>>, shutdown: Shutdown) -> anyhow::Result<Running> {
    weelo_shared::telemetry::metrics();
    config.require_api()?;
    let pool = db::connect(&config).await?;
    if config.migrate_on_start {
        db::migrate(&pool).await?;
        tracing::info!("database migrated");
    }
    let cache = Cache::new(&config)?;
    cache.refuse_cluster_mode().await?;
    let sms: Arc<dyn SmsSender> = match (sms, config.sms_sender) {
        (Some(s), _) => s,
        (None, SmsSenderKind::Console) => Arc::new(weelo_shared::auth::sms::ConsoleSms),
        (None, SmsSenderKind::Memory) => Arc::new(MemorySms::default()),
        (None, SmsSenderKind::Webhook) => Arc::new(weelo_shared::auth::sms::WebhookSms::new(
            config.sms_webhook_url.as_ref().map(|u| u.expose()).unwrap_or_default(),
            config.sms_webhook_token.clone(),
        )?),
    };
    let acceptor = TcpListener::bind(config.http_addr)
        .into_acceptor()
        .await
        .map_err(|e| anyhow::anyhow!("WEELO_HTTP_ADDR {}: cannot listen: {e}", config.http_addr))?;
    let addr = acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr().copied())
        .ok_or_else(|| anyhow::anyhow!("listener has no TCP address"))?;
    let ops_acceptor = match config.ops_addr {
        Some(at) => Some(
            TcpListener::bind(at)
                .into_acceptor()
                .await
                .map_err(|e| anyhow::anyhow!("WEELO_OPS_ADDR {at}: cannot listen: {e}"))?,
        ),
        None => {
            tracing::info!("WEELO_OPS_ADDR is not set: no ops console on this instance");
            None
        }
    };
    let ops_addr = ops_acceptor.as_ref().and_then(|a| a.local_addr().first().and_then(|a| a.as_socket_addr().copied()));
    let grace = config.shutdown_timeout;
    let state = AppState::new(config, pool, cache, sms);
    let (sockets, io) = socket::build(state.clone());
    let fan_out = tokio::spawn(socket::fan_out(io.clone(), state.clone(), shutdown.clone()));
    let endpoint = app(state.clone(), sockets);
    let ops_task = ops_acceptor.map(|acceptor| {
        let console = console::app(state.clone());
        let stop = shutdown.clone();
        tokio::spawn(async move {
            Server::new_with_acceptor(acceptor)
                .run_with_graceful_shutdown(console, async move { stop.wait().await }, Some(grace))
                .await
        })
    });
    let task = tokio::spawn(async move {
        let http_shutdown = shutdown.clone();
        let served = Server::new_with_acceptor(acceptor)
            .run_with_graceful_shutdown(endpoint, async move { http_shutdown.wait().await }, Some(grace))
            .await
            .map_err(|e| anyhow::anyhow!("HTTP server failed: {e}"));
        // Upgraded sockets are not the HTTP server's: close them (clients reconnect elsewhere).
        io.close().await;
        let _ = fan_out.await;
        if let Some(ops) = ops_task {
            ops.await?.map_err(|e| anyhow::anyhow!("ops listener failed: {e}"))?;
        }
        served
    });
    tracing::info!(%addr, "weelo-api listening");
    if let Some(ops) = ops_addr {
        tracing::info!(console = %format!("http://{ops}/"), "ops console listening (private)");
    }
    Ok(Running { addr, ops_addr, state, task })
}
