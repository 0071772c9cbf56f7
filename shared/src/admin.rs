//! Admin actions that exist before the ops console: creating admins (never by sign-up) and the
//! transporter verification gate's approval path. Every action writes an `admin_actions` row
//! (who, what, to whom, why) in the same transaction (docs/DESIGN.md, "Ops").

use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::Phone;
use crate::domain::{BroadcastId, UserId};
use crate::error::{Error, Result};
use crate::outbox::{self, OutboxEvent};

async fn audit(
    conn: &mut PgConnection,
    admin: Option<Uuid>,
    action: &str,
    target: Option<Uuid>,
    reason: &str,
) -> Result<()> {
    sqlx::query!(
        "INSERT INTO admin_actions (admin_id, action, target_id, reason) VALUES ($1, $2, $3, $4)",
        admin,
        action,
        target,
        reason
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Creates the admin with this phone (or finds it); they sign in with the usual phone OTP.
/// `by` is None when run from the command line by whoever operates the deployment.
pub async fn add_admin(db: &PgPool, phone: &Phone, by: Option<Uuid>) -> Result<(Uuid, bool)> {
    let mut tx = db.begin().await?;
    let existing: Option<Uuid> =
        sqlx::query_scalar!("SELECT id FROM users WHERE phone = $1 AND role = 'admin'", phone.as_str())
            .fetch_optional(&mut *tx)
            .await?;
    if let Some(id) = existing {
        return Ok((id, false));
    }
    let id = Uuid::now_v7();
    sqlx::query!("INSERT INTO users (id, phone, role) VALUES ($1, $2, 'admin')", id, phone.as_str())
        .execute(&mut *tx)
        .await?;
    audit(&mut tx, by, "admin.add", Some(id), "created from the command line").await?;
    tx.commit().await?;
    Ok((id, true))
}

/// A transporter waiting for verification, with its fleet.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Pending {
    pub id: Uuid,
    pub phone: String,
    pub name: Option<String>,
    pub vehicles: Vec<String>,
}

/// Transporters not verified yet, oldest first, each with its vehicles' registrations.
pub async fn pending_transporters(db: &PgPool) -> Result<Vec<Pending>> {
    let rows: Vec<(Uuid, String, Option<String>, Vec<String>)> = sqlx::query!(
        r#"SELECT u.id, u.phone, u.name,
                coalesce(array_agg(v.registration_number || ' (' || v.vehicle_type::text || ')' ORDER BY v.created_at)
                         FILTER (WHERE v.id IS NOT NULL), '{}') AS "vehicles!"
         FROM users u LEFT JOIN vehicles v ON v.transporter_id = u.id
         WHERE u.role = 'transporter' AND u.verified_at IS NULL
         GROUP BY u.id ORDER BY u.created_at LIMIT 500"#
    )
    .map(|r| (r.id, r.phone, r.name, r.vehicles))
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|(id, phone, name, vehicles)| Pending { id, phone, name, vehicles }).collect())
}

/// Verifies (or unverifies) a transporter, found by id or phone. Verified, it is matched from its
/// next heartbeat, and at once when online (the open broadcasts in reach are sent to it).
pub async fn set_verified(db: &PgPool, who: &str, verified: bool, by: Option<Uuid>, reason: &str) -> Result<Uuid> {
    let reason = require_reason(reason)?;
    let mut tx = db.begin().await?;
    let id: Option<Uuid> = sqlx::query_scalar!(
        "UPDATE users SET verified_at = CASE WHEN $2 THEN coalesce(verified_at, now()) END,
                          verified_by = CASE WHEN $2 THEN coalesce(verified_by, $3) END
         WHERE role = 'transporter' AND (id::text = $1 OR phone = $1) RETURNING id",
        who,
        verified,
        by
    )
    .fetch_optional(&mut *tx)
    .await?;
    let id = id.ok_or_else(|| Error::rejected(404, "USER_NOT_FOUND", "no transporter with this id or phone"))?;
    let action = if verified { "transporter.verify" } else { "transporter.unverify" };
    audit(&mut tx, by, action, Some(id), reason).await?;
    if verified {
        let event = OutboxEvent::TransporterOnline(outbox::TransporterOnline { transporter_id: id });
        outbox::enqueue(&mut tx, &event, None).await?;
    }
    tx.commit().await?;
    Ok(id)
}

/// The gate: with verification required, an unverified transporter may not take trucks.
pub async fn require_verified(conn: &mut PgConnection, required: bool, transporter: Uuid) -> Result<()> {
    if !required {
        return Ok(());
    }
    let verified: bool = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM users WHERE id = $1 AND verified_at IS NOT NULL) AS "exists!""#,
        transporter
    )
    .fetch_one(conn)
    .await?;
    if !verified {
        return Err(not_verified());
    }
    Ok(())
}

/// A transporter's account still waits for verification where verification is required.
pub fn not_verified() -> Error {
    Error::rejected(
        403,
        "TRANSPORTER_NOT_VERIFIED",
        "your account is waiting for verification; you will see broadcasts once it is verified",
    )
}

fn require_reason(reason: &str) -> Result<&str> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(Error::field("reason", "1 to 500 characters"));
    }
    Ok(reason)
}

