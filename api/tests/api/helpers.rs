//! `spawn_app()`: a fresh database, a Redis prefix, the API bound to port 0, typed requests.

use std::sync::Arc;

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use weelo_shared::auth::MemorySms;
use weelo_shared::shutdown::Shutdown;
use weelo_shared::testkit::{self, TestDb};

pub struct TestApp {
    pub config: weelo_shared::config::Config,
    pub base: String,
    /// The ops listener's base URL, when the test set `WEELO_OPS_ADDR`.
    pub ops: Option<String>,
    pub client: reqwest::Client,
    pub sms: MemorySms,
    pub db: sqlx::PgPool,
    pub shutdown: Shutdown,
    pub prefix: String,
    /// The worker's state, made on the first `run_pending_jobs`.
    worker: tokio::sync::OnceCell<weelo_worker::WorkerState>,
}

impl Drop for TestApp {
    /// A test that ran jobs must leave none due behind (crates.io's check): due work left at the
    /// end is work the test never looked at.
    fn drop(&mut self) {
        self.shutdown.trigger();
        let Some(worker) = self.worker.get().cloned() else { return };
        if std::thread::panicking() {
            return;
        }
        // The test's runtime is gone by now: check on a runtime and connection of our own.
        let left = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(async {
                let conn = weelo_worker::jobs::connect(worker.config.redis_url.expose()).await?;
                weelo_worker::drain::pending(conn, &worker.cache.keys).await
            })
        })
        .join()
        .expect("pending-jobs check");
        let left = left.expect("reading the job queues");
        assert!(left.is_empty(), "the test left due jobs behind: {left:?} (call app.run_pending_jobs())");
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

pub async fn spawn_app_with(extra: &[(&str, &str)]) -> TestApp {
    spawn_app_on(TestDb::new().await, extra).await
}

/// An app on a database the test prepared (e.g. with its own roles).
pub async fn spawn_app_on(db: TestDb, extra: &[(&str, &str)]) -> TestApp {
    let prefix = testkit::redis_prefix();
    // Radius steps after the first are not due within a test unless it asks for them, so the
    // end-of-test check sees only work the test caused.
    let mut vars = vec![("WEELO_RADIUS_STEP_INTERVAL_MS", "600000")];
    vars.extend_from_slice(extra);
    let config = testkit::config(&db, &prefix, &vars);
    let sms = MemorySms::default();
    let shutdown = Shutdown::new();
    // The in-memory sender unless the test configured another one.
    let sender = (config.sms_sender == weelo_shared::config::SmsSenderKind::Memory)
        .then(|| Arc::new(sms.clone()) as Arc<dyn weelo_shared::auth::SmsSender>);
    let running = weelo_api::start(config.clone(), sender, shutdown.clone()).await.expect("start api");
    TestApp {
        config,
        base: format!("http://{}", running.addr),
        ops: running.ops_addr.map(|a| format!("http://{a}")),
        client: reqwest::Client::new(),
        sms,
        db: db.pool().await,
        shutdown,
        prefix,
        worker: tokio::sync::OnceCell::new(),
    }
}

pub struct Session {
    pub access: String,
    pub refresh: String,
    pub user_id: String,
}

impl TestApp {
    /// Relays the outbox and runs every due job in this process until none is left, as the
    /// worker would (radius steps, notifications, expiry, cleanup). Panics if a job fails.
    pub async fn run_pending_jobs(&self) -> usize {
        weelo_worker::drain::run_pending_jobs(self.worker().await)
            .await
            .unwrap_or_else(|e| panic!("a job failed: {e:#}"))
    }

    /// The in-process worker's state (made once per test).
    pub async fn worker(&self) -> &weelo_worker::WorkerState {
        self.worker
            .get_or_init(|| async {
                weelo_worker::WorkerState::connect(self.config.clone()).await.expect("worker state")
            })
            .await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.client.post(self.url(path)).json(&body).send().await.expect("request")
    }

    pub async fn post_auth(&self, path: &str, token: &str, body: Value) -> Response {
        self.client.post(self.url(path)).bearer_auth(token).json(&body).send().await.expect("request")
    }

    pub async fn get_auth(&self, path: &str, token: &str) -> Response {
        self.client.get(self.url(path)).bearer_auth(token).send().await.expect("request")
    }

