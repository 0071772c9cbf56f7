//! After the match: a trip from the driver's answer to delivery, the driver's response window,
//! restaffing, release and reopening, the customer's cancel after the match, and the races
//! between them. The worker's jobs run in this process (`run_pending_jobs`).

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;
use weelo_shared::cache::Cache;
use weelo_shared::realtime;

use crate::helpers::{TestApp, assert_problem, spawn_app, spawn_app_with};

fn key() -> String {
    Uuid::new_v4().to_string()
}

async fn accept_with_driver(
    app: &TestApp,
    token: &str,
    broadcast: &str,
    vehicle: Uuid,
    driver: Uuid,
) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/v1/broadcasts/{broadcast}/accept")))
        .bearer_auth(token)
        .header("Idempotency-Key", key())
        .json(&json!({ "line": 0, "vehicleId": vehicle, "driverId": driver }))
        .send()
        .await
        .unwrap()
}

pub(crate) async fn events(app: &TestApp, user: Uuid, name: &str) -> Vec<Value> {
    let cache = Cache::new(&app.config).unwrap();
    let log = realtime::missed(&cache, user, 0).await.unwrap();
    log.into_iter().filter(|e| e.event == name).map(|e| e.payload).collect()
}

async fn trip_of(app: &TestApp, driver_token: &str) -> Value {
    let page: Value = app.get_auth("/v1/drivers/me/trips", driver_token).await.json().await.unwrap();
    page["items"][0].clone()
}

/// Invariant 4: each trip's log replays to its current state (from None, each step from the
/// state the previous one reached).
async fn assert_logs_replay(app: &TestApp) {
    let trips: Vec<(Uuid, String)> =
        sqlx::query_as("SELECT id, status::text FROM trips").fetch_all(&app.db).await.unwrap();
    for (trip, status) in trips {
        let log: Vec<(Option<String>, String)> = sqlx::query_as(
            "SELECT from_status::text, to_status::text FROM trip_transitions WHERE trip_id = $1 ORDER BY id",
        )
        .bind(trip)
        .fetch_all(&app.db)
        .await
        .unwrap();
        let mut at: Option<String> = None;
        for (from, to) in &log {
            assert_eq!(from, &at, "trip {trip}: {log:?}");
            at = Some(to.clone());
        }
        assert_eq!(at.as_deref(), Some(status.as_str()), "trip {trip}: {log:?}");
    }
}

/// Invariant 2, checked from the outside: on_trip exactly while a taken truck holds it.
async fn assert_no_vehicle_stuck(app: &TestApp) {
    let stuck: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM vehicles v WHERE (v.status = 'on_trip') <> EXISTS (
            SELECT 1 FROM truck_requests tr WHERE tr.vehicle_id = v.id AND tr.status IN ('accepted', 'assigned'))",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(stuck, 0, "a vehicle is on_trip without a trip, or the other way round");
}

