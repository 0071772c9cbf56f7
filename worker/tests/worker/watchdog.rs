//! The job spine's watchdog and reclaim, in process against real Redis: a queue with due work
//! that does not move is reported (readiness names it) and its consumer is told to go; a
//! replaced consumer's in-flight tasks go back to the queue and run.

use std::time::Duration;

use redis::AsyncCommands;
use uuid::Uuid;
use weelo_shared::shutdown::Shutdown;
use weelo_shared::testkit::{self, TestDb};
use weelo_worker::jobs::{self, CleanupBroadcast, Job, Schedule};
use weelo_worker::{WorkerState, drain, watchdog};

use crate::helpers::{Stack, eventually};

async fn state(extra: &[(&str, &str)]) -> (TestDb, WorkerState) {
    let db = TestDb::new().await;
    let config = testkit::config(&db, &testkit::redis_prefix(), extra);
    let state = WorkerState::connect(config).await.expect("worker state");
    (db, state)
}

#[tokio::test]
async fn a_queue_with_due_work_that_does_not_move_is_reported_and_its_consumer_replaced() {
    let (_db, state) = state(&[("WEELO_QUEUE_STALL_SECS", "2")]).await;
    // Due work, and no consumer taking it (what a dropped apalis worker leaves behind).
    state.enqueue(CleanupBroadcast { broadcast_id: Uuid::now_v7() }, Schedule::NOW).await.unwrap();
    let shutdown = Shutdown::new();
    let run = state.watchdog.clone().run(state.jobs.clone(), state.cache.keys.clone(), shutdown.clone());
    let watch = tokio::spawn(run);
    let queue = CleanupBroadcast::QUEUE;
    assert!(weelo_worker::readiness(&state).await.queues.as_deref() == Some("ok"), "not stalled before the bound");
    let kicked = tokio::time::timeout(Duration::from_secs(8), state.watchdog.stalled(queue)).await;
    assert!(kicked.is_ok(), "the consumer of a stalled queue is told to go");
    assert_eq!(state.watchdog.stalled_queues(), vec![queue]);
    let ready = weelo_worker::readiness(&state).await;
    assert_eq!(ready.status, "unavailable");
    assert_eq!(ready.queues.as_deref(), Some("stalled: cleanup_broadcast"));
    // Once the work is done the queue is healthy again.
    assert_eq!(drain::run_pending_jobs(&state).await.unwrap(), 1);
    assert!(eventually(Duration::from_secs(4), || async { state.watchdog.stalled_queues().is_empty() }).await);
    assert_eq!(weelo_worker::readiness(&state).await.status, "ok");
    shutdown.trigger();
    watch.await.unwrap();
}

#[tokio::test]
async fn a_replaced_consumers_in_flight_tasks_go_back_to_the_queue_and_run() {
    let (_db, state) = state(&[]).await;
    let queue = CleanupBroadcast::QUEUE;
    for _ in 0..3 {
        state.enqueue(CleanupBroadcast { broadcast_id: Uuid::now_v7() }, Schedule::NOW).await.unwrap();
    }
    // A consumer fetched all three and then vanished with them in flight (as apalis leaves them
    // when a Redis error drops the worker future).
    let cfg = jobs::queue_config(&state.cache.keys, queue);
    let mut conn = state.jobs.clone();
    let name = format!("{queue}@test:{}", Uuid::now_v7());
    // (Pushed "now" they wait in the scheduled set for the next fetch.)
    let ids: Vec<String> = conn.zrange(cfg.scheduled_jobs_set(), 0, -1).await.unwrap();
    assert_eq!(ids.len(), 3);
    let _: () = conn.del(cfg.scheduled_jobs_set()).await.unwrap();
    let inflight = format!("{}:{name}", cfg.inflight_jobs_set());
    let _: () = conn.sadd(&inflight, &ids).await.unwrap();
    let _: () = conn.zadd(cfg.workers_set(), &name, 1).await.unwrap();
    let meta = format!("{}:workers:metadata:{name}", state.cache.keys.queue(queue));
    let _: () = conn.hset(&meta, "backend", "redis").await.unwrap();
    assert_eq!(drain::pending(state.jobs.clone(), &state.cache.keys).await.unwrap(), vec![], "nothing looks due");

    assert_eq!(watchdog::reclaim(&mut conn, &state.cache.keys, queue, &name).await.unwrap(), 3);
    let exists: bool = conn.exists(&inflight).await.unwrap();
    assert!(!exists, "the in-flight set is gone");
    let registered: Option<f64> = conn.zscore(cfg.workers_set(), &name).await.unwrap();
    assert_eq!(registered, None, "the departed consumer is unregistered");
    let meta_left: bool = conn.exists(&meta).await.unwrap();
    assert!(!meta_left, "its metadata is gone");
    assert_eq!(drain::pending(state.jobs.clone(), &state.cache.keys).await.unwrap(), vec![(queue.to_owned(), 3)]);
    assert_eq!(drain::run_pending_jobs(&state).await.unwrap(), 3, "every reclaimed task ran");
}

