//! weelo-worker entry point.

use std::process::ExitCode;

use weelo_shared::config::Config;
use weelo_shared::shutdown::Shutdown;
use weelo_shared::telemetry;

#[tokio::main]
async fn main() -> ExitCode {
    // `weelo-worker queues`: the job queues, one per line (scripts read them from here).
    if std::env::args().nth(1).as_deref() == Some("queues") {
        for q in weelo_worker::jobs::QUEUES {
            println!("{q}");
        }
        return ExitCode::SUCCESS;
    }
    let format = Config::from_env().map(|c| c.log_format).unwrap_or(weelo_shared::config::LogFormat::Pretty);
    telemetry::init_logging(format);
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("weelo-worker: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let config = Config::load().await?;
    // `weelo-worker check-config`: the configuration exactly as at start, no connection made.
    if std::env::args().nth(1).as_deref() == Some("check-config") {
        tracing::info!(environment = ?config.environment, "configuration ok");
        return Ok(());
    }
    let running = weelo_worker::start(config, Shutdown::on_signals()).await?;
    tracing::info!(ops = %format!("http://{}", running.addr), "ready");
    running.task.await??;
    tracing::info!("weelo-worker stopped");
    Ok(())
}