#[tokio::test]
async fn a_trip_runs_from_assignment_to_delivery_and_its_vehicle_and_driver_work_again() {
    let app = spawn_app().await;
    let (customer_id, customer) = app.user("customer").await;
    let t = app.transporters_with_vehicles(1, "open").await.remove(0);
    let (driver, driver_token) = app.driver_of(t.0).await;
    let b = app.open_broadcast(&customer, &[("open", 1, 1500)]).await;
    app.notify(&b, &[t.0]).await;

    let r = accept_with_driver(&app, &t.1, &b, t.2, driver).await;
    assert_eq!(r.status(), 200);
    let accepted: Value = r.json().await.unwrap();
    assert_eq!(accepted["status"], "assigned");
    assert_eq!(accepted["broadcastStatus"], "fully_filled");
    app.run_pending_jobs().await;

    // The driver is told at once, with everything the trip screen needs.
    let told = events(&app, driver, "trip_assigned").await;
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0]["fare"], 1500);
    assert_eq!(told[0]["pickup"]["address"], "Bhiwandi warehouse 4");
    assert!(told[0]["customer"]["phone"].is_string() && told[0]["respondBy"].is_string());
    let trip = trip_of(&app, &driver_token).await;
    assert_eq!(trip["status"], "assigned");
    assert_eq!(trip["vehicle"]["id"], t.2.to_string());
    let id = trip["id"].as_str().unwrap().to_owned();
    let one: Value = app.get_auth(&format!("/v1/drivers/me/trips/{id}"), &driver_token).await.json().await.unwrap();
    assert_eq!(one["id"], id.as_str());

    // The road, in order; a skipped step is a 409 naming the state, and a retry replays.
    let path = format!("/v1/drivers/me/trips/{id}");
    let skip =
        app.command(&format!("{path}/status"), &driver_token, &key(), json!({ "status": "en_route_to_pickup" })).await;
    let body = assert_problem(skip, 409, "TRIP_STATE_CONFLICT").await;
    assert_eq!(body["state"], "assigned");
    let k = key();
    let a: Value = app.command(&format!("{path}/accept"), &driver_token, &k, json!({})).await.json().await.unwrap();
    assert_eq!(a["status"], "driver_accepted");
    let again: Value = app.command(&format!("{path}/accept"), &driver_token, &k, json!({})).await.json().await.unwrap();
    assert_eq!(again, a, "the same key replays the first answer");
    let jump = app.command(&format!("{path}/status"), &driver_token, &key(), json!({ "status": "delivered" })).await;
    assert_eq!(assert_problem(jump, 409, "TRIP_STATE_CONFLICT").await["state"], "driver_accepted");
    for status in ["en_route_to_pickup", "at_pickup", "in_transit", "delivered"] {
        let r = app.command(&format!("{path}/status"), &driver_token, &key(), json!({ "status": status })).await;
        assert_eq!(r.status(), 200, "{status}");
        assert_eq!(r.json::<Value>().await.unwrap()["status"], status);
    }
    app.run_pending_jobs().await;
    assert_eq!(app.vehicle_status(t.2).await, "available");
    assert_eq!(events(&app, customer_id, "driver_accepted").await.len(), 1);
    let updates = events(&app, customer_id, "trip_status_changed").await;
    let seen: Vec<&str> = updates.iter().map(|u| u["status"].as_str().unwrap()).collect();
    assert_eq!(seen, ["en_route_to_pickup", "at_pickup", "in_transit", "delivered"]);
    let detail: Value = app.get_auth(&format!("/v1/broadcasts/{b}"), &customer).await.json().await.unwrap();
    assert_eq!(detail["acceptedTrucks"][0]["trip"]["status"], "delivered");
    assert_eq!(detail["acceptedTrucks"][0]["status"], "delivered");
    // Its only trip finished: the broadcast is completed, final, and the customer is told.
    assert_eq!((&detail["status"], &detail["terminalReason"]), (&json!("completed"), &json!("TRIPS_FINISHED")));
    assert_eq!(events(&app, customer_id, "broadcast_completed").await.len(), 1);
    let cancel = app.post_auth(&format!("/v1/broadcasts/{b}/cancel"), &customer, json!({})).await;
    assert_eq!(assert_problem(cancel, 409, "BROADCAST_CLOSED").await["state"], "completed");

    // The same vehicle and driver are matched and take the next broadcast.
    let (_, customer2) = app.user("customer").await;
    let b2 = app.open_broadcast(&customer2, &[("open", 1, 1500)]).await;
    app.notify(&b2, &[t.0]).await;
    assert_eq!(accept_with_driver(&app, &t.1, &b2, t.2, driver).await.status(), 200);
    app.run_pending_jobs().await;
    assert_logs_replay(&app).await;
    assert_no_vehicle_stuck(&app).await;
}

