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

// ---- OTP guessing (issue 14, item 1) ----------------------------------------------------------

async fn otp_request(
    app: &crate::helpers::TestApp,
    phone: &str,
    role: &str,
    forwarded: Option<&str>,
) -> reqwest::Response {
    let mut r =
        app.client.post(app.url("/v1/auth/otp/request")).json(&serde_json::json!({ "phone": phone, "role": role }));
    if let Some(f) = forwarded {
        r = r.header("x-forwarded-for", f);
    }
    r.send().await.unwrap()
}

#[tokio::test]
async fn wrong_codes_are_budgeted_per_phone_across_codes_and_roles() {
    let app = spawn_app().await;
    let phone = "9811122233";
    let mut failures = 0;
    // 3 wrong guesses per code, new codes at will (no cooldown here): the 10th wrong code locks.
    'codes: loop {
        assert_eq!(app.request_otp(phone, "customer").await.status(), 202);
        for _ in 0..3 {
            failures += 1;
            let r = app.verify_otp(phone, "customer", "000000").await;
            if failures == 10 {
                assert_problem(r, 429, "OTP_LOCKED").await;
                break 'codes;
            }
            assert_problem(r, 401, "OTP_INVALID").await;
        }
    }
    // Locked: no new code (for any role of that phone), and not even the right code works.
    let sent = app.sms.count(phone);
    let right = app.sms.last_code(phone).unwrap();
    let r = app.request_otp(phone, "customer").await;
    let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert_problem(r, 429, "OTP_LOCKED").await;
    assert!(retry > 23 * 3600, "locked for about a day: {retry} s");
    assert_problem(app.request_otp(phone, "transporter").await, 429, "OTP_LOCKED").await;
    assert_problem(app.verify_otp(phone, "customer", &right).await, 429, "OTP_LOCKED").await;
    assert_eq!(app.sms.count(phone), sent, "a locked phone is sent nothing");
    // Another phone is unaffected.
    let s = app.login("9811122234", "customer").await;
    assert!(!s.access.is_empty());
}

#[tokio::test]
async fn codes_per_phone_back_off_and_stop_for_the_day() {
    let app = spawn_app_with(&[("WEELO_OTP_RESEND_COOLDOWN_SECS", "30"), ("WEELO_OTP_DAILY_MAX", "4")]).await;
    let phone = "9811133344";
    let age_codes = |secs: i64| {
        let db = app.db.clone();
        async move {
            sqlx::query("UPDATE otp_challenges SET created_at = created_at - make_interval(secs => $1)")
                .bind(secs as f64)
                .execute(&db)
                .await
                .unwrap();
        }
    };
    let r = otp_request(&app, phone, "customer", None).await;
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["resendAfterSeconds"], 30);
    assert_problem(otp_request(&app, phone, "customer", None).await, 429, "OTP_COOLDOWN").await;
    // The same phone in another role shares the limit.
    assert_problem(otp_request(&app, phone, "transporter", None).await, 429, "OTP_COOLDOWN").await;
    age_codes(31).await;
    let r = otp_request(&app, phone, "customer", None).await;
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["resendAfterSeconds"], 60, "the next resend waits twice as long");
    age_codes(31).await;
    let r = otp_request(&app, phone, "customer", None).await;
    assert_eq!(r.headers()["retry-after"], "29", "31 s of the 60 s wait have passed");
    assert_problem(r, 429, "OTP_COOLDOWN").await;
    age_codes(30).await;
    assert_eq!(otp_request(&app, phone, "customer", None).await.status(), 202);
    age_codes(3600).await;
    assert_eq!(otp_request(&app, phone, "customer", None).await.status(), 202);
    // Four codes today: the fifth waits until the first is a day old, whatever the cooldown.
    age_codes(7200).await;
    let r = otp_request(&app, phone, "customer", None).await;
    let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert_problem(r, 429, "OTP_DAILY_LIMIT").await;
    assert!(retry < 24 * 3600 - 7200, "until the oldest code ages out: {retry} s");
    assert_eq!(app.sms.count(phone), 4, "four codes sent, no more");
}

