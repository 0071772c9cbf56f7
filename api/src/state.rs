//! What every handler can reach: configuration, the pools and the services built on them.

use std::sync::Arc;

use sqlx::PgPool;
use weelo_shared::auth::{AuthService, SmsSender};
use weelo_shared::cache::Cache;
use weelo_shared::config::Config;

pub struct AppState {
    pub config: Config,
    pub db: PgPool,
    pub cache: Cache,
    pub auth: AuthService,
}

impl AppState {
    pub fn new(config: Config, db: PgPool, cache: Cache, sms: Arc<dyn SmsSender>) -> Arc<Self> {
        let auth = AuthService::new(&config, db.clone(), cache.clone(), sms);
        Arc::new(Self { config, db, cache, auth })
    }
}
