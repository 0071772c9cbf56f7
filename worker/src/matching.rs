//! Matching: radius expansion step by step, then a fallback to every online transporter with a
//! matching vehicle; and the rebroadcast a transporter gets when it comes online.

use std::collections::HashSet;

use anyhow::Context;

use uuid::Uuid;
use weelo_shared::domain::{LatLng, VehicleType};
use weelo_shared::outbox::{self, NotifiedTransporter, OutboxEvent, TransportersNotified};
use weelo_shared::{admin, presence};

use crate::WorkerState;
use crate::jobs::{ExpandRadius, Rebroadcast, Schedule};

/// How far `step` reaches and how many new transporters it tells per vehicle type: a configured
/// step, or the fallback after the last one (`WEELO_FALLBACK_RADIUS_KM`, `WEELO_FALLBACK_MAX_NEW`).
fn reach(state: &WorkerState, step: usize) -> Option<(f64, usize)> {
    let c = &state.config;
    match step {
        s if s < c.radius_steps_km.len() => Some((c.radius_steps_km[s], c.max_new_per_step)),
        s if s == c.radius_steps_km.len() => Some((c.fallback_radius_km, c.fallback_max_new)),
        _ => None,
    }
}

/// Every step's radius, the fallback last (index = step).
fn radii(state: &WorkerState) -> Vec<f64> {
    let mut all = state.config.radius_steps_km.clone();
    all.push(state.config.fallback_radius_km);
    all
}

/// Records notifications of `found` (nearest first, as `nearest_within` leaves a step's choice)
/// and, in the same transaction, the outbox rows that announce them to
/// the transporters not notified before; returns how many those were. A run that dies right
/// after (worker killed, Redis gone) leaves nobody recorded as told and untold: the relay sends
/// the row, and a retry records nobody twice.
async fn record(state: &WorkerState, broadcast: Uuid, step: usize, found: &[(Uuid, f64)]) -> anyhow::Result<usize> {
    if found.is_empty() {
        return Ok(0);
    }
    let ids: Vec<Uuid> = found.iter().map(|f| f.0).collect();
    let dists: Vec<f64> = found.iter().map(|f| f.1).collect();
    let mut tx = state.db.begin().await?;
    let fresh: Vec<Uuid> = sqlx::query_scalar!(
        "INSERT INTO broadcast_notifications (broadcast_id, transporter_id, radius_step, distance_km)
         SELECT $1, t, $2, d FROM unnest($3::uuid[], $4::float8[]) AS u(t, d)
         ON CONFLICT DO NOTHING RETURNING transporter_id",
        broadcast,
        step as i32,
        &ids,
        &dists
    )
    .fetch_all(&mut *tx)
    .await?;
    let fresh_set: HashSet<Uuid> = fresh.iter().copied().collect();
    let recipients: Vec<NotifiedTransporter> = found
        .iter()
        .filter(|f| fresh_set.contains(&f.0))
        .map(|&(transporter_id, distance_km)| NotifiedTransporter { transporter_id, distance_km })
        .collect();
    for wave in recipients.chunks(WAVE) {
        let event = OutboxEvent::TransportersNotified(TransportersNotified {
            broadcast_id: broadcast,
            radius_step: step,
            recipients: wave.to_vec(),
        });
        outbox::enqueue(&mut tx, &event, None).await?;
    }
    tx.commit().await?;
    Ok(fresh.len())
}

/// The nearest transporters of a step are told first, in a small wave of their own: recorded and
/// committed with its own outbox row (so its own `notify` job) before the rest are written, so
/// the nearest do not wait for thousands of rows farther away; the rest follow, one outbox row
/// and notify job per [`WAVE`], which the notify queue runs side by side (docs/DESIGN.md, "Jobs").
pub const FIRST_WAVE: usize = 50;
pub const WAVE: usize = 1000;

/// A pick: the transporter, its distance to the pickup in km, and the index of the vehicle type
/// it was picked for.
type Pick = (Uuid, f64, usize);

/// The step's choice, nearest first, cut to what the step may still tell: `cap` per vehicle type
/// searching, less whoever this step already told (a retry after the first wave committed).
fn nearest_within(mut chosen: Vec<Pick>, budget: usize) -> Vec<Pick> {
    chosen.sort_by(|a, b| a.1.total_cmp(&b.1));
    chosen.truncate(budget);
    chosen
}

#[derive(Clone, Copy)]
struct Area {
    pickup: LatLng,
    radius_km: f64,
}

