//! Realtime over the stock socket.io-client v4 against two API processes and one worker.

use std::time::Duration;

use serde_json::json;
use uuid::Uuid;
use weelo_shared::auth::TokenSigner;
use weelo_shared::domain::Role;

use crate::helpers::Stack;
use crate::socket_agent::Agent;

#[tokio::test]
async fn events_reach_sockets_on_any_api_task_and_a_reconnect_replays_what_was_missed() {
    let mut stack = Stack::new(&[]).await;
    let api1 = stack.api_url.clone();
    let api2 = stack.start_second_api().await;
    stack.start_worker();
    let (customer, customer_token) = stack.customer().await;
    let (t1, t1_token) = stack.transporter_at(5.0, "open").await;
    let (t2, t2_token) = stack.transporter_at(8.0, "open").await;
    // A driver of T1.
    let driver = stack.driver_of(t1).await;
    let driver_token = TokenSigner::new(&stack.config).issue(driver, Role::Driver, Some(t1)).unwrap().0;
    stack.settle().await;

    let mut agent = Agent::start().await;
    agent.connect("bad", &api1, "not-a-token", None).await;
    agent.connect("t1", &api2, &t1_token, None).await;
    agent.connect("t2", &api1, &t2_token, None).await;
    agent.connect("customer", &api1, &customer_token, None).await;
    let err = agent.wait("bad", "connect_error", None, 1).await;
    assert!(err[0]["message"].as_str().unwrap().starts_with("UNAUTHORIZED"), "{err:?}");
    for id in ["t1", "t2", "customer"] {
        agent.wait(id, "connected", None, 1).await;
    }

    // Created through API #1; the transporter on API #2 hears of it.
    let broadcast = stack.create_broadcast(&customer_token, &[("open", 1)]).await;
    let new = agent.wait("t1", "event", Some("new_broadcast"), 1).await;
    assert_eq!(new[0]["payload"]["broadcastId"], json!(broadcast));
    assert_eq!(new[0]["payload"]["trucksRemaining"], 1);
    assert!(new[0]["payload"]["expiresAt"].is_string() && new[0]["payload"]["seq"].is_u64());
    agent.wait("t2", "event", Some("new_broadcast"), 1).await;

    // Rooms: a socket is only ever in its own user's room (events carry per-user seqs); no
    // broadcast room exists, and nobody may join someone else's.
    agent.send(json!({ "cmd": "join", "id": "customer", "room": format!("user:{customer}") })).await;
    agent.send(json!({ "cmd": "join", "id": "t2", "room": format!("broadcast:{broadcast}") })).await;
    agent.send(json!({ "cmd": "join", "id": "t2", "room": format!("user:{t1}") })).await;
    assert_eq!(agent.wait("customer", "join", None, 1).await[0]["reply"]["ok"], true);
    let refused = agent.wait("t2", "join", None, 2).await;
    assert!(refused.iter().all(|r| r["reply"]["ok"] == false && r["reply"]["code"] == "ROOM_FORBIDDEN"), "{refused:?}");

    // T1 takes the only truck through API #2.
    let vehicle = stack.vehicle_of(t1).await;
    let r = stack
        .client
        .post(format!("{api2}/v1/broadcasts/{broadcast}/accept"))
        .bearer_auth(&t1_token)
        .header("Idempotency-Key", Uuid::new_v4().to_string())
        .json(&json!({ "line": 0, "vehicleId": vehicle }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let accepted = agent.wait("customer", "event", Some("truck_request_accepted"), 1).await;
    assert_eq!(accepted[0]["payload"]["truck"]["transporter"]["id"], json!(t1));
    assert!(accepted[0]["payload"]["truck"]["vehicle"]["registrationNumber"].is_string());
    agent.wait("customer", "event", Some("trucks_remaining_update"), 1).await;
    agent.wait("customer", "event", Some("broadcast_fully_filled"), 1).await;
    let closed = agent.wait("t2", "event", Some("broadcast_closed"), 1).await;
    assert_eq!(closed[0]["payload"]["status"], "fully_filled");

    // A driver's toggle reaches its transporter.
    let r = stack.put("/v1/drivers/me/availability", &driver_token, json!({ "online": true })).await;
    assert_eq!(r.status(), 200);
    let status = agent.wait("t1", "event", Some("driver_status_changed"), 1).await;
    assert_eq!(status[0]["payload"]["driverId"], json!(driver));
    assert_eq!(status[0]["payload"]["online"], true);

    // T2 drops off for 5 s; what happens meanwhile is replayed once, in order, on reconnect.
    let last_seq = agent.seen("t2", "event", None).iter().filter_map(|e| e["payload"]["seq"].as_u64()).max().unwrap();
    agent.send(json!({ "cmd": "disconnect", "id": "t2" })).await;
    agent.wait("t2", "disconnected", None, 1).await;
    let (_, other_customer) = stack.customer().await;
    let missed_broadcast = stack.create_broadcast(&other_customer, &[("open", 1)]).await;
    let missed_for_t2 = crate::helpers::eventually(Duration::from_secs(8), || async {
        stack
            .events(t2)
            .await
            .iter()
            .any(|e| e.event == "new_broadcast" && e.payload["broadcastId"] == json!(missed_broadcast))
    })
    .await;
    assert!(missed_for_t2);
    let r = stack.post(&format!("/v1/broadcasts/{missed_broadcast}/cancel"), &other_customer, json!({})).await;
    assert_eq!(r.status(), 200);
    let closed_for_t2 = crate::helpers::eventually(Duration::from_secs(8), || async {
        stack
            .events(t2)
            .await
            .iter()
            .any(|e| e.event == "broadcast_closed" && e.payload["broadcastId"] == json!(missed_broadcast))
    })
    .await;
    assert!(closed_for_t2);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = agent.seen("t2", "event", None).len();
    agent.connect("t2", &api2, &t2_token, Some(last_seq)).await;
    agent.wait("t2", "connected", None, 2).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after: Vec<_> = agent.seen("t2", "event", None).into_iter().skip(before).collect();
    let names: Vec<&str> = after.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(names, ["new_broadcast", "broadcast_closed"], "exactly the missed events, once, in order: {after:?}");
    let seqs: Vec<u64> = after.iter().map(|e| e["payload"]["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, [last_seq + 1, last_seq + 2]);
    assert!(after.iter().all(|e| e["payload"]["replayed"] == true));
    assert_eq!(stack.count_events(customer, "broadcast_fully_filled").await, 1);
}

/// Sockets never outlive what ended their session (issue 14, item 4): a sign-out ends the
/// sockets of that access token only, a reused refresh token ends all of the user's, a removed
/// driver's end with the account, and a socket closes when its token expires unless it sent a
/// newer one.
#[tokio::test]
async fn sockets_end_with_their_session_logout_reuse_removal_and_expiry() {
    let stack = Stack::new(&[("WEELO_OTP_RESEND_COOLDOWN_SECS", "0")]).await;
    let phone = "+919811100001";
    let first = stack.login(phone, "transporter").await;
    let second = stack.login(phone, "transporter").await;
    let token = |s: &serde_json::Value| s["accessToken"].as_str().unwrap().to_owned();
    let mut agent = Agent::start().await;
    agent.connect("a", &stack.api_url, &token(&first), None).await;
    agent.connect("b", &stack.api_url, &token(&second), None).await;
    agent.wait("a", "connected", None, 1).await;
    agent.wait("b", "connected", None, 1).await;

    // Signing out of the first session ends its socket, not the other device's.
    let r = stack.post("/v1/auth/logout", &token(&first), json!({ "refreshToken": first["refreshToken"] })).await;
    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap_or_default());
    let revoked = agent.wait("a", "event", Some("session_revoked"), 1).await;
    assert_eq!(revoked[0]["payload"]["code"], "SIGNED_OUT");
    agent.wait("a", "disconnected", None, 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(agent.seen("b", "disconnected", None).is_empty(), "the other device's socket stays");
    assert!(agent.seen("b", "event", Some("session_revoked")).is_empty());

    // Presenting a rotated refresh token again (a stolen copy) ends every socket of the user.
    let refresh = |t: &serde_json::Value| {
        stack.client.post(format!("{}/v1/auth/refresh", stack.api_url)).json(&json!({ "refreshToken": t })).send()
    };
    let r = refresh(&second["refreshToken"]).await.unwrap();
    assert_eq!(r.status(), 200);
    let r = refresh(&second["refreshToken"]).await.unwrap();
    assert_eq!(r.status(), 401);
    let revoked = agent.wait("b", "event", Some("session_revoked"), 1).await;
    assert_eq!(revoked[0]["payload"]["code"], "REFRESH_TOKEN_REUSED");
    agent.wait("b", "disconnected", None, 1).await;

    // A removed driver's socket ends with the account.
    let transporter = Uuid::parse_str(second["user"]["id"].as_str().unwrap()).unwrap();
    let owner = stack.token(transporter, Role::Transporter);
    let r =
        stack.post("/v1/transporters/me/drivers", &owner, json!({ "phone": "+919811100002", "name": "Ravi" })).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    let driver: serde_json::Value = r.json().await.unwrap();
    let driver = Uuid::parse_str(driver["id"].as_str().unwrap()).unwrap();
    let signer = TokenSigner::new(&stack.config);
    let driver_token = signer.issue(driver, Role::Driver, Some(transporter)).unwrap().0;
    agent.connect("d", &stack.api_url, &driver_token, None).await;
    agent.wait("d", "connected", None, 1).await;
    let r = stack
        .client
        .delete(format!("{}/v1/transporters/me/drivers/{driver}", stack.api_url))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let revoked = agent.wait("d", "event", Some("session_revoked"), 1).await;
    assert_eq!(revoked[0]["payload"]["code"], "ACCOUNT_REMOVED");
    agent.wait("d", "disconnected", None, 1).await;

    // Expiry: two sockets whose tokens live 3 s; one sends a newer token and outlives the other.
    let short = |ttl| signer.issue_for(transporter, Role::Transporter, None, Duration::from_secs(ttl)).unwrap().0;
    agent.connect("x", &stack.api_url, &short(3), None).await;
    agent.connect("y", &stack.api_url, &short(3), None).await;
    agent.wait("x", "connected", None, 1).await;
    agent.wait("y", "connected", None, 1).await;
    agent.send(json!({ "cmd": "reauth", "id": "y", "token": short(30) })).await;
    let reply = agent.wait("y", "reauth", None, 1).await;
    assert_eq!(reply[0]["reply"]["ok"], true, "{reply:?}");
    agent.send(json!({ "cmd": "reauth", "id": "x", "token": "not-a-token" })).await;
    let reply = agent.wait("x", "reauth", None, 1).await;
    assert_eq!(reply[0]["reply"]["code"], "UNAUTHORIZED", "a bad token changes nothing: {reply:?}");
    let expired = agent.wait("x", "event", Some("session_expired"), 1).await;
    assert_eq!(expired[0]["payload"]["code"], "TOKEN_EXPIRED");
    agent.wait("x", "disconnected", None, 1).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(agent.seen("y", "disconnected", None).is_empty(), "the re-authenticated socket lives on");
}

/// Memory before and after login (issue 14, item 3): sockets per user and per address are
/// capped, and a socket flooding `join` is refused and then dropped.
#[tokio::test]
async fn sockets_are_capped_per_user_and_per_address_and_join_floods_are_cut_off() {
    let stack = Stack::new(&[("WEELO_SOCKETS_PER_SOURCE", "8")]).await;
    let (a, a_token) = stack.customer().await;
    let mut agent = Agent::start().await;
    for i in 0..5 {
        agent.connect(&format!("a{i}"), &stack.api_url, &a_token, None).await;
        agent.wait(&format!("a{i}"), "connected", None, 1).await;
    }
    agent.connect("a5", &stack.api_url, &a_token, None).await;
    let refused = agent.wait("a5", "connect_error", None, 1).await;
    assert!(refused[0]["message"].as_str().unwrap().starts_with("TOO_MANY_SOCKETS"), "{refused:?}");
    // Closing one makes room again.
    agent.send(json!({ "cmd": "disconnect", "id": "a4" })).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    agent.connect("a6", &stack.api_url, &a_token, None).await;
    agent.wait("a6", "connected", None, 1).await;

    // Eight from one address in all: five of A's, then three of B's, then no more.
    let (_, b_token) = stack.customer().await;
    for i in 0..3 {
        agent.connect(&format!("b{i}"), &stack.api_url, &b_token, None).await;
        agent.wait(&format!("b{i}"), "connected", None, 1).await;
    }
    agent.connect("b3", &stack.api_url, &b_token, None).await;
    let refused = agent.wait("b3", "connect_error", None, 1).await;
    assert!(refused[0]["message"].as_str().unwrap().contains("network"), "{refused:?}");

    // Joins: five a second are answered, more are refused, a flood drops the socket.
    let room = format!("user:{a}");
    for _ in 0..12 {
        agent.send(json!({ "cmd": "join", "id": "a0", "room": room })).await;
    }
    let replies = agent.wait("a0", "join", None, 12).await;
    let ok = replies.iter().filter(|r| r["reply"]["ok"] == true).count();
    let limited = replies.iter().filter(|r| r["reply"]["code"] == "RATE_LIMITED").count();
    // A burst of 12 lands in one or (on a slow machine) two one-second windows.
    assert_eq!(ok + limited, 12, "{replies:?}");
    assert!((5..=10).contains(&ok) && limited >= 2, "five per second answered, the rest refused: {replies:?}");
    for _ in 0..60 {
        agent.send(json!({ "cmd": "join", "id": "a0", "room": room })).await;
    }
    agent.wait("a0", "disconnected", None, 1).await;
}

/// A transporter with its token, its driver with its token, and its vehicle.
type Crew = (Uuid, String, Uuid, String, Uuid);

/// An idempotent command as an app sends it.
async fn command(stack: &Stack, path: &str, token: &str, body: serde_json::Value) -> reqwest::Response {
    stack.command(path, token, body).await
}

/// Round `round` of the loop: each crew hears the broadcast, takes a truck with its driver,
/// and the driver accepts and drives the trip to delivery.
async fn drive_round(stack: &Stack, agent: &Agent, crews: &[Crew], round: usize, broadcast: Uuid) {
    for (i, c) in crews.iter().enumerate() {
        agent.wait(&format!("t{i}"), "event", Some("new_broadcast"), round).await;
        let body = json!({ "line": 0, "vehicleId": c.4, "driverId": c.2 });
        let r = command(stack, &format!("/v1/broadcasts/{broadcast}/accept"), &c.1, body).await;
        assert_eq!(r.status(), 200, "round {round}: {}", r.text().await.unwrap_or_default());
    }
    for (i, c) in crews.iter().enumerate() {
        let offer = agent.wait(&format!("d{i}"), "event", Some("trip_assigned"), round).await;
        let trip = offer[round - 1]["payload"]["id"].as_str().unwrap().to_owned();
        let path = format!("/v1/drivers/me/trips/{trip}");
        assert_eq!(command(stack, &format!("{path}/accept"), &c.3, json!({})).await.status(), 200);
        for step in ["en_route_to_pickup", "at_pickup", "in_transit", "delivered"] {
            let r = command(stack, &format!("{path}/status"), &c.3, json!({ "status": step })).await;
            assert_eq!(r.status(), 200, "{step}");
        }
    }
}

/// The whole dispatch loop on the real binaries, as the phones see it over Socket.IO (the stock
/// client): two transporters take the two trucks of one broadcast with their drivers, the
/// drivers accept and drive both trips to delivery, the customer hears every step and the
/// broadcast completes, and the freed vehicles and drivers take the next broadcast.
#[tokio::test]
async fn a_broadcast_goes_from_create_to_two_deliveries_and_its_crews_work_again() {
    let mut stack = Stack::new(&[]).await;
    stack.start_worker();
    let signer = TokenSigner::new(&stack.config);
    let (customer, customer_token) = stack.customer().await;
    let mut crews: Vec<Crew> = Vec::new();
    for km in [2.0, 3.0] {
        let (transporter, token) = stack.transporter_at(km, "open").await;
        let r = stack
            .post(
                "/v1/transporters/me/drivers",
                &token,
                json!({ "phone": format!("+9198112{:05}", km as u32 * 11), "name": "Crew" }),
            )
            .await;
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
        let driver = Uuid::parse_str(r.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap()).unwrap();
        let driver_token = signer.issue(driver, Role::Driver, Some(transporter)).unwrap().0;
        let vehicle = stack.vehicle_of(transporter).await;
        crews.push((transporter, token, driver, driver_token, vehicle));
    }
    let mut agent = Agent::start().await;
    agent.connect("customer", &stack.api_url, &customer_token, None).await;
    agent.wait("customer", "connected", None, 1).await;
    for (i, c) in crews.iter().enumerate() {
        agent.connect(&format!("t{i}"), &stack.api_url, &c.1, None).await;
        agent.connect(&format!("d{i}"), &stack.api_url, &c.3, None).await;
        agent.wait(&format!("t{i}"), "connected", None, 1).await;
        agent.wait(&format!("d{i}"), "connected", None, 1).await;
    }
    let first = stack.create_broadcast(&customer_token, &[("open", 2)]).await;
    drive_round(&stack, &agent, &crews, 1, first).await;
    // The customer heard both acceptances, every step of both trips, and the completion.
    agent.wait("customer", "event", Some("truck_request_accepted"), 2).await;
    let steps = agent.wait("customer", "event", Some("trip_status_changed"), 8).await;
    let delivered = steps.iter().filter(|e| e["payload"]["status"] == "delivered").count();
    assert_eq!(delivered, 2, "{steps:?}");
    let done = agent.wait("customer", "event", Some("broadcast_completed"), 1).await;
    assert_eq!(done[0]["payload"]["status"], "completed");
    assert_eq!(stack.status(first).await, "completed");
    for c in &crews {
        let v: String = sqlx::query_scalar("SELECT status::text FROM vehicles WHERE id = $1")
            .bind(c.4)
            .fetch_one(&stack.db)
            .await
            .unwrap();
        assert_eq!(v, "available", "the vehicle is free again");
    }

    // The same crews take the next broadcast of another customer.
    let (_, next_customer) = stack.customer().await;
    let second = stack.create_broadcast(&next_customer, &[("open", 2)]).await;
    drive_round(&stack, &agent, &crews, 2, second).await;
    assert_eq!(stack.status(second).await, "completed");
    assert_eq!(stack.count_events(customer, "broadcast_completed").await, 1, "the first customer, once");
    stack.settle().await;
}

/// After the match, on the binaries with the stock client: a transporter gives its truck back,
/// the filled broadcast reopens and the other transporter told before hears it and takes the
/// truck; then the customer cancels before pickup and both drivers hear their trips end, and
/// every vehicle is free.
#[tokio::test]
async fn a_release_reopens_the_search_and_a_cancel_after_the_match_tells_both_drivers() {
    let mut stack = Stack::new(&[]).await;
    stack.start_worker();
    let signer = TokenSigner::new(&stack.config);
    let (_, customer_token) = stack.customer().await;
    let mut crews: Vec<Crew> = Vec::new();
    for km in [2.0, 3.0] {
        let (transporter, token) = stack.transporter_at(km, "open").await;
        let r = stack
            .post(
                "/v1/transporters/me/drivers",
                &token,
                json!({ "phone": format!("+9198113{:05}", km as u32 * 7), "name": "Crew" }),
            )
            .await;
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
        let driver = Uuid::parse_str(r.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap()).unwrap();
        let driver_token = signer.issue(driver, Role::Driver, Some(transporter)).unwrap().0;
        let vehicle = stack.vehicle_of(transporter).await;
        crews.push((transporter, token, driver, driver_token, vehicle));
    }
    let mut agent = Agent::start().await;
    for (i, c) in crews.iter().enumerate() {
        agent.connect(&format!("t{i}"), &stack.api_url, &c.1, None).await;
        agent.connect(&format!("d{i}"), &stack.api_url, &c.3, None).await;
        agent.wait(&format!("t{i}"), "connected", None, 1).await;
        agent.wait(&format!("d{i}"), "connected", None, 1).await;
    }
    let broadcast = stack.create_broadcast(&customer_token, &[("open", 1)]).await;
    agent.wait("t0", "event", Some("new_broadcast"), 1).await;
    agent.wait("t1", "event", Some("new_broadcast"), 1).await;
    let (a, b) = (&crews[0], &crews[1]);
    let take = |c: &Crew| json!({ "line": 0, "vehicleId": c.4, "driverId": c.2 });
    let r = command(&stack, &format!("/v1/broadcasts/{broadcast}/accept"), &a.1, take(a)).await;
    assert_eq!(r.status(), 200);
    let offer = agent.wait("d0", "event", Some("trip_assigned"), 1).await;
    let trip = offer[0]["payload"]["id"].as_str().unwrap().to_owned();

    // Given back: the search reopens and the other transporter hears it.
    let r = command(&stack, &format!("/v1/trips/{trip}/release"), &a.1, json!({})).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    let reopened = agent.wait("t1", "event", Some("broadcast_reopened"), 1).await;
    assert_eq!(reopened[0]["payload"]["trucksRemaining"], 1);
    let r = command(&stack, &format!("/v1/broadcasts/{broadcast}/accept"), &b.1, take(b)).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    agent.wait("d1", "event", Some("trip_assigned"), 1).await;
    assert_eq!(stack.status(broadcast).await, "fully_filled");

    // The customer cancels before pickup: the driver on the trip hears it, and every vehicle is free.
    let r = stack
        .post(&format!("/v1/broadcasts/{broadcast}/cancel"), &customer_token, json!({ "reason": "plans changed" }))
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    agent.wait("d1", "event", Some("trip_cancelled"), 1).await;
    agent.wait("t1", "event", Some("trip_cancelled"), 1).await;
    let released = agent.wait("d0", "event", Some("trip_status_changed"), 1).await;
    assert_eq!(released[0]["payload"]["status"], "released", "the first driver heard its trip end at the release");
    for c in &crews {
        let v: String = sqlx::query_scalar("SELECT status::text FROM vehicles WHERE id = $1")
            .bind(c.4)
            .fetch_one(&stack.db)
            .await
            .unwrap();
        assert_eq!(v, "available");
    }
    assert_eq!(stack.status(broadcast).await, "cancelled");
    stack.settle().await;
}

/// A silent driver on the binaries: the response window (a durable job) closes, the transporter
/// hears `driver_timeout` on its socket, staffs the trip again with another driver, who hears the
/// offer, accepts and delivers; the broadcast completes.
#[tokio::test]
async fn a_driver_timeout_is_restaffed_and_the_trip_still_delivered() {
    let mut stack = Stack::new(&[("WEELO_DRIVER_RESPONSE_SECS", "2")]).await;
    stack.start_worker();
    let signer = TokenSigner::new(&stack.config);
    let (customer, customer_token) = stack.customer().await;
    let (transporter, token) = stack.transporter_at(2.0, "open").await;
    let mut drivers = Vec::new();
    for phone in ["+919811400001", "+919811400002"] {
        let r = stack.post("/v1/transporters/me/drivers", &token, json!({ "phone": phone, "name": "Crew" })).await;
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
        let driver = Uuid::parse_str(r.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap()).unwrap();
        drivers.push((driver, signer.issue(driver, Role::Driver, Some(transporter)).unwrap().0));
    }
    let vehicle = stack.vehicle_of(transporter).await;
    let mut agent = Agent::start().await;
    agent.connect("t", &stack.api_url, &token, None).await;
    agent.connect("silent", &stack.api_url, &drivers[0].1, None).await;
    agent.connect("ravi", &stack.api_url, &drivers[1].1, None).await;
    for id in ["t", "silent", "ravi"] {
        agent.wait(id, "connected", None, 1).await;
    }
    let broadcast = stack.create_broadcast(&customer_token, &[("open", 1)]).await;
    agent.wait("t", "event", Some("new_broadcast"), 1).await;
    let body = json!({ "line": 0, "vehicleId": vehicle, "driverId": drivers[0].0 });
    assert_eq!(command(&stack, &format!("/v1/broadcasts/{broadcast}/accept"), &token, body).await.status(), 200);
    let offer = agent.wait("silent", "event", Some("trip_assigned"), 1).await;
    let trip = offer[0]["payload"]["id"].as_str().unwrap().to_owned();

    // Nobody answers: two seconds later the transporter is told.
    let timeout = agent.wait("t", "event", Some("driver_timeout"), 1).await;
    assert_eq!(timeout[0]["payload"]["tripId"], trip.as_str());
    let r = stack
        .client
        .put(format!("{}/v1/trips/{trip}/crew", stack.api_url))
        .bearer_auth(&token)
        .header("Idempotency-Key", Uuid::new_v4().to_string())
        .json(&json!({ "vehicleId": vehicle, "driverId": drivers[1].0 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    agent.wait("ravi", "event", Some("trip_assigned"), 1).await;
    let path = format!("/v1/drivers/me/trips/{trip}");
    assert_eq!(command(&stack, &format!("{path}/accept"), &drivers[1].1, json!({})).await.status(), 200);
    for step in ["en_route_to_pickup", "at_pickup", "in_transit", "delivered"] {
        let r = command(&stack, &format!("{path}/status"), &drivers[1].1, json!({ "status": step })).await;
        assert_eq!(r.status(), 200, "{step}");
    }
    let late = command(&stack, &format!("{path}/accept"), &drivers[0].1, json!({})).await;
    assert_eq!(late.status(), 404, "the silent driver's trip is not its own any more");
    assert_eq!(stack.status(broadcast).await, "completed", "in the delivery's transaction");
    let told = crate::helpers::eventually(Duration::from_secs(5), || async {
        stack.count_events(customer, "broadcast_completed").await == 1
    });
    assert!(told.await, "the customer is told once");
    stack.settle().await;
}
