//! A line is what the customer asked for: a vehicle type, a subtype and a price (docs/DESIGN.md,
//! "Lines"). Accepts and holds name the line they take; the vehicle must fit it.

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, assert_problem, broadcast_body, spawn_app};

fn key() -> String {
    Uuid::new_v4().to_string()
}

fn order(lines: &[(&str, i64, i64)]) -> Value {
    let mut body = broadcast_body(&[]);
    body["vehicles"] = lines
        .iter()
        .map(|(subtype, count, price)| json!({ "type": "open", "subtype": subtype, "count": count, "pricePerTruck": price }))
        .collect();
    body
}

/// A transporter with one open vehicle of `subtype`.
async fn owner_of(app: &TestApp, subtype: &str) -> (Uuid, String, Uuid) {
    let (id, token, vehicle) = app.transporters_with_vehicles(1, "open").await.remove(0);
    set_subtype(app, vehicle, subtype).await;
    (id, token, vehicle)
}

async fn set_subtype(app: &TestApp, vehicle: Uuid, subtype: &str) {
    sqlx::query("UPDATE vehicles SET vehicle_subtype = $2 WHERE id = $1")
        .bind(vehicle)
        .bind(subtype)
        .execute(&app.db)
        .await
        .unwrap();
}

async fn detail(app: &TestApp, customer: &str, id: &str) -> Value {
    app.get_auth(&format!("/v1/broadcasts/{id}"), customer).await.json().await.unwrap()
}

