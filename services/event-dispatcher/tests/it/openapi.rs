//! The admin API's document against the running dispatcher: the routes it serves and the
//! documented paths are the same, every operation is named, tagged and secured and lists
//! the codes of its errors, and the codes really answered are among them.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{json, Value};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use test_support::openapi::{documented_codes, operation, operations};
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
    let tags: BTreeSet<&str> = spec["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();

    let mut ids = Vec::new();
    for (method, path, op) in operations(&spec) {
        let id = op["operationId"].as_str().unwrap_or_default().to_string();
        assert!(
            id.len() > 3
                && id.starts_with(|c: char| c.is_ascii_lowercase())
                && id.chars().all(|c| c.is_ascii_alphanumeric()),
            "{method} {path}: camelCase operationId, not {id:?}"
        );
        assert!(
            op["summary"].as_str().is_some_and(|s| !s.is_empty()),
            "{id}: summary"
        );
        let op_tags = op["tags"].as_array().unwrap();
        assert!(
            !op_tags.is_empty() && op_tags.iter().all(|t| tags.contains(t.as_str().unwrap())),
            "{id}: declared tags"
        );
        let admin = path.starts_with("/api/");
        let security = if admin {
            json!([{"admin_token": []}])
        } else {
            Value::Null
        };
        assert_eq!(op["security"], security, "{id}: security");
        for (status, response) in op["responses"].as_object().unwrap() {
            let error = status.starts_with('4') || status.starts_with('5');
            if error && id != "getReadiness" {
                let codes = documented_codes(&spec, &id, status.parse().unwrap());
                assert!(!codes.is_empty(), "{id} {status}: codes");
                assert!(
                    response["description"]
                        .as_str()
                        .unwrap()
                        .contains("Codes: `"),
                    "{id} {status}: codes in the description"
                );
            }
        }
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

    let answers: Vec<(&str, reqwest::Response)> = vec![
        (
            "listWebhookEndpoints",
            http.get(api("/webhook-endpoints"))
                .bearer_auth("wrong")
                .send()
                .await
                .unwrap(),
        ),
        (
            "createWebhookEndpoint",
            http.post(api("/webhook-endpoints"))
                .bearer_auth(ADMIN)
                .json(&json!({"url": "ftp://x", "events": ["*"]}))
                .send()
                .await
                .unwrap(),
        ),
        (
            "createWebhookEndpoint",
            http.post(api("/webhook-endpoints"))
                .bearer_auth(ADMIN)
                .header("content-type", "application/json")
                .body("{")
                .send()
                .await
                .unwrap(),
        ),
        (
            "getWebhookEndpoint",
            http.get(api(&format!("/webhook-endpoints/{unknown}")))
                .bearer_auth(ADMIN)
                .send()
                .await
                .unwrap(),
        ),
        (
            "getWebhookEndpoint",
            http.get(api("/webhook-endpoints/not-a-uuid"))
                .bearer_auth(ADMIN)
                .send()
                .await
                .unwrap(),
        ),
        (
            "updateWebhookEndpoint",
            http.patch(api(&format!("/webhook-endpoints/{configured}")))
                .bearer_auth(ADMIN)
                .json(&json!({"events": ["payment.completed"]}))
                .send()
                .await
                .unwrap(),
        ),
        (
            "deleteWebhookEndpoint",
            http.delete(api(&format!("/webhook-endpoints/{configured}")))
                .bearer_auth(ADMIN)
                .send()
                .await
                .unwrap(),
        ),
        (
            "listDeliveries",
            http.get(api(&format!(
                "/webhook-endpoints/{configured}/deliveries?limit=0"
            )))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap(),
        ),
        (
            "recoverDeliveries",
            http.post(api(&format!("/webhook-endpoints/{unknown}/recover")))
                .bearer_auth(ADMIN)
                .json(&json!({"since": "2026-01-01T00:00:00Z"}))
                .send()
                .await
                .unwrap(),
        ),
        (
            "resendDelivery",
            http.post(api(&format!("/deliveries/{unknown}/resend")))
                .bearer_auth(ADMIN)
                .send()
                .await
                .unwrap(),
        ),
    ];
    let mut seen = BTreeSet::new();
    for (id, response) in answers {
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