#[tokio::test]
async fn a_driver_timeout_goes_back_to_the_transporter_who_staffs_it_again() {
    // Three seconds: long enough that the restaffed driver's own window is not due while the
    // test drains the jobs right after restaffing (deadline jobs are pushed a second early).
    let app = spawn_app_with(&[("WEELO_DRIVER_RESPONSE_SECS", "3")]).await;
    let (_, customer) = app.user("customer").await;
    let t = app.transporters_with_vehicles(1, "open").await.remove(0);
    let (silent, silent_token) = app.driver_of(t.0).await;
    let (ravi, ravi_token) = app.driver_of(t.0).await;
    let b = app.open_broadcast(&customer, &[("open", 1, 1500)]).await;
    app.notify(&b, &[t.0]).await;
    assert_eq!(accept_with_driver(&app, &t.1, &b, t.2, silent).await.status(), 200);
    app.run_pending_jobs().await;
    let id = trip_of(&app, &silent_token).await["id"].as_str().unwrap().to_owned();

    // The window is a durable job: it comes due after three seconds.
    tokio::time::sleep(Duration::from_millis(3100)).await;
    app.run_pending_jobs().await;
    let trip = trip_of(&app, &silent_token).await;
    assert_eq!(trip["status"], "driver_timeout");
    assert!(trip["restaffBy"].is_string());
    assert_eq!(app.vehicle_status(t.2).await, "available", "the vehicle is free while it waits for a crew");
    let told = events(&app, t.0, "driver_timeout").await;
    assert_eq!(told.len(), 1);
    assert_eq!(told[0]["tripId"], id.as_str());
    let late = app.command(&format!("/v1/drivers/me/trips/{id}/accept"), &silent_token, &key(), json!({})).await;
    assert_eq!(assert_problem(late, 409, "TRIP_STATE_CONFLICT").await["state"], "driver_timeout");
    let assignments: Value = app.get_auth("/v1/transporters/me/assignments", &t.1).await.json().await.unwrap();
    assert_eq!(assignments["items"][0]["trip"]["status"], "driver_timeout");

    // Someone else's trip, or another transporter: 404.
    let (_, stranger) = app.user("transporter").await;
    let crew = json!({ "vehicleId": t.2, "driverId": ravi });
    let r = app
        .client
        .put(app.url(&format!("/v1/trips/{id}/crew")))
        .bearer_auth(&stranger)
        .header("Idempotency-Key", key())
        .json(&crew)
        .send()
        .await
        .unwrap();
    assert_problem(r, 404, "TRIP_NOT_FOUND").await;
    let r = app
        .client
        .put(app.url(&format!("/v1/trips/{id}/crew")))
        .bearer_auth(&t.1)
        .header("Idempotency-Key", key())
        .json(&crew)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let restaffed: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{restaffed}");
    assert_eq!(restaffed["status"], "assigned");
    assert_eq!(restaffed["driver"]["id"], ravi.to_string());
    assert_eq!(app.vehicle_status(t.2).await, "on_trip");
    app.run_pending_jobs().await;
    assert_eq!(events(&app, ravi, "trip_assigned").await.len(), 1);
    let path = format!("/v1/drivers/me/trips/{id}");
    assert_problem(app.get_auth(&path, &silent_token).await, 404, "TRIP_NOT_FOUND").await;
    assert_eq!(app.command(&format!("{path}/accept"), &ravi_token, &key(), json!({})).await.status(), 200);
    for status in ["en_route_to_pickup", "at_pickup", "in_transit", "delivered"] {
        let r = app.command(&format!("{path}/status"), &ravi_token, &key(), json!({ "status": status })).await;
        assert_eq!(r.status(), 200, "{status}");
    }
    app.run_pending_jobs().await;
    assert_eq!(app.vehicle_status(t.2).await, "available");
    // Ravi's own response window comes due after its three seconds: it finds the trip delivered
    // and changes nothing (and no job is left due when the test ends).
    tokio::time::sleep(Duration::from_millis(3100)).await;
    app.run_pending_jobs().await;
    assert_eq!(trip_of(&app, &ravi_token).await["status"], "delivered");
    assert_logs_replay(&app).await;
    assert_no_vehicle_stuck(&app).await;
}

