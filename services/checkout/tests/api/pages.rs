use std::collections::HashSet;

use reqwest::header::HeaderMap;
use sqlx::PgPool;

use crate::helpers::{session_cookie, spawn_app, spawn_app_with, token};

async fn html(response: reqwest::Response) -> String {
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"),
        "{:?}",
        response.headers()
    );
    response.text().await.unwrap()
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn the_dashboard_shows_the_plan_and_an_upgrade_form_per_paid_plan(pool: PgPool) {
    let app = spawn_app_with(pool, |s| {
        s.plans = serde_json::from_value(
            serde_json::json!({"team": {"price": "250", "requests_limit": 500000}}),
        )
        .unwrap();
    })
    .await;
    sqlx::query(
        "INSERT INTO users (id, subscription_tier, subscription_expires, requests_limit, requests_used) \
         VALUES (1, 'pro', '2099-03-01T12:00:00Z', 100000, 1234)",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let response = app.get("/dashboard", session_cookie(&token(1))).await;
    assert_eq!(response.status(), 200);
    let page = html(response).await;
    assert!(page.contains("Pro"), "{page}");
    assert!(page.contains("2099-03-01"));
    assert!(page.contains("1234"));
    assert_eq!(
        page.matches(r#"action="/dashboard/subscription/upgrade""#)
            .count(),
        2,
        "pro and team, not free"
    );
    for needle in [
        r#"name="tier" value="pro""#,
        r#"name="tier" value="team""#,
        r#"name="months""#,
        r#"name="payment_method""#,
        "USDT_TRC20",
        "<script",
    ] {
        assert_eq!(page.contains(needle), needle != "<script", "{needle}");
    }
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn pages_without_a_session_say_to_sign_in(pool: PgPool) {
    let app = spawn_app(pool).await;
    for path in ["/dashboard", "/dashboard/payments"] {
        let response = app.get(path, HeaderMap::new()).await;
        assert_eq!(response.status(), 401, "{path}");
        assert!(html(response).await.contains("Please sign in"));
    }
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn the_history_page_lists_the_users_payments(pool: PgPool) {
    let app = spawn_app(pool).await;
    let a = app.checkout_ok(1, "pro", 1).await;
    let b = app.checkout_ok(1, "pro", 4).await;
    app.checkout_ok(2, "pro", 7).await;
    let page = html(
        app.get("/dashboard/payments", session_cookie(&token(1)))
            .await,
    )
    .await;
    assert!(
        page.contains("99.00 USD") && page.contains("396.00 USD"),
        "{page}"
    );
    assert!(
        !page.contains("693.00"),
        "another user's payment is not shown"
    );
    assert!(page.contains(a["payment_url"].as_str().unwrap()));
    // Newest first.
    assert!(page.find("396.00").unwrap() < page.find("99.00").unwrap());
    let _ = b;
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn the_outcome_pages_explain_every_failure_reason(pool: PgPool) {
    let app = spawn_app(pool).await;
    let success = app
        .get("/dashboard/payment/success", HeaderMap::new())
        .await;
    assert_eq!(success.status(), 200);
    assert!(html(success).await.contains("Thank you"));

    let reasons = [
        "provider_unavailable",
        "provider_timeout",
        "provider_rate_limited",
        "provider_error",
        "provider_rejected",
        "provider_unauthorized",
        "provider_bad_response",
        "unknown_tier",
        "tier_not_purchasable",
        "invalid_months",
        "invalid_payment_method",
        "invalid_form",
        "sign_in_required",
        "forbidden_origin",
        "internal_error",
    ];
    let mut headings = HashSet::new();
    for reason in reasons {
        let response = app
            .get(
                &format!("/dashboard/payment/error?reason={reason}"),
                HeaderMap::new(),
            )
            .await;
        assert_eq!(response.status(), 200);
        let page = html(response).await;
        let heading = page
            .split("<h1>")
            .nth(1)
            .unwrap()
            .split("</h1>")
            .next()
            .unwrap()
            .to_string();
        assert!(page.contains(reason));
        headings.insert(heading);
    }
    assert_eq!(
        headings.len(),
        reasons.len(),
        "each reason has its own message"
    );
    // An injected reason is not echoed.
    let page = html(
        app.get(
            "/dashboard/payment/error?reason=%3Cscript%3E",
            HeaderMap::new(),
        )
        .await,
    )
    .await;
    assert!(!page.contains("<script>"));
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn dev_login_is_off_by_default(pool: PgPool) {
    let app = spawn_app(pool).await;
    let response = app.get("/dev/login?user_id=1", HeaderMap::new()).await;
    assert_eq!(response.status(), 404);
    assert!(response.headers().get("set-cookie").is_none());
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn dev_login_when_enabled_sets_a_session_that_opens_the_dashboard(pool: PgPool) {
    let app = spawn_app_with(pool, |s| s.dev_login_enabled = true).await;
    let response = app.get("/dev/login?user_id=42", HeaderMap::new()).await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/dashboard");
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        cookie.starts_with("session=")
            && cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let session = cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("session=");
    let dashboard = app.get("/dashboard", session_cookie(session)).await;
    assert_eq!(dashboard.status(), 200);
    // The cookie works on the API too, as user 42.
    let response = app
        .get("/api/v1/subscription", session_cookie(session))
        .await;
    assert_eq!(response.status(), 200);

    for bad in [
        "/dev/login",
        "/dev/login?user_id=0",
        "/dev/login?user_id=abc",
    ] {
        assert_eq!(app.get(bad, HeaderMap::new()).await.status(), 400, "{bad}");
    }
}
