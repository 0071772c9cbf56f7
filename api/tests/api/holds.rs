//! Holds: reserve trucks of a line, confirm them all as trips or give them back; their expiry;
//! and the holds invariants raced with real concurrent requests (docs/DESIGN.md, "Holds").

use std::time::Duration;

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, assert_problem, spawn_app, spawn_app_with};
use crate::trips::events;

fn key() -> String {
    Uuid::new_v4().to_string()
}

async fn hold(app: &TestApp, token: &str, broadcast: &str, line: i64, quantity: i64) -> Response {
    let body = json!({ "line": line, "quantity": quantity });
    app.command(&format!("/v1/broadcasts/{broadcast}/holds"), token, &key(), body).await
}

async fn held(app: &TestApp, token: &str, broadcast: &str, quantity: i64) -> Value {
    let r = hold(app, token, broadcast, 0, quantity).await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap_or_default());
    r.json().await.unwrap()
}

async fn confirm(app: &TestApp, token: &str, hold: &Value, crews: &[(Uuid, Uuid)]) -> Response {
    let assignments: Vec<Value> = crews.iter().map(|(v, d)| json!({ "vehicleId": v, "driverId": d })).collect();
    let path = format!("/v1/holds/{}/confirm", hold["id"].as_str().unwrap());
    app.command(&path, token, &key(), json!({ "assignments": assignments })).await
}

async fn release(app: &TestApp, token: &str, hold: &Value) -> Response {
    app.command(&format!("/v1/holds/{}/release", hold["id"].as_str().unwrap()), token, &key(), json!({})).await
}

/// (held, taken, searching) trucks of a broadcast, from the rows.
async fn truck_counts(app: &TestApp, broadcast: &str) -> (i64, i64, i64) {
    sqlx::query_as(
        "SELECT count(*) FILTER (WHERE status = 'held'), count(*) FILTER (WHERE status IN ('accepted', 'assigned')),
                count(*) FILTER (WHERE status = 'searching')
         FROM truck_requests WHERE broadcast_id = $1",
    )
    .bind(Uuid::parse_str(broadcast).unwrap())
    .fetch_one(&app.db)
    .await
    .unwrap()
}

/// A transporter with `n` open vehicles and `n` drivers: (id, token, crews).
async fn fleet(app: &TestApp, n: usize) -> (Uuid, String, Vec<(Uuid, Uuid)>) {
    let (id, token) = app.user("transporter").await;
    let mut crews = Vec::new();
    for _ in 0..n {
        crews.push((app.vehicle_for(id, "open").await, app.driver_of(id).await.0));
    }
    (id, token, crews)
}

