use platform::service::Service as _;
use reqwest::header::HeaderMap;
use serde_json::Value;
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

use crate::helpers::{spawn_app, TestApp};

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn health_and_readiness(pool: PgPool) {
    let app = spawn_app(pool).await;
    let health = app.get("/healthz", HeaderMap::new()).await;
    assert_eq!(health.status(), 200);
    let ready = app.get("/readyz", HeaderMap::new()).await;
    assert_eq!(ready.status(), 200);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["checks"]["database"], "up");
    let unknown = app.get("/nope", HeaderMap::new()).await;
    assert_eq!(unknown.status(), 404);
    assert_eq!(TestApp::error_code(unknown).await, "not_found");
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn readiness_fails_without_the_database(pool: PgPool) {
    let app = spawn_app(pool).await;
    // The same service with a database that is not there.
    let dead = PgPoolOptions::new()
        .acquire_timeout(std::time::Duration::from_millis(500))
        .connect_lazy(&format!(
            "postgres://postgres@127.0.0.1:{}/none",
            crate::helpers::closed_port()
        ))
        .unwrap();
    let mut settings =
        checkout::Settings::new(Default::default(), app.sandbox.clone(), "k", "s", "j", "a");
    settings.checkout_listen = "127.0.0.1:0".into();
    settings.checkout_workers = Some(1);
    let broken = checkout::Application::build_with_pool(settings, dead)
        .await
        .unwrap();
    let url = format!("http://127.0.0.1:{}/readyz", broken.port());
    tokio::spawn(broken.run_until_stopped());
    let response = app.http.get(url).send().await.unwrap();
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["checks"]["database"], "down");
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn metrics_count_requests_by_route_and_status_and_invoices_by_tier(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.checkout_ok(1, "pro", 1).await;
    app.get(
        "/api/v1/payments/77",
        crate::helpers::bearer(&crate::helpers::token(1)),
    )
    .await;
    let response = app.get("/metrics", HeaderMap::new()).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let has = |name: &str, parts: &[&str]| {
        text.lines()
            .any(|l| l.starts_with(name) && parts.iter().all(|p| l.contains(p)))
    };
    assert!(
        has(
            "http_requests_total",
            &["route=\"/api/v1/checkout\"", "status=\"201\""]
        ),
        "{text}"
    );
    assert!(
        has(
            "http_requests_total",
            &["route=\"/api/v1/payments/{id}\"", "status=\"404\""]
        ),
        "{text}"
    );
    assert!(
        has(
            "http_request_duration_seconds_bucket",
            &["route=\"/api/v1/checkout\""]
        ),
        "{text}"
    );
    assert!(
        has("checkout_invoices_created_total", &["tier=\"pro\""]),
        "{text}"
    );
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn the_openapi_document_lists_every_json_route_with_its_schemas(pool: PgPool) {
    let app = spawn_app(pool).await;
    let response = app.get("/openapi.json", HeaderMap::new()).await;
    assert_eq!(response.status(), 200);
    let spec: Value = response.json().await.unwrap();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));

    let schema_of = |op: &Value, pointer: &str| -> Option<String> {
        op.pointer(pointer).and_then(|s| {
            s.get("$ref")
                .and_then(Value::as_str)
                .map(|r| r.rsplit('/').next().unwrap().to_string())
        })
    };
    // (method, path, request schema, 2xx status, 2xx schema)
    let routes = [
        ("get", "/api/v1/tiers", None, "200", "TiersResponse"),
        (
            "post",
            "/api/v1/checkout",
            Some("CheckoutRequest"),
            "201",
            "CheckoutResponse",
        ),
        ("get", "/api/v1/payments", None, "200", "PaymentList"),
        ("get", "/api/v1/payments/{id}", None, "200", "PaymentView"),
        (
            "post",
            "/api/v1/payments/{id}/cancel",
            None,
            "200",
            "PaymentView",
        ),
        (
            "get",
            "/api/v1/subscription",
            None,
            "200",
            "SubscriptionView",
        ),
        ("get", "/api/v1/admin/stats", None, "200", "AdminStats"),
        ("get", "/healthz", None, "200", "HealthStatus"),
        ("get", "/readyz", None, "200", "ReadinessStatus"),
    ];
    let schemas = spec["components"]["schemas"].as_object().unwrap();
    for (method, path, request, status, response) in routes {
        let op = &spec["paths"][path][method];
        assert!(op.is_object(), "{method} {path} missing");
        assert_eq!(
            schema_of(op, "/requestBody/content/application~1json/schema").as_deref(),
            request,
            "{method} {path} request"
        );
        let ok = format!("/responses/{status}/content/application~1json/schema");
        assert_eq!(
            schema_of(op, &ok).as_deref(),
            Some(response),
            "{method} {path} response"
        );
        assert!(schemas.contains_key(response), "{response} defined");
        if let Some(request) = request {
            assert!(schemas.contains_key(request), "{request} defined");
        }
        if path.starts_with("/api/") && path != "/api/v1/tiers" {
            assert_eq!(
                schema_of(
                    op,
                    "/responses/401/content/application~1json/schema/allOf/0"
                )
                .as_deref(),
                Some("ErrorResponse"),
                "{method} {path} documents its 401"
            );
        }
    }
    // The checkout's error answers are all documented.
    let checkout = &spec["paths"]["/api/v1/checkout"]["post"]["responses"];
    for status in [
        "400", "401", "409", "413", "415", "422", "500", "502", "503",
    ] {
        assert!(
            checkout.get(status).is_some(),
            "checkout documents {status}"
        );
    }
    // Amounts are strings, never numbers.
    assert_eq!(
        schemas["CheckoutResponse"]["properties"]["amount"]["type"],
        "string"
    );
    assert_eq!(
        schemas["CheckoutRequest"]["required"],
        serde_json::json!(["tier", "months"])
    );

    let docs = app.get("/docs", HeaderMap::new()).await;
    assert_eq!(docs.status(), 200);
    let page = docs.text().await.unwrap();
    for (_, path, _, _, schema) in routes {
        assert!(page.contains(path), "{path} on /docs");
        assert!(page.contains(schema), "{schema} on /docs");
    }
}
