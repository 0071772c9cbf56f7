//! The worker's jobs run in this process (`TestApp::run_pending_jobs`): each story is asserted
//! as it happened, with no polling and no sleeps.

use serde_json::json;
use uuid::Uuid;
use weelo_shared::cache::Cache;
use weelo_shared::realtime;

use crate::helpers::spawn_app;

#[tokio::test]
async fn a_create_reaches_the_transporter_in_reach_through_the_radius_step() {
    let app = spawn_app().await;
    let cache = Cache::new(&app.config).unwrap();
    let (_, customer) = app.user("customer").await;
    let near = app.transporters_with_vehicles(1, "open").await.remove(0);
    let far = app.transporters_with_vehicles(1, "open").await.remove(0);
    app.go_online_at_pickup(near.0).await;
    // Delhi, 1,150 km away: only the fallback would reach it, and that step is not due yet.
    let r = app
        .client
        .put(app.url("/v1/transporters/me/availability"))
        .bearer_auth(&far.1)
        .json(&json!({ "online": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        app.post_auth("/v1/transporters/me/heartbeat", &far.1, json!({ "lat": 28.61, "lng": 77.21 })).await.status(),
        200
    );
    app.run_pending_jobs().await;

    let id = app.open_broadcast(&customer, &[("open", 2, 1500)]).await;
    let before = realtime::missed(&cache, near.0, 0).await.unwrap().len();
    let ran = app.run_pending_jobs().await;
    assert!(ran >= 2, "the radius step and its notification ran ({ran})");

    let log = realtime::missed(&cache, near.0, 0).await.unwrap();
    let news: Vec<_> = log[before..].iter().filter(|e| e.event == "new_broadcast").collect();
    assert_eq!(news.len(), 1, "{log:?}");
    assert_eq!(news[0].payload["broadcastId"], id.as_str());
    assert_eq!(news[0].payload["radiusStep"], 0);
    assert_eq!(news[0].payload["trucksRemaining"], 2);
    assert_eq!(news[0].payload["distanceToPickupKm"], 2.7);
    let far_log = realtime::missed(&cache, far.0, 0).await.unwrap();
    assert!(far_log.iter().all(|e| e.event != "new_broadcast"), "1,150 km away is not told at step 0: {far_log:?}");

    // Running the jobs again changes nothing: everything due already ran once.
    assert_eq!(app.run_pending_jobs().await, 0);
    assert_eq!(realtime::missed(&cache, near.0, 0).await.unwrap().len(), log.len());
    let recorded: Vec<(Uuid, i32)> =
        sqlx::query_as("SELECT transporter_id, radius_step FROM broadcast_notifications WHERE broadcast_id = $1::uuid")
            .bind(&id)
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(recorded, vec![(near.0, 0)]);
}

#[tokio::test]
async fn an_accept_tells_the_customer_and_the_other_transporters_what_is_left() {
    let app = spawn_app().await;
    let cache = Cache::new(&app.config).unwrap();
    let (customer_id, customer) = app.user("customer").await;
    let id = app.open_broadcast(&customer, &[("open", 2, 1500)]).await;
    let t = app.transporters_with_vehicles(2, "open").await;
    app.notify(&id, &[t[0].0, t[1].0]).await;
    assert_eq!(app.accept(&t[0].1, &id, "open", t[0].2, Uuid::new_v4().to_string()).await.status(), 200);
    app.run_pending_jobs().await;

    let customer_log = realtime::missed(&cache, customer_id, 0).await.unwrap();
    let names: Vec<&str> = customer_log.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(names, ["truck_request_accepted", "trucks_remaining_update"]);
    assert_eq!(customer_log[0].payload["trucksRemaining"], 1);
    assert_eq!(customer_log[0].payload["truck"]["vehicle"]["id"], t[0].2.to_string());
    let other = realtime::missed(&cache, t[1].0, 0).await.unwrap();
    let update = other.iter().find(|e| e.event == "trucks_remaining_update").expect("the other transporter is told");
    assert_eq!(update.payload["lines"][0]["remaining"], 1);
    assert_eq!(update.payload["status"], "partially_filled");
}
