//! What every handler can reach: configuration, the pools and the services built on them.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use sqlx::PgPool;
use weelo_shared::auth::{AuthService, SmsSender};
use weelo_shared::cache::Cache;
use weelo_shared::config::Config;
use weelo_shared::lifecycle::gate::Gates;

pub struct AppState {
    pub config: Config,
    pub db: PgPool,
    pub cache: Cache,
    pub auth: AuthService,
    /// Open sockets on this instance per client address (the per-source cap).
    pub sockets_by_source: Mutex<HashMap<IpAddr, u32>>,
    /// One turn at a time per broadcast for accepts and holds (docs/DESIGN.md, "Contention").
    pub gates: Gates,
}

impl AppState {
    pub fn new(config: Config, db: PgPool, cache: Cache, sms: Arc<dyn SmsSender>) -> Arc<Self> {
        let auth = AuthService::new(&config, db.clone(), cache.clone(), sms);
        Arc::new(Self {
            config,
            db,
            cache,
            auth,
            sockets_by_source: Mutex::new(HashMap::new()),
            gates: Gates::default(),
        })
    }
}
