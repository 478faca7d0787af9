//! The guide's form route: `POST /dashboard/subscription/upgrade` answers 303.

use reqwest::header::{HeaderMap, HeaderValue};
use sqlx::PgPool;

use crate::helpers::{
    bearer, closed_port, session_cookie, spawn_app, spawn_app_with, token, BASE_URL,
};

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_string()
}

fn error_page(reason: &str) -> String {
    format!("{BASE_URL}/dashboard/payment/error?reason={reason}")
}

/// The original guide's example form sends `payment_method=crypto`.
#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn the_guides_payment_method_crypto_goes_to_the_payment_page(pool: PgPool) {
    let app = spawn_app(pool).await;
    let response = app
        .upgrade(
            session_cookie(&token(9)),
            &[
                ("tier", "pro"),
                ("months", "1"),
                ("payment_method", "crypto"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert!(
        location(&response).starts_with(&app.sandbox),
        "to the payment page, not {}",
        location(&response)
    );
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn the_form_redirects_to_the_payment_url(pool: PgPool) {
    let app = spawn_app(pool).await;
    let response = app
        .upgrade(
            session_cookie(&token(8)),
            &[
                ("tier", "pro"),
                ("months", "2"),
                ("payment_method", "USDT_TRC20"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    let (status, url, method, amount): (
        String,
        Option<String>,
        Option<String>,
        rust_decimal::Decimal,
    ) = sqlx::query_as(
        "SELECT status, payment_url, payment_method, amount FROM payments WHERE user_id = 8",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(status, "pending");
    assert_eq!(
        Some(location(&response)),
        url,
        "the Location is the payment URL"
    );
    assert!(location(&response).starts_with(&app.sandbox));
    assert_eq!(method.as_deref(), Some("USDT_TRC20"));
    assert_eq!(amount, rust_decimal::Decimal::from(198));
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn bad_form_input_redirects_to_the_error_page_and_writes_nothing(pool: PgPool) {
    let app = spawn_app(pool).await;
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![("tier", "gold"), ("months", "1")], "unknown_tier"),
        (
            vec![("tier", "free"), ("months", "1")],
            "tier_not_purchasable",
        ),
        (vec![("tier", "pro"), ("months", "0")], "invalid_months"),
        (vec![("tier", "pro"), ("months", "13")], "invalid_months"),
        (vec![("tier", "pro"), ("months", "many")], "invalid_months"),
        (vec![("tier", "pro")], "invalid_months"),
        (vec![("months", "1")], "invalid_form"),
        (
            vec![("tier", "pro"), ("months", "1"), ("payment_method", "DOGE")],
            "invalid_payment_method",
        ),
    ];
    for (form, reason) in cases {
        let response = app.upgrade(bearer(&token(1)), &form).await;
        assert_eq!(response.status(), 303, "{form:?}");
        assert_eq!(location(&response), error_page(reason), "{form:?}");
    }
    // Not a form at all.
    let response = app
        .http
        .post(app.url("/dashboard/subscription/upgrade"))
        .headers(bearer(&token(1)))
        .json(&serde_json::json!({"tier": "pro", "months": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&response), error_page("invalid_form"));
    // Too large.
    let padding = "x".repeat(100_000);
    let response = app
        .upgrade(
            bearer(&token(1)),
            &[("tier", "pro"), ("months", "1"), ("pad", &padding)],
        )
        .await;
    assert_eq!(location(&response), error_page("invalid_form"));

    assert_eq!(app.payment_count().await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 0);
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn without_a_session_the_form_redirects_to_sign_in(pool: PgPool) {
    let app = spawn_app(pool).await;
    let response = app
        .upgrade(HeaderMap::new(), &[("tier", "pro"), ("months", "1")])
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), error_page("sign_in_required"));
    assert_eq!(app.payment_count().await, 0);
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn a_cross_site_form_post_is_refused(pool: PgPool) {
    let app = spawn_app(pool).await;
    let mut headers = session_cookie(&token(1));
    headers.insert("origin", HeaderValue::from_static("https://evil.example"));
    let response = app
        .upgrade(headers, &[("tier", "pro"), ("months", "1")])
        .await;
    assert_eq!(location(&response), error_page("forbidden_origin"));
    assert_eq!(app.payment_count().await, 0);

    // Our own origin (BASE_URL) is fine.
    let mut headers = session_cookie(&token(1));
    headers.insert("origin", HeaderValue::from_static(BASE_URL));
    let response = app
        .upgrade(headers, &[("tier", "pro"), ("months", "1")])
        .await;
    assert!(location(&response).starts_with(&app.sandbox));
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn cryptocloud_down_redirects_to_the_error_page_with_a_failed_payment(pool: PgPool) {
    let port = closed_port();
    let app = spawn_app_with(pool, |s| {
        s.cryptocloud_api_url = format!("http://127.0.0.1:{port}")
    })
    .await;
    let response = app
        .upgrade(
            session_cookie(&token(1)),
            &[("tier", "pro"), ("months", "1")],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), error_page("provider_unavailable"));
    let (status, reason): (String, Option<String>) =
        sqlx::query_as("SELECT status, failure_reason FROM payments")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        (status.as_str(), reason.as_deref()),
        ("failed", Some("provider_unavailable"))
    );
}
