//! Transporter presence: the availability toggle, heartbeats that keep a transporter in the
//! geo sets of the vehicle types it has available, and the geo search matching runs on. A
//! transporter whose heartbeats stop drops out of matching when its presence key expires; the
//! sweep then removes its stale geo members.

use std::time::Duration;

use redis::AsyncCommands;
use sqlx::PgPool;
use uuid::Uuid;

use crate::cache::Cache;
use crate::domain::{LatLng, VehicleType};
use crate::error::{Error, Result};
use crate::lifecycle::views::DriverBody;

/// Vehicle types a transporter has at least one available vehicle of.
pub async fn available_types(db: &PgPool, transporter: Uuid) -> Result<Vec<VehicleType>> {
    Ok(sqlx::query_scalar!(
        r#"SELECT DISTINCT vehicle_type AS "vehicle_type!: VehicleType" FROM vehicles WHERE transporter_id = $1 AND
                 status = 'available'"#,
        transporter
    )
    .fetch_all(db)
    .await?)
}

async fn conn(cache: &Cache) -> Result<deadpool_redis::Connection> {
    cache.conn().await
}

/// Refuses a second toggle within `throttle` (429 with Retry-After).
pub async fn throttle_toggle(cache: &Cache, user: Uuid, throttle: Duration) -> Result<()> {
    let mut c = conn(cache).await?;
    let ms = throttle.as_millis() as u64;
    if ms == 0 {
        return Ok(());
    }
    let set: Option<String> = redis::cmd("SET")
        .arg(cache.keys.availability_throttle(user))
        .arg(1)
        .arg("NX")
        .arg("PX")
        .arg(ms)
        .query_async(&mut *c)
        .await?;
    if set.is_none() {
        let left: i64 = c.pttl(cache.keys.availability_throttle(user)).await?;
        let secs = (left.max(1) as u64).div_ceil(1000);
        return Err(Error::rejected(
            429,
            "AVAILABILITY_THROTTLED",
            format!("availability changed moments ago; retry in {secs} s"),
        )
        .retry_after(secs));
    }
    Ok(())
}

/// Sets the transporter online or offline. Going offline removes it from matching at once.
/// Returns true when it was offline and is now online.
pub async fn set_online(cache: &Cache, transporter: Uuid, online: bool) -> Result<bool> {
    let mut c = conn(cache).await?;
    if online {
        let was_offline: bool = c.set_nx(cache.keys.online(transporter), 1).await?;
        return Ok(was_offline);
    }
    let mut pipe = redis::pipe();
    pipe.del(cache.keys.online(transporter)).ignore().del(cache.keys.presence(transporter)).ignore();
    for t in VehicleType::ALL {
        pipe.zrem(cache.keys.geo(t), transporter.to_string()).ignore();
    }
    let _: () = pipe.query_async(&mut *c).await?;
    Ok(false)
}

pub async fn is_online(cache: &Cache, transporter: Uuid) -> Result<bool> {
    let mut c = conn(cache).await?;
    Ok(c.exists(cache.keys.online(transporter)).await?)
}

/// Records a heartbeat: presence for `ttl`, and geo membership for exactly the vehicle types the
/// transporter has available now. Refused (409) while the transporter is offline.
pub async fn heartbeat(
    cache: &Cache,
    db: &PgPool,
    transporter: Uuid,
    at: LatLng,
    ttl: Duration,
) -> Result<Vec<VehicleType>> {
    if !is_online(cache, transporter).await? {
        return Err(Error::rejected(
            409,
            "TRANSPORTER_OFFLINE",
            "go online (PUT /v1/transporters/me/availability) before sending heartbeats",
        ));
    }
    let types = available_types(db, transporter).await?;
    let member = transporter.to_string();
    let mut pipe = redis::pipe();
    pipe.set_ex(cache.keys.presence(transporter), format!("{},{}", at.lat, at.lng), ttl.as_secs()).ignore();
    for t in VehicleType::ALL {
        if types.contains(&t) {
            pipe.geo_add(cache.keys.geo(t), (redis::geo::Coord::lon_lat(at.lng, at.lat), member.as_str())).ignore();
        } else {
            pipe.zrem(cache.keys.geo(t), member.as_str()).ignore();
        }
    }
    let mut c = conn(cache).await?;
    let _: () = pipe.query_async(&mut *c).await?;
    Ok(types)
}

