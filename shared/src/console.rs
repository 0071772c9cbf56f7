//! What the ops console reads (docs/DESIGN.md, "Ops console"): live broadcasts, one
//! broadcast's whole timeline, the job spine's state, dead letters, the audit trail and the
//! map's points. Reads only; every action lives in `admin` (audited). The page and its JSON
//! routes are served by the API on the private ops listener (`WEELO_OPS_ADDR`).

use deadpool_redis::redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgPool;
use sqlx::types::Json;
use uuid::Uuid;

use crate::cache::Cache;
use crate::domain::VehicleType;
use crate::error::{Error, Result};

/// The broadcast statuses the list filters by, besides `open` (active or partially filled) and `all`.
const STATUSES: &[&str] =
    &["open", "all", "active", "partially_filled", "fully_filled", "completed", "cancelled", "expired"];

/// A box of pickups: south-west and north-east corners.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CityBox {
    pub min_lat: f64,
    pub min_lng: f64,
    pub max_lat: f64,
    pub max_lng: f64,
}

impl CityBox {
    /// `minLat,minLng,maxLat,maxLng`.
    pub fn parse(s: &str) -> Result<Self> {
        let bad = || Error::field("box", "minLat,minLng,maxLat,maxLng (four numbers, south-west first)");
        let v: Vec<f64> =
            s.split(',').map(|p| p.trim().parse::<f64>()).collect::<std::result::Result<_, _>>().map_err(|_| bad())?;
        match v.as_slice() {
            [a, b, c, d] if a.is_finite() && b.is_finite() && a <= c && b <= d => {
                Ok(Self { min_lat: *a, min_lng: *b, max_lat: *c, max_lng: *d })
            }
            _ => Err(bad()),
        }
    }
}

/// One broadcast as the live list shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveBroadcast {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub customer_phone: String,
    pub status: String,
    pub pickup_lat: f64,
    pub pickup_lng: f64,
    pub pickup_address: String,
    pub pickup_city: Option<String>,
    pub trucks_needed: i32,
    pub trucks_filled: i32,
    pub radius_step: i32,
    pub notified: i64,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub expires_at: chrono::DateTime<chrono::Utc>,
    pub seconds_left: i64,
    pub terminal_reason: Option<String>,
    /// Per line: vehicleType, needed, taken, held.
    pub lines: Json<Value>,
}

/// A query that yields `LiveBroadcast`s: `SELECT`, the live list's columns over `broadcasts b
/// JOIN users u` (written once, here), then `$tail`; checked by the compiler like any `query_as!`.
macro_rules! live_query {
    ($tail:tt $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            LiveBroadcast,
            r#"SELECT b.id, b.customer_id, u.phone AS customer_phone, b.status::text AS "status!",
                b.pickup_lat, b.pickup_lng, b.pickup_address, b.pickup_city, b.trucks_needed, b.trucks_filled,
                b.radius_step,
                (SELECT count(*) FROM broadcast_notifications n WHERE n.broadcast_id = b.id) AS "notified!",
                b.created_at, b.expires_at,
                CASE WHEN broadcast_is_open(b.status)
                     THEN greatest(0, extract(epoch FROM b.expires_at - now()))::bigint ELSE 0 END AS "seconds_left!",
                b.terminal_reason,
                (SELECT coalesce(json_agg(json_build_object('vehicleType', l.vehicle_type, 'needed', l.needed,
                                                            'taken', l.taken, 'held', l.held) ORDER BY l.line_no), '[]')
                 FROM (SELECT line_no, vehicle_type::text AS vehicle_type, count(*) AS needed,
                              count(*) FILTER (WHERE status IN ('accepted', 'assigned', 'delivered')) AS taken,
                              count(*) FILTER (WHERE status = 'held') AS held
                       FROM truck_requests WHERE broadcast_id = b.id GROUP BY line_no, vehicle_type) l)
                AS "lines!: Json<Value>"
             FROM broadcasts b JOIN users u ON u.id = b.customer_id "#
                + $tail
            $(, $arg)*
        )
    };
}

