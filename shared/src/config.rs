//! The one typed configuration both binaries start from: defaults that work on a developer's
//! machine, then the environment, then (when `WEELO_SECRETS_ARN` is set) AWS Secrets Manager.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

/// A value that must never reach a log line. `Debug` and `Display` print a placeholder.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmsSenderKind {
    /// Logs the code (development only; refused in production).
    Console,
    /// Keeps codes in memory for tests that run the API in-process.
    Memory,
    /// POSTs `{to, code, text}` as JSON to `WEELO_SMS_WEBHOOK_URL` (an SMS gateway or a small
    /// adapter in front of one), with `WEELO_SMS_WEBHOOK_TOKEN` as a bearer token when set.
    Webhook,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub environment: Environment,
    pub http_addr: SocketAddr,
    pub worker_http_addr: SocketAddr,
    pub database_url: Secret,
    pub db_max_connections: u32,
    /// How long a request waits for a free PostgreSQL connection before it is a 503.
    pub db_acquire_timeout: Duration,
    pub redis_url: Secret,
    /// Every Redis key and job queue of this deployment starts with this prefix.
    pub redis_prefix: String,
    pub jwt_secret: Secret,
    /// Still accepted for verification while a rotated secret rolls out.
    pub jwt_previous_secret: Option<Secret>,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub otp_ttl: Duration,
    pub otp_max_attempts: i32,
    pub otp_resend_cooldown: Duration,
    /// Codes one phone may be sent in 24 h; each resend waits twice as long as the one before.
    pub otp_daily_max: i64,
    /// Wrong codes one phone may enter in 24 h, across all its codes; then it is locked.
    pub otp_daily_failures: i64,
    /// Code requests one source address may make in an hour.
    pub otp_per_source_per_hour: i64,
    /// How many proxies in front of the API append to X-Forwarded-For (the ALB: 1); 0 uses the
    /// connection's peer address as the client's.
    pub trusted_proxy_hops: usize,
    pub sms_sender: SmsSenderKind,
    /// Secret-like: a gateway URL may carry a key, so it never prints.
    pub sms_webhook_url: Option<Secret>,
    pub sms_webhook_token: Option<Secret>,
    pub log_format: LogFormat,
    pub migrate_on_start: bool,
    pub broadcast_timeout: Duration,
    /// Distinct broadcast creates allowed per customer per minute.
    pub create_rate_limit_per_min: u32,
    pub fcm_credentials: Option<Secret>,
    pub fcm_base_url: String,
    pub job_poll_interval: Duration,
    /// Worker heartbeat on the job queues; a dead worker's tasks return after three missed.
    pub job_heartbeat: Duration,
    /// Tasks a consumer takes from its queue per fetch (`WEELO_JOB_BATCH_SIZE`, 1 to 1000).
    pub job_batch_size: usize,
    pub shutdown_timeout: Duration,
    /// Radius steps in km; after the last one comes a fallback to every online transporter.
    pub radius_steps_km: Vec<f64>,
    pub radius_step_interval: Duration,
    /// New transporters notified per step, per vehicle type still searching.
    pub max_new_per_step: usize,
    /// The fallback after the last step: how far it reaches, and how many new transporters it
    /// notifies per vehicle type (counted like `max_new_per_step`).
    pub fallback_radius_km: f64,
    pub fallback_max_new: usize,
    /// A transporter drops out of matching this long after its last heartbeat.
    pub presence_ttl: Duration,
    /// Minimum time between two availability toggles.
    pub availability_throttle: Duration,
    pub sweep_interval: Duration,
    /// A queue with due work whose tasks neither start nor finish this long has its consumer
    /// replaced (the worker's watchdog), and readiness reports it.
    pub queue_stall: Duration,
    /// How long a named driver has to accept or decline a trip.
    pub driver_response: Duration,
    /// How long a transporter has to staff a truck again after its driver declined or timed out.
    pub restaff: Duration,
    /// Only verified transporters are matched, rebroadcast to, or may accept or hold
    /// (`WEELO_REQUIRE_VERIFIED_TRANSPORTERS`: default false in development, true in production).
    pub require_verified_transporters: bool,
    /// The private ops listener (the ops console and its JSON routes; never the public port).
    /// Unset: no ops listener (logged at start).
    pub ops_addr: Option<SocketAddr>,
    /// Whether the public port also serves `/metrics`, `/docs`, `/openapi.json` and readiness
    /// details (`WEELO_PUBLIC_OPS_ENDPOINTS`: default true in development, false in production,
    /// where they are on the ops listener only and public readiness says only ok or not).
    pub public_ops_endpoints: bool,
    /// Open sockets one user may hold on one API instance, and one client address.
    pub sockets_per_user: usize,
    pub sockets_per_source: u32,
    /// How long a hold reserves its trucks (never past the broadcast's deadline).
    pub hold: Duration,
    /// How much one extension of a hold adds (at most two per hold).
    pub hold_extend: Duration,
    /// Fetches from the outbox when no notification arrives.
    pub outbox_poll_interval: Duration,
    /// Tries before an outbox row that keeps failing becomes a dead letter (about an hour at 20).
    pub outbox_max_attempts: i32,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{var}: {reason}")]
    Invalid { var: String, reason: String },
    #[error("{var} must be set when WEELO_ENV=production")]
    Missing { var: String },
}

