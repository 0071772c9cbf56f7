//! End to end: the real `weelo-api` and `weelo-worker` binaries on real PostgreSQL and Redis
//! (a database and key prefix per test), driven over HTTP the way the apps do, with radius
//! steps, timeouts and the sweep shortened by configuration.

mod console;
mod helpers;
mod lifecycle;
mod matching;
mod push;
mod realtime;
mod socket_agent;
mod watchdog;
