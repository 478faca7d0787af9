use reqwest::header::HeaderMap;
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::{bearer, spawn_app, token, TestApp, ADMIN_TOKEN};

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn admin_stats_need_the_admin_token(pool: PgPool) {
    let app = spawn_app(pool).await;
    for headers in [HeaderMap::new(), bearer("wrong"), bearer(&token(1))] {
        let response = app.get("/api/v1/admin/stats", headers).await;
        assert_eq!(response.status(), 401);
        assert_eq!(TestApp::error_code(response).await, "unauthorized");
    }
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn admin_stats_count_completed_payments_revenue_and_tiers(pool: PgPool) {
    let app = spawn_app(pool).await;
    let a = app.checkout_ok(1, "pro", 1).await;
    let b = app.checkout_ok(2, "pro", 3).await;
    app.checkout_ok(3, "pro", 2).await;
    // The worker completes two of them (one two days ago); one more, in EUR, is completed too.
    sqlx::query("UPDATE payments SET status = 'completed', paid_at = now() WHERE id = $1")
        .bind(a["payment_id"].as_i64())
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE payments SET status = 'completed', paid_at = now() - INTERVAL '2 days', created_at = now() - INTERVAL '2 days' WHERE id = $1")
        .bind(b["payment_id"].as_i64())
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO payments (user_id, invoice_id, order_id, amount, currency, status, subscription_tier, subscription_months, paid_at) \
         VALUES (1, 'INV-EURO0001', 'ord_eur', 10.5, 'EUR', 'completed', 'team', 1, now())",
    )
    .execute(&app.pool)
    .await
    .unwrap();

    let response = app.get("/api/v1/admin/stats", bearer(ADMIN_TOKEN)).await;
    assert_eq!(response.status(), 200);
    let stats: Value = response.json().await.unwrap();
    assert_eq!(stats["payments_total"], 4);
    assert_eq!(stats["completed_count"], 3);
    assert_eq!(
        stats["revenue"],
        json!([{"currency": "EUR", "amount": "10.50"}, {"currency": "USD", "amount": "396.00"}])
    );
    assert_eq!(stats["last_24h"]["payments_created"], 3);
    assert_eq!(stats["last_24h"]["completed_count"], 2);
    assert_eq!(
        stats["last_24h"]["revenue"],
        json!([{"currency": "EUR", "amount": "10.50"}, {"currency": "USD", "amount": "99.00"}])
    );
    assert_eq!(
        stats["payments_per_tier"],
        json!([{"tier": "pro", "payments": 3, "completed": 2}, {"tier": "team", "payments": 1, "completed": 1}])
    );
    assert_eq!(
        stats["payments_per_status"],
        json!([{"status": "completed", "count": 3}, {"status": "pending", "count": 1}])
    );
}
