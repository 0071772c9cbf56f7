//! How every job runs: its duration, outcome and (for scheduled jobs) lateness recorded in
//! `/metrics`, and its retry policy applied. A failing run is retried by apalis-redis with a
//! growing delay (now + attempt seconds); after the job type's `MAX_ATTEMPTS` it is
//! dead-lettered: its payload and error are written to `dead_letters` in PostgreSQL (where the
//! ops console lists, retries or discards it), logged and counted.

use std::future::Future;
use std::time::Instant;

use crate::jobs::Job;
use crate::stats;
use apalis::prelude::{AbortError, Attempt, BoxDynError};

/// A job failure that retrying cannot fix.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Permanent(pub String);

pub async fn run<J, F>(job: &J, attempt: &Attempt, db: &sqlx::PgPool, work: F) -> Result<(), BoxDynError>
where
    J: Job + std::fmt::Debug,
    F: Future<Output = anyhow::Result<()>>,
{
    let started = Instant::now();
    let running = stats::Running::start(J::QUEUE);
    let result = work.await;
    let elapsed = started.elapsed().as_secs_f64();
    metrics::histogram!("job_duration_seconds", "job" => J::QUEUE).record(elapsed);
    // apalis counts the current run before calling the handler.
    let attempts = attempt.current().max(1);
    match result {
        Ok(()) => {
            metrics::counter!("jobs_total", "job" => J::QUEUE, "outcome" => "done").increment(1);
            running.finish(stats::Outcome::Done);
            Ok(())
        }
        Err(e) if e.is::<Permanent>() || attempts >= J::MAX_ATTEMPTS => {
            let error = format!("{e:#}");
            if let Err(store) = dead_letter(db, J::QUEUE, job, &error, attempts).await {
                // Never dropped unrecorded: apalis runs it again later and it is recorded then.
                running.finish(stats::Outcome::Retried);
                tracing::error!(job = J::QUEUE, attempts, error = %error, store_error = %format!("{store:#}"),
                    "job failed for good but its dead letter could not be stored; retrying it instead");
                return Err(e.into_boxed_dyn_error());
            }
            metrics::counter!("jobs_total", "job" => J::QUEUE, "outcome" => "dead").increment(1);
            running.finish(stats::Outcome::Dead);
            tracing::error!(job = J::QUEUE, attempts, payload = ?job, error = %error, "job dead-lettered");
            Err(AbortError::new(e.into_boxed_dyn_error()).into())
        }
        Err(e) => {
            running.finish(stats::Outcome::Retried);
            metrics::counter!("jobs_total", "job" => J::QUEUE, "outcome" => "retry").increment(1);
            tracing::warn!(job = J::QUEUE, attempts, error = %format!("{e:#}"), "job failed; will retry");
            Err(e.into_boxed_dyn_error())
        }
    }
}

/// Records how late a scheduled job started compared with when it was due.
pub fn lateness(job: &'static str, due_ms: i64) {
    let late_ms = (chrono::Utc::now().timestamp_millis() - due_ms).max(0);
    metrics::histogram!("job_lateness_seconds", "job" => job).record(late_ms as f64 / 1000.0);
    stats::late(job, late_ms as u64);
}

/// The dead-letter queue name of outbox rows the relay gave up on (retried by putting the row
/// back, `dead_letters.rs`).
pub const OUTBOX_QUEUE: &str = "outbox";

/// Stores a job (or an outbox row) that failed for good, with its payload, for the ops console.
pub async fn dead_letter<J: serde::Serialize>(
    db: impl sqlx::PgExecutor<'_>,
    queue: &str,
    job: &J,
    error: &str,
    attempts: usize,
) -> anyhow::Result<()> {
    sqlx::query!(
        "INSERT INTO dead_letters (queue, payload, error, attempts) VALUES ($1, $2, $3, $4)",
        queue,
        serde_json::to_value(job)?,
        error,
        attempts.max(1) as i32
    )
    .execute(db)
    .await?;
    Ok(())
}

/// The longest a deadline job waits in place (apalis runs jobs up to ~1 s early).
const MAX_WAIT_MS: i64 = 5_000;

/// The second to schedule a deadline job at: one early, since apalis stores whole seconds; the
/// run waits out the rest with [`wait_until`].
pub fn run_at(due_ms: i64) -> i64 {
    due_ms.div_euclid(1000) - 1
}

/// Waits until `due_ms` when it is at most a few seconds away; false when the job came far too
/// early (a clock step, a moved deadline) and should be pushed again for [`run_at`].
pub async fn wait_until(due_ms: i64) -> bool {
    let wait_ms = due_ms - chrono::Utc::now().timestamp_millis();
    if wait_ms > MAX_WAIT_MS {
        return false;
    }
    if wait_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(wait_ms as u64)).await;
    }
    true
}
