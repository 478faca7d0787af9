//! Cancel and resume: the paid time stays, renewals stop and start again, an open renewal
//! invoice is canceled at CryptoCloud and here; 409 on free; cross-site cookie posts refused.

use reqwest::header::{HeaderValue, ORIGIN};
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::{bearer, session_cookie, spawn_app, token, TestApp};

async fn subscription(app: &TestApp, user: i64) -> Value {
    let response = app.get("/api/v1/subscription", bearer(&token(user))).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn post(app: &TestApp, user: i64, what: &str) -> reqwest::Response {
    app.post_json(
        &format!("/api/v1/subscription/{what}"),
        bearer(&token(user)),
        &json!({}),
    )
    .await
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn cancel_keeps_the_paid_time_stops_renewal_and_cancels_the_open_renewal_invoice(
    pool: PgPool,
) {
    let app = spawn_app(pool.clone()).await;
    // A free user has nothing to cancel or resume.
    for what in ["cancel", "resume"] {
        let response = post(&app, 7, what).await;
        assert_eq!(response.status(), 409, "{what}");
        assert_eq!(TestApp::error_code(response).await, "no_paid_plan");
    }
    let free = subscription(&app, 7).await;
    assert_eq!(
        (free["status"].as_str(), free["renews"].as_bool()),
        (Some("free"), Some(false))
    );

    // A pro user inside the notice window with an open renewal invoice (as the worker opens).
    let created = app.checkout_ok(7, "pro", 1).await;
    let renewal_id = created["payment_id"].as_i64().unwrap();
    sqlx::query(
        "UPDATE users SET subscription_tier = 'pro', requests_limit = 100000, \
                          subscription_expires = date_trunc('second', now()) + interval '2 days' WHERE id = 7",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "UPDATE payments SET renewal_for = (SELECT subscription_expires FROM users WHERE id = 7), \
                             payment_data = payment_data || '{\"kind\": \"renewal\"}' WHERE id = $1",
    )
    .bind(renewal_id)
    .execute(&pool)
    .await
    .unwrap();
    let before = subscription(&app, 7).await;
    assert_eq!(before["status"], "active");
    assert_eq!(before["renews"], true);
    assert_eq!(before["grace_until"], Value::Null);
    assert_eq!(before["renewal"]["payment_id"], renewal_id);
    assert_eq!(before["renewal"]["amount"], "99.00");
    assert_eq!(before["renewal"]["payment_url"], created["payment_url"]);

    // From another site with the cookie: refused, nothing changes.
    let mut headers = session_cookie(&token(7));
    headers.insert(ORIGIN, HeaderValue::from_static("https://evil.example"));
    let refused = app
        .post_json("/api/v1/subscription/cancel", headers, &json!({}))
        .await;
    assert_eq!(refused.status(), 403);
    assert_eq!(TestApp::error_code(refused).await, "forbidden_origin");
    assert_eq!(subscription(&app, 7).await["renews"], true);

    let response = post(&app, 7, "cancel").await;
    assert_eq!(response.status(), 200);
    let canceled: Value = response.json().await.unwrap();
    assert_eq!(canceled["renews"], false);
    assert_eq!(canceled["tier"], "pro", "the paid time stays");
    assert_eq!(canceled["expires_at"], before["expires_at"]);
    assert_eq!(canceled["renewal"], Value::Null);
    assert_eq!(app.payment_row(renewal_id).await.0, "canceled");
    let invoice = app
        .sandbox_invoice(created["invoice_id"].as_str().unwrap())
        .await;
    assert_eq!(invoice["status"], "canceled", "canceled at CryptoCloud too");
    // Again: still fine, nothing else changes.
    assert_eq!(post(&app, 7, "cancel").await.status(), 200);

    let resumed: Value = post(&app, 7, "resume").await.json().await.unwrap();
    assert_eq!(resumed["renews"], true);
    assert_eq!(resumed["expires_at"], before["expires_at"]);
    let renews: bool = sqlx::query_scalar("SELECT renews FROM users WHERE id = 7")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(renews);

    // One event per change, written with it for the worker's relay: the repeated cancel
    // made none, the refused one none.
    let events: Vec<(String, Vec<u8>)> =
        sqlx::query_as("SELECT routing_key, payload FROM outbox_events ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    let keys: Vec<&str> = events.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "subscription.canceled",
            "payment.canceled",
            "subscription.resumed"
        ]
    );
    let canceled: events::SubscriptionChanged = events::decode(&events[0].1).unwrap();
    assert_eq!(
        (canceled.user_id, canceled.tier.as_str(), canceled.renews),
        (7, "pro", false)
    );
    let payment: events::PaymentChanged = events::decode(&events[1].1).unwrap();
    assert_eq!(
        (payment.payment_id, payment.status.as_str()),
        (renewal_id, "canceled")
    );
}

/// Time left converts between tiers at their price ratio, which needs one currency: a plan
/// in another currency than the running one is refused and nothing is created.
#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn a_plan_in_another_currency_than_the_running_one_is_refused(pool: PgPool) {
    let app = crate::helpers::spawn_app_with(pool.clone(), |s| {
        s.plans = serde_json::from_value(json!({
            "euro": {"price": "90", "currency": "EUR", "requests_limit": 50000},
            "team": {"price": "297", "requests_limit": 1000000}
        }))
        .unwrap();
    })
    .await;
    // On free, any currency may be bought.
    let first = app.checkout(8, json!({"tier": "euro", "months": 1})).await;
    assert_eq!(first.status(), 201);
    sqlx::query(
        "UPDATE users SET subscription_tier = 'pro', subscription_expires = now() + interval '20 days' WHERE id = 8",
    )
    .execute(&pool)
    .await
    .unwrap();
    let before = app.payment_count().await;
    let refused = app.checkout(8, json!({"tier": "euro", "months": 1})).await;
    assert_eq!(refused.status(), 409);
    assert_eq!(TestApp::error_code(refused).await, "plan_currency_mismatch");
    assert_eq!(app.payment_count().await, before, "nothing created");
    // Another tier in the running plan's currency is fine.
    let team = app.checkout(8, json!({"tier": "team", "months": 1})).await;
    assert_eq!(team.status(), 201);
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn in_grace_the_view_says_grace_until_when(pool: PgPool) {
    let app = crate::helpers::spawn_app_with(pool.clone(), |s| s.grace_period_days = 3).await;
    sqlx::query(
        "INSERT INTO users (id, subscription_tier, subscription_expires, requests_limit) \
         VALUES (9, 'pro', date_trunc('second', now()) - interval '1 day', 100000)",
    )
    .execute(&pool)
    .await
    .unwrap();
    let view = subscription(&app, 9).await;
    assert_eq!(view["status"], "grace");
    assert_eq!(view["tier"], "pro");
    assert_eq!(view["renews"], false);
    let expires =
        chrono::DateTime::parse_from_rfc3339(view["expires_at"].as_str().unwrap()).unwrap();
    let until =
        chrono::DateTime::parse_from_rfc3339(view["grace_until"].as_str().unwrap()).unwrap();
    assert_eq!(until - expires, chrono::Duration::days(3));
}