#[tokio::test]
async fn a_truck_is_taken_only_on_the_line_it_names_by_a_vehicle_that_fits_it() {
    let app = spawn_app().await;
    let (_, customer) = app.user("customer").await;
    let r = app
        .create_broadcast(
            &customer,
            &key(),
            &order(&[("open_17ft", 1, 1000), ("open_20ft", 1, 1400), ("open_20ft", 1, 1600)]),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let lines: Vec<(i64, String, i64)> = created["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["line"].as_i64().unwrap(),
                l["vehicleSubtype"].as_str().unwrap().to_owned(),
                l["pricePerTruck"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [(0, "open_17ft".into(), 1000), (1, "open_20ft".into(), 1400), (2, "open_20ft".into(), 1600)],
        "three lines, none merged"
    );

    let short = owner_of(&app, "open_17ft").await;
    let long = owner_of(&app, "open_20ft").await;
    app.notify(&id, &[short.0, long.0]).await;

    // A 17 ft truck cannot take the 20 ft line (nor its price): nothing changes.
    let r = app.accept(&short.1, &id, 1, short.2, key()).await;
    let p = assert_problem(r, 422, "VEHICLE_SUBTYPE_MISMATCH").await;
    assert!(p["detail"].as_str().unwrap().contains("open_20ft"), "{p}");
    assert_eq!(app.vehicle_status(short.2).await, "available", "the refused accept took no vehicle");
    assert_eq!(detail(&app, &customer, &id).await["lines"][1]["remaining"], 1);

    // It takes its own line; the accept says which.
    let a: Value = app.accept(&short.1, &id, 0, short.2, key()).await.json().await.unwrap();
    assert_eq!((a["line"].as_i64(), a["trucksRemaining"].as_i64()), (Some(0), Some(2)), "{a}");

    // The 17 ft line is full, whatever vehicle asks; an unknown line is named as such.
    assert_problem(app.accept(&long.1, &id, 0, long.2, key()).await, 409, "LINE_FILLED").await;
    assert_problem(app.accept(&long.1, &id, 7, long.2, key()).await, 422, "NO_SUCH_LINE").await;
    let p = assert_problem(app.accept(&long.1, &id, -1, long.2, key()).await, 422, "VALIDATION_FAILED").await;
    assert_eq!(p["errors"][0]["field"], "line", "{p}");

    // The 20 ft truck takes the line at 1600, and is paid that line's price.
    let a: Value = app.accept(&long.1, &id, 2, long.2, key()).await.json().await.unwrap();
    assert_eq!(a["line"], 2, "{a}");
    let d = detail(&app, &customer, &id).await;
    let taken: Vec<(i64, i64)> = d["acceptedTrucks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["line"].as_i64().unwrap(), t["pricePerTruck"].as_i64().unwrap()))
        .collect();
    assert_eq!(taken, [(0, 1000), (2, 1600)]);
    let per_line: Vec<(i64, i64)> = d["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["filled"].as_i64().unwrap(), l["remaining"].as_i64().unwrap()))
        .collect();
    assert_eq!(per_line, [(1, 0), (0, 1), (1, 0)], "counts are per line");

    // A type that is not the line's is its own refusal.
    let tanker = app.vehicle_for(long.0, "tanker").await;
    assert_problem(app.accept(&long.1, &id, 1, tanker, key()).await, 422, "VEHICLE_TYPE_MISMATCH").await;
}

#[tokio::test]
async fn a_hold_holds_one_line_and_confirms_only_vehicles_that_fit_it() {
    let app = spawn_app().await;
    let (_, customer) = app.user("customer").await;
    let r = app.create_broadcast(&customer, &key(), &order(&[("open_17ft", 2, 1000), ("open_20ft", 1, 1400)])).await;
    let id = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let (t, token, short) = owner_of(&app, "open_17ft").await;
    app.notify(&id, &[t]).await;

    let body = json!({ "line": 1, "quantity": 2 });
    let r = app.command(&format!("/v1/broadcasts/{id}/holds"), &token, &key(), body).await;
    assert_eq!(r.status(), StatusCode::OK);
    let hold: Value = r.json().await.unwrap();
    assert_eq!((hold["line"].as_i64(), hold["held"].as_i64()), (Some(1), Some(1)), "one 20 ft truck held: {hold}");
    let d = detail(&app, &customer, &id).await;
    assert_eq!((d["lines"][0]["held"].as_i64(), d["lines"][1]["held"].as_i64()), (Some(0), Some(1)));

    let driver = app.driver_of(t).await.0;
    let path = format!("/v1/holds/{}/confirm", hold["id"].as_str().unwrap());
    let body = json!({ "assignments": [{ "vehicleId": short, "driverId": driver }] });
    let p = assert_problem(app.command(&path, &token, &key(), body).await, 422, "HOLD_CONFIRM_REFUSED").await;
    assert_eq!(p["entries"][0]["code"], "VEHICLE_SUBTYPE_MISMATCH", "{p}");
    assert_eq!(app.vehicle_status(short).await, "available");

    let long = app.vehicle_for(t, "open").await;
    set_subtype(&app, long, "open_20ft").await;
    let body = json!({ "assignments": [{ "vehicleId": long, "driverId": driver }] });
    assert_eq!(app.command(&path, &token, &key(), body).await.status(), StatusCode::OK);
    let d = detail(&app, &customer, &id).await;
    assert_eq!(d["acceptedTrucks"][0]["line"], 1);
    assert_eq!(d["acceptedTrucks"][0]["pricePerTruck"], 1400);
}

#[tokio::test]
async fn the_same_line_twice_is_refused_and_nothing_is_written() {
    let app = spawn_app().await;
    let (_, customer) = app.user("customer").await;
    let r = app.create_broadcast(&customer, &key(), &order(&[("open_20ft", 1, 1400), ("open_20ft", 2, 1400)])).await;
    let p = assert_problem(r, 422, "VALIDATION_FAILED").await;
    assert_eq!(p["errors"][0]["field"], "vehicles[1]", "{p}");
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM broadcasts").fetch_one(&app.db).await.unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn only_transporters_with_a_vehicle_that_fits_a_line_are_told() {
    let app = spawn_app().await;
    let (_, customer) = app.user("customer").await;
    let r = app.create_broadcast(&customer, &key(), &order(&[("open_20ft", 1, 1400)])).await;
    let id = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let fits = owner_of(&app, "open_20ft").await;
    let other = owner_of(&app, "open_14ft").await;
    app.go_online_at_pickup(other.0).await;
    app.notify(&id, &[fits.0]).await;
    let told: Vec<Uuid> =
        sqlx::query_scalar("SELECT transporter_id FROM broadcast_notifications WHERE broadcast_id = $1")
            .bind(Uuid::parse_str(&id).unwrap())
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(told, [fits.0], "the 14 ft owner has nothing to offer this broadcast");
}

/// The schema refuses a vehicle that does not fit its truck's line, whatever code writes it.
#[tokio::test]
async fn the_schema_refuses_a_vehicle_that_does_not_fit_the_line() {
    let app = spawn_app().await;
    let (_, customer) = app.user("customer").await;
    let r = app.create_broadcast(&customer, &key(), &order(&[("open_20ft", 1, 1400)])).await;
    let id = Uuid::parse_str(r.json::<Value>().await.unwrap()["id"].as_str().unwrap()).unwrap();
    let (t, _, short) = owner_of(&app, "open_17ft").await;
    let err = sqlx::query(
        "UPDATE truck_requests SET status = 'accepted', transporter_id = $2, vehicle_id = $3, accepted_at = now()
         WHERE broadcast_id = $1",
    )
    .bind(id)
    .bind(t)
    .bind(short)
    .execute(&app.db)
    .await
    .unwrap_err();
    let constraint = err.as_database_error().and_then(|e| e.constraint()).map(str::to_owned);
    assert_eq!(constraint.as_deref(), Some("truck_requests_vehicle_fits_line"), "{err}");
}
