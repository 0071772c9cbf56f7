//! `just bench`: measures the targets of issue 8 against release builds of `weelo-api` and
//! `weelo-worker` on this machine's PostgreSQL and Redis, side by side with pgbench and
//! redis-benchmark in the same run, and writes docs/BENCHMARKS.md. Each scenario runs on a fresh
//! database and Redis prefix with fresh processes, so each peak RSS belongs to one scenario.

mod stack;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use serde_json::json;
use stack::{Stack, percentile};
use uuid::Uuid;
use weelo_shared::domain::Role;
use weelo_shared::events::{ClientEvent, DriverStatus};
use weelo_shared::testkit;
use weelo_worker::jobs::{self, Notify, Schedule};

/// One line of the results table.
struct Row {
    scenario: &'static str,
    metric: String,
    value: String,
    goal: String,
    baseline: String,
    rss: String,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let only: Option<String> = std::env::args().nth(1);
    let want = |name: &str| only.as_deref().is_none_or(|o| o == name);
    let mut rows = Vec::new();
    let baselines = stack::baselines().await?;
    eprintln!("baselines: {baselines:?}");
    if want("contention") {
        rows.extend(contention(&baselines, Take::Accept).await?);
        rows.extend(contention(&baselines, Take::Hold).await?);
    }
    if want("creates") {
        rows.extend(creates(&baselines).await?);
    }
    if want("fanout") {
        rows.extend(fanout().await?);
    }
    if want("expiry") {
        rows.extend(expiry().await?);
    }
    if want("worker") {
        rows.extend(worker_throughput(&baselines).await?);
    }
    if want("soak") {
        rows.extend(soak().await?);
    }
    let report = render(&rows, &baselines)?;
    print!("{report}");
    if only.is_none() {
        std::fs::write(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/BENCHMARKS.md"), &report)?;
        eprintln!("wrote docs/BENCHMARKS.md");
    }
    Ok(())
}

/// How the contention scenario takes trucks.
#[derive(Clone, Copy, PartialEq)]
enum Take {
    /// `BENCH_ACCEPTS` (500) accepts of one truck each.
    Accept,
    /// `BENCH_HOLDS` (50) holds of one truck each (a hold leaves the broadcast open, so each run
    /// replaces the last).
    Hold,
}

/// 500 concurrent accepts, or 50 concurrent holds, on one 10-truck broadcast, 20 times.
async fn contention(base: &HashMap<String, f64>, take: Take) -> anyhow::Result<Vec<Row>> {
    let runs = env_usize("BENCH_CONTENTION_RUNS", 20);
    let (accepts, scenario, verb) = match take {
        Take::Accept => (env_usize("BENCH_ACCEPTS", 500), "1. contention", "accept"),
        Take::Hold => (env_usize("BENCH_HOLDS", 50), "1b. hold contention", "hold"),
    };
    let workers = env_usize("BENCH_CONTENTION_WORKERS", 1);
    let s = Stack::start("contention", &[("WEELO_DB_MAX_CONNECTIONS", "40")], workers).await?;
    let customer = testkit::user(&s.db, Role::Customer).await;
    let customer_token = s.token(customer, Role::Customer);
    let transporters = s.users(Role::Transporter, accepts).await?;
    let tokens: Vec<String> = transporters.iter().map(|t| s.token(*t, Role::Transporter)).collect();
    let (mut latencies, mut cold) = (Vec::new(), Vec::new());
    let (mut winners_ok, mut five_xx) = (true, 0usize);
    let mut winners_per_run = Vec::new();
    let mut cpu_total: HashMap<String, f64> = HashMap::new();
    // Run 0 opens the client's connections and grows the API's pool: reported on its own row,
    // not mixed into the steady-state percentiles.
    for run in 0..=runs {
        let broadcast = s.create(&customer_token, 19.0, 73.0, "open", 10, take == Take::Hold).await?;
        s.notify_all(broadcast, &transporters).await?;
        let vehicles = s.vehicles(&transporters, "open", run).await?;
        let cpu_before = cpu_by_command();
        let started = Instant::now();
        let futs = tokens.iter().zip(&vehicles).map(|(token, vehicle)| {
            let (path, body) = match take {
                Take::Accept => ("accept", json!({ "line": 0, "vehicleId": vehicle })),
                Take::Hold => ("holds", json!({ "line": 0, "quantity": 1 })),
            };
            let req = s
                .client
                .post(format!("{}/v1/broadcasts/{broadcast}/{path}", s.api_url))
                .bearer_auth(token)
                .header("Idempotency-Key", Uuid::new_v4().to_string())
                .json(&body);
            async move {
                let t = Instant::now();
                let status = req.send().await.map(|r| r.status().as_u16()).unwrap_or(599);
                (status, t.elapsed())
            }
        });
        let results = futures::future::join_all(futs).await;
        let wall = started.elapsed();
        let winners = results.iter().filter(|r| r.0 == 200).count();
        five_xx += results.iter().filter(|r| r.0 >= 500).count();
        winners_ok &= winners == 10;
        winners_per_run.push(winners);
        let spent = cpu_spent(&cpu_before, &cpu_by_command());
        if run == 0 {
            cold.extend(results.iter().map(|r| ms(r.1)));
        } else {
            latencies.extend(results.iter().map(|r| ms(r.1)));
            for (command, spent_ms) in &spent {
                *cpu_total.entry(command.clone()).or_insert(0.0) += spent_ms;
            }
        }
        let cpu = largest(&spent);
        eprintln!("{scenario} run {run}: {winners} winners, wall {:.0} ms, CPU ms {cpu}", ms(wall));
    }
    let cpu_per_run: Vec<String> = ["postgres", "weelo-api", "weelo-worker", "redis-server", "weelo-bench"]
        .iter()
        .map(|c| format!("{c} {:.0}", cpu_total.get(*c).copied().unwrap_or(0.0) / runs as f64))
        .collect();
    let refused_by = s.api_counters("take_refused_total").await;
    let rss = s.rss();
    s.stop().await;
    let p50 = percentile(&mut latencies, 50.0);
    let p99 = percentile(&mut latencies, 99.0);
    let (cold_p50, cold_p99) = (percentile(&mut cold, 50.0), percentile(&mut cold, 99.0));
    let pg = base.get("pgbench_update_insert_latency_ms").copied().unwrap_or(f64::NAN);
    Ok(vec![
        Row {
            scenario,
            metric: format!("winners per run ({} runs x {accepts} {verb}s)", runs + 1),
            value: format!("{} ({})", if winners_ok { "always 10" } else { "NOT 10" }, summarize(&winners_per_run)),
            goal: "10".into(),
            baseline: String::new(),
            rss: rss.clone(),
        },
        Row {
            scenario,
            metric: format!("{verb} latency p50 / p99 ({runs} runs after the first)"),
            value: format!("{p50:.1} / {p99:.1} ms"),
            goal: "p99 < 50 ms (brief) / < 100 ms (issue)".into(),
            baseline: format!("pgbench update+insert {pg:.2} ms avg at 32 clients ({:.0}x)", p99 / pg),
            rss: rss.clone(),
        },
        Row {
            scenario,
            metric: format!("{verb} latency p50 / p99, first run (new connections)"),
            value: format!("{cold_p50:.1} / {cold_p99:.1} ms"),
            goal: String::new(),
            baseline: String::new(),
            rss: rss.clone(),
        },
        Row {
            scenario,
            metric: "losers refused by (all runs)".into(),
            value: refused_by,
            goal: String::new(),
            baseline: String::new(),
            rss: rss.clone(),
        },
        Row {
            scenario,
            metric: format!("CPU per run of {accepts} {verb}s, ms ({workers} worker)"),
            value: cpu_per_run.join(", "),
            goal: String::new(),
            baseline: "all on the same 2 cores".into(),
            rss: rss.clone(),
        },
        Row {
            scenario,
            metric: "5xx".into(),
            value: five_xx.to_string(),
            goal: "0".into(),
            baseline: String::new(),
            rss,
        },
    ])
}

/// CPU time (user + system, ms) of every process on the machine, summed by command name.
fn cpu_by_command() -> HashMap<String, f64> {
    let tick_ms = 1000.0 / 100.0; // USER_HZ
    let mut by = HashMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else { continue };
        let comm = stat[open + 1..close].to_owned();
        let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        let ticks: f64 = [11, 12].iter().filter_map(|i| fields.get(*i)?.parse::<f64>().ok()).sum();
        *by.entry(comm).or_insert(0.0) += ticks * tick_ms;
    }
    by
}

