//! The sign-in flow: OTP request and verify, refresh-token rotation with reuse detection,
//! logout, and access-token checks (including the logout deny-list in Redis).

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
    refresh_ttl: Duration,
}

#[derive(Debug, Clone, sqlx::FromRow)]
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

/// Where an OTP went: a driver's code goes to its transporter's phone.
#[derive(Debug, Clone)]
pub struct OtpSent {
    pub sent_to: String,
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

const USER_COLUMNS: &str = "id, phone, role, name, transporter_id, created_at";

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
            refresh_ttl: config.refresh_token_ttl,
        }
    }

    pub fn signer(&self) -> &TokenSigner {
        &self.signer
    }

    /// Issues a code for (phone, role), at most once per cooldown.
    pub async fn request_otp(&self, phone: &Phone, role: Role) -> Result<OtpSent> {
        let suspended: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM users WHERE phone = $1 AND role = $2 AND suspended_at IS NOT NULL)",
        )
        .bind(phone.as_str())
        .bind(role)
        .fetch_one(&self.db)
        .await?;
        if suspended {
            return Err(suspended_error(403));
        }
        // Who receives it: drivers and admins must already exist; a driver's code goes to its transporter.
        let recipient = match role {
            Role::Customer | Role::Transporter => phone.clone(),
            Role::Driver => {
                let owner: Option<String> = sqlx::query_scalar(
                    "SELECT t.phone FROM users d JOIN users t ON t.id = d.transporter_id
                     WHERE d.phone = $1 AND d.role = 'driver'",
                )
                .bind(phone.as_str())
                .fetch_optional(&self.db)
                .await?;
                let owner = owner.ok_or_else(|| {
                    Error::rejected(
                        404,
                        "DRIVER_NOT_REGISTERED",
                        "no driver with this phone; ask your transporter to add you",
                    )
                })?;
                Phone::parse(&owner).map_err(|e| anyhow::anyhow!("stored transporter phone invalid: {e}"))?
            }
            Role::Admin => {
                let exists: bool =
                    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE phone = $1 AND role = 'admin')")
                        .bind(phone.as_str())
                        .fetch_one(&self.db)
                        .await?;
                if !exists {
                    return Err(Error::rejected(
                        403,
                        "ROLE_NOT_ALLOWED",
                        "admin accounts cannot be created by sign-in",
                    ));
                }
                phone.clone()
            }
        };

        let code = otp::generate();
        let mut tx = self.db.begin().await?;
        // Serialise requests for one (phone, role) so the cooldown cannot be raced.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(format!("otp:{}:{}", phone.as_str(), role))
            .execute(&mut *tx)
            .await?;
        let last: Option<f64> = sqlx::query_scalar(
            "SELECT EXTRACT(EPOCH FROM (now() - created_at))::float8 FROM otp_challenges
             WHERE phone = $1 AND role = $2 ORDER BY created_at DESC LIMIT 1",
        )
        .bind(phone.as_str())
        .bind(role)
        .fetch_optional(&mut *tx)
        .await?;
        let cooldown = self.otp_cooldown.as_secs_f64();
        if let Some(age) = last.filter(|age| *age < cooldown) {
            let wait = (cooldown - age).ceil() as u64;
            return Err(Error::rejected(429, "OTP_COOLDOWN", format!("a code was sent recently; retry in {wait} s"))
                .retry_after(wait));
        }
        // Only the newest code is valid.
        sqlx::query(
            "UPDATE otp_challenges SET consumed_at = now() WHERE phone = $1 AND role = $2 AND consumed_at IS NULL",
        )
        .bind(phone.as_str())
        .bind(role)
        .execute(&mut *tx)
        .await?;
        let challenge = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO otp_challenges (id, phone, role, code_hash, expires_at)
             VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))",
        )
        .bind(challenge)
        .bind(phone.as_str())
        .bind(role)
        .bind(otp::hash(self.otp_key.expose().as_bytes(), phone.as_str(), role.as_str(), &code))
        .bind(self.otp_ttl.as_secs_f64())
        .execute(&mut *tx)
        .await?;
        // Commit first, send after, outside any transaction: a slow or silent SMS gateway holds
        // neither a connection nor the lock, so it cannot drain the pool for other routes.
        tx.commit().await?;
        if let Err(e) = self.sms.send_otp(&recipient, &code).await {
            tracing::error!(error = %format!("{e:#}"), to = %recipient.masked(), "SMS delivery failed");
            // A code that could not be sent does not start a cooldown (nor stay valid).
            sqlx::query("DELETE FROM otp_challenges WHERE id = $1").bind(challenge).execute(&self.db).await?;
            return Err(Error::rejected(503, "SMS_UNAVAILABLE", "the code could not be sent; try again shortly"));
        }
        tracing::info!(phone = %phone.masked(), %role, sent_to = %recipient.masked(), "OTP issued");
        Ok(OtpSent {
            sent_to: recipient.masked(),
            expires_in: self.otp_ttl.as_secs(),
            resend_after: self.otp_cooldown.as_secs(),
        })
    }

    /// Checks a code; on success signs the user in (creating customers and transporters on first sign-in).
    pub async fn verify_otp(&self, phone: &Phone, role: Role, code: &str) -> Result<TokenPair> {
        let challenge: Option<(Uuid, String, i32, bool)> = sqlx::query_as(
            "SELECT id, code_hash, attempts, expires_at <= now() FROM otp_challenges
             WHERE phone = $1 AND role = $2 AND consumed_at IS NULL ORDER BY created_at DESC LIMIT 1",
        )
        .bind(phone.as_str())
        .bind(role)
        .fetch_optional(&self.db)
        .await?;
        let expired = || Error::rejected(401, "OTP_EXPIRED", "no valid code for this phone; request a new one");
        let too_many = || {
            Error::rejected(429, "OTP_TOO_MANY_ATTEMPTS", "too many wrong codes; request a new one")
                .retry_after(self.otp_cooldown.as_secs())
        };
        let Some((id, stored, attempts, is_expired)) = challenge else {
            return Err(expired());
        };
        if is_expired {
            return Err(expired());
        }
        if attempts >= self.otp_max_attempts {
            return Err(too_many());
        }
        // Spend one attempt atomically, so concurrent guesses cannot exceed the limit.
        let spent: Option<i32> = sqlx::query_scalar(
            "UPDATE otp_challenges SET attempts = attempts + 1
             WHERE id = $1 AND attempts < $2 AND consumed_at IS NULL AND expires_at > now() RETURNING attempts",
        )
        .bind(id)
        .bind(self.otp_max_attempts)
        .fetch_optional(&self.db)
        .await?;
        let Some(spent) = spent else {
            return Err(too_many());
        };
        let candidate = otp::hash(self.otp_key.expose().as_bytes(), phone.as_str(), role.as_str(), code);
        if !otp::matches(&stored, &candidate) {
            let left = (self.otp_max_attempts - spent).max(0);
            return Err(Error::rejected(401, "OTP_INVALID", format!("wrong code; {left} attempt(s) left"))
                .with("attemptsLeft", left));
        }
        let mut tx = self.db.begin().await?;
        let consumed =
            sqlx::query("UPDATE otp_challenges SET consumed_at = now() WHERE id = $1 AND consumed_at IS NULL")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        if consumed.rows_affected() != 1 {
            return Err(expired());
        }
        let user: UserRecord = match role {
            Role::Customer | Role::Transporter => {
                sqlx::query_as(&format!(
                    "INSERT INTO users (id, phone, role) VALUES ($1, $2, $3)
                     ON CONFLICT (phone, role) DO UPDATE SET updated_at = now() RETURNING {USER_COLUMNS}"
                ))
                .bind(Uuid::now_v7())
                .bind(phone.as_str())
                .bind(role)
                .fetch_one(&mut *tx)
                .await?
            }
            Role::Driver | Role::Admin => {
                sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE phone = $1 AND role = $2"))
                    .bind(phone.as_str())
                    .bind(role)
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
        sqlx::query(
            "INSERT INTO refresh_tokens (id, family_id, user_id, token_hash, expires_at)
             VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))",
        )
        .bind(Uuid::now_v7())
        .bind(family)
        .bind(user.id)
        .bind(token_hash(&refresh_token))
        .bind(self.refresh_ttl.as_secs_f64())
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
        let rotated: Option<(Uuid, Uuid)> = sqlx::query_as(
            "UPDATE refresh_tokens SET rotated_at = now()
             WHERE token_hash = $1 AND rotated_at IS NULL AND revoked_at IS NULL AND expires_at > now()
             RETURNING family_id, user_id",
        )
        .bind(&hash)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((family, user_id)) = rotated else {
            drop(tx);
            return Err(self.refused_refresh(&hash).await?);
        };
        let user: UserRecord = sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .bind(user_id)
            .fetch_one(&mut *tx)
            .await?;
        refuse_suspended(&mut tx, user.id).await?;
        let pair = self.issue_pair(&mut tx, user, family).await?;
        tx.commit().await?;
        Ok(pair)
    }

    async fn refused_refresh(&self, hash: &str) -> Result<Error> {
        let row: Option<(Uuid, Uuid, bool, bool)> = sqlx::query_as(
            "SELECT family_id, user_id, rotated_at IS NOT NULL, revoked_at IS NOT NULL
             FROM refresh_tokens WHERE token_hash = $1",
        )
        .bind(hash)
        .fetch_optional(&self.db)
        .await?;
        Ok(match row {
            None => Error::rejected(401, "REFRESH_TOKEN_INVALID", "unknown refresh token"),
            Some((family, user, true, _)) => {
                let revoked = sqlx::query(
                    "UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL",
                )
                .bind(family)
                .execute(&self.db)
                .await?;
                tracing::warn!(%family, revoked = revoked.rows_affected(), "refresh token reuse detected; family revoked");
                // Someone holds a copy of this session: the user's sockets end (its own apps
                // reconnect with their tokens; a stolen copy's refresh no longer works).
                crate::realtime::revoke(&self.cache, user, None, "REFRESH_TOKEN_REUSED")
                    .await
                    .map_err(Error::Internal)?;
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
            sqlx::query(
                "UPDATE refresh_tokens SET revoked_at = now()
                 WHERE revoked_at IS NULL AND family_id = (SELECT family_id FROM refresh_tokens WHERE token_hash = $1 AND user_id = $2)",
            )
            .bind(token_hash(token))
            .bind(claims.sub)
            .execute(&self.db)
            .await?;
        }
        let ttl = (claims.exp - Utc::now().timestamp()).max(1) as u64 + 10;
        let mut conn = self.cache.conn().await?;
        let _: () = conn.set_ex(self.cache.keys.revoked_jti(&claims.jti.to_string()), 1, ttl).await?;
        // Sockets signed in with this token end too, on every API instance.
        crate::realtime::revoke(&self.cache, claims.sub, Some(claims.jti), "SIGNED_OUT")
            .await
            .map_err(Error::Internal)?;
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
        let suspended: Option<bool> = sqlx::query_scalar("SELECT suspended_at IS NOT NULL FROM users WHERE id = $1")
            .bind(claims.sub)
            .fetch_optional(&self.db)
            .await?;
        match suspended {
            None => return Err(Error::rejected(401, "UNAUTHORIZED", "this account no longer exists")),
            Some(true) => return Err(suspended_error(401)),
            Some(false) => {}
        }
        Ok(claims)
    }

    pub async fn user(&self, id: Uuid) -> Result<UserRecord> {
        sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.db)
            .await?
            .ok_or_else(|| Error::rejected(404, "USER_NOT_FOUND", "this account no longer exists"))
    }

    /// Deletes finished OTP challenges and dead refresh tokens older than `older_than`.
    pub async fn prune(db: &PgPool, older_than: Duration) -> anyhow::Result<u64> {
        let secs = older_than.as_secs_f64();
        let otps = sqlx::query("DELETE FROM otp_challenges WHERE expires_at < now() - make_interval(secs => $1)")
            .bind(secs)
            .execute(db)
            .await?
            .rows_affected();
        let tokens = sqlx::query(
            "DELETE FROM refresh_tokens WHERE expires_at < now() - make_interval(secs => $1)
             OR revoked_at < now() - make_interval(secs => $1)",
        )
        .bind(secs)
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
    let suspended: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE id = $1 AND suspended_at IS NOT NULL)")
            .bind(user)
            .fetch_one(conn)
            .await?;
    if suspended { Err(suspended_error(401)) } else { Ok(()) }
}
