//! The periodic sweep. Every worker process ticks on the same wall-clock boundaries and pushes
//! that tick's job with the idempotency key `sweep:{tick}`, so each tick runs once however many
//! workers there are (apalis-cron would fire on every replica; see the README). The sweep
//! expires what a lost expiry job missed, re-dispatches stuck outbox rows, prunes old records,
//! drops stale presence, vacuums finished jobs, and publishes queue depth.

use std::time::Duration;

use anyhow::Context;
use apalis_redis::ConnectionManager;
use uuid::Uuid;
use weelo_shared::auth::AuthService;
use weelo_shared::cache::Keys;
use weelo_shared::config::LogFormat;
use weelo_shared::lifecycle::{holds, trips};
use weelo_shared::shutdown::Shutdown;
use weelo_shared::{idempotency, presence};

use crate::jobs;
use crate::{WorkerState, expiry, relay};

/// Runs the sweep at every tick boundary until shutdown, in this process and outside the job
/// queues: the backstop must keep working when a queue does not. Each worker ticks; the first to
/// claim the tick in PostgreSQL runs it, the others count their claim and skip it.
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
        match claim(&state, next_tick).await {
            Ok(true) => {
                if let Err(e) = sweep(&state, next_tick).await {
                    metrics::counter!("sweep_failures_total").increment(1);
                    tracing::error!(tick = next_tick, error = %format!("{e:#}"), "sweep failed; the next tick tries again");
                }
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(tick = next_tick, error = %format!("{e:#}"), "could not claim the sweep tick"),
        }
    }
}

/// True for the one worker that claims `tick` first.
async fn claim(state: &WorkerState, tick: i64) -> anyhow::Result<bool> {
    Ok(sqlx::query_scalar!(
        r#"INSERT INTO sweep_runs (tick, worker) VALUES ($1, $2)
         ON CONFLICT (tick) DO UPDATE SET claims = sweep_runs.claims + 1 RETURNING claims = 1 AS "first!""#,
        tick,
        &state.name
    )
    .fetch_one(&state.db)
    .await?)
}

