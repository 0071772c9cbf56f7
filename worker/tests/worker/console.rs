//! The ops console in a real browser: Debian's headless Chromium driven by playwright-core
//! (tests/browser-agent) against the real API and worker binaries. An admin signs in with the
//! phone OTP, sees a new broadcast appear live, opens its timeline, verifies a pending
//! transporter and sees it matched, retries a dead letter and sees it succeed, reads the queues,
//! the map and the audit trail. Screenshots of each page go to the run's output folder
//! (`$WEELO_TEST_OUTPUT`, default `<target>/console-screenshots`).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use weelo_shared::domain::{Phone, Role};
use weelo_shared::testkit;

use crate::helpers::{Stack, eventually};
use crate::socket_agent::{Agent, install_agent};

struct Browser {
    _child: Child,
    stdin: ChildStdin,
    out: Lines<BufReader<ChildStdout>>,
}

impl Browser {
    async fn start() -> Self {
        let chromium = std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/browser"))
            .stderr(Stdio::inherit())
            .output()
            .expect("scripts/browser");
        assert!(chromium.status.success(), "scripts/browser could not provide Chromium");
        let chromium = String::from_utf8_lossy(&chromium.stdout).lines().last().unwrap_or_default().trim().to_owned();
        let modules = tokio::task::spawn_blocking(|| {
            install_agent("browser-agent", "weelo-browser-agent", "WEELO_BROWSER_AGENT_DIR", "playwright-core")
        })
        .await
        .unwrap();
        let mut child = Command::new("node")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser-agent/agent.cjs"))
            .env("NODE_PATH", &modules)
            .env("CHROMIUM", chromium)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("node");
        let stdin = child.stdin.take().unwrap();
        let out = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut b = Self { _child: child, stdin, out };
        let ready = b.answer().await;
        assert_eq!(ready["ready"], true, "the browser started: {ready}");
        b
    }

    async fn answer(&mut self) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(60), self.out.next_line())
            .await
            .expect("the browser agent answered within 60 s")
            .expect("read")
            .expect("the browser agent is running");
        serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line}"))
    }

    /// Runs one command; panics with the browser's error when it fails.
    async fn cmd(&mut self, c: Value) -> Value {
        self.stdin.write_all(format!("{c}\n").as_bytes()).await.unwrap();
        self.stdin.flush().await.unwrap();
        let a = self.answer().await;
        assert_eq!(a["ok"], true, "browser command {c} failed: {}", a["error"]);
        a
    }

    async fn goto(&mut self, url: &str) {
        self.cmd(json!({ "cmd": "goto", "url": url })).await;
    }
    async fn fill(&mut self, sel: &str, value: &str) {
        self.cmd(json!({ "cmd": "fill", "sel": sel, "value": value })).await;
    }
    async fn click(&mut self, sel: &str) {
        self.cmd(json!({ "cmd": "click", "sel": sel })).await;
    }
    async fn wait_for(&mut self, sel: &str, text: Option<&str>, timeout: Duration) {
        self.cmd(json!({ "cmd": "waitFor", "sel": sel, "text": text, "timeoutMs": timeout.as_millis() as u64 })).await;
    }
    async fn count(&mut self, sel: &str) -> u64 {
        self.cmd(json!({ "cmd": "count", "sel": sel })).await["count"].as_u64().unwrap()
    }
    async fn text(&mut self, sel: &str) -> String {
        self.cmd(json!({ "cmd": "text", "sel": sel })).await["text"].as_str().unwrap().to_owned()
    }
    async fn screenshot(&mut self, name: &str) {
        let path = output_dir().join(format!("{name}.png"));
        self.cmd(json!({ "cmd": "screenshot", "path": path })).await;
    }
    async fn problems(&mut self) -> Vec<Value> {
        self.cmd(json!({ "cmd": "problems" })).await["problems"].as_array().unwrap().clone()
    }
}

