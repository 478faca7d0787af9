//! Slowness and failure of the API itself: latency, 500/429 on a fraction of calls,
//! dropped connections; by configuration, by `POST /sandbox/faults`, and per request.

use std::time::{Duration, Instant};

use cryptocloud::Error;
use cryptocloud_sandbox::{ApiFaults, Settings, DEV_API_KEY};
use rust_decimal_macros::dec;
use serde_json::{json, Value};

use crate::helpers::{client, sandbox, spawn_sandbox, TestSandbox};

async fn set_faults(sb: &TestSandbox, faults: Value) -> ApiFaults {
    let response = sb.post_json("/sandbox/faults", faults).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn raw_balance(
    sb: &TestSandbox,
    headers: &[(&str, &str)],
) -> Result<reqwest::Response, reqwest::Error> {
    let mut request = sb
        .http
        .post(sb.url("/v2/merchant/wallet/balance/all"))
        .header("Authorization", format!("Token {DEV_API_KEY}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await
}

#[tokio::test]
async fn latency_makes_a_short_client_timeout_fire() {
    let sb = sandbox().await;
    let faults = set_faults(&sb, json!({"latency_ms": 400})).await;
    assert_eq!(faults.latency_ms, 400);
    let impatient = client(&sb.base, DEV_API_KEY, Duration::from_millis(150));
    match impatient.balance().await.unwrap_err() {
        Error::Transport { timeout, .. } => assert!(timeout),
        other => panic!("{other:?}"),
    }
    let started = Instant::now();
    sb.client.balance().await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(400));
    // The control API and the health check are never slowed down.
    let started = Instant::now();
    sb.http.get(sb.url("/healthz")).send().await.unwrap();
    sb.http.get(sb.url("/sandbox/faults")).send().await.unwrap();
    assert!(started.elapsed() < Duration::from_millis(400));
    // {} clears every fault.
    assert_eq!(set_faults(&sb, json!({})).await, ApiFaults::default());
    let started = Instant::now();
    sb.client.balance().await.unwrap();
    assert!(started.elapsed() < Duration::from_millis(400));
}

#[tokio::test]
async fn error_answers_500_and_429() {
    let sb = sandbox().await;
    set_faults(&sb, json!({"error_rate": 1.0})).await;
    match sb
        .client
        .create_invoice(&crate::helpers::new_invoice(dec!(1)))
        .await
        .unwrap_err()
    {
        Error::Server { status, .. } => assert_eq!(status, 500),
        other => panic!("{other:?}"),
    }
    set_faults(&sb, json!({"error_rate": 1.0, "error_status": 429})).await;
    match sb.client.balance().await.unwrap_err() {
        Error::RateLimited { retry_after } => assert_eq!(retry_after, Some(Duration::from_secs(1))),
        other => panic!("{other:?}"),
    }
    set_faults(&sb, json!({})).await;
    sb.client.balance().await.unwrap();
    // Failed creates created nothing.
    let all: Vec<Value> = sb
        .http
        .get(sb.url("/sandbox/invoices"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(all.is_empty());
}

#[tokio::test]
async fn a_fraction_of_calls_fails_deterministically() {
    let sb = sandbox().await;
    set_faults(&sb, json!({"error_rate": 0.5})).await;
    let mut outcomes = Vec::new();
    for _ in 0..4 {
        outcomes.push(sb.client.balance().await.is_ok());
    }
    assert_eq!(outcomes, vec![false, true, false, true]);
    // The request log shows which calls were failed on purpose.
    let log: Vec<Value> = sb
        .http
        .get(sb.url("/sandbox/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let faults: Vec<Value> = log.iter().map(|r| r["fault"].clone()).collect();
    assert_eq!(
        faults,
        vec![
            json!("error_500"),
            Value::Null,
            json!("error_500"),
            Value::Null
        ]
    );
    assert_eq!(log[1]["status"], 200);
    assert_eq!(log[0]["path"], "/v2/merchant/wallet/balance/all");
}

#[tokio::test]
async fn fail_next_fails_exactly_that_many_calls() {
    let sb = sandbox().await;
    set_faults(&sb, json!({"fail_next": 2, "error_status": 503})).await;
    assert!(matches!(
        sb.client.balance().await,
        Err(Error::Server { status: 503, .. })
    ));
    assert!(matches!(
        sb.client.balance().await,
        Err(Error::Server { status: 503, .. })
    ));
    sb.client.balance().await.unwrap();
    let faults: ApiFaults = sb
        .http
        .get(sb.url("/sandbox/faults"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(faults.fail_next, 0);
}

#[tokio::test]
async fn a_dropped_connection_gives_no_answer_at_all() {
    let sb = sandbox().await;
    set_faults(&sb, json!({"drop_rate": 1.0})).await;
    match sb.client.balance().await.unwrap_err() {
        Error::Transport { timeout, .. } => assert!(!timeout, "dropped, not timed out"),
        other => panic!("{other:?}"),
    }
    let raw = raw_balance(&sb, &[]).await;
    assert!(raw.is_err(), "no HTTP answer expected: {raw:?}");
    set_faults(&sb, json!({"drop_next": 1})).await;
    assert!(sb.client.balance().await.is_err());
    sb.client.balance().await.unwrap();
}

#[tokio::test]
async fn per_request_headers_override_for_one_call() {
    let sb = sandbox().await;
    let started = Instant::now();
    let response = raw_balance(&sb, &[("X-Sandbox-Latency-Ms", "250")])
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(250));

    let response = raw_balance(&sb, &[("X-Sandbox-Fail", "429")])
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "1");
    let response = raw_balance(&sb, &[("X-Sandbox-Fail", "500")])
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
    assert!(raw_balance(&sb, &[("X-Sandbox-Drop", "1")]).await.is_err());
    let response = raw_balance(&sb, &[("X-Sandbox-Fail", "abc")])
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    // The next plain call is fine: overrides are per request.
    assert_eq!(raw_balance(&sb, &[]).await.unwrap().status(), 200);
}

#[tokio::test]
async fn faults_can_be_configured_at_start() {
    let mut settings = Settings::for_tests();
    settings.error_rate = 1.0;
    settings.error_status = 429;
    let sb = spawn_sandbox(settings).await;
    assert!(matches!(
        sb.client.balance().await,
        Err(Error::RateLimited { .. })
    ));
    let mut settings = Settings::for_tests();
    settings.latency_ms = 300;
    let sb = spawn_sandbox(settings).await;
    let started = Instant::now();
    sb.client.balance().await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn invalid_fault_settings_are_refused_and_change_nothing() {
    let sb = sandbox().await;
    for body in [
        json!({"error_rate": 2}),
        json!({"error_status": 200}),
        json!({"drop_rate": -0.1}),
        json!({"latency": 5}),
    ] {
        let response = sb.post_json("/sandbox/faults", body.clone()).await;
        assert_eq!(response.status(), 422, "{body}");
    }
    let faults: ApiFaults = sb
        .http
        .get(sb.url("/sandbox/faults"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(faults, ApiFaults::default());
    let mut settings = Settings::for_tests();
    settings.error_rate = 3.0;
    assert!(cryptocloud_sandbox::Application::build(settings)
        .await
        .is_err());
}