#[tokio::test]
async fn a_release_reopens_a_filled_broadcast_and_another_transporter_takes_the_truck() {
    let app = spawn_app().await;
    let (customer_id, customer) = app.user("customer").await;
    let t = app.transporters_with_vehicles(3, "open").await;
    let (driver, driver_token) = app.driver_of(t[0].0).await;
    let b = app.open_broadcast(&customer, &[("open", 1, 1500)]).await;
    app.notify(&b, &[t[0].0, t[1].0, t[2].0]).await;
    // The third declines: the reopened search must not come back to it.
    assert_eq!(app.post_auth(&format!("/v1/broadcasts/{b}/decline"), &t[2].1, json!({})).await.status(), 204);
    assert_eq!(accept_with_driver(&app, &t[0].1, &b, t[0].2, driver).await.status(), 200);
    app.run_pending_jobs().await;
    let id = trip_of(&app, &driver_token).await["id"].as_str().unwrap().to_owned();

    let r = app.command(&format!("/v1/trips/{id}/release"), &t[0].1, &key(), json!({})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "released");
    assert_eq!(app.vehicle_status(t[0].2).await, "available");
    let detail: Value = app.get_auth(&format!("/v1/broadcasts/{b}"), &customer).await.json().await.unwrap();
    assert_eq!(detail["status"], "active", "the filled search reopened");
    let log: Vec<(Option<String>, String, String)> = sqlx::query_as(
        "SELECT from_status, to_status, reason FROM broadcast_transitions WHERE broadcast_id = $1::uuid AND truck_request_id IS NULL ORDER BY id",
    )
    .bind(&b)
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(log.last().unwrap(), &(Some("fully_filled".into()), "active".into(), "REOPENED".into()), "{log:?}");
    app.run_pending_jobs().await;
    assert_eq!(events(&app, customer_id, "truck_released").await[0]["searching"], true);
    let reopened = events(&app, t[1].0, "broadcast_reopened").await;
    assert_eq!(reopened.len(), 1);
    assert_eq!(reopened[0]["trucksRemaining"], 1);
    assert!(events(&app, t[2].0, "broadcast_reopened").await.is_empty(), "a decliner is not told again");
    assert_eq!(events(&app, driver, "trip_status_changed").await[0]["status"], "released");

    // The other transporter takes it.
    assert_eq!(app.accept(&t[1].1, &b, 0, t[1].2, key()).await.status(), 200);
    let detail: Value = app.get_auth(&format!("/v1/broadcasts/{b}"), &customer).await.json().await.unwrap();
    assert_eq!(detail["status"], "fully_filled");
    app.run_pending_jobs().await;
    assert_logs_replay(&app).await;
    assert_no_vehicle_stuck(&app).await;
}

