//! Retries of dead letters an admin asked for (docs/DESIGN.md, "Ops console"). The worker
//! claims each `retry_requested` letter (row-locked, so one worker runs it), runs its job once,
//! in this process, from the stored payload, and records how it went: `retried` when it
//! succeeded, back to `dead` with the new error (and one more attempt) when it failed again.

use std::time::Duration;

use weelo_shared::shutdown::Shutdown;

use crate::{WorkerState, jobs, runtime};

/// How often the worker looks for requested retries.
const POLL: Duration = Duration::from_secs(1);
/// The longest one retried job may run.
const RUN_LIMIT: Duration = Duration::from_secs(30);

pub async fn run(state: WorkerState, shutdown: Shutdown) {
    loop {
        match retry_requested(&state).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(letters = n, "dead letters retried"),
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "retrying dead letters failed; will try again"),
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = shutdown.wait() => return,
        }
    }
}

/// An outbox row's retry: the row goes back to the relay with fresh attempts.
async fn requeue_outbox_row(tx: &mut sqlx::PgConnection, letter: &serde_json::Value) -> anyhow::Result<()> {
    let id = letter["outboxId"].as_i64().ok_or_else(|| anyhow::anyhow!("an outbox letter without outboxId"))?;
    let done =
        sqlx::query!("UPDATE outbox SET dispatched_at = NULL, attempts = 0, available_at = now() WHERE id = $1", id)
            .execute(&mut *tx)
            .await?;
    anyhow::ensure!(done.rows_affected() == 1, "outbox row {id} is gone (pruned after a week)");
    Ok(())
}

/// Runs every requested retry once; returns how many ran.
pub async fn retry_requested(state: &WorkerState) -> anyhow::Result<usize> {
    let mut ran = 0;
    loop {
        let mut tx = state.db.begin().await?;
        let letter = sqlx::query!(
            "SELECT id, queue, payload FROM dead_letters WHERE status = 'retry_requested'
             ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED",
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some((id, queue, payload)) = letter.map(|l| (l.id, l.queue, l.payload)) else {
            return Ok(ran);
        };
        let outcome = if queue == runtime::OUTBOX_QUEUE {
            requeue_outbox_row(&mut tx, &payload).await
        } else {
            let data = serde_json::to_vec(&payload)?;
            match tokio::time::timeout(RUN_LIMIT, jobs::run_stored(state, &queue, &data)).await {
                Ok(r) => r,
                Err(_) => Err(anyhow::anyhow!("the retry ran longer than {} s", RUN_LIMIT.as_secs())),
            }
        };
        match &outcome {
            Ok(()) => {
                sqlx::query!("UPDATE dead_letters SET status = 'retried', updated_at = now() WHERE id = $1", id)
                    .execute(&mut *tx)
                    .await?;
                tracing::info!(letter = id, %queue, "dead letter retried: the job succeeded");
            }
            Err(e) => {
                sqlx::query!(
                    "UPDATE dead_letters SET status = 'dead', error = $2, attempts = attempts + 1, updated_at = now()
                     WHERE id = $1",
                    id,
                    format!("{e:#}")
                )
                .execute(&mut *tx)
                .await?;
                tracing::warn!(letter = id, %queue, error = %format!("{e:#}"), "dead letter retried: the job failed again");
            }
        }
        tx.commit().await?;
        ran += 1;
    }
}