#[tokio::test]
async fn code_requests_are_limited_per_source_address_behind_the_load_balancer() {
    let app = spawn_app_with(&[("WEELO_OTP_PER_SOURCE_PER_HOUR", "3"), ("WEELO_TRUSTED_PROXY_HOPS", "1")]).await;
    // The ALB appends the client's address last; whatever the client wrote before it is ignored.
    for (i, forwarded) in ["1.1.1.1, 203.0.113.9", "2.2.2.2, 203.0.113.9", "203.0.113.9"].iter().enumerate() {
        let r = otp_request(&app, &format!("98111444{i:02}"), "customer", Some(forwarded)).await;
        assert_eq!(r.status(), 202, "request {i} from 203.0.113.9");
    }
    let r = otp_request(&app, "9811144499", "customer", Some("7.7.7.7, 203.0.113.9")).await;
    assert!(r.headers().contains_key("retry-after"));
    assert_problem(r, 429, "OTP_SOURCE_LIMIT").await;
    assert_eq!(app.sms.count("9811144499"), 0);
    // Another network has its own allowance.
    assert_eq!(otp_request(&app, "9811144498", "customer", Some("198.51.100.7")).await.status(), 202);
}

// ---- Push amplification (issue 14, item 5) -----------------------------------------------------

#[tokio::test]
async fn a_user_keeps_at_most_five_devices_and_registers_at_most_twenty_times_an_hour() {
    let app = spawn_app().await;
    let (me, token) = app.user("transporter").await;
    let (other, other_token) = app.user("transporter").await;
    let register = |token: String, fcm: String| {
        let r = app
            .client
            .put(app.url("/v1/devices/me"))
            .bearer_auth(token)
            .json(&serde_json::json!({ "fcmToken": fcm, "platform": "android" }));
        async move { r.send().await.unwrap() }
    };
    let tokens_of = |user: uuid::Uuid| {
        let db = app.db.clone();
        async move {
            sqlx::query_scalar::<_, String>("SELECT token FROM device_tokens WHERE user_id = $1 ORDER BY token")
                .bind(user)
                .fetch_all(&db)
                .await
                .unwrap()
        }
    };
    for i in 0..7 {
        assert_eq!(register(token.clone(), format!("device-{i}")).await.status(), 204);
    }
    assert_eq!(tokens_of(me).await, ["device-2", "device-3", "device-4", "device-5", "device-6"], "the newest five");
    // A token belongs to one user at a time: registered by another, it leaves the first.
    assert_eq!(register(other_token, "device-6".into()).await.status(), 204);
    assert_eq!(tokens_of(other).await, ["device-6"]);
    assert!(!tokens_of(me).await.contains(&"device-6".to_owned()));
    // Twenty registrations an hour, then 429 (re-registering the same token counts too).
    for _ in 7..20 {
        assert_eq!(register(token.clone(), "device-2".into()).await.status(), 204);
    }
    let r = register(token.clone(), "device-2".into()).await;
    assert!(r.headers().contains_key("retry-after"));
    assert_problem(r, 429, "RATE_LIMITED").await;
}

// ---- What the internet sees (issue 14, item 6) -------------------------------------------------

