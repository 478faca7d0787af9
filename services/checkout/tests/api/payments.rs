use reqwest::header::{HeaderValue, ORIGIN, REFERER};
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::{
    bearer, closed_port, session_cookie, spawn_app, spawn_app_with, token, TestApp,
};

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn a_user_reads_their_payment_and_another_user_gets_404(pool: PgPool) {
    let app = spawn_app(pool).await;
    let created = app.checkout_ok(1, "pro", 1).await;
    let id = created["payment_id"].as_i64().unwrap();

    let own = app
        .get(&format!("/api/v1/payments/{id}"), bearer(&token(1)))
        .await;
    assert_eq!(own.status(), 200);
    let own: Value = own.json().await.unwrap();
    assert_eq!(own["payment_id"], id);
    assert_eq!(own["status"], "pending");
    assert_eq!(own["invoice_id"], created["invoice_id"]);
    assert_eq!(own["amount"], "99.00");

    let theirs = app
        .get(&format!("/api/v1/payments/{id}"), bearer(&token(2)))
        .await;
    assert_eq!(theirs.status(), 404);
    assert_eq!(TestApp::error_code(theirs).await, "not_found");
    // Indistinguishable from a payment that does not exist.
    let missing = app.get("/api/v1/payments/999999", bearer(&token(2))).await;
    assert_eq!(missing.status(), 404);
    let not_a_number = app.get("/api/v1/payments/abc", bearer(&token(1))).await;
    assert_eq!(not_a_number.status(), 404);
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn another_user_cannot_cancel_a_payment(pool: PgPool) {
    let app = spawn_app(pool).await;
    let created = app.checkout_ok(1, "pro", 1).await;
    let id = created["payment_id"].as_i64().unwrap();
    let response = app
        .post_json(
            &format!("/api/v1/payments/{id}/cancel"),
            bearer(&token(2)),
            &json!({}),
        )
        .await;
    assert_eq!(response.status(), 404);
    assert_eq!(app.payment_row(id).await.0, "pending");
    let invoice = app
        .sandbox_invoice(created["invoice_id"].as_str().unwrap())
        .await;
    assert_eq!(
        invoice["status"], "created",
        "nothing was canceled at CryptoCloud"
    );
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn cancel_cancels_at_cryptocloud_then_here_and_only_while_pending(pool: PgPool) {
    let app = spawn_app(pool).await;
    let created = app.checkout_ok(1, "pro", 1).await;
    let id = created["payment_id"].as_i64().unwrap();
    let path = format!("/api/v1/payments/{id}/cancel");

    let response = app.post_json(&path, bearer(&token(1)), &json!({})).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "canceled");
    assert_eq!(app.payment_row(id).await.0, "canceled");
    let invoice = app
        .sandbox_invoice(created["invoice_id"].as_str().unwrap())
        .await;
    assert_eq!(invoice["status"], "canceled");

    let again = app.post_json(&path, bearer(&token(1)), &json!({})).await;
    assert_eq!(again.status(), 409);
    assert_eq!(TestApp::error_code(again).await, "not_cancelable");
}

/// The session cookie rides along on a post from another site: such a cancel is refused
/// and changes nothing; from our own site, or with a bearer token, it goes through.
#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn a_cookie_authenticated_cancel_from_another_site_is_refused(pool: PgPool) {
    let app = spawn_app(pool).await;
    let created = app.checkout_ok(4, "pro", 1).await;
    let id = created["payment_id"].as_i64().unwrap();
    let path = format!("/api/v1/payments/{id}/cancel");

    for (header, value) in [
        (ORIGIN, "https://evil.example"),
        (REFERER, "https://evil.example/page"),
    ] {
        let mut headers = session_cookie(&token(4));
        headers.insert(header.clone(), HeaderValue::from_static(value));
        let response = app.post_json(&path, headers, &json!({})).await;
        assert_eq!(response.status(), 403, "{header}: {value}");
        assert_eq!(TestApp::error_code(response).await, "forbidden_origin");
        assert_eq!(app.payment_row(id).await.0, "pending");
    }
    let invoice = app
        .sandbox_invoice(created["invoice_id"].as_str().unwrap())
        .await;
    assert_eq!(
        invoice["status"], "created",
        "nothing was canceled at CryptoCloud"
    );

    // A bearer token cannot be sent by another site's page: its Origin does not matter.
    let mut headers = bearer(&token(4));
    headers.insert(ORIGIN, HeaderValue::from_static("https://evil.example"));
    let response = app.post_json(&path, headers, &json!({})).await;
    assert_eq!(response.status(), 200);

    // From our own pages with the cookie.
    let second = app.checkout_ok(4, "pro", 1).await;
    let second_id = second["payment_id"].as_i64().unwrap();
    let mut headers = session_cookie(&token(4));
    headers.insert(ORIGIN, HeaderValue::from_str(&app.url("")).unwrap());
    let response = app
        .post_json(
            &format!("/api/v1/payments/{second_id}/cancel"),
            headers,
            &json!({}),
        )
        .await;
    assert_eq!(response.status(), 200);
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn a_paid_invoice_cannot_be_canceled(pool: PgPool) {
    let app = spawn_app(pool).await;
    let created = app.checkout_ok(1, "pro", 1).await;
    let id = created["payment_id"].as_i64().unwrap();
    // Paid at CryptoCloud; the worker has not caught up yet, so our row still says pending.
    app.sandbox_pay(created["invoice_id"].as_str().unwrap())
        .await;
    let response = app
        .post_json(
            &format!("/api/v1/payments/{id}/cancel"),
            bearer(&token(1)),
            &json!({}),
        )
        .await;
    assert_eq!(response.status(), 409);
    assert_eq!(
        app.payment_row(id).await.0,
        "pending",
        "left for the worker"
    );
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn cancel_with_cryptocloud_failing_changes_nothing(pool: PgPool) {
    let app = spawn_app(pool).await;
    let created = app.checkout_ok(1, "pro", 1).await;
    let id = created["payment_id"].as_i64().unwrap();
    app.set_faults(json!({"error_rate": 1.0, "error_status": 500}))
        .await;
    let response = app
        .post_json(
            &format!("/api/v1/payments/{id}/cancel"),
            bearer(&token(1)),
            &json!({}),
        )
        .await;
    assert_eq!(response.status(), 502);
    assert_eq!(app.payment_row(id).await.0, "pending");
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn a_failed_payment_cannot_be_canceled(pool: PgPool) {
    let port = closed_port();
    let app = spawn_app_with(pool, |s| {
        s.cryptocloud_api_url = format!("http://127.0.0.1:{port}")
    })
    .await;
    let failed = app.checkout(1, json!({"tier": "pro", "months": 1})).await;
    assert_eq!(failed.status(), 503);
    let id: i64 = sqlx::query_scalar("SELECT id FROM payments")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let response = app
        .post_json(
            &format!("/api/v1/payments/{id}/cancel"),
            bearer(&token(1)),
            &json!({}),
        )
        .await;
    assert_eq!(response.status(), 409);
    assert_eq!(app.payment_row(id).await.0, "failed");
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn history_is_newest_first_paginated_bounded_and_private(pool: PgPool) {
    let app = spawn_app(pool).await;
    let mut ids = Vec::new();
    for months in 1..=5 {
        ids.push(
            app.checkout_ok(1, "pro", months).await["payment_id"]
                .as_i64()
                .unwrap(),
        );
    }
    app.checkout_ok(2, "pro", 1).await;
    ids.reverse();

    // Cursor paging.
    let mut seen = Vec::new();
    let mut path = "/api/v1/payments?limit=2".to_string();
    loop {
        let page: Value = app
            .get(&path, bearer(&token(1)))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(page["limit"], 2);
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["payment_id"].as_i64().unwrap()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/payments?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, ids);

    // Page + limit.
    let page2: Value = app
        .get("/api/v1/payments?page=2&limit=2", bearer(&token(1)))
        .await
        .json()
        .await
        .unwrap();
    let page2_ids: Vec<i64> = page2["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["payment_id"].as_i64().unwrap())
        .collect();
    assert_eq!(page2_ids, ids[2..4]);
    assert_eq!(page2["page"], 2);

    // Default page: everything of user 1 (and only user 1).
    let all: Value = app
        .get("/api/v1/payments", bearer(&token(1)))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all["items"].as_array().unwrap().len(), 5);
    assert!(all["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["amount"].is_string()));
    assert_eq!(all["next_cursor"], Value::Null);
    let other: Value = app
        .get("/api/v1/payments", bearer(&token(3)))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(other["items"], json!([]));

    for bad in [
        "limit=0",
        "limit=101",
        "page=0",
        "page=1001",
        "cursor=zzz",
        "page=1&cursor=1_1",
        "limit=x",
    ] {
        let response = app
            .get(&format!("/api/v1/payments?{bad}"), bearer(&token(1)))
            .await;
        assert_eq!(response.status(), 400, "{bad}");
        assert_eq!(
            TestApp::error_code(response).await,
            "invalid_query",
            "{bad}"
        );
    }
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn subscription_shows_tier_expiry_limits_and_usage(pool: PgPool) {
    let app = spawn_app(pool).await;
    // Never checked out: the free plan.
    let fresh: Value = app
        .get("/api/v1/subscription", bearer(&token(4)))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        fresh,
        json!({"tier": "free", "expires_at": null, "active": false, "requests_limit": 100, "requests_used": 0, "requests_remaining": 100,
               "status": "free", "renews": false, "grace_until": null, "renewal": null})
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM users").await,
        0,
        "reading creates no row"
    );

    // What the worker writes after an upgrade.
    sqlx::query(
        "INSERT INTO users (id, subscription_tier, subscription_expires, requests_limit, requests_used) \
         VALUES (4, 'pro', '2099-01-31T00:00:00Z', 100000, 250)",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let upgraded: Value = app
        .get("/api/v1/subscription", bearer(&token(4)))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(upgraded["tier"], "pro");
    assert_eq!(upgraded["expires_at"], "2099-01-31T00:00:00Z");
    assert_eq!(upgraded["active"], true);
    assert_eq!(upgraded["requests_used"], 250);
    assert_eq!(upgraded["requests_remaining"], 99750);
    assert_eq!(
        (upgraded["status"].as_str(), upgraded["renews"].as_bool()),
        (Some("active"), Some(true))
    );
    assert_eq!(upgraded["renewal"], Value::Null);
}
