//! Expiry, cleanup after every terminal state, crashes of the worker, lost jobs, and the sweep
//! running once per tick across workers.

use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};
use uuid::Uuid;
use weelo_shared::domain::Role;
use weelo_shared::events::{ClientEvent, DriverStatus};
use weelo_shared::testkit;

use crate::helpers::{Stack, eventually};

async fn expired_late_ms(stack: &Stack, broadcast: Uuid) -> i64 {
    sqlx::query_scalar("SELECT (EXTRACT(EPOCH FROM closed_at - expires_at) * 1000)::int8 FROM broadcasts WHERE id = $1")
        .bind(broadcast)
        .fetch_one(&stack.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn expiry_happens_within_a_second_and_leaves_no_keys() {
    let mut stack = Stack::new(&[("BROADCAST_TIMEOUT_SECS", "5"), ("WEELO_SWEEP_INTERVAL_SECS", "60")]).await;
    stack.start_worker();
    let (customer_id, customer) = stack.customer().await;
    let (transporter, _) = stack.transporter_at(2.0, "mini").await;
    let broadcast = stack.create_broadcast(&customer, &[("mini", 2)]).await;
    assert!(
        eventually(Duration::from_secs(5), || async { !stack.broadcast_keys(broadcast).await.is_empty() }).await,
        "notified set exists"
    );
    assert!(eventually(Duration::from_secs(10), || async { stack.status(broadcast).await == "expired" }).await);
    let late = expired_late_ms(&stack, broadcast).await;
    assert!((0..1000).contains(&late), "expired {late} ms after expires_at");
    let reason: String = sqlx::query_scalar("SELECT terminal_reason FROM broadcasts WHERE id = $1")
        .bind(broadcast)
        .fetch_one(&stack.db)
        .await
        .unwrap();
    assert_eq!(reason, "NO_ACCEPTANCE");
    let cleaned =
        eventually(Duration::from_secs(5), || async { stack.broadcast_keys(broadcast).await.is_empty() }).await;
    assert!(cleaned, "cleanup removed every key: left {:?}", stack.broadcast_keys(broadcast).await);
    assert!(
        eventually(Duration::from_secs(5), || async {
            stack.count_events(customer_id, "broadcast_expired").await == 1
        })
        .await
    );
    assert!(
        eventually(Duration::from_secs(5), || async { stack.count_events(transporter, "broadcast_closed").await == 1 })
            .await
    );
}

#[tokio::test]
async fn filled_and_cancelled_broadcasts_leave_no_keys_and_notify_everyone() {
    let mut stack = Stack::new(&[]).await;
    stack.start_worker();
    let (customer_id, customer) = stack.customer().await;
    let (_, other_customer) = stack.customer().await;
    let (winner, winner_token) = stack.transporter_at(2.0, "bulker").await;
    let (loser, _) = stack.transporter_at(4.0, "bulker").await;
    let filled = stack.create_broadcast(&customer, &[("bulker", 1)]).await;
    let cancelled = stack.create_broadcast(&other_customer, &[("bulker", 1)]).await;
    assert!(
        eventually(Duration::from_secs(5), || async { stack.count_events(loser, "new_broadcast").await == 2 }).await
    );
    let vehicle = stack.vehicle_of(winner).await;
    let r = stack
        .client
        .post(format!("{}/v1/broadcasts/{filled}/accept", stack.api_url))
        .bearer_auth(&winner_token)
        .header("Idempotency-Key", Uuid::new_v4().to_string())
        .json(&json!({ "line": 0, "vehicleId": vehicle }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = stack
        .post(&format!("/v1/broadcasts/{cancelled}/cancel"), &other_customer, json!({ "reason": "plans changed" }))
        .await;
    assert_eq!(r.status(), 200);
    for b in [filled, cancelled] {
        assert!(
            eventually(Duration::from_secs(5), || async { stack.broadcast_keys(b).await.is_empty() }).await,
            "no key of {b} left"
        );
    }
    assert!(
        eventually(Duration::from_secs(5), || async {
            stack.count_events(customer_id, "truck_request_accepted").await == 1
        })
        .await
    );
    assert!(
        eventually(Duration::from_secs(5), || async {
            stack.count_events(customer_id, "broadcast_fully_filled").await == 1
        })
        .await
    );
    assert!(stack.count_events(customer_id, "trucks_remaining_update").await >= 1);
    // The other notified transporter's card disappears for both broadcasts.
    assert!(
        eventually(Duration::from_secs(5), || async { stack.count_events(loser, "broadcast_closed").await == 2 }).await
    );
}

#[tokio::test]
async fn kill_minus_nine_of_the_worker_loses_no_step_and_no_expiry() {
    let mut stack = Stack::new(&[("BROADCAST_TIMEOUT_SECS", "14")]).await;
    let first = stack.start_worker();
    let mut broadcasts = Vec::new();
    for _ in 0..4 {
        let (_, customer) = stack.customer().await;
        broadcasts.push(stack.create_broadcast(&customer, &[("container", 1)]).await);
    }
    // Let the first steps run and the rest be scheduled, then kill the worker hard.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stack.kill_worker(first).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    stack.start_worker();
    for b in &broadcasts {
        let done = eventually(Duration::from_secs(20), || async { stack.status(*b).await == "expired" }).await;
        assert!(done, "{b} expired after the crash");
        let step: i32 = sqlx::query_scalar("SELECT radius_step FROM broadcasts WHERE id = $1")
            .bind(b)
            .fetch_one(&stack.db)
            .await
            .unwrap();
        assert_eq!(step, 4, "{b} still expanded to the fallback");
        let expirations: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM broadcast_transitions WHERE broadcast_id = $1 AND to_status = 'expired'",
        )
        .bind(b)
        .fetch_one(&stack.db)
        .await
        .unwrap();
        assert_eq!(expirations, 1, "{b} expired exactly once");
        let reason: String = sqlx::query_scalar("SELECT terminal_reason FROM broadcasts WHERE id = $1")
            .bind(b)
            .fetch_one(&stack.db)
            .await
            .unwrap();
        assert_eq!(reason, "NO_ONLINE_TRANSPORTERS");
    }
}

#[tokio::test]
async fn a_dropped_expiry_job_is_caught_by_the_sweep() {
    let mut stack = Stack::new(&[("BROADCAST_TIMEOUT_SECS", "8"), ("WEELO_SWEEP_INTERVAL_SECS", "1")]).await;
    let (_, customer) = stack.customer().await;
    let broadcast = stack.create_broadcast(&customer, &[("tractor", 1)]).await;
    // Relay the outbox into jobs, stop the worker, and throw the jobs away before they are due.
    let first = stack.start_worker();
    let relayed = eventually(Duration::from_secs(5), || async {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE dispatched_at IS NULL")
            .fetch_one(&stack.db)
            .await
            .unwrap();
        n == 0
    })
    .await;
    assert!(relayed);
    stack.kill_worker(first).await;
    let mut c = stack.cache.conn().await.unwrap();
    let keys: Vec<String> =
        redis::cmd("KEYS").arg(format!("{}:jobs:expire_broadcast*", stack.prefix)).query_async(&mut *c).await.unwrap();
    assert!(!keys.is_empty(), "the expiry job was queued");
    let _: () = redis::cmd("DEL").arg(&keys).query_async(&mut *c).await.unwrap();
    stack.start_worker();
    // The deletion also dropped the worker's registration on that queue: it must come back.
    let (_, customer) = stack.customer().await;
    let next = stack.create_broadcast(&customer, &[("tractor", 1)]).await;
    assert!(
        eventually(Duration::from_secs(25), || async { stack.status(broadcast).await == "expired" }).await,
        "the sweep expired it"
    );
    let by_sweep = eventually(Duration::from_secs(3), || async {
        let swept: i64 =
            sqlx::query_scalar("SELECT coalesce(sum(expired), 0) FROM sweep_runs").fetch_one(&stack.db).await.unwrap();
        swept == 1
    })
    .await;
    assert!(by_sweep, "it was the sweep");
    let late = expired_late_ms(&stack, broadcast).await;
    assert!(late < 2000 + 1000 + 3000, "within the sweep's grace and interval (and load): {late} ms");
    // The restarted expiry worker handles the next broadcast on time (not the sweep).
    assert!(eventually(Duration::from_secs(20), || async { stack.status(next).await == "expired" }).await);
    let late = expired_late_ms(&stack, next).await;
    assert!(late < 1000, "the expiry queue works again: {late} ms late");
}

#[tokio::test]
async fn the_sweep_runs_once_per_tick_across_two_workers() {
    let mut stack = Stack::new(&[("WEELO_SWEEP_INTERVAL_SECS", "1")]).await;
    stack.start_worker();
    stack.start_worker();
    // An overdue broadcast whose expiry nobody scheduled: exactly one sweep expires it.
    let customer = testkit::user(&stack.db, Role::Customer).await;
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO broadcasts (id, customer_id, pickup_lat, pickup_lng, pickup_address, drop_lat, drop_lng, drop_address, distance_km, trucks_needed, expires_at)
         VALUES ($1, $2, 19, 73, 'a', 18.5, 73.8, 'b', 100, 1, now() - interval '10 seconds')",
    )
    .bind(id)
    .bind(customer)
    .execute(&stack.db)
    .await
    .unwrap();
    assert!(
        eventually(Duration::from_secs(8), || async {
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM sweep_runs").fetch_one(&stack.db).await.unwrap();
            n >= 4
        })
        .await
    );
    // Both workers claimed the ticks once both ran, and exactly one ran each: the expiry below
    // happened once.
    let (both, more): (i64, i64) =
        sqlx::query_as("SELECT count(*) FILTER (WHERE claims = 2), count(*) FILTER (WHERE claims > 2) FROM sweep_runs")
            .fetch_one(&stack.db)
            .await
            .unwrap();
    assert!(both >= 2, "ticks were claimed by both workers ({both})");
    assert_eq!(more, 0, "two workers, at most two claims per tick");
    let doubled: i64 =
        sqlx::query_scalar("SELECT count(*) FROM sweep_runs WHERE runs > 1").fetch_one(&stack.db).await.unwrap();
    assert_eq!(doubled, 0, "no tick ran twice");
    assert_eq!(stack.status(id).await, "expired");
    let expirations: i64 = sqlx::query_scalar("SELECT count(*) FROM broadcast_transitions WHERE broadcast_id = $1")
        .bind(id)
        .fetch_one(&stack.db)
        .await
        .unwrap();
    assert_eq!(expirations, 1);
}

#[tokio::test]
async fn a_backlog_of_more_due_jobs_than_lua_can_unpack_still_drains() {
    let mut stack = Stack::new(&[]).await;
    // 12,000 notify jobs queued while no worker runs (apalis' own fetch fails above ~8,000).
    let users: Vec<Uuid> = futures::future::join_all((0..10).map(|_| testkit::user(&stack.db, Role::Customer))).await;
    let conn = weelo_worker::jobs::connect(&testkit::redis_url()).await.unwrap();
    let keys = stack.cache.keys.clone();
    let pushes = (0..12_000).map(|i| {
        let event = ClientEvent::DriverStatusChanged(DriverStatus { driver_id: users[0], online: i % 2 == 0 });
        let job = weelo_worker::jobs::Notify::new(format!("backlog:{i}"), vec![users[i % users.len()]], event);
        weelo_worker::jobs::push(conn.clone(), &keys, job, weelo_worker::jobs::Schedule::NOW)
    });
    let results: Vec<_> = futures::stream::iter(pushes).buffer_unordered(64).collect().await;
    assert!(results.iter().all(Result::is_ok));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stack.start_worker();
    let drained = eventually(Duration::from_secs(90), || async {
        let mut c = stack.cache.conn().await.unwrap();
        let mut total = 0u64;
        for u in &users {
            let seq: Option<u64> =
                redis::cmd("GET").arg(stack.cache.keys.realtime_seq(*u)).query_async(&mut *c).await.unwrap();
            total += seq.unwrap_or(0);
        }
        total == 12_000
    })
    .await;
    assert!(drained, "every queued notify job ran once");
}

/// Trip timers are durable: kill -9 of the worker while a driver's response window and then a
/// restaff window are pending loses neither; the truck ends released and searching again.
#[tokio::test]
async fn kill_minus_nine_of_the_worker_loses_no_trip_timer() {
    let mut stack = Stack::new(&[("WEELO_DRIVER_RESPONSE_SECS", "3"), ("WEELO_RESTAFF_SECS", "3")]).await;
    let first = stack.start_worker();
    let (_, customer) = stack.customer().await;
    let (transporter, token) = stack.transporter_at(2.0, "trailer").await;
    let driver = stack.driver_of(transporter).await;
    let broadcast = stack.create_broadcast(&customer, &[("trailer", 1)]).await;
    let told =
        eventually(Duration::from_secs(10), || async { stack.count_events(transporter, "new_broadcast").await == 1 });
    assert!(told.await);
    let vehicle = stack.vehicle_of(transporter).await;
    let r = stack
        .client
        .post(format!("{}/v1/broadcasts/{broadcast}/accept", stack.api_url))
        .bearer_auth(&token)
        .header("Idempotency-Key", Uuid::new_v4().to_string())
        .json(&json!({ "line": 0, "vehicleId": vehicle, "driverId": driver }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let db = stack.db.clone();
    let trip_status = move || {
        let db = db.clone();
        async move {
            sqlx::query_scalar::<_, String>("SELECT status::text FROM trips WHERE driver_id = $1")
                .bind(driver)
                .fetch_one(&db)
                .await
                .unwrap()
        }
    };
    // The driver is told (so the relay has pushed the response timer), then the worker dies.
    assert!(
        eventually(Duration::from_secs(5), || async { stack.count_events(driver, "trip_assigned").await == 1 }).await
    );
    stack.kill_worker(first).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let second = stack.start_worker();
    assert!(
        eventually(Duration::from_secs(15), || async { trip_status().await == "driver_timeout" }).await,
        "the response window closed after the crash"
    );
    // The restaff timer is pending now: kill again.
    assert!(
        eventually(Duration::from_secs(5), || async { stack.count_events(transporter, "driver_timeout").await == 1 })
            .await
    );
    stack.kill_worker(second).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    stack.start_worker();
    assert!(
        eventually(Duration::from_secs(15), || async { trip_status().await == "released" }).await,
        "the restaff window closed after the crash"
    );
    let (truck, vehicle_status): (String, String) = sqlx::query_as(
        "SELECT tr.status::text, v.status::text FROM truck_requests tr, vehicles v WHERE tr.broadcast_id = $1 AND v.id = $2",
    )
    .bind(broadcast)
    .bind(vehicle)
    .fetch_one(&stack.db)
    .await
    .unwrap();
    assert_eq!((truck.as_str(), vehicle_status.as_str()), ("searching", "available"));
    assert_eq!(stack.status(broadcast).await, "active", "the search reopened");
}

/// Holds on the real binaries, as a phone drives them: hold -> confirm (the driver is told),
/// hold -> release (the other transporter hears the count go back up), and hold -> expiry with
/// the worker killed -9 after the hold was placed: the expiry still gives the trucks back.
#[tokio::test]
async fn holds_confirm_release_and_expire_across_a_kill_minus_nine() {
    let mut stack = Stack::new(&[("WEELO_HOLD_SECS", "3")]).await;
    let first = stack.start_worker();
    let (_, customer) = stack.customer().await;
    let (transporter, token) = stack.transporter_at(2.0, "trailer").await;
    let (other, _) = stack.transporter_at(3.0, "trailer").await;
    let driver = stack.driver_of(transporter).await;
    let vehicle = stack.vehicle_of(transporter).await;
    let broadcast = stack.create_broadcast(&customer, &[("trailer", 3)]).await;
    let told = eventually(Duration::from_secs(10), || async {
        stack.count_events(transporter, "new_broadcast").await == 1
            && stack.count_events(other, "new_broadcast").await == 1
    });
    assert!(told.await);
    let (client, api_url) = (stack.client.clone(), stack.api_url.clone());
    let command = |path: String, body: Value| {
        let (client, url, token) = (client.clone(), api_url.clone(), token.clone());
        async move {
            let r = client
                .post(format!("{url}{path}"))
                .bearer_auth(token)
                .header("Idempotency-Key", Uuid::new_v4().to_string())
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{path}");
            r.json::<Value>().await.unwrap()
        }
    };
    let holds = format!("/v1/broadcasts/{broadcast}/holds");
    let pool = stack.db.clone();
    let trucks = |status: &'static str| {
        let db = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM truck_requests WHERE broadcast_id = $1 AND status::text = $2",
            )
            .bind(broadcast)
            .bind(status)
            .fetch_one(&db)
            .await
            .unwrap()
        }
    };

    // hold -> confirm: a trip, and its driver told.
    let h = command(holds.clone(), json!({ "line": 0, "quantity": 1 })).await;
    let id = h["id"].as_str().unwrap();
    let crew = json!({ "assignments": [{ "vehicleId": vehicle, "driverId": driver }] });
    assert_eq!(command(format!("/v1/holds/{id}/confirm"), crew).await["status"], "confirmed");
    assert!(
        eventually(Duration::from_secs(5), || async { stack.count_events(driver, "trip_assigned").await == 1 }).await
    );

    // hold -> release: the other transporter hears the count drop and come back.
    let before = stack.count_events(other, "trucks_remaining_update").await;
    let h = command(holds.clone(), json!({ "line": 0, "quantity": 2 })).await;
    assert_eq!(h["held"], 2);
    let id = h["id"].as_str().unwrap();
    assert_eq!(command(format!("/v1/holds/{id}/release"), json!({})).await["status"], "released");
    assert!(
        eventually(Duration::from_secs(5), || async {
            stack.count_events(other, "trucks_remaining_update").await >= before + 2
        })
        .await
    );
    assert_eq!(trucks("searching").await, 2);

    // hold -> expiry, the worker killed once the expiry job is queued.
    let h = command(holds, json!({ "line": 0, "quantity": 2 })).await;
    assert_eq!(trucks("held").await, 2);
    let hold_id = Uuid::parse_str(h["id"].as_str().unwrap()).unwrap();
    assert!(
        eventually(Duration::from_secs(5), || async {
            sqlx::query_scalar::<_, bool>(
                "SELECT EXISTS (SELECT 1 FROM outbox WHERE kind = 'hold_changed' AND payload->>'holdId' = $1::text
                                AND dispatched_at IS NOT NULL)",
            )
            .bind(hold_id)
            .fetch_one(&stack.db)
            .await
            .unwrap()
        })
        .await,
        "the relay pushed the hold's expiry job"
    );
    stack.kill_worker(first).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    stack.start_worker();
    assert!(
        eventually(Duration::from_secs(15), || async {
            sqlx::query_scalar::<_, String>("SELECT status::text FROM truck_holds WHERE id = $1")
                .bind(hold_id)
                .fetch_one(&stack.db)
                .await
                .unwrap()
                == "expired"
        })
        .await,
        "the hold expired after the crash"
    );
    assert_eq!((trucks("held").await, trucks("searching").await), (0, 2));
}

