//! FCM HTTP v1 against a local fake: OAuth with the service account's key, the message body,
//! retries on 5xx, and dead tokens removed.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use poem::listener::{Acceptor, Listener, TcpListener};
use poem::web::{Data, Form, Json};
use poem::{EndpointExt, IntoResponse, Route, Server, handler, post};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::helpers::{Stack, eventually};

struct Fake {
    public_pem: String,
    token_uri: String,
    tokens_issued: AtomicUsize,
    fail_next: AtomicUsize,
    /// Messages whose request arrived (answered or not yet).
    arrived: AtomicUsize,
    received: Mutex<Vec<Value>>,
}

/// The FCM fake on a free port, failing its first `fail_next` sends with 503; returns it, its
/// base URL and service-account credentials pointing at it.
async fn start_fake(fail_next: usize) -> (Arc<Fake>, String, String) {
    let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await.unwrap();
    let addr = acceptor.local_addr()[0].as_socket_addr().copied().unwrap();
    let base = format!("http://{addr}");
    let token_uri = format!("{base}/token");
    let (credentials, public_pem) = service_account(&token_uri);
    let fake = Arc::new(Fake {
        public_pem,
        token_uri,
        tokens_issued: AtomicUsize::new(0),
        fail_next: AtomicUsize::new(fail_next),
        arrived: AtomicUsize::new(0),
        received: Mutex::new(Vec::new()),
    });
    let app = Route::new()
        .at("/token", post(token))
        .at("/v1/projects/weelo-test/messages:send", post(send))
        .data(fake.clone());
    tokio::spawn(Server::new_with_acceptor(acceptor).run(app));
    (fake, base, credentials)
}

#[derive(serde::Deserialize)]
struct TokenForm {
    grant_type: String,
    assertion: String,
}

#[handler]
async fn token(fake: Data<&Arc<Fake>>, form: Form<TokenForm>) -> poem::Response {
    assert_eq!(form.grant_type, "urn:ietf:params:oauth:grant-type:jwt-bearer");
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(fake.public_pem.as_bytes()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[fake.token_uri.as_str()]);
    let claims = jsonwebtoken::decode::<Value>(&form.assertion, &key, &validation);
    match claims {
        Ok(c) if c.claims["scope"] == "https://www.googleapis.com/auth/firebase.messaging" => {
            fake.tokens_issued.fetch_add(1, Ordering::SeqCst);
            Json(json!({ "access_token": "fake-access-token", "expires_in": 3600, "token_type": "Bearer" }))
                .into_response()
        }
        _ => poem::http::StatusCode::UNAUTHORIZED.into_response(),
    }
}