/// What each command spent between two `cpu_by_command` readings (ms).
fn cpu_spent(before: &HashMap<String, f64>, after: &HashMap<String, f64>) -> HashMap<String, f64> {
    after.iter().map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0.0))).collect()
}

/// The commands that spent more than 5 ms, largest first.
fn largest(spent: &HashMap<String, f64>) -> String {
    let mut big: Vec<(&String, &f64)> = spent.iter().filter(|(_, d)| **d > 5.0).collect();
    big.sort_by(|a, b| b.1.partial_cmp(a.1).unwrap_or(std::cmp::Ordering::Equal));
    big.iter().map(|(k, d)| format!("{k} {d:.0}")).collect::<Vec<_>>().join(", ")
}

fn summarize(v: &[usize]) -> String {
    let mut counts: HashMap<usize, usize> = HashMap::new();
    for x in v {
        *counts.entry(*x).or_default() += 1;
    }
    let mut parts: Vec<String> = counts.iter().map(|(k, n)| format!("{n} runs: {k}")).collect();
    parts.sort();
    parts.join(", ")
}

/// Distinct customers creating (replacing their open broadcast) at rising concurrency.
async fn creates(base: &HashMap<String, f64>) -> anyhow::Result<Vec<Row>> {
    let secs = env_usize("BENCH_CREATE_SECS", 10) as u64;
    let mut rows = Vec::new();
    let s = Stack::start("creates", &[("WEELO_DB_MAX_CONNECTIONS", "40")], 1).await?;
    for concurrency in [8usize, 32, 64] {
        let customers = s.users(Role::Customer, concurrency).await?;
        let deadline = Instant::now() + Duration::from_secs(secs);
        let loops = customers.iter().map(|c| {
            let token = s.token(*c, Role::Customer);
            let s = &s;
            async move {
                let mut lat = Vec::new();
                let mut errors = 0usize;
                while Instant::now() < deadline {
                    let t = Instant::now();
                    match s.create(&token, 19.0, 73.0, "lcv", 2, true).await {
                        Ok(_) => lat.push(ms(t.elapsed())),
                        Err(_) => errors += 1,
                    }
                }
                (lat, errors)
            }
        });
        let results = futures::future::join_all(loops).await;
        let mut lat: Vec<f64> = results.iter().flat_map(|r| r.0.clone()).collect();
        let errors: usize = results.iter().map(|r| r.1).sum();
        let rate = lat.len() as f64 / secs as f64;
        let p99 = percentile(&mut lat, 99.0);
        let pg = base.get(&format!("pgbench_create_tps_{concurrency}")).copied().unwrap_or(f64::NAN);
        rows.push(Row {
            scenario: "2. creates",
            metric: format!("creates/s, p99 at concurrency {concurrency} ({secs} s)"),
            value: format!("{rate:.0}/s, p99 {p99:.1} ms, {errors} errors"),
            goal: "sustained, no errors".into(),
            baseline: format!("pgbench same-shape tx {pg:.0} tps ({:.0}% of it)", 100.0 * rate / pg),
            rss: s.rss(),
        });
    }
    s.stop().await;
    Ok(rows)
}

