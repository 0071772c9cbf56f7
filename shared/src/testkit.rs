//! Test support shared by every test crate: a fresh PostgreSQL database per test (cloned from a
//! migrated template), a Redis key prefix per test, and configuration pointing at both.

use std::collections::HashMap;

use sqlx::{Connection, Executor, PgConnection, PgPool};
use uuid::Uuid;

use crate::config::Config;

/// The server the tests use; `WEELO_TEST_DATABASE_URL` overrides it.
pub fn server_url() -> String {
    std::env::var("WEELO_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

pub fn redis_url() -> String {
    std::env::var("WEELO_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// Name of the migrated template; it changes whenever the migrations change.
fn template_name() -> String {
    let mut h = 0u64;
    for m in crate::db::MIGRATOR.iter() {
        for b in m.checksum.iter() {
            h = h.wrapping_mul(31).wrapping_add(u64::from(*b));
        }
    }
    format!("weelo_template_{h:016x}")
}

async fn admin() -> PgConnection {
    PgConnection::connect(&format!("{}/postgres", server_url()))
        .await
        .expect("tests need PostgreSQL on 127.0.0.1:5432 (run scripts/services)")
}

/// Creates (once, under an advisory lock shared by all test processes) the migrated template.
async fn ensure_template() -> String {
    let name = template_name();
    let mut conn = admin().await;
    conn.execute("SELECT pg_advisory_lock(727274)").await.expect("lock");
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(&name)
        .fetch_one(&mut conn)
        .await
        .expect("query pg_database");
    if !exists {
        let building = format!("{name}_building");
        conn.execute(format!("DROP DATABASE IF EXISTS {building}").as_str()).await.expect("drop");
        conn.execute(format!("CREATE DATABASE {building}").as_str()).await.expect("create template");
        let pool = PgPool::connect(&format!("{}/{building}", server_url())).await.expect("connect template");
        crate::db::migrate(&pool).await.expect("migrate template");
        pool.close().await;
        conn.execute(format!("ALTER DATABASE {building} RENAME TO {name}").as_str()).await.expect("rename");
    }
    conn.execute("SELECT pg_advisory_unlock(727274)").await.expect("unlock");
    name
}

/// A fresh, migrated database for one test.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub async fn new() -> Self {
        let template = ensure_template().await;
        let name = format!("weelo_t_{}", Uuid::new_v4().simple());
        let mut conn = admin().await;
        // CREATE DATABASE ... TEMPLATE fails if another session is connected to the template at
        // that instant; retry briefly.
        let mut tries = 0;
        loop {
            match conn.execute(format!("CREATE DATABASE {name} TEMPLATE {template}").as_str()).await {
                Ok(_) => break,
                Err(e) if tries < 50 => {
                    tries += 1;
                    let _ = e;
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                Err(e) => panic!("create test database: {e}"),
            }
        }
        let url = format!("{}/{name}", server_url());
        Self { name, url }
    }

    pub async fn pool(&self) -> PgPool {
        PgPool::connect(&self.url).await.expect("connect test database")
    }
}

/// A unique Redis key prefix for one test.
pub fn redis_prefix() -> String {
    format!("weelo-test:{}", Uuid::new_v4().simple())
}

/// Configuration for one test: its own database and Redis prefix, in-memory SMS, port 0.
pub fn config(db: &TestDb, prefix: &str, extra: &[(&str, &str)]) -> Config {
    let mut vars: HashMap<String, String> = HashMap::from([
        ("DATABASE_URL".into(), db.url.clone()),
        ("REDIS_URL".into(), redis_url()),
        ("WEELO_REDIS_PREFIX".into(), prefix.to_owned()),
        ("WEELO_HTTP_ADDR".into(), "127.0.0.1:0".into()),
        ("WEELO_WORKER_HTTP_ADDR".into(), "127.0.0.1:0".into()),
        ("WEELO_SMS_SENDER".into(), "memory".into()),
        ("WEELO_DB_MAX_CONNECTIONS".into(), "30".into()),
        ("WEELO_OTP_RESEND_COOLDOWN_SECS".into(), "0".into()),
    ]);
    for (k, v) in extra {
        vars.insert((*k).to_owned(), (*v).to_owned());
    }
    Config::from_vars(&vars).expect("test config")
}

/// A TCP port nothing listens on (bound then released).
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// A moto Secrets Manager emulator (PyPI `moto[server]`) on a free port, killed on drop.
pub struct Moto {
    pub url: String,
    _child: tokio::process::Child,
}

/// Starts `moto_server` (or `$WEELO_MOTO_SERVER`); `no_auth_actions` turns on moto's IAM checks
/// after that many calls.
pub async fn moto(no_auth_actions: Option<u32>) -> Moto {
    let port = closed_port();
    let bin = std::env::var("WEELO_MOTO_SERVER").unwrap_or_else(|_| "moto_server".into());
    let mut cmd = tokio::process::Command::new(&bin);
    cmd.arg("-p")
        .arg(port.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    if let Some(n) = no_auth_actions {
        cmd.env("INITIAL_NO_AUTH_ACTION_COUNT", n.to_string());
    }
    let child = cmd.spawn().unwrap_or_else(|e| {
        panic!("cannot start {bin} ({e}): run `scripts/pytools` and put its bin dir on PATH (just test does)")
    });
    for _ in 0..150 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return Moto { url: format!("http://127.0.0.1:{port}"), _child: child };
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("moto_server did not start on port {port}");
}

/// Unique within this test process (each test has its own database).
pub fn next_number() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(1);
    N.fetch_add(1, Ordering::Relaxed)
}

/// A user created directly (test setup); returns its id.
pub async fn user(db: &PgPool, role: crate::domain::Role) -> Uuid {
    let id = Uuid::now_v7();
    sqlx::query("INSERT INTO users (id, phone, role) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(format!("+919{:09}", next_number()))
        .bind(role)
        .execute(db)
        .await
        .expect("insert user");
    id
}

/// An access token for `user`, signed with the configured secret.
pub fn token(config: &Config, user: Uuid, role: crate::domain::Role) -> String {
    crate::auth::TokenSigner::new(config).issue(user, role, None).expect("sign token").0
}

/// A new available vehicle (test setup, bypassing the API).
pub async fn vehicle(db: &PgPool, transporter: Uuid, vehicle_type: &str) -> Uuid {
    let id = Uuid::now_v7();
    let n = next_number();
    sqlx::query(
        "INSERT INTO vehicles (id, transporter_id, registration_number, vehicle_type, vehicle_subtype)
         VALUES ($1, $2, $3, $4::vehicle_type, $5)",
    )
    .bind(id)
    .bind(transporter)
    .bind(format!("MH{:02}AB{:04}", (n / 10000) % 100, n % 10000))
    .bind(vehicle_type)
    .bind(format!("{vehicle_type}_std"))
    .execute(db)
    .await
    .expect("insert vehicle");
    id
}

/// Where a started binary's output goes.
pub enum Output {
    /// Appended to this file (stdout and stderr both).
    File(std::path::PathBuf),
    /// Piped, for the test to read (`Process::child`'s stdout and stderr).
    Piped,
    /// Stdout dropped, stderr shown with the test's output.
    Quiet,
}

/// A weelo binary (`weelo-api`, `weelo-worker`) started for a test or the bench with exactly an
/// environment profile (plus `PATH`), stopped by pid. Dropping it kills it.
pub struct Process {
    pub child: tokio::process::Child,
}

impl Process {
    pub fn start(bin: &std::path::Path, vars: &[(String, String)], output: Output) -> anyhow::Result<Process> {
        use std::process::Stdio;
        let (stdout, stderr) = match output {
            Output::File(path) => {
                let out = std::fs::File::create(&path)
                    .map_err(|e| anyhow::anyhow!("cannot write the log {}: {e}", path.display()))?;
                (Stdio::from(out.try_clone()?), Stdio::from(out))
            }
            Output::Piped => (Stdio::piped(), Stdio::piped()),
            Output::Quiet => (Stdio::null(), Stdio::inherit()),
        };
        let child = tokio::process::Command::new(bin)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(vars.iter().cloned())
            .stdout(stdout)
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| anyhow::anyhow!("cannot start {}: {e} (build it first)", bin.display()))?;
        Ok(Process { child })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// SIGTERM, as ECS stops a task (the caller waits for the exit it expects).
    pub async fn terminate(&self) -> anyhow::Result<()> {
        let pid = self.pid().ok_or_else(|| anyhow::anyhow!("the process already exited"))?;
        let sent = tokio::process::Command::new("kill").arg("-TERM").arg(pid.to_string()).status().await?;
        anyhow::ensure!(sent.success(), "kill -TERM {pid} failed");
        Ok(())
    }

    /// kill -9, then reaped.
    pub async fn kill(&mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

/// Polls `{base}/health/ready` until it answers 200 (true) or `within` passed (false).
pub async fn wait_ready(client: &reqwest::Client, base: &str, within: std::time::Duration) -> bool {
    let deadline = std::time::Instant::now() + within;
    while std::time::Instant::now() < deadline {
        if client.get(format!("{base}/health/ready")).send().await.is_ok_and(|r| r.status() == 200) {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    false
}
