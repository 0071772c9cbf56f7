//! weelo-worker: runs every durable job on apalis-redis (radius steps, expiry, cleanup,
//! notifications, push, rebroadcast, the sweep), relays the outbox into jobs, and serves
//! live/ready/metrics on its own port. Handlers are thin: they re-read the database and call
//! one function.

pub mod dead_letters;
pub mod drain;
pub mod expiry;
pub mod jobs;
pub mod matching;
pub mod promote;
pub mod relay;
pub mod runtime;
pub mod stats;
pub mod sweep;
pub mod wake;
pub mod watchdog;

use std::net::SocketAddr;
use std::sync::Arc;

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
    /// Watches every queue's progress (see `watchdog`).
    pub watchdog: Arc<watchdog::Watchdog>,
    /// Wakes each queue's consumer when a task is pushed (see `wake`).
    pub wakers: Arc<wake::Wakers>,
}

#[handler]
fn live() -> poem::web::Json<serde_json::Value> {
    poem::web::Json(serde_json::json!({ "status": "ok" }))
}

#[handler]
async fn ready(state: PoemData<&WorkerState>) -> poem::Response {
    ops::readiness_response(readiness(&state).await)
}

/// Ready when PostgreSQL and Redis answer and no job queue is stalled (the watchdog names it).
pub async fn readiness(state: &WorkerState) -> ops::Readiness {
    let mut r = ops::readiness(&state.db, &state.cache).await;
    let stalled = state.watchdog.stalled_queues();
    if stalled.is_empty() {
        r.queues = Some("ok".to_owned());
    } else {
        r.status = "unavailable";
        r.queues = Some(format!("stalled: {}", stalled.join(", ")));
    }
    r
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
        cache.refuse_cluster_mode().await?;
        let conn = jobs::connect(config.redis_url.expose()).await?;
        let fcm = match &config.fcm_credentials {
            Some(creds) => Some(Arc::new(Fcm::new(creds.expose(), &config.fcm_base_url)?)),
            None => {
                tracing::warn!("WEELO_FCM_CREDENTIALS is not set: push notifications are skipped");
                None
            }
        };
        let name = worker_name("worker");
        let watchdog = watchdog::Watchdog::new(config.queue_stall);
        let wakers = wake::Wakers::new(&cache.keys);
        Ok(WorkerState { name, config: Arc::new(config), db: pool, cache, jobs: conn, fcm, watchdog, wakers })
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

    let wake = tokio::spawn(state.wakers.clone().run(state.config.redis_url.expose().to_owned(), shutdown.clone()));
    let consumers = jobs::spawn_all(&state, &shutdown);
    let watchdog =
        tokio::spawn(state.watchdog.clone().run(state.jobs.clone(), state.cache.keys.clone(), shutdown.clone()));

    let grace = state.config.shutdown_timeout;
    let relay = tokio::spawn(relay::run(state.clone(), shutdown.clone()));
    let ticks = tokio::spawn(sweep::tick_loop(state.clone(), shutdown.clone()));
    let snapshots = tokio::spawn(stats::publish(state.clone(), shutdown.clone()));
    let retries = tokio::spawn(dead_letters::run(state.clone(), shutdown.clone()));
    let promoter = tokio::spawn(promote::run(state.jobs.clone(), state.cache.keys.clone(), shutdown.clone()));
    let task = tokio::spawn(async move {
        let http_shutdown = shutdown.clone();
        let http = Server::new_with_acceptor(acceptor).run_with_graceful_shutdown(
            ops_app,
            async move { http_shutdown.wait().await },
            Some(grace),
        );
        // On shutdown each consumer stops fetching and finishes its in-flight tasks, within the
        // grace period; what is left unstarted goes back to the queue for another worker.
        let jobs = async {
            let all = futures::future::join_all(consumers);
            if tokio::time::timeout(grace, all).await.is_err() {
                tracing::warn!("job consumers did not finish within the shutdown grace period");
            }
        };
        let (http, ()) = tokio::join!(http, jobs);
        let _ = tokio::join!(relay, ticks, promoter, watchdog, snapshots, retries, wake);
        http.map_err(|e| anyhow::anyhow!("ops server failed: {e}"))?;
        Ok(())
    });
    tracing::info!(%addr, "weelo-worker running");
    Ok(Running { addr, task })
}
