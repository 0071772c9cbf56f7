//! The sign-in flow: OTP request and verify, refresh-token rotation with reuse detection,
//! logout, and access-token checks (including the logout deny-list in Redis).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::RngCore;
use redis::AsyncCommands;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

use super::jwt::{Claims, TokenSigner};
use super::otp;
use super::sms::SmsSender;
use crate::cache::Cache;
use crate::config::{Config, Secret};
use crate::domain::{Phone, Role};
use crate::error::{Error, Result};

#[derive(Clone)]
pub struct AuthService {
    db: PgPool,
    cache: Cache,
    signer: TokenSigner,
    sms: Arc<dyn SmsSender>,
    otp_key: Secret,
    otp_ttl: Duration,
    otp_max_attempts: i32,
    otp_cooldown: Duration,
    otp_daily_max: i64,
    otp_daily_failures: i64,
    otp_per_source_per_hour: i64,
    refresh_ttl: Duration,
}

#[derive(Debug, Clone)]
pub struct UserRecord {
    pub id: Uuid,
    pub phone: String,
    pub role: Role,
    pub name: Option<String>,
    pub transporter_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct TokenPair {
    pub access_token: String,
    pub access_expires_in: u64,
    pub refresh_token: String,
    pub refresh_expires_in: u64,
    pub user: UserRecord,
}

/// How a code reaches its user: by SMS to the phone, or (a driver's) through its transporter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Sms,
    Transporter,
}

const DAY_SECS: f64 = 24.0 * 3600.0;

fn locked(wait: u64) -> Error {
    Error::rejected(429, "OTP_LOCKED", "too many wrong codes for this phone today; try again later").retry_after(wait)
}

/// What the answer to a code request says (the same for every phone of a role).
#[derive(Debug, Clone)]
pub struct OtpSent {
    /// The phone asked about, masked.
    pub sent_to: String,
    pub delivered_via: Delivery,
    pub expires_in: u64,
    pub resend_after: u64,
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn new_refresh_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// A query that yields `UserRecord`s: `$head`, a user's columns (written once, here), then
/// `$tail`; checked by the compiler like any `query_as!`.
macro_rules! user_query {
    ($head:tt, $tail:tt $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            UserRecord,
            $head + r#" id, phone, role AS "role: Role", name, transporter_id, created_at "# + $tail
            $(, $arg)*
        )
    };
}

impl AuthService {
    pub fn new(config: &Config, db: PgPool, cache: Cache, sms: Arc<dyn SmsSender>) -> Self {
        Self {
            db,
            cache,
            signer: TokenSigner::new(config),
            sms,
            otp_key: config.jwt_secret.clone(),
            otp_ttl: config.otp_ttl,
            otp_max_attempts: config.otp_max_attempts,
            otp_cooldown: config.otp_resend_cooldown,
            otp_daily_max: config.otp_daily_max,
            otp_daily_failures: config.otp_daily_failures,
            otp_per_source_per_hour: config.otp_per_source_per_hour,
            refresh_ttl: config.refresh_token_ttl,
        }
    }

    pub fn signer(&self) -> &TokenSigner {
        &self.signer
    }

