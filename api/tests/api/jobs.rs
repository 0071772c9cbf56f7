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
async fn a_step_announces_its_nearest_transporters_first_in_a_small_wave_and_everyone_once() {
    let app = crate::helpers::spawn_app_with(&[("WEELO_MAX_NEW_PER_STEP", "100")]).await;
    let cache = Cache::new(&app.config).unwrap();
    let (_, customer) = app.user("customer").await;
    let fleet = app.transporters_with_vehicles(60, "open").await;
    // Farther and farther north of the pickup (19.1, 72.88), in a shuffled order of coming online.
    let mut order: Vec<usize> = (0..fleet.len()).collect();
    order.sort_by_key(|i| (i * 37) % fleet.len());
    for i in order {
        let (_, token, _) = &fleet[i];
        let r = app
            .client
            .put(app.url("/v1/transporters/me/availability"))
            .bearer_auth(token)
            .json(&json!({ "online": true }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let at = json!({ "lat": 19.1 + 0.001 * i as f64, "lng": 72.88 });
        assert_eq!(app.post_auth("/v1/transporters/me/heartbeat", token, at).await.status(), 200);
    }
    app.run_pending_jobs().await;
    let id = app.open_broadcast(&customer, &[("open", 2, 1500)]).await;
    app.run_pending_jobs().await;

    let waves: Vec<serde_json::Value> = sqlx::query_scalar(
        "SELECT payload->'recipients' FROM outbox
         WHERE kind = 'transporters_notified' AND payload->>'broadcastId' = $1 ORDER BY id",
    )
    .bind(&id)
    .fetch_all(&app.db)
    .await
    .unwrap();
    let ids = |w: &serde_json::Value| -> Vec<String> {
        w.as_array().unwrap().iter().map(|r| r["transporterId"].as_str().unwrap().to_owned()).collect()
    };
    let km = |w: &serde_json::Value| -> Vec<f64> {
        w.as_array().unwrap().iter().map(|r| r["distanceKm"].as_f64().unwrap()).collect()
    };
    assert_eq!(
        waves.iter().map(|w| ids(w).len()).collect::<Vec<_>>(),
        vec![50, 10],
        "a first wave of 50, then the rest"
    );
    let nearest_first: Vec<String> = fleet.iter().take(50).map(|t| t.0.to_string()).collect();
    let mut first = ids(&waves[0]);
    first.sort();
    let mut expected = nearest_first.clone();
    expected.sort();
    assert_eq!(first, expected, "the first wave is the 50 nearest");
    let first_km = km(&waves[0]);
    assert!(first_km.windows(2).all(|p| p[0] <= p[1]), "nearest first within the wave: {first_km:?}");
    let farthest_first = first_km.iter().cloned().fold(f64::MIN, f64::max);
    assert!(km(&waves[1]).iter().all(|k| *k >= farthest_first));
    // Every transporter is told exactly once, whichever wave carried it.
    for (t, _, _) in &fleet {
        let log = realtime::missed(&cache, *t, 0).await.unwrap();
        let news = log.iter().filter(|e| e.event == "new_broadcast" && e.payload["broadcastId"] == id.as_str()).count();
        assert_eq!(news, 1, "{t}: {log:?}");
    }
}

#[tokio::test]
async fn an_accept_tells_the_customer_and_the_other_transporters_what_is_left() {
    let app = spawn_app().await;
    let cache = Cache::new(&app.config).unwrap();
    let (customer_id, customer) = app.user("customer").await;
    let id = app.open_broadcast(&customer, &[("open", 2, 1500)]).await;
    let t = app.transporters_with_vehicles(2, "open").await;
    app.notify(&id, &[t[0].0, t[1].0]).await;
    assert_eq!(app.accept(&t[0].1, &id, 0, t[0].2, Uuid::new_v4().to_string()).await.status(), 200);
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

#[tokio::test]
async fn the_accept_that_fills_a_broadcast_tells_the_transporters_once_that_it_closed() {
    let app = spawn_app().await;
    let cache = Cache::new(&app.config).unwrap();
    let (customer_id, customer) = app.user("customer").await;
    let id = app.open_broadcast(&customer, &[("open", 1, 1500)]).await;
    let t = app.transporters_with_vehicles(2, "open").await;
    app.notify(&id, &[t[0].0, t[1].0]).await;
    assert_eq!(app.accept(&t[0].1, &id, 0, t[0].2, Uuid::new_v4().to_string()).await.status(), 200);
    app.run_pending_jobs().await;

    let other = realtime::missed(&cache, t[1].0, 0).await.unwrap();
    let names: Vec<&str> = other.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(names, ["new_broadcast", "broadcast_closed"], "no count update besides the close: {other:?}");
    assert_eq!(other[1].payload["status"], "fully_filled");
    let customer_log = realtime::missed(&cache, customer_id, 0).await.unwrap();
    let update =
        customer_log.iter().find(|e| e.event == "trucks_remaining_update").expect("the customer hears the count");
    assert_eq!(update.payload["lines"][0]["remaining"], 0);
}

/// Who was told, in the order they were told, with the step that told them.
async fn told_in_order(app: &crate::helpers::TestApp, broadcast: &str) -> Vec<(Uuid, i32)> {
    sqlx::query_as(
        "SELECT transporter_id, radius_step FROM broadcast_notifications WHERE broadcast_id = $1::uuid
         ORDER BY notified_at, radius_step",
    )
    .bind(broadcast)
    .fetch_all(&app.db)
    .await
    .unwrap()
}

/// Nearest first, also for transporters who come online just before the create or during the
/// steps: the rebroadcast on coming online only sends what the broadcast's current step covers.
#[tokio::test]
async fn transporters_coming_online_around_the_create_are_told_in_order_of_distance() {
    // Steps of 10/25/50/75 km one second apart (the jobs run here, in this process).
    let app = crate::helpers::spawn_app_with(&[("WEELO_RADIUS_STEP_INTERVAL_MS", "1000")]).await;
    let (_, customer) = app.user("customer").await;
    let t: Vec<_> = app.transporters_with_vehicles(5, "open").await;
    let (at5, at40, at20, at15, at70) = (t[0].0, t[1].0, t[2].0, t[3].0, t[4].0);
    // Online a moment before the create: 5 km and 40 km.
    app.go_online_km_north(at5, 5.0).await;
    app.go_online_km_north(at40, 40.0).await;
    let id = app.open_broadcast(&customer, &[("open", 3, 1500)]).await;
    app.run_pending_jobs().await;
    assert_eq!(told_in_order(&app, &id).await, vec![(at5, 0)], "step 0 reaches 10 km only");
    // Online during step 0: 20 km is not covered yet (the rebroadcast must not jump the queue).
    app.go_online_km_north(at20, 20.0).await;
    app.run_pending_jobs().await;
    assert_eq!(told_in_order(&app, &id).await, vec![(at5, 0)], "20 km waits for the 25 km step");

    let (app, id) = (&app, &id);
    let step = |n: i32| async move {
        // Each step is due about a second after the previous one.
        for _ in 0..40 {
            let reached: i32 = sqlx::query_scalar("SELECT radius_step FROM broadcasts WHERE id = $1::uuid")
                .bind(id)
                .fetch_one(&app.db)
                .await
                .unwrap();
            if reached >= n {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            app.run_pending_jobs().await;
        }
        panic!("step {n} never ran");
    };
    step(1).await;
    // Online after the 25 km step ran: 15 km is covered, so it is told at once.
    app.go_online_km_north(at15, 15.0).await;
    app.run_pending_jobs().await;
    assert_eq!(told_in_order(app, id).await, vec![(at5, 0), (at20, 1), (at15, 1)]);
    // 70 km comes online now; 40 km is reached at the 50 km step, 70 km only at 75 km.
    app.go_online_km_north(at70, 70.0).await;
    app.run_pending_jobs().await;
    step(2).await;
    step(3).await;
    assert_eq!(
        told_in_order(app, id).await,
        vec![(at5, 0), (at20, 1), (at15, 1), (at40, 2), (at70, 3)],
        "arrival order follows distance step by step"
    );
    for who in [at5, at20, at15, at40, at70] {
        let cache = Cache::new(&app.config).unwrap();
        let news =
            realtime::missed(&cache, who, 0).await.unwrap().into_iter().filter(|e| e.event == "new_broadcast").count();
        assert_eq!(news, 1, "each told exactly once");
    }
    // Let the fallback step run so nothing is left due at the end.
    step(4).await;
    app.run_pending_jobs().await;
}

/// Every key a broadcast caused is gone at each terminal state: filled, cancelled, expired,
/// and after its trips finished (the `new_broadcast` markers included).
#[tokio::test]
async fn no_key_of_a_broadcast_is_left_after_it_ends() {
    let app = crate::helpers::spawn_app_with(&[("WEELO_CREATE_RATE_LIMIT_PER_MIN", "1000")]).await;
    let t = app.transporters_with_vehicles(2, "open").await;
    let ids = [t[0].0, t[1].0];
    // Spare vehicles, so both stay matchable after taking a truck.
    for (id, _, _) in &t {
        for _ in 0..3 {
            app.vehicle_for(*id, "open").await;
        }
    }
    let keys_of = |b: String| {
        let app = &app;
        async move {
            let cache = Cache::new(&app.config).unwrap();
            let mut c = cache.conn().await.unwrap();
            let keys: Vec<String> =
                redis::cmd("KEYS").arg(format!("{}:*{b}*", app.prefix)).query_async(&mut *c).await.unwrap();
            // The job queues' own deduplication keys expire with their TTL (24 h); the job spine
            // bounds those. Everything else is the broadcast's and must be gone.
            keys.into_iter().filter(|k| !k.contains(":jobs:")).collect::<Vec<_>>()
        }
    };
    // Filled.
    let (_, c1) = app.user("customer").await;
    let filled = app.open_broadcast(&c1, &[("open", 1, 1500)]).await;
    app.notify(&filled, &ids).await;
    assert!(!keys_of(filled.clone()).await.is_empty(), "the markers exist while it is open");
    assert_eq!(app.accept(&t[0].1, &filled, 0, t[0].2, Uuid::new_v4().to_string()).await.status(), 200);
    app.run_pending_jobs().await;
    assert_eq!(keys_of(filled.clone()).await, Vec::<String>::new(), "filled");
    // Cancelled (after the match: the accepted truck goes back too).
    let (_, c2) = app.user("customer").await;
    let cancelled = app.open_broadcast(&c2, &[("open", 2, 1500)]).await;
    app.notify(&cancelled, &ids).await;
    assert_eq!(app.post_auth(&format!("/v1/broadcasts/{cancelled}/cancel"), &c2, json!({})).await.status(), 200);
    app.run_pending_jobs().await;
    assert_eq!(keys_of(cancelled.clone()).await, Vec::<String>::new(), "cancelled");
    // Expired.
    let (_, c3) = app.user("customer").await;
    let expired = app.open_broadcast(&c3, &[("open", 2, 1500)]).await;
    app.notify(&expired, &ids).await;
    sqlx::query("UPDATE broadcasts SET expires_at = now() - interval '3 seconds' WHERE id = $1::uuid")
        .bind(&expired)
        .execute(&app.db)
        .await
        .unwrap();
    let mut tx = app.db.begin().await.unwrap();
    assert!(weelo_shared::lifecycle::expire(&mut tx, Uuid::parse_str(&expired).unwrap()).await.unwrap());
    tx.commit().await.unwrap();
    app.run_pending_jobs().await;
    assert_eq!(keys_of(expired.clone()).await, Vec::<String>::new(), "expired");
    // Delivered: the trip's events leave nothing under the broadcast either.
    let (_, c4) = app.user("customer").await;
    let delivered = app.open_broadcast(&c4, &[("open", 1, 1500)]).await;
    app.notify(&delivered, &ids).await;
    let (driver, driver_token) = app.driver_of(t[1].0).await;
    let v = app.vehicle_for(t[1].0, "open").await;
    let r = app
        .client
        .post(app.url(&format!("/v1/broadcasts/{delivered}/accept")))
        .bearer_auth(&t[1].1)
        .header("Idempotency-Key", Uuid::new_v4().to_string())
        .json(&json!({ "line": 0, "vehicleId": v, "driverId": driver }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let trip: Uuid =
        sqlx::query_scalar("SELECT id FROM trips WHERE driver_id = $1").bind(driver).fetch_one(&app.db).await.unwrap();
    let path = format!("/v1/drivers/me/trips/{trip}");
    assert_eq!(
        app.command(&format!("{path}/accept"), &driver_token, &Uuid::new_v4().to_string(), json!({})).await.status(),
        200
    );
    for status in ["en_route_to_pickup", "at_pickup", "in_transit", "delivered"] {
        let r = app
            .command(&format!("{path}/status"), &driver_token, &Uuid::new_v4().to_string(), json!({ "status": status }))
            .await;
        assert_eq!(r.status(), 200);
    }
    app.run_pending_jobs().await;
    assert_eq!(keys_of(delivered.clone()).await, Vec::<String>::new(), "delivered");
}

/// apalis keeps every finished task (its id in `{queue}:done` or `{queue}:dead`, its payload in
/// the data hash, its metadata hash) forever; a sweep tick removes them all, in batches, for
/// both sets (a dead task's record is its `dead_letters` row).
#[tokio::test]
async fn a_sweep_removes_every_finished_task_done_or_dead() {
    let app = spawn_app().await;
    let state = app.worker().await;
    let cfg = weelo_worker::jobs::queue_config(&state.cache.keys, "notify");
    let mut conn = state.jobs.clone();
    let (data, meta) = (cfg.job_data_hash(), cfg.job_meta_hash());
    finished_tasks(&mut conn, (&data, &meta), &cfg.done_jobs_set(), 1_300).await;
    finished_tasks(&mut conn, (&data, &meta), &cfg.dead_jobs_set(), 20).await;
    weelo_worker::sweep::sweep(state, 1).await.unwrap();
    let done: usize = redis::cmd("SCARD").arg(cfg.done_jobs_set()).query_async(&mut conn).await.unwrap();
    let dead: usize = redis::cmd("SCARD").arg(cfg.dead_jobs_set()).query_async(&mut conn).await.unwrap();
    let payloads: usize = redis::cmd("HLEN").arg(&data).query_async(&mut conn).await.unwrap();
    let metas: Vec<String> = redis::cmd("KEYS").arg(format!("{meta}:*")).query_async(&mut conn).await.unwrap();
    assert_eq!((done, dead, payloads, metas.len()), (0, 0, 0, 0), "nothing of a finished task is left");
}

/// What apalis leaves of `n` finished tasks: ids in `set`, payloads in the data hash, metadata
/// hashes under the meta prefix.
async fn finished_tasks(conn: &mut redis::aio::ConnectionManager, (data, meta): (&str, &str), set: &str, n: usize) {
    for chunk in (0..n).collect::<Vec<_>>().chunks(200) {
        let mut pipe = redis::pipe();
        for i in chunk {
            let id = format!("{set}-task-{i}");
            pipe.hset(data, &id, "{}").ignore();
            pipe.hset(format!("{meta}:{id}"), "status", "Done").ignore();
            pipe.sadd(set, &id).ignore();
        }
        let _: () = pipe.query_async(conn).await.unwrap();
    }
}
