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

/// Records notifications and, in the same transaction, the outbox row that announces them to
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
    let mut recipients: Vec<NotifiedTransporter> = found
        .iter()
        .filter(|f| fresh_set.contains(&f.0))
        .map(|&(transporter_id, distance_km)| NotifiedTransporter { transporter_id, distance_km })
        .collect();
    recipients.sort_by(|a, b| a.distance_km.total_cmp(&b.distance_km));
    for wave in waves(&recipients) {
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

/// The nearest transporters of a step are announced first, in a small wave of their own: each
/// wave is its own outbox row (the relay dispatches rows in order) and so its own `notify` job,
/// so the nearest do not wait for the events of thousands farther away to be written; the rest
/// follow in waves of [`WAVE`], which the notify queue runs side by side (docs/DESIGN.md, "Jobs").
pub const FIRST_WAVE: usize = 50;
pub const WAVE: usize = 1000;

fn waves<T>(sorted: &[T]) -> impl Iterator<Item = &[T]> {
    let (first, rest) = sorted.split_at(sorted.len().min(FIRST_WAVE));
    std::iter::once(first).filter(|w| !w.is_empty()).chain(rest.chunks(WAVE))
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
    let excluded: HashSet<Uuid> = sqlx::query_scalar!(
        r#"SELECT transporter_id AS "transporter_id!" FROM broadcast_notifications WHERE broadcast_id = $1
         UNION SELECT transporter_id FROM broadcast_declines WHERE broadcast_id = $1"#,
        job.broadcast_id
    )
    .fetch_all(&state.db)
    .await?
    .into_iter()
    .collect();
    let mut chosen: Vec<(Uuid, f64)> = Vec::new();
    for (vehicle_type, subtypes) in open_types {
        let nearby = presence::nearby(&state.cache, vehicle_type, pickup, radius_km, cap * 10 + excluded.len()).await?;
        let candidates: Vec<Uuid> = nearby.iter().map(|n| n.0).filter(|t| !excluded.contains(t)).collect();
        // The geo set can lag behind the fleet: confirm an available vehicle that fits a line.
        // With the verification gate on, only verified transporters are matched.
        let confirmed: HashSet<Uuid> = sqlx::query_scalar!(
            "SELECT DISTINCT v.transporter_id FROM vehicles v JOIN users u ON u.id = v.transporter_id
             WHERE v.transporter_id = ANY($1) AND v.vehicle_type = $2 AND v.vehicle_subtype = ANY($4)
               AND v.status = 'available' AND (NOT $3 OR u.verified_at IS NOT NULL)",
            &candidates,
            vehicle_type as _,
            state.config.require_verified_transporters,
            &subtypes
        )
        .fetch_all(&state.db)
        .await?
        .into_iter()
        .collect();
        let mut taken = 0;
        for (t, km) in nearby {
            if taken == cap {
                break;
            }
            if confirmed.contains(&t) && !chosen.iter().any(|c| c.0 == t) {
                chosen.push((t, km));
                taken += 1;
            }
        }
    }
    let fresh = record(state, job.broadcast_id, job.step, &chosen).await?;
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
    use super::{FIRST_WAVE, WAVE, waves};

    #[test]
    fn the_nearest_go_first_in_a_small_wave_then_the_rest_in_waves() {
        let none: Vec<usize> = Vec::new();
        assert_eq!(waves(&none).count(), 0);
        let few: Vec<usize> = (0..10).collect();
        assert_eq!(waves(&few).map(<[usize]>::len).collect::<Vec<_>>(), vec![10]);
        let many: Vec<usize> = (0..FIRST_WAVE + 2 * WAVE + 7).collect();
        let sizes: Vec<usize> = waves(&many).map(<[usize]>::len).collect();
        assert_eq!(sizes, vec![FIRST_WAVE, WAVE, WAVE, 7]);
        let flat: Vec<usize> = waves(&many).flatten().copied().collect();
        assert_eq!(flat, many, "every recipient once, nearest first");
    }
}
