//! Fleet API behaviour: vehicles and drivers, normalisation, ownership, status rules.

use serde_json::{Value, json};

use crate::helpers::{assert_problem, spawn_app};

#[tokio::test]
async fn vehicles_crud_with_normalised_registration_and_ownership() {
    let app = spawn_app().await;
    let (_, me) = app.user("transporter").await;
    let (_, other) = app.user("transporter").await;
    let (_, customer) = app.user("customer").await;
    let r = app
        .post_auth(
            "/v1/transporters/me/vehicles",
            &me,
            json!({ "registrationNumber": "mh 02-ab 1234", "vehicleType": "open", "vehicleSubtype": "open_17ft" }),
        )
        .await;
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["registrationNumber"], "MH02AB1234");
    assert_eq!(v["status"], "available");
    let id = v["id"].as_str().unwrap();
    let dup = app
        .post_auth(
            "/v1/transporters/me/vehicles",
            &other,
            json!({ "registrationNumber": "MH02AB1234", "vehicleType": "open", "vehicleSubtype": "x" }),
        )
        .await;
    assert_problem(dup, 409, "VEHICLE_EXISTS").await;
    let bad = app
        .post_auth(
            "/v1/transporters/me/vehicles",
            &me,
            json!({ "registrationNumber": "12", "vehicleType": "boat", "vehicleSubtype": "" }),
        )
        .await;
    let b = assert_problem(bad, 422, "VALIDATION_FAILED").await;
    assert_eq!(b["errors"].as_array().unwrap().len(), 3);
    assert_problem(app.get_auth(&format!("/v1/transporters/me/vehicles/{id}"), &other).await, 404, "VEHICLE_NOT_FOUND")
        .await;
    assert_problem(app.get_auth("/v1/transporters/me/vehicles", &customer).await, 403, "ROLE_FORBIDDEN").await;
    let r = app
        .client
        .patch(app.url(&format!("/v1/transporters/me/vehicles/{id}")))
        .bearer_auth(&me)
        .json(&json!({ "status": "maintenance" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "maintenance");
    let r = app
        .client
        .patch(app.url(&format!("/v1/transporters/me/vehicles/{id}")))
        .bearer_auth(&me)
        .json(&json!({ "status": "on_trip" }))
        .send()
        .await
        .unwrap();
    assert_problem(r, 422, "VALIDATION_FAILED").await;
    let list: Value = app.get_auth("/v1/transporters/me/vehicles", &me).await.json().await.unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let r = app
        .client
        .delete(app.url(&format!("/v1/transporters/me/vehicles/{id}")))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_problem(r, 404, "VEHICLE_NOT_FOUND").await;
    let r = app
        .client
        .delete(app.url(&format!("/v1/transporters/me/vehicles/{id}")))
        .bearer_auth(&me)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
}

#[tokio::test]
async fn a_vehicle_on_a_trip_cannot_be_taken_twice_or_edited_by_hand() {
    let app = spawn_app().await;
    let (_, customer_a) = app.user("customer").await;
    let (_, customer_b) = app.user("customer").await;
    let t = app.transporters_with_vehicles(1, "tractor").await.remove(0);
    let a = app.open_broadcast(&customer_a, &[("tractor", 1, 2000)]).await;
    let b = app.open_broadcast(&customer_b, &[("tractor", 1, 2000)]).await;
    app.notify(&a, &[t.0]).await;
    app.notify(&b, &[t.0]).await;
    assert_eq!(app.accept(&t.1, &a, 0, t.2, uuid::Uuid::new_v4().to_string()).await.status(), 200);
    assert_problem(app.accept(&t.1, &b, 0, t.2, uuid::Uuid::new_v4().to_string()).await, 409, "VEHICLE_UNAVAILABLE")
        .await;
    let r = app
        .client
        .patch(app.url(&format!("/v1/transporters/me/vehicles/{}", t.2)))
        .bearer_auth(&t.1)
        .json(&json!({ "status": "available" }))
        .send()
        .await
        .unwrap();
    assert_problem(r, 409, "VEHICLE_ON_TRIP").await;
    let r = app
        .client
        .delete(app.url(&format!("/v1/transporters/me/vehicles/{}", t.2)))
        .bearer_auth(&t.1)
        .send()
        .await
        .unwrap();
    assert_problem(r, 409, "VEHICLE_IN_USE").await;
}

#[tokio::test]
async fn drivers_crud_belongs_to_the_transporter() {
    let app = spawn_app().await;
    let (me_id, me) = app.user("transporter").await;
    let my_phone: String =
        sqlx::query_scalar("SELECT phone FROM users WHERE id = $1").bind(me_id).fetch_one(&app.db).await.unwrap();
    let (_, other) = app.user("transporter").await;
    let r = app
        .post_auth("/v1/transporters/me/drivers", &me, json!({ "phone": "+91 98000 00001", "name": "Suresh" }))
        .await;
    assert_eq!(r.status(), 201);
    let d: Value = r.json().await.unwrap();
    let id = d["id"].as_str().unwrap();
    assert_eq!(d["phone"], "+919800000001");
    assert_problem(
        app.post_auth("/v1/transporters/me/drivers", &other, json!({ "phone": "9800000001", "name": "Again" })).await,
        409,
        "DRIVER_EXISTS",
    )
    .await;
    let b = assert_problem(
        app.post_auth("/v1/transporters/me/drivers", &me, json!({ "phone": "123", "name": "" })).await,
        422,
        "VALIDATION_FAILED",
    )
    .await;
    assert_eq!(b["errors"].as_array().unwrap().len(), 2);
    assert_problem(app.get_auth(&format!("/v1/transporters/me/drivers/{id}"), &other).await, 404, "DRIVER_NOT_FOUND")
        .await;
    let r = app
        .client
        .patch(app.url(&format!("/v1/transporters/me/drivers/{id}")))
        .bearer_auth(&me)
        .json(&json!({ "name": "Suresh K" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["name"], "Suresh K");
    let list: Value = app.get_auth("/v1/transporters/me/drivers", &me).await.json().await.unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    // The driver can now sign in; the code goes to the transporter.
    assert_eq!(app.request_otp("9800000001", "driver").await.status(), 202);
    let r =
        app.client.delete(app.url(&format!("/v1/transporters/me/drivers/{id}"))).bearer_auth(&me).send().await.unwrap();
    assert_eq!(r.status(), 204);
    // Removed, it gets the answer any phone gets, and its transporter no code.
    let before = app.sms.count(&my_phone);
    assert!(before >= 1, "the driver's code went to its transporter");
    assert_eq!(app.request_otp("9800000001", "driver").await.status(), 202);
    assert_eq!(app.sms.count(&my_phone), before, "no code for a removed driver");
}

#[tokio::test]
async fn a_removed_drivers_token_stops_working_at_once() {
    let app = spawn_app().await;
    let (transporter, me) = app.user("transporter").await;
    let d: Value = app
        .post_auth("/v1/transporters/me/drivers", &me, json!({ "phone": "9800000002", "name": "Mahesh" }))
        .await
        .json()
        .await
        .unwrap();
    let id = uuid::Uuid::parse_str(d["id"].as_str().unwrap()).unwrap();
    let token = weelo_shared::auth::TokenSigner::new(&app.config)
        .issue(id, weelo_shared::domain::Role::Driver, Some(transporter))
        .unwrap()
        .0;
    assert_eq!(app.get_auth("/v1/me", &token).await.status(), 200);
    let r =
        app.client.delete(app.url(&format!("/v1/transporters/me/drivers/{id}"))).bearer_auth(&me).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_problem(app.get_auth("/v1/me", &token).await, 401, "UNAUTHORIZED").await;
    let r = app
        .client
        .put(app.url("/v1/devices/me"))
        .bearer_auth(&token)
        .json(&json!({ "fcmToken": "x", "platform": "android" }))
        .send()
        .await
        .unwrap();
    assert_problem(r, 401, "UNAUTHORIZED").await;
}
