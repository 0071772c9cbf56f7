//! Drives the stock npm `socket.io-client` v4 (tests/socket-agent/agent.cjs) from Rust: each
//! connection is a phone; every line it prints is kept for assertions.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};

use crate::helpers::eventually;

/// Installs a test agent's pinned npm packages (its package-lock.json) once, outside the clone,
/// under `$XDG_CACHE_HOME/<cache>` (or `$<env_var>`); `marker` is a package that must be there.
pub fn install_agent(agent: &str, cache: &str, env_var: &str, marker: &str) -> PathBuf {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join(agent);
    let dir = std::env::var(env_var).map(PathBuf::from).unwrap_or_else(|_| {
        let root = std::env::var("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache"));
        root.join(cache)
    });
    let lock = std::fs::read(src.join("package-lock.json")).expect("package-lock.json");
    let installed = std::fs::read(dir.join("package-lock.json")).ok();
    if installed.as_deref() != Some(lock.as_slice()) || !dir.join("node_modules").join(marker).exists() {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(src.join("package.json"), dir.join("package.json")).unwrap();
        std::fs::copy(src.join("package-lock.json"), dir.join("package-lock.json")).unwrap();
        let ok = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .expect("npm");
        assert!(ok.success(), "npm ci for {agent} failed");
    }
    dir.join("node_modules")
}

fn node_modules() -> PathBuf {
    install_agent("socket-agent", "weelo-socket-agent", "WEELO_SOCKET_AGENT_DIR", "socket.io-client")
}

pub struct Agent {
    _child: Child,
    stdin: ChildStdin,
    pub lines: Arc<Mutex<Vec<Value>>>,
}

impl Agent {
    pub async fn start() -> Self {
        let modules = tokio::task::spawn_blocking(node_modules).await.unwrap();
        let mut child = Command::new("node")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/socket-agent/agent.cjs"))
            .env("NODE_PATH", &modules)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("node");
        let stdin = child.stdin.take().unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = out.next_line().await {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    sink.lock().unwrap().push(v);
                }
            }
        });
        Self { _child: child, stdin, lines }
    }

    pub async fn send(&mut self, cmd: Value) {
        self.stdin.write_all(format!("{cmd}\n").as_bytes()).await.unwrap();
        self.stdin.flush().await.unwrap();
    }

    /// Lines for connection `id` of `kind` (and, for events, named `event`).
    pub fn seen(&self, id: &str, kind: &str, event: Option<&str>) -> Vec<Value> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l["id"] == id && l["type"] == kind && event.is_none_or(|e| l["event"] == e))
            .cloned()
            .collect()
    }

    /// Waits for at least `n` such lines; returns them.
    pub async fn wait(&self, id: &str, kind: &str, event: Option<&str>, n: usize) -> Vec<Value> {
        let ok = eventually(Duration::from_secs(10), || async { self.seen(id, kind, event).len() >= n }).await;
        assert!(
            ok,
            "{id} did not get {n} x {kind} {event:?}; got {:?}",
            self.lines.lock().unwrap().iter().filter(|l| l["id"] == id).collect::<Vec<_>>()
        );
        self.seen(id, kind, event)
    }

    pub async fn connect(&mut self, id: &str, url: &str, token: &str, last_seq: Option<u64>) {
        self.send(serde_json::json!({ "cmd": "connect", "id": id, "url": url, "token": token, "lastSeq": last_seq }))
            .await;
    }
}
