use std::time::Duration;

use cryptocloud::PostbackFormat;
use platform::broker::lapin::options::{QueueBindOptions, QueueDeclareOptions};
use platform::broker::lapin::types::{AMQPValue, FieldTable};

use super::helpers::*;
use test_support::broker_proxy::{BrokerProxy, Mode};

#[tokio::test]
async fn an_unroutable_postback_is_a_503_not_a_200() {
    let app = spawn_app(|_| {}).await;
    // The exchange stays (it is auto-delete: keep one binding on another key), but nothing
    // is bound to the postback routing key any more, so the mandatory publish comes back.
    app.observer
        .channel
        .queue_bind(
            app.observer.queue.as_str().into(),
            app.topology.exchange.as_str().into(),
            "not.postbacks".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    app.observer
        .unbind(&app.topology.work_queue, &app.topology)
        .await;
    app.observer
        .unbind(&app.observer.queue.clone(), &app.topology)
        .await;

    let response = app.post(&postback(&invoice()), PostbackFormat::Json).await;

    assert_eq!(response.status(), 503);
    assert_eq!(response.headers().get("retry-after").unwrap(), "1");
    assert_eq!(error_code(response).await.0, "unroutable");
    app.cleanup().await;
}

#[tokio::test]
async fn a_postback_the_broker_refuses_is_a_503() {
    let app = spawn_app(|_| {}).await;
    // A queue that takes nothing: the broker nacks every message routed to it.
    let full = format!("{}.full", app.topology.exchange);
    let mut args = FieldTable::default();
    args.insert("x-max-length".into(), AMQPValue::LongLongInt(0));
    args.insert(
        "x-overflow".into(),
        AMQPValue::LongString("reject-publish".into()),
    );
    let channel = &app.observer.channel;
    channel
        .queue_declare(
            full.as_str().into(),
            QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..Default::default()
            },
            args,
        )
        .await
        .unwrap();
    channel
        .queue_bind(
            full.as_str().into(),
            app.topology.exchange.as_str().into(),
            events::ROUTING_KEY_POSTBACK.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();

    let response = app.post(&postback(&invoice()), PostbackFormat::Json).await;

    assert_eq!(response.status(), 503);
    assert_eq!(error_code(response).await.0, "publish_nacked");
    channel
        .queue_delete(full.as_str().into(), Default::default())
        .await
        .unwrap();
    app.cleanup().await;
}

#[tokio::test]
async fn no_confirm_within_the_publish_timeout_is_a_503() {
    let proxy = BrokerProxy::start(Mode::Open).await;
    let app = spawn_app_via(proxy.amqp_url(), |s| s.ingest_publish_timeout_ms = 300).await;
    app.wait_until_ready(true).await;
    // The broker receives the message but its confirm never reaches the service.
    proxy.set(Mode::Stalled);

    let started = std::time::Instant::now();
    let response = app.post(&postback(&invoice()), PostbackFormat::Json).await;

    assert_eq!(response.status(), 503);
    assert_eq!(error_code(response).await.0, "publish_timeout");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "answered after the configured 300 ms, not later"
    );
    proxy.set(Mode::Down);
    app.cleanup().await;
}
