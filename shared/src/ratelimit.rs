//! Fixed-window rate limits in Redis. A limit counts distinct operations (e.g. idempotency
//! keys), so retries of one request never use up the allowance.

use redis::AsyncCommands;

use crate::cache::Cache;
use crate::error::{Error, Result};

/// Allows at most `limit` distinct `token`s per `window_secs` for `subject`.
pub async fn check(cache: &Cache, name: &str, subject: &str, token: &str, limit: u32, window_secs: u64) -> Result<()> {
    let now = chrono::Utc::now().timestamp() as u64;
    let window = now / window_secs;
    let key = format!("{}:rate:{name}:{subject}:{window}", cache.keys.prefix());
    let mut conn = cache.conn().await?;
    let (added, count): (u32, u32) = redis::pipe()
        .atomic()
        .sadd(&key, token)
        .scard(&key)
        .expire(&key, window_secs as i64 + 1)
        .ignore()
        .query_async(&mut *conn)
        .await?;
    if added == 1 && count > limit {
        let _: () = conn.srem(&key, token).await?;
        let retry = window_secs - (now % window_secs);
        return Err(Error::rejected(
            429,
            "RATE_LIMITED",
            format!("at most {limit} per {window_secs} s; retry in {retry} s"),
        )
        .retry_after(retry));
    }
    Ok(())
}
