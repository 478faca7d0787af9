use rust_decimal::Decimal;
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::{spawn_app, TestApp};

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn checkout_creates_a_pending_payment_with_its_invoice(pool: PgPool) {
    let app = spawn_app(pool).await;
    let response = app.checkout(7, json!({"tier": "pro", "months": 3})).await;
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let body: Value = response.json().await.unwrap();

    let payment_id = body["payment_id"].as_i64().unwrap();
    assert_eq!(location, format!("/api/v1/payments/{payment_id}"));
    assert_eq!(body["amount"], "297.00");
    assert_eq!(body["currency"], "USD");
    assert_eq!(body["status"], "pending");
    assert_eq!(body["tier"], "pro");
    assert_eq!(body["months"], 3);
    let invoice_id = body["invoice_id"].as_str().unwrap();
    assert!(invoice_id.starts_with("INV-"), "{invoice_id}");
    let order_id = body["order_id"].as_str().unwrap();
    assert!(
        order_id.starts_with("ord_") && order_id.len() == 36,
        "{order_id}"
    );
    let payment_url = body["payment_url"].as_str().unwrap();
    assert!(payment_url.starts_with(&app.sandbox), "{payment_url}");

    // The row: pending, exact amount, the invoice with its prefix, our order id.
    let (status, stored_invoice, amount, stored_order, url, months, tier): (String, Option<String>, Decimal, String, Option<String>, i32, String) =
        sqlx::query_as(
            "SELECT status, invoice_id, amount, order_id, payment_url, subscription_months, subscription_tier \
             FROM payments WHERE id = $1 AND user_id = 7",
        )
        .bind(payment_id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(status, "pending");
    assert_eq!(stored_invoice.as_deref(), Some(invoice_id));
    assert_eq!(amount, Decimal::from(297));
    assert_eq!(stored_order, order_id);
    assert_eq!(url.as_deref(), Some(payment_url));
    assert_eq!((months, tier.as_str()), (3, "pro"));

    // CryptoCloud got our order id and the amount.
    let invoice = app.sandbox_invoice(invoice_id).await;
    assert_eq!(invoice["order_id"], order_id);
    assert_eq!(invoice["amount_in_fiat"].as_f64(), Some(297.0));
    assert_eq!(invoice["status"], "created");
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn the_users_row_is_created_on_first_checkout_and_kept_after(pool: PgPool) {
    let app = spawn_app(pool).await;
    assert_eq!(
        app.count("SELECT COUNT(*) FROM users WHERE id = 9000000000")
            .await,
        0
    );
    app.checkout_ok(9_000_000_000, "pro", 1).await;
    let (tier, limit): (String, i32) =
        sqlx::query_as("SELECT subscription_tier, requests_limit FROM users WHERE id = 9000000000")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!((tier.as_str(), limit), ("free", 100));

    // An existing row (the worker upgraded it) is left alone by the next checkout.
    sqlx::query(
        "UPDATE users SET subscription_tier = 'pro', requests_limit = 100000 WHERE id = 9000000000",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    app.checkout_ok(9_000_000_000, "pro", 2).await;
    let tier: String =
        sqlx::query_scalar("SELECT subscription_tier FROM users WHERE id = 9000000000")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(tier, "pro");
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 1);
    assert_eq!(app.payment_count().await, 2);
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn a_payment_method_is_stored_and_offered_alone_at_cryptocloud(pool: PgPool) {
    let app = spawn_app(pool).await;
    let body = app
        .checkout(
            3,
            json!({"tier": "pro", "months": 1, "payment_method": "btc"}),
        )
        .await
        .json::<Value>()
        .await
        .unwrap();
    let method: Option<String> =
        sqlx::query_scalar("SELECT payment_method FROM payments WHERE id = $1")
            .bind(body["payment_id"].as_i64().unwrap())
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(method.as_deref(), Some("BTC"));
}

/// The original guide sends `payment_method=crypto`: like no value, the payer picks the coin.
#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn crypto_empty_or_absent_payment_method_leaves_the_coin_to_the_payer(pool: PgPool) {
    let app = spawn_app(pool).await;
    for (user, method) in [(31, json!("crypto")), (32, json!("")), (33, Value::Null)] {
        let mut body = json!({"tier": "pro", "months": 1});
        if !method.is_null() {
            body["payment_method"] = method.clone();
        }
        let response = app.checkout(user, body).await;
        assert_eq!(response.status(), 201, "payment_method {method}");
        let created = response.json::<Value>().await.unwrap();
        let stored: Option<String> =
            sqlx::query_scalar("SELECT payment_method FROM payments WHERE id = $1")
                .bind(created["payment_id"].as_i64().unwrap())
                .fetch_one(&app.pool)
                .await
                .unwrap();
        assert_eq!(stored, None, "no coin restriction for {method}");
    }
}

/// Every kind of bad input: a clear 4xx in the contract's body, and nothing written.
#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn bad_input_is_refused_with_a_clear_error_and_writes_nothing(pool: PgPool) {
    let app = spawn_app(pool).await;
    let cases: Vec<(Value, u16, &str)> = vec![
        (
            json!({"tier": "platinum", "months": 1}),
            422,
            "unknown_tier",
        ),
        (
            json!({"tier": "free", "months": 1}),
            422,
            "tier_not_purchasable",
        ),
        (json!({"tier": "pro", "months": 0}), 422, "invalid_months"),
        (json!({"tier": "pro", "months": 13}), 422, "invalid_months"),
        (json!({"tier": "pro", "months": -1}), 422, "invalid_months"),
        (
            json!({"tier": "pro", "months": 99999999999i64}),
            422,
            "invalid_months",
        ),
        (
            json!({"tier": "pro", "months": "three"}),
            422,
            "invalid_months",
        ),
        (json!({"tier": "pro", "months": "3"}), 422, "invalid_months"),
        (json!({"tier": "pro", "months": 1.5}), 422, "invalid_months"),
        (
            json!({"tier": "pro", "months": null}),
            422,
            "invalid_months",
        ),
        (
            json!({"tier": "pro", "months": 18446744073709551615u64}),
            422,
            "invalid_months",
        ),
        (json!({"tier": "pro"}), 422, "invalid_field"),
        (json!({"months": 1}), 422, "invalid_field"),
        (json!({"tier": null, "months": 1}), 422, "invalid_field"),
        (
            json!({"tier": "pro", "months": 1, "payment_method": "DOGE"}),
            422,
            "invalid_payment_method",
        ),
        (
            json!({"tier": "pro", "months": 1, "coupon": "FREE"}),
            422,
            "invalid_field",
        ),
        (json!([1, 2]), 422, "invalid_field"),
    ];
    for (body, status, code) in cases {
        let response = app.checkout(1, body.clone()).await;
        assert_eq!(response.status(), status, "{body}");
        assert_eq!(TestApp::error_code(response).await, code, "{body}");
    }

    let malformed = app
        .checkout_raw(1, "application/json", r#"{"tier": "pro", "months": "#)
        .await;
    assert_eq!(malformed.status(), 400);
    assert_eq!(TestApp::error_code(malformed).await, "malformed_json");

    let not_json = app
        .checkout_raw(1, "text/plain", r#"{"tier": "pro", "months": 1}"#)
        .await;
    assert_eq!(not_json.status(), 415);
    assert_eq!(
        TestApp::error_code(not_json).await,
        "unsupported_media_type"
    );

    let huge = format!(
        r#"{{"tier": "pro", "months": 1, "pad": "{}"}}"#,
        "x".repeat(100_000)
    );
    let oversized = app.checkout_raw(1, "application/json", huge).await;
    assert_eq!(oversized.status(), 413);
    assert_eq!(TestApp::error_code(oversized).await, "payload_too_large");

    assert_eq!(app.payment_count().await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM idempotency_keys").await, 0);
    assert!(app.sandbox_invoices().await.is_empty());
}
