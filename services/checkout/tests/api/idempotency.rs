use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::{spawn_app, TestApp};

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn the_same_key_and_body_return_the_same_payment_and_one_invoice(pool: PgPool) {
    let app = spawn_app(pool).await;
    let body = json!({"tier": "pro", "months": 2});
    let first = app.checkout_with_key(1, "key-1", body.clone()).await;
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.unwrap();

    // Same request, fields in another order and the tier in capitals: the same order.
    let second = app
        .checkout_with_key(1, "key-1", json!({"months": 2, "tier": "PRO"}))
        .await;
    assert_eq!(second.status(), 201);
    assert_eq!(second.headers()["idempotent-replayed"], "true");
    assert_eq!(
        second.headers()["location"].to_str().unwrap(),
        format!("/api/v1/payments/{}", first["payment_id"])
    );
    let second: Value = second.json().await.unwrap();
    assert_eq!(first, second);
    assert_eq!(app.payment_count().await, 1);
    assert_eq!(app.sandbox_invoices().await.len(), 1);
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn two_concurrent_requests_with_one_key_make_one_invoice(pool: PgPool) {
    let app = spawn_app(pool).await;
    // CryptoCloud answers slowly, so the second request arrives while the first one waits.
    app.set_faults(json!({"latency_ms": 400})).await;
    let body = json!({"tier": "pro", "months": 1});
    let (a, b) = futures::join!(
        app.checkout_with_key(5, "same-moment", body.clone()),
        app.checkout_with_key(5, "same-moment", body.clone()),
    );
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (201, 201));
    let replayed = [&a, &b]
        .iter()
        .filter(|r| r.headers().get("idempotent-replayed").is_some())
        .count();
    assert_eq!(replayed, 1, "exactly one answer is a replay");
    let (a, b): (Value, Value) = (a.json().await.unwrap(), b.json().await.unwrap());
    assert_eq!(a, b);
    assert_eq!(app.payment_count().await, 1);
    let invoices = app.sandbox_invoices().await;
    assert_eq!(invoices.len(), 1, "one invoice at CryptoCloud");
    assert_eq!(invoices[0]["order_id"], a["order_id"]);
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn the_same_key_with_a_different_body_is_a_422(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.checkout_with_key(1, "key-2", json!({"tier": "pro", "months": 1}))
        .await;
    for other in [
        json!({"tier": "pro", "months": 2}),
        json!({"tier": "pro", "months": 1, "payment_method": "BTC"}),
    ] {
        let response = app.checkout_with_key(1, "key-2", other).await;
        assert_eq!(response.status(), 422);
        assert_eq!(
            TestApp::error_code(response).await,
            "idempotency_key_reused"
        );
    }
    assert_eq!(app.payment_count().await, 1);
    assert_eq!(app.sandbox_invoices().await.len(), 1);
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn keys_are_per_user(pool: PgPool) {
    let app = spawn_app(pool).await;
    let body = json!({"tier": "pro", "months": 1});
    let a: Value = app
        .checkout_with_key(1, "shared", body.clone())
        .await
        .json()
        .await
        .unwrap();
    let b: Value = app
        .checkout_with_key(2, "shared", body)
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(a["payment_id"], b["payment_id"]);
    assert_eq!(app.payment_count().await, 2);
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn keys_expire_after_24_hours(pool: PgPool) {
    let app = spawn_app(pool).await;
    let first: Value = app
        .checkout_with_key(1, "old-key", json!({"tier": "pro", "months": 1}))
        .await
        .json()
        .await
        .unwrap();
    let expires_in: f64 = sqlx::query_scalar(
        "SELECT EXTRACT(EPOCH FROM expires_at - created_at)::float8 FROM idempotency_keys WHERE idempotency_key = 'old-key'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(expires_in, 86_400.0);
    // A day later:
    sqlx::query("UPDATE idempotency_keys SET created_at = now() - INTERVAL '25 hours', expires_at = now() - INTERVAL '1 hour'")
        .execute(&app.pool)
        .await
        .unwrap();
    // The key is free again, even for another body.
    let second = app
        .checkout_with_key(1, "old-key", json!({"tier": "pro", "months": 3}))
        .await;
    assert_eq!(second.status(), 201);
    assert!(second.headers().get("idempotent-replayed").is_none());
    let second: Value = second.json().await.unwrap();
    assert_ne!(first["payment_id"], second["payment_id"]);
    assert_eq!(app.payment_count().await, 2);
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn after_a_provider_failure_the_key_can_be_retried(pool: PgPool) {
    let app = spawn_app(pool).await;
    let body = json!({"tier": "pro", "months": 1});
    app.set_faults(json!({"error_rate": 1.0, "error_status": 500}))
        .await;
    let failed = app.checkout_with_key(1, "retry-me", body.clone()).await;
    assert_eq!(failed.status(), 502);
    app.set_faults(json!({})).await;
    let retried = app.checkout_with_key(1, "retry-me", body).await;
    assert_eq!(retried.status(), 201);
    let statuses: Vec<String> = sqlx::query_scalar("SELECT status FROM payments ORDER BY id")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(statuses, ["failed", "pending"]);
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn a_malformed_key_is_a_400(pool: PgPool) {
    let app = spawn_app(pool).await;
    let long = "k".repeat(256);
    for key in [long.as_str(), "has space", ""] {
        let response = app
            .checkout_with_key(1, key, json!({"tier": "pro", "months": 1}))
            .await;
        assert_eq!(response.status(), 400, "{key:?}");
        assert_eq!(
            TestApp::error_code(response).await,
            "invalid_idempotency_key"
        );
    }
    assert_eq!(app.payment_count().await, 0);
}