#[tokio::test]
async fn a_customer_cancel_after_the_match_frees_everything_until_pickup() {
    let app = spawn_app().await;
    let (_, customer) = app.user("customer").await;
    let t = app.transporters_with_vehicles(2, "open").await;
    let (d1, d1_token) = app.driver_of(t[0].0).await;
    let (d2, _) = app.driver_of(t[1].0).await;
    let b = app.open_broadcast(&customer, &[("open", 2, 1500)]).await;
    app.notify(&b, &[t[0].0, t[1].0]).await;
    assert_eq!(accept_with_driver(&app, &t[0].1, &b, t[0].2, d1).await.status(), 200);
    assert_eq!(accept_with_driver(&app, &t[1].1, &b, t[1].2, d2).await.status(), 200);
    let id = trip_of(&app, &d1_token).await["id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.command(&format!("/v1/drivers/me/trips/{id}/accept"), &d1_token, &key(), json!({})).await.status(),
        200
    );

    let r = app.post_auth(&format!("/v1/broadcasts/{b}/cancel"), &customer, json!({})).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    for v in [t[0].2, t[1].2] {
        assert_eq!(app.vehicle_status(v).await, "available");
    }
    let statuses: Vec<String> =
        sqlx::query_scalar("SELECT status::text FROM trips ORDER BY id").fetch_all(&app.db).await.unwrap();
    assert_eq!(statuses, ["cancelled", "cancelled"]);
    app.run_pending_jobs().await;
    for driver in [d1, d2] {
        assert_eq!(events(&app, driver, "trip_cancelled").await.len(), 1, "both drivers are told");
    }
    for transporter in [t[0].0, t[1].0] {
        assert_eq!(events(&app, transporter, "trip_cancelled").await.len(), 1, "both transporters are told");
    }

    // After pickup the cancel is refused and nothing moves.
    let b2 = app.open_broadcast(&customer, &[("open", 1, 1500)]).await;
    app.notify(&b2, &[t[0].0]).await;
    assert_eq!(accept_with_driver(&app, &t[0].1, &b2, t[0].2, d1).await.status(), 200);
    let id = trip_of(&app, &d1_token).await["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/drivers/me/trips/{id}");
    assert_eq!(app.command(&format!("{path}/accept"), &d1_token, &key(), json!({})).await.status(), 200);
    for status in ["en_route_to_pickup", "at_pickup"] {
        assert_eq!(
            app.command(&format!("{path}/status"), &d1_token, &key(), json!({ "status": status })).await.status(),
            200
        );
    }
    let refused = app.post_auth(&format!("/v1/broadcasts/{b2}/cancel"), &customer, json!({})).await;
    assert_eq!(assert_problem(refused, 409, "TRIP_PICKED_UP").await["state"], "at_pickup");
    assert_eq!(app.vehicle_status(t[0].2).await, "on_trip");
    app.run_pending_jobs().await;
    assert_logs_replay(&app).await;
    assert_no_vehicle_stuck(&app).await;
}

#[tokio::test]
async fn trips_are_for_their_driver_and_their_transporter_only() {
    let app = spawn_app().await;
    let (_, customer) = app.user("customer").await;
    let t = app.transporters_with_vehicles(1, "open").await.remove(0);
    let (driver, _) = app.driver_of(t.0).await;
    let other_t = app.transporters_with_vehicles(1, "open").await.remove(0);
    let (_, other_driver) = app.driver_of(other_t.0).await;
    let b = app.open_broadcast(&customer, &[("open", 1, 1500)]).await;
    app.notify(&b, &[t.0]).await;
    assert_eq!(accept_with_driver(&app, &t.1, &b, t.2, driver).await.status(), 200);
    let id: Uuid = sqlx::query_scalar("SELECT id FROM trips").fetch_one(&app.db).await.unwrap();

    assert_problem(app.get_auth("/v1/drivers/me/trips", &customer).await, 403, "ROLE_FORBIDDEN").await;
    assert_problem(app.get_auth("/v1/drivers/me/trips", &t.1).await, 403, "ROLE_FORBIDDEN").await;
    assert_problem(app.get_auth(&format!("/v1/drivers/me/trips/{id}"), &other_driver).await, 404, "TRIP_NOT_FOUND")
        .await;
    let r = app.command(&format!("/v1/drivers/me/trips/{id}/accept"), &other_driver, &key(), json!({})).await;
    assert_problem(r, 404, "TRIP_NOT_FOUND").await;
    let r = app.command(&format!("/v1/trips/{id}/release"), &other_t.1, &key(), json!({})).await;
    assert_problem(r, 404, "TRIP_NOT_FOUND").await;
    let r = app.command(&format!("/v1/trips/{id}/release"), &customer, &key(), json!({})).await;
    assert_problem(r, 403, "ROLE_FORBIDDEN").await;
    let r = app
        .command(&format!("/v1/drivers/me/trips/{id}/decline"), &other_driver, &key(), json!({ "reason": "" }))
        .await;
    assert_problem(r, 422, "VALIDATION_FAILED").await;
    let page: Value = app.get_auth("/v1/drivers/me/trips", &other_driver).await.json().await.unwrap();
    assert!(page["items"].as_array().unwrap().is_empty());
    let r = app.command(&format!("/v1/drivers/me/trips/{id}/accept"), &other_driver, "not-a-uuid", json!({})).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    app.run_pending_jobs().await;
}

