//! Idempotent commands (docs/DESIGN.md, invariant 2). A key is claimed by inserting its record inside the
//! transaction that does the work: a concurrent request with the same key blocks on the primary
//! key until the first commits, then reads the stored response. A refused command rolls back,
//! releasing the key, so nothing half-done is ever remembered.

use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::error::{Error, Result};

/// A response remembered for replay.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub status: u16,
    pub body: serde_json::Value,
}

/// Hash of a request: its scope and canonical JSON (object keys sorted).
pub fn request_hash(scope: &str, body: &serde_json::Value) -> String {
    let mut h = Sha256::new();
    h.update(scope.as_bytes());
    h.update(b"\n");
    h.update(body.to_string().as_bytes());
    hex::encode(h.finalize())
}

/// Parses the `Idempotency-Key` header value.
pub fn parse_key(raw: Option<&str>) -> Result<Uuid> {
    let raw = raw.map(str::trim).filter(|s| !s.is_empty()).ok_or_else(|| {
        Error::rejected(422, "IDEMPOTENCY_KEY_REQUIRED", "send an Idempotency-Key header (a UUID) with this request")
    })?;
    Uuid::parse_str(raw).map_err(|_| Error::field("Idempotency-Key", "must be a UUID"))
}

/// Runs `op` at most once per (user, scope, key). Same key and body: the first response again.
/// Same key, other body: 422 `IDEMPOTENCY_KEY_REUSED`.
pub async fn run<F>(db: &PgPool, user: Uuid, scope: &str, key: Uuid, hash: &str, op: F) -> Result<Stored>
where
    F: AsyncFnOnce(&mut PgConnection) -> Result<Stored>,
{
    let mut tx = db.begin().await?;
    let claimed = sqlx::query!(
        "INSERT INTO idempotency_records (user_id, scope, key, request_hash) VALUES ($1, $2, $3, $4)
         ON CONFLICT DO NOTHING",
        user,
        scope,
        key,
        hash
    )
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if !claimed {
        drop(tx);
        let (stored_hash, status, body): (String, Option<i32>, Option<serde_json::Value>) = sqlx::query!(
            r#"SELECT request_hash, status_code, response FROM idempotency_records WHERE user_id = $1 AND scope =
                     $2 AND key = $3"#,
            user,
            scope,
            key
        )
        .map(|r| (r.request_hash, r.status_code, r.response))
        .fetch_one(db)
        .await?;
        if stored_hash != hash {
            return Err(Error::rejected(
                422,
                "IDEMPOTENCY_KEY_REUSED",
                "this Idempotency-Key was already used with a different request",
            ));
        }
        return match (status, body) {
            (Some(status), Some(body)) => Ok(Stored { status: status as u16, body }),
            _ => {
                Err(Error::rejected(409, "IDEMPOTENCY_IN_PROGRESS", "a request with this key is still running; retry"))
            }
        };
    }
    let stored = op(&mut tx).await?;
    sqlx::query!(
        "UPDATE idempotency_records SET status_code = $4, response = $5 WHERE user_id = $1 AND scope = $2 AND key = $3",
        user,
        scope,
        key,
        i32::from(stored.status),
        &stored.body
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(stored)
}

/// Whether (user, scope, key) has a committed record: a request with it replays.
pub async fn recorded(db: &PgPool, user: Uuid, scope: &str, key: Uuid) -> Result<bool> {
    Ok(sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM idempotency_records WHERE user_id = $1 AND scope = $2 AND key = $3) AS "exists!""#,
        user,
        scope,
        key
    )
    .fetch_one(db)
    .await?)
}

/// Deletes records older than `hours`.
pub async fn prune(db: &PgPool, hours: i64) -> anyhow::Result<u64> {
    Ok(sqlx::query!(
        "DELETE FROM idempotency_records WHERE created_at < now() - make_interval(hours => $1::int)",
        hours as i32
    )
    .execute(db)
    .await?
    .rows_affected())
}
