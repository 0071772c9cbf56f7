//! The processes and helpers a scenario runs on: a fresh database and Redis prefix, release
//! binaries of weelo-api and weelo-worker, bulk test data, and the same-run baselines.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use uuid::Uuid;
use weelo_shared::cache::Keys;
use weelo_shared::config::Config;
use weelo_shared::domain::Role;
use weelo_shared::testkit::{self, Output, Process, TestDb};

pub fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let i = ((p / 100.0) * (v.len() - 1) as f64).round() as usize;
    v[i.min(v.len() - 1)]
}

fn bin(name: &str) -> PathBuf {
    let dir = std::env::var("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|_| PathBuf::from("target"));
    dir.join("release").join(name)
}

pub struct Stack {
    pub db: sqlx::PgPool,
    pub api_url: String,
    pub client: reqwest::Client,
    pub config: Config,
    prefix: String,
    vars: Vec<(String, String)>,
    api: Process,
    workers: Vec<(Process, u16)>,
    logs: PathBuf,
}

impl Stack {
    pub async fn start(name: &str, extra: &[(&str, &str)], workers: usize) -> anyhow::Result<Self> {
        let db = TestDb::new().await;
        let prefix = format!("weelo-bench:{}", Uuid::new_v4().simple());
        let port = testkit::closed_port();
        let mut vars: Vec<(String, String)> = vec![
            ("DATABASE_URL".into(), db.url.clone()),
            ("REDIS_URL".into(), testkit::redis_url()),
            ("WEELO_REDIS_PREFIX".into(), prefix.clone()),
            ("WEELO_HTTP_ADDR".into(), format!("127.0.0.1:{port}")),
            ("WEELO_LOG_FORMAT".into(), "json".into()),
            ("RUST_LOG".into(), "warn".into()),
            ("WEELO_CREATE_RATE_LIMIT_PER_MIN".into(), "1000000".into()),
            ("WEELO_AVAILABILITY_THROTTLE_MS".into(), "0".into()),
        ];
        for (k, v) in extra {
            vars.retain(|(key, _)| key != k);
            vars.push(((*k).into(), (*v).into()));
        }
        let config = Config::from_vars(&vars.iter().cloned().collect())?;
        let logs = std::env::temp_dir().join(format!("weelo-bench-{name}"));
        std::fs::create_dir_all(&logs)?;
        let api = spawn(&vars, "weelo-api", &logs.join("api.log"))?;
        let client =
            reqwest::Client::builder().pool_max_idle_per_host(1000).timeout(Duration::from_secs(60)).build()?;
        let api_url = format!("http://127.0.0.1:{port}");
        let mut stack =
            Self { db: db.pool().await, api_url, client, config, prefix, vars, api, workers: Vec::new(), logs };
        stack.wait_ready().await?;
        for _ in 0..workers {
            stack.start_worker();
        }
        Ok(stack)
    }

    async fn wait_ready(&self) -> anyhow::Result<()> {
        let ready = testkit::wait_ready(&self.client, &self.api_url, Duration::from_secs(20)).await;
        anyhow::ensure!(ready, "weelo-api never became ready (logs in {})", self.logs.display());
        Ok(())
    }

    pub fn start_worker(&mut self) {
        let port = testkit::closed_port();
        let mut vars = self.vars.clone();
        vars.push(("WEELO_WORKER_HTTP_ADDR".into(), format!("127.0.0.1:{port}")));
        let log = self.logs.join(format!("worker-{}.log", self.workers.len()));
        let child = spawn(&vars, "weelo-worker", &log).expect("spawn worker");
        self.workers.push((child, port));
    }

    pub fn token(&self, user: Uuid, role: Role) -> String {
        testkit::token(&self.config, user, role)
    }

    /// The Redis key prefix of this run.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn cache_keys(&self) -> Keys {
        Keys::new(self.prefix.clone())
    }

    /// `n` users of `role`, inserted in one statement.
    pub async fn users(&self, role: Role, n: usize) -> anyhow::Result<Vec<Uuid>> {
        let ids: Vec<Uuid> = (0..n).map(|_| Uuid::now_v7()).collect();
        let phones: Vec<String> = (0..n).map(|_| format!("+919{:09}", testkit::next_number())).collect();
        sqlx::query(
            "INSERT INTO users (id, phone, role) SELECT i, p, $3 FROM unnest($1::uuid[], $2::text[]) AS u(i, p)",
        )
        .bind(&ids)
        .bind(&phones)
        .bind(role)
        .execute(&self.db)
        .await?;
        Ok(ids)
    }

    /// One new available vehicle per transporter.
    pub async fn vehicles(&self, transporters: &[Uuid], vehicle_type: &str, _run: usize) -> anyhow::Result<Vec<Uuid>> {
        let ids: Vec<Uuid> = transporters.iter().map(|_| Uuid::now_v7()).collect();
        let regs: Vec<String> = transporters
            .iter()
            .map(|_| {
                let n = testkit::next_number();
                format!(
                    "KA{:02}{}{:04}",
                    (n / 10000) % 100,
                    ["A", "B", "C", "D", "E", "F", "G", "H"][((n / 1_000_000) % 8) as usize],
                    n % 10000
                )
            })
            .collect();
        sqlx::query(
            "INSERT INTO vehicles (id, transporter_id, registration_number, vehicle_type, vehicle_subtype)
             SELECT i, t, r, $4::vehicle_type, $4 || '_std' FROM unnest($1::uuid[], $2::uuid[], $3::text[]) AS u(i, t, r)",
        )
        .bind(&ids)
        .bind(transporters)
        .bind(&regs)
        .bind(vehicle_type)
        .execute(&self.db)
        .await?;
        Ok(ids)
    }

    /// Records that matching told every one of `transporters` about `broadcast` (the
    /// contention scenario measures accepts, not matching).
    pub async fn notify_all(&self, broadcast: Uuid, transporters: &[Uuid]) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO broadcast_notifications (broadcast_id, transporter_id, radius_step) SELECT $1, t, 0 FROM unnest($2::uuid[]) t
             ON CONFLICT DO NOTHING",
        )
        .bind(broadcast)
        .bind(transporters)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    pub async fn create(
        &self,
        token: &str,
        lat: f64,
        lng: f64,
        vehicle_type: &str,
        count: i64,
        replace: bool,
    ) -> anyhow::Result<Uuid> {
        let body = json!({
            "pickup": { "lat": lat, "lng": lng, "address": "Pickup" },
            "drop": { "lat": lat - 0.5, "lng": lng + 0.5, "address": "Drop" },
            "vehicles": [{ "type": vehicle_type, "subtype": format!("{vehicle_type}_std"), "count": count, "pricePerTruck": 5000 }],
            "replaceActive": replace,
        });
        let r = self
            .client
            .post(format!("{}/v1/broadcasts", self.api_url))
            .bearer_auth(token)
            .header("Idempotency-Key", Uuid::new_v4().to_string())
            .json(&body)
            .send()
            .await?;
        anyhow::ensure!(r.status() == 201, "create answered {}", r.status());
        let v: serde_json::Value = r.json().await?;
        Ok(Uuid::parse_str(v["id"].as_str().unwrap_or_default())?)
    }

    /// Every transporter online with a heartbeat at (lat, lng).
    pub async fn online_all(&self, tokens: &[String], lat: f64, lng: f64) -> anyhow::Result<()> {
        use futures::StreamExt;
        let failures = futures::stream::iter(tokens.iter().map(|t| async move {
            let a = self
                .client
                .put(format!("{}/v1/transporters/me/availability", self.api_url))
                .bearer_auth(t)
                .json(&json!({ "online": true }))
                .send()
                .await;
            let h = self
                .client
                .post(format!("{}/v1/transporters/me/heartbeat", self.api_url))
                .bearer_auth(t)
                .json(&json!({ "lat": lat, "lng": lng }))
                .send()
                .await;
            a.is_ok_and(|r| r.status() == 200) && h.is_ok_and(|r| r.status() == 200)
        }))
        .buffer_unordered(64)
        .filter(|ok| futures::future::ready(!ok))
        .count()
        .await;
        anyhow::ensure!(failures == 0, "{failures} transporters could not go online");
        Ok(())
    }

    /// Sum of `jobs_total{job, outcome="done"}` over the workers' /metrics, until `n` or timeout.
    pub async fn wait_jobs_done(&self, job: &str, n: u64, timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        let needle = format!("jobs_total{{job=\"{job}\",outcome=\"done\"}} ");
        loop {
            let mut total = 0u64;
            for (_, port) in &self.workers {
                if let Ok(r) = self.client.get(format!("http://127.0.0.1:{port}/metrics")).send().await {
                    let text = r.text().await.unwrap_or_default();
                    total += text
                        .lines()
                        .find_map(|l| l.strip_prefix(&needle))
                        .and_then(|v| v.trim().parse::<f64>().ok())
                        .unwrap_or(0.0) as u64;
                }
            }
            if total >= n || Instant::now() > deadline {
                return total;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every series of counter `name` on the API's /metrics, as `labels value, ...`.
    pub async fn api_counters(&self, name: &str) -> String {
        let text = match self.client.get(format!("{}/metrics", self.api_url)).send().await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(e) => return format!("/metrics unreadable: {e}"),
        };
        let series: Vec<String> = text
            .lines()
            .filter_map(|l| l.strip_prefix(name))
            .filter(|l| l.starts_with('{') || l.starts_with(' '))
            .map(|l| l.replace('"', ""))
            .collect();
        if series.is_empty() { format!("no {name} series") } else { series.join(", ") }
    }

    /// Peak RSS (VmHWM) of the API and the workers.
    pub fn rss(&self) -> String {
        let hwm = |pid: Option<u32>| -> String {
            pid.and_then(|p| std::fs::read_to_string(format!("/proc/{p}/status")).ok())
                .and_then(|s| {
                    s.lines()
                        .find(|l| l.starts_with("VmHWM"))
                        .map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_owned())
                })
                .and_then(|kb| kb.parse::<u64>().ok())
                .map(|kb| format!("{} MiB", kb / 1024))
                .unwrap_or_else(|| "-".into())
        };
        let workers: Vec<String> = self.workers.iter().map(|(c, _)| hwm(c.pid())).collect();
        format!("{} / {}", hwm(self.api.pid()), if workers.is_empty() { "-".into() } else { workers.join(", ") })
    }

    /// Stops the processes and deletes every Redis key of this run (a soak leaves hundreds of
    /// thousands of finished tasks behind, which would slow every later `KEYS`/`SCAN` user).
    pub async fn stop(mut self) {
        self.api.kill().await;
        for (w, _) in &mut self.workers {
            w.kill().await;
        }
        if let Err(e) = self.delete_keys().await {
            eprintln!("bench: could not delete the keys of {}: {e:#}", self.prefix);
        }
    }

    async fn delete_keys(&self) -> anyhow::Result<()> {
        let client = redis::Client::open(testkit::redis_url())?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        let mut cursor = 0u64;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{}:*", self.prefix))
                .arg("COUNT")
                .arg(5000)
                .query_async(&mut conn)
                .await?;
            if !keys.is_empty() {
                let _: () = redis::cmd("UNLINK").arg(&keys).query_async(&mut conn).await?;
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }
}

fn spawn(vars: &[(String, String)], name: &str, log: &std::path::Path) -> anyhow::Result<Process> {
    Process::start(&bin(name), vars, Output::File(log.to_owned()))
}

/// A node process holding thousands of socket.io-client sockets (bench/fanout.cjs).
pub struct FanoutAgent {
    _child: Child,
    stdin: Option<tokio::process::ChildStdin>,
    received: Arc<Mutex<Vec<(String, i64)>>>,
}

impl FanoutAgent {
    pub async fn start(url: &str, tokens: &[String]) -> anyhow::Result<Self> {
        let modules = std::env::var("WEELO_SOCKET_AGENT_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| {
                PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/weelo-socket-agent")
            })
            .join("node_modules");
        anyhow::ensure!(
            modules.join("socket.io-client").exists(),
            "socket.io-client missing in {} (run the worker tests once, or npm ci there)",
            modules.display()
        );
        let tokens_file = std::env::temp_dir().join(format!("weelo-bench-tokens-{}", Uuid::new_v4().simple()));
        std::fs::write(&tokens_file, tokens.join("\n"))?;
        let mut child = Command::new("node")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/fanout.cjs"))
            .arg(url)
            .arg(&tokens_file)
            .env("NODE_PATH", &modules)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()?;
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let received = Arc::new(Mutex::new(Vec::new()));
        let sink = received.clone();
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<String>();
        tokio::spawn(async move {
            let mut ready = Some(ready_tx);
            while let Ok(Some(line)) = lines.next_line().await {
                let parts: Vec<&str> = line.split_whitespace().collect();
                match parts.as_slice() {
                    ["ready", ..] => {
                        if let Some(tx) = ready.take() {
                            let _ = tx.send(line.clone());
                        }
                    }
                    ["b", id, at] => sink.lock().expect("lock").push(((*id).to_owned(), at.parse().unwrap_or(0))),
                    _ => {}
                }
            }
        });
        let ready = tokio::time::timeout(Duration::from_secs(120), ready_rx).await??;
        eprintln!("fanout agent: {ready}");
        let stdin = child.stdin.take();
        Ok(Self { _child: child, stdin, received })
    }

    pub async fn collect(&mut self) -> Vec<(String, i64)> {
        if let Some(mut s) = self.stdin.take() {
            let _ = s.shutdown().await;
        }
        self.received.lock().expect("lock").clone()
    }
}