/// Broadcasts by status (`open` by default) and pickup box, newest first (at most 200).
pub async fn broadcasts(db: &PgPool, status: Option<&str>, city: Option<CityBox>) -> Result<Vec<LiveBroadcast>> {
    let status = status.unwrap_or("open");
    if !STATUSES.contains(&status) {
        return Err(Error::field("status", format!("one of {}", STATUSES.join(", "))));
    }
    let rows = live_query!(
        "WHERE ($1 = 'all' OR ($1 = 'open' AND broadcast_is_open(b.status)) OR b.status::text = $1)
           AND ($2::float8 IS NULL OR b.pickup_lat BETWEEN $2 AND $4)
           AND ($3::float8 IS NULL OR b.pickup_lng BETWEEN $3 AND $5)
         ORDER BY b.created_at DESC, b.id DESC LIMIT 200",
        status,
        city.map(|c| c.min_lat),
        city.map(|c| c.min_lng),
        city.map(|c| c.max_lat),
        city.map(|c| c.max_lng)
    )
    .fetch_all(db)
    .await?;
    Ok(rows)
}

/// One broadcast with everything that happened to it.
#[derive(Debug, Clone, Serialize)]
pub struct Timeline {
    pub broadcast: LiveBroadcast,
    #[serde(flatten)]
    pub parts: Parts,
}

/// A timeline's lists, built as one JSON object by PostgreSQL.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Parts {
    /// The transition log, oldest first: at, truckRequestId, from, to, actorRole, actorId, reason.
    pub transitions: Value,
    /// Radius steps with how many transporters each told.
    pub radius_steps: Value,
    pub notifications: Value,
    pub trips: Value,
    pub holds: Value,
    /// Its outbox rows (the events that drive its jobs), oldest first.
    pub events: Value,
    pub dead_letters: Value,
}

/// The whole timeline of one broadcast; 404 when there is none.
pub async fn timeline(db: &PgPool, id: Uuid) -> Result<Timeline> {
    let broadcast = live_query!("WHERE b.id = $1", id)
        .fetch_optional(db)
        .await?
        .ok_or_else(|| Error::rejected(404, "BROADCAST_NOT_FOUND", "no broadcast with this id"))?;
    let Json(parts): Json<Parts> = sqlx::query_scalar!(
        r#"SELECT json_build_object(
           'transitions', (SELECT coalesce(json_agg(json_build_object('at', at, 'truckRequestId', truck_request_id,
                    'from', from_status, 'to', to_status, 'actorRole', actor_role, 'actorId', actor_id,
                    'reason', reason) ORDER BY id), '[]')
            FROM broadcast_transitions WHERE broadcast_id = $1),
           'radiusSteps', (SELECT coalesce(json_agg(json_build_object('step', radius_step, 'told', told, 'at',
                 at) ORDER BY radius_step), '[]')
            FROM (SELECT radius_step, count(*) AS told, min(notified_at) AS at
                  FROM broadcast_notifications WHERE broadcast_id = $1 GROUP BY radius_step) s),
           'notifications', (SELECT coalesce(json_agg(json_build_object('transporterId', n.transporter_id, 'phone',
                 u.phone,
                    'radiusStep', n.radius_step, 'distanceKm', n.distance_km, 'at',
                 n.notified_at) ORDER BY n.notified_at), '[]')
            FROM broadcast_notifications n JOIN users u ON u.id = n.transporter_id WHERE n.broadcast_id = $1),
           'trips', (SELECT coalesce(json_agg(json_build_object('id', t.id, 'truckRequestId', t.truck_request_id,
                    'transporterId', t.transporter_id, 'driverId', t.driver_id, 'vehicleId', t.vehicle_id,
                    'status', t.status, 'createdAt', t.created_at, 'updatedAt', t.updated_at,
                    'transitions', (SELECT coalesce(json_agg(json_build_object('at', tt.at, 'from', tt.from_status,
                                     'to', tt.to_status, 'actorRole', tt.actor_role, 'reason',
                 tt.reason) ORDER BY tt.id), '[]')
                                    FROM trip_transitions tt WHERE tt.trip_id = t.id)) ORDER BY t.created_at), '[]')
            FROM trips t WHERE t.broadcast_id = $1),
           'holds', (SELECT coalesce(json_agg(json_build_object('id', id, 'transporterId', transporter_id,
                    'vehicleType', vehicle_type, 'requested', requested, 'held', held, 'status', status,
                    'expiresAt', expires_at, 'createdAt', created_at, 'endedAt', ended_at) ORDER BY created_at), '[]')
            FROM truck_holds WHERE broadcast_id = $1),
           'events', (SELECT coalesce(json_agg(json_build_object('id', id, 'kind', kind, 'createdAt', created_at,
                    'dispatchedAt', dispatched_at, 'attempts', attempts) ORDER BY id), '[]')
            FROM outbox WHERE payload->>'broadcastId' = $1::text),
           'deadLetters', (SELECT coalesce(json_agg(json_build_object('id', id, 'queue', queue, 'status', status,
                    'error', error, 'createdAt', created_at) ORDER BY id), '[]')
            FROM dead_letters WHERE payload->>'broadcastId' = $1::text)) AS "timeline!: Json<Parts>""#,
        id
    )
    .fetch_one(db)
    .await?;
    Ok(Timeline { broadcast, parts })
}