    pub async fn request_otp(&self, phone: &str, role: &str) -> Response {
        self.post("/v1/auth/otp/request", json!({ "phone": phone, "role": role })).await
    }

    pub async fn verify_otp(&self, phone: &str, role: &str, code: &str) -> Response {
        self.post("/v1/auth/otp/verify", json!({ "phone": phone, "role": role, "code": code })).await
    }

    /// Signs in through the OTP flow, reading the code the in-memory SMS sender received.
    pub async fn login(&self, phone: &str, role: &str) -> Session {
        let r = self.request_otp(phone, role).await;
        assert_eq!(r.status(), StatusCode::ACCEPTED, "{}", r.text().await.unwrap_or_default());
        let code = self.sms.last_code(phone).expect("an OTP was sent");
        let r = self.verify_otp(phone, role, &code).await;
        assert_eq!(r.status(), StatusCode::OK);
        let body: Value = r.json().await.expect("json");
        Session {
            access: body["accessToken"].as_str().expect("accessToken").to_owned(),
            refresh: body["refreshToken"].as_str().expect("refreshToken").to_owned(),
            user_id: body["user"]["id"].as_str().expect("user.id").to_owned(),
        }
    }
}

/// Asserts an RFC 7807 problem with `status` and `code`; returns the body.
pub async fn assert_problem(resp: Response, status: u16, code: &str) -> Value {
    assert_eq!(resp.status().as_u16(), status, "unexpected status");
    let ct = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert!(ct.starts_with("application/problem+json"), "content-type {ct}");
    let body: Value = resp.json().await.expect("problem json");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status, "{body}");
    for member in ["type", "title", "detail"] {
        assert!(body[member].is_string(), "problem lacks {member}: {body}");
    }
    body
}

/// Where a broadcast test starts: Mumbai to Pune.
pub fn broadcast_body(lines: &[(&str, i64, i64)]) -> Value {
    json!({
        "pickup": { "lat": 19.076, "lng": 72.8777, "address": "Bhiwandi warehouse 4", "city": "Mumbai" },
        "drop": { "lat": 18.5204, "lng": 73.8567, "address": "Chakan MIDC gate 2" },
        "vehicles": lines.iter().map(|(t, count, price)| json!({
            "type": t, "subtype": format!("{t}_std"), "count": count, "pricePerTruck": price
        })).collect::<Vec<_>>(),
    })
}

impl TestApp {
    /// A user created directly (test setup) with a signed access token.
    pub async fn user(&self, role: &str) -> (uuid::Uuid, String) {
        let role: weelo_shared::domain::Role = role.parse().unwrap();
        let id = testkit::user(&self.db, role).await;
        (id, testkit::token(&self.config, id, role))
    }

    /// A driver of `transporter` (test setup) with a signed access token.
    pub async fn driver_of(&self, transporter: uuid::Uuid) -> (uuid::Uuid, String) {
        let id = uuid::Uuid::now_v7();
        sqlx::query("INSERT INTO users (id, phone, role, transporter_id) VALUES ($1, $2, 'driver', $3)")
            .bind(id)
            .bind(format!("+919{:09}", testkit::next_number()))
            .bind(transporter)
            .execute(&self.db)
            .await
            .expect("insert driver");
        let role = weelo_shared::domain::Role::Driver;
        let token =
            weelo_shared::auth::TokenSigner::new(&self.config).issue(id, role, Some(transporter)).expect("sign").0;
        (id, token)
    }