/// The transporter's last heartbeat position, if its presence has not lapsed.
pub async fn position(cache: &Cache, transporter: Uuid) -> Result<Option<LatLng>> {
    let mut c = conn(cache).await?;
    let raw: Option<String> = c.get(cache.keys.presence(transporter)).await?;
    Ok(raw.and_then(|r| {
        let (lat, lng) = r.split_once(',')?;
        LatLng::parse(lat.parse().ok()?, lng.parse().ok()?).ok()
    }))
}

/// Online, present transporters with a `vehicle_type` vehicle within `radius_km` of `at`,
/// nearest first, with their distance in km.
pub async fn nearby(
    cache: &Cache,
    vehicle_type: VehicleType,
    at: LatLng,
    radius_km: f64,
    limit: usize,
) -> Result<Vec<(Uuid, f64)>> {
    let mut c = conn(cache).await?;
    let found: Vec<(String, f64)> = redis::cmd("GEOSEARCH")
        .arg(cache.keys.geo(vehicle_type))
        .arg("FROMLONLAT")
        .arg(at.lng)
        .arg(at.lat)
        .arg("BYRADIUS")
        .arg(radius_km)
        .arg("km")
        .arg("ASC")
        .arg("COUNT")
        .arg(limit)
        .arg("WITHDIST")
        .query_async(&mut *c)
        .await?;
    if found.is_empty() {
        return Ok(vec![]);
    }
    // Drop members whose heartbeats lapsed (the sweep removes them from the set later).
    let mut pipe = redis::pipe();
    for (member, _) in &found {
        pipe.exists(cache.keys.presence(member));
    }
    let present: Vec<bool> = pipe.query_async(&mut *c).await?;
    Ok(found
        .into_iter()
        .zip(present)
        .filter(|(_, p)| *p)
        .filter_map(|((m, d), _)| Some((Uuid::parse_str(&m).ok()?, d)))
        .collect())
}

/// Removes geo members whose presence lapsed. Returns how many were removed.
pub async fn sweep_stale(cache: &Cache) -> anyhow::Result<u64> {
    let mut c = cache.conn().await?;
    let mut removed = 0u64;
    for t in VehicleType::ALL {
        let key = cache.keys.geo(t);
        let members: Vec<String> = c.zrange(&key, 0, -1).await?;
        for chunk in members.chunks(500) {
            let mut pipe = redis::pipe();
            for m in chunk {
                pipe.exists(cache.keys.presence(m));
            }
            let present: Vec<bool> = pipe.query_async(&mut *c).await?;
            let stale: Vec<&String> = chunk.iter().zip(present).filter(|(_, p)| !*p).map(|(m, _)| m).collect();
            if !stale.is_empty() {
                let n: u64 = c.zrem(&key, stale).await?;
                removed += n;
            }
        }
    }
    Ok(removed)
}

/// A driver's availability, shown to its transporter. Online lasts `ttl` unless the driver's
/// app renews it (the toggle or a heartbeat), so a dead phone stops showing online. Returns
/// whether it changed.
pub async fn set_driver_online(cache: &Cache, driver: Uuid, online: bool, ttl: Duration) -> Result<bool> {
    let mut c = conn(cache).await?;
    let key = cache.keys.driver_online(driver);
    let changed: bool = if online {
        // SET ... GET answers the old value: none means the driver just came online.
        let old: Option<String> = redis::cmd("SET")
            .arg(&key)
            .arg(1)
            .arg("EX")
            .arg(ttl.as_secs().max(1))
            .arg("GET")
            .query_async(&mut *c)
            .await?;
        old.is_none()
    } else {
        let n: u32 = c.del(&key).await?;
        n == 1
    };
    Ok(changed)
}

/// Which of `drivers` are online now.
pub async fn drivers_online(cache: &Cache, drivers: &[Uuid]) -> Result<Vec<bool>> {
    if drivers.is_empty() {
        return Ok(Vec::new());
    }
    let mut c = conn(cache).await?;
    let keys: Vec<String> = drivers.iter().map(|d| cache.keys.driver_online(*d)).collect();
    let values: Vec<Option<String>> = redis::cmd("MGET").arg(&keys).query_async(&mut *c).await?;
    Ok(values.into_iter().map(|v| v.is_some()).collect())
}

/// Fills in `online` on driver bodies read from PostgreSQL.
pub async fn with_online(cache: &Cache, mut drivers: Vec<DriverBody>) -> Result<Vec<DriverBody>> {
    let ids: Vec<Uuid> = drivers.iter().map(|d| d.id).collect();
    for (d, online) in drivers.iter_mut().zip(drivers_online(cache, &ids).await?) {
        d.online = online;
    }
    Ok(drivers)
}
