//! `spawn_app()`: a fresh database, a Redis prefix, the API bound to port 0, typed requests.

use std::sync::Arc;

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use weelo_shared::auth::MemorySms;
use weelo_shared::shutdown::Shutdown;
use weelo_shared::testkit::{self, TestDb};

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub sms: MemorySms,
    pub db: sqlx::PgPool,
    pub shutdown: Shutdown,
    pub prefix: String,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

pub async fn spawn_app_with(extra: &[(&str, &str)]) -> TestApp {
    let db = TestDb::new().await;
    let prefix = testkit::redis_prefix();
    let config = testkit::config(&db, &prefix, extra);
    let sms = MemorySms::default();
    let shutdown = Shutdown::new();
    let running = weelo_api::start(config, Some(Arc::new(sms.clone())), shutdown.clone())
        .await
        .expect("start api");
    TestApp {
        base: format!("http://{}", running.addr),
        client: reqwest::Client::new(),
        sms,
        db: db.pool().await,
        shutdown,
        prefix,
    }
}

pub struct Session {
    pub access: String,
    pub refresh: String,
    pub user_id: String,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.client
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .expect("request")
    }

    pub async fn post_auth(&self, path: &str, token: &str, body: Value) -> Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("request")
    }

    pub async fn get_auth(&self, path: &str, token: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    pub async fn request_otp(&self, phone: &str, role: &str) -> Response {
        self.post(
            "/v1/auth/otp/request",
            json!({ "phone": phone, "role": role }),
        )
        .await
    }

    pub async fn verify_otp(&self, phone: &str, role: &str, code: &str) -> Response {
        self.post(
            "/v1/auth/otp/verify",
            json!({ "phone": phone, "role": role, "code": code }),
        )
        .await
    }

    /// Signs in through the OTP flow, reading the code the in-memory SMS sender received.
    pub async fn login(&self, phone: &str, role: &str) -> Session {
        let r = self.request_otp(phone, role).await;
        assert_eq!(
            r.status(),
            StatusCode::ACCEPTED,
            "{}",
            r.text().await.unwrap_or_default()
        );
        let code = self.sms.last_code(phone).expect("an OTP was sent");
        let r = self.verify_otp(phone, role, &code).await;
        assert_eq!(r.status(), StatusCode::OK);
        let body: Value = r.json().await.expect("json");
        Session {
            access: body["accessToken"]
                .as_str()
                .expect("accessToken")
                .to_owned(),
            refresh: body["refreshToken"]
                .as_str()
                .expect("refreshToken")
                .to_owned(),
            user_id: body["user"]["id"].as_str().expect("user.id").to_owned(),
        }
    }
}

/// Asserts an RFC 7807 problem with `status` and `code`; returns the body.
pub async fn assert_problem(resp: Response, status: u16, code: &str) -> Value {
    assert_eq!(resp.status().as_u16(), status, "unexpected status");
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        ct.starts_with("application/problem+json"),
        "content-type {ct}"
    );
    let body: Value = resp.json().await.expect("problem json");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status, "{body}");
    for member in ["type", "title", "detail"] {
        assert!(body[member].is_string(), "problem lacks {member}: {body}");
    }
    body
}