/// A dead-lettered job.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    pub id: i64,
    pub queue: String,
    pub payload: Json<Value>,
    pub error: String,
    pub attempts: i32,
    pub status: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// Dead letters, newest first: the open ones (dead or waiting for their retry) unless `all`.
pub async fn dead_letters(db: &PgPool, queue: Option<&str>, all: bool) -> Result<Vec<DeadLetter>> {
    Ok(sqlx::query_as!(DeadLetter, r#"SELECT id, queue, payload AS "payload: Json<Value>", error, attempts, status::text AS "status!", created_at, updated_at FROM dead_letters
         WHERE ($1::text IS NULL OR queue = $1) AND ($2 OR status IN ('dead', 'retry_requested'))
         ORDER BY id DESC LIMIT 500"#, queue, all)
    .fetch_all(db)
    .await?)
}

/// The audit trail, newest first.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    pub id: i64,
    pub admin_id: Option<Uuid>,
    pub admin_phone: Option<String>,
    pub action: String,
    pub target_id: Option<Uuid>,
    pub reason: String,
    pub at: chrono::DateTime<chrono::Utc>,
}

pub async fn audit(db: &PgPool, limit: i64) -> Result<Vec<AuditEntry>> {
    Ok(sqlx::query_as!(
        AuditEntry,
        r#"SELECT a.id, a.admin_id, u.phone AS "admin_phone?", a.action, a.target_id, a.reason, a.at
         FROM admin_actions a LEFT JOIN users u ON u.id = a.admin_id ORDER BY a.id DESC LIMIT $1"#,
        limit
    )
    .fetch_all(db)
    .await?)
}

/// A user as the console lists them (to suspend or restore, verify or unverify).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRow {
    pub id: Uuid,
    pub phone: String,
    pub role: String,
    pub name: Option<String>,
    pub verified_at: Option<chrono::DateTime<chrono::Utc>>,
    pub suspended_at: Option<chrono::DateTime<chrono::Utc>>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// Users whose phone contains `phone` (or the newest ones), at most 100.
pub async fn users(db: &PgPool, phone: Option<&str>) -> Result<Vec<UserRow>> {
    Ok(sqlx::query_as!(
        UserRow,
        r#"SELECT id, phone, role::text AS "role!", name, verified_at, suspended_at, created_at FROM users
         WHERE ($1::text IS NULL OR phone LIKE '%' || $1 || '%') ORDER BY created_at DESC LIMIT 100"#,
        phone
    )
    .fetch_all(db)
    .await?)
}

// ---- the job spine, as the workers report it ----

/// How long a worker's snapshot stays readable: a worker that stops writing it is gone.
pub const WORKER_SNAPSHOT_TTL_SECS: u64 = 15;
/// History samples kept (one per worker per minute: an hour for up to 10 workers).
pub const HISTORY_SAMPLES: isize = 600;

/// One queue as one worker process sees it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct QueueStats {
    pub queue: String,
    /// Waiting to run (the queue's active list; the same for every worker).
    pub pending: u64,
    /// Scheduled for later (the same for every worker).
    pub scheduled: u64,
    /// Running in this worker now.
    pub inflight: u64,
    /// Finished by this worker since it started.
    pub done: u64,
    pub retried: u64,
    pub dead: u64,
    /// Of this worker's last runs of a scheduled job: how late they started (p99, ms).
    pub lateness_p99_ms: Option<u64>,
}

