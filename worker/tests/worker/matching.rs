//! Radius expansion step by step, declines, and the rebroadcast on coming online.

use std::time::Duration;

use serde_json::json;
use uuid::Uuid;

use crate::helpers::{Stack, eventually};

#[tokio::test]
async fn transporters_are_notified_step_by_step_and_the_farthest_only_at_fallback() {
    let mut stack = Stack::new(&[]).await;
    stack.start_worker();
    let (_, customer) = stack.customer().await;
    let mut by_km = Vec::new();
    for km in [5.0, 20.0, 40.0, 70.0, 150.0] {
        by_km.push((km, stack.transporter_at(km, "open").await.0));
    }
    // A transporter with the wrong vehicle type is never notified.
    let (tanker, _) = stack.transporter_at(1.0, "tanker").await;
    // Their coming-online catch-up ran (with nothing to send) before the broadcast exists.
    stack.settle().await;
    let broadcast = stack.create_broadcast(&customer, &[("open", 3)]).await;
    let all_notified = eventually(Duration::from_secs(15), || async {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM broadcast_notifications WHERE broadcast_id = $1")
            .bind(broadcast)
            .fetch_one(&stack.db)
            .await
            .unwrap();
        n == 5
    })
    .await;
    assert!(all_notified, "every transporter in reach was notified");
    let rows: Vec<(Uuid, i32, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
        "SELECT transporter_id, radius_step, notified_at FROM broadcast_notifications WHERE broadcast_id = $1 ORDER BY notified_at",
    )
    .bind(broadcast)
    .fetch_all(&stack.db)
    .await
    .unwrap();
    let order: Vec<Uuid> = rows.iter().map(|r| r.0).collect();
    assert_eq!(order, by_km.iter().map(|b| b.1).collect::<Vec<_>>(), "nearest first, step by step");
    let steps: Vec<i32> = rows.iter().map(|r| r.1).collect();
    assert_eq!(steps, vec![0, 1, 2, 3, 4], "10, 25, 50, 75 km, then the 150 km one only at fallback");
    // Steps are about one interval apart.
    for w in rows.windows(2) {
        assert!((w[1].2 - w[0].2).num_milliseconds() >= 500, "steps are spaced by the interval");
    }
    for (_, t) in &by_km {
        let got =
            eventually(Duration::from_secs(5), || async { stack.count_events(*t, "new_broadcast").await == 1 }).await;
        assert!(got, "each transporter got new_broadcast exactly once");
    }
    let first = &stack.events(by_km[0].1).await[0];
    assert_eq!(first.payload["broadcastId"], json!(broadcast));
    assert_eq!(first.payload["trucksRemaining"], 3);
    assert!(first.payload["expiresAt"].is_string());
    assert_eq!(stack.count_events(tanker, "new_broadcast").await, 0);
}

/// The decline rule is the only thing keeping a decliner out after a reopen: a filled broadcast
/// is cleaned up (its once-per-user markers gone), a release reopens it, and the decliner comes
/// online again. It hears neither `broadcast_reopened` nor a second `new_broadcast`, while a
/// transporter who did not decline hears the reopen.
#[tokio::test]
async fn a_declined_transporter_is_never_notified_again() {
    let mut stack = Stack::new(&[]).await;
    stack.start_worker();
    let (_, customer) = stack.customer().await;
    let (decliner, token) = stack.transporter_at(3.0, "lcv").await;
    let (bystander, _) = stack.transporter_at(4.0, "lcv").await;
    let (taker, taker_token) = stack.transporter_at(2.0, "lcv").await;
    let driver = stack.driver_of(taker).await;
    let vehicle = stack.vehicle_of(taker).await;
    let broadcast = stack.create_broadcast(&customer, &[("lcv", 1)]).await;
    for t in [decliner, bystander, taker] {
        assert!(
            eventually(Duration::from_secs(5), || async { stack.count_events(t, "new_broadcast").await == 1 }).await
        );
    }
    let r = stack.post(&format!("/v1/broadcasts/{broadcast}/decline"), &token, json!({})).await;
    assert_eq!(r.status(), 204);

    // Filled (and cleaned up), then given back: the search reopens.
    let take = json!({ "line": 0, "vehicleId": vehicle, "driverId": driver });
    let r = stack.command(&format!("/v1/broadcasts/{broadcast}/accept"), &taker_token, take).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    stack.settle().await;
    let trip: Uuid = sqlx::query_scalar("SELECT id FROM trips WHERE driver_id = $1")
        .bind(driver)
        .fetch_one(&stack.db)
        .await
        .unwrap();
    let r = stack.command(&format!("/v1/trips/{trip}/release"), &taker_token, json!({})).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    assert!(
        eventually(Duration::from_secs(5), || async { stack.count_events(bystander, "broadcast_reopened").await == 1 })
            .await,
        "a transporter who did not decline hears the reopen"
    );

    // Offline and online again: the rebroadcast must skip it, and so must every later step.
    stack.put("/v1/transporters/me/availability", &token, json!({ "online": false })).await;
    stack.online(&token, 3.0).await;
    stack.wait_for_fallback(broadcast).await;
    stack.settle().await;
    assert_eq!(stack.count_events(decliner, "broadcast_reopened").await, 0);
    assert_eq!(stack.count_events(decliner, "new_broadcast").await, 1);
}

#[tokio::test]
async fn a_transporter_coming_online_receives_the_open_broadcasts_in_reach() {
    let mut stack = Stack::new(&[]).await;
    stack.start_worker();
    let (_, customer) = stack.customer().await;
    let (_, other_customer) = stack.customer().await;
    let near = stack.create_broadcast(&customer, &[("tipper", 2)]).await;
    let far_type = stack.create_broadcast(&other_customer, &[("trailer", 1)]).await;
    // Let every step pass with nobody online.
    stack.wait_for_fallback(near).await;
    let (late, _) = stack.transporter_at(30.0, "tipper").await;
    assert!(
        eventually(Duration::from_secs(5), || async { stack.count_events(late, "new_broadcast").await == 1 }).await
    );
    let events = stack.events(late).await;
    assert_eq!(events[0].payload["broadcastId"], json!(near));
    assert_ne!(events[0].payload["broadcastId"], json!(far_type), "only broadcasts its vehicles can serve");
    // Beyond the largest step but inside the fallback's reach: the broadcast reached its fallback,
    // which covers it, so it is told too (one that has not reached a step covering a newcomer
    // does not tell it early: api/tests/api/jobs.rs).
    let (beyond_steps, _) = stack.transporter_at(120.0, "tipper").await;
    assert!(
        eventually(Duration::from_secs(5), || async { stack.count_events(beyond_steps, "new_broadcast").await == 1 })
            .await
    );
}
