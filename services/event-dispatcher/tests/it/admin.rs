//! The admin API: the token, endpoints' life, and bad input answered with the error body.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use test_support::receiver::Receiver;

use crate::helpers::{eventually, World, ADMIN, WAIT};

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn endpoints_are_created_listed_changed_and_deleted(
    opts: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let world = World::new(opts, connect).await;
    let d = world.start(world.settings()).await;
    let api = d.url("/api/v1/admin/webhook-endpoints");
    let receiver = Receiver::start();

    // No token, a wrong one: 401 with the error body.
    for token in [None, Some("wrong")] {
        let mut req = world.http.get(&api);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 401);
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthorized");
    }

    // Created with a generated secret, shown once.
    let res = world
        .http
        .post(&api)
        .bearer_auth(ADMIN)
        .json(
            &serde_json::json!({"url": receiver.url(), "events": ["payment.completed"],
                                  "description": "shop"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let created: serde_json::Value = res.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    let secret = created["secret"].as_str().unwrap();
    assert!(
        secret.starts_with("whsec_") && secret.len() >= 6 + 32,
        "{secret}"
    );
    assert_eq!(created["events"], serde_json::json!(["payment.completed"]));
    assert_eq!(created["enabled"], true);

    let one = format!("{api}/{id}");
    let got: serde_json::Value = world
        .http
        .get(&one)
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["description"], "shop");
    assert!(got.get("secret").is_none(), "the secret is shown only once");
    let list: serde_json::Value = world
        .http
        .get(&api)
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert!(!list.to_string().contains(secret));

    // Disabled: events are no longer delivered to it.
    let res = world
        .http
        .patch(&one)
        .bearer_auth(ADMIN)
        .json(&serde_json::json!({"enabled": false, "events": ["*"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let patched: serde_json::Value = res.json().await.unwrap();
    assert_eq!(patched["enabled"], false);
    assert_eq!(patched["events"], serde_json::json!(["*"]));
    let watcher = Receiver::start();
    world.endpoint(&d, &watcher.url(), &["*"]).await;
    world.publish_payment(3).await;
    eventually(WAIT, "the enabled endpoint got the event", || async {
        watcher.received().len() == 1
    })
    .await;
    assert!(
        receiver.received().is_empty(),
        "a disabled endpoint gets nothing"
    );

    // Bad changes change nothing.
    let res = world
        .http
        .patch(&one)
        .bearer_auth(ADMIN)
        .json(&serde_json::json!({"events": ["payment.refunded"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_field");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("payment.refunded"));

    let res = world
        .http
        .delete(&one)
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let res = world
        .http
        .get(&one)
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let res = world
        .http
        .get(format!("{api}/not-a-uuid"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    d.stop().await;
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn bad_input_gets_a_clear_error_and_saves_nothing(
    opts: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let world = World::new(opts, connect).await;
    let d = world.start(world.settings()).await;
    let api = d.url("/api/v1/admin/webhook-endpoints");
    let cases = [
        (
            serde_json::json!({"url": "ftp://example.com/", "events": ["*"]}),
            422,
            "invalid_field",
        ),
        (
            serde_json::json!({"url": "not a url", "events": ["*"]}),
            422,
            "invalid_field",
        ),
        (
            serde_json::json!({"url": "https://example.com/", "events": []}),
            422,
            "invalid_field",
        ),
        (
            serde_json::json!({"url": "https://example.com/", "events": ["nope"]}),
            422,
            "invalid_field",
        ),
        (
            serde_json::json!({"url": "https://example.com/", "events": ["*"], "secret": "short"}),
            422,
            "invalid_field",
        ),
        (serde_json::json!({"events": ["*"]}), 422, "invalid_field"),
        (
            serde_json::json!({"url": "https://example.com/", "events": ["*"], "extra": 1}),
            422,
            "invalid_field",
        ),
    ];
    for (body, status, code) in cases {
        let res = world
            .http
            .post(&api)
            .bearer_auth(ADMIN)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), status, "{body}");
        let answer: serde_json::Value = res.json().await.unwrap();
        assert_eq!(answer["error"]["code"], code, "{body}: {answer}");
    }
    let res = world
        .http
        .post(&api)
        .bearer_auth(ADMIN)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let huge = serde_json::json!({"url": "https://example.com/", "events": ["*"],
                                  "description": "x".repeat(100_000)});
    let res = world
        .http
        .post(&api)
        .bearer_auth(ADMIN)
        .json(&huge)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    let res = world
        .http
        .get(format!(
            "{api}/{}/deliveries?status=lost",
            uuid::Uuid::nil()
        ))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_endpoints")
        .fetch_one(&world.pool)
        .await
        .unwrap();
    assert_eq!(count, 0);
    d.stop().await;
}

/// `WEBHOOK_ENDPOINTS` endpoints are stored at start, changed only by the setting, and one
/// left out of it at the next start is disabled.
#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn configured_endpoints_follow_the_setting(opts: PgPoolOptions, connect: PgConnectOptions) {
    let world = World::new(opts, connect).await;
    let receiver = Receiver::start();
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let mut settings = world.settings();
    settings.webhook_endpoints = serde_json::from_value(serde_json::json!([
        {"url": receiver.url(), "secret": secret, "events": ["payment.completed"]}
    ]))
    .unwrap();
    let d = world.start(settings).await;
    let list: serde_json::Value = world
        .http
        .get(d.url("/api/v1/admin/webhook-endpoints"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let endpoint = &list["data"][0];
    assert_eq!(endpoint["from_config"], true);
    let id = endpoint["id"].as_str().unwrap();
    world.publish_payment(9).await;
    eventually(WAIT, "the configured endpoint got it", || async {
        receiver.received().len() == 1
    })
    .await;
    assert!(crate::helpers::verify_independently(
        secret,
        &receiver.received()[0]
    ));
    let res = world
        .http
        .patch(d.url(&format!("/api/v1/admin/webhook-endpoints/{id}")))
        .bearer_auth(ADMIN)
        .json(&serde_json::json!({"url": "https://example.com/"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409);
    d.stop().await;

    let d = world.start(world.settings()).await;
    let enabled: bool = sqlx::query_scalar("SELECT enabled FROM webhook_endpoints")
        .fetch_one(&world.pool)
        .await
        .unwrap();
    assert!(!enabled, "left out of the setting: disabled");
    d.stop().await;
}

/// An endpoint failing for `DISPATCH_DISABLE_AFTER_HOURS` is disabled, with the reason.
#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn an_endpoint_failing_long_enough_is_disabled(
    opts: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let world = World::new(opts, connect).await;
    let mut settings = world.settings();
    settings.dispatch_disable_after_hours = 0;
    let d = world.start(settings).await;
    let receiver = Receiver::start();
    receiver.answer_with(500);
    let (id, _) = world.endpoint(&d, &receiver.url(), &["*"]).await;
    world.publish_payment(1).await;
    let url = d.url(&format!("/api/v1/admin/webhook-endpoints/{id}"));
    eventually(WAIT, "the endpoint is disabled", || async {
        let e: serde_json::Value = world
            .http
            .get(&url)
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        e["enabled"] == false
            && e["disabled_reason"]
                .as_str()
                .is_some_and(|r| r.starts_with("every attempt failed since"))
    })
    .await;
    let metrics = world
        .http
        .get(d.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("dispatch_endpoints_disabled_total"),
        "{metrics}"
    );
    // Enabling it again forgets the failures.
    let e: serde_json::Value = world
        .http
        .patch(&url)
        .bearer_auth(ADMIN)
        .json(&serde_json::json!({"enabled": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(e["enabled"], true);
    assert!(e["failing_since"].is_null() && e["disabled_reason"].is_null());
    d.stop().await;
}