#[tokio::test]
async fn in_production_metrics_docs_and_readiness_details_are_only_on_the_ops_listener() {
    let app = spawn_app_with(&[("WEELO_OPS_ADDR", "127.0.0.1:0"), ("WEELO_PUBLIC_OPS_ENDPOINTS", "false")]).await;
    let ops = app.ops.clone().unwrap();
    for path in ["/metrics", "/docs", "/openapi.json"] {
        let r = app.client.get(app.url(path)).send().await.unwrap();
        assert_problem(r, 404, "NOT_FOUND").await;
        let r = app.client.get(format!("{ops}{path}")).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path} on the ops listener");
    }
    let public: serde_json::Value =
        app.client.get(app.url("/health/ready")).send().await.unwrap().json().await.unwrap();
    assert_eq!(public, serde_json::json!({ "status": "ok" }), "no dependency details to the internet");
    let private: serde_json::Value =
        app.client.get(format!("{ops}/health/ready")).send().await.unwrap().json().await.unwrap();
    assert_eq!(private["postgres"], "ok");

    // Random paths all count as one route: no new metric series per path.
    for i in 0..30 {
        app.client.get(app.url(&format!("/v1/probe-{i}/x{i}"))).send().await.unwrap();
        app.client.get(app.url(&format!("/wp-admin-{i}.php"))).send().await.unwrap();
    }
    let metrics = app.client.get(format!("{ops}/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(!metrics.contains("probe-") && !metrics.contains("wp-admin"), "no raw path in a label");
    assert!(metrics.contains(r#"route="unmatched""#), "unmatched paths share one label");
}

// ---- Development defaults and tokens (issue 14, item 7) ----------------------------------------

#[tokio::test]
async fn a_token_must_match_its_accounts_role_and_transporter() {
    let app = spawn_app().await;
    let (transporter, _) = app.user("transporter").await;
    let (other, _) = app.user("transporter").await;
    let (driver, _) = app.driver_of(transporter).await;
    let signer = weelo_shared::auth::TokenSigner::new(&app.config);
    use weelo_shared::domain::Role;
    for (user, role, tid, why) in [
        (transporter, Role::Customer, None, "a transporter's id with the customer role"),
        (transporter, Role::Admin, None, "a transporter's id with the admin role"),
        (driver, Role::Driver, Some(other), "a driver with another transporter"),
        (driver, Role::Transporter, None, "a driver as a transporter"),
    ] {
        let token = signer.issue(user, role, tid).unwrap().0;
        let r = app.get_auth("/v1/me", &token).await;
        assert_eq!(r.status(), 401, "{why}");
        assert_problem(r, 401, "UNAUTHORIZED").await;
    }
    let token = signer.issue(driver, Role::Driver, Some(transporter)).unwrap().0;
    assert_eq!(app.get_auth("/v1/me", &token).await.status(), 200, "the account's own role and transporter");
}

#[tokio::test]
async fn the_binary_refuses_the_public_development_secret_when_it_listens_beyond_loopback() {
    let bin = env!("CARGO_BIN_EXE_weelo-api");
    let run = |vars: &[(&str, &str)]| {
        let out = std::process::Command::new(bin)
            .arg("check-config")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(vars.iter().copied())
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (ok, out) = run(&[("WEELO_HTTP_ADDR", "0.0.0.0:8080")]);
    assert!(!ok && out.contains("WEELO_JWT_SECRET"), "{out}");
    let (ok, out) =
        run(&[("WEELO_HTTP_ADDR", "0.0.0.0:8080"), ("WEELO_JWT_SECRET", "a-secret-of-our-own-32-characters-long")]);
    assert!(!ok && out.contains("WEELO_SMS_SENDER"), "the console sender logs codes: {out}");
    let (ok, out) = run(&[]);
    assert!(ok, "the defaults listen on 127.0.0.1 only: {out}");
}

// ---- Low findings (issue 14, item 8) ---------------------------------------------------------

#[tokio::test]
async fn cancelling_someone_elses_broadcast_locks_nothing() {
    let app = spawn_app().await;
    let (_, alice) = app.user("customer").await;
    let (_, mallory) = app.user("customer").await;
    let id = app.open_broadcast(&alice, &[("lcv", 1, 800)]).await;
    // A long transaction holds Alice's broadcast row (as an accept in progress would).
    let mut holder = app.db.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM broadcasts WHERE id = $1::uuid FOR UPDATE")
        .bind(&id)
        .execute(&mut *holder)
        .await
        .unwrap();
    let started = Instant::now();
    let r = tokio::time::timeout(
        Duration::from_secs(3),
        app.post_auth(&format!("/v1/broadcasts/{id}/cancel"), &mallory, serde_json::json!({})),
    )
    .await
    .expect("a foreign cancel does not wait for the broadcast's lock");
    assert_problem(r, 404, "BROADCAST_NOT_FOUND").await;
    assert!(started.elapsed() < Duration::from_secs(2));
    holder.rollback().await.unwrap();
}

#[tokio::test]
async fn the_api_and_the_worker_run_as_the_documented_least_privilege_role() {
    let db = weelo_shared::testkit::TestDb::new().await;
    let role = format!("weelo_app_{}", uuid::Uuid::new_v4().simple());
    let grants = include_str!("../../../infra/sql/runtime-grants.sql").replace("weelo_app", &role);
    let owner = db.pool().await;
    sqlx::query(&format!("CREATE ROLE {role} LOGIN")).execute(&owner).await.unwrap();
    sqlx::raw_sql(&grants).execute(&owner).await.expect("the grants file runs as the owner");
    let (scheme, rest) = db.url.split_once("://").unwrap();
    let host_and_db = rest.split_once('@').map_or(rest, |(_, h)| h);
    let as_role = format!("{scheme}://{role}@{host_and_db}");

    let app = crate::helpers::spawn_app_on(db, &[("DATABASE_URL", &as_role), ("WEELO_MIGRATE", "false")]).await;
    // The whole path, API and in-process worker jobs, as that role.
    let customer = app.login("9811155501", "customer").await;
    let transporter = app.login("9811155502", "transporter").await;
    let transporter_id = uuid::Uuid::parse_str(&transporter.user_id).unwrap();
    let vehicle = app.vehicle_for(transporter_id, "lcv").await;
    let id = app.open_broadcast(&customer.access, &[("lcv", 2, 800)]).await;
    app.notify(&id, &[transporter_id]).await;
    let r = app.accept(&transporter.access, &id, 0, vehicle, uuid::Uuid::new_v4().to_string()).await;
    assert!(r.status().is_success(), "accept as the runtime role: {}", r.text().await.unwrap_or_default());
    let r = app.post_auth(&format!("/v1/broadcasts/{id}/cancel"), &customer.access, serde_json::json!({})).await;
    assert!(r.status().is_success(), "cancel as the runtime role: {}", r.text().await.unwrap_or_default());
    app.run_pending_jobs().await;

    // What it may not do.
    let runtime = sqlx::PgPool::connect(&as_role).await.unwrap();
    for forbidden in [
        "CREATE TABLE intruder (i int)",
        "DROP TABLE users",
        "ALTER TABLE users ADD COLUMN x int",
        "SELECT count(*) FROM _sqlx_migrations",
        "TRUNCATE outbox",
    ] {
        let e = sqlx::query(forbidden).execute(&runtime).await.expect_err(forbidden);
        assert!(
            e.to_string().contains("permission denied") || e.to_string().contains("must be owner"),
            "{forbidden}: {e}"
        );
    }
    runtime.close().await;
    app.shutdown.trigger();
    sqlx::query(&format!("DROP OWNED BY {role}")).execute(&owner).await.unwrap();
    let admin = sqlx::PgPool::connect(&weelo_shared::testkit::server_url()).await.unwrap();
    sqlx::query(&format!("DROP ROLE IF EXISTS {role}")).execute(&admin).await.unwrap();
}

// ---- A silent SMS gateway (issue 14, item 2) ---------------------------------------------------

#[tokio::test]
async fn a_gateway_that_never_answers_holds_no_connection_and_starts_no_cooldown() {
    // A "gateway" that accepts connections and never says a word.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/send", silent.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let app = spawn_app_with(&[
        ("WEELO_SMS_SENDER", "webhook"),
        ("WEELO_SMS_WEBHOOK_URL", &url),
        ("WEELO_SMS_WEBHOOK_TOKEN", "test-token"),
        ("WEELO_DB_MAX_CONNECTIONS", "4"),
        ("WEELO_DB_ACQUIRE_TIMEOUT_MS", "1000"),
    ])
    .await;
    let (_, token) = app.user("customer").await;
    // Twenty sign-ins hang on the gateway: five times the pool.
    let hung: Vec<_> = (0..20)
        .map(|i| {
            let client = app.client.clone();
            let url = app.url("/v1/auth/otp/request");
            tokio::spawn(async move {
                client
                    .post(url)
                    .json(&serde_json::json!({ "phone": format!("98111666{i:02}"), "role": "customer" }))
                    .send()
                    .await
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Meanwhile everything else answers at once.
    for _ in 0..5 {
        let started = Instant::now();
        let r = app.get_auth("/v1/me", &token).await;
        assert_eq!(r.status(), 200, "the pool is not drained by the SMS calls");
        assert!(started.elapsed() < Duration::from_millis(900), "answered without waiting: {:?}", started.elapsed());
    }
    // The hung sign-ins end in a clean 503, and their codes are gone (no cooldown, no valid code).
    for h in hung {
        let r = h.await.unwrap().unwrap();
        assert_problem(r, 503, "SMS_UNAVAILABLE").await;
    }
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM otp_challenges").fetch_one(&app.db).await.unwrap();
    assert_eq!(left, 0);
}