/// Per vehicle type `i`, up to `caps[i]` of the nearest transporters in `area` with an available
/// vehicle that fits one of the type's searching subtypes, among its `scan` nearest candidates not
/// in `excluded` (nor picked for an earlier type).
async fn pick(
    state: &WorkerState,
    open_types: &[(VehicleType, Vec<String>)],
    area: Area,
    caps: &[usize],
    excluded: &HashSet<Uuid>,
    scan: usize,
) -> anyhow::Result<Vec<Pick>> {
    let mut chosen = Vec::new();
    let mut picked: HashSet<Uuid> = HashSet::new();
    for (i, (vehicle_type, subtypes)) in open_types.iter().enumerate() {
        if caps[i] == 0 {
            continue;
        }
        let nearby =
            presence::nearby(&state.cache, *vehicle_type, area.pickup, area.radius_km, scan + excluded.len()).await?;
        let nearby: Vec<(Uuid, f64)> =
            nearby.into_iter().filter(|n| !excluded.contains(&n.0) && !picked.contains(&n.0)).take(scan).collect();
        let candidates: Vec<Uuid> = nearby.iter().map(|n| n.0).collect();
        // The geo set can lag behind the fleet: confirm an available vehicle that fits a line.
        // With the verification gate on, only verified transporters are matched.
        let confirmed: HashSet<Uuid> = sqlx::query_scalar!(
            "SELECT DISTINCT v.transporter_id FROM vehicles v JOIN users u ON u.id = v.transporter_id
             WHERE v.transporter_id = ANY($1) AND v.vehicle_type = $2 AND v.vehicle_subtype = ANY($4)
               AND v.status = 'available' AND (NOT $3 OR u.verified_at IS NOT NULL)",
            &candidates,
            *vehicle_type as _,
            state.config.require_verified_transporters,
            subtypes
        )
        .fetch_all(&state.db)
        .await?
        .into_iter()
        .collect();
        let mut taken = 0;
        for (t, km) in nearby {
            if taken == caps[i] {
                break;
            }
            if confirmed.contains(&t) && picked.insert(t) {
                chosen.push((t, km, i));
                taken += 1;
            }
        }
    }
    Ok(chosen)
}

/// One radius step. Re-reads the broadcast; stops when it is closed, overdue or filled.
pub async fn expand(state: &WorkerState, job: &ExpandRadius) -> anyhow::Result<()> {
    let row = sqlx::query!(
        r#"SELECT broadcast_is_open(status) AND expires_at > now() AS "open!", pickup_lat, pickup_lng
           FROM broadcasts WHERE id = $1"#,
        job.broadcast_id
    )
    .fetch_optional(&state.db)
    .await?;
    let Some((lat, lng)) = row.filter(|b| b.open).map(|b| (b.pickup_lat, b.pickup_lng)) else {
        return Ok(());
    };
    let Some((radius_km, cap)) = reach(state, job.step) else {
        return Ok(());
    };
    let pickup = LatLng { lat, lng };
    // Per vehicle type, the subtypes its searching lines ask for (a line is a type and a subtype).
    let open_types: Vec<(VehicleType, Vec<String>)> = sqlx::query!(
        r#"SELECT vehicle_type AS "vehicle_type: VehicleType", array_agg(DISTINCT vehicle_subtype) AS "subtypes!"
           FROM truck_requests WHERE broadcast_id = $1 AND status = 'searching' GROUP BY vehicle_type"#,
        job.broadcast_id
    )
    .fetch_all(&state.db)
    .await?
    .into_iter()
    .map(|line| (line.vehicle_type, line.subtypes))
    .collect();
    if open_types.is_empty() {
        return Ok(());
    }
    let types = open_types.len();
    let mut excluded: HashSet<Uuid> = sqlx::query_scalar!(
        r#"SELECT transporter_id AS "transporter_id!" FROM broadcast_notifications WHERE broadcast_id = $1
         UNION SELECT transporter_id FROM broadcast_declines WHERE broadcast_id = $1"#,
        job.broadcast_id
    )
    .fetch_all(&state.db)
    .await?
    .into_iter()
    .collect();
    let told_at_step: i64 = sqlx::query_scalar!(
        r#"SELECT count(*) AS "told!" FROM broadcast_notifications WHERE broadcast_id = $1 AND radius_step = $2"#,
        job.broadcast_id,
        job.step as i32
    )
    .fetch_one(&state.db)
    .await?;
    let budget = (cap * types).saturating_sub(told_at_step as usize);
    let area = Area { pickup, radius_km };
    // The first wave from a short scan of the nearest candidates, told before the rest of the
    // step is even looked up; then the rest of the step's choice.
    let nearest = pick(state, &open_types, area, &vec![cap.min(FIRST_WAVE); types], &excluded, 2 * FIRST_WAVE).await?;
    let first = nearest_within(nearest, budget.min(FIRST_WAVE));
    let mut caps = vec![cap; types];
    for (t, _, i) in &first {
        caps[*i] -= 1;
        excluded.insert(*t);
    }
    let pairs = |picks: &[Pick]| picks.iter().map(|p| (p.0, p.1)).collect::<Vec<_>>();
    let fresh_first = record(state, job.broadcast_id, job.step, &pairs(&first)).await?;
    let rest = pick(state, &open_types, area, &caps, &excluded, cap * 10).await?;
    let rest = nearest_within(rest, budget - first.len());
    let fresh = fresh_first + record(state, job.broadcast_id, job.step, &pairs(&rest)).await?;
    sqlx::query!(
        "UPDATE broadcasts SET radius_step = GREATEST(radius_step, $2) WHERE id = $1",
        job.broadcast_id,
        job.step as i32
    )
    .execute(&state.db)
    .await?;
    metrics::counter!("transporters_notified_total").increment(fresh as u64);
    tracing::info!(broadcast_id = %job.broadcast_id, step = job.step, radius_km, notified = fresh, "radius step");
    if reach(state, job.step + 1).is_some() {
        let interval_ms = state.config.radius_step_interval.as_millis() as i64;
        // Run times are whole seconds: round to the nearest, so steps keep their average spacing.
        let run_at = (chrono::Utc::now().timestamp_millis() + interval_ms + 500).div_euclid(1000);
        let next = ExpandRadius { broadcast_id: job.broadcast_id, step: job.step + 1 };
        let key = format!("expand:{}:{}", job.broadcast_id, job.step + 1);
        state.enqueue(next, Schedule { run_at: Some(run_at), idempotency_key: Some(&key) }).await?;
    }
    Ok(())
}

