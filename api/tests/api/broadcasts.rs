//! Broadcast API behaviour: validation, roles and ownership, reads, paging, cancel, decline,
//! driver assignment, rate limit, and the outbox rows each change writes.

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{assert_problem, broadcast_body, spawn_app, spawn_app_with};

#[tokio::test]
async fn create_validates_every_field_with_a_422_naming_it() {
    let app = spawn_app().await;
    let (_, customer) = app.user("customer").await;
    let mut cases: Vec<(Value, &str)> = Vec::new();
    let mut outside = broadcast_body(&[("open", 1, 1000)]);
    outside["pickup"]["lat"] = json!(51.5);
    cases.push((outside, "pickup"));
    let mut close = broadcast_body(&[("open", 1, 1000)]);
    close["drop"]["lat"] = json!(19.0761);
    close["drop"]["lng"] = json!(72.8778);
    cases.push((close, "drop"));
    cases.push((broadcast_body(&[("spaceship", 1, 1000)]), "vehicles[0].type"));
    cases.push((broadcast_body(&[("open", 0, 1000)]), "vehicles[0].count"));
    cases.push((broadcast_body(&[("open", 21, 1000)]), "vehicles[0].count"));
    cases.push((broadcast_body(&[("open", 1, 1000), ("trailer", 1, 4999)]), "vehicles[1].pricePerTruck"));
    cases.push((broadcast_body(&vec![("mini", 1, 500); 51]), "vehicles"));
    let mut no_address = broadcast_body(&[("open", 1, 1000)]);
    no_address["pickup"]["address"] = json!("  ");
    cases.push((no_address, "pickup.address"));
    for (body, field) in cases {
        let b = assert_problem(
            app.create_broadcast(&customer, &Uuid::new_v4().to_string(), &body).await,
            422,
            "VALIDATION_FAILED",
        )
        .await;
        let fields: Vec<&str> = b["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
        assert!(fields.contains(&field), "{field}: {b}");
    }
    assert_problem(
        app.create_broadcast(&customer, "not-a-uuid", &broadcast_body(&[("open", 1, 1000)])).await,
        422,
        "VALIDATION_FAILED",
    )
    .await;
    let r = app
        .client
        .post(app.url("/v1/broadcasts"))
        .bearer_auth(&customer)
        .json(&broadcast_body(&[("open", 1, 1000)]))
        .send()
        .await
        .unwrap();
    assert_problem(r, 422, "VALIDATION_FAILED").await;
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM broadcasts").fetch_one(&app.db).await.unwrap();
    assert_eq!(n, 0, "no half-written rows");
}

#[tokio::test]
async fn an_order_and_a_booking_share_one_lifecycle_and_the_customer_sees_progress() {
    let app = spawn_app().await;
    let (_, customer) = app.user("customer").await;
    let r = app
        .create_broadcast(
            &customer,
            &Uuid::new_v4().to_string(),
            &broadcast_body(&[("open", 2, 1200), ("tanker", 1, 3000)]),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["status"], "active");
    assert_eq!(created["trucksNeeded"], 3);
    assert_eq!(created["lines"].as_array().unwrap().len(), 2);
    assert!(created["distanceKm"].as_f64().unwrap() > 100.0);
    let expires = chrono::DateTime::parse_from_rfc3339(created["expiresAt"].as_str().unwrap()).unwrap();
    let created_at = chrono::DateTime::parse_from_rfc3339(created["createdAt"].as_str().unwrap()).unwrap();
    assert_eq!((expires - created_at).num_seconds(), 7200, "BROADCAST_TIMEOUT_SECS default");

    let t = app.transporters_with_vehicles(2, "open").await;
    let tanker_owner = app.transporters_with_vehicles(1, "tanker").await.remove(0);
    app.notify(&id, &[t[0].0, t[1].0, tanker_owner.0]).await;
    let a: Value = app.accept(&t[0].1, &id, 0, t[0].2, Uuid::new_v4().to_string()).await.json().await.unwrap();
    assert_eq!(a["broadcastStatus"], "partially_filled");
    assert_eq!(a["trucksRemaining"], 2);
    // A transporter with the wrong type of vehicle for the line it names.
    let wrong = app.accept(&t[1].1, &id, 1, t[1].2, Uuid::new_v4().to_string()).await;
    assert_problem(wrong, 422, "VEHICLE_TYPE_MISMATCH").await;
    assert_eq!(app.accept(&t[1].1, &id, 0, t[1].2, Uuid::new_v4().to_string()).await.status(), 200);
    // The open line is full; the tanker line is not.
    let spare = app.vehicle_for(t[1].0, "open").await;
    assert_problem(app.accept(&t[1].1, &id, 0, spare, Uuid::new_v4().to_string()).await, 409, "LINE_FILLED").await;
    let detail: Value = app.get_auth(&format!("/v1/broadcasts/{id}"), &customer).await.json().await.unwrap();
    assert_eq!(detail["status"], "partially_filled");
    assert_eq!(detail["trucksFilled"], 2);
    assert_eq!(detail["lines"][0]["filled"], 2);
    assert_eq!(detail["lines"][1]["remaining"], 1);
    assert_eq!(detail["acceptedTrucks"].as_array().unwrap().len(), 2);
    assert!(detail["acceptedTrucks"][0]["vehicle"]["registrationNumber"].as_str().unwrap().starts_with("MH"));
    let last: Value =
        app.accept(&tanker_owner.1, &id, 1, tanker_owner.2, Uuid::new_v4().to_string()).await.json().await.unwrap();
    assert_eq!(last["broadcastStatus"], "fully_filled");
    let detail: Value = app.get_auth(&format!("/v1/broadcasts/{id}"), &customer).await.json().await.unwrap();
    assert_eq!(detail["terminalReason"], "FULLY_FILLED");
    assert!(detail["closedAt"].is_string());
    let active: Value = app.get_auth("/v1/broadcasts/active", &customer).await.json().await.unwrap();
    assert!(active["broadcast"].is_null());
    // The outbox holds what the worker must do, written with each change (the radius step's
    // notifications included).
    let kinds: Vec<String> =
        sqlx::query_scalar("SELECT kind FROM outbox WHERE payload->>'broadcastId' = $1 ORDER BY id")
            .bind(&id)
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(
        kinds,
        [
            "broadcast_created",
            "transporters_notified",
            "truck_accepted",
            "truck_accepted",
            "truck_accepted",
            "broadcast_closed"
        ]
    );
    let log: Vec<(Option<String>, String)> = sqlx::query_as(
        "SELECT from_status, to_status FROM broadcast_transitions WHERE truck_request_id IS NULL ORDER BY id",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    let log: Vec<(Option<&str>, &str)> = log.iter().map(|(f, t)| (f.as_deref(), t.as_str())).collect();
    assert_eq!(
        log,
        [(None, "active"), (Some("active"), "partially_filled"), (Some("partially_filled"), "fully_filled")]
    );
}

#[tokio::test]
async fn roles_and_ownership_are_checked_on_every_route() {
    let app = spawn_app().await;
    let (_, alice) = app.user("customer").await;
    let (_, bob) = app.user("customer").await;
    let (transporter_id, transporter) = app.user("transporter").await;
    let id = app.open_broadcast(&alice, &[("lcv", 1, 800)]).await;
    // Someone else's broadcast is 404, never data.
    assert_problem(app.get_auth(&format!("/v1/broadcasts/{id}"), &bob).await, 404, "BROADCAST_NOT_FOUND").await;
    assert_problem(
        app.post_auth(&format!("/v1/broadcasts/{id}/cancel"), &bob, json!({})).await,
        404,
        "BROADCAST_NOT_FOUND",
    )
    .await;
    // Wrong role is 403.
    assert_problem(
        app.create_broadcast(&transporter, &Uuid::new_v4().to_string(), &broadcast_body(&[("lcv", 1, 800)])).await,
        403,
        "ROLE_FORBIDDEN",
    )
    .await;
    assert_problem(app.get_auth(&format!("/v1/broadcasts/{id}"), &transporter).await, 403, "ROLE_FORBIDDEN").await;
    assert_problem(app.get_auth("/v1/transporters/me/broadcasts", &alice).await, 403, "ROLE_FORBIDDEN").await;
    let v = app.vehicle_for(transporter_id, "lcv").await;
    assert_problem(app.accept(&alice, &id, 0, v, Uuid::new_v4().to_string()).await, 403, "ROLE_FORBIDDEN").await;
    // A transporter that was never notified cannot see or take it.
    assert_problem(app.accept(&transporter, &id, 0, v, Uuid::new_v4().to_string()).await, 404, "BROADCAST_NOT_FOUND")
        .await;
    assert_problem(
        app.post_auth(&format!("/v1/broadcasts/{id}/decline"), &transporter, json!({})).await,
        404,
        "BROADCAST_NOT_FOUND",
    )
    .await;
    // Someone else's vehicle is 404 too.
    let (other_id, _) = app.user("transporter").await;
    let foreign = app.vehicle_for(other_id, "lcv").await;
    app.notify(&id, &[transporter_id]).await;
    assert_problem(
        app.accept(&transporter, &id, 0, foreign, Uuid::new_v4().to_string()).await,
        404,
        "VEHICLE_NOT_FOUND",
    )
    .await;
    assert_problem(
        app.get_auth(&format!("/v1/broadcasts/{}", Uuid::new_v4()), &alice).await,
        404,
        "BROADCAST_NOT_FOUND",
    )
    .await;
    assert_problem(app.get_auth("/v1/broadcasts/not-a-uuid", &alice).await, 422, "VALIDATION_FAILED").await;
}

#[tokio::test]
async fn second_open_broadcast_is_409_unless_replace_active() {
    let app = spawn_app().await;
    let (_, customer) = app.user("customer").await;
    let first = app.open_broadcast(&customer, &[("tipper", 1, 1000)]).await;
    let b = assert_problem(
        app.create_broadcast(&customer, &Uuid::new_v4().to_string(), &broadcast_body(&[("tipper", 1, 1000)])).await,
        409,
        "ACTIVE_BROADCAST_EXISTS",
    )
    .await;
    assert_eq!(b["activeBroadcastId"], first.as_str());
    let mut replace = broadcast_body(&[("tipper", 2, 1100)]);
    replace["replaceActive"] = json!(true);
    let r = app.create_broadcast(&customer, &Uuid::new_v4().to_string(), &replace).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let second: Value = r.json().await.unwrap();
    let old: Value = app.get_auth(&format!("/v1/broadcasts/{first}"), &customer).await.json().await.unwrap();
    assert_eq!(old["status"], "cancelled");
    assert_eq!(old["terminalReason"], "REPLACED_BY_NEW");
    let active: Value = app.get_auth("/v1/broadcasts/active", &customer).await.json().await.unwrap();
    assert_eq!(active["broadcast"]["id"], second["id"]);
}

#[tokio::test]
async fn creates_are_rate_limited_per_customer_with_retry_after() {
    let app = spawn_app().await;
    let (_, customer) = app.user("customer").await;
    let (_, other) = app.user("customer").await;
    let mut replace = broadcast_body(&[("mini", 1, 500)]);
    replace["replaceActive"] = json!(true);
    for _ in 0..5 {
        assert_eq!(app.create_broadcast(&customer, &Uuid::new_v4().to_string(), &replace).await.status(), 201);
    }
    let r = app.create_broadcast(&customer, &Uuid::new_v4().to_string(), &replace).await;
    assert!(r.headers().contains_key("retry-after"));
    assert_problem(r, 429, "RATE_LIMITED").await;
    // Another customer is unaffected.
    assert_eq!(app.create_broadcast(&other, &Uuid::new_v4().to_string(), &replace).await.status(), 201);
}

#[tokio::test]
async fn history_pages_newest_first_with_a_status_filter() {
    let app = spawn_app_with(&[("WEELO_CREATE_RATE_LIMIT_PER_MIN", "100")]).await;
    let (_, customer) = app.user("customer").await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        let id = app.open_broadcast(&customer, &[("bulker", 1, 3000)]).await;
        assert_eq!(
            app.post_auth(&format!("/v1/broadcasts/{id}/cancel"), &customer, json!({ "reason": "testing" }))
                .await
                .status(),
            200
        );
        ids.push(id);
    }
    let open = app.open_broadcast(&customer, &[("bulker", 1, 3000)]).await;
    ids.push(open.clone());
    ids.reverse();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/broadcasts?limit=2&cursor={c}"),
            None => "/v1/broadcasts?limit=2".to_owned(),
        };
        let page: Value = app.get_auth(&path, &customer).await.json().await.unwrap();
        seen.extend(page["items"].as_array().unwrap().iter().map(|b| b["id"].as_str().unwrap().to_owned()));
        match page["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ids, "every broadcast once, newest first");
    let cancelled: Value = app.get_auth("/v1/broadcasts?status=cancelled", &customer).await.json().await.unwrap();
    assert_eq!(cancelled["items"].as_array().unwrap().len(), 5);
    assert!(cancelled["items"].as_array().unwrap().iter().all(|b| b["terminalReason"] == "CUSTOMER_CANCELLED"));
    assert_problem(app.get_auth("/v1/broadcasts?cursor=garbage", &customer).await, 422, "VALIDATION_FAILED").await;
    assert_problem(app.get_auth("/v1/broadcasts?limit=0", &customer).await, 422, "VALIDATION_FAILED").await;
    assert_problem(app.get_auth("/v1/broadcasts?status=lost", &customer).await, 422, "VALIDATION_FAILED").await;
}

#[tokio::test]
async fn transporter_sees_notified_open_broadcasts_until_declined_and_assigns_drivers() {
    let app = spawn_app().await;
    let (_, customer) = app.user("customer").await;
    let id = app.open_broadcast(&customer, &[("container", 2, 2500)]).await;
    let t = app.transporters_with_vehicles(1, "container").await.remove(0);
    let (other, other_token) = app.user("transporter").await;
    let v = app.vehicle_for(other, "container").await;
    app.notify(&id, &[t.0, other]).await;
    let list: Value = app.get_auth("/v1/transporters/me/broadcasts", &t.1).await.json().await.unwrap();
    assert_eq!(list["items"][0]["id"], id.as_str());
    assert_eq!(list["items"][0]["trucksRemaining"], 2);
    // The heartbeat 19.1, 72.88 is 2.68 km from the pickup 19.076, 72.8777.
    let km = list["items"][0]["distanceToPickupKm"].as_f64().unwrap();
    assert!((km - 2.68).abs() < 0.01, "distance to pickup {km}");
    assert_eq!(app.post_auth(&format!("/v1/broadcasts/{id}/decline"), &other_token, json!({})).await.status(), 204);
    let list: Value = app.get_auth("/v1/transporters/me/broadcasts", &other_token).await.json().await.unwrap();
    assert!(list["items"].as_array().unwrap().is_empty(), "declined broadcasts disappear");
    assert_problem(app.accept(&other_token, &id, 0, v, Uuid::new_v4().to_string()).await, 409, "BROADCAST_DECLINED")
        .await;

    let accepted: Value = app.accept(&t.1, &id, 0, t.2, Uuid::new_v4().to_string()).await.json().await.unwrap();
    assert_eq!(accepted["status"], "accepted");
    let tr = accepted["truckRequestId"].as_str().unwrap().to_owned();
    let driver: Value = app
        .post_auth("/v1/transporters/me/drivers", &t.1, json!({ "phone": "9811111111", "name": "Ravi" }))
        .await
        .json()
        .await
        .unwrap();
    let r = app
        .client
        .put(app.url(&format!("/v1/truck-requests/{tr}/driver")))
        .bearer_auth(&t.1)
        .json(&json!({ "driverId": driver["id"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let assignments: Value = app.get_auth("/v1/transporters/me/assignments", &t.1).await.json().await.unwrap();
    assert_eq!(assignments["items"][0]["status"], "assigned");
    assert_eq!(assignments["items"][0]["driver"]["name"], "Ravi");
    // Another transporter cannot touch that truck request, nor assign someone else's driver.
    let r = app
        .client
        .put(app.url(&format!("/v1/truck-requests/{tr}/driver")))
        .bearer_auth(&other_token)
        .json(&json!({ "driverId": driver["id"] }))
        .send()
        .await
        .unwrap();
    assert_problem(r, 404, "TRUCK_REQUEST_NOT_FOUND").await;
    let r = app
        .client
        .put(app.url(&format!("/v1/truck-requests/{tr}/driver")))
        .bearer_auth(&t.1)
        .json(&json!({ "driverId": Uuid::new_v4() }))
        .send()
        .await
        .unwrap();
    assert_problem(r, 404, "DRIVER_NOT_FOUND").await;
    let kinds: Vec<String> =
        sqlx::query_scalar("SELECT kind FROM outbox WHERE payload->>'broadcastId' = $1 ORDER BY id")
            .bind(&id)
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(kinds.last().map(String::as_str), Some("truck_assigned"));
    // The customer sees the driver.
    let detail: Value = app.get_auth(&format!("/v1/broadcasts/{id}"), &customer).await.json().await.unwrap();
    assert_eq!(detail["acceptedTrucks"][0]["driver"]["phone"], "+919811111111");
    assert_eq!(detail["acceptedTrucks"][0]["status"], "assigned");
}

#[tokio::test]
async fn text_postgres_cannot_store_and_non_json_bodies_are_422_not_500() {
    let app = spawn_app().await;
    let (_, customer) = app.user("customer").await;
    let mut body = broadcast_body(&[("open", 1, 1000)]);
    body["pickup"]["address"] = json!("Gate\u{0}4");
    assert_problem(app.create_broadcast(&customer, &Uuid::new_v4().to_string(), &body).await, 422, "VALIDATION_FAILED")
        .await;
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM broadcasts").fetch_one(&app.db).await.unwrap();
    assert_eq!(n, 0);
    let r = app
        .client
        .post(app.url("/v1/auth/otp/request"))
        .body("phone=1")
        .header("content-type", "text/plain")
        .send()
        .await
        .unwrap();
    assert_problem(r, 422, "VALIDATION_FAILED").await;
    // Optional members that are empty are left out rather than sent as null.
    let active: Value = app.get_auth("/v1/broadcasts/active", &customer).await.json().await.unwrap();
    assert_eq!(active, json!({}));
}

#[tokio::test]
async fn a_transporter_reads_a_broadcast_it_was_sent_and_only_those() {
    let app = spawn_app().await;
    let (_, customer) = app.user("customer").await;
    let (t, token) = app.user("transporter").await;
    app.vehicle_for(t, "open").await;
    let broadcast = app.open_broadcast(&customer, &[("open", 2, 1500)]).await;
    let path = format!("/v1/transporters/me/broadcasts/{broadcast}");
    assert_problem(app.get_auth(&path, &token).await, 404, "BROADCAST_NOT_FOUND").await;
    app.notify(&broadcast, &[t]).await;
    let seen: Value = app.get_auth(&path, &token).await.json().await.unwrap();
    assert_eq!((seen["id"].as_str(), seen["status"].as_str()), (Some(broadcast.as_str()), Some("active")));
    assert_eq!(seen["trucksRemaining"], 2);
    assert!(seen["distanceToPickupKm"].as_f64().is_some(), "{seen}");
    // Still readable once closed, in its closed state; customers use their own view.
    let r = app.post_auth(&format!("/v1/broadcasts/{broadcast}/cancel"), &customer, json!({})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let seen: Value = app.get_auth(&path, &token).await.json().await.unwrap();
    assert_eq!(seen["status"], "cancelled");
    assert_problem(app.get_auth(&path, &customer).await, 403, "ROLE_FORBIDDEN").await;
    let (_, stranger) = app.user("transporter").await;
    assert_problem(app.get_auth(&path, &stranger).await, 404, "BROADCAST_NOT_FOUND").await;
    app.run_pending_jobs().await;
}