#[handler]
async fn send(fake: Data<&Arc<Fake>>, req: &poem::Request, body: Json<Value>) -> poem::Response {
    if req.headers().get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer fake-access-token") {
        return poem::http::StatusCode::UNAUTHORIZED.into_response();
    }
    let message = &body.0["message"];
    fake.arrived.fetch_add(1, Ordering::SeqCst);
    if message["token"].as_str().is_some_and(|t| t.starts_with("slow-")) {
        // FCM taking its time: the push is in flight for 2 s.
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    if message["token"] == "not-a-token" {
        // What FCM v1 answers for a string that is not a registration token.
        let err = json!({ "error": { "code": 400, "status": "INVALID_ARGUMENT",
            "message": "The registration token is not a valid FCM registration token",
            "details": [{ "errorCode": "INVALID_ARGUMENT" }] } });
        return Json(err).with_status(poem::http::StatusCode::BAD_REQUEST).into_response();
    }
    if message["token"] == "dead-token" {
        let err =
            json!({ "error": { "code": 404, "status": "NOT_FOUND", "details": [{ "errorCode": "UNREGISTERED" }] } });
        return Json(err).with_status(poem::http::StatusCode::NOT_FOUND).into_response();
    }
    if fake.fail_next.load(Ordering::SeqCst) > 0 {
        fake.fail_next.fetch_sub(1, Ordering::SeqCst);
        return poem::http::StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    fake.received.lock().await.push(body.0.clone());
    Json(json!({ "name": "projects/weelo-test/messages/1" })).into_response()
}

fn service_account(token_uri: &str) -> (String, String) {
    let dir = std::env::temp_dir().join(format!("weelo-fcm-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("key.pem");
    let ok = std::process::Command::new("openssl")
        .args(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out"])
        .arg(&key)
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success());
    let public = std::process::Command::new("openssl").args(["rsa", "-pubout", "-in"]).arg(&key).output().unwrap();
    let private_pem = std::fs::read_to_string(&key).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let credentials = json!({
        "type": "service_account", "project_id": "weelo-test", "private_key": private_pem,
        "client_email": "push@weelo-test.iam.gserviceaccount.com", "token_uri": token_uri,
    });
    (credentials.to_string(), String::from_utf8(public.stdout).unwrap())
}

#[tokio::test]
async fn pushes_reach_fcm_with_oauth_retry_on_5xx_and_dead_tokens_are_removed() {
    let (fake, base, credentials) = start_fake(2).await;

    let mut stack = Stack::new(&[("WEELO_FCM_CREDENTIALS", &credentials), ("WEELO_FCM_BASE_URL", &base)]).await;
    stack.start_worker();
    let (good, good_token) = stack.transporter_at(2.0, "open").await;
    let (dead, dead_token) = stack.transporter_at(3.0, "open").await;
    let r = stack.put("/v1/devices/me", &good_token, json!({ "fcmToken": "good-token", "platform": "android" })).await;
    assert_eq!(r.status(), 204);
    let r = stack.put("/v1/devices/me", &dead_token, json!({ "fcmToken": "dead-token", "platform": "ios" })).await;
    assert_eq!(r.status(), 204);
    let (invalid, invalid_token) = stack.transporter_at(4.0, "open").await;
    let r = stack.put("/v1/devices/me", &invalid_token, json!({ "fcmToken": "not-a-token", "platform": "ios" })).await;
    assert_eq!(r.status(), 204);
    let (_, customer) = stack.customer().await;
    let broadcast = stack.create_broadcast(&customer, &[("open", 1)]).await;

    let delivered = eventually(Duration::from_secs(15), || async { !fake.received.lock().await.is_empty() }).await;
    assert!(delivered, "the push arrived after the fake failed twice with 503");
    assert_eq!(fake.fail_next.load(Ordering::SeqCst), 0, "both failures were retried through");
    let received = fake.received.lock().await.clone();
    let message = &received[0]["message"];
    assert_eq!(message["token"], "good-token");
    assert_eq!(message["data"]["event"], "new_broadcast");
    let payload: Value = serde_json::from_str(message["data"]["payload"].as_str().unwrap()).unwrap();
    assert_eq!(payload["broadcastId"], json!(broadcast));
    assert_eq!(message["notification"]["title"], "New load near you");
    assert_eq!(fake.tokens_issued.load(Ordering::SeqCst), 1, "the OAuth token is cached");

    let removed = eventually(Duration::from_secs(10), || async {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM device_tokens WHERE user_id = ANY($1)")
            .bind(vec![dead, invalid])
            .fetch_one(&stack.db)
            .await
            .unwrap();
        n == 0
    })
    .await;
    assert!(removed, "the UNREGISTERED token and the one FCM calls invalid were deleted");
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM device_tokens WHERE user_id = $1")
        .bind(good)
        .fetch_one(&stack.db)
        .await
        .unwrap();
    assert_eq!(kept, 1);
}

/// Nothing is dropped (issue 13, part 4): a push whose FCM address is wrong fails to its attempt
/// limit and becomes a dead letter in PostgreSQL; an admin sees it in the ops console's API, the
/// operator fixes the configuration (a new worker with the right address), retries it, and the
/// message reaches FCM.
#[tokio::test]
async fn a_push_that_failed_to_its_limit_is_kept_listed_retried_after_a_fix_and_delivered() {
    let (fake, base, credentials) = start_fake(0).await;

    let wrong = format!("http://127.0.0.1:{}", weelo_shared::testkit::closed_port());
    let ops_port = weelo_shared::testkit::closed_port();
    let mut stack = Stack::new(&[
        ("WEELO_FCM_CREDENTIALS", &credentials),
        ("WEELO_FCM_BASE_URL", &wrong),
        ("WEELO_OPS_ADDR", &format!("127.0.0.1:{ops_port}")),
    ])
    .await;
    let first = stack.start_worker();
    let (_, transporter_token) = stack.transporter_at(2.0, "open").await;
    let device = json!({ "fcmToken": "good-token", "platform": "android" });
    assert_eq!(stack.put("/v1/devices/me", &transporter_token, device).await.status(), 204);
    let (_, customer) = stack.customer().await;
    stack.create_broadcast(&customer, &[("open", 1)]).await;

    // Six attempts (1 + 2 + 3 + 4 + 5 s apart), then a dead letter in PostgreSQL.
    let db = stack.db.clone();
    let dead = || {
        let db = db.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT id FROM dead_letters WHERE queue = 'push' AND status = 'dead'")
                .fetch_optional(&db)
                .await
                .unwrap()
        }
    };
    assert!(eventually(Duration::from_secs(40), || async { dead().await.is_some() }).await, "the push was kept");
    let letter = dead().await.unwrap();
    let (attempts, error): (i32, String) = sqlx::query_as("SELECT attempts, error FROM dead_letters WHERE id = $1")
        .bind(letter)
        .fetch_one(&stack.db)
        .await
        .unwrap();
    assert_eq!(attempts, 6, "it failed to its limit: {error}");
    assert!(fake.received.lock().await.is_empty());

    // An admin lists it on the ops listener.
    let admin = weelo_shared::testkit::user(&stack.db, weelo_shared::domain::Role::Admin).await;
    let admin_token = stack.token(admin, weelo_shared::domain::Role::Admin);
    let ops = format!("http://127.0.0.1:{ops_port}");
    let list: Value = stack
        .client
        .get(format!("{ops}/api/dead-letters?queue=push"))
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let listed = list.as_array().unwrap();
    assert!(listed.iter().any(|l| l["id"] == letter && l["payload"]["deviceToken"] == "good-token"), "{list}");

    // The fix is configuration: a worker with FCM's right address. Then the retry.
    stack.kill_worker(first).await;
    stack.set_var("WEELO_FCM_BASE_URL", &base);
    stack.start_worker();
    let r = stack
        .client
        .post(format!("{ops}/api/dead-letters/{letter}/retry"))
        .bearer_auth(&admin_token)
        .json(&json!({ "reason": "FCM address fixed" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    let delivered = eventually(Duration::from_secs(15), || async { !fake.received.lock().await.is_empty() }).await;
    assert!(delivered, "the retried push reached FCM");
    // The worker records the outcome in the transaction it ran the job in: it commits just after
    // the delivery the fake saw.
    let status = || async {
        let s: String = sqlx::query_scalar("SELECT status FROM dead_letters WHERE id = $1")
            .bind(letter)
            .fetch_one(&stack.db)
            .await
            .unwrap();
        s
    };
    eventually(Duration::from_secs(5), || async { status().await != "retry_requested" }).await;
    assert_eq!(status().await, "retried");
}

/// SIGTERM under load: the pushes in flight when the signal arrives all finish (each delivered
/// once; none is put back to run again on the next worker), and the worker exits 0 within its
/// grace period.
#[tokio::test]
async fn sigterm_lets_the_jobs_in_flight_finish() {
    let (fake, base, credentials) = start_fake(0).await;
    let mut stack = Stack::new(&[
        ("WEELO_FCM_CREDENTIALS", &credentials),
        ("WEELO_FCM_BASE_URL", &base),
        ("WEELO_SHUTDOWN_TIMEOUT_SECS", "10"),
    ])
    .await;
    let first = stack.start_worker();
    let conn = weelo_worker::jobs::connect(&weelo_shared::testkit::redis_url()).await.unwrap();
    const N: usize = 8;
    for i in 0..N {
        let job = weelo_worker::jobs::Push {
            device_token: format!("slow-{i}"),
            event: "new_broadcast".into(),
            data: Default::default(),
        };
        weelo_worker::jobs::push(conn.clone(), &stack.cache.keys, job, weelo_worker::jobs::Schedule::NOW)
            .await
            .unwrap();
    }
    let in_flight = eventually(Duration::from_secs(15), || async { fake.arrived.load(Ordering::SeqCst) == N }).await;
    assert!(in_flight, "all {N} pushes reached FCM ({} did)", fake.arrived.load(Ordering::SeqCst));
    assert!(fake.received.lock().await.is_empty(), "none answered yet");

    let exit = stack.terminate_worker(first, Duration::from_secs(12)).await;
    assert!(exit.success(), "the worker exits 0 after its in-flight jobs: {exit}");
    assert_eq!(fake.received.lock().await.len(), N, "every push in flight finished");

    // Nothing was left to run again: a new worker (past the missed-heartbeat reclaim of 3 s)
    // sends none of them a second time.
    stack.start_worker();
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(fake.arrived.load(Ordering::SeqCst), N, "no push ran twice");
}