/// A Redis of this test's own (the shared one serves every other test), restartable.
struct PrivateRedis {
    port: u16,
    dir: std::path::PathBuf,
    child: Option<tokio::process::Child>,
}

impl PrivateRedis {
    async fn start() -> Self {
        let port = testkit::closed_port();
        let dir = std::env::temp_dir().join(format!("weelo-redis-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut r = Self { port, dir, child: None };
        r.spawn().await;
        r
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts redis-server (AOF on, as ElastiCache keeps data across a failover) and waits for PING.
    async fn spawn(&mut self) {
        let child = tokio::process::Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--appendonly", "yes", "--save", ""])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server");
        self.child = Some(child);
        let url = self.url();
        let up = eventually(Duration::from_secs(10), || async {
            let Ok(client) = redis::Client::open(url.as_str()) else { return false };
            let Ok(mut c) = client.get_multiplexed_async_connection().await else { return false };
            redis::cmd("PING").query_async::<String>(&mut c).await.is_ok()
        })
        .await;
        assert!(up, "the private redis-server answers on {}", self.port);
    }

    /// SIGTERM (it writes its AOF and exits), then start it again on the same port.
    async fn restart(&mut self) {
        let mut child = self.child.take().expect("running");
        let pid = child.id().expect("pid").to_string();
        assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        tokio::time::timeout(Duration::from_secs(10), child.wait()).await.expect("redis-server stopped").unwrap();
        self.spawn().await;
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Redis restarted under load, three times (issue 13's stall, made deterministic): afterwards
/// every queue still moves. Every broadcast expands to its fallback and expires once and on
/// time (its jobs ran, not only the sweep), and a broadcast created after the last restart
/// reaches an online transporter at once.
#[tokio::test]
async fn redis_restarted_under_load_three_times_leaves_no_queue_stuck() {
    let mut redis = PrivateRedis::start().await;
    let mut stack = Stack::new(&[
        ("REDIS_URL", &redis.url()),
        ("BROADCAST_TIMEOUT_SECS", "14"),
        ("WEELO_QUEUE_STALL_SECS", "3"),
        ("WEELO_SWEEP_INTERVAL_SECS", "30"),
    ])
    .await;
    stack.start_worker();
    let mut broadcasts = Vec::new();
    for _ in 0..3 {
        for _ in 0..3 {
            let (_, customer) = stack.customer().await;
            broadcasts.push(stack.create_broadcast(&customer, &[("container", 1)]).await);
        }
        tokio::time::sleep(Duration::from_millis(700)).await;
        redis.restart().await;
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    // After the last restart: a new broadcast reaches an online transporter through the queues.
    let (transporter, _) = stack.transporter_at(2.0, "open").await;
    let (_, customer) = stack.customer().await;
    let fresh = stack.create_broadcast(&customer, &[("open", 1)]).await;
    let told =
        eventually(Duration::from_secs(8), || async { stack.count_events(transporter, "new_broadcast").await == 1 });
    assert!(told.await, "expand_radius and notify move after three restarts");
    for b in &broadcasts {
        let done = eventually(Duration::from_secs(30), || async { stack.status(*b).await == "expired" }).await;
        assert!(done, "{b} expired");
        let (step, late, expirations): (i32, f64, i64) = sqlx::query_as(
            "SELECT b.radius_step, EXTRACT(EPOCH FROM (b.closed_at - b.expires_at))::float8,
                    (SELECT count(*) FROM broadcast_transitions t WHERE t.broadcast_id = b.id AND t.to_status = 'expired')
             FROM broadcasts b WHERE b.id = $1",
        )
        .bind(b)
        .fetch_one(&stack.db)
        .await
        .unwrap();
        assert_eq!(step, 4, "{b}: every radius step ran");
        assert_eq!(expirations, 1, "{b}: expired exactly once");
        // The sweep runs every 30 s here: an expiry this close to its time was its own job's.
        assert!(late < 5.0, "{b}: expired {late:.1} s late, so its queue was not stuck");
    }
    assert!(stack.status(fresh).await == "active");
    stack.settle().await;
}

/// Consumers wake on the push, not on their poll: with the fallback poll at a minute, a create
/// still reaches the transporter in reach at once, and the next radius step (a scheduled task
/// the promoter makes due) reaches the farther one at its step, not a minute later.
#[tokio::test]
async fn a_pushed_or_promoted_task_wakes_its_consumer_without_waiting_for_the_poll() {
    let mut stack = Stack::new(&[("WEELO_JOB_POLL_INTERVAL_MS", "60000"), ("WEELO_JOB_HEARTBEAT_MS", "30000")]).await;
    stack.start_worker();
    let (_, customer) = stack.customer().await;
    let (near, _) = stack.transporter_at(5.0, "open").await;
    let (far, _) = stack.transporter_at(20.0, "open").await;
    stack.settle().await;
    let broadcast = stack.create_broadcast(&customer, &[("open", 1)]).await;
    let told = |t: Uuid| {
        let stack = &stack;
        async move { stack.count_events(t, "new_broadcast").await == 1 }
    };
    assert!(
        eventually(Duration::from_secs(10), || told(near)).await,
        "{broadcast}: the first step's push woke its consumer"
    );
    assert!(
        eventually(Duration::from_secs(10), || told(far)).await,
        "{broadcast}: the promoted second step woke its consumer"
    );
}