/// N transporters with sockets; create -> each in-radius transporter's `new_broadcast`.
async fn fanout() -> anyhow::Result<Vec<Row>> {
    let mut rows = first_delivery(1, env_usize("BENCH_FIRST_CREATES", 40)).await?;
    rows.extend(first_delivery(env_usize("BENCH_SOCKETS", 5000), env_usize("BENCH_FANOUT_BROADCASTS", 5)).await?);
    Ok(rows)
}

/// `n` transporters online in radius, `broadcasts` creates one after another (2 s apart, each
/// by its own customer): create -> the first socket's `new_broadcast`, and -> the last one's.
async fn first_delivery(n: usize, broadcasts: usize) -> anyhow::Result<Vec<Row>> {
    let cap = n.to_string();
    // Every bench socket comes from 127.0.0.1: the per-address cap is lifted for it.
    let vars = [
        ("WEELO_MAX_NEW_PER_STEP", cap.as_str()),
        ("WEELO_PRESENCE_TTL_SECS", "600"),
        ("WEELO_SOCKETS_PER_SOURCE", "20000"),
    ];
    let s = Stack::start("fanout", &vars, 1).await?;
    let transporters = s.users(Role::Transporter, n).await?;
    s.vehicles(&transporters, "open", 0).await?;
    let tokens: Vec<String> = transporters.iter().map(|t| s.token(*t, Role::Transporter)).collect();
    s.online_all(&tokens, 19.0, 73.0).await?;
    let mut agent = stack::FanoutAgent::start(&s.api_url, &tokens).await?;
    let customers = s.users(Role::Customer, broadcasts).await?;
    let mut sent: HashMap<String, i64> = HashMap::new();
    let gap = Duration::from_millis(if n == 1 { 500 } else { 2000 });
    for c in &customers {
        let token = s.token(*c, Role::Customer);
        let at = chrono::Utc::now().timestamp_millis();
        let id = s.create(&token, 19.01, 73.01, "open", 1, false).await?;
        sent.insert(id.to_string(), at);
        tokio::time::sleep(gap).await;
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    let received = agent.collect().await;
    let rss = s.rss();
    // Per broadcast: its first and its last delivery.
    let mut per: HashMap<&str, (i64, i64)> = HashMap::new();
    let mut got = 0;
    for (b, t) in &received {
        let Some(start) = sent.get(b) else { continue };
        got += 1;
        let e = per.entry(b.as_str()).or_insert((i64::MAX, i64::MIN));
        e.0 = e.0.min(*t - start);
        e.1 = e.1.max(*t - start);
    }
    let stages = stage_breakdown(&s.db, &sent, &per).await?;
    s.stop().await;
    let mut first: Vec<f64> = per.values().map(|v| v.0 as f64).collect();
    let mut last: Vec<f64> = per.values().map(|v| v.1 as f64).collect();
    let delivered = format!("{got} of {} delivered", n * broadcasts);
    let p = |v: &mut Vec<f64>| {
        let max = v.iter().cloned().fold(f64::NAN, f64::max);
        format!("p50 {:.0} ms, p99 {:.0} ms, max {max:.0} ms", percentile(v, 50.0), percentile(v, 99.0))
    };
    let mut rows = vec![Row {
        scenario: "3. fan-out",
        metric: format!("create -> first in-radius new_broadcast, {n} online, {broadcasts} creates"),
        value: format!("{}; {delivered}", p(&mut first)),
        goal: "p99 < 50 ms".into(),
        baseline: String::new(),
        rss: rss.clone(),
    }];
    rows.push(Row {
        scenario: "3. fan-out",
        metric: format!("where create -> first new_broadcast goes, {n} online, {broadcasts} creates"),
        value: stages,
        goal: String::new(),
        baseline: String::new(),
        rss: rss.clone(),
    });
    if n > 1 {
        rows.push(Row {
            scenario: "3. fan-out",
            metric: format!("create -> last of {n} sockets' new_broadcast, {broadcasts} creates"),
            value: format!("{}; {delivered}", p(&mut last)),
            goal: "p99 < 250 ms".into(),
            baseline: String::new(),
            rss,
        });
    }
    Ok(rows)
}

/// Where the time from a create to its first `new_broadcast` goes, from the rows each stage
/// writes (one clock: everything runs on this machine); p50 of each stage over the creates.
async fn stage_breakdown(
    db: &sqlx::PgPool,
    sent: &HashMap<String, i64>,
    first: &HashMap<&str, (i64, i64)>,
) -> anyhow::Result<String> {
    let mut stages: [Vec<f64>; 5] = Default::default();
    for (b, at) in sent {
        let Some((first_ms, _)) = first.get(b.as_str()) else { continue };
        let id = Uuid::parse_str(b)?;
        let (committed, relayed, told, pushed): (f64, Option<f64>, Option<f64>, Option<f64>) = sqlx::query_as(
            "SELECT extract(epoch FROM b.created_at)::float8 * 1000,
                    (SELECT extract(epoch FROM min(dispatched_at))::float8 * 1000 FROM outbox
                      WHERE kind = 'broadcast_created' AND payload->>'broadcastId' = $2),
                    (SELECT extract(epoch FROM min(notified_at))::float8 * 1000 FROM broadcast_notifications
                      WHERE broadcast_id = $1),
                    (SELECT extract(epoch FROM min(dispatched_at))::float8 * 1000 FROM outbox
                      WHERE kind = 'transporters_notified' AND payload->>'broadcastId' = $2)
             FROM broadcasts b WHERE b.id = $1",
        )
        .bind(id)
        .bind(b)
        .fetch_one(db)
        .await?;
        let (Some(relayed), Some(told), Some(pushed)) = (relayed, told, pushed) else { continue };
        let points = [*at as f64, committed, relayed, told, pushed, (*at + first_ms) as f64];
        for (i, stage) in stages.iter_mut().enumerate() {
            stage.push(points[i + 1] - points[i]);
        }
    }
    let names = [
        "request -> commit",
        "commit -> relay pushed the step",
        "-> step found and began recording its transporters",
        "-> record committed, relay pushed the first wave's notify",
        "-> socket got new_broadcast",
    ];
    let parts: Vec<String> =
        names.iter().zip(stages.iter_mut()).map(|(n, v)| format!("{n} {:.0}", percentile(v, 50.0))).collect();
    Ok(format!("{} (p50 ms each)", parts.join(", ")))
}

/// 10,000 broadcasts expiring within the same minute.
async fn expiry() -> anyhow::Result<Vec<Row>> {
    let n = env_usize("BENCH_EXPIRIES", 10_000);
    let s = Stack::start("expiry", &[("BROADCAST_TIMEOUT_SECS", "75"), ("WEELO_DB_MAX_CONNECTIONS", "40")], 1).await?;
    let customers = s.users(Role::Customer, n).await?;
    let tokens: Vec<String> = customers.iter().map(|c| s.token(*c, Role::Customer)).collect();
    let started = Instant::now();
    let created = futures::stream::iter(tokens.iter().map(|t| s.create(t, 19.0, 73.0, "mini", 1, false)))
        .buffer_unordered(64)
        .filter(|r| futures::future::ready(r.is_ok()))
        .count()
        .await;
    eprintln!("expiry: created {created} in {:.1} s", started.elapsed().as_secs_f64());
    let last: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT max(expires_at) FROM broadcasts").fetch_one(&s.db).await?;
    let first: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT min(expires_at) FROM broadcasts").fetch_one(&s.db).await?;
    let wait = (last - chrono::Utc::now()).num_milliseconds().max(0) as u64 + 5000;
    tokio::time::sleep(Duration::from_millis(wait)).await;
    let mut late: Vec<f64> = sqlx::query_scalar(
        "SELECT EXTRACT(EPOCH FROM closed_at - expires_at)::float8 * 1000 FROM broadcasts WHERE status = 'expired'",
    )
    .fetch_all(&s.db)
    .await?;
    let open: i64 =
        sqlx::query_scalar("SELECT count(*) FROM broadcasts WHERE broadcast_is_open(status)").fetch_one(&s.db).await?;
    let by_sweep: i64 = sqlx::query_scalar("SELECT coalesce(sum(expired), 0) FROM sweep_runs").fetch_one(&s.db).await?;
    let rss = s.rss();
    s.stop().await;
    let p50 = percentile(&mut late, 50.0);
    let p99 = percentile(&mut late, 99.0);
    let max = late.iter().cloned().fold(0.0, f64::max);
    Ok(vec![Row {
        scenario: "4. expiry",
        metric: format!(
            "{created} broadcasts expiring within {:.0} s",
            (last - first).num_milliseconds() as f64 / 1000.0
        ),
        value: format!(
            "lateness p50 {p50:.0} ms, p99 {p99:.0} ms, max {max:.0} ms; missed by the job {by_sweep}, still open {open}"
        ),
        goal: "p99 < 250 ms (brief) / < 1 s (issue), 0 missed".into(),
        baseline: "the old system polled every 5 s".into(),
        rss,
    }])
}

/// Notify jobs per second on one worker, then two, at the default fetch batch (10 tasks); then
/// one worker at larger batches (`WEELO_JOB_BATCH_SIZE`).
async fn worker_throughput(base: &HashMap<String, f64>) -> anyhow::Result<Vec<Row>> {
    let n = env_usize("BENCH_NOTIFY_JOBS", 20_000);
    let mut rows = Vec::new();
    for (workers, batch) in [(1usize, 10usize), (2, 10), (1, 50), (1, 200)] {
        let batch_var = batch.to_string();
        let mut s = Stack::start("worker", &[("WEELO_JOB_BATCH_SIZE", batch_var.as_str())], 0).await?;
        let users = s.users(Role::Customer, 100).await?;
        let conn = jobs::connect(&testkit::redis_url()).await?;
        let keys = s.cache_keys();
        futures::stream::iter((0..n).map(|i| {
            // An event without a push, so the run measures the notify path alone.
            let event = ClientEvent::DriverStatusChanged(DriverStatus { driver_id: users[0], online: i % 2 == 0 });
            let job = Notify::new(format!("bench:{i}"), vec![users[i % users.len()]], event);
            jobs::push(conn.clone(), &keys, job, Schedule::NOW)
        }))
        .buffer_unordered(64)
        .collect::<Vec<_>>()
        .await;
        let started = Instant::now();
        for _ in 0..workers {
            s.start_worker();
        }
        let done = s.wait_jobs_done("notify", n as u64, Duration::from_secs(300)).await;
        let elapsed = started.elapsed();
        let rate = done as f64 / elapsed.as_secs_f64();
        let redis = base.get("redis_sadd_rps").copied().unwrap_or(f64::NAN);
        rows.push(Row {
            scenario: "5. worker",
            metric: format!(
                "notify jobs/s, {workers} worker(s), fetch batch {batch}, {n} queued (realtime emit, no push)"
            ),
            value: format!("{rate:.0}/s ({done} done in {:.1} s, includes start-up)", elapsed.as_secs_f64()),
            goal: ">= 5,000/s on one worker".into(),
            baseline: format!("redis-benchmark SADD {redis:.0}/s"),
            rss: s.rss(),
        });
        s.stop().await;
    }
    Ok(rows)
}

/// Redis' `used_memory`, in bytes.
async fn used_memory(conn: &mut redis::aio::ConnectionManager) -> anyhow::Result<u64> {
    let info: String = redis::cmd("INFO").arg("memory").query_async(conn).await?;
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("INFO memory has no used_memory"))
}