/// pgbench and redis-benchmark on this machine, now.
pub async fn baselines() -> anyhow::Result<HashMap<String, f64>> {
    let mut out = HashMap::new();
    let db = TestDb::new().await;
    let pool = db.pool().await;
    sqlx::query("CREATE TABLE bench_rows (id int PRIMARY KEY, n int NOT NULL DEFAULT 0)").execute(&pool).await?;
    sqlx::query("INSERT INTO bench_rows (id) SELECT generate_series(1, 1000)").execute(&pool).await?;
    sqlx::query("CREATE TABLE bench_log (id int, at timestamptz DEFAULT now())").execute(&pool).await?;
    sqlx::query("CREATE TABLE bench_customers (n int PRIMARY KEY, id uuid)").execute(&pool).await?;
    for n in 1..=64 {
        let id = testkit::user(&pool, Role::Customer).await;
        sqlx::query("INSERT INTO bench_customers VALUES ($1, $2)").bind(n).bind(id).execute(&pool).await?;
    }
    let dir = std::env::temp_dir();
    let update = dir.join("weelo-bench-update.sql");
    std::fs::write(
        &update,
        "\\set id random(1, 1000)\nUPDATE bench_rows SET n = n + 1 WHERE id = :id AND n < 100000000;\nINSERT INTO bench_log (id) VALUES (:id);\n",
    )?;
    let create = dir.join("weelo-bench-create.sql");
    // The shape of a create that replaces the customer's open broadcast: cancel, insert the
    // broadcast, its truck requests, its transition and its outbox row, in one transaction.
    std::fs::write(
        &create,
        "\\set n :client_id + 1\nBEGIN;\n\
         UPDATE broadcasts SET status = 'cancelled', terminal_reason = 'REPLACED_BY_NEW', closed_at = now() WHERE customer_id = (SELECT id FROM bench_customers WHERE n = :n) AND status IN ('active', 'partially_filled');\n\
         WITH b AS (INSERT INTO broadcasts (id, customer_id, pickup_lat, pickup_lng, pickup_address, drop_lat, drop_lng, drop_address, distance_km, trucks_needed, expires_at) VALUES (gen_random_uuid(), (SELECT id FROM bench_customers WHERE n = :n), 19, 73, 'a', 18.5, 73.5, 'b', 70, 2, now() + interval '2 hours') RETURNING id), \
         t AS (INSERT INTO truck_requests (id, broadcast_id, line_no, seq, vehicle_type, vehicle_subtype, price_per_truck) SELECT gen_random_uuid(), b.id, 0, s, 'lcv', 'lcv_std', 900 FROM b, generate_series(0, 1) s) \
         INSERT INTO broadcast_transitions (broadcast_id, to_status, actor_role, reason) SELECT id, 'active', 'customer', 'CREATED' FROM b;\n\
         INSERT INTO outbox (kind, payload) VALUES ('broadcast_created', '{}');\nCOMMIT;\n",
    )?;
    let pgbench = |file: &PathBuf, clients: usize| -> anyhow::Result<(f64, f64)> {
        let o = std::process::Command::new("pgbench")
            .args(["-n", "-j", "2", "-T", "10", "-c", &clients.to_string(), "-f"])
            .arg(file)
            .arg(&db.url)
            .output()?;
        let text = String::from_utf8_lossy(&o.stdout);
        let grab = |prefix: &str| {
            text.lines()
                .find_map(|l| l.trim().strip_prefix(prefix))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<f64>().ok())
        };
        Ok((grab("tps = ").unwrap_or(f64::NAN), grab("latency average = ").unwrap_or(f64::NAN)))
    };
    let (tps, lat) = pgbench(&update, 32)?;
    out.insert("pgbench_update_insert_tps".into(), tps);
    out.insert("pgbench_update_insert_latency_ms".into(), lat);
    for c in [8usize, 32, 64] {
        let (tps, _) = pgbench(&create, c)?;
        out.insert(format!("pgbench_create_tps_{c}"), tps);
    }
    // Redis: GEOSEARCH over 5,000 members and SADD.
    let key = format!("weelo-bench:geo:{}", Uuid::new_v4().simple());
    let set = format!("weelo-bench:set:{}", Uuid::new_v4().simple());
    let client = redis::Client::open(testkit::redis_url())?;
    let mut c = client.get_multiplexed_async_connection().await?;
    let mut pipe = redis::pipe();
    for i in 0..5000 {
        pipe.cmd("GEOADD")
            .arg(&key)
            .arg(73.0 + (i % 100) as f64 * 0.002)
            .arg(19.0 + (i / 100) as f64 * 0.002)
            .arg(format!("m{i}"))
            .ignore();
    }
    let _: () = pipe.query_async(&mut c).await?;
    let rps = |args: &[&str]| -> f64 {
        let o = std::process::Command::new("redis-benchmark")
            .args(["-h", "127.0.0.1", "-p", "6379", "-q", "-c", "50", "-n", "50000"])
            .args(args)
            .output();
        o.ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
            .and_then(|t| {
                t.split("requests per second")
                    .next()
                    .and_then(|s| s.rsplit(':').next())
                    .and_then(|v| v.split_whitespace().next().map(str::to_owned))
            })
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN)
    };
    out.insert(
        "redis_geosearch_rps".into(),
        rps(&["GEOSEARCH", &key, "FROMLONLAT", "73.05", "19.05", "BYRADIUS", "10", "km", "ASC", "COUNT", "20"]),
    );
    out.insert("redis_sadd_rps".into(), rps(&["-r", "100000", "SADD", &set, "__rand_int__"]));
    let _: () = redis::cmd("DEL").arg(&key).arg(&set).query_async(&mut c).await?;
    Ok(out)
}
