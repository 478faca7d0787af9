use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::{spawn_app, spawn_app_with};

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn tiers_are_the_guides_plans_by_default(pool: PgPool) {
    let app = spawn_app(pool).await;
    let response = app.get("/api/v1/tiers", Default::default()).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"tiers": [
            {"name": "free", "price": "0.00", "currency": "USD", "requests_limit": 100, "max_months": 12, "purchasable": false},
            {"name": "pro", "price": "99.00", "currency": "USD", "requests_limit": 100000, "max_months": 12, "purchasable": true},
        ]})
    );
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn operators_add_plans_and_month_limits_by_configuration(pool: PgPool) {
    let app = spawn_app_with(pool, |s| {
        s.plans = serde_json::from_value(json!({
            "team": {"price": "249.50", "requests_limit": 1000000, "max_months": 24},
            "pro": {"max_months": 3}
        }))
        .unwrap();
    })
    .await;
    let body: Value = app
        .get("/api/v1/tiers", Default::default())
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = body["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["free", "pro", "team"]);
    assert_eq!(body["tiers"][2]["max_months"], 24);

    let team = app.checkout_ok(1, "team", 24).await;
    assert_eq!(team["amount"], "5988.00");
    let too_long = app.checkout(1, json!({"tier": "pro", "months": 4})).await;
    assert_eq!(too_long.status(), 422);
}