#[tokio::test]
async fn a_hold_reserves_trucks_for_everybody_else_and_its_confirm_makes_them_trips() {
    let app = spawn_app().await;
    let (_, customer) = app.user("customer").await;
    let (t, t_token, crews) = fleet(&app, 2).await;
    let (other, other_token, other_crews) = fleet(&app, 2).await;
    let broadcast = app.open_broadcast(&customer, &[("open", 3, 1500)]).await;
    app.notify(&broadcast, &[t, other]).await;

    let h = held(&app, &t_token, &broadcast, 2).await;
    assert_eq!((h["requested"].as_i64(), h["held"].as_i64(), h["status"].as_str()), (Some(2), Some(2), Some("active")));
    assert_eq!(h["truckRequestIds"].as_array().unwrap().len(), 2);
    assert_eq!(h["extensionsLeft"], 2);
    let detail: Value = app.get_auth(&format!("/v1/broadcasts/{broadcast}"), &customer).await.json().await.unwrap();
    assert_eq!((detail["lines"][0]["held"].as_i64(), detail["lines"][0]["remaining"].as_i64()), (Some(2), Some(1)));
    assert_eq!(detail["status"], "active", "a hold alone fills nothing");
    assert!(h["expiresAt"].as_str().unwrap() <= detail["expiresAt"].as_str().unwrap());
    let mine: Value = app.get_auth("/v1/transporters/me/holds", &t_token).await.json().await.unwrap();
    assert_eq!(mine["items"][0]["id"], h["id"]);
    let theirs: Value = app.get_auth("/v1/transporters/me/holds", &other_token).await.json().await.unwrap();
    assert_eq!(theirs["items"], json!([]), "nobody sees another's holds");

    // Everybody else is told the remaining count dropped, and can take only the free truck.
    app.run_pending_jobs().await;
    let updates = events(&app, other, "trucks_remaining_update").await;
    assert_eq!(updates.last().map(|u| u["trucksRemaining"].clone()), Some(json!(1)), "{updates:?}");
    let r = app.accept(&other_token, &broadcast, 0, other_crews[0].0, key()).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = app.accept(&other_token, &broadcast, 0, other_crews[1].0, key()).await;
    assert_problem(r, 409, "LINE_FILLED").await;
    let r = hold(&app, &other_token, &broadcast, 0, 1).await;
    assert_problem(r, 409, "LINE_FILLED").await;

    // Someone else's hold is not found; only transporters hold.
    let r = confirm(&app, &other_token, &h, &other_crews).await;
    assert_problem(r, 404, "HOLD_NOT_FOUND").await;
    let r = hold(&app, &customer, &broadcast, 0, 1).await;
    assert_problem(r, 403, "ROLE_FORBIDDEN").await;

    let r = confirm(&app, &t_token, &h, &crews).await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap_or_default());
    let done: Value = r.json().await.unwrap();
    assert_eq!(done["status"], "confirmed");
    assert_eq!(done["truckRequestIds"], h["truckRequestIds"]);
    let detail: Value = app.get_auth(&format!("/v1/broadcasts/{broadcast}"), &customer).await.json().await.unwrap();
    assert_eq!(detail["status"], "fully_filled");
    assert_eq!(truck_counts(&app, &broadcast).await, (0, 3, 0));
    let trips: Vec<(Uuid, Uuid, String)> = sqlx::query_as(
        "SELECT vehicle_id, driver_id, status::text FROM trips WHERE transporter_id = $1 ORDER BY created_at",
    )
    .bind(t)
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(trips.len(), 2);
    for (vehicle, driver) in &crews {
        assert!(trips.contains(&(*vehicle, *driver, "assigned".into())), "{trips:?}");
    }
    // Drivers are told as in any assignment.
    app.run_pending_jobs().await;
    for (_, driver) in &crews {
        assert_eq!(events(&app, *driver, "trip_assigned").await.len(), 1);
    }
    let r = confirm(&app, &t_token, &h, &crews).await;
    assert_problem(r, 409, "HOLD_ENDED").await;
}

#[tokio::test]
async fn a_partial_hold_says_how_many_and_a_line_with_none_free_is_a_409() {
    let app = spawn_app().await;
    let (_, customer) = app.user("customer").await;
    let (a, a_token, _) = fleet(&app, 1).await;
    let (b, b_token, _) = fleet(&app, 1).await;
    let broadcast = app.open_broadcast(&customer, &[("open", 3, 1500), ("mini", 1, 900)]).await;
    app.notify(&broadcast, &[a, b]).await;
    let h = held(&app, &a_token, &broadcast, 5).await;
    assert_eq!((h["requested"].as_i64(), h["held"].as_i64()), (Some(5), Some(3)));
    assert_problem(hold(&app, &b_token, &broadcast, 0, 1).await, 409, "LINE_FILLED").await;
    // Other lines are untouched; no such line and a bad quantity are clear 422s.
    let m: Value = hold(&app, &b_token, &broadcast, 1, 1).await.json().await.unwrap();
    assert_eq!(m["held"], 1);
    assert_problem(hold(&app, &b_token, &broadcast, 5, 1).await, 422, "NO_SUCH_LINE").await;
    assert_problem(hold(&app, &b_token, &broadcast, 0, 0).await, 422, "VALIDATION_FAILED").await;
    assert_problem(hold(&app, &b_token, &broadcast, 0, 21).await, 422, "VALIDATION_FAILED").await;
    let r = app.client.post(app.url(&format!("/v1/broadcasts/{broadcast}/holds"))).bearer_auth(&b_token);
    let r = r.json(&json!({ "line": 0, "quantity": 1 })).send().await.unwrap();
    let problem = assert_problem(r, 422, "VALIDATION_FAILED").await;
    assert_eq!(problem["errors"][0]["field"], "Idempotency-Key");
    // Never shown to you: not found.
    let (_, stranger) = app.user("transporter").await;
    assert_problem(hold(&app, &stranger, &broadcast, 0, 1).await, 404, "BROADCAST_NOT_FOUND").await;
}

