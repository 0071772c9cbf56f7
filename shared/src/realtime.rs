//! Realtime events to users. Anything that raises an event (an API task or the worker)
//! publishes it on one Redis channel; every API task subscribes and emits it to the sockets it
//! holds. Each event to a user carries a per-user increasing `seq` and is kept in a short
//! per-user log, so a client reconnecting with its last seq gets what it missed, in order.

use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::cache::Cache;

/// How many events per user are kept for replay, and for how long.
pub const REPLAY_MAX_EVENTS: isize = 200;
pub const REPLAY_TTL_SECS: i64 = 600;

/// One event for one user, as it travels through Redis and reaches the socket.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    pub user: Uuid,
    pub seq: u64,
    pub event: String,
    pub payload: serde_json::Value,
}

pub fn channel(cache: &Cache) -> String {
    cache.keys.realtime_channel()
}

fn seq_key(cache: &Cache, user: Uuid) -> String {
    cache.keys.realtime_seq(user)
}

fn log_key(cache: &Cache, user: Uuid) -> String {
    cache.keys.realtime_log(user)
}

/// Assigns each event its user's next seq, keeps it for replay and publishes it, in two
/// pipelined round trips (seqs first, then logs and publishes).
pub async fn emit_many(cache: &Cache, events: &[(Uuid, &str, serde_json::Value)]) -> anyhow::Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let mut c = cache.conn().await?;
    let mut seqs = redis::pipe();
    for (user, _, _) in events {
        seqs.incr(seq_key(cache, *user), 1);
    }
    let seqs: Vec<u64> = seqs.query_async(&mut *c).await?;
    let mut pipe = redis::pipe();
    for ((user, event, payload), seq) in events.iter().zip(seqs) {
        let mut payload = payload.clone();
        if let Some(obj) = payload.as_object_mut() {
            obj.insert("seq".into(), seq.into());
        }
        let text = serde_json::to_string(&Envelope { user: *user, seq, event: (*event).to_owned(), payload })?;
        let log = log_key(cache, *user);
        pipe.zadd(&log, &text, seq)
            .ignore()
            .zremrangebyrank(&log, 0, -(REPLAY_MAX_EVENTS + 1))
            .ignore()
            .expire(&log, REPLAY_TTL_SECS)
            .ignore()
            .expire(seq_key(cache, *user), 7 * 24 * 3600)
            .ignore()
            .publish(channel(cache), &text)
            .ignore();
    }
    let _: () = pipe.query_async(&mut *c).await?;
    Ok(())
}

/// Events after `last_seq`, oldest first (for a reconnecting client).
pub async fn missed(cache: &Cache, user: Uuid, last_seq: u64) -> anyhow::Result<Vec<Envelope>> {
    let mut c = cache.conn().await?;
    let raw: Vec<String> = c.zrangebyscore(log_key(cache, user), format!("({last_seq}"), "+inf").await?;
    Ok(raw.iter().filter_map(|r| serde_json::from_str(r).ok()).collect())
}

/// The client has everything up to `seq`: trim the log.
pub async fn ack(cache: &Cache, user: Uuid, seq: u64) -> anyhow::Result<()> {
    let mut c = cache.conn().await?;
    let _: () = c.zrembyscore(log_key(cache, user), "-inf", seq).await?;
    Ok(())
}
