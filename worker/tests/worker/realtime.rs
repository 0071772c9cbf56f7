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
    let driver = Uuid::now_v7();
    sqlx::query("INSERT INTO users (id, phone, role, transporter_id) VALUES ($1, '+919555000111', 'driver', $2)")
        .bind(driver)
        .bind(t1)
        .execute(&stack.db)
        .await
        .unwrap();
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
    let vehicle: Uuid = sqlx::query_scalar("SELECT id FROM vehicles WHERE transporter_id = $1")
        .bind(t1)
        .fetch_one(&stack.db)
        .await
        .unwrap();
    let r = stack
        .client
        .post(format!("{api2}/v1/broadcasts/{broadcast}/accept"))
        .bearer_auth(&t1_token)
        .header("Idempotency-Key", Uuid::new_v4().to_string())
        .json(&json!({ "vehicleType": "open", "vehicleId": vehicle }))
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