/// A poison outbox row (one the relay can never dispatch) backs off exponentially and holds up
/// nothing behind it; after its attempts it is a dead letter, and a retry puts it back.
#[tokio::test]
async fn a_poison_outbox_row_backs_off_holds_up_nothing_and_ends_a_dead_letter() {
    let mut stack = Stack::new(&[("WEELO_OUTBOX_MAX_ATTEMPTS", "3")]).await;
    stack.start_worker();
    let poison: i64 =
        sqlx::query_scalar("INSERT INTO outbox (kind, payload) VALUES ('no_such_event', '{}') RETURNING id")
            .fetch_one(&stack.db)
            .await
            .unwrap();
    let (transporter, _) = stack.transporter_at(2.0, "open").await;
    let (_, customer) = stack.customer().await;
    stack.create_broadcast(&customer, &[("open", 1)]).await;
    let flowed =
        eventually(Duration::from_secs(10), || async { stack.count_events(transporter, "new_broadcast").await >= 1 })
            .await;
    assert!(flowed, "the broadcast's events went past the poison row");
    let backed_off = eventually(Duration::from_secs(10), || async {
        let attempts: i32 = sqlx::query_scalar("SELECT attempts FROM outbox WHERE id = $1")
            .bind(poison)
            .fetch_one(&stack.db)
            .await
            .unwrap();
        attempts >= 2
    })
    .await;
    assert!(backed_off, "the poison row was retried");
    let (attempts, wait, dispatched): (i32, f64, bool) = sqlx::query_as(
        "SELECT attempts, EXTRACT(EPOCH FROM (available_at - now()))::float8, dispatched_at IS NOT NULL
         FROM outbox WHERE id = $1",
    )
    .bind(poison)
    .fetch_one(&stack.db)
    .await
    .unwrap();
    if attempts < 3 {
        assert!(!dispatched, "not given up before its third attempt");
        let expected = 2f64.powi(attempts - 1);
        assert!(wait > expected - 1.5 && wait <= expected, "attempt {attempts} waits {wait:.1} s, about 2^(n-1) s");
    }
    // The third failure gives it up into the dead letters, out of the outbox's way.
    let db = stack.db.clone();
    let letters = || {
        let db = db.clone();
        async move {
            sqlx::query_as::<_, (i64, String)>(
                "SELECT id, status FROM dead_letters WHERE queue = 'outbox' AND (payload->>'outboxId')::int8 = $1 ORDER BY id",
            )
            .bind(poison)
            .fetch_all(&db)
            .await
            .unwrap()
        }
    };
    assert!(
        eventually(Duration::from_secs(10), || async { letters().await.len() == 1 }).await,
        "kept as a dead letter"
    );
    let (letter, status) = letters().await.remove(0);
    assert_eq!(status, "dead");
    let left: bool = sqlx::query_scalar("SELECT dispatched_at IS NOT NULL FROM outbox WHERE id = $1")
        .bind(poison)
        .fetch_one(&stack.db)
        .await
        .unwrap();
    assert!(left, "out of the relay's way");
    // A retry puts the row back for the relay; still poison, it fails again into a new letter.
    let admin = testkit::user(&stack.db, weelo_shared::domain::Role::Admin).await;
    let which = weelo_shared::admin::DeadLetters::One(letter);
    weelo_shared::admin::resolve_dead_letters(&stack.db, which, true, admin, "try once more").await.unwrap();
    let again = eventually(Duration::from_secs(15), || async {
        let l = letters().await;
        l.len() == 2 && l[0].1 == "retried" && l[1].1 == "dead"
    });
    assert!(again.await, "retried, failed its attempts again, kept again: {:?}", letters().await);
    stack.settle().await;
}
