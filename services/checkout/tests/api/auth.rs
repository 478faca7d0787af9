use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::{
    bearer, session_cookie, spawn_app, spawn_app_with, token, token_with, TestApp, JWT_SECRET,
};

const ORDER: &str = r#"{"tier": "pro", "months": 1}"#;

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn missing_bad_and_expired_tokens_are_401_and_write_nothing(pool: PgPool) {
    let app = spawn_app(pool).await;
    let order: Value = serde_json::from_str(ORDER).unwrap();
    let mut basic = HeaderMap::new();
    basic.insert(
        AUTHORIZATION,
        HeaderValue::from_static("Basic dXNlcjpwYXNz"),
    );
    let cases: Vec<(HeaderMap, &str)> = vec![
        (HeaderMap::new(), "unauthorized"),
        (bearer("not-a-jwt"), "invalid_token"),
        (
            bearer(&token_with("some-other-secret", json!("1"), 3600)),
            "invalid_token",
        ),
        (
            bearer(&token_with(JWT_SECRET, json!("1"), -3600)),
            "token_expired",
        ),
        (
            bearer(&token_with(JWT_SECRET, json!("alice"), 3600)),
            "invalid_token",
        ),
        (
            bearer(&token_with(JWT_SECRET, json!(-4), 3600)),
            "invalid_token",
        ),
        (
            session_cookie(&token_with(JWT_SECRET, json!("1"), -3600)),
            "token_expired",
        ),
        (basic, "invalid_token"),
    ];
    for (headers, code) in cases {
        for path in ["/api/v1/checkout"] {
            let response = app.post_json(path, headers.clone(), &order).await;
            assert_eq!(response.status(), 401, "{headers:?}");
            assert_eq!(response.headers()["www-authenticate"], "Bearer");
            assert_eq!(TestApp::error_code(response).await, code, "{headers:?}");
        }
        for path in [
            "/api/v1/payments",
            "/api/v1/payments/1",
            "/api/v1/subscription",
        ] {
            let response = app.get(path, headers.clone()).await;
            assert_eq!(response.status(), 401, "{path} {headers:?}");
        }
        let cancel = app
            .post_json("/api/v1/payments/1/cancel", headers.clone(), &json!({}))
            .await;
        assert_eq!(cancel.status(), 401);
    }
    // A token without exp is refused even with the right key.
    let no_exp = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"sub": "1"}),
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()).unwrap(),
    )
    .unwrap();
    let response = app
        .post_json("/api/v1/checkout", bearer(&no_exp), &order)
        .await;
    assert_eq!(response.status(), 401);

    assert_eq!(app.payment_count().await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 0);
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn the_session_cookie_and_numeric_subjects_authenticate(pool: PgPool) {
    let app = spawn_app(pool).await;
    let order: Value = serde_json::from_str(ORDER).unwrap();
    let response = app
        .post_json("/api/v1/checkout", session_cookie(&token(11)), &order)
        .await;
    assert_eq!(response.status(), 201);
    let numeric = token_with(JWT_SECRET, json!(12), 3600);
    let response = app
        .post_json("/api/v1/checkout", bearer(&numeric), &order)
        .await;
    assert_eq!(response.status(), 201);
    let users: Vec<i64> = sqlx::query_scalar("SELECT user_id FROM payments ORDER BY user_id")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(users, [11, 12]);
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn tokens_of_the_previous_key_are_accepted_during_a_rotation(pool: PgPool) {
    let app = spawn_app_with(pool, |s| {
        s.auth_jwt_secret = "the-new-key".to_string().into();
        s.auth_jwt_secret_previous = Some(JWT_SECRET.to_string().into());
    })
    .await;
    // `token` signs with JWT_SECRET, now the previous key.
    assert_eq!(
        app.get("/api/v1/subscription", bearer(&token(1)))
            .await
            .status(),
        200
    );
    let new = token_with("the-new-key", json!("1"), 3600);
    assert_eq!(
        app.get("/api/v1/subscription", bearer(&new)).await.status(),
        200
    );
    let other = token_with("unrelated", json!("1"), 3600);
    assert_eq!(
        app.get("/api/v1/subscription", bearer(&other))
            .await
            .status(),
        401
    );
}
