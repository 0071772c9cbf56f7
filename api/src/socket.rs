//! Socket.IO v4 on the API's own port, WebSocket transport only (the stock socket.io-client
//! with `transports: ['websocket']`). The access JWT arrives in `handshake.auth.token`; a bad or
//! expired one is refused with a `connect_error` the client can read.
//!
//! Fan-out across API tasks: every event for a user is published once on a Redis channel
//! (`weelo_shared::realtime`, by whichever process raised it, normally the worker's `notify`
//! job); every API task subscribes and emits it to the sockets it holds in room `user:{id}` (the
//! only room). So
//! socketioxide runs with its local adapter and needs neither its Redis adapter nor a separate
//! emitter. Each event carries a per-user `seq`; a client reconnecting with
//! `handshake.auth.lastSeq` is sent what it missed, in order, marked `replayed: true`.

use std::sync::Arc;
use std::task::{Context, Poll};

use base64::Engine;
use futures::StreamExt;
use poem::http::{HeaderValue, StatusCode};
use poem::{Endpoint, IntoResponse, Request, Response};
use serde::Deserialize;
use sha1::{Digest, Sha1};
use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, Data, SocketRef, State, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::service::SocketIoService;
use tower_service::Service;
use uuid::Uuid;
use weelo_shared::auth::Claims;
use weelo_shared::error::Error;
use weelo_shared::realtime::{self, Envelope};
use weelo_shared::shutdown::Shutdown;

use crate::problem::error_response;
use crate::state::AppState;