#[tokio::test]
async fn a_confirm_with_one_bad_entry_is_refused_whole_and_changes_nothing() {
    let app = spawn_app().await;
    let (_, customer) = app.user("customer").await;
    let (t, token, crews) = fleet(&app, 2).await;
    let mini = app.vehicle_for(t, "mini").await;
    let (other, _, other_crews) = fleet(&app, 1).await;
    let broadcast = app.open_broadcast(&customer, &[("open", 3, 1500)]).await;
    app.notify(&broadcast, &[t, other]).await;
    let h = held(&app, &token, &broadcast, 3).await;
    let mut trucks_before = truck_counts(&app, &broadcast).await;
    assert_eq!(trucks_before, (3, 0, 0));

    // Wrong count: one entry per held truck.
    assert_problem(confirm(&app, &token, &h, &crews).await, 422, "VALIDATION_FAILED").await;
    // One good entry, one of the wrong type, one naming another fleet's vehicle and a repeated driver.
    let third_driver = app.driver_of(t).await.0;
    let entries = [crews[0], (mini, crews[1].1), (other_crews[0].0, crews[0].1)];
    let problem = assert_problem(confirm(&app, &token, &h, &entries).await, 422, "HOLD_CONFIRM_REFUSED").await;
    let refused: Vec<(i64, String)> = problem["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["index"].as_i64().unwrap(), e["code"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(
        refused,
        [(1, "VEHICLE_TYPE_MISMATCH".to_owned()), (2, "VEHICLE_NOT_FOUND".to_owned()), (2, "DRIVER_TWICE".to_owned())]
    );
    assert_eq!(truck_counts(&app, &broadcast).await, trucks_before, "nothing confirmed");
    let trips: i64 = sqlx::query_scalar("SELECT count(*) FROM trips").fetch_one(&app.db).await.unwrap();
    assert_eq!(trips, 0);
    let on_trip: i64 =
        sqlx::query_scalar("SELECT count(*) FROM vehicles WHERE status = 'on_trip'").fetch_one(&app.db).await.unwrap();
    assert_eq!(on_trip, 0, "no vehicle taken by a refused confirm");

    // Fixed, it goes through.
    let third_vehicle = app.vehicle_for(t, "open").await;
    let r = confirm(&app, &token, &h, &[crews[0], crews[1], (third_vehicle, third_driver)]).await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap_or_default());
    trucks_before = truck_counts(&app, &broadcast).await;
    assert_eq!(trucks_before, (0, 3, 0));
}

