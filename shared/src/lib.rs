//! Weelo's shared library: the pure domain, the adapters around it (Postgres, Redis, jobs,
//! secrets), and the configuration and telemetry both binaries start from.

pub mod admin;
pub mod auth;
pub mod cache;
pub mod config;
pub mod console;
pub mod db;
pub mod domain;
pub mod error;
pub mod events;
pub mod fleet;
pub mod idempotency;
pub mod lifecycle;
pub mod ops;
pub mod outbox;
pub mod presence;
pub mod push;
pub mod ratelimit;
pub mod realtime;
pub mod secrets;
pub mod shutdown;
pub mod telemetry;

#[cfg(feature = "testkit")]
pub mod testkit;
