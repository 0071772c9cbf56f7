//! The ops console's JSON routes on the private ops listener: only admins get data (every other
//! role 403, no token 401), nothing of it is on the public port, admins sign in with the OTP,
//! and every action (force-cancel, suspend/restore, dead-letter retry/discard) is refused
//! without a reason, changes what it says, and is audited. The page itself is driven in a real
//! browser by the worker's end-to-end tests (worker/tests/worker/console.rs).

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;
use weelo_api::console::ADMIN_ROUTES;
use weelo_shared::domain::Phone;

use crate::helpers::{TestApp, assert_problem, spawn_app_with};

async fn console_app() -> TestApp {
    spawn_app_with(&[("WEELO_OPS_ADDR", "127.0.0.1:0")]).await
}

fn ops(app: &TestApp, path: &str) -> String {
    format!("{}{path}", app.ops.as_deref().expect("the ops listener runs"))
}

async fn ops_get(app: &TestApp, token: &str, path: &str) -> reqwest::Response {
    app.client.get(ops(app, path)).bearer_auth(token).send().await.unwrap()
}

async fn ops_post(app: &TestApp, token: &str, path: &str, body: Value) -> reqwest::Response {
    app.client.post(ops(app, path)).bearer_auth(token).json(&body).send().await.unwrap()
}

async fn audit_actions(app: &TestApp) -> Vec<String> {
    sqlx::query_scalar("SELECT action FROM admin_actions ORDER BY id").fetch_all(&app.db).await.unwrap()
}