#[tokio::test]
async fn a_release_gives_the_trucks_back_and_tells_the_transporters_still_told() {
    let app = spawn_app().await;
    let (_, customer) = app.user("customer").await;
    let (t, token, crews) = fleet(&app, 2).await;
    let (other, _, _) = fleet(&app, 1).await;
    let broadcast = app.open_broadcast(&customer, &[("open", 2, 1500)]).await;
    app.notify(&broadcast, &[t, other]).await;
    let h = held(&app, &token, &broadcast, 2).await;
    app.run_pending_jobs().await;
    let r = release(&app, &token, &h).await;
    assert_eq!(r.status(), StatusCode::OK);
    let after: Value = r.json().await.unwrap();
    assert_eq!(after["status"], "released");
    assert_eq!(truck_counts(&app, &broadcast).await, (0, 0, 2));
    app.run_pending_jobs().await;
    let updates = events(&app, other, "trucks_remaining_update").await;
    let counts: Vec<Value> = updates.iter().map(|u| u["trucksRemaining"].clone()).collect();
    assert_eq!(counts, [json!(0), json!(2)], "told when held and when given back");
    assert_problem(confirm(&app, &token, &h, &crews).await, 409, "HOLD_ENDED").await;
    let mine: Value = app.get_auth("/v1/transporters/me/holds", &token).await.json().await.unwrap();
    assert_eq!(mine["items"], json!([]));
    // The transition log tells the whole story of each truck.
    let log: Vec<String> = sqlx::query_scalar(
        "SELECT to_status FROM broadcast_transitions WHERE truck_request_id IS NOT NULL ORDER BY id",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(log, ["held", "held", "searching", "searching"]);
}

#[tokio::test]
async fn an_expired_hold_gives_its_trucks_back_and_a_later_confirm_is_a_409() {
    let app = spawn_app_with(&[("WEELO_HOLD_SECS", "1")]).await;
    let (_, customer) = app.user("customer").await;
    let (t, token, crews) = fleet(&app, 1).await;
    let broadcast = app.open_broadcast(&customer, &[("open", 1, 1500)]).await;
    app.notify(&broadcast, &[t]).await;
    let h = held(&app, &token, &broadcast, 1).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // Past its window, before the expiry job ran: refused all the same, and nothing moved.
    assert_problem(confirm(&app, &token, &h, &crews).await, 409, "HOLD_EXPIRED").await;
    assert_eq!(truck_counts(&app, &broadcast).await, (1, 0, 0));
    assert!(app.run_pending_jobs().await >= 1, "the hold's expiry job ran");
    let status: String = sqlx::query_scalar("SELECT status::text FROM truck_holds").fetch_one(&app.db).await.unwrap();
    assert_eq!(status, "expired");
    assert_eq!(truck_counts(&app, &broadcast).await, (0, 0, 1));
    let after = assert_problem(confirm(&app, &token, &h, &crews).await, 409, "HOLD_EXPIRED").await;
    assert_eq!(after["state"], "expired");
    // The truck is free again for anyone.
    assert_eq!(app.accept(&token, &broadcast, 0, crews[0].0, key()).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_extension_is_bounded_and_never_passes_the_deadline() {
    let app = spawn_app_with(&[("WEELO_HOLD_SECS", "5"), ("WEELO_HOLD_EXTEND_SECS", "30")]).await;
    let (_, customer) = app.user("customer").await;
    let (t, token, _) = fleet(&app, 1).await;
    let broadcast = app.open_broadcast(&customer, &[("open", 1, 1500)]).await;
    app.notify(&broadcast, &[t]).await;
    let h = held(&app, &token, &broadcast, 1).await;
    let path = format!("/v1/holds/{}/extend", h["id"].as_str().unwrap());
    let first: Value = app.command(&path, &token, &key(), json!({})).await.json().await.unwrap();
    assert!(first["expiresAt"].as_str() > h["expiresAt"].as_str(), "{first}");
    assert_eq!(first["extensionsLeft"], 1);
    let second: Value = app.command(&path, &token, &key(), json!({})).await.json().await.unwrap();
    assert_eq!(second["extensionsLeft"], 0);
    assert_problem(app.command(&path, &token, &key(), json!({})).await, 409, "HOLD_EXTEND_LIMIT").await;

    // A hold of a broadcast about to expire lasts until its deadline, and no longer.
    let short = spawn_app_with(&[
        ("WEELO_HOLD_SECS", "90"),
        ("BROADCAST_TIMEOUT_SECS", "30"),
        ("WEELO_RADIUS_STEP_INTERVAL_MS", "1000"),
    ])
    .await;
    let (_, customer) = short.user("customer").await;
    let (t, token, _) = fleet(&short, 1).await;
    let broadcast = short.open_broadcast(&customer, &[("open", 1, 1500)]).await;
    short.notify(&broadcast, &[t]).await;
    let h = held(&short, &token, &broadcast, 1).await;
    let detail: Value = short.get_auth(&format!("/v1/broadcasts/{broadcast}"), &customer).await.json().await.unwrap();
    assert_eq!(h["expiresAt"], detail["expiresAt"]);
    let path = format!("/v1/holds/{}/extend", h["id"].as_str().unwrap());
    assert_problem(short.command(&path, &token, &key(), json!({})).await, 409, "HOLD_AT_DEADLINE").await;
}

#[tokio::test]
async fn a_cancelled_broadcast_ends_its_holds() {
    let app = spawn_app().await;
    let (_, customer) = app.user("customer").await;
    let (t, token, crews) = fleet(&app, 1).await;
    let broadcast = app.open_broadcast(&customer, &[("open", 2, 1500)]).await;
    app.notify(&broadcast, &[t]).await;
    let h = held(&app, &token, &broadcast, 1).await;
    let r = app.post_auth(&format!("/v1/broadcasts/{broadcast}/cancel"), &customer, json!({})).await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap_or_default());
    let status: String = sqlx::query_scalar("SELECT status::text FROM truck_holds").fetch_one(&app.db).await.unwrap();
    assert_eq!(status, "cancelled");
    assert_eq!(truck_counts(&app, &broadcast).await, (0, 0, 0));
    assert_problem(confirm(&app, &token, &h, &crews).await, 409, "HOLD_ENDED").await;
    app.run_pending_jobs().await;
    assert_eq!(events(&app, t, "broadcast_closed").await.len(), 1);
}

// Invariants 1 and 2: 50 transporters hold 3 each at once on a 10-truck line: 10 trucks
// between them, exactly (3 + 3 + 3 + 1), clean 409s for the rest; then accepts and holds
// together on a fresh line.
#[tokio::test]
async fn fifty_concurrent_holds_on_ten_trucks_get_exactly_ten() {
    let app = spawn_app_with(&[
        ("WEELO_MAX_NEW_PER_STEP", "500"),
        ("WEELO_CREATE_RATE_LIMIT_PER_MIN", "10000"),
        ("WEELO_DB_ACQUIRE_TIMEOUT_MS", "30000"),
    ])
    .await;
    let (_, customer) = app.user("customer").await;
    let transporters = app.transporters_with_vehicles(50, "open").await;
    let ids: Vec<Uuid> = transporters.iter().map(|t| t.0).collect();
    for run in 0..5 {
        let broadcast = app.open_broadcast(&customer, &[("open", 10, 1500)]).await;
        app.notify(&broadcast, &ids).await;
        let attempts = transporters.iter().enumerate().map(|(i, (_, token, vehicle))| {
            let broadcast = broadcast.clone();
            let app = &app;
            async move {
                if run >= 3 && i % 2 == 1 {
                    app.accept(token, &broadcast, 0, *vehicle, key()).await
                } else {
                    hold(app, token, &broadcast, 0, 3).await
                }
            }
        });
        let responses = futures::future::join_all(attempts).await;
        let mut got = 0;
        for r in responses {
            match r.status().as_u16() {
                200 => {
                    let b: Value = r.json().await.unwrap();
                    got += b["held"].as_i64().unwrap_or(1);
                }
                409 => {
                    let b: Value = r.json().await.unwrap();
                    assert!(b["code"] == "LINE_FILLED" || b["code"] == "BROADCAST_FILLED", "run {run}: {b}");
                }
                s => panic!("run {run}: {s} {}", r.text().await.unwrap_or_default()),
            }
        }
        assert_eq!(got, 10, "run {run}: trucks handed out");
        let (held, taken, searching) = truck_counts(&app, &broadcast).await;
        assert_eq!((held + taken, searching), (10, 0), "run {run}");
        let holders: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM truck_requests tr JOIN truck_holds h ON h.id = tr.hold_id
             WHERE tr.broadcast_id = $1 AND h.status = 'active'",
        )
        .bind(Uuid::parse_str(&broadcast).unwrap())
        .fetch_one(&app.db)
        .await
        .unwrap();
        assert_eq!(holders, held, "run {run}: every held truck names its one active hold");
        // Free the vehicles the accepts took, for the next run.
        let r = app.post_auth(&format!("/v1/broadcasts/{broadcast}/cancel"), &customer, json!({})).await;
        assert_eq!(r.status(), StatusCode::OK, "run {run}");
        app.run_pending_jobs().await;
    }
}

// Invariant 3: confirm and release of one hold, sent at once, twenty times: exactly one wins,
// the other is a clean 409, and the rows agree with the winner.
#[tokio::test]
async fn confirm_and_release_racing_on_one_hold_have_one_outcome() {
    let app = spawn_app_with(&[("WEELO_CREATE_RATE_LIMIT_PER_MIN", "10000")]).await;
    let (_, customer) = app.user("customer").await;
    let (t, token, _) = fleet(&app, 1).await;
    for run in 0..20 {
        let crew = (app.vehicle_for(t, "open").await, app.driver_of(t).await.0);
        let broadcast = app.open_broadcast(&customer, &[("open", 2, 1500)]).await;
        app.notify(&broadcast, &[t]).await;
        let h = held(&app, &token, &broadcast, 1).await;
        let crews = [crew];
        let (c, r) = tokio::join!(confirm(&app, &token, &h, &crews), release(&app, &token, &h));
        let (c, r) = (c.status().as_u16(), r.status().as_u16());
        assert!(matches!((c, r), (200, 409) | (409, 200)), "run {run}: confirm {c}, release {r}");
        let (held, taken, searching) = truck_counts(&app, &broadcast).await;
        let trips: i64 = sqlx::query_scalar("SELECT count(*) FROM trips WHERE broadcast_id = $1")
            .bind(Uuid::parse_str(&broadcast).unwrap())
            .fetch_one(&app.db)
            .await
            .unwrap();
        if c == 200 {
            assert_eq!((held, taken, searching, trips), (0, 1, 1, 1), "run {run}");
        } else {
            assert_eq!((held, taken, searching, trips), (0, 0, 2, 0), "run {run}");
        }
        let r = app.post_auth(&format!("/v1/broadcasts/{broadcast}/cancel"), &customer, json!({})).await;
        assert_eq!(r.status(), StatusCode::OK, "run {run}");
        app.run_pending_jobs().await;
    }
}