const DEV_JWT_SECRET: &str = "weelo-development-only-jwt-secret-change-me";

/// Names that Secrets Manager may supply; anything else in the secret is refused.
pub const SECRET_KEYS: &[&str] = &[
    "DATABASE_URL",
    "REDIS_URL",
    "WEELO_JWT_SECRET",
    "WEELO_JWT_PREVIOUS_SECRET",
    "WEELO_FCM_CREDENTIALS",
    "WEELO_SMS_WEBHOOK_TOKEN",
];

struct Vars<'a>(&'a HashMap<String, String>);

impl Vars<'_> {
    fn raw(&self, var: &str) -> Option<&str> {
        self.0.get(var).map(String::as_str).filter(|v| !v.trim().is_empty())
    }

    fn parse<T: FromStr>(&self, var: &str, default: T) -> Result<T, ConfigError>
    where
        T::Err: fmt::Display,
    {
        match self.raw(var) {
            None => Ok(default),
            Some(raw) => raw.trim().parse().map_err(|e: T::Err| ConfigError::Invalid {
                var: var.to_owned(),
                reason: format!("cannot parse {raw:?}: {e}"),
            }),
        }
    }

    fn secs(&self, var: &str, default: u64, min: u64) -> Result<Duration, ConfigError> {
        let v: u64 = self.parse(var, default)?;
        if v < min {
            return Err(ConfigError::Invalid {
                var: var.to_owned(),
                reason: format!("must be at least {min}, got {v}"),
            });
        }
        Ok(Duration::from_secs(v))
    }

    fn choice<T: Copy>(&self, var: &str, default: T, options: &[(&str, T)]) -> Result<T, ConfigError> {
        let Some(raw) = self.raw(var) else {
            return Ok(default);
        };
        options.iter().find(|(name, _)| name.eq_ignore_ascii_case(raw.trim())).map(|(_, v)| *v).ok_or_else(|| {
            ConfigError::Invalid {
                var: var.to_owned(),
                reason: format!(
                    "expected one of {}, got {raw:?}",
                    options.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
                ),
            }
        })
    }

    fn url(&self, var: &str, default: &str, schemes: &[&str]) -> Result<Secret, ConfigError> {
        let value = self.raw(var).unwrap_or(default).trim().to_owned();
        if !schemes.iter().any(|s| value.starts_with(&format!("{s}://"))) {
            // Never echo the value: URLs carry passwords.
            return Err(ConfigError::Invalid {
                var: var.to_owned(),
                reason: format!("must be a URL starting with {}", schemes.join(":// or ") + "://"),
            });
        }
        Ok(Secret::new(value))
    }
}

