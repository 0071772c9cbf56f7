//! weelo-api entry point: `weelo-api [serve]`, `weelo-api migrate`, `weelo-api openapi`,
//! `weelo-api check-config` (loads the configuration exactly as at start, connects to nothing,
//! exits 0 or names what is wrong; scripts/check-infra runs it against infra/ecs.tf).

use std::process::ExitCode;

use weelo_shared::config::Config;
use weelo_shared::shutdown::Shutdown;
use weelo_shared::telemetry;

#[tokio::main]
async fn main() -> ExitCode {
    let command = std::env::args().nth(1).unwrap_or_else(|| "serve".to_owned());
    if command == "openapi" {
        // Needs no configuration, database or Redis.
        print!("{}", weelo_api::spec_json());
        return ExitCode::SUCCESS;
    }
    // Logging comes up before secrets are fetched so their failure is visible; the format is
    // read from the environment alone (it is not a secret).
    let format = Config::from_env().map(|c| c.log_format).unwrap_or(weelo_shared::config::LogFormat::Pretty);
    telemetry::init_logging(format);
    match run(&command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("weelo-api: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: &str) -> anyhow::Result<()> {
    let config = Config::load().await?;
    match command {
        "serve" => {
            let shutdown = Shutdown::on_signals();
            let running = weelo_api::start(config, None, shutdown).await?;
            tracing::info!(
                api = %format!("http://{}", running.addr),
                docs = %format!("http://{}/docs", running.addr),
                "ready"
            );
            running.task.await??;
            tracing::info!("weelo-api stopped");
            Ok(())
        }
        "check-config" => {
            config.require_sms()?;
            tracing::info!(environment = ?config.environment, "configuration ok");
            Ok(())
        }
        "migrate" => {
            let pool = weelo_shared::db::connect(&config).await?;
            weelo_shared::db::migrate(&pool).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        other => anyhow::bail!("unknown command {other:?}; expected serve, migrate, check-config or openapi"),
    }
}
