use cryptocloud::PostbackFormat;

use super::helpers::*;

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = spawn_app(|_| {}).await;
    assert_eq!(
        app.client
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["checks"]["broker"], "up");
    app.cleanup().await;
}

#[tokio::test]
async fn metrics_count_received_rejected_published_latency_and_clock_skew() {
    let app = spawn_app(|_| {}).await;
    assert_eq!(
        app.post(&postback(&invoice()), PostbackFormat::Form)
            .await
            .status(),
        200
    );
    let mut unsigned = postback(&invoice());
    unsigned.token = None;
    assert_eq!(
        app.post(&unsigned, PostbackFormat::Json).await.status(),
        401
    );

    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    for needle in [
        "webhook_postbacks_received_total ",
        "webhook_postbacks_rejected_total{reason=\"token_missing\"}",
        "webhook_postbacks_published_total{format=\"form\"}",
        "webhook_publish_duration_seconds_bucket{outcome=\"confirmed\"",
        "webhook_token_clock_skew_seconds_bucket{direction=",
        "http_requests_total{route=\"/api/webhook/payment\"",
    ] {
        assert!(
            text.contains(needle),
            "{needle} missing from /metrics:\n{text}"
        );
    }
    app.observer.next().await;
    app.cleanup().await;
}
