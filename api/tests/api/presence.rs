//! Presence and devices: the availability toggle and its throttle, heartbeats into the geo sets
//! of the types a transporter has available, driver availability, push tokens.

use serde_json::json;
use weelo_shared::domain::VehicleType;

use crate::helpers::{assert_problem, spawn_app, spawn_app_with};

#[tokio::test]
async fn heartbeats_need_online_and_place_the_transporter_in_its_types_geo_sets() {
    let app = spawn_app_with(&[("WEELO_AVAILABILITY_THROTTLE_MS", "0")]).await;
    let (id, t) = app.user("transporter").await;
    app.vehicle_for(id, "open").await;
    app.vehicle_for(id, "tanker").await;
    let beat = json!({ "lat": 19.0, "lng": 73.0 });
    assert_problem(app.post_auth("/v1/transporters/me/heartbeat", &t, beat.clone()).await, 409, "TRANSPORTER_OFFLINE")
        .await;
    let r = app
        .client
        .put(app.url("/v1/transporters/me/availability"))
        .bearer_auth(&t)
        .json(&json!({ "online": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r: serde_json::Value =
        app.post_auth("/v1/transporters/me/heartbeat", &t, beat.clone()).await.json().await.unwrap();
    assert_eq!(r["matchingVehicleTypes"], json!(["tanker", "open"]));
    assert_eq!(r["presenceExpiresIn"], 60);
    let keys = weelo_shared::cache::Keys::new(app.prefix.clone());
    let mut c = redis::Client::open(weelo_shared::testkit::redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    for (t, expected) in [(VehicleType::Open, 1), (VehicleType::Tanker, 1), (VehicleType::Mini, 0)] {
        let n: i64 = redis::cmd("ZCARD").arg(keys.geo(t)).query_async(&mut c).await.unwrap();
        assert_eq!(n, expected, "{t}");
    }
    let ttl: i64 = redis::cmd("TTL").arg(keys.presence(id)).query_async(&mut c).await.unwrap();
    assert!((55..=60).contains(&ttl), "{ttl}");
    assert_problem(
        app.post_auth("/v1/transporters/me/heartbeat", &t, json!({ "lat": 51.5, "lng": 0.1 })).await,
        422,
        "VALIDATION_FAILED",
    )
    .await;
    // Going offline removes it from matching at once.
    app.client
        .put(app.url("/v1/transporters/me/availability"))
        .bearer_auth(&t)
        .json(&json!({ "online": false }))
        .send()
        .await
        .unwrap();
    let n: i64 = redis::cmd("ZCARD").arg(keys.geo(VehicleType::Open)).query_async(&mut c).await.unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn toggles_are_throttled_and_roles_checked() {
    let app = spawn_app().await;
    let (_, t) = app.user("transporter").await;
    let (_, customer) = app.user("customer").await;
    let put = |token: String, online: bool| {
        let req = app
            .client
            .put(app.url("/v1/transporters/me/availability"))
            .bearer_auth(token)
            .json(&json!({ "online": online }));
        async move { req.send().await.unwrap() }
    };
    assert_eq!(put(t.clone(), true).await.status(), 200);
    let r = put(t.clone(), false).await;
    assert!(r.headers().contains_key("retry-after"));
    assert_problem(r, 429, "AVAILABILITY_THROTTLED").await;
    assert_problem(put(customer.clone(), true).await, 403, "ROLE_FORBIDDEN").await;
    let r = app
        .client
        .put(app.url("/v1/drivers/me/availability"))
        .bearer_auth(&t)
        .json(&json!({ "online": true }))
        .send()
        .await
        .unwrap();
    assert_problem(r, 403, "ROLE_FORBIDDEN").await;
}

#[tokio::test]
async fn device_tokens_register_move_between_users_and_unregister() {
    let app = spawn_app().await;
    let (a, a_token) = app.user("customer").await;
    let (b, b_token) = app.user("transporter").await;
    let reg = json!({ "fcmToken": "device-1", "platform": "android" });
    assert_eq!(
        app.client.put(app.url("/v1/devices/me")).bearer_auth(&a_token).json(&reg).send().await.unwrap().status(),
        204
    );
    assert_eq!(
        app.client.put(app.url("/v1/devices/me")).bearer_auth(&b_token).json(&reg).send().await.unwrap().status(),
        204
    );
    let owner: uuid::Uuid = sqlx::query_scalar("SELECT user_id FROM device_tokens WHERE token = 'device-1'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(owner, b, "the latest user to register a device owns it");
    assert_ne!(owner, a);
    let bad = json!({ "fcmToken": "x", "platform": "blackberry" });
    assert_problem(
        app.client.put(app.url("/v1/devices/me")).bearer_auth(&a_token).json(&bad).send().await.unwrap(),
        422,
        "VALIDATION_FAILED",
    )
    .await;
    // Someone else cannot remove it.
    let del = json!({ "fcmToken": "device-1" });
    app.client.delete(app.url("/v1/devices/me")).bearer_auth(&a_token).json(&del).send().await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM device_tokens").fetch_one(&app.db).await.unwrap();
    assert_eq!(n, 1);
    app.client.delete(app.url("/v1/devices/me")).bearer_auth(&b_token).json(&del).send().await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM device_tokens").fetch_one(&app.db).await.unwrap();
    assert_eq!(n, 0);
}

/// A driver shows online to its transporter while its app renews it; a dead phone (no
/// heartbeat) stops showing online after the presence TTL.
#[tokio::test]
async fn a_driver_shows_online_while_its_app_heartbeats_and_not_after() {
    let app =
        crate::helpers::spawn_app_with(&[("WEELO_PRESENCE_TTL_SECS", "5"), ("WEELO_AVAILABILITY_THROTTLE_MS", "0")])
            .await;
    let (transporter, owner) = app.user("transporter").await;
    let (quiet, quiet_token) = app.driver_of(transporter).await;
    let (busy, busy_token) = app.driver_of(transporter).await;
    let online_of = |id: uuid::Uuid| {
        let app = &app;
        let owner = owner.clone();
        async move {
            let list: serde_json::Value =
                app.get_auth("/v1/transporters/me/drivers", &owner).await.json().await.unwrap();
            let one: serde_json::Value =
                app.get_auth(&format!("/v1/transporters/me/drivers/{id}"), &owner).await.json().await.unwrap();
            let in_list =
                list["items"].as_array().unwrap().iter().find(|d| d["id"] == id.to_string()).unwrap()["online"]
                    .as_bool()
                    .unwrap();
            assert_eq!(Some(in_list), one["online"].as_bool(), "the list and the driver agree");
            in_list
        }
    };
    assert!(!online_of(quiet).await);
    for token in [&quiet_token, &busy_token] {
        let r = app
            .client
            .put(app.url("/v1/drivers/me/availability"))
            .bearer_auth(token)
            .json(&serde_json::json!({ "online": true }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    assert!(online_of(quiet).await && online_of(busy).await);
    // Only one of them keeps heartbeating.
    for _ in 0..4 {
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        let r = app.post_auth("/v1/drivers/me/heartbeat", &busy_token, serde_json::json!({})).await;
        assert_eq!(r.status(), 200);
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["presenceExpiresIn"], 5);
    }
    assert!(!online_of(quiet).await, "no heartbeat for 8 s: the silent phone is offline");
    assert!(online_of(busy).await, "the heartbeating driver stays online");
    // A transporter cannot heartbeat as a driver.
    let r = app.post_auth("/v1/drivers/me/heartbeat", &owner, serde_json::json!({})).await;
    assert_eq!(r.status(), 403);
    app.run_pending_jobs().await;
}