fn output_dir() -> PathBuf {
    let dir = std::env::var("WEELO_TEST_OUTPUT").map(PathBuf::from).unwrap_or_else(|_| {
        // tests run from <target>/debug/deps/...; the screenshots sit next to the build output.
        let exe = PathBuf::from(env!("CARGO_BIN_EXE_weelo-worker"));
        exe.parent().and_then(|p| p.parent()).map(|p| p.join("console-screenshots")).unwrap()
    });
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn sign_in(b: &mut Browser, stack: &Stack, ops: &str, phone: &str) {
    b.goto(&format!("{ops}/")).await;
    b.fill("#phone", phone).await;
    b.click("#send-code").await;
    b.wait_for("#msg", Some("Code sent"), Duration::from_secs(10)).await;
    let mut code = None;
    assert!(
        eventually(Duration::from_secs(5), || {
            code = stack.logged_otp(phone);
            std::future::ready(code.is_some())
        })
        .await,
        "the development SMS sender logged the admin's code"
    );
    b.fill("#code", code.as_deref().unwrap()).await;
    b.click("#sign-in").await;
    b.wait_for("#view[data-loaded='true'] h2", Some("Broadcasts"), Duration::from_secs(10)).await;
}

async fn ops_post(stack: &Stack, ops: &str, path: &str, token: &str, body: Value) -> reqwest::Response {
    stack.client.post(format!("{ops}{path}")).bearer_auth(token).json(&body).send().await.unwrap()
}

#[tokio::test]
async fn an_admin_watches_and_steers_dispatch_in_a_real_browser() {
    let port = testkit::closed_port();
    let mut stack = Stack::new(&[
        ("WEELO_OPS_ADDR", &format!("127.0.0.1:{port}")),
        ("WEELO_SMS_SENDER", "console"),
        ("WEELO_REQUIRE_VERIFIED_TRANSPORTERS", "true"),
    ])
    .await;
    stack.start_worker();
    let ops = stack.ops_url().unwrap();
    let phone = Phone::parse(&format!("+91{}", 7_000_000_000 + testkit::next_number() % 999_999_999)).unwrap();
    weelo_shared::admin::add_admin(&stack.db, &phone, None).await.unwrap();

    let mut b = Browser::start().await;
    b.goto(&format!("{ops}/")).await;
    b.wait_for("#send-code", None, Duration::from_secs(10)).await;
    b.screenshot("01-sign-in").await;
    sign_in(&mut b, &stack, &ops, phone.as_str()).await;

    // A new broadcast appears on the live list without a reload.
    let transporter = testkit::user(&stack.db, Role::Transporter).await;
    testkit::vehicle(&stack.db, transporter, "open").await;
    let t_token = stack.token(transporter, Role::Transporter);
    stack.online(&t_token, 1.0).await;
    let (_, customer) = stack.customer().await;
    let broadcast = stack.create_broadcast(&customer, &[("open", 2)]).await;
    b.wait_for(&format!("#list tr[data-id='{broadcast}']"), Some("active"), Duration::from_secs(5)).await;
    b.screenshot("02-broadcasts").await;

    // Its timeline.
    b.click(&format!("#list tr[data-id='{broadcast}']")).await;
    b.wait_for("#timeline li", Some("active"), Duration::from_secs(5)).await;
    b.screenshot("03-timeline").await;

    // A pending transporter (with its vehicle) is verified, and then matched.
    b.goto(&format!("{ops}/#/people")).await;
    let pending_row = format!("#pending tr[data-id='{transporter}']");
    b.wait_for(&pending_row, Some("(open)"), Duration::from_secs(5)).await;
    b.fill("#people-reason", "documents checked").await;
    b.click(&format!("{pending_row} button.verify")).await;
    assert!(
        eventually(Duration::from_secs(10), || async {
            sqlx::query_scalar::<_, bool>(
                "SELECT EXISTS (SELECT 1 FROM broadcast_notifications WHERE broadcast_id = $1 AND transporter_id = $2)",
            )
            .bind(broadcast)
            .bind(transporter)
            .fetch_one(&stack.db)
            .await
            .unwrap()
        })
        .await,
        "the verified transporter was matched to the open broadcast"
    );
    b.goto(&format!("{ops}/#/broadcast/{broadcast}")).await;
    let t_phone: String = sqlx::query_scalar("SELECT phone FROM users WHERE id = $1")
        .bind(transporter)
        .fetch_one(&stack.db)
        .await
        .unwrap();
    b.wait_for("#b-body table", Some(&t_phone), Duration::from_secs(5)).await;

    // A dead letter, stored the way the runtime stores a job that used up its attempts, is
    // retried from the page; the worker runs it and the page shows it retried.
    let job = weelo_worker::jobs::ExpandRadius { broadcast_id: broadcast, step: 0 };
    weelo_worker::runtime::dead_letter(&stack.db, "expand_radius", &job, "PostgreSQL restarted five times", 5)
        .await
        .unwrap();
    b.goto(&format!("{ops}/#/dead")).await;
    b.wait_for("#dl-list td", Some("PostgreSQL restarted"), Duration::from_secs(5)).await;
    b.screenshot("04-dead-letters").await;
    b.fill("#dl-reason", "PostgreSQL is back").await;
    b.click("#dl-list button.retry").await;
    b.wait_for("#dl-list .dl-status", Some("retried"), Duration::from_secs(10)).await;

    // Queues: the live worker and the queues it reports.
    b.goto(&format!("{ops}/#/queues")).await;
    b.wait_for("#spine", Some("1 worker(s) alive"), Duration::from_secs(10)).await;
    assert_eq!(b.count("tr[data-id='notify']").await, 1, "the notify queue is listed");
    b.screenshot("05-queues").await;

    // The map: the online transporter, the open pickup and the selected broadcast's rings.
    b.goto(&format!("{ops}/#/map")).await;
    b.wait_for("#map rect.pickup", None, Duration::from_secs(5)).await;
    b.cmd(json!({ "cmd": "select", "sel": "#map-broadcast", "value": broadcast.to_string() })).await;
    b.wait_for("#map circle.ring", None, Duration::from_secs(5)).await;
    assert!(b.count("#map circle.transporter").await >= 1, "the online transporter is plotted");
    b.screenshot("06-map").await;

    // Force-cancel with a reason: the customer's broadcast ends and says why.
    b.goto(&format!("{ops}/#/broadcast/{broadcast}")).await;
    b.wait_for("#cancel", None, Duration::from_secs(5)).await;
    b.fill("#cancel-reason", "customer called support").await;
    b.click("#cancel").await;
    b.wait_for("#b-status", Some("cancelled"), Duration::from_secs(5)).await;
    let reason: Option<String> = sqlx::query_scalar("SELECT terminal_reason FROM broadcasts WHERE id = $1")
        .bind(broadcast)
        .fetch_one(&stack.db)
        .await
        .unwrap();
    assert_eq!(reason.as_deref(), Some("ADMIN_CANCELLED"));

    // Every action is on the audit trail.
    b.goto(&format!("{ops}/#/audit")).await;
    b.wait_for("#view table", Some("transporter.verify"), Duration::from_secs(5)).await;
    let audit = b.text("#view table").await;
    for action in ["transporter.verify", "dead_letter.retry", "broadcast.cancel"] {
        assert!(audit.contains(action), "{action} is on the audit trail: {audit}");
    }
    b.screenshot("07-audit").await;
    let problems = b.problems().await;
    assert!(problems.is_empty(), "the page logged no errors: {problems:?}");
    stack.settle().await;
}

#[tokio::test]
async fn a_suspended_user_loses_its_sockets_and_tokens_at_once() {
    let port = testkit::closed_port();
    let mut stack = Stack::new(&[("WEELO_OPS_ADDR", &format!("127.0.0.1:{port}"))]).await;
    stack.start_worker();
    let ops = stack.ops_url().unwrap();
    let admin = testkit::user(&stack.db, Role::Admin).await;
    let admin_token = stack.token(admin, Role::Admin);
    let (t, t_token) = stack.transporter_at(1.0, "open").await;

    let mut agent = Agent::start().await;
    agent.connect("t", &stack.api_url, &t_token, None).await;
    agent.wait("t", "connected", None, 1).await;

    let r =
        ops_post(&stack, &ops, &format!("/api/users/{t}/suspend"), &admin_token, json!({ "reason": "fraud report" }))
            .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    let revoked = agent.wait("t", "event", Some("session_revoked"), 1).await;
    assert_eq!(revoked[0]["payload"]["code"], "ACCOUNT_SUSPENDED");
    agent.wait("t", "disconnected", None, 1).await;

    // The token no longer works, over HTTP or for a new socket.
    let r = stack.put("/v1/transporters/me/availability", &t_token, json!({ "online": true })).await;
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "ACCOUNT_SUSPENDED");
    agent.connect("t2", &stack.api_url, &t_token, None).await;
    let refused = agent.wait("t2", "connect_error", None, 1).await;
    assert!(refused[0]["message"].as_str().unwrap().contains("ACCOUNT_SUSPENDED"), "{refused:?}");

    // Restored, the same token works again.
    let r =
        ops_post(&stack, &ops, &format!("/api/users/{t}/restore"), &admin_token, json!({ "reason": "cleared" })).await;
    assert_eq!(r.status(), 200);
    let r = stack.put("/v1/transporters/me/availability", &t_token, json!({ "online": true })).await;
    assert_eq!(r.status(), 200);
}
