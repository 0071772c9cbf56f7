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

/// Stands for the seq in an envelope until Redis assigns it (replaced inside the script).
const SEQ_SENTINEL: u64 = u64::MAX;

/// Per recipient: claim its once-per-user marker, and only if this call claimed it assign the
/// next seq and keep the event for replay; then publish every event this call emitted as one
/// message, a JSON array of envelopes (one PUBLISH per chunk, not per recipient: see
/// docs/DESIGN.md, "Realtime"). One script, so it happens whole or not at all: a job cut off by a
/// Redis restart (or dropped mid-run) leaves neither a marker without its event nor an event
/// without its seq, and its retry emits exactly what is missing.
const EMIT_ONCE: &str = r"
local ttl, max_events, log_ttl, seq_ttl, channel, sentinel = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local out = {}
for i = 1, #KEYS, 3 do
    if redis.call('set', KEYS[i], 1, 'NX', 'EX', ttl) then
        local seq = redis.call('incr', KEYS[i + 1])
        local text = string.gsub(ARGV[6 + (i + 2) / 3], sentinel, tostring(seq))
        redis.call('zadd', KEYS[i + 2], seq, text)
        if seq > max_events then
            redis.call('zremrangebyrank', KEYS[i + 2], 0, -(max_events + 1))
        end
        redis.call('expire', KEYS[i + 2], log_ttl)
        redis.call('expire', KEYS[i + 1], seq_ttl)
        out[#out + 1] = text
    end
end
if #out > 0 then
    redis.call('publish', channel, '[' .. table.concat(out, ',') .. ']')
end
return #out
";

/// What one message on the realtime channel carries: a JSON array of envelopes (the notify
/// job's chunks) or one envelope (control messages, and workers older than the array form).
pub fn read_message(text: &str) -> Result<Vec<Envelope>, serde_json::Error> {
    if text.trim_start().starts_with('[') {
        serde_json::from_str(text)
    } else {
        serde_json::from_str(text).map(|e| vec![e])
    }
}

/// Recipients per script call: each call holds Redis only briefly.
const EMIT_CHUNK: usize = 500;

/// Emits each event to its user at most once per marker (`Keys::emitted`): see [`EMIT_ONCE`].
/// Returns how many were emitted now.
pub async fn emit_once(
    cache: &Cache,
    markers: &[String],
    marker_ttl_secs: u64,
    events: &[(Uuid, &str, serde_json::Value)],
) -> anyhow::Result<usize> {
    anyhow::ensure!(markers.len() == events.len(), "one marker per event");
    let script = redis::Script::new(EMIT_ONCE);
    let mut c = cache.conn().await?;
    let mut emitted = 0;
    for (marks, evs) in markers.chunks(EMIT_CHUNK).zip(events.chunks(EMIT_CHUNK)) {
        let mut call = script.prepare_invoke();
        for (marker, (user, _, _)) in marks.iter().zip(evs) {
            call.key(marker).key(seq_key(cache, *user)).key(log_key(cache, *user));
        }
        // ARGV: the fixed six, then one envelope per recipient (its seq still the sentinel).
        call.arg(marker_ttl_secs)
            .arg(REPLAY_MAX_EVENTS)
            .arg(REPLAY_TTL_SECS)
            .arg(7 * 24 * 3600)
            .arg(channel(cache))
            .arg(SEQ_SENTINEL.to_string());
        for (user, event, payload) in evs {
            let mut payload = payload.clone();
            if let Some(obj) = payload.as_object_mut() {
                obj.insert("seq".into(), SEQ_SENTINEL.into());
            }
            let envelope = Envelope { user: *user, seq: SEQ_SENTINEL, event: (*event).to_owned(), payload };
            call.arg(serde_json::to_string(&envelope)?);
        }
        let n: usize = call.invoke_async(&mut *c).await?;
        emitted += n;
    }
    Ok(emitted)
}

/// The control event that ends sessions: every API instance sends it to the sockets concerned
/// and then disconnects them. Not kept for replay (what it ended cannot reconnect with the same
/// token anyway). Payload: `code` (why), and `jti` when only one access token's sockets end.
pub const SESSION_REVOKED: &str = "session_revoked";

/// The control event a socket gets when its access token expires and it did not send a newer
/// one (`reauth {token}`); it is then disconnected.
pub const SESSION_EXPIRED: &str = "session_expired";

/// Drops the sockets of `user` on every API instance, telling them why (`code`): all of them, or
/// only those signed in with the access token `jti`.
pub async fn revoke(cache: &Cache, user: Uuid, jti: Option<Uuid>, code: &str) -> crate::error::Result<()> {
    let mut payload = serde_json::json!({ "code": code });
    if let Some(jti) = jti {
        payload["jti"] = serde_json::Value::String(jti.to_string());
    }
    let envelope = Envelope { user, seq: 0, event: SESSION_REVOKED.to_owned(), payload };
    let mut c = cache.conn().await?;
    let text = serde_json::to_string(&envelope).map_err(|e| crate::error::Error::Internal(e.into()))?;
    let _: i64 = c.publish(channel(cache), text).await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_one_envelope_or_an_array_of_them() {
        let user = Uuid::new_v4();
        let one = Envelope { user, seq: 7, event: "new_broadcast".into(), payload: serde_json::json!({"seq": 7}) };
        let two = Envelope { user, seq: 8, event: "trucks_remaining_update".into(), payload: serde_json::json!({}) };
        let single = serde_json::to_string(&one).unwrap();
        let array = format!("[{},{}]", single, serde_json::to_string(&two).unwrap());
        let read: Vec<u64> = read_message(&single).unwrap().iter().map(|e| e.seq).collect();
        assert_eq!(read, [7]);
        let read: Vec<(u64, String)> = read_message(&array).unwrap().into_iter().map(|e| (e.seq, e.event)).collect();
        assert_eq!(read, [(7, "new_broadcast".to_owned()), (8, "trucks_remaining_update".to_owned())]);
        assert!(read_message("{\"user\": 1}").is_err());
        assert!(read_message("[{\"user\": 1}]").is_err());
    }
}