/// One sweep tick (run by the worker that claimed it).
pub async fn sweep(state: &WorkerState, tick: i64) -> anyhow::Result<()> {
    let overdue: Vec<Uuid> = sqlx::query_scalar!(
        "SELECT id FROM broadcasts WHERE broadcast_is_open(status)
         AND expires_at <= now() - interval '2 seconds' ORDER BY expires_at LIMIT 1000"
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
    let holds_expired = overdue_holds(state).await?;
    let redispatched = relay::dispatch_pending(state).await?;
    let pruned = idempotency::prune(&state.db, 24).await?
        + AuthService::prune(&state.db, Duration::from_secs(24 * 3600)).await?
        + sqlx::query!(
            "DELETE FROM outbox WHERE dispatched_at < now() - make_interval(secs => $1)",
            relay::KEEP_DISPATCHED.as_secs_f64()
        )
        .execute(&state.db)
        .await?
        .rows_affected();
    let stale = presence::sweep_stale(&state.cache).await?;
    let vacuumed = vacuum_all(state.jobs.clone(), &state.cache.keys).await;
    publish_queue_depth(state.jobs.clone(), &state.cache.keys, state.config.log_format == LogFormat::Json).await;
    sqlx::query!("UPDATE sweep_runs SET expired = $2, ran_at = now() WHERE tick = $1", tick, expired as i32)
        .execute(&state.db)
        .await?;
    tracing::info!(tick, expired, trips, holds_expired, redispatched, pruned, stale, vacuumed, "sweep");
    Ok(())
}

/// Trip timers a lost job missed: a driver's response window or a restaff window that passed
/// more than two seconds ago is closed here, so no vehicle or driver stays held.
async fn overdue_trips(state: &WorkerState) -> anyhow::Result<usize> {
    let overdue = sqlx::query!(
        r#"SELECT id, status = 'assigned' AS "waiting_for_driver!" FROM trips
         WHERE (status = 'assigned' AND respond_by <= now() - interval '2 seconds')
            OR (status IN ('driver_declined', 'driver_timeout') AND restaff_by <= now() - interval '2 seconds')
         ORDER BY id LIMIT 1000"#,
    )
    .fetch_all(&state.db)
    .await?;
    let windows = (&*state.config).into();
    let mut closed = 0;
    for trip in overdue {
        let mut tx = state.db.begin().await?;
        let done = if trip.waiting_for_driver {
            trips::response_timeout(&mut tx, trip.id, windows).await
        } else {
            trips::restaff_timeout(&mut tx, trip.id, windows).await
        }
        .context("closing an overdue trip window")?;
        tx.commit().await?;
        closed += usize::from(done);
    }
    // Trucks taken without a driver whose staffing window passed (their job was lost).
    let unstaffed = trips::overdue_unstaffed(&state.db, windows, Duration::from_secs(2), 1000).await?;
    for truck in unstaffed {
        let mut tx = state.db.begin().await?;
        let done = trips::staff_timeout(&mut tx, truck, windows).await.context("giving back an unstaffed truck")?;
        tx.commit().await?;
        closed += usize::from(done);
    }
    if closed > 0 {
        metrics::counter!("sweep_trip_windows_total").increment(closed as u64);
        tracing::warn!(closed, "sweep closed trip windows whose job was lost");
    }
    Ok(closed)
}

/// Holds a lost expiry job missed: a hold whose window passed more than two seconds ago gives
/// its trucks back here, so nothing held outlives its deadline.
async fn overdue_holds(state: &WorkerState) -> anyhow::Result<usize> {
    let overdue: Vec<Uuid> = sqlx::query_scalar!(
        "SELECT id FROM truck_holds WHERE status = 'active' AND expires_at <= now() - interval '2 seconds'
         ORDER BY expires_at LIMIT 1000"
    )
    .fetch_all(&state.db)
    .await?;
    let mut expired = 0;
    for hold in overdue {
        let mut tx = state.db.begin().await?;
        let done = holds::expire(&mut tx, hold).await.context("expiring an overdue hold")?;
        tx.commit().await?;
        expired += usize::from(done);
    }
    if expired > 0 {
        metrics::counter!("sweep_holds_expired_total").increment(expired as u64);
        tracing::warn!(expired, "sweep expired holds whose expiry job was lost");
    }
    Ok(expired)
}

/// How long one tick may spend trimming finished tasks, in batches of 500 (each one short
/// round trip, so Redis serves everybody else between them). At 5,000 jobs/s a 30 s tick
/// finishes 150,000 tasks; trimming them takes well under this.
const TRIM_BUDGET: std::time::Duration = std::time::Duration::from_secs(10);

/// Removes finished tasks in bounded batches: apalis-redis adds every finished id to
/// `{queue}:done` (or `{queue}:dead`) and keeps its data and metadata forever, and its own vacuum
/// `HGETALL`s the whole data hash inside Redis (blocking it). A dead task's record is its row in
/// `dead_letters` (PostgreSQL, written before apalis marks it dead), so both sets are trimmed.
async fn vacuum_all(conn: ConnectionManager, keys: &Keys) -> usize {
    let deadline = std::time::Instant::now() + TRIM_BUDGET;
    let mut total = 0;
    for name in jobs::QUEUES.iter().copied() {
        let cfg = jobs::queue_config(keys, name);
        for set in [cfg.done_jobs_set(), cfg.dead_jobs_set()] {
            match trim(conn.clone(), &cfg, &set, deadline).await {
                Ok(n) => total += n,
                Err(e) => tracing::warn!(queue = name, error = %e, "trimming finished tasks failed"),
            }
        }
    }
    if std::time::Instant::now() >= deadline {
        tracing::warn!(removed = total, "trimming finished tasks ran out of its budget; the next tick goes on");
    }
    total
}

async fn trim(
    mut conn: ConnectionManager,
    cfg: &apalis_redis::Config,
    set: &str,
    deadline: std::time::Instant,
) -> redis::RedisResult<usize> {
    let mut removed = 0;
    while std::time::Instant::now() < deadline {
        let ids: Vec<String> = redis::cmd("SPOP").arg(set).arg(500).query_async(&mut conn).await?;
        if ids.is_empty() {
            break;
        }
        let mut pipe = redis::pipe();
        pipe.hdel(cfg.job_data_hash(), &ids).ignore();
        for id in &ids {
            pipe.del(format!("{}:{id}", cfg.job_meta_hash())).ignore();
        }
        let _: () = pipe.query_async(&mut conn).await?;
        removed += ids.len();
    }
    Ok(removed)
}

/// Pending + scheduled tasks per queue: a Prometheus gauge, and a CloudWatch EMF log line the
/// worker autoscaling policy reads (namespace Weelo, metric QueueDepth).
pub async fn publish_queue_depth(mut conn: ConnectionManager, keys: &Keys, emf_to_stdout: bool) -> Option<u64> {
    let mut pending_total = 0;
    for name in jobs::QUEUES.iter().copied() {
        let cfg = jobs::queue_config(keys, name);
        // An unreadable depth is an error, never 0: 0 would scale the workers in.
        let read: redis::RedisResult<(u64, u64)> = redis::pipe()
            .cmd("LLEN")
            .arg(cfg.active_jobs_list())
            .cmd("ZCARD")
            .arg(cfg.scheduled_jobs_set())
            .query_async(&mut conn)
            .await;
        let (pending, scheduled) = match read {
            Ok(depth) => depth,
            Err(e) => {
                metrics::counter!("queue_depth_errors_total").increment(1);
                tracing::error!(queue = name, error = %e, "cannot read queue depth; not publishing it this tick");
                return None;
            }
        };
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
    Some(pending)
}
