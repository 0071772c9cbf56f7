//! Integration tests for weelo-api: real PostgreSQL (a fresh database per test) and real Redis
//! (a key prefix per test), driven over HTTP.

mod abuse;
mod auth;
mod broadcasts;
mod console;
mod e2e;
mod fleet;
mod health;
mod helpers;
mod holds;
mod jobs;
mod lines;
mod presence;
mod races;
mod spec;
mod trips;
mod verification;
