//! weelo-worker: runs every durable job on apalis-redis (radius steps, expiry, cleanup,
//! notifications, push, rebroadcast, the sweep), relays the outbox into jobs, and serves
//! live/ready/metrics on its own port. Handlers are thin: they re-read the database and call
//! one function.

pub mod drain;
pub mod expiry;
pub mod jobs;
pub mod matching;
pub mod promote;
pub mod relay;
pub mod runtime;
pub mod sweep;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use apalis::prelude::*;
use apalis_redis::ConnectionManager;
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::web::Data as PoemData;
use poem::{EndpointExt, Route, Server, get, handler};
use sqlx::PgPool;
use weelo_shared::cache::Cache;
use weelo_shared::config::Config;
use weelo_shared::push::Fcm;
use weelo_shared::shutdown::Shutdown;
use weelo_shared::{db, ops};

/// What job handlers can reach.
#[derive(Clone)]
pub struct WorkerState {
    /// This process, for logs and the sweep record.
    pub name: String,
    pub config: Arc<Config>,
    pub db: PgPool,
    pub cache: Cache,
    /// apalis' own Redis connection, for pushing follow-up jobs.
    pub jobs: ConnectionManager,
    pub fcm: Option<Arc<Fcm>>,
}

#[handler]
fn live() -> poem::web::Json<serde_json::Value> {
    poem::web::Json(serde_json::json!({ "status": "ok" }))
}

#[handler]
async fn ready(state: PoemData<&WorkerState>) -> poem::Response {
    ops::readiness_response(ops::readiness(&state.db, &state.cache).await)
}

#[handler]
fn metrics() -> poem::Response {
    ops::metrics_response()
}

/// A worker name unique per process (apalis refuses a name reused within minutes).
pub(crate) fn worker_name(queue: &str) -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "local".into());
    format!("{queue}@{host}:{}:{}", std::process::id(), ulid::Ulid::new())
}

impl WorkerState {
    /// Connects to PostgreSQL (applying migrations), Redis and the job queues.
    pub async fn connect(config: Config) -> anyhow::Result<Self> {
        let pool = db::connect(&config).await?;
        let cache = Cache::new(&config)?;
        let conn = jobs::connect(config.redis_url.expose()).await?;
        let fcm = match &config.fcm_credentials {
            Some(creds) => Some(Arc::new(Fcm::new(creds.expose(), &config.fcm_base_url)?)),
            None => {
                tracing::warn!("WEELO_FCM_CREDENTIALS is not set: push notifications are skipped");
                None
            }
        };
        let name = worker_name("worker");
        Ok(WorkerState { name, config: Arc::new(config), db: pool, cache, jobs: conn, fcm })
    }
}

pub struct Running {
    pub addr: SocketAddr,
    pub task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Connects, starts the job monitor, the outbox relay, the sweep ticker and the ops server, and
/// runs until `shutdown` fires. The task ends with an error when any job worker dies, so the
/// process exits non-zero.
pub async fn start(config: Config, shutdown: Shutdown) -> anyhow::Result<Running> {
    weelo_shared::telemetry::metrics();
    let state = WorkerState::connect(config).await?;

    let acceptor = TcpListener::bind(state.config.worker_http_addr)
        .into_acceptor()
        .await
        .map_err(|e| anyhow::anyhow!("WEELO_WORKER_HTTP_ADDR {}: cannot listen: {e}", state.config.worker_http_addr))?;
    let addr = acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr().copied())
        .ok_or_else(|| anyhow::anyhow!("listener has no TCP address"))?;
    let ops_app = Route::new()
        .at("/health/live", get(live))
        .at("/health/ready", get(ready))
        .at("/metrics", get(metrics))
        .data(state.clone());

    let failed = Arc::new(AtomicBool::new(false));
    let failed_flag = failed.clone();
    let monitor =
        Monitor::new().shutdown_timeout(state.config.shutdown_timeout).on_event(move |ctx, event| match event {
            Event::Error(e) => tracing::debug!(worker = %ctx.name(), error = %e, "job error"),
            Event::Exit if !ctx.is_shutting_down() => {
                tracing::error!(worker = %ctx.name(), "job worker exited unexpectedly");
                failed_flag.store(true, Ordering::SeqCst);
            }
            _ => {}
        });
    // A worker whose queue lost its registration (Redis restarted without its data, keys
    // deleted) fails its next poll: start it again under a new name rather than let that queue
    // stop while the process looks healthy.
    let monitor = monitor.should_restart(|ctx, error| {
        ::metrics::counter!("job_worker_restarts_total").increment(1);
        tracing::warn!(worker = %ctx.name(), error = %error, "job worker failed; restarting it");
        true
    });
    let monitor = jobs::register_all(monitor, &state);

    let grace = state.config.shutdown_timeout;
    let relay = tokio::spawn(relay::run(state.clone(), shutdown.clone()));
    let ticks = tokio::spawn(sweep::tick_loop(state.clone(), shutdown.clone()));
    let promoter = tokio::spawn(promote::run(
        state.jobs.clone(),
        state.cache.keys.clone(),
        state.config.job_poll_interval,
        shutdown.clone(),
    ));
    let task = tokio::spawn(async move {
        let http_shutdown = shutdown.clone();
        let http = Server::new_with_acceptor(acceptor).run_with_graceful_shutdown(
            ops_app,
            async move { http_shutdown.wait().await },
            Some(grace),
        );
        let jobs_shutdown = shutdown.clone();
        let jobs = monitor.run_with_signal(async move {
            jobs_shutdown.wait().await;
            Ok(())
        });
        let (http, jobs) = tokio::join!(http, jobs);
        let _ = tokio::join!(relay, ticks, promoter);
        http.map_err(|e| anyhow::anyhow!("ops server failed: {e}"))?;
        jobs.map_err(|e| anyhow::anyhow!("job monitor failed: {e}"))?;
        if failed.load(Ordering::SeqCst) {
            anyhow::bail!("a job worker exited unexpectedly");
        }
        Ok(())
    });
    tracing::info!(%addr, "weelo-worker running");
    Ok(Running { addr, task })
}