#[tokio::test]
async fn every_ops_route_is_for_admins_only_and_not_on_the_public_port() {
    let app = console_app().await;
    let (_, admin) = app.user("admin").await;
    let target = Uuid::now_v7().to_string();
    for (method, path) in ADMIN_ROUTES {
        let path = path.replace("{id}", &target);
        let send = |token: Option<&str>| {
            let mut req = app.client.request(method.parse().unwrap(), ops(&app, &path));
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            if *method == "POST" {
                req = req.json(&json!({ "reason": "role test" }));
            }
            req.send()
        };
        assert_problem(send(None).await.unwrap(), 401, "UNAUTHORIZED").await;
        let (transporter, transporter_token) = app.user("transporter").await;
        let (_, customer_token) = app.user("customer").await;
        let (_, driver_token) = app.driver_of(transporter).await;
        for (role, token) in
            [("customer", customer_token), ("transporter", transporter_token), ("driver", driver_token)]
        {
            let r = send(Some(&token)).await.unwrap();
            let body = assert_problem(r, 403, "ROLE_FORBIDDEN").await;
            assert!(body.get("changed").is_none(), "{method} {path} as {role}: no data: {body}");
        }
        // An admin is let through (a missing target is a 404, never a 500).
        let r = send(Some(&admin)).await.unwrap();
        assert!(
            r.status().is_success() || r.status() == StatusCode::NOT_FOUND,
            "{method} {path} as admin: {}",
            r.status()
        );
        // Not on the public API port.
        let r = app.client.request(method.parse().unwrap(), app.url(&path)).bearer_auth(&admin).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{method} {path} is not served on the public port");
    }
    assert!(audit_actions(&app).await.is_empty(), "nothing refused or missing was audited as done");
    let page = app.client.get(ops(&app, "/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("/console.js"), "the page loads its vendored script");
    let r = app.client.get(app.url("/console.js")).send().await.unwrap();
    assert_eq!(r.status(), 404, "the console is not on the public port");
}

#[tokio::test]
async fn admins_sign_in_with_the_otp_and_nobody_else_does() {
    let app = console_app().await;
    let phone = Phone::parse("+919812345670").unwrap();
    let r = app
        .client
        .post(ops(&app, "/api/sign-in/request"))
        .json(&json!({ "phone": phone.as_str() }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the same answer as for an admin, but nothing is sent");
    assert_eq!(app.sms.count(phone.as_str()), 0);
    weelo_shared::admin::add_admin(&app.db, &phone, None).await.unwrap();
    let r = app.client.post(ops(&app, "/api/sign-in/request")).json(&json!({ "phone": "12" })).send().await.unwrap();
    assert_problem(r, 422, "VALIDATION_FAILED").await;
    let r = app
        .client
        .post(ops(&app, "/api/sign-in/request"))
        .json(&json!({ "phone": phone.as_str() }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    let code = app.sms.last_code(phone.as_str()).expect("a code was sent");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let r = app
        .client
        .post(ops(&app, "/api/sign-in/verify"))
        .json(&json!({ "phone": phone.as_str(), "code": wrong }))
        .send()
        .await
        .unwrap();
    assert_problem(r, 401, "OTP_INVALID").await;
    let r = app
        .client
        .post(ops(&app, "/api/sign-in/verify"))
        .json(&json!({ "phone": phone.as_str(), "code": code }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let token = body["accessToken"].as_str().unwrap();
    let r = ops_get(&app, token, "/api/broadcasts").await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn the_live_list_and_the_timeline_show_what_happened() {
    let app = console_app().await;
    let (_, admin) = app.user("admin").await;
    let (_, customer) = app.user("customer").await;
    let (t, t_token) = app.user("transporter").await;
    let vehicle = app.vehicle_for(t, "open").await;
    app.go_online_at_pickup(t).await;
    let broadcast = app.open_broadcast(&customer, &[("open", 2, 1500)]).await;
    app.run_pending_jobs().await;
    let r = app.accept(&t_token, &broadcast, 0, vehicle, Uuid::new_v4().to_string()).await;
    assert_eq!(r.status(), 200);
    app.run_pending_jobs().await;

    let list: Value = ops_get(&app, &admin, "/api/broadcasts").await.json().await.unwrap();
    let row = list.as_array().unwrap().iter().find(|b| b["id"] == broadcast.as_str()).expect("listed");
    assert_eq!(row["status"], "partially_filled");
    assert_eq!(row["trucksFilled"], 1);
    assert_eq!(row["notified"], 1);
    assert_eq!(row["lines"][0], json!({ "vehicleType": "open", "needed": 2, "taken": 1, "held": 0 }));
    assert!(row["secondsLeft"].as_i64().unwrap() > 0);

    let other: Value = ops_get(&app, &admin, "/api/broadcasts?status=cancelled").await.json().await.unwrap();
    assert!(other.as_array().unwrap().iter().all(|b| b["id"] != broadcast.as_str()));
    let far: Value = ops_get(&app, &admin, "/api/broadcasts?box=28,76,29,77").await.json().await.unwrap();
    assert!(far.as_array().unwrap().is_empty(), "a box around Delhi has no Mumbai pickup: {far}");
    assert_problem(ops_get(&app, &admin, "/api/broadcasts?status=open-ish").await, 422, "VALIDATION_FAILED").await;
    assert_problem(ops_get(&app, &admin, "/api/broadcasts?box=1,2,3").await, 422, "VALIDATION_FAILED").await;

    let t_line: Value = ops_get(&app, &admin, &format!("/api/broadcasts/{broadcast}")).await.json().await.unwrap();
    let steps: Vec<&str> =
        t_line["transitions"].as_array().unwrap().iter().map(|x| x["reason"].as_str().unwrap()).collect();
    assert!(steps.contains(&"ACCEPTED"), "{steps:?}");
    assert_eq!(t_line["radiusSteps"][0]["told"], 1);
    assert_eq!(t_line["notifications"][0]["transporterId"], t.to_string());
    let kinds: Vec<&str> = t_line["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"broadcast_created") && kinds.contains(&"truck_accepted"), "{kinds:?}");
    assert_problem(
        ops_get(&app, &admin, &format!("/api/broadcasts/{}", Uuid::now_v7())).await,
        404,
        "BROADCAST_NOT_FOUND",
    )
    .await;
}

#[tokio::test]
async fn force_cancel_needs_a_reason_frees_the_trucks_and_is_audited() {
    let app = console_app().await;
    let (admin_id, admin) = app.user("admin").await;
    let (_, customer) = app.user("customer").await;
    let (t, t_token) = app.user("transporter").await;
    let vehicle = app.vehicle_for(t, "open").await;
    app.go_online_at_pickup(t).await;
    let broadcast = app.open_broadcast(&customer, &[("open", 2, 1500)]).await;
    app.run_pending_jobs().await;
    let r = app.accept(&t_token, &broadcast, 0, vehicle, Uuid::new_v4().to_string()).await;
    assert_eq!(r.status(), 200);

    let path = format!("/api/broadcasts/{broadcast}/cancel");
    assert_problem(ops_post(&app, &admin, &path, json!({ "reason": "  " })).await, 422, "VALIDATION_FAILED").await;
    assert!(audit_actions(&app).await.is_empty(), "a refused action writes no audit row");
    let r = ops_post(&app, &admin, &path, json!({ "reason": "customer asked support" })).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    let (status, reason, note): (String, Option<String>, Option<String>) =
        sqlx::query_as("SELECT status::text, terminal_reason, cancel_note FROM broadcasts WHERE id = $1::uuid")
            .bind(&broadcast)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(
        (status.as_str(), reason.as_deref(), note.as_deref()),
        ("cancelled", Some("ADMIN_CANCELLED"), Some("customer asked support"))
    );
    assert_eq!(app.vehicle_status(vehicle).await, "available", "the taken truck's vehicle is free again");
    let actor: (String, Option<Uuid>) = sqlx::query_as(
        "SELECT actor_role, actor_id FROM broadcast_transitions WHERE broadcast_id = $1::uuid AND to_status = 'cancelled' AND truck_request_id IS NULL",
    )
    .bind(&broadcast)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(actor, ("admin".to_owned(), Some(admin_id)));
    app.run_pending_jobs().await;
    // The customer hears it with the reason.
    let r = app.get_auth(&format!("/v1/broadcasts/{broadcast}"), &customer).await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["terminalReason"], "ADMIN_CANCELLED");
    assert_problem(ops_post(&app, &admin, &path, json!({ "reason": "again" })).await, 409, "BROADCAST_CLOSED").await;
    assert_eq!(audit_actions(&app).await, vec!["broadcast.cancel"]);
}

#[tokio::test]
async fn a_suspended_user_cannot_sign_in_refresh_or_use_a_token_until_restored() {
    let app = console_app().await;
    let (_, admin) = app.user("admin").await;
    let phone = "+919811112222";
    let session = app.login(phone, "customer").await;
    let user = &session.user_id;
    assert_problem(
        ops_post(&app, &admin, &format!("/api/users/{user}/suspend"), json!({})).await,
        422,
        "VALIDATION_FAILED",
    )
    .await;
    let r =
        ops_post(&app, &admin, &format!("/api/users/{user}/suspend"), json!({ "reason": "chargeback fraud" })).await;
    assert_eq!(r.status(), 200);
    assert_problem(app.get_auth("/v1/me", &session.access).await, 401, "ACCOUNT_SUSPENDED").await;
    let r = app.post("/v1/auth/refresh", json!({ "refreshToken": session.refresh })).await;
    assert_eq!(r.status(), 401, "the refresh token was revoked");
    assert_problem(app.request_otp(phone, "customer").await, 403, "ACCOUNT_SUSPENDED").await;
    let listed: Value = ops_get(&app, &admin, "/api/users?phone=9811112222").await.json().await.unwrap();
    assert!(listed[0]["suspendedAt"].is_string(), "{listed}");
    let outbox: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE kind = 'user_suspended' AND payload->>'userId' = $1")
            .bind(user)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(outbox, 1, "the sockets are dropped through the outbox");
    app.run_pending_jobs().await;

    // Admins are not suspended from the console; unknown users are 404.
    let (admin_id, _) = app.user("admin").await;
    let r = ops_post(&app, &admin, &format!("/api/users/{admin_id}/suspend"), json!({ "reason": "x" })).await;
    assert_problem(r, 404, "USER_NOT_FOUND").await;

    let r =
        ops_post(&app, &admin, &format!("/api/users/{user}/restore"), json!({ "reason": "cleared by support" })).await;
    assert_eq!(r.status(), 200);
    assert_eq!(app.get_auth("/v1/me", &session.access).await.status(), 200, "restored, the access token works again");
    app.login(phone, "customer").await;
    assert_eq!(audit_actions(&app).await, vec!["user.suspend", "user.restore"]);
}

async fn dead_letter(app: &TestApp, queue: &str, payload: Value) -> i64 {
    weelo_worker::runtime::dead_letter(&app.db, queue, &payload, "failed 5 times", 5).await.unwrap();
    sqlx::query_scalar("SELECT max(id) FROM dead_letters").fetch_one(&app.db).await.unwrap()
}

async fn letter_status(app: &TestApp, id: i64) -> (String, i32, String) {
    sqlx::query_as("SELECT status, attempts, error FROM dead_letters WHERE id = $1")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn dead_letters_are_retried_by_the_worker_or_discarded_on_an_admins_word() {
    let app = console_app().await;
    let (_, admin) = app.user("admin").await;
    let (_, customer) = app.user("customer").await;
    let broadcast = app.open_broadcast(&customer, &[("open", 1, 1500)]).await;
    app.run_pending_jobs().await;
    let good = dead_letter(&app, "cleanup_broadcast", json!({ "broadcastId": broadcast })).await;
    let broken = dead_letter(&app, "cleanup_broadcast", json!({ "notAField": 1 })).await;
    let other = dead_letter(&app, "expand_radius", json!({ "broadcastId": broadcast, "step": 0 })).await;

    let listed: Value = ops_get(&app, &admin, "/api/dead-letters?queue=cleanup_broadcast").await.json().await.unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    let queues: Value = ops_get(&app, &admin, "/api/queues").await.json().await.unwrap();
    assert_eq!(queues["deadLetters"], json!({ "cleanup_broadcast": 2, "expand_radius": 1 }));
    let timeline: Value = ops_get(&app, &admin, &format!("/api/broadcasts/{broadcast}")).await.json().await.unwrap();
    assert_eq!(timeline["deadLetters"].as_array().unwrap().len(), 2, "a broadcast's timeline names its dead letters");

    let r =
        ops_post(&app, &admin, "/api/queues/cleanup_broadcast/retry-all", json!({ "reason": "database back" })).await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["changed"], 2);
    assert_problem(
        ops_post(&app, &admin, &format!("/api/dead-letters/{good}/retry"), json!({ "reason": "again" })).await,
        409,
        "DEAD_LETTER_NOT_DEAD",
    )
    .await;
    let ran = weelo_worker::dead_letters::retry_requested(app.worker().await).await.unwrap();
    assert_eq!(ran, 2);
    assert_eq!(letter_status(&app, good).await.0, "retried", "its job succeeded");
    let (status, attempts, error) = letter_status(&app, broken).await;
    assert_eq!((status.as_str(), attempts), ("dead", 6), "it failed again and says why: {error}");
    assert!(error.contains("decoding"), "{error}");

    let r =
        ops_post(&app, &admin, &format!("/api/dead-letters/{other}/discard"), json!({ "reason": "obsolete" })).await;
    assert_eq!(r.status(), 200);
    assert_eq!(letter_status(&app, other).await.0, "discarded");
    assert_problem(
        ops_post(&app, &admin, "/api/dead-letters/999999/retry", json!({ "reason": "x" })).await,
        404,
        "DEAD_LETTER_NOT_FOUND",
    )
    .await;
    assert_eq!(audit_actions(&app).await, vec!["dead_letter.retry", "dead_letter.discard"]);
    app.run_pending_jobs().await;
}
