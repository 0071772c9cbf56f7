//! End to end: the real `weelo-api` binary on a free port, signed in over HTTP the way a phone
//! would, then stopped with SIGTERM.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use weelo_shared::testkit::{self, Output, Process, TestDb};

fn api() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_weelo-api"))
}

/// The API's environment on `port` with `database_url`, its own Redis prefix, and `extra`.
fn profile(database_url: &str, port: u16, extra: &[(&str, String)]) -> Vec<(String, String)> {
    let base = [
        ("DATABASE_URL", database_url.to_owned()),
        ("REDIS_URL", testkit::redis_url()),
        ("WEELO_REDIS_PREFIX", testkit::redis_prefix()),
        ("WEELO_HTTP_ADDR", format!("127.0.0.1:{port}")),
    ];
    base.iter().chain(extra).map(|(k, v)| ((*k).to_owned(), v.clone())).collect()
}

async fn wait_ready(client: &reqwest::Client, base: &str) -> bool {
    testkit::wait_ready(client, base, Duration::from_secs(15)).await
}

#[tokio::test]
async fn binary_serves_login_over_http_and_stops_on_sigterm() {
    let db = TestDb::new().await;
    let port = testkit::closed_port();
    let profile = profile(&db.url, port, &[("WEELO_LOG_FORMAT", "json".into()), ("RUST_LOG", "info".into())]);
    let mut api = Process::start(api(), &profile, Output::Piped).expect("start weelo-api");
    let mut lines = BufReader::new(api.child.stdout.take().unwrap()).lines();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();

    let ready = wait_ready(&client, &base).await;
    assert!(ready, "weelo-api never became ready");

    let r = client
        .post(format!("{base}/v1/auth/otp/request"))
        .json(&json!({ "phone": "9812345678", "role": "transporter" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    // The development (console) sender logs the code; read it from the JSON log lines.
    let code = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let parsed = serde_json::from_str::<Value>(&line).ok();
            if let Some(code) = parsed.as_ref().and_then(|v| v["otp"].as_str()) {
                return code.to_owned();
            }
        }
        panic!("log ended without an OTP line");
    })
    .await
    .expect("OTP logged");
    let r = client
        .post(format!("{base}/v1/auth/otp/verify"))
        .json(&json!({ "phone": "9812345678", "role": "transporter", "code": code }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let tokens: Value = r.json().await.unwrap();
    let me: Value = client
        .get(format!("{base}/v1/me"))
        .bearer_auth(tokens["accessToken"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["role"], "transporter");
    assert_eq!(me["phone"], "+919812345678");

    // Graceful stop within 10 s on SIGTERM.
    api.terminate().await.unwrap();
    let exit =
        tokio::time::timeout(Duration::from_secs(10), api.child.wait()).await.expect("stopped within 10 s").unwrap();
    assert!(exit.success(), "exit status {exit}");
}

#[tokio::test]
async fn binary_refuses_to_start_on_a_bad_value_naming_the_variable() {
    let out = Command::new(env!("CARGO_BIN_EXE_weelo-api"))
        .env_clear()
        .env("BROADCAST_TIMEOUT_SECS", "soon")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("BROADCAST_TIMEOUT_SECS"), "{stderr}");
}

#[tokio::test]
async fn binary_takes_its_database_url_from_secrets_manager() {
    let db = TestDb::new().await;
    let moto = testkit::moto(None).await;
    let secret = json!({ "DATABASE_URL": db.url, "WEELO_JWT_SECRET": "jwt-secret-from-secrets-manager-0123456789" });
    let created: Value = reqwest::Client::new()
        .post(&moto.url)
        .header("x-amz-target", "secretsmanager.CreateSecret")
        .header("content-type", "application/x-amz-json-1.1")
        .header("authorization", "AWS4-HMAC-SHA256 Credential=test/20260101/ap-south-1/secretsmanager/aws4_request, SignedHeaders=host, Signature=x")
        .body(json!({ "Name": "weelo/e2e", "SecretString": secret.to_string() }).to_string())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let arn = created["ARN"].as_str().expect("ARN").to_owned();
    let port = testkit::closed_port();
    // The environment's own DATABASE_URL points nowhere: only the secret's value works.
    let profile = profile(
        "postgres://nobody@127.0.0.1:1/none",
        port,
        &[
            ("WEELO_SECRETS_ARN", arn.clone()),
            ("WEELO_AWS_ENDPOINT_URL", moto.url.clone()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_REGION", "ap-south-1".into()),
            ("WEELO_LOG_FORMAT", "json".into()),
        ],
    );
    let api = Process::start(api(), &profile, Output::Piped).expect("start weelo-api");
    let client = reqwest::Client::new();
    let ready = wait_ready(&client, &format!("http://127.0.0.1:{port}")).await;
    let _ = api.terminate().await;
    let out =
        tokio::time::timeout(Duration::from_secs(10), api.child.wait_with_output()).await.expect("stops").unwrap();
    let logs = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(ready, "never ready: {logs}");
    assert!(logs.contains("loaded secrets from Secrets Manager"), "{logs}");
    assert!(!logs.contains("jwt-secret-from-secrets-manager"), "a secret reached the logs");
    assert!(!logs.contains(&db.url), "the database URL reached the logs");
}

/// SIGTERM under load: requests in flight when the signal arrives all finish with their real
/// answer, and the process exits 0 (poem's graceful shutdown within WEELO_SHUTDOWN_TIMEOUT_SECS).
#[tokio::test]
async fn sigterm_lets_the_requests_in_flight_finish() {
    use poem::listener::{Acceptor, Listener};
    // An SMS gateway that holds every request for 1.5 s, so twenty OTP requests are in flight.
    let arrived = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = arrived.clone();
    let gateway = poem::Route::new().at(
        "/send",
        poem::post(poem::endpoint::make(move |_req: poem::Request| {
            let seen = seen.clone();
            async move {
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(1500)).await;
                poem::http::StatusCode::ACCEPTED
            }
        })),
    );
    let acceptor = poem::listener::TcpListener::bind("127.0.0.1:0").into_acceptor().await.unwrap();
    let gateway_addr = acceptor.local_addr()[0].as_socket_addr().copied().unwrap();
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(gateway));

    let db = TestDb::new().await;
    let port = testkit::closed_port();
    let profile = profile(
        &db.url,
        port,
        &[
            ("WEELO_SMS_SENDER", "webhook".into()),
            ("WEELO_SMS_WEBHOOK_URL", format!("http://{gateway_addr}/send")),
            ("WEELO_OTP_RESEND_COOLDOWN_SECS", "0".into()),
            ("WEELO_SHUTDOWN_TIMEOUT_SECS", "8".into()),
        ],
    );
    let mut api = Process::start(api(), &profile, Output::Quiet).expect("start weelo-api");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    assert!(wait_ready(&client, &base).await, "weelo-api never became ready");
    let requests: Vec<_> = (0..20)
        .map(|i| {
            let (client, url) = (client.clone(), format!("{base}/v1/auth/otp/request"));
            tokio::spawn(async move {
                client.post(url).json(&json!({ "phone": format!("98765{i:05}"), "role": "customer" })).send().await
            })
        })
        .collect();
    let all_in_flight = tokio::time::timeout(Duration::from_secs(10), async {
        while arrived.load(std::sync::atomic::Ordering::SeqCst) < 20 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(all_in_flight.is_ok(), "the twenty requests reached the gateway");
    api.terminate().await.unwrap();
    for r in requests {
        let r = r.await.unwrap().expect("an in-flight request is answered, not cut");
        assert_eq!(r.status(), 202, "an in-flight request finished with its real answer");
    }
    let exit =
        tokio::time::timeout(Duration::from_secs(10), api.child.wait()).await.expect("stopped within 10 s").unwrap();
    assert!(exit.success(), "exit status {exit}");
}