/// Invariant 1: a driver on one unfinished trip cannot be named for a second, however the
/// two accepts race.
#[tokio::test]
async fn one_driver_is_never_on_two_unfinished_trips() {
    let app = spawn_app_with(&[("WEELO_CREATE_RATE_LIMIT_PER_MIN", "10000")]).await;
    let t = app.transporters_with_vehicles(1, "open").await.remove(0);
    let (driver, _) = app.driver_of(t.0).await;
    for _ in 0..5 {
        let mut broadcasts = Vec::new();
        let mut vehicles = Vec::new();
        for _ in 0..6 {
            let (_, customer) = app.user("customer").await;
            broadcasts.push(app.open_broadcast(&customer, &[("open", 1, 1500)]).await);
            vehicles.push(app.vehicle_for(t.0, "open").await);
        }
        for b in &broadcasts {
            app.notify(b, &[t.0]).await;
        }
        let tries = broadcasts.iter().zip(&vehicles).map(|(b, v)| accept_with_driver(&app, &t.1, b, *v, driver));
        let statuses: Vec<u16> = futures::future::join_all(tries).await.iter().map(|r| r.status().as_u16()).collect();
        assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
        assert!(statuses.iter().all(|s| *s == 200 || *s == 409), "{statuses:?}");
        let unfinished: i64 =
            sqlx::query_scalar("SELECT count(*) FROM trips WHERE driver_id = $1 AND trip_is_crewed(status)")
                .bind(driver)
                .fetch_one(&app.db)
                .await
                .unwrap();
        assert_eq!(unfinished, 1);
        // The losers' vehicles stay free; the winner's trip is cancelled by its customer so the
        // next round starts clean.
        assert_no_vehicle_stuck(&app).await;
        sqlx::query("UPDATE trips SET status = 'cancelled', finished_at = now() WHERE driver_id = $1 AND trip_is_crewed(status)")
            .bind(driver)
            .execute(&app.db)
            .await
            .unwrap();
    }
    app.run_pending_jobs().await;
}