    /// POST with an Idempotency-Key.
    pub async fn command(&self, path: &str, token: &str, key: &str, body: Value) -> Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
            .await
            .expect("request")
    }

    /// Many transporters at once, each with one available vehicle of `vehicle_type`.
    pub async fn transporters_with_vehicles(
        &self,
        n: usize,
        vehicle_type: &str,
    ) -> Vec<(uuid::Uuid, String, uuid::Uuid)> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let (id, token) = self.user("transporter").await;
            let vehicle = self.vehicle_for(id, vehicle_type).await;
            out.push((id, token, vehicle));
        }
        out
    }

    /// A new available vehicle for `transporter` (test setup, bypassing the API).
    /// A vehicle's status (`available`, `on_trip`, ...).
    pub async fn vehicle_status(&self, vehicle: uuid::Uuid) -> String {
        sqlx::query_scalar("SELECT status::text FROM vehicles WHERE id = $1")
            .bind(vehicle)
            .fetch_one(&self.db)
            .await
            .expect("vehicle status")
    }

    pub async fn vehicle_for(&self, transporter: uuid::Uuid, vehicle_type: &str) -> uuid::Uuid {
        testkit::vehicle(&self.db, transporter, vehicle_type).await
    }

    /// Brings `transporters` online at the pickup of `broadcast_body` and runs the worker's jobs:
    /// the radius step and the rebroadcast record and tell them as in production.
    pub async fn notify(&self, broadcast: &str, transporters: &[uuid::Uuid]) {
        for t in transporters {
            self.go_online_at_pickup(*t).await;
        }
        self.run_pending_jobs().await;
        let told: Vec<uuid::Uuid> = sqlx::query_scalar(
            "SELECT transporter_id FROM broadcast_notifications WHERE broadcast_id = $1 AND transporter_id = ANY($2)",
        )
        .bind(uuid::Uuid::parse_str(broadcast).unwrap())
        .bind(transporters)
        .fetch_all(&self.db)
        .await
        .expect("read notifications");
        assert_eq!(told.len(), transporters.len(), "the worker did not notify every transporter of {broadcast}");
    }

    /// Online, with a first heartbeat `km` north of `broadcast_body`'s pickup.
    pub async fn go_online_km_north(&self, transporter: uuid::Uuid, km: f64) {
        self.go_online_at(transporter, 19.076 + km / 111.195, 72.8777).await;
    }

    /// Online, with a heartbeat 3 km from `broadcast_body`'s pickup. Already present: one more
    /// heartbeat, as the app sends every few seconds, so a long test never outlives the
    /// presence TTL (a key expiring between this check and the radius step loses a recipient).
    pub async fn go_online_at_pickup(&self, transporter: uuid::Uuid) {
        let cache = weelo_shared::cache::Cache::new(&self.config).expect("cache");
        if weelo_shared::presence::position(&cache, transporter).await.expect("presence").is_some() {
            let token = testkit::token(&self.config, transporter, weelo_shared::domain::Role::Transporter);
            let r = self.post_auth("/v1/transporters/me/heartbeat", &token, json!({ "lat": 19.1, "lng": 72.88 })).await;
            if r.status() == StatusCode::OK {
                return;
            }
        }
        self.go_online_at(transporter, 19.1, 72.88).await;
    }

    /// The availability toggle and a heartbeat at (lat, lng), over HTTP as the app does.
    async fn go_online_at(&self, transporter: uuid::Uuid, lat: f64, lng: f64) {
        let token = testkit::token(&self.config, transporter, weelo_shared::domain::Role::Transporter);
        let r = self
            .client
            .put(self.url("/v1/transporters/me/availability"))
            .bearer_auth(&token)
            .json(&json!({ "online": true }))
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap_or_default());
        let r = self.post_auth("/v1/transporters/me/heartbeat", &token, json!({ "lat": lat, "lng": lng })).await;
        assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap_or_default());
    }

    pub async fn create_broadcast(&self, token: &str, key: &str, body: &Value) -> Response {
        self.client
            .post(self.url("/v1/broadcasts"))
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// Creates a broadcast and returns its id (asserting 201).
    pub async fn open_broadcast(&self, token: &str, lines: &[(&str, i64, i64)]) -> String {
        let r = self.create_broadcast(token, &uuid::Uuid::new_v4().to_string(), &broadcast_body(lines)).await;
        assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap_or_default());
        let b: Value = r.json().await.unwrap();
        b["id"].as_str().unwrap().to_owned()
    }

    pub async fn accept(
        &self,
        token: &str,
        broadcast: &str,
        line: i64,
        vehicle: uuid::Uuid,
        key: impl AsRef<str>,
    ) -> Response {
        self.client
            .post(self.url(&format!("/v1/broadcasts/{broadcast}/accept")))
            .bearer_auth(token)
            .header("Idempotency-Key", key.as_ref())
            .json(&json!({ "line": line, "vehicleId": vehicle }))
            .send()
            .await
            .expect("request")
    }
}
