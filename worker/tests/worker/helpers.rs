//! A stack per test: its own database and Redis prefix, the API binary, and worker binaries
//! that can be started and killed at will.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use uuid::Uuid;
use weelo_shared::cache::Cache;
use weelo_shared::config::Config;
use weelo_shared::domain::Role;
use weelo_shared::realtime::{self, Envelope};
use weelo_shared::testkit::{self, Output, Process, TestDb};

pub const PICKUP: (f64, f64) = (19.0, 73.0);

fn bin(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_BIN_EXE_weelo-worker")).with_file_name(name);
    assert!(path.exists(), "{} is missing: build the workspace (`cargo build --workspace`)", path.display());
    path
}

pub struct Stack {
    pub db: sqlx::PgPool,
    pub config: Config,
    pub cache: Cache,
    pub prefix: String,
    pub api_url: String,
    pub client: reqwest::Client,
    vars: Vec<(String, String)>,
    api: Option<Process>,
    workers: Vec<Option<Process>>,
    logs: PathBuf,
}

/// Sets `key` in a process environment list, replacing an earlier value.
fn set(vars: &mut Vec<(String, String)>, key: &str, value: &str) {
    vars.retain(|(k, _)| k != key);
    vars.push((key.to_owned(), value.to_owned()));
}

impl Stack {
    /// A stack with fast timings; `extra` overrides them.
    pub async fn new(extra: &[(&str, &str)]) -> Self {
        let db = TestDb::new().await;
        let prefix = testkit::redis_prefix();
        let port = testkit::closed_port();
        let mut vars: Vec<(String, String)> = [
            ("DATABASE_URL", db.url.as_str()),
            ("REDIS_URL", &testkit::redis_url()),
            ("WEELO_REDIS_PREFIX", &prefix),
            ("WEELO_HTTP_ADDR", &format!("127.0.0.1:{port}")),
            ("WEELO_WORKER_HTTP_ADDR", "127.0.0.1:0"),
            ("WEELO_LOG_FORMAT", "json"),
            ("BROADCAST_TIMEOUT_SECS", "30"),
            ("WEELO_RADIUS_STEP_INTERVAL_MS", "1000"),
            ("WEELO_JOB_POLL_INTERVAL_MS", "100"),
            ("WEELO_JOB_HEARTBEAT_MS", "1000"),
            ("WEELO_SWEEP_INTERVAL_SECS", "2"),
            ("WEELO_AVAILABILITY_THROTTLE_MS", "0"),
            ("WEELO_CREATE_RATE_LIMIT_PER_MIN", "1000"),
            ("WEELO_OUTBOX_POLL_MS", "500"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        for (k, v) in extra {
            set(&mut vars, k, v);
        }
        let config = Config::from_vars(&vars.iter().cloned().collect()).expect("config");
        let cache = Cache::new(&config).expect("cache");
        let logs = std::env::temp_dir().join(format!("weelo-e2e-{}", prefix.replace(':', "-")));
        std::fs::create_dir_all(&logs).unwrap();
        let mut stack = Self {
            db: db.pool().await,
            config,
            cache,
            prefix,
            api_url: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::new(),
            vars,
            api: None,
            workers: Vec::new(),
            logs,
        };
        stack.start_api().await;
        stack
    }

    fn spawn(&self, name: &str, log: &str) -> Process {
        let mut vars = vec![("RUST_LOG".to_owned(), "info".to_owned())];
        vars.extend(self.vars.iter().cloned());
        Process::start(&bin(name), &vars, Output::File(self.logs.join(log))).unwrap_or_else(|e| panic!("{e:#}"))
    }

    async fn start_api(&mut self) {
        self.api = Some(self.spawn("weelo-api", "api.log"));
        self.wait_ready(&self.api_url.clone()).await;
    }

    async fn wait_ready(&self, url: &str) {
        let ready = testkit::wait_ready(&self.client, url, Duration::from_secs(15)).await;
        assert!(ready, "weelo-api at {url} never became ready; see {}", self.logs.display());
    }

    /// A second API process on its own port (same database and Redis); returns its URL.
    pub async fn start_second_api(&mut self) -> String {
        let port = testkit::closed_port();
        let url = format!("http://127.0.0.1:{port}");
        let saved = self.vars.clone();
        self.vars.retain(|(k, _)| k != "WEELO_HTTP_ADDR" && k != "WEELO_MIGRATE");
        self.vars.push(("WEELO_HTTP_ADDR".into(), format!("127.0.0.1:{port}")));
        self.vars.push(("WEELO_MIGRATE".into(), "false".into()));
        let child = self.spawn("weelo-api", "api-2.log");
        self.vars = saved;
        self.workers.push(Some(child));
        self.wait_ready(&url).await;
        url
    }

    /// Changes a variable for the processes started from now on (a configuration fix).
    pub fn set_var(&mut self, key: &str, value: &str) {
        set(&mut self.vars, key, value);
    }

    /// Starts a worker process; returns its index.
    pub fn start_worker(&mut self) -> usize {
        let i = self.workers.len();
        let child = self.spawn("weelo-worker", &format!("worker-{i}.log"));
        self.workers.push(Some(child));
        i
    }

    /// SIGTERM, as ECS stops a task; returns how it exited (panics past `within`).
    pub async fn terminate_worker(&mut self, i: usize, within: Duration) -> std::process::ExitStatus {
        let mut process = self.workers[i].take().expect("a running worker");
        process.terminate().await.expect("SIGTERM");
        tokio::time::timeout(within, process.child.wait()).await.expect("stopped in time").expect("reaped")
    }

    /// kill -9.
    pub async fn kill_worker(&mut self, i: usize) {
        if let Some(mut process) = self.workers[i].take() {
            process.kill().await;
        }
    }

    /// What a process of this stack logged so far (`api.log`, `worker-0.log`, ...).
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.logs.join(name)).unwrap_or_default()
    }