/// What a worker process writes every few seconds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WorkerSnapshot {
    pub name: String,
    pub started_at_ms: i64,
    pub at_ms: i64,
    pub queues: Vec<QueueStats>,
}

/// One worker's minute: per queue, what it finished in that minute and the queue's depth.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HistorySample {
    pub at_ms: i64,
    pub worker: String,
    /// (queue, done in the minute, pending at its end)
    pub queues: Vec<(String, u64, u64)>,
}

/// The job spine in one answer: every live worker's snapshot, the queues summed over them, the
/// last hour per minute, the outbox backlog and the open dead letters per queue.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Queues {
    pub workers: Vec<WorkerSnapshot>,
    pub queues: Vec<QueueStats>,
    /// Per minute (oldest first): at, per queue done and pending.
    pub history: Vec<Value>,
    pub outbox_undispatched: i64,
    pub outbox_oldest_age_secs: Option<f64>,
    pub dead_letters: Value,
}

/// Reads the workers' snapshots and history from Redis and the outbox and dead letters from
/// PostgreSQL. An unreadable Redis is an error (never "no workers").
pub async fn queues(db: &PgPool, cache: &Cache) -> Result<Queues> {
    let mut conn = cache.conn().await?;
    let names: Vec<String> = conn.smembers(cache.keys.ops_workers()).await?;
    let mut workers = Vec::new();
    let mut departed = Vec::new();
    for name in names {
        let raw: Option<String> = conn.get(cache.keys.ops_worker(&name)).await?;
        match raw.and_then(|r| serde_json::from_str::<WorkerSnapshot>(&r).ok()) {
            Some(s) => workers.push(s),
            None => departed.push(name),
        }
    }
    if !departed.is_empty() {
        let _: () = conn.srem(cache.keys.ops_workers(), &departed).await?;
    }
    workers.sort_by(|a, b| a.name.cmp(&b.name));
    let mut queues: Vec<QueueStats> = Vec::new();
    let newest = workers.iter().max_by_key(|w| w.at_ms);
    for w in &workers {
        for q in &w.queues {
            let sum = match queues.iter_mut().find(|s| s.queue == q.queue) {
                Some(s) => s,
                None => {
                    queues.push(QueueStats { queue: q.queue.clone(), ..Default::default() });
                    queues.last_mut().expect("just pushed")
                }
            };
            sum.inflight += q.inflight;
            sum.done += q.done;
            sum.retried += q.retried;
            sum.dead += q.dead;
            sum.lateness_p99_ms = sum.lateness_p99_ms.max(q.lateness_p99_ms);
        }
    }
    // Depths are the queue's own, read by each worker: take the newest reading.
    if let Some(w) = newest {
        for q in &w.queues {
            if let Some(s) = queues.iter_mut().find(|s| s.queue == q.queue) {
                s.pending = q.pending;
                s.scheduled = q.scheduled;
            }
        }
    }
    let raw: Vec<String> = conn.lrange(cache.keys.ops_history(), 0, HISTORY_SAMPLES - 1).await?;
    let history = minutes(raw.iter().filter_map(|r| serde_json::from_str::<HistorySample>(r).ok()));
    let (outbox_undispatched, outbox_oldest_age_secs, dead): (i64, Option<f64>, Json<Value>) = sqlx::query!(
        r#"SELECT (SELECT count(*) FROM outbox WHERE dispatched_at IS NULL) AS "undispatched!",
                (SELECT extract(epoch FROM now() - min(created_at))::float8 FROM outbox WHERE dispatched_at IS
                 NULL) AS oldest,
                (SELECT coalesce(json_object_agg(queue, n), '{}') FROM
                   (SELECT queue, count(*) AS n FROM dead_letters WHERE status IN ('dead',
                 'retry_requested') GROUP BY queue) d) AS "dead!: Json<Value>""#
    )
    .map(|r| (r.undispatched, r.oldest, r.dead))
    .fetch_one(db)
    .await?;
    Ok(Queues { workers, queues, history, outbox_undispatched, outbox_oldest_age_secs, dead_letters: dead.0 })
}

