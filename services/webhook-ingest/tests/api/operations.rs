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

    let text = app.metrics().await;

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

#[tokio::test]
async fn numeric_and_absent_token_ids_are_accepted_and_counted_by_kind() {
    let app = spawn_app(|_| {}).await;
    let exp = chrono::Utc::now() + chrono::Duration::minutes(5);
    for id in [
        cryptocloud::IdClaim::Int(7_654_321),
        cryptocloud::IdClaim::None,
    ] {
        let mut body = postback(&invoice());
        body.token = Some(cryptocloud::sign_postback_token(&secret(SECRET), id, exp));
        assert_eq!(app.post(&body, PostbackFormat::Json).await.status(), 200);
        app.observer.next().await;
    }
    // A string id naming another invoice is still refused.
    let mut other = postback(&invoice());
    other.token = Some(valid_token(&invoice()));
    assert_eq!(app.post(&other, PostbackFormat::Json).await.status(), 401);
    assert_eq!(
        app.post(&postback(&invoice()), PostbackFormat::Json)
            .await
            .status(),
        200
    );
    app.observer.next().await;

    let text = app.metrics().await;
    for kind in ["numeric", "absent", "invoice"] {
        let needle = format!("webhook_token_id_claims_total{{kind=\"{kind}\"}}");
        assert!(
            text.contains(&needle),
            "{needle} missing from /metrics:\n{text}"
        );
    }
    app.cleanup().await;
}
