//! The periodic sweep. Every worker process ticks on the same wall-clock boundaries and pushes
//! that tick's job with the idempotency key `sweep:{tick}`, so each tick runs once however many
//! workers there are (apalis-cron would fire on every replica; see the README). The sweep
//! expires what a lost expiry job missed, re-dispatches stuck outbox rows, prunes old records,
//! drops stale presence, vacuums finished jobs, and publishes queue depth.

use std::time::Duration;

use anyhow::Context;
use apalis_core::backend::Vacuum;
use apalis_redis::ConnectionManager;
use uuid::Uuid;
use weelo_shared::auth::AuthService;
use weelo_shared::cache::Keys;
use weelo_shared::config::LogFormat;
use weelo_shared::lifecycle::trips;
use weelo_shared::shutdown::Shutdown;
use weelo_shared::{idempotency, presence};

use crate::jobs::{self, Schedule, Sweep};
use crate::{WorkerState, expiry, relay};

/// Pushes a sweep job at every tick boundary until shutdown.
pub async fn tick_loop(state: WorkerState, shutdown: Shutdown) {
    let every = state.config.sweep_interval.as_secs().max(1) as i64;
    loop {
        let now_ms = chrono::Utc::now().timestamp_millis();
        let next_tick = now_ms.div_euclid(every * 1000) + 1;
        let wait = Duration::from_millis((next_tick * every * 1000 - now_ms) as u64);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.wait() => return,
        }
        let key = format!("sweep:{next_tick}");
        let job = Sweep { tick: next_tick };
        if let Err(e) = state.enqueue(job, Schedule::once(&key)).await {
            tracing::warn!(error = %format!("{e:#}"), "could not push the sweep tick");
        }
    }
}

/// One sweep tick (the `sweep` job runs it).
pub async fn sweep(state: &WorkerState, tick: i64) -> anyhow::Result<()> {
    let overdue: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM broadcasts WHERE broadcast_is_open(status)
         AND expires_at <= now() - interval '2 seconds' ORDER BY expires_at LIMIT 1000",
    )
    .fetch_all(&state.db)
    .await?;
    let mut expired = 0;
    for id in &overdue {
        if expiry::expire_now(state, *id).await? {
            expired += 1;
        }
    }
    if expired > 0 {
        metrics::counter!("sweep_expired_total").increment(expired);
        tracing::warn!(expired, "sweep expired broadcasts whose expiry job was lost");
    }
    let trips = overdue_trips(state).await?;
    let redispatched = relay::dispatch_pending(state).await?;
    let pruned = idempotency::prune(&state.db, 24).await?
        + AuthService::prune(&state.db, Duration::from_secs(24 * 3600)).await?
        + sqlx::query("DELETE FROM outbox WHERE dispatched_at < now() - make_interval(secs => $1)")
            .bind(relay::KEEP_DISPATCHED.as_secs_f64())
            .execute(&state.db)
            .await?
            .rows_affected();
    let stale = presence::sweep_stale(&state.cache).await?;
    let vacuumed = vacuum_all(state.jobs.clone(), &state.cache.keys).await;
    publish_queue_depth(state.jobs.clone(), &state.cache.keys, state.config.log_format == LogFormat::Json).await;
    sqlx::query(
        "INSERT INTO sweep_runs (tick, expired, worker) VALUES ($1, $2, $3)
         ON CONFLICT (tick) DO UPDATE SET runs = sweep_runs.runs + 1",
    )
    .bind(tick)
    .bind(expired as i32)
    .bind(&state.name)
    .execute(&state.db)
    .await?;
    tracing::info!(tick, expired, trips, redispatched, pruned, stale, vacuumed, "sweep");
    Ok(())
}

/// Trip timers a lost job missed: a driver's response window or a restaff window that passed
/// more than two seconds ago is closed here, so no vehicle or driver stays held.
async fn overdue_trips(state: &WorkerState) -> anyhow::Result<usize> {
    let overdue: Vec<(Uuid, bool)> = sqlx::query_as(
        "SELECT id, status = 'assigned' FROM trips
         WHERE (status = 'assigned' AND respond_by <= now() - interval '2 seconds')
            OR (status IN ('driver_declined', 'driver_timeout') AND restaff_by <= now() - interval '2 seconds')
         ORDER BY id LIMIT 1000",
    )
    .fetch_all(&state.db)
    .await?;
    let windows = (&*state.config).into();
    let mut closed = 0;
    for (trip, waiting_for_driver) in overdue {
        let mut tx = state.db.begin().await?;
        let done = if waiting_for_driver {
            trips::response_timeout(&mut tx, trip, windows).await
        } else {
            trips::restaff_timeout(&mut tx, trip, windows).await
        }
        .context("closing an overdue trip window")?;
        tx.commit().await?;
        closed += usize::from(done);
    }
    if closed > 0 {
        metrics::counter!("sweep_trip_windows_total").increment(closed as u64);
        tracing::warn!(closed, "sweep closed trip windows whose job was lost");
    }
    Ok(closed)
}

/// Deletes finished tasks older than an hour from every queue (apalis-redis keeps them
/// otherwise, and Redis memory would grow without bound).
async fn vacuum_all(conn: ConnectionManager, keys: &Keys) -> usize {
    let mut total = 0;
    for name in jobs::QUEUES.iter().copied() {
        // Vacuuming works on the queue's keys only; the payload type plays no part.
        let mut s = apalis_redis::RedisStorage::<serde_json::Value>::new(conn.clone())
            .with_config(jobs::queue_config(keys, name));
        match s.vacuum_before(Duration::from_secs(3600)).await {
            Ok(n) => total += n,
            Err(e) => tracing::warn!(queue = name, error = %e, "vacuum failed"),
        }
    }
    total
}

/// Pending + scheduled tasks per queue: a Prometheus gauge, and a CloudWatch EMF log line the
/// worker autoscaling policy reads (namespace Weelo, metric QueueDepth).
pub async fn publish_queue_depth(mut conn: ConnectionManager, keys: &Keys, emf_to_stdout: bool) -> u64 {
    let mut pending_total = 0;
    for name in jobs::QUEUES.iter().copied() {
        let cfg = jobs::queue_config(keys, name);
        let pending: u64 = redis::cmd("LLEN").arg(cfg.active_jobs_list()).query_async(&mut conn).await.unwrap_or(0);
        let scheduled: u64 =
            redis::cmd("ZCARD").arg(cfg.scheduled_jobs_set()).query_async(&mut conn).await.unwrap_or(0);
        metrics::gauge!("queue_depth", "queue" => name, "state" => "pending").set(pending as f64);
        metrics::gauge!("queue_depth", "queue" => name, "state" => "scheduled").set(scheduled as f64);
        pending_total += pending;
    }
    let pending = pending_total;
    let emf = serde_json::json!({
        "_aws": { "Timestamp": chrono::Utc::now().timestamp_millis(), "CloudWatchMetrics": [{
            "Namespace": "Weelo", "Dimensions": [["Service"]], "Metrics": [{ "Name": "QueueDepth", "Unit": "Count" }] }] },
        "Service": "worker",
        "QueueDepth": pending,
    });
    if emf_to_stdout {
        // EMF must be a log line of its own; CloudWatch extracts the metric from it.
        use std::io::Write;
        let _ = writeln!(std::io::stdout().lock(), "{emf}");
    }
    pending
}