type Svc = SocketIoService<engineioxide::service::NotFoundService>;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Handshake {
    token: String,
    last_seq: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct Ack {
    seq: u64,
}

#[derive(Debug, Deserialize)]
struct Join {
    room: String,
}

/// The largest Socket.IO message the API reads.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024;

/// Builds the Socket.IO server over `state`; returns the endpoint to mount at `/socket.io`.
pub fn build(state: Arc<AppState>) -> (SocketEndpoint, SocketIo) {
    let hops = state.config.trusted_proxy_hops;
    // Nothing a phone sends is large: a message over 16 KiB closes the connection before it is
    // buffered (authenticated or not), and a connection that has not completed its handshake
    // within 5 s is dropped.
    let (svc, io) = SocketIo::builder()
        .with_state(state)
        .ws_max_message_size(MAX_MESSAGE_BYTES)
        .ws_max_frame_size(MAX_MESSAGE_BYTES)
        .max_payload(MAX_MESSAGE_BYTES as u64)
        .connect_timeout(std::time::Duration::from_secs(5))
        .build_svc();
    io.ns("/", on_connect.with(authenticate));
    (SocketEndpoint { svc, hops }, io)
}

/// The client's address as the HTTP layer saw it (carried into the Socket.IO handshake).
#[derive(Clone, Copy, Debug)]
struct ClientIp(Option<std::net::IpAddr>);

/// This socket counts toward its address's cap (given back at disconnect).
#[derive(Clone, Copy, Debug)]
struct Counted(std::net::IpAddr);

/// `join` requests a socket may make per second; beyond it they are refused, and a socket that
/// keeps flooding is dropped.
const JOINS_PER_SECOND: u32 = 5;
const JOINS_BEFORE_DROP: u32 = 50;

/// Connect middleware: the handshake must carry a valid, not signed-out access token.
async fn authenticate(
    s: SocketRef,
    TryData(auth): TryData<Handshake>,
    State(state): State<Arc<AppState>>,
) -> Result<(), String> {
    let auth = auth.map_err(|_| "UNAUTHORIZED: send { token } in the handshake auth".to_owned())?;
    let claims = state.auth.authenticate(&auth.token).await.map_err(|e| match e {
        Error::Rejected(r) => format!("{}: {}", r.code, r.detail),
        Error::Internal(_) => "INTERNAL: try again".to_owned(),
    })?;
    // Caps: sockets per user on this instance, and per client address.
    let mine = s.within(format!("user:{}", claims.sub)).sockets().len();
    if mine >= state.config.sockets_per_user {
        return Err(format!(
            "TOO_MANY_SOCKETS: at most {} open sockets per user; close another",
            state.config.sockets_per_user
        ));
    }
    if let Some(ip) = s.req_parts().extensions.get::<ClientIp>().and_then(|c| c.0) {
        let mut by_source = state.sockets_by_source.lock().unwrap_or_else(|p| p.into_inner());
        let n = by_source.entry(ip).or_default();
        if *n >= state.config.sockets_per_source {
            tracing::warn!(source = %ip, "socket refused: too many from one address");
            return Err("TOO_MANY_SOCKETS: too many open sockets from this network".to_owned());
        }
        *n += 1;
        s.extensions.insert(Counted(ip));
    }
    s.extensions.insert(claims);
    s.extensions.insert(LastSeq(auth.last_seq));
    Ok(())
}

#[derive(Clone, Copy)]
struct LastSeq(Option<u64>);

/// The one room a socket is in is its user's: every event is addressed to users, because each
/// user's events carry its own `seq` and replay log. Per-broadcast or per-transporter rooms would
/// bypass both, so there are none; `join` confirms only the caller's own room.
fn may_join(claims: &Claims, room: &str) -> bool {
    room.strip_prefix("user:").and_then(|id| Uuid::parse_str(id).ok()) == Some(claims.sub)
}

async fn on_connect(s: SocketRef, State(state): State<Arc<AppState>>) {
    let Some(claims) = s.extensions.get::<Claims>() else { return };
    s.join(format!("user:{}", claims.sub));
    metrics::gauge!("sockets_connected").increment(1.0);
    s.on_disconnect(async |s: SocketRef, State(state): State<Arc<AppState>>| {
        metrics::gauge!("sockets_connected").decrement(1.0);
        if let Some(Counted(ip)) = s.extensions.get::<Counted>() {
            let mut by_source = state.sockets_by_source.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(n) = by_source.get_mut(&ip) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    by_source.remove(&ip);
                }
            }
        }
    });

    let user = claims.sub;
    s.on("ack", async move |State(state): State<Arc<AppState>>, Data(ack): Data<Ack>| {
        if let Err(e) = realtime::ack(&state.cache, user, ack.seq).await {
            tracing::warn!(error = %e, "ack not recorded");
        }
    });
    // A fresh access token keeps the socket open past the old one's expiry; it must be the
    // same user's, valid and not signed out.
    s.on(
        "reauth",
        async move |s: SocketRef, State(state): State<Arc<AppState>>, Data(h): Data<Handshake>, ack: AckSender| {
            let reply = match state.auth.authenticate(&h.token).await {
                Ok(fresh) if fresh.sub == user => {
                    let exp = fresh.exp;
                    s.extensions.insert(fresh);
                    serde_json::json!({ "ok": true, "expiresAt": exp })
                }
                Ok(_) => {
                    serde_json::json!({ "ok": false, "code": "UNAUTHORIZED", "detail": "a token of another user" })
                }
                Err(Error::Rejected(r)) => serde_json::json!({ "ok": false, "code": r.code }),
                Err(Error::Internal(_)) => serde_json::json!({ "ok": false, "code": "INTERNAL" }),
            };
            let _ = ack.send(&reply);
        },
    );
    expire_with_token(s.clone());
    let join_claims = claims.clone();
    let joins = Arc::new(std::sync::Mutex::new((std::time::Instant::now(), 0u32, 0u32)));
    s.on("join", async move |s: SocketRef, Data(join): Data<Join>, ack: AckSender| {
        let (in_window, total) = {
            let mut j = joins.lock().unwrap_or_else(|p| p.into_inner());
            if j.0.elapsed() >= std::time::Duration::from_secs(1) {
                *j = (std::time::Instant::now(), 0, j.2);
            }
            j.1 += 1;
            j.2 = if j.1 > JOINS_PER_SECOND { j.2 + 1 } else { j.2 };
            (j.1, j.2)
        };
        if total >= JOINS_BEFORE_DROP {
            tracing::warn!("socket dropped: join flood");
            let _ = s.disconnect();
            return;
        }
        if in_window > JOINS_PER_SECOND {
            let _ = ack.send(&serde_json::json!({ "ok": false, "code": "RATE_LIMITED", "room": join.room }));
            return;
        }
        let allowed = may_join(&join_claims, &join.room);
        let reply = if allowed {
            serde_json::json!({ "ok": true, "room": join.room })
        } else {
            serde_json::json!({ "ok": false, "code": "ROOM_FORBIDDEN", "room": join.room })
        };
        let _ = ack.send(&reply);
    });

    // Replay what a reconnecting client missed, in order.
    if let Some(LastSeq(Some(last))) = s.extensions.get::<LastSeq>() {
        match realtime::missed(&state.cache, user, last).await {
            Ok(missed) => {
                for e in missed {
                    let mut payload = e.payload;
                    payload["replayed"] = serde_json::Value::Bool(true);
                    let _ = s.emit(e.event.as_str(), &payload);
                }
            }
            Err(e) => tracing::warn!(error = %e, "replay failed"),
        }
    }
    tracing::debug!(user_id = %user, "socket connected");
}

