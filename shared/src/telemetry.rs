//! Logging and metrics, initialised once per process.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::{EnvFilter, fmt, prelude::*};

use crate::config::LogFormat;

tokio::task_local! {
    /// The id of the HTTP request being served (set by `ops::observe`), so outbox rows can carry
    /// it into the jobs they cause.
    pub static REQUEST_ID: String;
}

/// The current request's id, if this code runs inside one.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// Installs the tracing subscriber: human-readable by default, JSON when `WEELO_LOG_FORMAT=json`.
/// `RUST_LOG` overrides the default level filter.
pub fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,apalis=info,aws_config=warn,aws_smithy_runtime=warn"));
    let registry = tracing_subscriber::registry().with(filter);
    let result = match format {
        LogFormat::Json => registry.with(fmt::layer().json().flatten_event(true).with_current_span(true)).try_init(),
        LogFormat::Pretty => registry.with(fmt::layer().compact()).try_init(),
    };
    // A second init (tests running several apps in one process) keeps the first subscriber.
    let _ = result;
}

/// The process-wide Prometheus recorder; installed on first use.
pub fn metrics() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let seconds = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), seconds)
            .expect("static bucket list is not empty")
            .build_recorder();
        let handle = recorder.handle();
        // Tests may already have a global recorder from another app in the same process.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}
