//! The OTP sign-in flow, refresh rotation with reuse detection, logout and role claims.

use reqwest::StatusCode;
use serde_json::{Value, json};
use weelo_shared::auth::TokenSigner;

use crate::helpers::{assert_problem, spawn_app, spawn_app_with};

#[tokio::test]
async fn otp_flow_signs_in_and_me_returns_the_user() {
    let app = spawn_app().await;
    let s = app.login("+91 98765 43210", "customer").await;
    let me: Value = app.get_auth("/v1/me", &s.access).await.json().await.unwrap();
    assert_eq!(me["phone"], "+919876543210");
    assert_eq!(me["role"], "customer");
    assert_eq!(me["id"], s.user_id);
    // The OTP is stored hashed, never as the code.
    let stored: Vec<String> =
        sqlx::query_scalar("SELECT code_hash FROM otp_challenges").fetch_all(&app.db).await.unwrap();
    let code = app.sms.last_code("9876543210").unwrap();
    assert!(stored.iter().all(|h| !h.contains(&code) && h.len() == 64));
    // Signing in again with the same phone and role is the same user.
    let again = app.login("9876543210", "customer").await;
    assert_eq!(again.user_id, s.user_id);
    // The same phone as a transporter is a different account.
    let t = app.login("9876543210", "transporter").await;
    assert_ne!(t.user_id, s.user_id);
}

#[tokio::test]
async fn wrong_code_counts_down_then_too_many_attempts() {
    let app = spawn_app().await;
    assert_eq!(app.request_otp("9000000001", "customer").await.status(), StatusCode::ACCEPTED);
    let code = app.sms.last_code("9000000001").unwrap();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let b = assert_problem(app.verify_otp("9000000001", "customer", wrong).await, 401, "OTP_INVALID").await;
    assert_eq!(b["attemptsLeft"], 2);
    let b = assert_problem(app.verify_otp("9000000001", "customer", wrong).await, 401, "OTP_INVALID").await;
    assert_eq!(b["attemptsLeft"], 1);
    let b = assert_problem(app.verify_otp("9000000001", "customer", wrong).await, 401, "OTP_INVALID").await;
    assert_eq!(b["attemptsLeft"], 0);
    // Even the right code is refused now.
    assert_problem(app.verify_otp("9000000001", "customer", &code).await, 429, "OTP_TOO_MANY_ATTEMPTS").await;
}

#[tokio::test]
async fn concurrent_guesses_cannot_exceed_the_attempt_limit() {
    let app = spawn_app().await;
    app.request_otp("9000000002", "customer").await;
    let code = app.sms.last_code("9000000002").unwrap();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let guesses = (0..20).map(|_| app.verify_otp("9000000002", "customer", wrong));
    let results = futures::future::join_all(guesses).await;
    let invalid = results.iter().filter(|r| r.status() == StatusCode::UNAUTHORIZED).count();
    let limited = results.iter().filter(|r| r.status() == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!(invalid, 3, "exactly the allowed number of guesses were checked");
    assert_eq!(limited, 17);
    let attempts: i32 = sqlx::query_scalar("SELECT attempts FROM otp_challenges").fetch_one(&app.db).await.unwrap();
    assert_eq!(attempts, 3);
}

#[tokio::test]
async fn expired_code_is_refused() {
    let app = spawn_app_with(&[("WEELO_OTP_TTL_SECS", "1")]).await;
    app.request_otp("9000000003", "transporter").await;
    let code = app.sms.last_code("9000000003").unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_problem(app.verify_otp("9000000003", "transporter", &code).await, 401, "OTP_EXPIRED").await;
    // A code cannot be used twice either.
    app.request_otp("9000000003", "transporter").await;
    let fresh = app.sms.last_code("9000000003").unwrap();
    assert_eq!(app.verify_otp("9000000003", "transporter", &fresh).await.status(), StatusCode::OK);
    assert_problem(app.verify_otp("9000000003", "transporter", &fresh).await, 401, "OTP_EXPIRED").await;
}

#[tokio::test]
async fn resend_cooldown_answers_429_with_retry_after() {
    let app = spawn_app_with(&[("WEELO_OTP_RESEND_COOLDOWN_SECS", "30")]).await;
    assert_eq!(app.request_otp("9000000004", "customer").await.status(), StatusCode::ACCEPTED);
    let r = app.request_otp("+919000000004", "customer").await;
    let retry_after: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=30).contains(&retry_after), "{retry_after}");
    let b = assert_problem(r, 429, "OTP_COOLDOWN").await;
    assert_eq!(b["retryAfterSeconds"], retry_after);
    assert_eq!(app.sms.count("9000000004"), 1, "no second SMS was sent");
    // The cooldown is per phone, whatever the role (each code is an SMS to the same phone).
    assert_eq!(app.request_otp("9000000004", "transporter").await.status(), StatusCode::TOO_MANY_REQUESTS);
    // Concurrent requests for one phone send one code.
    let burst = futures::future::join_all((0..10).map(|_| app.request_otp("9000000005", "customer"))).await;
    assert_eq!(burst.iter().filter(|r| r.status() == StatusCode::ACCEPTED).count(), 1);
    assert_eq!(app.sms.count("9000000005"), 1);
}

