//! CryptoCloud down, failing or slow: the payment is `failed` with the reason kept, the
//! caller gets 502/503, and no `pending` row exists without an invoice.

use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::{closed_port, spawn_app, spawn_app_with, TestApp};

async fn assert_failed_checkout(app: &TestApp, status: u16, reason: &str) -> reqwest::Response {
    let response = app.checkout(1, json!({"tier": "pro", "months": 1})).await;
    assert_eq!(response.status(), status);
    let retry_after = response.headers().get("retry-after").cloned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], reason, "{body}");
    let rows: Vec<(String, Option<String>, Option<String>)> =
        sqlx::query_as("SELECT status, failure_reason, invoice_id FROM payments")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        rows,
        [("failed".to_string(), Some(reason.to_string()), None)]
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM payments WHERE status IN ('pending', 'creating')")
            .await,
        0
    );
    // The details are kept next to the reason.
    let details: Value = sqlx::query_scalar("SELECT payment_data FROM payments")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(details["error"]["code"], reason);
    if status == 503 {
        assert!(retry_after.is_some(), "a 503 says when to retry");
    }
    // Return a fresh response for callers that check more.
    app.get("/metrics", Default::default()).await
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn cryptocloud_down_leaves_a_failed_payment_and_a_503(pool: PgPool) {
    let port = closed_port();
    let app = spawn_app_with(pool, |s| {
        s.cryptocloud_api_url = format!("http://127.0.0.1:{port}")
    })
    .await;
    let metrics = assert_failed_checkout(&app, 503, "provider_unavailable").await;
    let text = metrics.text().await.unwrap();
    assert!(
        text.lines()
            .any(|l| l.starts_with("checkout_invoices_failed_total")
                && l.contains("reason=\"provider_unavailable\"")),
        "{text}"
    );
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn cryptocloud_answering_500_leaves_a_failed_payment_and_a_502(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.set_faults(json!({"error_rate": 1.0, "error_status": 500}))
        .await;
    assert_failed_checkout(&app, 502, "provider_error").await;
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn cryptocloud_timing_out_leaves_a_failed_payment_and_a_503(pool: PgPool) {
    let app = spawn_app_with(pool, |s| s.cryptocloud_timeout_ms = 300).await;
    app.set_faults(json!({"latency_ms": 3000})).await;
    let started = std::time::Instant::now();
    assert_failed_checkout(&app, 503, "provider_timeout").await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "the client gave up at its timeout"
    );
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn cryptocloud_rate_limiting_is_a_503(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.set_faults(json!({"error_rate": 1.0, "error_status": 429}))
        .await;
    assert_failed_checkout(&app, 503, "provider_rate_limited").await;
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn a_dropped_connection_is_a_503(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.set_faults(json!({"drop_rate": 1.0})).await;
    assert_failed_checkout(&app, 503, "provider_unavailable").await;
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn a_refused_api_key_is_a_502(pool: PgPool) {
    let app = spawn_app_with(pool, |s| {
        s.cryptocloud_api_key = "wrong-key".to_string().into()
    })
    .await;
    assert_failed_checkout(&app, 502, "provider_unauthorized").await;
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn a_validation_error_from_cryptocloud_is_a_502(pool: PgPool) {
    // A shop id CryptoCloud does not know.
    let app = spawn_app_with(pool, |s| s.cryptocloud_shop_id = "unknown-shop".into()).await;
    assert_failed_checkout(&app, 502, "provider_rejected").await;
}