    /// Issues a code for (phone, role). Limits (docs/DESIGN.md, "Sign-in"): requests per source
    /// address per hour; codes per phone per 24 h, each resend waiting twice as long as the one
    /// before; and a phone that entered too many wrong codes in 24 h gets none. The answer is
    /// the same whether or not the phone can sign in with that role (an unknown driver or
    /// admin gets a decoy challenge that counts toward the limits but is never sent), so it
    /// tells a stranger nothing.
    pub async fn request_otp(&self, phone: &Phone, role: Role, source: Option<IpAddr>) -> Result<OtpSent> {
        if let Some(ip) = source {
            self.limit_source(ip).await?;
        }
        let suspended: bool = sqlx::query_scalar!(
            r#"SELECT EXISTS (SELECT 1 FROM users WHERE phone = $1 AND role = $2 AND suspended_at IS NOT NULL) AS
                     "exists!""#,
            phone.as_str(),
            role as _
        )
        .fetch_one(&self.db)
        .await?;
        if suspended {
            return Err(suspended_error(403));
        }
        // Who receives it: drivers and admins must already exist (else nobody: a decoy); a
        // driver's code goes to its transporter.
        let recipient: Option<Phone> = match role {
            Role::Customer | Role::Transporter => Some(phone.clone()),
            Role::Driver => {
                let owner: Option<String> = sqlx::query_scalar!(
                    "SELECT t.phone FROM users d JOIN users t ON t.id = d.transporter_id
                     WHERE d.phone = $1 AND d.role = 'driver'",
                    phone.as_str()
                )
                .fetch_optional(&self.db)
                .await?;
                owner
                    .map(|o| Phone::parse(&o).map_err(|e| anyhow::anyhow!("stored transporter phone invalid: {e}")))
                    .transpose()?
            }
            Role::Admin => {
                let exists: bool = sqlx::query_scalar!(
                    r#"SELECT EXISTS (SELECT 1 FROM users WHERE phone = $1 AND role = 'admin') AS "exists!""#,
                    phone.as_str()
                )
                .fetch_one(&self.db)
                .await?;
                exists.then(|| phone.clone())
            }
        };

        let code = otp::generate();
        let mut tx = self.db.begin().await?;
        // Serialise requests for one phone (every role) so no limit can be raced.
        sqlx::query!("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", format!("otp:{}", phone.as_str()))
            .execute(&mut *tx)
            .await?;
        let (sent, failed, last_age, oldest_age): (i64, i64, Option<f64>, Option<f64>) = sqlx::query!(
            r#"SELECT count(*) AS "sent!", coalesce(sum(failed), 0)::int8 AS "failed!",
                    EXTRACT(EPOCH FROM (now() - max(created_at)))::float8 AS last_age,
                    EXTRACT(EPOCH FROM (now() - min(created_at)))::float8 AS oldest_age
             FROM otp_challenges WHERE phone = $1 AND created_at > now() - interval '24 hours'"#,
            phone.as_str()
        )
        .map(|r| (r.sent, r.failed, r.last_age, r.oldest_age))
        .fetch_one(&mut *tx)
        .await?;
        let day_left = || (DAY_SECS - oldest_age.unwrap_or(0.0)).ceil().max(1.0) as u64;
        if failed >= self.otp_daily_failures {
            return Err(locked(day_left()));
        }
        if sent >= self.otp_daily_max {
            return Err(Error::rejected(
                429,
                "OTP_DAILY_LIMIT",
                format!("{} codes were sent to this phone today; try again later", self.otp_daily_max),
            )
            .retry_after(day_left()));
        }
        let cooldown = self.cooldown_after(sent);
        if let Some(age) = last_age.filter(|age| *age < cooldown) {
            let wait = (cooldown - age).ceil() as u64;
            return Err(Error::rejected(429, "OTP_COOLDOWN", format!("a code was sent recently; retry in {wait} s"))
                .retry_after(wait));
        }
        // Only the newest code is valid.
        sqlx::query!(
            "UPDATE otp_challenges SET consumed_at = now() WHERE phone = $1 AND role = $2 AND consumed_at IS NULL",
            phone.as_str(),
            role as _
        )
        .execute(&mut *tx)
        .await?;
        let challenge = Uuid::now_v7();
        sqlx::query!(
            "INSERT INTO otp_challenges (id, phone, role, code_hash, expires_at, decoy)
             VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5), $6)",
            challenge,
            phone.as_str(),
            role as _,
            otp::hash(self.otp_key.expose().as_bytes(), phone.as_str(), role.as_str(), &code),
            self.otp_ttl.as_secs_f64(),
            recipient.is_none()
        )
        .execute(&mut *tx)
        .await?;
        // Commit first, send after, outside any transaction: a slow or silent SMS gateway holds
        // neither a connection nor the lock, so it cannot drain the pool for other routes.
        tx.commit().await?;
        match &recipient {
            Some(to) => {
                if let Err(e) = self.sms.send_otp(to, &code).await {
                    tracing::error!(error = %format!("{e:#}"), to = %to.masked(), "SMS delivery failed");
                    // A code that could not be sent does not start a cooldown (nor stay valid).
                    sqlx::query!("DELETE FROM otp_challenges WHERE id = $1", challenge).execute(&self.db).await?;
                    return Err(Error::rejected(
                        503,
                        "SMS_UNAVAILABLE",
                        "the code could not be sent; try again shortly",
                    ));
                }
                tracing::info!(phone = %phone.masked(), %role, sent_to = %to.masked(), "OTP issued");
            }
            None => {
                tracing::info!(phone = %phone.masked(), %role, "OTP requested for a phone that cannot sign in with this role; nothing sent")
            }
        }
        Ok(OtpSent {
            // The phone asked about, whoever receives the code: a driver's transporter's digits
            // are never shown, and an unknown phone looks like any other.
            sent_to: phone.masked(),
            delivered_via: if role == Role::Driver { Delivery::Transporter } else { Delivery::Sms },
            expires_in: self.otp_ttl.as_secs(),
            resend_after: self.cooldown_after(sent + 1).ceil() as u64,
        })
    }

    /// The wait before the next code after `sent` codes in 24 h: the cooldown, doubling with
    /// each code after the first (capped at an hour).
    fn cooldown_after(&self, sent: i64) -> f64 {
        let doublings = (sent - 1).clamp(0, 20) as i32;
        (self.otp_cooldown.as_secs_f64() * 2f64.powi(doublings)).min(3600.0)
    }

    /// At most `otp_per_source_per_hour` code requests per source address per hour.
    async fn limit_source(&self, ip: IpAddr) -> Result<()> {
        let keys = &self.cache.keys;
        let (count, wait) = self.cache.count_this_hour(|hour| keys.otp_source(&ip.to_string(), hour)).await?;
        if count > self.otp_per_source_per_hour {
            tracing::warn!(source = %ip, count, "OTP requests from one source over the hourly limit");
            return Err(Error::rejected(
                429,
                "OTP_SOURCE_LIMIT",
                "too many sign-in codes requested from this network; try again later",
            )
            .retry_after(wait));
        }
        Ok(())
    }

    /// Checks a code; on success signs the user in (creating customers and transporters on first sign-in).
    pub async fn verify_otp(&self, phone: &Phone, role: Role, code: &str) -> Result<TokenPair> {
        // The phone's failure budget spans all its codes of the last 24 h.
        let (failed, oldest): (i64, Option<f64>) = sqlx::query!(
            r#"SELECT coalesce(sum(failed), 0)::int8 AS "failed!", EXTRACT(EPOCH FROM (now() -
                     min(created_at)))::float8 AS oldest
             FROM otp_challenges WHERE phone = $1 AND failed > 0 AND created_at > now() - interval '24 hours'"#,
            phone.as_str()
        )
        .map(|r| (r.failed, r.oldest))
        .fetch_one(&self.db)
        .await?;
        if failed >= self.otp_daily_failures {
            return Err(locked((DAY_SECS - oldest.unwrap_or(0.0)).ceil().max(1.0) as u64));
        }
        let challenge: Option<(Uuid, String, i32, bool, bool)> = sqlx::query!(
            r#"SELECT id, code_hash, attempts, expires_at <= now() AS "expired!", decoy FROM otp_challenges
             WHERE phone = $1 AND role = $2 AND consumed_at IS NULL ORDER BY created_at DESC LIMIT 1"#,
            phone.as_str(),
            role as _
        )
        .map(|r| (r.id, r.code_hash, r.attempts, r.expired, r.decoy))
        .fetch_optional(&self.db)
        .await?;
        let expired = || Error::rejected(401, "OTP_EXPIRED", "no valid code for this phone; request a new one");
        let too_many = || {
            Error::rejected(429, "OTP_TOO_MANY_ATTEMPTS", "too many wrong codes; request a new one")
                .retry_after(self.otp_cooldown.as_secs())
        };
        let Some((id, stored, attempts, is_expired, decoy)) = challenge else {
            return Err(expired());
        };
        if is_expired {
            return Err(expired());
        }
        if attempts >= self.otp_max_attempts {
            return Err(too_many());
        }
        // Spend one attempt atomically, so concurrent guesses cannot exceed the limit.
        let spent: Option<i32> = sqlx::query_scalar!(
            "UPDATE otp_challenges SET attempts = attempts + 1
             WHERE id = $1 AND attempts < $2 AND consumed_at IS NULL AND expires_at > now() RETURNING attempts",
            id,
            self.otp_max_attempts
        )
        .fetch_optional(&self.db)
        .await?;
        let Some(spent) = spent else {
            return Err(too_many());
        };
        let candidate = otp::hash(self.otp_key.expose().as_bytes(), phone.as_str(), role.as_str(), code);
        // A decoy's code was never sent: nothing entered for it is right.
        if decoy || !otp::matches(&stored, &candidate) {
            sqlx::query!("UPDATE otp_challenges SET failed = failed + 1 WHERE id = $1", id).execute(&self.db).await?;
            if failed + 1 >= self.otp_daily_failures {
                tracing::warn!(phone = %phone.masked(), "OTP failure budget spent; phone locked for the day");
                return Err(locked(DAY_SECS as u64));
            }
            let left = (self.otp_max_attempts - spent).max(0);
            return Err(Error::rejected(401, "OTP_INVALID", format!("wrong code; {left} attempt(s) left"))
                .with("attemptsLeft", left));
        }
        let mut tx = self.db.begin().await?;
        let consumed =
            sqlx::query!("UPDATE otp_challenges SET consumed_at = now() WHERE id = $1 AND consumed_at IS NULL", id)
                .execute(&mut *tx)
                .await?;
        if consumed.rows_affected() != 1 {
            return Err(expired());
        }
        let user: UserRecord = match role {
            Role::Customer | Role::Transporter => {
                user_query!(
                    "INSERT INTO users (id, phone, role) VALUES ($1, $2, $3)
                     ON CONFLICT (phone, role) DO UPDATE SET updated_at = now() RETURNING",
                    "",
                    Uuid::now_v7(),
                    phone.as_str(),
                    role as _
                )
                .fetch_one(&mut *tx)
                .await?
            }
            Role::Driver | Role::Admin => {
                user_query!("SELECT", "FROM users WHERE phone = $1 AND role = $2", phone.as_str(), role as _)
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or_else(|| Error::rejected(404, "USER_NOT_FOUND", "this account no longer exists"))?
            }
        };
        refuse_suspended(&mut tx, user.id).await?;
        let pair = self.issue_pair(&mut tx, user, Uuid::new_v4()).await?;
        tx.commit().await?;
        tracing::info!(user_id = %pair.user.id, role = %pair.user.role, "signed in");
        Ok(pair)
    }

    async fn issue_pair(&self, tx: &mut sqlx::PgConnection, user: UserRecord, family: Uuid) -> Result<TokenPair> {
        let (access_token, _) = self.signer.issue(user.id, user.role, user.transporter_id)?;
        let refresh_token = new_refresh_token();
        sqlx::query!(
            "INSERT INTO refresh_tokens (id, family_id, user_id, token_hash, expires_at)
             VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))",
            Uuid::now_v7(),
            family,
            user.id,
            token_hash(&refresh_token),
            self.refresh_ttl.as_secs_f64()
        )
        .execute(&mut *tx)
        .await?;
        Ok(TokenPair {
            access_token,
            access_expires_in: self.signer.ttl().as_secs(),
            refresh_token,
            refresh_expires_in: self.refresh_ttl.as_secs(),
            user,
        })
    }

    /// Rotates a refresh token. Presenting one that was already rotated revokes its whole family.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair> {
        let hash = token_hash(refresh_token);
        let mut tx = self.db.begin().await?;
        let rotated: Option<(Uuid, Uuid)> = sqlx::query!(
            r#"UPDATE refresh_tokens SET rotated_at = now()
             WHERE token_hash = $1 AND rotated_at IS NULL AND revoked_at IS NULL AND expires_at > now()
             RETURNING family_id, user_id"#,
            &hash
        )
        .map(|r| (r.family_id, r.user_id))
        .fetch_optional(&mut *tx)
        .await?;
        let Some((family, user_id)) = rotated else {
            drop(tx);
            return Err(self.refused_refresh(&hash).await?);
        };
        let user = user_query!("SELECT", "FROM users WHERE id = $1", user_id).fetch_one(&mut *tx).await?;
        refuse_suspended(&mut tx, user.id).await?;
        let pair = self.issue_pair(&mut tx, user, family).await?;
        tx.commit().await?;
        Ok(pair)
    }

    async fn refused_refresh(&self, hash: &str) -> Result<Error> {
        let row: Option<(Uuid, Uuid, bool, bool)> = sqlx::query!(
            r#"SELECT family_id, user_id, rotated_at IS NOT NULL AS "rotated!", revoked_at IS NOT NULL AS "revoked!"
             FROM refresh_tokens WHERE token_hash = $1"#,
            hash
        )
        .map(|r| (r.family_id, r.user_id, r.rotated, r.revoked))
        .fetch_optional(&self.db)
        .await?;
        Ok(match row {
            None => Error::rejected(401, "REFRESH_TOKEN_INVALID", "unknown refresh token"),
            Some((family, user, true, _)) => {
                let revoked = sqlx::query!(
                    "UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL",
                    family
                )
                .execute(&self.db)
                .await?;
                tracing::warn!(%family, revoked = revoked.rows_affected(), "refresh token reuse detected; family revoked");
                // Someone holds a copy of this session: the user's sockets end (its own apps
                // reconnect with their tokens; a stolen copy's refresh no longer works).
                crate::realtime::revoke(&self.cache, user, None, "REFRESH_TOKEN_REUSED").await?;
                Error::rejected(
                    401,
                    "REFRESH_TOKEN_REUSED",
                    "this refresh token was already used; the session is revoked, sign in again",
                )
            }
            Some((_, _, false, true)) => Error::rejected(401, "REFRESH_TOKEN_REVOKED", "this session was signed out"),
            Some(_) => Error::rejected(401, "REFRESH_TOKEN_EXPIRED", "this refresh token has expired; sign in again"),
        })
    }

    /// Revokes the access token's jti and, when given, the refresh token's family (the caller's own only).
    pub async fn logout(&self, claims: &Claims, refresh_token: Option<&str>) -> Result<()> {
        if let Some(token) = refresh_token {
            sqlx::query!(
                "UPDATE refresh_tokens SET revoked_at = now()
                 WHERE revoked_at IS NULL AND family_id = (SELECT family_id FROM refresh_tokens WHERE token_hash =
                         $1 AND user_id = $2)",
                token_hash(token),
                claims.sub
            )
            .execute(&self.db)
            .await?;
        }
        let ttl = (claims.exp - Utc::now().timestamp()).max(1) as u64 + 10;
        let mut conn = self.cache.conn().await?;
        let _: () = conn.set_ex(self.cache.keys.revoked_jti(&claims.jti.to_string()), 1, ttl).await?;
        // Sockets signed in with this token end too, on every API instance.
        crate::realtime::revoke(&self.cache, claims.sub, Some(claims.jti), "SIGNED_OUT").await?;
        tracing::info!(user_id = %claims.sub, "signed out");
        Ok(())
    }

    /// Verifies a bearer token and that it was not signed out.
    pub async fn authenticate(&self, token: &str) -> Result<Claims> {
        let claims = self
            .signer
            .verify(token)
            .ok_or_else(|| Error::rejected(401, "UNAUTHORIZED", "missing, invalid or expired access token"))?;
        let mut conn = self.cache.conn().await?;
        let revoked: bool = conn.exists(self.cache.keys.revoked_jti(&claims.jti.to_string())).await?;
        if revoked {
            return Err(Error::rejected(401, "UNAUTHORIZED", "this access token was signed out"));
        }
        // A deleted account (a driver removed from its fleet) or a suspended one loses access at once.
        // The token's role and transporter must still be the account's (a token is not a
        // grant of its own).
        let account: Option<(bool, Role, Option<Uuid>)> = sqlx::query!(
            r#"SELECT suspended_at IS NOT NULL AS "suspended!", role AS "role: Role",
                         transporter_id FROM users WHERE id = $1"#,
            claims.sub
        )
        .map(|r| (r.suspended, r.role, r.transporter_id))
        .fetch_optional(&self.db)
        .await?;
        match account {
            None => return Err(Error::rejected(401, "UNAUTHORIZED", "this account no longer exists")),
            Some((true, _, _)) => return Err(suspended_error(401)),
            Some((false, role, tid)) if role != claims.role || tid != claims.tid => {
                tracing::warn!(user_id = %claims.sub, "a token whose role or transporter is not the account's");
                return Err(Error::rejected(
                    401,
                    "UNAUTHORIZED",
                    "this token does not match the account; sign in again",
                ));
            }
            Some((false, _, _)) => {}
        }
        Ok(claims)
    }

    pub async fn user(&self, id: Uuid) -> Result<UserRecord> {
        user_query!("SELECT", "FROM users WHERE id = $1", id)
            .fetch_optional(&self.db)
            .await?
            .ok_or_else(|| Error::rejected(404, "USER_NOT_FOUND", "this account no longer exists"))
    }

    /// Deletes finished OTP challenges and dead refresh tokens older than `older_than`.
    pub async fn prune(db: &PgPool, older_than: Duration) -> anyhow::Result<u64> {
        let secs = older_than.as_secs_f64();
        let otps =
            sqlx::query!("DELETE FROM otp_challenges WHERE expires_at < now() - make_interval(secs => $1)", secs)
                .execute(db)
                .await?
                .rows_affected();
        let tokens = sqlx::query!(
            "DELETE FROM refresh_tokens WHERE expires_at < now() - make_interval(secs => $1)
             OR revoked_at < now() - make_interval(secs => $1)",
            secs
        )
        .execute(db)
        .await?
        .rows_affected();
        Ok(otps + tokens)
    }
}

/// 403 where the caller asks for a code; 401 where a token or refresh token stops working.
fn suspended_error(status: u16) -> Error {
    Error::rejected(status, "ACCOUNT_SUSPENDED", "this account is suspended; contact support")
}

/// A suspended user gets no new tokens (docs/DESIGN.md, "Ops console").
async fn refuse_suspended(conn: &mut sqlx::PgConnection, user: Uuid) -> Result<()> {
    let suspended: bool = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM users WHERE id = $1 AND suspended_at IS NOT NULL) AS "exists!""#,
        user
    )
    .fetch_one(conn)
    .await?;
    if suspended { Err(suspended_error(401)) } else { Ok(()) }
}
