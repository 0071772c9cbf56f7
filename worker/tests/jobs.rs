//! The job pipeline end to end: a job pushed onto apalis-redis (under this test's prefix) is
//! picked up by the running worker and changes the database; the ops server answers.

use std::time::Duration;

use weelo_shared::jobs::{self, PruneAuth};
use weelo_shared::shutdown::Shutdown;
use weelo_shared::testkit::{self, TestDb};

#[tokio::test]
async fn a_pushed_job_runs_on_the_worker_and_shutdown_is_clean() {
    let db = TestDb::new().await;
    let pool = db.pool().await;
    let prefix = testkit::redis_prefix();
    let config = testkit::config(&db, &prefix, &[]);
    // An OTP challenge long dead, and one still fresh.
    sqlx::query(
        "INSERT INTO otp_challenges (id, phone, role, code_hash, expires_at)
         VALUES (gen_random_uuid(), '+919876543210', 'customer', 'x', now() - interval '3 days'),
                (gen_random_uuid(), '+919876543211', 'customer', 'y', now() + interval '5 minutes')",
    )
    .execute(&pool)
    .await
    .unwrap();

    let shutdown = Shutdown::new();
    let running = weelo_worker::start(config.clone(), shutdown.clone())
        .await
        .expect("worker starts");
    let ready = reqwest::get(format!("http://{}/health/ready", running.addr))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);

    // The start-up housekeeping push is deduplicated per hour; push an explicit one as well.
    let conn = jobs::connect(config.redis_url.expose()).await.unwrap();
    let keys = weelo_shared::cache::Keys::new(prefix.clone());
    jobs::push(
        conn,
        &keys,
        PruneAuth {
            older_than_secs: 24 * 3600,
        },
    )
    .await
    .unwrap();

    let mut remaining = i64::MAX;
    for _ in 0..100 {
        remaining = sqlx::query_scalar("SELECT count(*) FROM otp_challenges")
            .fetch_one(&pool)
            .await
            .unwrap();
        if remaining == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        remaining, 1,
        "the dead challenge was pruned and the fresh one kept"
    );
    let fresh: String = sqlx::query_scalar("SELECT phone FROM otp_challenges")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(fresh, "+919876543211");

    // The handler records its metric right after the delete commits.
    let mut metrics = String::new();
    for _ in 0..50 {
        metrics = reqwest::get(format!("http://{}/metrics", running.addr))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if metrics.contains("auth_records_pruned_total") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(metrics.contains("auth_records_pruned_total"), "{metrics}");

    shutdown.trigger();
    let result = tokio::time::timeout(Duration::from_secs(10), running.task)
        .await
        .expect("stops within 10 s");
    result.unwrap().expect("clean exit");
}
