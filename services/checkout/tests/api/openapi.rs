//! The API document against the running service: the routes actix serves under `/api/`
//! and the document's paths are the same, every operation is named, tagged, secured and
//! lists the codes of its errors (including the ones the service really answers), the
//! webhooks are described.

use std::collections::BTreeSet;

use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::PgPool;
use test_support::openapi::{
    assert_every_operation_is_described, documented_codes, operation, operations,
};

use crate::helpers::{bearer, spawn_app, token, TestApp};

async fn document(app: &TestApp) -> Value {
    let response = app.get("/openapi.json", HeaderMap::new()).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Is this the answer for a path no route serves?
async fn is_unrouted(response: reqwest::Response) -> bool {
    let status = response.status();
    if status == 405 {
        return true;
    }
    let body: Value = response.json().await.unwrap_or(Value::Null);
    status == 404 && body["error"]["message"] == "no such resource"
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn the_routes_under_api_and_the_documented_paths_are_the_same(pool: PgPool) {
    let app = spawn_app(pool).await;
    let spec = document(&app).await;

    // The one routes table that startup registers under /api/.
    let served: BTreeSet<(String, String)> = checkout::startup::api_routes()
        .into_iter()
        .map(|(method, path)| (method.as_str().to_lowercase(), path))
        .collect();
    assert!(served.iter().all(|(_, path)| path.starts_with("/api/")));
    let documented: BTreeSet<(String, String)> = operations(&spec)
        .into_iter()
        .map(|(method, path, _)| (method, path))
        .collect();
    let documented_api: BTreeSet<_> = documented
        .iter()
        .filter(|(_, path)| path.starts_with("/api/"))
        .cloned()
        .collect();
    assert_eq!(
        served.difference(&documented_api).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "served under /api/ but not in the document"
    );
    assert_eq!(
        documented_api.difference(&served).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "in the document but not in the routes table"
    );

    // Every documented operation (health and readiness too) is answered by a route of the
    // running service, not by the fallback for unknown paths.
    assert!(
        is_unrouted(app.get("/api/v1/nothing-here", HeaderMap::new()).await).await,
        "the probe tells an unknown path"
    );
    for (method, path) in documented.iter().chain(served.iter()) {
        let url = app.url(&path.replace("{id}", "1"));
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let response = app.http.request(method.clone(), url).send().await.unwrap();
        assert!(
            !is_unrouted(response).await,
            "{method} {path} is documented but not served"
        );
    }
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn every_operation_is_named_summarised_tagged_and_secured(pool: PgPool) {
    let app = spawn_app(pool).await;
    let spec = document(&app).await;
    let mut ids = Vec::new();
    for (id, _, _, op) in assert_every_operation_is_described(&spec, &["getReadiness"]) {
        let public = ["listTiers", "getHealth", "getReadiness"].contains(&id.as_str());
        let security = op["security"].as_array().map(Vec::len).unwrap_or(0);
        assert_eq!(security > 0, !public, "{id}: security");
        ids.push(id);
    }
    for id in spec["webhooks"]
        .as_object()
        .unwrap()
        .values()
        .map(|item| item["post"]["operationId"].as_str().unwrap().to_string())
    {
        ids.push(id);
    }
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "operation ids are unique: {ids:?}");
    for id in [
        "createCheckout",
        "listPayments",
        "getPayment",
        "cancelPayment",
        "getSubscription",
        "listTiers",
        "getAdminStats",
        "getHealth",
        "getReadiness",
    ] {
        assert!(ids.iter().any(|i| i == id), "{id}");
    }

    // Users: a bearer token or the session cookie; the operator: the admin token.
    assert_eq!(
        operation(&spec, "getPayment")["security"],
        json!([{"bearer": []}, {"session_cookie": []}])
    );
    assert_eq!(
        operation(&spec, "getAdminStats")["security"],
        json!([{"admin_token": []}])
    );
    let schemes = spec["components"]["securitySchemes"].as_object().unwrap();
    for name in ["bearer", "session_cookie", "admin_token"] {
        assert!(schemes.contains_key(name), "{name}");
    }

    // The checkout takes an Idempotency-Key header.
    let key = operation(&spec, "createCheckout")["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "Idempotency-Key")
        .expect("Idempotency-Key")
        .clone();
    assert_eq!(key["in"], "header");
    assert_eq!(key["schema"]["maxLength"], 255);
}

/// Real error answers carry codes the document lists for their operation and status.
#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn the_codes_the_service_answers_with_are_documented(pool: PgPool) {
    let app = spawn_app(pool).await;
    let spec = document(&app).await;
    let user = || bearer(&token(1));
    let checkout = |body: Value| app.checkout(1, body);

    let mut answers: Vec<(&str, reqwest::Response)> = vec![
        (
            "listPayments",
            app.get("/api/v1/payments", HeaderMap::new()).await,
        ),
        (
            "listPayments",
            app.get("/api/v1/payments", bearer("nope")).await,
        ),
        (
            "listPayments",
            app.get("/api/v1/payments?limit=0", user()).await,
        ),
        (
            "listPayments",
            app.get("/api/v1/payments?limit=x", user()).await,
        ),
        ("getPayment", app.get("/api/v1/payments/999", user()).await),
        ("getPayment", app.get("/api/v1/payments/abc", user()).await),
        (
            "getSubscription",
            app.get("/api/v1/subscription", HeaderMap::new()).await,
        ),
        (
            "getAdminStats",
            app.get("/api/v1/admin/stats", bearer("wrong")).await,
        ),
        (
            "createCheckout",
            checkout(json!({"tier": "gold", "months": 1})).await,
        ),
        (
            "createCheckout",
            checkout(json!({"tier": "free", "months": 1})).await,
        ),
        (
            "createCheckout",
            checkout(json!({"tier": "pro", "months": 0})).await,
        ),
        ("createCheckout", checkout(json!({"tier": "pro"})).await),
        (
            "createCheckout",
            checkout(json!({"tier": "pro", "months": 1, "payment_method": "DOGE"})).await,
        ),
        (
            "createCheckout",
            app.checkout_raw(1, "application/json", "{").await,
        ),
        (
            "createCheckout",
            app.checkout_raw(1, "text/plain", "{}").await,
        ),
        (
            "createCheckout",
            app.checkout_with_key(1, "", json!({"tier": "pro", "months": 1}))
                .await,
        ),
        (
            "cancelPayment",
            app.http
                .post(app.url("/api/v1/payments/999/cancel"))
                .headers(user())
                .send()
                .await
                .unwrap(),
        ),
    ];
    // A payment that is not pending any more cannot be canceled.
    let created = app.checkout_ok(1, "pro", 1).await;
    let cancel = format!("/api/v1/payments/{}/cancel", created["payment_id"]);
    app.http
        .post(app.url(&cancel))
        .headers(user())
        .send()
        .await
        .unwrap();
    answers.push((
        "cancelPayment",
        app.http
            .post(app.url(&cancel))
            .headers(user())
            .send()
            .await
            .unwrap(),
    ));
    // CryptoCloud refusing a checkout.
    app.set_faults(json!({"error_rate": 1.0, "error_status": 500}))
        .await;
    answers.push((
        "createCheckout",
        checkout(json!({"tier": "pro", "months": 1})).await,
    ));

    let mut seen = BTreeSet::new();
    for (id, response) in answers {
        let status = response.status().as_u16();
        let code = TestApp::error_code(response).await;
        let documented = documented_codes(&spec, id, status);
        assert!(
            documented.contains(&code),
            "{id} answered {status} {code}, documented: {documented:?}"
        );
        seen.insert(code);
    }
    // The cases above reach the codes they were written for.
    for code in [
        "unauthorized",
        "invalid_token",
        "invalid_query",
        "not_found",
        "unknown_tier",
        "tier_not_purchasable",
        "invalid_months",
        "invalid_field",
        "invalid_payment_method",
        "malformed_json",
        "unsupported_media_type",
        "invalid_idempotency_key",
        "not_cancelable",
        "provider_error",
    ] {
        assert!(seen.contains(code), "{code} not reached: {seen:?}");
    }
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn the_webhooks_describe_every_merchant_event(pool: PgPool) {
    let app = spawn_app(pool).await;
    let spec = document(&app).await;
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));
    let webhooks = spec["webhooks"].as_object().expect("webhooks");
    let types: BTreeSet<&str> = webhooks.keys().map(String::as_str).collect();
    assert_eq!(
        types,
        [
            "payment.completed",
            "payment.partial",
            "payment.canceled",
            "subscription.upgraded",
            "subscription.renewal_due",
            "subscription.grace_started",
            "subscription.expired",
            "subscription.canceled",
            "subscription.resumed",
        ]
        .into()
    );
    let schemas = &spec["components"]["schemas"];
    for (name, item) in webhooks {
        let post = &item["post"];
        let headers: BTreeSet<&str> = post["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["in"] == "header" && p["required"] == true)
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            headers,
            ["webhook-id", "webhook-timestamp", "webhook-signature"].into(),
            "{name}"
        );
        let body = &post["requestBody"]["content"]["application/json"]["schema"]["allOf"];
        let envelope = body[0]["$ref"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap();
        assert_eq!(
            body[1]["properties"]["type"]["enum"],
            json!([name]),
            "{name}"
        );
        // The envelope's own `type` enum includes this type.
        let type_schema = schemas[envelope]["properties"]["type"]["$ref"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap();
        assert!(
            schemas[type_schema]["enum"]
                .as_array()
                .unwrap()
                .contains(&json!(name)),
            "{name} is a {type_schema}"
        );
        let required = &schemas[envelope]["required"];
        for field in ["id", "type", "created_at", "data"] {
            assert!(
                required.as_array().unwrap().contains(&json!(field)),
                "{envelope}.{field}"
            );
        }
    }
    let required = |schema: &str| -> BTreeSet<String> {
        schemas[schema]["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap().to_string())
            .collect()
    };
    let payment = required("PaymentEventData");
    for field in [
        "user_id",
        "payment_id",
        "invoice_id",
        "order_id",
        "status",
        "amount",
        "currency",
        "tier",
        "months",
    ] {
        assert!(payment.contains(field), "payment data {field}");
    }
    let subscription = required("SubscriptionEventData");
    for field in ["user_id", "tier", "status", "expires_at", "renews"] {
        assert!(subscription.contains(field), "subscription data {field}");
    }
    for field in ["previous_tier", "previous_expires_at"] {
        assert!(!subscription.contains(field), "{field} only where changed");
        assert!(schemas["SubscriptionEventData"]["properties"][field].is_object());
    }
    let renewal = required("RenewalDueData");
    for field in ["user_id", "payment_id", "payment_url", "amount", "currency"] {
        assert!(renewal.contains(field), "renewal data {field}");
    }
    // Amounts are strings.
    assert_eq!(
        schemas["PaymentEventData"]["properties"]["amount"]["type"],
        "string"
    );
}