/// Receives every realtime event from Redis and emits it to the local sockets of its user.
/// Reconnects after a Redis outage. The emits run on a few shard tasks, one per core: a user's
/// events always go through the same shard, so they reach its sockets in the order they were
/// published, while a fan-out to thousands of users uses every core of the task.
pub async fn fan_out(io: SocketIo, state: Arc<AppState>, shutdown: Shutdown) {
    let channel = realtime::channel(&state.cache);
    let n = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).clamp(1, 8);
    let shards: Vec<tokio::sync::mpsc::Sender<Envelope>> = (0..n)
        .map(|_| {
            let (tx, mut rx) = tokio::sync::mpsc::channel::<Envelope>(1024);
            let io = io.clone();
            tokio::spawn(async move {
                while let Some(e) = rx.recv().await {
                    deliver(&io, e).await;
                }
            });
            tx
        })
        .collect();
    loop {
        let run = async {
            let client = redis::Client::open(state.config.redis_url.expose())?;
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            let mut messages = pubsub.on_message();
            while let Some(msg) = messages.next().await {
                let read = msg.get_payload::<String>().map_err(|e| format!("not text: {e}")).and_then(|t| {
                    realtime::read_message(&t).map_err(|e| format!("not an envelope or an array of them: {e}"))
                });
                let envelopes = match read {
                    Ok(envelopes) => envelopes,
                    Err(error) => {
                        metrics::counter!("realtime_messages_unreadable_total").increment(1);
                        tracing::error!(%error, "a realtime message could not be read; dropped");
                        continue;
                    }
                };
                for e in envelopes {
                    let shard = &shards[(e.user.as_u128() % n as u128) as usize];
                    shard.send(e).await.map_err(|_| anyhow::anyhow!("a realtime shard stopped"))?;
                }
            }
            anyhow::Ok(())
        };
        tokio::select! {
            r = run => {
                if let Err(e) = r {
                    tracing::warn!(error = %e, "realtime subscription lost; reconnecting");
                }
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            _ = shutdown.wait() => return,
        }
    }
}

/// One event to the local sockets of its user (or the end of its sessions).
async fn deliver(io: &SocketIo, e: Envelope) {
    let room = format!("user:{}", e.user);
    if e.event == realtime::SESSION_REVOKED {
        end_sessions(io, &room, &e);
        return;
    }
    // A socket whose buffer is full misses this emit; its replay (by seq) brings it back.
    if let Err(err) = io.to(room).emit(e.event.as_str(), &e.payload).await {
        metrics::counter!("socket_emit_errors_total", "event" => e.event.clone()).increment(1);
        tracing::warn!(user_id = %e.user, event = %e.event, error = %err, "emit failed; the client replays it");
    }
}