/// Pushes notify jobs `ids` (named `{name}:{i}`), each to one of `users` in turn.
async fn soak_push(
    conn: &jobs::ConnectionManager,
    keys: &weelo_shared::cache::Keys,
    users: &[Uuid],
    name: &str,
    ids: std::ops::Range<usize>,
) -> anyhow::Result<()> {
    futures::stream::iter(ids.map(|i| {
        let event = ClientEvent::DriverStatusChanged(DriverStatus { driver_id: users[0], online: i % 2 == 0 });
        let job = Notify::new(format!("{name}:{i}"), vec![users[i % users.len()]], event);
        jobs::push(conn.clone(), keys, job, Schedule::NOW)
    }))
    .buffer_unordered(64)
    .collect::<Vec<_>>()
    .await
    .into_iter()
    .collect::<anyhow::Result<Vec<()>>>()?;
    Ok(())
}

/// `BENCH_SOAK_JOBS` (1,000,000) notify jobs through one worker in waves of 100,000, Redis
/// `used_memory` sampled before, at the end of every wave, and after a sweep tick trimmed the
/// finished tasks: the after figure must be within 10% of before.
async fn soak() -> anyhow::Result<Vec<Row>> {
    let n = env_usize("BENCH_SOAK_JOBS", 1_000_000);
    let wave = env_usize("BENCH_SOAK_WAVE", 100_000).min(n);
    let mut s = Stack::start("soak", &[], 0).await?;
    let users = s.users(Role::Customer, 100).await?;
    let mut conn = jobs::connect(&testkit::redis_url()).await?;
    let keys = s.cache_keys();
    s.start_worker();
    // "Before" is the steady state, not an empty Redis: every user's replay log already at its
    // cap (realtime::REPLAY_MAX_EVENTS, 200) from a warm-up, whose finished tasks and emit
    // markers are gone again (the next sweep tick, then `marker_ttl`). What the soak then
    // measures is growth with the number of jobs, which is what must be flat.
    let marker_ttl = weelo_worker::jobs::marker_ttl(&s.config);
    let warm = 250 * users.len();
    soak_push(&conn, &keys, &users, "soak-warm", 0..warm).await?;
    let done = s.wait_jobs_done("notify", warm as u64, Duration::from_secs(600)).await;
    anyhow::ensure!(done >= warm as u64, "soak: only {done} of {warm} warm-up notify jobs done in 10 minutes");
    eprintln!(
        "soak: warm-up of {warm} jobs done; waiting {} s for its markers and tasks to go",
        marker_ttl.as_secs() + 35
    );
    tokio::time::sleep(marker_ttl + Duration::from_secs(35)).await;
    let before = used_memory(&mut conn).await?;
    let started = Instant::now();
    let (mut pushed, mut peak) = (0usize, before);
    while pushed < n {
        let this = wave.min(n - pushed);
        soak_push(&conn, &keys, &users, "soak", pushed..pushed + this).await?;
        pushed += this;
        peak = peak.max(used_memory(&mut conn).await?);
        let done = s.wait_jobs_done("notify", (warm + pushed) as u64, Duration::from_secs(600)).await;
        anyhow::ensure!(done >= (warm + pushed) as u64, "soak: only {done} of {pushed} notify jobs done in 10 minutes");
        eprintln!("soak: {pushed} done after {:.0} s, used_memory {} MiB", started.elapsed().as_secs_f64(), peak >> 20);
    }
    let elapsed = started.elapsed();
    // The finished tasks go with the next sweep tick (every 30 s), the once-per-user emit
    // markers when their retry span is over (`marker_ttl`, 95 s at production settings).
    let deadline = Instant::now() + marker_ttl + Duration::from_secs(60);
    let mut after = used_memory(&mut conn).await?;
    while after > before + before / 10 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(2)).await;
        after = used_memory(&mut conn).await?;
    }
    // What is left, by family: apalis task keys (trimmed by the sweep) and the once-per-user
    // emit markers (alive for their job's retry span, so a retry never emits twice).
    let (mut tasks, mut markers, mut replay, mut other) = (0u64, 0u64, 0u64, 0u64);
    let mut cursor = 0u64;
    loop {
        let (next, found): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{}:*", s.prefix()))
            .arg("COUNT")
            .arg(5000)
            .query_async(&mut conn)
            .await?;
        for k in &found {
            if k.contains(":jobs:") {
                tasks += 1;
            } else if k.contains(":emitted:") {
                markers += 1;
            } else if k.contains(":rt:log:") || k.contains(":rt:seq:") {
                replay += 1;
            } else {
                other += 1;
            }
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
    let rss = s.rss();
    s.stop().await;
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    let growth = (after as f64 - before as f64) / before as f64 * 100.0;
    Ok(vec![Row {
        scenario: "6. soak",
        metric: format!("Redis used_memory, {n} notify jobs through 1 worker in waves of {wave}"),
        value: format!(
            "before {:.1} MiB, peak {:.1} MiB, after {:.1} MiB ({growth:+.1}%); {:.0} jobs/s; keys left: {tasks} of the queues (their registrations and sets), {markers} emit markers ({} s TTL), {replay} replay logs and seqs of the {} users (200 events and 10 min each), {other} other",
            mib(before),
            mib(peak),
            mib(after),
            n as f64 / elapsed.as_secs_f64(),
            marker_ttl.as_secs(),
            users.len()
        ),
        goal: "after within 10% of before".into(),
        baseline: String::new(),
        rss,
    }])
}

use futures::StreamExt;

fn render(rows: &[Row], base: &HashMap<String, f64>) -> anyhow::Result<String> {
    let mut out = String::new();
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        .unwrap_or_default();
    let mem =
        std::fs::read_to_string("/proc/meminfo").unwrap_or_default().lines().next().unwrap_or_default().to_owned();
    writeln!(out, "# Benchmarks")?;
    writeln!(out)?;
    writeln!(
        out,
        "Written by `just bench` (bench/src/main.rs): release builds of weelo-api and weelo-worker as real processes, this machine's PostgreSQL and Redis, baselines measured in the same run."
    )?;
    writeln!(out)?;
    writeln!(out, "- date: {}", chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"))?;
    writeln!(out, "- commit: {commit}")?;
    writeln!(
        out,
        "- machine: {} cores, {cpu}; {}",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        mem.replace("MemTotal:", "memory").split_whitespace().collect::<Vec<_>>().join(" ")
    )?;
    writeln!(out, "- load generator, API, worker, PostgreSQL and Redis all share those cores")?;
    writeln!(out)?;
    writeln!(out, "| scenario | measure | result | goal | baseline (same run) | peak RSS api / worker |")?;
    writeln!(out, "| --- | --- | --- | --- | --- | --- |")?;
    for r in rows {
        writeln!(out, "| {} | {} | {} | {} | {} | {} |", r.scenario, r.metric, r.value, r.goal, r.baseline, r.rss)?;
    }
    writeln!(out)?;
    writeln!(out, "## Baselines")?;
    writeln!(out)?;
    let mut keys: Vec<_> = base.keys().collect();
    keys.sort();
    for k in keys {
        writeln!(out, "- {k}: {:.2}", base[k])?;
    }
    Ok(out)
}