impl Config {
    /// Reads the process environment. Secrets Manager is layered on by [`Config::load`].
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&std::env::vars().collect())
    }

    /// What only the API needs: an SMS sender that delivers. With `WEELO_ENV=production` only the
    /// webhook sender, over https; the worker sends no SMS and needs none of this.
    /// The API's own start-up checks: a real SMS sender in production, and the development
    /// defaults (the built-in JWT secret, which is public, and the console sender, which logs
    /// every code) only on a process that listens on loopback alone.
    pub fn require_api(&self) -> Result<(), ConfigError> {
        self.require_sms()?;
        let exposed = !self.http_addr.ip().is_loopback() || self.ops_addr.is_some_and(|a| !a.ip().is_loopback());
        if exposed && self.jwt_secret.expose() == DEV_JWT_SECRET {
            return Err(ConfigError::Invalid {
                var: "WEELO_JWT_SECRET".into(),
                reason: "the built-in development secret is public: set a secret of your own, or listen on 127.0.0.1 only (WEELO_HTTP_ADDR, WEELO_OPS_ADDR)".into(),
            });
        }
        if exposed && self.sms_sender == SmsSenderKind::Console {
            return Err(ConfigError::Invalid {
                var: "WEELO_SMS_SENDER".into(),
                reason: "console logs every sign-in code: use it only while listening on 127.0.0.1 (WEELO_HTTP_ADDR, WEELO_OPS_ADDR), or use webhook".into(),
            });
        }
        Ok(())
    }

    fn require_sms(&self) -> Result<(), ConfigError> {
        let production = self.environment == Environment::Production;
        if production && self.sms_sender != SmsSenderKind::Webhook {
            return Err(ConfigError::Invalid {
                var: "WEELO_SMS_SENDER".into(),
                reason: "only the webhook sender delivers real SMS; console and memory are refused when WEELO_ENV=production".into(),
            });
        }
        if self.sms_sender == SmsSenderKind::Webhook {
            let url = self.sms_webhook_url.as_ref().map(|u| u.expose()).unwrap_or_default();
            let ok = url.starts_with("https://") || (!production && url.starts_with("http://"));
            if !ok || url.len() <= "https://".len() {
                let reason = if production {
                    "must be an https URL when WEELO_SMS_SENDER=webhook and WEELO_ENV=production"
                } else {
                    "must be an http(s) URL when WEELO_SMS_SENDER=webhook"
                };
                return Err(ConfigError::Invalid { var: "WEELO_SMS_WEBHOOK_URL".into(), reason: reason.into() });
            }
        }
        Ok(())
    }

    /// Environment first, then the secret named by `WEELO_SECRETS_ARN` (if any) on top.
    pub async fn load() -> anyhow::Result<Self> {
        let mut vars: HashMap<String, String> = std::env::vars().collect();
        if let Some(arn) = vars.get("WEELO_SECRETS_ARN").filter(|v| !v.is_empty()).cloned() {
            let endpoint = vars.get("WEELO_AWS_ENDPOINT_URL").cloned();
            let secrets = crate::secrets::fetch(&arn, endpoint.as_deref()).await?;
            tracing::info!(keys = ?secrets.keys().collect::<Vec<_>>(), "loaded secrets from Secrets Manager");
            vars.extend(secrets);
        }
        Ok(Self::from_vars(&vars)?)
    }

    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let v = Vars(vars);
        let environment = v.choice(
            "WEELO_ENV",
            Environment::Development,
            &[("development", Environment::Development), ("production", Environment::Production)],
        )?;
        let production = environment == Environment::Production;
        let required = |var: &str| -> Result<(), ConfigError> {
            if production && v.raw(var).is_none() {
                return Err(ConfigError::Missing { var: var.to_owned() });
            }
            Ok(())
        };
        required("DATABASE_URL")?;
        required("REDIS_URL")?;
        required("WEELO_JWT_SECRET")?;

        let jwt_secret = Secret::new(v.raw("WEELO_JWT_SECRET").unwrap_or(DEV_JWT_SECRET));
        if jwt_secret.expose().len() < 32 {
            return Err(ConfigError::Invalid {
                var: "WEELO_JWT_SECRET".into(),
                reason: "must be at least 32 characters".into(),
            });
        }
        let sms_sender = v.choice(
            "WEELO_SMS_SENDER",
            SmsSenderKind::Console,
            &[
                ("console", SmsSenderKind::Console),
                ("memory", SmsSenderKind::Memory),
                ("webhook", SmsSenderKind::Webhook),
            ],
        )?;
        let sms_webhook_url = v.raw("WEELO_SMS_WEBHOOK_URL").map(|u| Secret::new(u.trim()));
        let redis_prefix = v.raw("WEELO_REDIS_PREFIX").unwrap_or("weelo").trim().to_owned();
        if !redis_prefix.chars().all(|c| c.is_ascii_alphanumeric() || "-_:".contains(c)) {
            return Err(ConfigError::Invalid {
                var: "WEELO_REDIS_PREFIX".into(),
                reason: "may hold only letters, digits, '-', '_' and ':'".into(),
            });
        }
        let radius_steps_km = parse_steps(v.raw("WEELO_RADIUS_STEPS_KM").unwrap_or("10,25,50,75"))?;
        let radius_step_interval = Duration::from_millis(v.parse("WEELO_RADIUS_STEP_INTERVAL_MS", 15_000)?);
        let broadcast_timeout = v.secs("BROADCAST_TIMEOUT_SECS", 7200, 2)?;
        // Every step and the fallback must run before the broadcast can expire.
        let steps_take = radius_step_interval * radius_steps_km.len() as u32;
        if steps_take >= broadcast_timeout {
            return Err(ConfigError::Invalid {
                var: "WEELO_RADIUS_STEP_INTERVAL_MS".into(),
                reason: format!(
                    "{} steps x {} ms = {} s do not fit inside BROADCAST_TIMEOUT_SECS={}",
                    radius_steps_km.len(),
                    radius_step_interval.as_millis(),
                    steps_take.as_secs_f64(),
                    broadcast_timeout.as_secs()
                ),
            });
        }
        let fallback_radius_km: f64 = v.parse("WEELO_FALLBACK_RADIUS_KM", 5000.0)?;
        let last_step = radius_steps_km.last().copied().unwrap_or(0.0);
        if !(fallback_radius_km > last_step && fallback_radius_km <= 5000.0) {
            return Err(ConfigError::Invalid {
                var: "WEELO_FALLBACK_RADIUS_KM".into(),
                reason: format!("must be beyond the last radius step ({last_step} km) and at most 5000 km"),
            });
        }
        let fallback_max_new: usize = v.parse("WEELO_FALLBACK_MAX_NEW", 20)?;
        let max_new_per_step: usize = v.parse("WEELO_MAX_NEW_PER_STEP", 20)?;
        for (var, n) in [("WEELO_MAX_NEW_PER_STEP", max_new_per_step), ("WEELO_FALLBACK_MAX_NEW", fallback_max_new)] {
            if !(1..=10_000).contains(&n) {
                return Err(ConfigError::Invalid { var: var.into(), reason: "must be 1 to 10000".into() });
            }
        }
        let job_batch_size: usize = v.parse("WEELO_JOB_BATCH_SIZE", 10)?;
        if !(1..=1000).contains(&job_batch_size) {
            return Err(ConfigError::Invalid {
                var: "WEELO_JOB_BATCH_SIZE".into(),
                reason: "must be 1 to 1000".into(),
            });
        }
        let db_max_connections: u32 = v.parse("WEELO_DB_MAX_CONNECTIONS", 20)?;
        if db_max_connections == 0 {
            return Err(ConfigError::Invalid {
                var: "WEELO_DB_MAX_CONNECTIONS".into(),
                reason: "must be at least 1".into(),
            });
        }
        Ok(Self {
            environment,
            http_addr: v.parse("WEELO_HTTP_ADDR", SocketAddr::from(([127, 0, 0, 1], 8080)))?,
            worker_http_addr: v.parse("WEELO_WORKER_HTTP_ADDR", SocketAddr::from(([0, 0, 0, 0], 9090)))?,
            database_url: v.url(
                "DATABASE_URL",
                "postgres://postgres@127.0.0.1:5432/weelo",
                &["postgres", "postgresql"],
            )?,
            db_max_connections,
            db_acquire_timeout: Duration::from_millis(v.parse("WEELO_DB_ACQUIRE_TIMEOUT_MS", 5000)?.max(100)),
            redis_url: v.url("REDIS_URL", "redis://127.0.0.1:6379", &["redis", "rediss"])?,
            redis_prefix,
            jwt_secret,
            jwt_previous_secret: v.raw("WEELO_JWT_PREVIOUS_SECRET").map(Secret::new),
            access_token_ttl: v.secs("WEELO_ACCESS_TOKEN_TTL_SECS", 900, 30)?,
            refresh_token_ttl: v.secs("WEELO_REFRESH_TOKEN_TTL_SECS", 30 * 24 * 3600, 60)?,
            otp_ttl: v.secs("WEELO_OTP_TTL_SECS", 300, 1)?,
            otp_max_attempts: v.parse("WEELO_OTP_MAX_ATTEMPTS", 3)?,
            otp_resend_cooldown: v.secs("WEELO_OTP_RESEND_COOLDOWN_SECS", 30, 0)?,
            otp_daily_max: v.parse::<i64>("WEELO_OTP_DAILY_MAX", 10)?.max(1),
            otp_daily_failures: v.parse::<i64>("WEELO_OTP_DAILY_FAILURES", 10)?.max(1),
            otp_per_source_per_hour: v.parse::<i64>("WEELO_OTP_PER_SOURCE_PER_HOUR", 30)?.max(1),
            trusted_proxy_hops: v.parse("WEELO_TRUSTED_PROXY_HOPS", 0)?,
            sms_sender,
            sms_webhook_url,
            sms_webhook_token: v.raw("WEELO_SMS_WEBHOOK_TOKEN").map(Secret::new),
            log_format: v.choice(
                "WEELO_LOG_FORMAT",
                LogFormat::Pretty,
                &[("pretty", LogFormat::Pretty), ("json", LogFormat::Json)],
            )?,
            migrate_on_start: v.parse("WEELO_MIGRATE", true)?,
            broadcast_timeout,
            create_rate_limit_per_min: v.parse("WEELO_CREATE_RATE_LIMIT_PER_MIN", 5)?,
            fcm_credentials: v.raw("WEELO_FCM_CREDENTIALS").map(Secret::new),
            fcm_base_url: v
                .raw("WEELO_FCM_BASE_URL")
                .unwrap_or("https://fcm.googleapis.com")
                .trim_end_matches('/')
                .to_owned(),
            job_poll_interval: Duration::from_millis(v.parse("WEELO_JOB_POLL_INTERVAL_MS", 200)?),
            job_heartbeat: Duration::from_millis(v.parse("WEELO_JOB_HEARTBEAT_MS", 5000)?.max(500)),
            job_batch_size,
            shutdown_timeout: v.secs("WEELO_SHUTDOWN_TIMEOUT_SECS", 8, 1)?,
            radius_steps_km,
            radius_step_interval,
            max_new_per_step,
            fallback_radius_km,
            fallback_max_new,
            presence_ttl: v.secs("WEELO_PRESENCE_TTL_SECS", 60, 5)?,
            availability_throttle: Duration::from_millis(v.parse("WEELO_AVAILABILITY_THROTTLE_MS", 5000)?),
            sweep_interval: v.secs("WEELO_SWEEP_INTERVAL_SECS", 30, 1)?,
            queue_stall: v.secs("WEELO_QUEUE_STALL_SECS", 10, 2)?,
            driver_response: v.secs("WEELO_DRIVER_RESPONSE_SECS", 45, 1)?,
            restaff: v.secs("WEELO_RESTAFF_SECS", 300, 1)?,
            require_verified_transporters: v.parse("WEELO_REQUIRE_VERIFIED_TRANSPORTERS", production)?,
            public_ops_endpoints: v.parse("WEELO_PUBLIC_OPS_ENDPOINTS", !production)?,
            sockets_per_user: v.parse::<usize>("WEELO_SOCKETS_PER_USER", 5)?.max(1),
            sockets_per_source: v.parse::<u32>("WEELO_SOCKETS_PER_SOURCE", 200)?.max(1),
            ops_addr: match v.raw("WEELO_OPS_ADDR") {
                None => None,
                Some(_) => Some(v.parse("WEELO_OPS_ADDR", SocketAddr::from(([127, 0, 0, 1], 8081)))?),
            },
            hold: v.secs("WEELO_HOLD_SECS", 90, 1)?,
            hold_extend: v.secs("WEELO_HOLD_EXTEND_SECS", 30, 1)?,
            outbox_poll_interval: Duration::from_millis(v.parse("WEELO_OUTBOX_POLL_MS", 1000)?),
            outbox_max_attempts: v.parse::<i32>("WEELO_OUTBOX_MAX_ATTEMPTS", 20)?.max(1),
        })
    }
}

