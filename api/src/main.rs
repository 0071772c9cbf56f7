//! weelo-api entry point: `weelo-api [serve]`, `weelo-api migrate`, `weelo-api openapi`,
//! `weelo-api check-config` (loads the configuration exactly as at start, connects to nothing,
//! exits 0 or names what is wrong; scripts/check-infra runs it against infra/ecs.tf), and the
//! admin commands: `admin add PHONE` (admins are never created by sign-up), `admin pending`
//! (transporters waiting for verification, with their vehicles), `admin verify|unverify
//! ID-OR-PHONE REASON` (the verification gate's approval path; every action is audited).

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
            config.require_api()?;
            tracing::info!(environment = ?config.environment, "configuration ok");
            Ok(())
        }
        "migrate" => {
            let pool = weelo_shared::db::connect(&config).await?;
            weelo_shared::db::migrate(&pool).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        "admin" => admin(&config).await,
        other => anyhow::bail!("unknown command {other:?}; expected serve, migrate, check-config, admin or openapi"),
    }
}

const ADMIN_USAGE: &str = "usage: weelo-api admin add PHONE | admin pending | admin verify ID-OR-PHONE REASON | admin unverify ID-OR-PHONE REASON";

async fn admin(config: &Config) -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(2).collect();
    let pool = weelo_shared::db::connect(config).await?;
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["add", phone] => {
            let phone = weelo_shared::domain::Phone::parse(phone).map_err(|m| anyhow::anyhow!("PHONE: {m}"))?;
            let (id, created) = weelo_shared::admin::add_admin(&pool, &phone, None).await?;
            println!("{} admin {id} ({})", if created { "created" } else { "already an" }, phone.as_str());
        }
        ["pending"] => {
            for p in weelo_shared::admin::pending_transporters(&pool).await? {
                println!("{}", serde_json::to_string(&p)?);
            }
        }
        [action @ ("verify" | "unverify"), who, reason @ ..] if !reason.is_empty() => {
            let verified = *action == "verify";
            let id = weelo_shared::admin::set_verified(&pool, who, verified, None, &reason.join(" ")).await?;
            println!("transporter {id} {action}d");
        }
        _ => anyhow::bail!(ADMIN_USAGE),
    }
    Ok(())
}
