//! Memory before login (issue 14, item 3): no request body and no Socket.IO message makes the
//! API read more than its limit, with or without a token, and a socket that never completes its
//! handshake is dropped. Raw TCP, so nothing in between trims the attack.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use weelo_api::{MAX_BODY_BYTES, socket::MAX_MESSAGE_BYTES};

use crate::helpers::{assert_problem, spawn_app, spawn_app_with};

fn addr(base: &str) -> String {
    base.trim_start_matches("http://").to_owned()
}

/// Sends `head` and then `body` in chunks, and returns the status line and whatever headers and
/// body came back before the server closed or 5 s passed.
async fn raw(addr: &str, head: String, body: Vec<u8>) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    // The server may answer (and close) before it has read everything: a write error then is fine.
    for chunk in body.chunks(64 * 1024) {
        if s.write_all(chunk).await.is_err() {
            break;
        }
    }
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    while let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await {
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
        if got.windows(4).any(|w| w == b"\r\n\r\n") && String::from_utf8_lossy(&got).contains("}") {
            break;
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_413_problem_before_it_is_read() {
    let app = spawn_app_with(&[("WEELO_OPS_ADDR", "127.0.0.1:0")]).await;
    let big = format!(r#"{{"phone":"+919800000001","role":"customer","pad":"{}"}}"#, "x".repeat(MAX_BODY_BYTES));
    let r = app.client.post(app.url("/v1/auth/otp/request")).body(big.clone()).send().await.unwrap();
    assert_problem(r, 413, "PAYLOAD_TOO_LARGE").await;
    let ops = app.ops.clone().unwrap();
    let r = app.client.post(format!("{ops}/api/sign-in/request")).body(big).send().await.unwrap();
    assert_problem(r, 413, "PAYLOAD_TOO_LARGE").await;

    // Declaring 300 MB is refused from the header alone: the API answers without waiting for it.
    let started = Instant::now();
    let head = "POST /v1/auth/otp/request HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                Content-Length: 300000000\r\n\r\n"
        .to_owned();
    let answer = raw(&addr(&app.base), head, b"{".to_vec()).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "declared 300 MB: {answer}");
    assert!(answer.contains("PAYLOAD_TOO_LARGE"), "a problem body: {answer}");
    assert!(started.elapsed() < Duration::from_secs(4), "answered without reading the body");

    // A chunked body (no Content-Length) is read only up to the limit.
    let head = "POST /v1/auth/otp/request HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                Transfer-Encoding: chunked\r\n\r\n"
        .to_owned();
    let mut body = Vec::new();
    for _ in 0..40 {
        let chunk = vec![b' '; 32 * 1024];
        body.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        body.extend_from_slice(&chunk);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"0\r\n\r\n");
    let answer = raw(&addr(&app.base), head, body).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "1.25 MiB chunked: {answer}");

    // A small body still works, chunked or not.
    let r = app
        .client
        .post(app.url("/v1/auth/otp/request"))
        .json(&serde_json::json!({ "phone": "+919800000002", "role": "customer" }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "a normal request: {}", r.status());
}

/// Opens a raw WebSocket to `/socket.io` (no token), returns the stream after the 101 and the
/// engine.io open packet.
async fn raw_socket(base: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr(base)).await.unwrap();
    let head = "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
                Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    s.write_all(head.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    // The 101 and then the open packet (a text frame starting with '0').
    while !(got.windows(4).any(|w| w == b"\r\n\r\n") && got.contains(&b'{')) {
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0, "the server closed during the upgrade");
        got.extend_from_slice(&buf[..n]);
    }
    assert!(got.starts_with(b"HTTP/1.1 101"), "upgraded: {}", String::from_utf8_lossy(&got));
    s
}

/// A masked client text frame.
fn frame(payload: &[u8]) -> Vec<u8> {
    let mask = [0x12u8, 0x34, 0x56, 0x78];
    let mut f = vec![0x81];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n <= u16::MAX as usize => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// Reads until the server closes the connection (EOF, a reset, or a close frame), or `within`
/// passes; true when it closed.
async fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            // 0x88: a close frame.
            Ok(Ok(n)) if buf[..n].contains(&0x88) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn an_unauthenticated_socket_cannot_send_a_big_message_or_linger() {
    let app = spawn_app().await;

    // One message four times the limit, before any handshake: the connection is closed.
    let mut s = raw_socket(&app.base).await;
    let mut big = b"40".to_vec();
    big.extend(std::iter::repeat_n(b'x', 4 * MAX_MESSAGE_BYTES));
    let _ = s.write_all(&frame(&big)).await;
    assert!(closed_within(&mut s, Duration::from_secs(3)).await, "a message over the limit closes the socket");

    // A socket that never connects to a namespace (so never shows a token) is dropped after the
    // connect timeout.
    let mut s = raw_socket(&app.base).await;
    let started = Instant::now();
    assert!(closed_within(&mut s, Duration::from_secs(10)).await, "a socket that never connects is dropped");
    let waited = started.elapsed();
    assert!(waited >= Duration::from_secs(4), "dropped by the connect timeout, not at once: {waited:?}");
}