/// Ends the sockets a `session_revoked` envelope names (the user's, or only those signed in
/// with its `jti`): each is told why and disconnected.
fn end_sessions(io: &SocketIo, room: &str, e: &Envelope) {
    let only = e.payload.get("jti").and_then(|v| v.as_str()).and_then(|v| Uuid::parse_str(v).ok());
    let mut dropped = 0;
    for s in io.to(room.to_owned()).sockets() {
        if only.is_some_and(|jti| s.extensions.get::<Claims>().map(|c| c.jti) != Some(jti)) {
            continue;
        }
        let _ = s.emit(realtime::SESSION_REVOKED, &e.payload);
        let _ = s.disconnect();
        dropped += 1;
    }
    tracing::info!(user_id = %e.user, dropped, code = %e.payload["code"], "sockets of a revoked session dropped");
}

/// Closes `s` when its access token expires, unless it sent a newer token first (`reauth`):
/// a socket lives no longer than the token that opened it.
fn expire_with_token(s: SocketRef) {
    tokio::spawn(async move {
        loop {
            let Some(exp) = s.extensions.get::<Claims>().map(|c| c.exp) else { return };
            let left = exp - chrono::Utc::now().timestamp();
            if left <= 0 {
                let _ = s.emit(realtime::SESSION_EXPIRED, &serde_json::json!({ "code": "TOKEN_EXPIRED" }));
                let _ = s.disconnect();
                return;
            }
            tokio::time::sleep(std::time::Duration::from_secs(left as u64)).await;
            if !s.connected() {
                return;
            }
        }
    });
}

/// Serves `/socket.io` inside poem: WebSocket upgrades are answered here (poem keeps hyper's
/// upgrade in its own request, so the tower service cannot see it) and the upgraded stream is
/// handed to engineioxide.
#[derive(Clone)]
pub struct SocketEndpoint {
    svc: Svc,
    /// Proxies in front of the API (for the client's address; `crate::client_ip`).
    hops: usize,
}

const WS_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

impl Endpoint for SocketEndpoint {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let is_ws = req
            .headers()
            .get("upgrade")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
        let key = req.headers().get("sec-websocket-key").cloned();
        let (true, Some(key)) = (is_ws, key) else {
            let e = Error::rejected(
                400,
                "WEBSOCKET_REQUIRED",
                "connect with the WebSocket transport (transports: ['websocket'])",
            );
            return Ok(error_response(&e));
        };
        let upgrade = req.take_upgrade().map_err(|_| poem::Error::from_status(StatusCode::BAD_REQUEST))?;
        let ip = crate::client_ip(&req, self.hops);
        let mut head =
            http::Request::builder().method(req.method().clone()).uri(req.uri().clone()).extension(ClientIp(ip));
        for (name, value) in req.headers() {
            head = head.header(name, value);
        }
        let head = head.body(()).map_err(|_| poem::Error::from_status(StatusCode::BAD_REQUEST))?;
        let mut svc = self.svc.clone();
        tokio::spawn(async move {
            match upgrade.await {
                Ok(stream) => {
                    let ready = std::future::poll_fn(|cx: &mut Context<'_>| -> Poll<_> {
                        Service::<(poem::Upgraded, http::Request<()>)>::poll_ready(&mut svc, cx)
                    })
                    .await;
                    if ready.is_ok() {
                        let _ = svc.call((stream, head)).await;
                    }
                }
                Err(e) => tracing::debug!(error = %e, "websocket upgrade failed"),
            }
        });
        let accept = base64::engine::general_purpose::STANDARD
            .encode(Sha1::new().chain_update(key.as_bytes()).chain_update(WS_GUID).finalize());
        let mut resp = StatusCode::SWITCHING_PROTOCOLS.into_response();
        let h = resp.headers_mut();
        h.insert("upgrade", HeaderValue::from_static("websocket"));
        h.insert("connection", HeaderValue::from_static("Upgrade"));
        h.insert(
            "sec-websocket-accept",
            HeaderValue::from_str(&accept).map_err(|_| poem::Error::from_status(StatusCode::BAD_REQUEST))?,
        );
        Ok(resp)
    }
}
