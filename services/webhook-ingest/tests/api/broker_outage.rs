use cryptocloud::PostbackFormat;

use super::helpers::*;
use test_support::broker_proxy::{BrokerProxy, Mode};

#[tokio::test]
async fn the_service_starts_without_the_broker_and_publishes_once_it_appears() {
    // Arrange: RabbitMQ is unreachable when the service starts.
    let proxy = BrokerProxy::start(Mode::Down).await;
    let app = spawn_app_via(proxy.amqp_url(), |_| {}).await;

    // Assert: alive, not ready, and postbacks are refused for a retry.
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["checks"]["broker"], "down");
    let lost = postback(&invoice());
    let response = app.post(&lost, PostbackFormat::Json).await;
    assert_eq!(response.status(), 503);
    assert_eq!(error_code(response).await.0, "broker_unavailable");

    // Act: the broker comes back; the same process reconnects by itself.
    proxy.set(Mode::Open);
    app.wait_until_ready(true).await;

    let delivered = postback(&invoice());
    assert_eq!(
        app.post(&delivered, PostbackFormat::Json).await.status(),
        200
    );
    let (first, _) = app.observer.next().await;
    assert_eq!(
        first.message_id,
        expected_message_id(&delivered),
        "the 503'd postback was not published"
    );
    app.observer.assert_empty().await;
    app.cleanup().await;
}

#[tokio::test]
async fn a_broker_lost_while_running_gives_503s_until_it_returns() {
    let proxy = BrokerProxy::start(Mode::Open).await;
    let app = spawn_app_via(proxy.amqp_url(), |_| {}).await;
    app.wait_until_ready(true).await;
    let before = postback(&invoice());
    assert_eq!(app.post(&before, PostbackFormat::Json).await.status(), 200);

    // The connection dies and new ones are refused.
    proxy.set(Mode::Down);
    app.wait_until_ready(false).await;
    let during = app.post(&postback(&invoice()), PostbackFormat::Json).await;
    assert_eq!(during.status(), 503);
    assert_eq!(error_code(during).await.0, "broker_unavailable");

    proxy.set(Mode::Open);
    app.wait_until_ready(true).await;
    let after = postback(&invoice());
    assert_eq!(app.post(&after, PostbackFormat::Json).await.status(), 200);

    assert_eq!(
        app.observer.next().await.0.message_id,
        expected_message_id(&before)
    );
    assert_eq!(
        app.observer.next().await.0.message_id,
        expected_message_id(&after)
    );
    app.observer.assert_empty().await;
    app.cleanup().await;
}
