use cryptocloud::PostbackFormat;
use webhook_ingest::configuration::parse_network;

use super::helpers::*;

#[tokio::test]
async fn a_source_outside_the_allow_list_gets_403_and_publishes_nothing() {
    let app =
        spawn_app(|s| s.ingest_allowed_networks = vec![parse_network("193.232.179.110").unwrap()])
            .await;

    let response = app.post(&postback(&invoice()), PostbackFormat::Json).await;

    assert_eq!(response.status(), 403);
    assert_eq!(error_code(response).await.0, "forbidden_source");
    app.observer.assert_empty().await;
    app.cleanup().await;
}

#[tokio::test]
async fn an_allowed_source_behind_a_trusted_proxy_is_let_in() {
    let app = spawn_app(|s| {
        s.ingest_allowed_networks = vec![parse_network("203.0.113.0/24").unwrap()];
        s.ingest_trusted_proxies = vec![parse_network("127.0.0.1").unwrap()];
    })
    .await;
    let send = |forwarded_for: &'static str| {
        let (content_type, body) = postback(&invoice()).to_body(PostbackFormat::Json);
        app.client
            .post(app.url("/api/webhook/payment"))
            .header("Content-Type", content_type)
            .header("X-Forwarded-For", forwarded_for)
            .body(body)
            .send()
    };

    assert_eq!(send("203.0.113.5").await.unwrap().status(), 200);
    // The left part of the chain is written by the client and is not believed.
    assert_eq!(
        send("203.0.113.5, 198.51.100.7").await.unwrap().status(),
        403
    );

    app.observer.next().await;
    app.observer.assert_empty().await;
    app.cleanup().await;
}

#[tokio::test]
async fn past_the_rate_limit_a_source_gets_429_with_retry_after() {
    let app = spawn_app(|s| s.ingest_rate_limit_per_minute = 2).await;

    for _ in 0..2 {
        assert_eq!(
            app.post(&postback(&invoice()), PostbackFormat::Json)
                .await
                .status(),
            200
        );
    }
    let limited = app.post(&postback(&invoice()), PostbackFormat::Json).await;

    assert_eq!(limited.status(), 429);
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry_after), "{retry_after}");
    assert_eq!(error_code(limited).await.0, "rate_limited");
    app.observer.next().await;
    app.observer.next().await;
    app.observer.assert_empty().await;
    app.cleanup().await;
}