    /// The newest OTP the API's development SMS sender logged for `phone` (JSON logs flatten
    /// an event's fields into the line).
    pub fn logged_otp(&self, phone: &str) -> Option<String> {
        self.log("api.log")
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["to"].as_str() == Some(phone))
            .filter_map(|v| v["otp"].as_str().map(str::to_owned))
            .next_back()
    }

    /// Signs in over HTTP as a phone would (OTP request, the code from the log, verify); returns
    /// the verify answer (`accessToken`, `refreshToken`, `user`).
    pub async fn login(&self, phone: &str, role: &str) -> Value {
        let before = self.logged_otp(phone);
        let r = self
            .client
            .post(format!("{}/v1/auth/otp/request", self.api_url))
            .json(&json!({ "phone": phone, "role": role }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());
        let mut code = None;
        let logged = eventually(Duration::from_secs(5), || {
            code = self.logged_otp(phone).filter(|c| Some(c) != before.as_ref());
            std::future::ready(code.is_some())
        })
        .await;
        assert!(logged, "the development SMS sender logged a new code for {phone}");
        let r = self
            .client
            .post(format!("{}/v1/auth/otp/verify", self.api_url))
            .json(&json!({ "phone": phone, "role": role, "code": code.unwrap() }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
        r.json().await.unwrap()
    }

    /// The ops console's URL, when the stack was made with `WEELO_OPS_ADDR`.
    pub fn ops_url(&self) -> Option<String> {
        self.vars.iter().find(|(k, _)| k == "WEELO_OPS_ADDR").map(|(_, v)| format!("http://{v}"))
    }

    pub fn token(&self, user: Uuid, role: Role) -> String {
        testkit::token(&self.config, user, role)
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> reqwest::Response {
        self.client.put(format!("{}{path}", self.api_url)).bearer_auth(token).json(&body).send().await.unwrap()
    }

    /// A driver of `transporter` (test setup); returns its id.
    pub async fn driver_of(&self, transporter: Uuid) -> Uuid {
        let id = Uuid::now_v7();
        sqlx::query("INSERT INTO users (id, phone, role, transporter_id) VALUES ($1, $2, 'driver', $3)")
            .bind(id)
            .bind(format!("+919{:09}", testkit::next_number()))
            .bind(transporter)
            .execute(&self.db)
            .await
            .expect("insert driver");
        id
    }

    /// The vehicle `transporter_at` gave `transporter`.
    pub async fn vehicle_of(&self, transporter: Uuid) -> Uuid {
        sqlx::query_scalar("SELECT id FROM vehicles WHERE transporter_id = $1")
            .bind(transporter)
            .fetch_one(&self.db)
            .await
            .expect("the transporter's vehicle")
    }

    /// A POST with a fresh `Idempotency-Key` (accepts, holds, releases).
    pub async fn command(&self, path: &str, token: &str, body: Value) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.api_url))
            .bearer_auth(token)
            .header("Idempotency-Key", Uuid::new_v4().to_string())
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> reqwest::Response {
        self.client.post(format!("{}{path}", self.api_url)).bearer_auth(token).json(&body).send().await.unwrap()
    }

    /// A transporter with one available vehicle, online, with a heartbeat `km` north of the pickup.
    pub async fn transporter_at(&self, km: f64, vehicle_type: &str) -> (Uuid, String) {
        let id = testkit::user(&self.db, Role::Transporter).await;
        testkit::vehicle(&self.db, id, vehicle_type).await;
        let token = self.token(id, Role::Transporter);
        self.online(&token, km).await;
        (id, token)
    }

    pub async fn online(&self, token: &str, km: f64) {
        let r = self.put("/v1/transporters/me/availability", token, json!({ "online": true })).await;
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
        let r = self
            .post("/v1/transporters/me/heartbeat", token, json!({ "lat": PICKUP.0 + km / 111.195, "lng": PICKUP.1 }))
            .await;
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    }

    pub async fn customer(&self) -> (Uuid, String) {
        let id = testkit::user(&self.db, Role::Customer).await;
        (id, self.token(id, Role::Customer))
    }

    pub async fn create_broadcast(&self, token: &str, lines: &[(&str, i64)]) -> Uuid {
        let body = json!({
            "pickup": { "lat": PICKUP.0, "lng": PICKUP.1, "address": "Pickup yard" },
            "drop": { "lat": 18.5, "lng": 73.8, "address": "Drop yard" },
            "vehicles": lines.iter().map(|(t, n)| json!({ "type": t, "subtype": format!("{t}_std"), "count": n, "pricePerTruck": 6000 })).collect::<Vec<_>>(),
        });
        let r = self
            .client
            .post(format!("{}/v1/broadcasts", self.api_url))
            .bearer_auth(token)
            .header("Idempotency-Key", Uuid::new_v4().to_string())
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
        let b: Value = r.json().await.unwrap();
        Uuid::parse_str(b["id"].as_str().unwrap()).unwrap()
    }

    /// Waits until every outbox row is relayed and the jobs it made have run (no pending job).
    pub async fn settle(&self) {
        let settled = eventually(Duration::from_secs(10), || async {
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE dispatched_at IS NULL")
                .fetch_one(&self.db)
                .await
                .unwrap();
            n == 0
        })
        .await;
        assert!(settled, "the outbox drained");
        tokio::time::sleep(Duration::from_millis(800)).await;
    }

    /// Waits until a broadcast's radius steps reached the fallback.
    pub async fn wait_for_fallback(&self, broadcast: Uuid) {
        let reached = eventually(Duration::from_secs(15), || async {
            let step: i32 = sqlx::query_scalar("SELECT radius_step FROM broadcasts WHERE id = $1")
                .bind(broadcast)
                .fetch_one(&self.db)
                .await
                .unwrap();
            step == self.config.radius_steps_km.len() as i32
        })
        .await;
        assert!(reached, "{broadcast} reached the fallback step");
    }

    /// The realtime events a user was sent (from the replay log).
    pub async fn events(&self, user: Uuid) -> Vec<Envelope> {
        realtime::missed(&self.cache, user, 0).await.expect("events")
    }

    pub async fn count_events(&self, user: Uuid, event: &str) -> usize {
        self.events(user).await.iter().filter(|e| e.event == event).count()
    }

    /// Redis keys that name one broadcast, whatever their family (markers included), but the
    /// job queues' own deduplication keys (they expire with their 24 h TTL).
    pub async fn broadcast_keys(&self, broadcast: Uuid) -> Vec<String> {
        let mut c = self.cache.conn().await.unwrap();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}:*{broadcast}*", self.cache.keys.prefix()))
            .query_async(&mut *c)
            .await
            .unwrap();
        keys.into_iter().filter(|k| !k.contains(":jobs:")).collect()
    }

    pub async fn status(&self, broadcast: Uuid) -> String {
        sqlx::query_scalar("SELECT status::text FROM broadcasts WHERE id = $1")
            .bind(broadcast)
            .fetch_one(&self.db)
            .await
            .unwrap()
    }
}

/// Polls `check` until it is true or `timeout` passes; returns whether it became true.
pub async fn eventually<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    check().await
}