/// Invariant 3: driver accept, transporter release and customer cancel race on one trip; the
/// first commit wins and the others get a 409 naming the state it left.
#[tokio::test]
async fn accept_release_and_cancel_racing_on_one_trip_have_one_outcome() {
    let app = spawn_app_with(&[("WEELO_CREATE_RATE_LIMIT_PER_MIN", "10000")]).await;
    let t = app.transporters_with_vehicles(1, "open").await.remove(0);
    let (driver, driver_token) = app.driver_of(t.0).await;
    let mut outcomes = std::collections::BTreeMap::new();
    for run in 0..12 {
        let (_, customer) = app.user("customer").await;
        let b = app.open_broadcast(&customer, &[("open", 1, 1500)]).await;
        app.notify(&b, &[t.0]).await;
        assert_eq!(accept_with_driver(&app, &t.1, &b, t.2, driver).await.status(), 200, "run {run}");
        let id: Uuid = sqlx::query_scalar("SELECT id FROM trips WHERE truck_request_id IN (SELECT id FROM truck_requests WHERE broadcast_id = $1::uuid)")
            .bind(&b)
            .fetch_one(&app.db)
            .await
            .unwrap();
        let (accept_path, release_path) =
            (format!("/v1/drivers/me/trips/{id}/accept"), format!("/v1/trips/{id}/release"));
        let cancel_path = format!("/v1/broadcasts/{b}/cancel");
        let (k1, k2) = (key(), key());
        let (accept, release, cancel) = tokio::join!(
            app.command(&accept_path, &driver_token, &k1, json!({})),
            app.command(&release_path, &t.1, &k2, json!({})),
            app.post_auth(&cancel_path, &customer, json!({})),
        );
        let codes = (accept.status().as_u16(), release.status().as_u16(), cancel.status().as_u16());
        let status: String = sqlx::query_scalar("SELECT status::text FROM trips WHERE id = $1")
            .bind(id)
            .fetch_one(&app.db)
            .await
            .unwrap();
        // Every outcome is one serial order of the three: a release or a cancel after the
        // driver's accept is legal, a release after the cancel is not (the trip is gone), a
        // cancel after the release cancels the reopened search.
        assert!([codes.0, codes.1, codes.2].iter().all(|c| *c == 200 || *c == 409), "run {run}: {codes:?}");
        match status.as_str() {
            "released" => assert_eq!(codes.1, 200, "run {run}: {codes:?}"),
            "cancelled" => assert_eq!((codes.1, codes.2), (409, 200), "run {run}: {codes:?}"),
            other => panic!("run {run}: trip ended {other} with {codes:?}"),
        }
        *outcomes.entry(status.clone()).or_insert(0) += 1;
        assert_no_vehicle_stuck(&app).await;
        // A released truck's search is open again: the customer ends it before the next run.
        let open: bool = sqlx::query_scalar("SELECT broadcast_is_open(status) FROM broadcasts WHERE id = $1::uuid")
            .bind(&b)
            .fetch_one(&app.db)
            .await
            .unwrap();
        if open {
            assert_eq!(app.post_auth(&format!("/v1/broadcasts/{b}/cancel"), &customer, json!({})).await.status(), 200);
        }
        app.run_pending_jobs().await;
    }
    assert_logs_replay(&app).await;
    assert!(outcomes.len() >= 2, "the race was not exercised: {outcomes:?}");
}

#[tokio::test]
async fn a_filled_broadcast_completes_when_its_last_trip_is_delivered() {
    let app = spawn_app().await;
    let (customer_id, customer) = app.user("customer").await;
    let ts = app.transporters_with_vehicles(2, "open").await;
    let b = app.open_broadcast(&customer, &[("open", 2, 1500)]).await;
    app.notify(&b, &[ts[0].0, ts[1].0]).await;
    let mut drivers = Vec::new();
    for t in &ts {
        let (driver, token) = app.driver_of(t.0).await;
        assert_eq!(accept_with_driver(&app, &t.1, &b, t.2, driver).await.status(), 200);
        drivers.push(token);
    }
    let status = |app: &TestApp| {
        let db = app.db.clone();
        let id = Uuid::parse_str(&b).unwrap();
        async move {
            sqlx::query_scalar::<_, String>("SELECT status::text FROM broadcasts WHERE id = $1")
                .bind(id)
                .fetch_one(&db)
                .await
                .unwrap()
        }
    };
    for (i, token) in drivers.iter().enumerate() {
        let trip = trip_of(&app, token).await["id"].as_str().unwrap().to_owned();
        let path = format!("/v1/drivers/me/trips/{trip}");
        assert_eq!(app.command(&format!("{path}/accept"), token, &key(), json!({})).await.status(), 200);
        for step in ["en_route_to_pickup", "at_pickup", "in_transit", "delivered"] {
            let r = app.command(&format!("{path}/status"), token, &key(), json!({ "status": step })).await;
            assert_eq!(r.status(), 200, "{step}");
        }
        let expected = if i == 0 { "fully_filled" } else { "completed" };
        assert_eq!(status(&app).await, expected, "after {} of 2 deliveries", i + 1);
    }
    app.run_pending_jobs().await;
    let log: Vec<(Option<String>, String, String)> = sqlx::query_as(
        "SELECT from_status, to_status, reason FROM broadcast_transitions
         WHERE broadcast_id = $1::uuid AND truck_request_id IS NULL ORDER BY id",
    )
    .bind(&b)
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(
        log.last().unwrap(),
        &(Some("fully_filled".into()), "completed".into(), "TRIPS_FINISHED".into()),
        "{log:?}"
    );
    assert_eq!(events(&app, customer_id, "broadcast_completed").await.len(), 1, "told once");
    let history: Value = app.get_auth("/v1/broadcasts?status=completed", &customer).await.json().await.unwrap();
    assert_eq!(history["items"].as_array().unwrap().len(), 1, "the history shows it: {history}");
    assert_logs_replay(&app).await;
    assert_no_vehicle_stuck(&app).await;
}

