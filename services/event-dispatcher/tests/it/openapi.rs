//! The admin API's document against the running dispatcher: the routes it serves and the
//! documented paths are the same, every operation is named, tagged and secured and lists
//! the codes of its errors, and the codes really answered are among them.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{json, Value};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use test_support::openapi::{
    assert_every_operation_is_described, documented_codes, operation, operations,
};
use test_support::receiver::Receiver;

use crate::helpers::{Dispatcher, World, ADMIN};

async fn document(world: &World, d: &Dispatcher) -> Value {
    let res = world.http.get(d.url("/openapi.json")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let spec: Value = res.json().await.unwrap();
    assert_eq!(spec, event_dispatcher::openapi::document());
    spec
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn the_admin_routes_and_the_documented_paths_are_the_same(
    opts: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let world = World::new(opts, connect).await;
    let d = world.start(world.settings()).await;
    let spec = document(&world, &d).await;

    let served: BTreeSet<(String, String)> = event_dispatcher::admin::admin_routes()
        .into_iter()
        .map(|(method, path)| (method.as_str().to_lowercase(), path))
        .collect();
    let documented: BTreeSet<(String, String)> = operations(&spec)
        .into_iter()
        .map(|(method, path, _)| (method, path))
        .collect();
    let documented_api: BTreeSet<_> = documented
        .iter()
        .filter(|(_, path)| path.starts_with("/api/"))
        .cloned()
        .collect();
    assert_eq!(served.len(), 8);
    assert_eq!(served, documented_api);

    // Each documented operation is answered by a route (401 without the token), not by
    // actix's 404/405 for what no route serves.
    let unrouted = world
        .http
        .get(d.url("/api/v1/admin/nothing-here"))
        .send()
        .await
        .unwrap();
    assert_eq!(unrouted.status(), 404, "the probe tells an unknown path");
    for (method, path) in &documented {
        let url = d.url(
            &path
                .replace("{id}", &uuid::Uuid::new_v4().to_string())
                .replace("{delivery_id}", &uuid::Uuid::new_v4().to_string()),
        );
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let status = world
            .http
            .request(method.clone(), url)
            .send()
            .await
            .unwrap()
            .status();
        let expected = if path.starts_with("/api/") { 401 } else { 200 };
        assert_eq!(status, expected, "{method} {path}");
    }
    d.stop().await;
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn every_operation_is_named_summarised_tagged_and_secured(
    opts: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let world = World::new(opts, connect).await;
    let d = world.start(world.settings()).await;
    let spec = document(&world, &d).await;
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));
    let mut ids = Vec::new();
    for (id, _, path, op) in assert_every_operation_is_described(&spec, &["getReadiness"]) {
        let admin = path.starts_with("/api/");
        let security = if admin {
            json!([{"admin_token": []}])
        } else {
            Value::Null
        };
        assert_eq!(op["security"], security, "{id}: security");
        if admin {
            assert_eq!(
                documented_codes(&spec, &id, 401),
                ["unauthorized"],
                "{id}: 401"
            );
        }
        ids.push(id);
    }
    let unique: BTreeSet<&str> = ids.iter().map(String::as_str).collect();
    assert_eq!(
        unique,
        [
            "createWebhookEndpoint",
            "listWebhookEndpoints",
            "getWebhookEndpoint",
            "updateWebhookEndpoint",
            "deleteWebhookEndpoint",
            "listDeliveries",
            "recoverDeliveries",
            "resendDelivery",
            "getHealth",
            "getReadiness",
        ]
        .into()
    );
    assert_eq!(unique.len(), ids.len(), "operation ids are unique");
    assert!(spec["components"]["securitySchemes"]["admin_token"].is_object());

    // What the log query takes, and what creating answers with (the secret, once).
    let params: BTreeSet<&str> = operation(&spec, "listDeliveries")["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(params, ["id", "status", "since", "limit"].into());
    let created = &operation(&spec, "createWebhookEndpoint")["responses"]["201"];
    assert_eq!(
        created["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/CreatedEndpoint"
    );
    d.stop().await;
}

/// Real error answers carry codes the document lists for their operation and status.
#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn the_codes_the_dispatcher_answers_with_are_documented(
    opts: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let world = World::new(opts, connect).await;
    let receiver = Receiver::start();
    let mut settings = world.settings();
    settings.webhook_endpoints = serde_json::from_value(json!([
        {"url": receiver.url(), "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
         "events": ["*"]}
    ]))
    .unwrap();
    let d = world.start(settings).await;
    let spec = document(&world, &d).await;
    let api = |path: &str| d.url(&format!("/api/v1/admin{path}"));
    let http = &world.http;
    let configured: Value = http
        .get(api("/webhook-endpoints"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let configured = configured["data"][0]["id"].as_str().unwrap().to_string();
    let unknown = uuid::Uuid::new_v4();

    let endpoint = |path: &str| api(&format!("/webhook-endpoints{path}"));
    let admin = |req: reqwest::RequestBuilder| req.bearer_auth(ADMIN);
    let requests: Vec<(&str, reqwest::RequestBuilder)> = vec![
        (
            "listWebhookEndpoints",
            http.get(endpoint("")).bearer_auth("wrong"),
        ),
        (
            "createWebhookEndpoint",
            admin(http.post(endpoint(""))).json(&json!({"url": "ftp://x", "events": ["*"]})),
        ),
        (
            "createWebhookEndpoint",
            admin(http.post(endpoint("")))
                .header("content-type", "application/json")
                .body("{"),
        ),
        (
            "getWebhookEndpoint",
            admin(http.get(endpoint(&format!("/{unknown}")))),
        ),
        (
            "getWebhookEndpoint",
            admin(http.get(endpoint("/not-a-uuid"))),
        ),
        (
            "updateWebhookEndpoint",
            admin(http.patch(endpoint(&format!("/{configured}"))))
                .json(&json!({"events": ["payment.completed"]})),
        ),
        (
            "deleteWebhookEndpoint",
            admin(http.delete(endpoint(&format!("/{configured}")))),
        ),
        (
            "listDeliveries",
            admin(http.get(endpoint(&format!("/{configured}/deliveries?limit=0")))),
        ),
        (
            "recoverDeliveries",
            admin(http.post(endpoint(&format!("/{unknown}/recover"))))
                .json(&json!({"since": "2026-01-01T00:00:00Z"})),
        ),
        (
            "resendDelivery",
            admin(http.post(api(&format!("/deliveries/{unknown}/resend")))),
        ),
    ];
    let mut seen = BTreeSet::new();
    for (id, request) in requests {
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        let code = body["error"]["code"].as_str().unwrap().to_string();
        let documented = documented_codes(&spec, id, status);
        assert!(
            documented.contains(&code),
            "{id} answered {status} {code}, documented: {documented:?}"
        );
        seen.insert(code);
    }
    for code in [
        "unauthorized",
        "invalid_field",
        "malformed_json",
        "not_found",
        "endpoint_from_config",
        "invalid_query",
    ] {
        assert!(seen.contains(code), "{code} not reached: {seen:?}");
    }
    d.stop().await;
}
