//! Ops endpoints: liveness, readiness with its failure modes, metrics, request ids, errors.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{assert_problem, spawn_app, spawn_app_with};

#[tokio::test]
async fn ready_when_postgres_and_redis_answer() {
    let app = spawn_app().await;
    let r = app.client.get(app.url("/health/ready")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["postgres"], "ok");
    assert_eq!(body["redis"], "ok");
    assert_eq!(app.client.get(app.url("/health/live")).send().await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn readiness_is_503_naming_redis_when_redis_is_unreachable() {
    let port = weelo_shared::testkit::closed_port().to_string();
    let url = format!("redis://127.0.0.1:{port}");
    let app = spawn_app_with(&[("REDIS_URL", &url)]).await;
    let r = app.client.get(app.url("/health/ready")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["postgres"], "ok");
    assert!(body["redis"].as_str().unwrap().starts_with("error"), "{body}");
    // Liveness does not depend on Redis.
    assert_eq!(app.client.get(app.url("/health/live")).send().await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn metrics_count_requests_per_route_and_every_response_has_a_request_id() {
    let app = spawn_app().await;
    let r = app.client.get(app.url("/health/live")).header("x-request-id", "trace-me-123").send().await.unwrap();
    assert_eq!(r.headers()["x-request-id"], "trace-me-123");
    let r = app.client.get(app.url("/v1/me")).send().await.unwrap();
    assert!(uuid::Uuid::parse_str(r.headers()["x-request-id"].to_str().unwrap()).is_ok());
    let text = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(text.contains("http_requests_total{method=\"GET\",route=\"/health/live\",status=\"200\"}"), "{text}");
    assert!(text.contains("http_request_duration_seconds_bucket{method=\"GET\",route=\"/v1/me\""), "{text}");
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems() {
    let app = spawn_app().await;
    assert_problem(app.client.get(app.url("/v1/nothing-here")).send().await.unwrap(), 404, "NOT_FOUND").await;
    assert_problem(app.client.delete(app.url("/v1/me")).send().await.unwrap(), 405, "METHOD_NOT_ALLOWED").await;
    let docs = app.client.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(docs.status(), StatusCode::OK);
    assert!(docs.text().await.unwrap().contains("swagger"));
}

#[tokio::test]
async fn a_405_names_the_allowed_methods() {
    let app = spawn_app().await;
    let r = app
        .client
        .request(reqwest::Method::TRACE, app.url("/v1/transporters/me/vehicles/00000000-0000-0000-0000-000000000001"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    let allow = r.headers()["allow"].to_str().unwrap().to_owned();
    for m in ["GET", "PATCH", "DELETE"] {
        assert!(allow.contains(m), "{allow}");
    }
    assert_problem(r, 405, "METHOD_NOT_ALLOWED").await;
    // A body field of the wrong JSON type is refused, not coerced into text.
    let (_, me) = app.user("transporter").await;
    let r = app
        .post_auth("/v1/transporters/me/drivers", &me, serde_json::json!({ "phone": 9876500077u64, "name": false }))
        .await;
    assert_problem(r, 422, "VALIDATION_FAILED").await;
}

/// A private cluster-mode Redis (as ElastiCache Serverless is), killed on drop.
struct ClusterRedis {
    url: String,
    child: std::process::Child,
    _dir: std::path::PathBuf,
}

impl Drop for ClusterRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self._dir);
    }
}

async fn cluster_redis() -> ClusterRedis {
    let port = weelo_shared::testkit::closed_port();
    let dir = std::env::temp_dir().join(format!("weelo-cluster-redis-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let child = std::process::Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--cluster-enabled",
            "yes",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .arg("--dir")
        .arg(&dir)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("redis-server (Debian's redis-server package) starts");
    let url = format!("redis://127.0.0.1:{port}");
    let client = redis::Client::open(url.as_str()).unwrap();
    for _ in 0..100 {
        if let Ok(mut c) = client.get_multiplexed_async_connection().await {
            let _: () = redis::cmd("CLUSTER").arg("ADDSLOTSRANGE").arg(0).arg(16383).query_async(&mut c).await.unwrap();
            return ClusterRedis { url, child, _dir: dir };
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let mut child = child;
    let _ = child.kill();
    let _ = child.wait();
    panic!("the cluster-mode redis-server did not start");
}

/// Both binaries refuse a cluster-mode Redis at start with a message that says why, instead of
/// running with no job ever executing while readiness says ok.
#[tokio::test]
async fn both_binaries_refuse_a_cluster_mode_redis_at_start() {
    let cluster = cluster_redis().await;
    let db = weelo_shared::testkit::TestDb::new().await;
    let prefix = weelo_shared::testkit::redis_prefix();
    let config = weelo_shared::testkit::config(&db, &prefix, &[("REDIS_URL", cluster.url.as_str())]);
    let api = weelo_api::start(config.clone(), None, weelo_shared::shutdown::Shutdown::new()).await;
    let err = format!("{:#}", api.err().expect("the API refuses to start"));
    assert!(err.contains("cluster-mode Redis"), "{err}");
    let worker = weelo_worker::WorkerState::connect(config).await;
    let err = format!("{:#}", worker.err().expect("the worker refuses to start"));
    assert!(err.contains("cluster-mode Redis"), "{err}");
}
