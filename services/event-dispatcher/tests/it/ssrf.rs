//! The SSRF guard with `DISPATCH_ALLOW_PRIVATE` off: private destinations are refused when
//! an endpoint is saved and again at connect time; redirects are not followed; a huge
//! answer is not read.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use test_support::receiver::Receiver;

use crate::helpers::{eventually, World, ADMIN, WAIT};

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn private_destinations_are_refused_when_saved(
    opts: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let world = World::new(opts, connect).await;
    let mut settings = world.settings();
    settings.dispatch_allow_private = false;
    let d = world.start(settings).await;
    for url in [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://10.0.0.5/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[::ffff:192.168.0.1]/hook",
    ] {
        let res = world
            .http
            .post(d.url("/api/v1/admin/webhook-endpoints"))
            .bearer_auth(ADMIN)
            .json(&serde_json::json!({"url": url, "events": ["*"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 422, "{url}");
        let body: serde_json::Value = res.json().await.unwrap();
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("DISPATCH_ALLOW_PRIVATE"),
            "{url}: {body}"
        );
    }
    d.stop().await;
}

/// A name that resolved to a public address when it was saved and to loopback now (DNS
/// rebinding; here the row is written directly) is refused when the attempt connects.
#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn a_name_resolving_to_a_private_address_is_refused_at_connect_time(
    opts: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let world = World::new(opts, connect).await;
    let mut settings = world.settings();
    settings.dispatch_allow_private = false;
    let d = world.start(settings).await;
    let receiver = Receiver::start();
    let id = uuid::Uuid::now_v7();
    sqlx::query(
        "INSERT INTO webhook_endpoints (id, url, secret, event_types) VALUES ($1, $2, $3, '{*}')",
    )
    .bind(id)
    .bind(format!("http://localhost:{}/webhooks", receiver.port))
    .bind("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    .execute(&world.pool)
    .await
    .unwrap();
    world.publish_payment(1).await;
    eventually(WAIT, "the delivery failed", || async {
        world.log(&d, &id.to_string(), "?status=failed").await.len() == 1
    })
    .await;
    assert!(
        receiver.received().is_empty(),
        "nothing reached the loopback receiver"
    );
    let log = world.log(&d, &id.to_string(), "").await;
    let error = log[0]["attempts"][0]["error"].as_str().unwrap();
    assert!(error.contains("refused addresses"), "{error}");
    d.stop().await;
}

/// A redirect is recorded as a failed attempt and not followed; an answer of megabytes
/// is delivered (2xx) without being read whole.
#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn redirects_are_not_followed(opts: PgPoolOptions, connect: PgConnectOptions) {
    let world = World::new(opts, connect).await;
    let d = world.start(world.settings()).await;
    let receiver = Receiver::start();
    receiver.answer_with(307);
    let (endpoint, _) = world.endpoint(&d, &receiver.url(), &["*"]).await;
    world.publish_payment(1).await;
    eventually(WAIT, "the delivery failed", || async {
        world.log(&d, &endpoint, "?status=failed").await.len() == 1
    })
    .await;
    let log = world.log(&d, &endpoint, "").await;
    let attempt = &log[0]["attempts"][0];
    assert_eq!(attempt["response_status"], 307);
    assert_eq!(attempt["error"], "redirect not followed");
    // Three attempts (the schedule), each to the endpoint itself.
    assert_eq!(receiver.received().len(), 3);
    d.stop().await;
}
