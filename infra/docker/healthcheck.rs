//! weelo-healthcheck: the container's liveness probe. The production image is distroless
//! (no shell, no curl), so the Dockerfile's HEALTHCHECK and the ECS task definitions' health
//! checks run this tiny std-only binary instead. It is built with plain `rustc` in the
//! Dockerfile's builder stage, so it is not a member of the Cargo workspace.
//!
//! Usage: `weelo-healthcheck [HOST:PORT]`. It sends `GET /health/live` and exits 0 on a 200.
//! Without an argument it tries WEELO_HEALTHCHECK_ADDR, then the api's address
//! (WEELO_HTTP_ADDR, default 0.0.0.0:8080), then the worker's (WEELO_WORKER_HTTP_ADDR, default
//! 0.0.0.0:9090), and is healthy if one of them answers: one image runs either binary.

use std::env;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(2);

fn main() -> ExitCode {
    let path = env::var("WEELO_HEALTHCHECK_PATH").unwrap_or_else(|_| "/health/live".to_owned());
    let targets: Vec<String> = match env::args().nth(1) {
        Some(addr) => vec![addr],
        None => match env::var("WEELO_HEALTHCHECK_ADDR") {
            Ok(addr) => vec![addr],
            Err(_) => vec![
                env::var("WEELO_HTTP_ADDR").unwrap_or_else(|_| "0.0.0.0:8080".to_owned()),
                env::var("WEELO_WORKER_HTTP_ADDR").unwrap_or_else(|_| "0.0.0.0:9090".to_owned()),
            ],
        },
    };
    for target in &targets {
        let addr = loopback(target);
        match probe(&addr, &path) {
            Ok(()) => return ExitCode::SUCCESS,
            Err(why) => eprintln!("weelo-healthcheck: {addr}{path}: {why}"),
        }
    }
    ExitCode::FAILURE
}

/// A listen address such as `0.0.0.0:8080` or `[::]:8080` is probed on the loopback.
fn loopback(addr: &str) -> String {
    match addr.rsplit_once(':') {
        Some(("0.0.0.0", port)) | Some(("[::]", port)) | Some(("", port)) => {
            format!("127.0.0.1:{port}")
        }
        _ => addr.to_owned(),
    }
}

fn probe(addr: &str, path: &str) -> Result<(), String> {
    let sock = addr
        .to_socket_addrs()
        .map_err(|e| e.to_string())?
        .next()
        .ok_or_else(|| "no address".to_owned())?;
    let mut stream = TcpStream::connect_timeout(&sock, TIMEOUT).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(TIMEOUT)).map_err(|e| e.to_string())?;
    stream.set_write_timeout(Some(TIMEOUT)).map_err(|e| e.to_string())?;
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: weelo-healthcheck\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).map_err(|e| e.to_string())?;
    let mut head = [0u8; 32];
    let mut read = 0;
    while read < 12 {
        match stream.read(&mut head[read..]).map_err(|e| e.to_string())? {
            0 => break,
            n => read += n,
        }
    }
    let status_line = String::from_utf8_lossy(&head[..read]);
    let mut parts = status_line.split_whitespace();
    match (parts.next(), parts.next()) {
        (Some(version), Some("200")) if version.starts_with("HTTP/1.") => Ok(()),
        _ => Err(format!("unexpected answer {status_line:?}")),
    }
}