/// A transporter came online: the open broadcasts whose current radius step already covers it
/// (nearer transporters were told first; the others reach it at their own step), whose searching
/// lines match its available vehicles and that it has not declined (each announced to it once).
pub async fn rebroadcast(state: &WorkerState, job: &Rebroadcast) -> anyhow::Result<()> {
    let t = job.transporter_id;
    let mut conn = state.db.acquire().await?;
    if admin::require_verified(&mut conn, state.config.require_verified_transporters, t).await.is_err() {
        // Not matched until verified; verifying it sends this job again.
        return Ok(());
    }
    drop(conn);
    let Some(at) = presence::position(&state.cache, t).await.context("reading the transporter's position")? else {
        // No heartbeat yet: the next radius steps will find it once it sends one.
        return Ok(());
    };
    let radii = radii(state);
    let found = sqlx::query!(
        r#"SELECT id AS "id!", dist AS "dist!", radius_step AS "radius_step!" FROM (
            SELECT b.id, b.radius_step, b.created_at,
                   2 * 6371.0088 * asin(sqrt(power(sin(radians(b.pickup_lat - $2) / 2), 2)
                     + cos(radians($2)) * cos(radians(b.pickup_lat)) * power(sin(radians(b.pickup_lng - $3) / 2), 2))) AS dist
            FROM broadcasts b
            WHERE broadcast_is_open(b.status) AND b.expires_at > now()
              AND EXISTS (SELECT 1 FROM truck_requests tr JOIN vehicles v
                            ON v.vehicle_type = tr.vehicle_type AND v.vehicle_subtype = tr.vehicle_subtype
                          WHERE tr.broadcast_id = b.id AND tr.status = 'searching'
                            AND v.transporter_id = $1 AND v.status = 'available')
              AND NOT EXISTS (SELECT 1 FROM broadcast_declines d WHERE d.broadcast_id = b.id AND d.transporter_id = $1)
         ) x WHERE dist <= ($4::float8[])[LEAST(radius_step, $5) + 1] ORDER BY created_at DESC LIMIT 50"#,
        t,
        at.lat,
        at.lng,
        &radii,
        radii.len() as i32 - 1
    )
    .fetch_all(&state.db)
    .await?;
    for b in found {
        let fresh = record(state, b.id, b.radius_step as usize, &[(t, b.dist)]).await?;
        metrics::counter!("transporters_notified_total").increment(fresh as u64);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::nearest_within;

    #[test]
    fn a_step_tells_the_nearest_first_and_no_more_than_its_budget() {
        let ids: Vec<Uuid> = (0..5).map(|_| Uuid::now_v7()).collect();
        let chosen = vec![(ids[0], 9.0, 0), (ids[1], 1.0, 1), (ids[2], 5.0, 0), (ids[3], 3.0, 1), (ids[4], 7.0, 0)];
        let all = nearest_within(chosen.clone(), 10);
        assert_eq!(all.iter().map(|c| c.1).collect::<Vec<_>>(), vec![1.0, 3.0, 5.0, 7.0, 9.0]);
        // A retry after the first wave committed: only what the step may still tell.
        let rest = nearest_within(chosen.clone(), 2);
        assert_eq!(rest, vec![(ids[1], 1.0, 1), (ids[3], 3.0, 1)]);
        assert!(nearest_within(chosen, 0).is_empty());
    }
}