#[tokio::test]
async fn bad_input_is_a_422_naming_the_field() {
    let app = spawn_app().await;
    let b = assert_problem(app.request_otp("12345", "customer").await, 422, "VALIDATION_FAILED").await;
    assert_eq!(b["errors"][0]["field"], "phone");
    let b = assert_problem(app.verify_otp("9876543210", "customer", "12ab").await, 422, "VALIDATION_FAILED").await;
    assert_eq!(b["errors"][0]["field"], "code");
    assert_problem(app.request_otp("9876543210", "pilot").await, 422, "VALIDATION_FAILED").await;
    assert_problem(app.post("/v1/auth/otp/request", json!({ "phone": 9876543210u64 })).await, 422, "VALIDATION_FAILED")
        .await;
    let r = app
        .client
        .post(app.url("/v1/auth/otp/request"))
        .body("{not json")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_problem(r, 422, "VALIDATION_FAILED").await;
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM otp_challenges").fetch_one(&app.db).await.unwrap();
    assert_eq!(n, 0, "nothing was written");
}

#[tokio::test]
async fn driver_otp_goes_to_its_transporter_and_admins_cannot_self_register() {
    let app = spawn_app().await;
    let t = app.login("9111111111", "transporter").await;
    // An unknown driver gets the same answer as a known one, and nothing is sent to anybody.
    let r = app.request_otp("9222222222", "driver").await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let unknown: Value = r.json().await.unwrap();
    assert_eq!(app.sms.count("9222222222") + app.sms.count("9111111111"), 1, "only the transporter's own sign-in code");
    sqlx::query(
        "INSERT INTO users (id, phone, role, transporter_id) VALUES (gen_random_uuid(), '+919222222222', 'driver', $1)",
    )
    .bind(uuid::Uuid::parse_str(&t.user_id).unwrap())
    .execute(&app.db)
    .await
    .unwrap();
    let r = app.request_otp("9222222222", "driver").await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["sentTo"], "+91******2222", "the transporter's digits are never shown");
    assert_eq!(body["deliveredVia"], "transporter");
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&body), keys(&unknown), "known and unknown drivers get the same answer");
    assert_eq!((&body["sentTo"], &body["deliveredVia"]), (&unknown["sentTo"], &unknown["deliveredVia"]));
    assert_eq!(app.sms.count("9222222222"), 0, "nothing went to the driver's own phone");
    assert_eq!(app.sms.count("9111111111"), 2, "the code went to the transporter");
    let code = app.sms.last_code("9111111111").unwrap();
    let r = app.verify_otp("9222222222", "driver", &code).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["user"]["role"], "driver");
    assert_eq!(body["user"]["transporterId"], t.user_id.as_str());
    // Nobody becomes an admin by signing in: the answer looks like any other, no code is sent,
    // and no code entered for it works.
    let r = app.request_otp("9333333333", "admin").await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(app.sms.count("9333333333"), 0);
    assert_problem(app.verify_otp("9333333333", "admin", "123456").await, 401, "OTP_INVALID").await;
    let admins: i64 =
        sqlx::query_scalar("SELECT count(*) FROM users WHERE role = 'admin'").fetch_one(&app.db).await.unwrap();
    assert_eq!(admins, 0);
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let app = spawn_app().await;
    let s = app.login("9444444444", "customer").await;
    let r = app.post("/v1/auth/refresh", json!({ "refreshToken": s.refresh })).await;
    assert_eq!(r.status(), StatusCode::OK);
    let second: Value = r.json().await.unwrap();
    let second_refresh = second["refreshToken"].as_str().unwrap().to_owned();
    assert_ne!(second_refresh, s.refresh);
    // The new access token works.
    assert_eq!(app.get_auth("/v1/me", second["accessToken"].as_str().unwrap()).await.status(), StatusCode::OK);
    // Presenting the first (rotated) token again is reuse: the whole family is revoked...
    assert_problem(
        app.post("/v1/auth/refresh", json!({ "refreshToken": s.refresh })).await,
        401,
        "REFRESH_TOKEN_REUSED",
    )
    .await;
    // ...so the legitimately rotated one stops working too.
    assert_problem(
        app.post("/v1/auth/refresh", json!({ "refreshToken": second_refresh })).await,
        401,
        "REFRESH_TOKEN_REVOKED",
    )
    .await;
    assert_problem(
        app.post("/v1/auth/refresh", json!({ "refreshToken": "nonsense" })).await,
        401,
        "REFRESH_TOKEN_INVALID",
    )
    .await;
    // A different session of the same user is untouched.
    let other = app.login("9444444444", "customer").await;
    assert_eq!(app.post("/v1/auth/refresh", json!({ "refreshToken": other.refresh })).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn concurrent_refresh_with_one_token_yields_one_winner() {
    let app = spawn_app().await;
    let s = app.login("9555555555", "customer").await;
    let tries =
        futures::future::join_all((0..10).map(|_| app.post("/v1/auth/refresh", json!({ "refreshToken": s.refresh }))))
            .await;
    let ok = tries.iter().filter(|r| r.status() == StatusCode::OK).count();
    assert_eq!(ok, 1);
    assert!(tries.iter().all(|r| r.status() == StatusCode::OK || r.status() == StatusCode::UNAUTHORIZED));
}

#[tokio::test]
async fn logout_revokes_access_and_refresh() {
    let app = spawn_app().await;
    let s = app.login("9666666666", "transporter").await;
    let r = app.post_auth("/v1/auth/logout", &s.access, json!({ "refreshToken": s.refresh })).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_problem(app.get_auth("/v1/me", &s.access).await, 401, "UNAUTHORIZED").await;
    assert_problem(
        app.post("/v1/auth/refresh", json!({ "refreshToken": s.refresh })).await,
        401,
        "REFRESH_TOKEN_REVOKED",
    )
    .await;
    // The deny-list entry lives under this test's prefix and expires.
    let mut conn = redis::Client::open(weelo_shared::testkit::redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let keys: Vec<String> =
        redis::cmd("KEYS").arg(format!("{}:auth:revoked:*", app.prefix)).query_async(&mut conn).await.unwrap();
    assert_eq!(keys.len(), 1);
    let ttl: i64 = redis::cmd("TTL").arg(&keys[0]).query_async(&mut conn).await.unwrap();
    assert!(ttl > 0 && ttl <= 910, "{ttl}");
}

#[tokio::test]
async fn access_token_claims_carry_role_and_bad_tokens_are_refused() {
    let app = spawn_app().await;
    let s = app.login("9777777777", "transporter").await;
    let config = weelo_shared::config::Config::from_vars(&Default::default()).unwrap();
    let claims = TokenSigner::new(&config).verify(&s.access).expect("signed with the configured secret");
    assert_eq!(claims.role, weelo_shared::domain::Role::Transporter);
    assert_eq!(claims.sub.to_string(), s.user_id);
    assert!(claims.exp > claims.iat);
    assert_problem(app.get_auth("/v1/me", "not-a-jwt").await, 401, "UNAUTHORIZED").await;
    assert_problem(app.client.get(app.url("/v1/me")).send().await.unwrap(), 401, "UNAUTHORIZED").await;
    // A token signed with another secret is refused.
    let mut vars = std::collections::HashMap::new();
    vars.insert("WEELO_JWT_SECRET".to_owned(), "some-other-secret-that-is-long-enough-123".to_owned());
    let forged = TokenSigner::new(&weelo_shared::config::Config::from_vars(&vars).unwrap())
        .issue(claims.sub, weelo_shared::domain::Role::Admin, None)
        .unwrap()
        .0;
    assert_problem(app.get_auth("/v1/me", &forged).await, 401, "UNAUTHORIZED").await;
}

#[tokio::test]
async fn the_webhook_sms_sender_posts_the_code_to_the_gateway() {
    use poem::listener::{Acceptor, Listener};
    let received = std::sync::Arc::new(tokio::sync::Mutex::new(Vec::<(Option<String>, Value)>::new()));
    let sink = received.clone();
    let gateway = poem::Route::new().at(
        "/send",
        poem::post(poem::endpoint::make(move |req: poem::Request| {
            let sink = sink.clone();
            async move {
                let auth = req.headers().get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned);
                let body: Value = serde_json::from_slice(&req.into_body().into_vec().await.unwrap()).unwrap();
                sink.lock().await.push((auth, body));
                poem::http::StatusCode::ACCEPTED
            }
        })),
    );
    let acceptor = poem::listener::TcpListener::bind("127.0.0.1:0").into_acceptor().await.unwrap();
    let addr = acceptor.local_addr()[0].as_socket_addr().copied().unwrap();
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(gateway));
    let url = format!("http://{addr}/send");
    let app = spawn_app_with(&[
        ("WEELO_SMS_SENDER", "webhook"),
        ("WEELO_SMS_WEBHOOK_URL", &url),
        ("WEELO_SMS_WEBHOOK_TOKEN", "gateway-token"),
    ])
    .await;
    assert_eq!(app.request_otp("9123456780", "customer").await.status(), StatusCode::ACCEPTED);
    let got = received.lock().await.clone();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0.as_deref(), Some("Bearer gateway-token"));
    assert_eq!(got[0].1["to"], "+919123456780");
    let code = got[0].1["code"].as_str().unwrap().to_owned();
    assert_eq!(app.verify_otp("9123456780", "customer", &code).await.status(), StatusCode::OK);
}