fn parse_steps(raw: &str) -> Result<Vec<f64>, ConfigError> {
    let bad = |reason: String| ConfigError::Invalid { var: "WEELO_RADIUS_STEPS_KM".into(), reason };
    let steps = raw
        .split(',')
        .map(|s| s.trim().parse::<f64>().map_err(|_| bad(format!("{s:?} is not a number of km"))))
        .collect::<Result<Vec<_>, _>>()?;
    if steps.is_empty() || steps.iter().any(|s| !(0.1..=5000.0).contains(s)) || steps.windows(2).any(|w| w[0] >= w[1]) {
        return Err(bad("must be increasing distances in km, e.g. 10,25,50,75".into()));
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn defaults_work_locally() {
        let c = Config::from_vars(&HashMap::new()).unwrap();
        assert_eq!(c.http_addr.port(), 8080);
        assert_eq!(c.worker_http_addr.port(), 9090);
        assert_eq!(c.broadcast_timeout, Duration::from_secs(7200));
        assert_eq!(c.redis_prefix, "weelo");
        assert_eq!(c.environment, Environment::Development);
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        let cases = [
            ("WEELO_HTTP_ADDR", "not-an-address"),
            ("BROADCAST_TIMEOUT_SECS", "soon"),
            ("BROADCAST_TIMEOUT_SECS", "1"),
            ("WEELO_RADIUS_STEPS_KM", "10,5"),
            ("WEELO_RADIUS_STEPS_KM", "ten"),
            ("WEELO_LOG_FORMAT", "xml"),
            ("DATABASE_URL", "mysql://root@localhost/x"),
            ("REDIS_URL", "localhost:6379"),
            ("WEELO_JWT_SECRET", "short"),
            ("WEELO_REDIS_PREFIX", "bad prefix"),
            ("WEELO_MIGRATE", "maybe"),
        ];
        for (var, value) in cases {
            let err = Config::from_vars(&vars(&[(var, value)])).unwrap_err();
            assert!(err.to_string().starts_with(var), "{var}={value}: {err}");
        }
    }

    #[test]
    fn radius_steps_must_fit_inside_the_timeout() {
        let err = Config::from_vars(&vars(&[("BROADCAST_TIMEOUT_SECS", "60")])).unwrap_err();
        assert!(err.to_string().starts_with("WEELO_RADIUS_STEP_INTERVAL_MS"), "{err}");
        let ok = Config::from_vars(&vars(&[("BROADCAST_TIMEOUT_SECS", "61")])).unwrap();
        assert_eq!(ok.radius_steps_km, vec![10.0, 25.0, 50.0, 75.0]);
    }

    #[test]
    fn production_requires_real_secrets_and_no_console_sms() {
        let err = Config::from_vars(&vars(&[("WEELO_ENV", "production")])).unwrap_err();
        assert_eq!(err, ConfigError::Missing { var: "DATABASE_URL".into() });
        let full = vars(&[
            ("WEELO_ENV", "production"),
            ("DATABASE_URL", "postgres://u:p@db/weelo"),
            ("REDIS_URL", "rediss://cache:6379"),
            ("WEELO_JWT_SECRET", "0123456789abcdef0123456789abcdef"),
        ]);
        // The worker needs no SMS settings; the API requires a real sender.
        let worker = Config::from_vars(&full).unwrap();
        let err = worker.require_api().unwrap_err();
        assert!(err.to_string().starts_with("WEELO_SMS_SENDER"), "{err}");
        let mut webhook = full.clone();
        webhook.insert("WEELO_SMS_SENDER".into(), "webhook".into());
        let err = Config::from_vars(&webhook).unwrap().require_api().unwrap_err();
        assert!(err.to_string().starts_with("WEELO_SMS_WEBHOOK_URL"), "{err}");
        webhook.insert("WEELO_SMS_WEBHOOK_URL".into(), "http://sms.internal/send".into());
        let err = Config::from_vars(&webhook).unwrap().require_api().unwrap_err();
        assert!(err.to_string().contains("https"), "plain http is refused in production: {err}");
        webhook.insert("WEELO_SMS_WEBHOOK_URL".into(), "https://sms.internal/send?key=s3cr3t".into());
        let api = Config::from_vars(&webhook).unwrap();
        assert!(api.require_api().is_ok());
        assert!(!format!("{api:?}").contains("s3cr3t"), "the webhook URL never prints");
    }

    #[test]
    fn development_defaults_only_on_loopback() {
        let local = Config::from_vars(&vars(&[("WEELO_SMS_SENDER", "console")])).unwrap();
        assert!(local.require_api().is_ok(), "the defaults listen on 127.0.0.1");
        let open = Config::from_vars(&vars(&[("WEELO_HTTP_ADDR", "0.0.0.0:8080")])).unwrap();
        assert!(open.require_api().unwrap_err().to_string().starts_with("WEELO_JWT_SECRET"));
        let ops_open = Config::from_vars(&vars(&[("WEELO_OPS_ADDR", "0.0.0.0:8081")])).unwrap();
        assert!(ops_open.require_api().unwrap_err().to_string().starts_with("WEELO_JWT_SECRET"));
        let secret = ("WEELO_JWT_SECRET", "0123456789abcdef0123456789abcdef-own");
        let console =
            Config::from_vars(&vars(&[("WEELO_HTTP_ADDR", "0.0.0.0:8080"), secret, ("WEELO_SMS_SENDER", "console")]))
                .unwrap();
        assert!(console.require_api().unwrap_err().to_string().starts_with("WEELO_SMS_SENDER"));
        let fine =
            Config::from_vars(&vars(&[("WEELO_HTTP_ADDR", "0.0.0.0:8080"), secret, ("WEELO_SMS_SENDER", "memory")]))
                .unwrap();
        assert!(fine.require_api().is_ok());
    }

    #[test]
    fn secrets_never_print() {
        let c = Config::from_vars(&vars(&[("DATABASE_URL", "postgres://u:hunter2@db/weelo")])).unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"));
        assert!(!shown.contains(DEV_JWT_SECRET));
        let err = Config::from_vars(&vars(&[("DATABASE_URL", "mysql://u:hunter2@db")])).unwrap_err();
        assert!(!err.to_string().contains("hunter2"));
    }
}