#[tokio::test]
async fn a_truck_taken_without_a_driver_is_given_back_when_nobody_is_named_in_time() {
    // Six seconds: the timer is pushed a second early, so the drains right after the accepts
    // must not reach it even on a loaded machine, and the driver is named well inside it.
    let app = spawn_app_with(&[("WEELO_RESTAFF_SECS", "6")]).await;
    let (customer_id, customer) = app.user("customer").await;
    let ts = app.transporters_with_vehicles(2, "open").await;
    let b = app.open_broadcast(&customer, &[("open", 2, 1500)]).await;
    app.notify(&b, &[ts[0].0, ts[1].0]).await;
    let mut trucks = Vec::new();
    for t in &ts {
        let accepted: Value = app.accept(&t.1, &b, 0, t.2, key()).await.json().await.unwrap();
        assert_eq!(accepted["status"], "accepted", "taken without a driver");
        trucks.push(accepted["truckRequestId"].as_str().unwrap().to_owned());
    }
    app.run_pending_jobs().await;
    assert_eq!(app.vehicle_status(ts[0].2).await, "on_trip");
    // The second transporter names its driver in time; the first does not.
    let (driver, _) = app.driver_of(ts[1].0).await;
    let r = app
        .client
        .put(app.url(&format!("/v1/truck-requests/{}/driver", trucks[1])))
        .bearer_auth(&ts[1].1)
        .json(&json!({ "driverId": driver }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    tokio::time::sleep(Duration::from_millis(6200)).await;
    app.run_pending_jobs().await;

    let status = |truck: String| {
        let db = app.db.clone();
        async move {
            sqlx::query_scalar::<_, String>("SELECT status::text FROM truck_requests WHERE id = $1::uuid")
                .bind(truck)
                .fetch_one(&db)
                .await
                .unwrap()
        }
    };
    assert_eq!(status(trucks[0].clone()).await, "searching", "nobody was named: the truck searches again");
    assert_eq!(app.vehicle_status(ts[0].2).await, "available", "and its vehicle is free");
    assert_eq!(status(trucks[1].clone()).await, "assigned", "the staffed truck keeps its trip");
    let detail: Value = app.get_auth(&format!("/v1/broadcasts/{b}"), &customer).await.json().await.unwrap();
    assert_eq!(detail["status"], "partially_filled", "the filled broadcast reopened");
    let released = events(&app, customer_id, "truck_released").await;
    assert_eq!(released.len(), 1, "{released:?}");
    assert_eq!(released[0]["reason"], "NOT_STAFFED");
    // Running the deadline again changes nothing.
    let mut tx = app.db.begin().await.unwrap();
    let again = weelo_shared::lifecycle::trips::staff_timeout(
        &mut tx,
        Uuid::parse_str(&trucks[0]).unwrap(),
        (&app.config).into(),
    )
    .await
    .unwrap();
    tx.rollback().await.unwrap();
    assert!(!again);
    assert_no_vehicle_stuck(&app).await;
}