/// Folds the workers' samples into one row per minute, oldest first: done summed over workers,
/// pending the largest reading.
fn minutes(samples: impl Iterator<Item = HistorySample>) -> Vec<Value> {
    let mut by_minute: std::collections::BTreeMap<i64, std::collections::BTreeMap<String, (u64, u64)>> =
        Default::default();
    let cutoff = chrono::Utc::now().timestamp_millis() - 3_600_000;
    for s in samples.filter(|s| s.at_ms >= cutoff) {
        let minute = by_minute.entry(s.at_ms.div_euclid(60_000) * 60_000).or_default();
        for (queue, done, pending) in s.queues {
            let e = minute.entry(queue).or_default();
            e.0 += done;
            e.1 = e.1.max(pending);
        }
    }
    by_minute
        .into_iter()
        .map(|(at, qs)| {
            let queues: serde_json::Map<String, Value> = qs
                .into_iter()
                .map(|(q, (done, pending))| (q, serde_json::json!({ "done": done, "pending": pending })))
                .collect();
            serde_json::json!({ "atMs": at, "queues": queues })
        })
        .collect()
}

// ---- the map ----

/// An online transporter on the map.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MapPoint {
    pub transporter_id: String,
    pub vehicle_type: String,
    pub lat: f64,
    pub lng: f64,
}

/// Online transporters (from the presence index, per vehicle type) and open pickups.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MapData {
    pub transporters: Vec<MapPoint>,
    pub pickups: Vec<LiveBroadcast>,
    /// The radius steps in km (a selected broadcast's rings are the first `radiusStep + 1`).
    pub radius_steps_km: Vec<f64>,
}

/// Most transporters plotted per vehicle type.
const MAP_MAX_PER_TYPE: usize = 2_000;

pub async fn map(db: &PgPool, cache: &Cache, radius_steps_km: Vec<f64>) -> Result<MapData> {
    let mut conn = cache.conn().await?;
    let mut transporters = Vec::new();
    for vt in VehicleType::ALL {
        // India fits in a 2,500 km circle around its middle.
        let found: Vec<(String, (f64, f64))> = deadpool_redis::redis::cmd("GEOSEARCH")
            .arg(cache.keys.geo(vt))
            .arg("FROMLONLAT")
            .arg(80.0)
            .arg(22.0)
            .arg("BYRADIUS")
            .arg(2_500)
            .arg("km")
            .arg("COUNT")
            .arg(MAP_MAX_PER_TYPE)
            .arg("WITHCOORD")
            .query_async(&mut *conn)
            .await?;
        transporters.extend(found.into_iter().map(|(member, (lng, lat))| MapPoint {
            transporter_id: member,
            vehicle_type: vt.as_str().to_owned(),
            lat,
            lng,
        }));
    }
    let pickups = broadcasts(db, Some("open"), None).await?;
    Ok(MapData { transporters, pickups, radius_steps_km })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn city_box_parses_four_ordered_numbers_only() {
        let b = CityBox::parse("18.8, 72.7,19.3,73.1").unwrap();
        assert_eq!(b, CityBox { min_lat: 18.8, min_lng: 72.7, max_lat: 19.3, max_lng: 73.1 });
        for bad in ["", "1,2,3", "1,2,3,x", "19,73,18,74", "1,2,3,4,5", "NaN,1,2,3"] {
            assert!(CityBox::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn minutes_sum_done_over_workers_and_keep_the_largest_depth() {
        let now = chrono::Utc::now().timestamp_millis();
        let minute = now.div_euclid(60_000) * 60_000;
        let s = |worker: &str, done, pending| HistorySample {
            at_ms: minute + 1_000,
            worker: worker.into(),
            queues: vec![("notify".into(), done, pending)],
        };
        let old = HistorySample { at_ms: now - 7_200_000, worker: "w".into(), queues: vec![("notify".into(), 99, 99)] };
        let rows = minutes(vec![s("a", 3, 5), s("b", 4, 2), old].into_iter());
        assert_eq!(rows.len(), 1, "the sample older than an hour is left out: {rows:?}");
        assert_eq!(rows[0]["atMs"], minute);
        assert_eq!(rows[0]["queues"]["notify"], serde_json::json!({ "done": 7, "pending": 5 }));
    }
}