/// Suspends (or restores) a user: suspended, they cannot sign in, refresh or use a token, every
/// refresh token is revoked, and their sockets are dropped (the relay sends `session_revoked`
/// and the API instances disconnect them). Admins cannot be suspended here.
pub async fn set_suspended(db: &PgPool, user: UserId, suspended: bool, by: UserId, reason: &str) -> Result<()> {
    let user = user.uuid();
    let by = by.uuid();
    let reason = require_reason(reason)?;
    let mut tx = db.begin().await?;
    let role: Option<String> = sqlx::query_scalar!(
        r#"UPDATE users SET suspended_at = CASE WHEN $2 THEN coalesce(suspended_at, now()) END, updated_at = now()
         WHERE id = $1 AND role <> 'admin' RETURNING role::text AS "role!""#,
        user,
        suspended
    )
    .fetch_optional(&mut *tx)
    .await?;
    if role.is_none() {
        return Err(Error::rejected(404, "USER_NOT_FOUND", "no customer, transporter or driver with this id"));
    }
    if suspended {
        sqlx::query!("UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL", user)
            .execute(&mut *tx)
            .await?;
        let event = OutboxEvent::UserSuspended(outbox::UserSuspended { user_id: user });
        outbox::enqueue(&mut tx, &event, None).await?;
    }
    let action = if suspended { "user.suspend" } else { "user.restore" };
    audit(&mut tx, Some(by), action, Some(user), reason).await?;
    tx.commit().await?;
    tracing::warn!(%user, %by, action, "account {}", if suspended { "suspended" } else { "restored" });
    Ok(())
}

/// Cancels an open broadcast on an admin's word: the same transition as a customer's cancel
/// (trips cancelled, vehicles and drivers freed, everyone told), with the reason
/// `ADMIN_CANCELLED` and the admin's note.
pub async fn force_cancel(
    db: &PgPool,
    broadcast: BroadcastId,
    by: UserId,
    reason: &str,
    windows: crate::lifecycle::trips::Windows,
) -> Result<()> {
    let broadcast = broadcast.uuid();
    let by = by.uuid();
    let reason = require_reason(reason)?;
    let mut tx = db.begin().await?;
    crate::lifecycle::force_cancel(&mut tx, UserId(by), BroadcastId(broadcast), reason, windows).await?;
    audit(&mut tx, Some(by), "broadcast.cancel", Some(broadcast), reason).await?;
    tx.commit().await?;
    tracing::warn!(%broadcast, %by, "broadcast cancelled by an admin");
    Ok(())
}

/// Asks the worker to run a dead letter's job once more (`retry_requested`; the worker records
/// how it went), or discards it. Returns how many letters changed.
pub async fn resolve_dead_letters(
    db: &PgPool,
    ids: DeadLetters<'_>,
    retry: bool,
    by: Uuid,
    reason: &str,
) -> Result<u64> {
    let reason = require_reason(reason)?;
    let mut tx = db.begin().await?;
    let (to, action) =
        if retry { ("retry_requested", "dead_letter.retry") } else { ("discarded", "dead_letter.discard") };
    let changed: Vec<i64> = match ids {
        DeadLetters::One(id) => {
            let found: Option<String> =
                sqlx::query_scalar!("SELECT status FROM dead_letters WHERE id = $1 FOR UPDATE", id)
                    .fetch_optional(&mut *tx)
                    .await?;
            match found.as_deref() {
                None => return Err(Error::rejected(404, "DEAD_LETTER_NOT_FOUND", "no dead letter with this id")),
                Some("dead") => {}
                Some(other) => {
                    return Err(Error::rejected(409, "DEAD_LETTER_NOT_DEAD", format!("this letter is {other}"))
                        .with("state", other.to_owned()));
                }
            }
            sqlx::query_scalar!(
                "UPDATE dead_letters SET status = $2, updated_at = now(), resolved_by = $3 WHERE id = $1 RETURNING id",
                id,
                to,
                by
            )
            .fetch_all(&mut *tx)
            .await?
        }
        DeadLetters::Queue(queue) => {
            sqlx::query_scalar!(
                "UPDATE dead_letters SET status = $2, updated_at = now(), resolved_by = $3
                 WHERE queue = $1 AND status = 'dead' RETURNING id",
                queue,
                to,
                by
            )
            .fetch_all(&mut *tx)
            .await?
        }
    };
    if changed.is_empty() {
        return Err(Error::rejected(404, "DEAD_LETTER_NOT_FOUND", "no dead letters in this queue"));
    }
    let target = match ids {
        DeadLetters::One(id) => format!("{action} #{id}: {reason}"),
        DeadLetters::Queue(q) => format!("{action} all of {q} ({} letters): {reason}", changed.len()),
    };
    audit(&mut tx, Some(by), action, None, truncate(&target)).await?;
    tx.commit().await?;
    Ok(changed.len() as u64)
}

/// Which dead letters an action is for.
#[derive(Debug, Clone, Copy)]
pub enum DeadLetters<'a> {
    One(i64),
    Queue(&'a str),
}

fn truncate(s: &str) -> &str {
    match s.char_indices().nth(500) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}
