//! PostgreSQL: the pool, the embedded migrations, and translation of named constraint
//! violations (the database enforces our invariants; we translate its refusals).

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::config::Config;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

pub fn pool_options(max_connections: u32) -> PgPoolOptions {
    PgPoolOptions::new().max_connections(max_connections).acquire_timeout(Duration::from_secs(5))
}

/// Connects (failing within a few seconds with a clear error when PostgreSQL does not answer).
pub async fn connect(config: &Config) -> anyhow::Result<PgPool> {
    let options: PgConnectOptions =
        config.database_url.expose().parse().map_err(|e| anyhow::anyhow!("DATABASE_URL: {e}"))?;
    let pool = pool_options(config.db_max_connections)
        .acquire_timeout(config.db_acquire_timeout)
        .connect_with(options)
        .await
        .map_err(|e| anyhow::anyhow!("cannot connect to PostgreSQL (DATABASE_URL): {e}"))?;
    Ok(pool)
}

/// Applies pending migrations. sqlx holds a PostgreSQL advisory lock while migrating, so
/// several API tasks starting at once apply each migration exactly once.
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    MIGRATOR.run(pool).await.map_err(|e| anyhow::anyhow!("migrating the database failed: {e}"))?;
    Ok(())
}

/// The name of the constraint a query violated, if that is why it failed.
pub fn violated_constraint(err: &sqlx::Error) -> Option<&str> {
    match err {
        sqlx::Error::Database(db) => db.constraint(),
        _ => None,
    }
}
