//! Operations endpoints shared by both binaries: liveness, readiness (PostgreSQL and Redis
//! answer), Prometheus metrics, and the middleware that gives every request an id and a
//! latency measurement.

use std::time::{Duration, Instant};

use poem::http::{HeaderValue, StatusCode};
use poem::web::Json;
use poem::{Endpoint, IntoResponse, Request, Response};
use serde::Serialize;
use sqlx::PgPool;
use tracing::Instrument;

use crate::cache::Cache;

#[derive(Debug, Serialize, Clone, PartialEq, Eq)]
pub struct Readiness {
    pub status: &'static str,
    pub postgres: String,
    pub redis: String,
    /// The worker's job queues: "ok", or "stalled: <queue>, ..." (absent on the API).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queues: Option<String>,
}

/// Checks both backing services with a short timeout each.
pub async fn readiness(db: &PgPool, cache: &Cache) -> Readiness {
    let timeout = Duration::from_secs(2);
    let pg = tokio::time::timeout(timeout, sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(db));
    let redis = tokio::time::timeout(timeout, async {
        let mut conn = cache.conn().await?;
        let pong: String = redis::cmd("PING").query_async(&mut *conn).await?;
        anyhow::Ok(pong)
    });
    let (pg, redis) = tokio::join!(pg, redis);
    let postgres = match pg {
        Ok(Ok(_)) => "ok".to_owned(),
        Ok(Err(e)) => format!("error: {e}"),
        Err(_) => "error: timed out".to_owned(),
    };
    let redis = match redis {
        Ok(Ok(_)) => "ok".to_owned(),
        Ok(Err(e)) => format!("error: {e}"),
        Err(_) => "error: timed out".to_owned(),
    };
    let status = if postgres == "ok" && redis == "ok" { "ok" } else { "unavailable" };
    if status != "ok" {
        tracing::warn!(%postgres, %redis, "not ready");
    }
    Readiness { status, postgres, redis, queues: None }
}

pub fn readiness_response(r: Readiness) -> Response {
    let code = if r.status == "ok" { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    Json(r).with_status(code).into_response()
}

/// Readiness for the internet: ok or not, without the dependencies' error texts (which name
/// hosts and ports); the details are logged and on the ops listener.
pub fn public_readiness_response(r: Readiness) -> Response {
    let code = if r.status == "ok" { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    Json(serde_json::json!({ "status": r.status })).with_status(code).into_response()
}

pub fn metrics_response() -> Response {
    Response::builder().content_type("text/plain; version=0.0.4").body(crate::telemetry::metrics().render())
}

/// Turns a concrete path into a low-cardinality route label (ids and numbers become `{id}`).
pub fn route_label(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            if uuid::Uuid::parse_str(seg).is_ok() || (!seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit())) {
                "{id}"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Request id (from `x-request-id` or new), a span carrying it, and the request count and
/// latency histogram per route.
pub async fn observe<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        // Bounded and plain, since it is echoed, logged and stored with outbox rows.
        .filter(|v| {
            !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        })
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let span = tracing::info_span!("request", request_id = %request_id, %method, %path);
    let started = Instant::now();
    let result = crate::telemetry::REQUEST_ID.scope(request_id.clone(), next.call(req).instrument(span.clone())).await;
    let mut resp = match result {
        Ok(r) => r.into_response(),
        Err(e) => e.into_response(),
    };
    let status = resp.status().as_u16();
    // A path no route matched is one label, whatever it was: random paths make no new series.
    let route = if status == 404 || status == 405 { "unmatched".to_owned() } else { route_label(&path) };
    let elapsed = started.elapsed();
    let labels = [("method", method.clone()), ("route", route), ("status", status.to_string())];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels[..2]).record(elapsed.as_secs_f64());
    span.in_scope(|| {
        if status >= 500 {
            tracing::error!(status, elapsed_ms = elapsed.as_millis() as u64, "request failed");
        } else {
            tracing::info!(status, elapsed_ms = elapsed.as_millis() as u64, "request");
        }
    });
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    Ok(resp)
}
