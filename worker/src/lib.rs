//! weelo-worker: runs every durable job on apalis-redis, and serves live/ready/metrics on its
//! own port. Job handlers are thin: they re-read the database and call one service function.

pub mod housekeeping;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use apalis::prelude::*;
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::web::Data as PoemData;
use poem::{EndpointExt, Route, Server, get, handler};
use sqlx::PgPool;
use weelo_shared::cache::Cache;
use weelo_shared::config::Config;
use weelo_shared::jobs::{self, Job, PruneAuth};
use weelo_shared::shutdown::Shutdown;
use weelo_shared::{db, ops};

/// What job handlers can reach.
#[derive(Clone)]
pub struct WorkerState {
    pub db: PgPool,
    pub cache: Cache,
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
fn worker_name(queue: &str) -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "local".into());
    format!(
        "{queue}@{host}:{}:{}",
        std::process::id(),
        ulid::Ulid::new()
    )
}

pub struct Running {
    pub addr: SocketAddr,
    pub task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Connects, starts the job monitor and the ops server, and runs until `shutdown` fires.
/// The task ends with an error when any job worker dies, so the process exits non-zero.
pub async fn start(config: Config, shutdown: Shutdown) -> anyhow::Result<Running> {
    weelo_shared::telemetry::metrics();
    let pool = db::connect(&config).await?;
    let cache = Cache::new(&config)?;
    let conn = jobs::connect(config.redis_url.expose()).await?;
    let state = WorkerState {
        db: pool,
        cache: cache.clone(),
    };

    let acceptor = TcpListener::bind(config.worker_http_addr)
        .into_acceptor()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "WEELO_WORKER_HTTP_ADDR {}: cannot listen: {e}",
                config.worker_http_addr
            )
        })?;
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

    let poll = config.job_poll_interval;
    let keys = cache.keys.clone();
    let failed = Arc::new(AtomicBool::new(false));
    let failed_flag = failed.clone();
    let prune_state = state.clone();
    let prune_conn = conn.clone();
    let prune_keys = keys.clone();
    let monitor = Monitor::new()
        .shutdown_timeout(config.shutdown_timeout)
        .on_event(move |ctx, event| match event {
            Event::Error(e) => tracing::warn!(worker = %ctx.name(), error = %e, "job failed"),
            Event::Exit if !ctx.is_shutting_down() => {
                tracing::error!(worker = %ctx.name(), "job worker exited unexpectedly");
                failed_flag.store(true, Ordering::SeqCst);
            }
            _ => {}
        })
        .register(move |_| {
            WorkerBuilder::new(worker_name(PruneAuth::QUEUE))
                .backend(
                    jobs::storage::<PruneAuth>(prune_conn.clone(), &prune_keys)
                        .poll_with_interval(poll),
                )
                .data(prune_state.clone())
                .concurrency(PruneAuth::CONCURRENCY)
                .retry(RetryPolicy::retries(PruneAuth::RETRIES))
                .enable_tracing()
                .build(housekeeping::prune_auth)
        });

    // Housekeeping once an hour, deduplicated across worker replicas by its idempotency key.
    housekeeping::schedule_prune(conn.clone(), &keys).await;

    let grace = config.shutdown_timeout;
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
