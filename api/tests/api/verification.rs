//! The transporter verification gate and its approval path (`weelo-api admin ...`, the real
//! binary against the test's database): with `WEELO_REQUIRE_VERIFIED_TRANSPORTERS` on, a pending
//! transporter is not matched and may not accept or hold; verified, it is sent the open
//! broadcasts in reach at once and takes trucks; every admin action is audited.

use reqwest::StatusCode;
use serde_json::json;
use tokio::process::Command;
use uuid::Uuid;

use crate::helpers::{TestApp, assert_problem, spawn_app_with};

async fn admin(app: &TestApp, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_weelo-api"))
        .arg("admin")
        .args(args)
        .env_clear()
        .env("DATABASE_URL", app.config.database_url.expose())
        .env("WEELO_LOG_FORMAT", "json")
        .output()
        .await
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

async fn told(app: &TestApp, broadcast: &str, transporter: Uuid) -> bool {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM broadcast_notifications WHERE broadcast_id = $1 AND transporter_id = $2)",
    )
    .bind(Uuid::parse_str(broadcast).unwrap())
    .bind(transporter)
    .fetch_one(&app.db)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_pending_transporter_is_not_matched_until_an_admin_verifies_it() {
    let app = spawn_app_with(&[("WEELO_REQUIRE_VERIFIED_TRANSPORTERS", "true")]).await;
    let (_, customer) = app.user("customer").await;
    let (t, token) = app.user("transporter").await;
    let vehicle = app.vehicle_for(t, "open").await;
    app.go_online_at_pickup(t).await;
    let broadcast = app.open_broadcast(&customer, &[("open", 2, 1500)]).await;
    app.run_pending_jobs().await;
    assert!(!told(&app, &broadcast, t).await, "a pending transporter is not matched");
    let r = app.accept(&token, &broadcast, 0, vehicle, Uuid::new_v4().to_string()).await;
    assert_problem(r, 403, "TRANSPORTER_NOT_VERIFIED").await;
    let body = json!({ "line": 0, "quantity": 1 });
    let r = app.command(&format!("/v1/broadcasts/{broadcast}/holds"), &token, &Uuid::new_v4().to_string(), body).await;
    assert_problem(r, 403, "TRANSPORTER_NOT_VERIFIED").await;

    // The approval path: listed as pending with its vehicles, then verified with a reason.
    let (ok, pending) = admin(&app, &["pending"]).await;
    assert!(ok, "{pending}");
    let line = pending.lines().find(|l| l.contains(&t.to_string())).unwrap_or_else(|| panic!("{pending}"));
    assert!(line.contains("(open)"), "{line}");
    let (ok, out) = admin(&app, &["verify", &t.to_string()]).await;
    assert!(!ok && out.contains("usage"), "a reason is required: {out}");
    let (ok, out) = admin(&app, &["verify", &t.to_string(), "RC", "and", "licence", "checked"]).await;
    assert!(ok, "{out}");
    let (ok, pending) = admin(&app, &["pending"]).await;
    assert!(ok && !pending.contains(&t.to_string()), "{pending}");
    // Verified while online: the open broadcast in reach is sent to it at once.
    app.run_pending_jobs().await;
    assert!(told(&app, &broadcast, t).await, "verified, it is matched");
    let r = app.accept(&token, &broadcast, 0, vehicle, Uuid::new_v4().to_string()).await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap_or_default());

    // Unverified again: refused again.
    let (ok, out) = admin(&app, &["unverify", &t.to_string(), "documents", "expired"]).await;
    assert!(ok, "{out}");
    let second = app.vehicle_for(t, "open").await;
    let r = app.accept(&token, &broadcast, 0, second, Uuid::new_v4().to_string()).await;
    assert_problem(r, 403, "TRANSPORTER_NOT_VERIFIED").await;
    let audit: Vec<(String, String)> =
        sqlx::query_as("SELECT action, reason FROM admin_actions WHERE target_id = $1 ORDER BY id")
            .bind(t)
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(
        audit,
        [
            ("transporter.verify".to_owned(), "RC and licence checked".to_owned()),
            ("transporter.unverify".to_owned(), "documents expired".to_owned())
        ]
    );
    let (ok, out) = admin(&app, &["verify", &Uuid::now_v7().to_string(), "no such"]).await;
    assert!(!ok && out.contains("no transporter"), "{out}");
}

#[tokio::test]
async fn admins_are_added_by_the_command_never_by_sign_up() {
    let app = spawn_app_with(&[]).await;
    let phone = "+919876500001";
    // Sign-up as admin sends nothing (the answer is the one any phone gets, so it tells nothing).
    let r = app.request_otp(phone, "admin").await;
    assert_eq!(r.status(), 202);
    assert_eq!(app.sms.count(phone), 0, "no code for a phone that is not an admin");
    let (ok, out) = admin(&app, &["add", phone]).await;
    assert!(ok && out.contains("created admin"), "{out}");
    let (ok, out) = admin(&app, &["add", phone]).await;
    assert!(ok && out.contains("already an admin"), "{out}");
    let (ok, out) = admin(&app, &["add", "12345"]).await;
    assert!(!ok && out.contains("PHONE"), "{out}");
    let admins: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE role = 'admin' AND phone = $1")
        .bind(phone)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(admins, 1);
    // Signed up by the command, the admin signs in with the usual OTP.
    assert_eq!(app.request_otp(phone, "admin").await.status(), StatusCode::ACCEPTED);
    let (ok, out) = admin(&app, &["frobnicate"]).await;
    assert!(!ok && out.contains("usage"), "{out}");
}
