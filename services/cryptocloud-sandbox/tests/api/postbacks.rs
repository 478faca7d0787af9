//! Postbacks: what is sent, how it verifies, and every fault-injection mode.

use std::time::{Duration, Instant};

use base64::Engine as _;
use chrono::Utc;
use cryptocloud::{IdKind, InvoiceStatus, PostbackFormat, TokenError};
use cryptocloud_sandbox::{IdClaimMode, Outcome, TokenMode};
use rust_decimal_macros::dec;
use serde_json::{json, Value};

use crate::helpers::{
    sandbox, sandbox_with_receiver, sandbox_with_receiver_and, verifier, Receiver,
};

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn a_paid_invoice_sends_a_signed_json_postback_that_the_verifier_accepts() {
    let (sb, mut receiver) = sandbox_with_receiver().await;
    let invoice = sb.create(dec!(25)).await;
    sb.pay_ok(&invoice.uuid, json!({})).await;

    let captured = receiver.next().await;
    assert_eq!(captured.content_type.as_deref(), Some("application/json"));
    let raw: Value = serde_json::from_slice(&captured.body).unwrap();
    assert_eq!(raw["status"], "success");
    assert_eq!(
        raw["invoice_id"],
        invoice.uuid.code(),
        "bare code in postbacks"
    );
    assert_eq!(raw["amount_crypto"], json!(25.5));
    assert_eq!(raw["currency"], "USDT_TRC20");
    assert_eq!(raw["order_id"], invoice.order_id.clone().unwrap());
    assert_eq!(raw["invoice_info"]["uuid"], invoice.uuid.prefixed());
    assert_eq!(raw["invoice_info"]["status"], "paid");

    let postback = captured.postback();
    assert_eq!(postback.format, PostbackFormat::Json);
    let verified = verifier()
        .verify(postback.token.as_deref(), &postback.invoice_id)
        .unwrap();
    assert_eq!(verified.id.as_deref(), Some(invoice.uuid.code()));
    let lifetime = (verified.exp - Utc::now()).num_seconds();
    assert!(
        (290..=300).contains(&lifetime),
        "exp is now + 300 s, got {lifetime}"
    );
    let token_claims = claims(postback.token.as_deref().unwrap());
    assert_eq!(
        token_claims.as_object().unwrap().len(),
        2,
        "only id and exp: {token_claims}"
    );
    // A token made with another key does not verify: the signature is real.
    let stranger =
        cryptocloud::TokenVerifier::new("someone-else".to_owned().into(), Duration::from_secs(60));
    assert_eq!(
        stranger.verify(postback.token.as_deref(), &postback.invoice_id),
        Err(TokenError::BadSignature)
    );

    let log = sb.deliveries(&invoice.uuid, 1).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].outcome, Outcome::Delivered);
    assert_eq!(log[0].status, Some(200));
    assert_eq!(log[0].attempt, 1);
    assert_eq!(log[0].url.as_deref(), Some(receiver.url.as_str()));
    assert_eq!(
        log[0].request_body.as_deref(),
        Some(captured.text().as_str())
    );
    assert!(log[0].response_body.as_deref().unwrap().contains("ok"));
}

#[tokio::test]
async fn overpaid_sends_a_postback_and_partial_does_not() {
    let (sb, mut receiver) = sandbox_with_receiver().await;
    let partial = sb.create(dec!(25)).await;
    let answer = sb.pay_ok(&partial.uuid, json!({"amount": 5})).await;
    assert_eq!(answer["postbacks"], 0);
    let over = sb.create(dec!(10)).await;
    sb.pay_ok(&over.uuid, json!({"amount": 12})).await;
    let postback = receiver.next().await.postback();
    assert_eq!(
        postback.invoice_id, over.uuid,
        "the first postback is the overpaid one"
    );
    // 12 USD and its share of the client's network fee.
    assert_eq!(postback.amount_crypto, dec!(12.6));
    assert_eq!(
        postback.invoice_info.unwrap().status,
        InvoiceStatus::Overpaid
    );
    assert!(sb.deliveries(&partial.uuid, 0).await.is_empty());
    // The top-up of the partial invoice sends the full amount received.
    sb.pay_ok(&partial.uuid, json!({})).await;
    let postback = receiver.next().await.postback();
    assert_eq!(postback.invoice_id, partial.uuid);
    assert_eq!(postback.amount_crypto, dec!(25.5));
}

#[tokio::test]
async fn form_format_by_configuration_and_per_request() {
    let (sb, mut receiver) =
        sandbox_with_receiver_and(|s| s.postback_format = PostbackFormat::Form).await;
    let invoice = sb.create(dec!(7.5)).await;
    sb.pay_ok(&invoice.uuid, json!({})).await;
    let captured = receiver.next().await;
    assert_eq!(
        captured.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&captured.body).unwrap();
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(get("invoice_id").as_deref(), Some(invoice.uuid.code()));
    // 7.5 USD plus the 0.5 USDT network fee the client pays.
    assert_eq!(get("amount_crypto").as_deref(), Some("8"));
    // invoice_info travels as a JSON string.
    let info: Value = serde_json::from_str(&get("invoice_info").unwrap()).unwrap();
    assert_eq!(info["uuid"], invoice.uuid.prefixed());
    let postback = captured.postback();
    assert_eq!(postback.format, PostbackFormat::Form);
    verifier()
        .verify(postback.token.as_deref(), &postback.invoice_id)
        .unwrap();

    // "other" flips the configured format; a named format is taken as is.
    let second = sb.create(dec!(1)).await;
    sb.pay_ok(&second.uuid, json!({"format": "other"})).await;
    let captured = receiver.next().await;
    assert_eq!(captured.content_type.as_deref(), Some("application/json"));
    assert_eq!(captured.postback().format, PostbackFormat::Json);
    sb.post_json(
        &format!("/sandbox/invoices/{}/postback", second.uuid),
        json!({"format": "form"}),
    )
    .await;
    assert_eq!(
        receiver.next().await.postback().format,
        PostbackFormat::Form
    );
    let log = sb.deliveries(&second.uuid, 2).await;
    assert_eq!(
        log.iter().map(|d| d.format.as_str()).collect::<Vec<_>>(),
        vec!["json", "form"]
    );
}

#[tokio::test]
async fn times_sends_the_postback_n_times_each_with_a_valid_token() {
    let (sb, mut receiver) = sandbox_with_receiver().await;
    let invoice = sb.create(dec!(10)).await;
    let answer = sb.pay_ok(&invoice.uuid, json!({"times": 3})).await;
    assert_eq!(answer["postbacks"], 3);
    for _ in 0..3 {
        let postback = receiver.next().await.postback();
        assert_eq!(postback.invoice_id, invoice.uuid);
        verifier()
            .verify(postback.token.as_deref(), &postback.invoice_id)
            .unwrap();
    }
    let log = sb.deliveries(&invoice.uuid, 3).await;
    assert_eq!(
        log.iter().map(|d| d.postback).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert!(log.iter().all(|d| d.outcome == Outcome::Delivered));
}

#[tokio::test]
async fn delay_sends_the_postback_late() {
    let (sb, mut receiver) = sandbox_with_receiver().await;
    let invoice = sb.create(dec!(10)).await;
    let started = Instant::now();
    sb.pay_ok(&invoice.uuid, json!({"delay_ms": 400})).await;
    // The payment is visible at once; the postback comes later.
    assert_eq!(sb.info(&invoice.uuid).await.status, InvoiceStatus::Paid);
    assert!(sb.deliveries(&invoice.uuid, 0).await.is_empty());
    let captured = receiver.next().await;
    assert!(
        captured.at - started >= Duration::from_millis(400),
        "{:?}",
        captured.at - started
    );
}

#[tokio::test]
async fn concurrent_sends_the_copies_at_the_same_time() {
    let (sb, mut receiver) = sandbox_with_receiver().await;
    // Each request is held until three have arrived: only concurrent sending gets there.
    receiver.gate(3);
    let invoice = sb.create(dec!(10)).await;
    sb.pay_ok(&invoice.uuid, json!({"times": 3, "concurrent": true}))
        .await;
    for _ in 0..3 {
        receiver.next().await;
    }
    assert_eq!(receiver.max_in_flight(), 3);
    let log = sb.deliveries(&invoice.uuid, 3).await;
    assert!(log.iter().all(|d| d.outcome == Outcome::Delivered));
}

async fn token_of_mode(mode: &str) -> (Result<cryptocloud::VerifiedToken, TokenError>, Receiver) {
    let (sb, mut receiver) = sandbox_with_receiver().await;
    let invoice = sb.create(dec!(10)).await;
    sb.pay_ok(&invoice.uuid, json!({"token": mode})).await;
    let postback = receiver.next().await.postback();
    assert_eq!(postback.invoice_id, invoice.uuid);
    let log = sb.deliveries(&invoice.uuid, 1).await;
    let expected: TokenMode = serde_json::from_value(json!(mode)).unwrap();
    assert_eq!(log[0].token, expected);
    (
        verifier().verify(postback.token.as_deref(), &postback.invoice_id),
        receiver,
    )
}

#[tokio::test]
async fn an_expired_token() {
    let (result, _r) = token_of_mode("expired").await;
    assert_eq!(result, Err(TokenError::Expired));
}

#[tokio::test]
async fn a_wrong_signature() {
    let (result, _r) = token_of_mode("bad_signature").await;
    assert_eq!(result, Err(TokenError::BadSignature));
}

#[tokio::test]
async fn a_missing_token() {
    let (result, _r) = token_of_mode("missing").await;
    assert_eq!(result, Err(TokenError::Missing));
}

#[tokio::test]
async fn a_token_for_another_invoice() {
    let (result, _r) = token_of_mode("wrong_invoice").await;
    assert_eq!(result, Err(TokenError::InvoiceMismatch));
}

#[tokio::test]
async fn an_unsigned_token() {
    let (result, _r) = token_of_mode("alg_none").await;
    assert_eq!(result, Err(TokenError::Algorithm));
}

#[tokio::test]
async fn a_lost_postback_is_logged_and_never_sent() {
    let (sb, mut receiver) = sandbox_with_receiver().await;
    let lost = sb.create(dec!(10)).await;
    let answer = sb.pay_ok(&lost.uuid, json!({"lost": true})).await;
    assert_eq!(answer["invoice"]["status"], "paid");
    let log = sb.deliveries(&lost.uuid, 1).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].outcome, Outcome::Lost);
    assert_eq!(
        (
            log[0].attempt,
            log[0].status,
            log[0].request_body.as_deref()
        ),
        (0, None, None)
    );

    // A later postback arrives, and it is the only one that did.
    let other = sb.create(dec!(3)).await;
    sb.pay_ok(&other.uuid, json!({})).await;
    let arrived = receiver.next().await.postback();
    assert_eq!(arrived.invoice_id, other.uuid);
    assert!(receiver.drain().is_empty());
    // The merchant re-sends the lost one manually.
    sb.post_json(
        &format!("/sandbox/invoices/{}/postback", lost.uuid),
        json!({}),
    )
    .await;
    let resent = receiver.next().await.postback();
    assert_eq!(resent.invoice_id, lost.uuid);
    verifier()
        .verify(resent.token.as_deref(), &resent.invoice_id)
        .unwrap();
    let log = sb.deliveries(&lost.uuid, 2).await;
    assert_eq!((log[1].postback, log[1].outcome), (2, Outcome::Delivered));
}

#[tokio::test]
async fn non_2xx_answers_are_retried_with_a_fresh_token_each_time() {
    let (sb, mut receiver) = sandbox_with_receiver().await;
    receiver.script(&[500, 503]);
    let invoice = sb.create(dec!(10)).await;
    sb.pay_ok(&invoice.uuid, json!({})).await;
    for _ in 0..3 {
        let postback = receiver.next().await.postback();
        verifier()
            .verify(postback.token.as_deref(), &postback.invoice_id)
            .unwrap();
    }
    let log = sb.deliveries(&invoice.uuid, 3).await;
    let summary: Vec<_> = log
        .iter()
        .map(|d| (d.postback, d.attempt, d.outcome, d.status))
        .collect();
    assert_eq!(
        summary,
        vec![
            (1, 1, Outcome::Rejected, Some(500)),
            (1, 2, Outcome::Rejected, Some(503)),
            (1, 3, Outcome::Delivered, Some(200)),
        ]
    );
    // Back-off: the retries are spaced (20 ms, then 40 ms in tests).
    assert!(log[2].sent_at - log[0].sent_at >= chrono::Duration::milliseconds(60));
}

#[tokio::test]
async fn retries_stop_when_the_policy_is_used_up() {
    let (sb, mut receiver) = sandbox_with_receiver_and(|s| s.postback_retries = 1).await;
    receiver.script(&[500, 500, 500, 500]);
    let invoice = sb.create(dec!(10)).await;
    sb.pay_ok(&invoice.uuid, json!({})).await;
    receiver.next().await;
    receiver.next().await;
    let log = sb.deliveries(&invoice.uuid, 2).await;
    assert!(log.iter().all(|d| d.outcome == Outcome::Rejected));
    // A per-request override: no retries at all for the re-send.
    sb.post_json(
        &format!("/sandbox/invoices/{}/postback", invoice.uuid),
        json!({"retries": 0}),
    )
    .await;
    receiver.next().await;
    let log = sb.deliveries(&invoice.uuid, 3).await;
    // Wait briefly for a fourth entry that must not come.
    let after: Vec<cryptocloud_sandbox::DeliveryAttempt> = sb
        .http
        .get(sb.url(&format!(
            "/sandbox/invoices/{}/deliveries?min=4&wait_ms=300",
            invoice.uuid
        )))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(after.len(), 3, "{after:#?}");
    assert_eq!((log[2].postback, log[2].attempt), (2, 1));
}

#[tokio::test]
async fn an_unreachable_receiver_is_logged_as_an_error_and_retried() {
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!(
            "http://{}/api/webhook/payment",
            listener.local_addr().unwrap()
        )
    };
    let sb = sandbox().await;
    let invoice = sb.create(dec!(10)).await;
    sb.pay_ok(&invoice.uuid, json!({"url": dead, "retries": 2}))
        .await;
    let log = sb.deliveries(&invoice.uuid, 3).await;
    assert!(log
        .iter()
        .all(|d| d.outcome == Outcome::Error && d.status.is_none() && d.error.is_some()));
    assert_eq!(
        log.iter().map(|d| d.attempt).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );

    // With no postback URL at all, the attempt is logged as an error too.
    let other = sb.create(dec!(1)).await;
    sb.pay_ok(&other.uuid, json!({"retries": 0})).await;
    let log = sb.deliveries(&other.uuid, 1).await;
    assert_eq!(log[0].outcome, Outcome::Error);
    assert!(log[0]
        .error
        .as_deref()
        .unwrap()
        .contains("SANDBOX_POSTBACK_URL"));
}

#[tokio::test]
async fn the_id_claim_form_is_configurable() {
    let (sb, mut receiver) = sandbox_with_receiver_and(|s| s.id_claim = IdClaimMode::Int).await;
    let invoice = sb.create(dec!(10)).await;
    sb.pay_ok(&invoice.uuid, json!({})).await;
    let postback = receiver.next().await.postback();
    let token = postback.token.clone().unwrap();
    assert_eq!(claims(&token)["id"], json!(1), "the invoice's number");
    // A number cannot be held against the invoice code: accepted, and said so.
    assert_eq!(
        verifier()
            .verify(Some(&token), &postback.invoice_id)
            .unwrap()
            .id_kind,
        IdKind::Numeric
    );

    sb.post_json(
        &format!("/sandbox/invoices/{}/postback", invoice.uuid),
        json!({"id_claim": "none"}),
    )
    .await;
    let postback = receiver.next().await.postback();
    let token = postback.token.clone().unwrap();
    assert!(claims(&token).get("id").is_none());
    assert_eq!(
        verifier()
            .verify(Some(&token), &postback.invoice_id)
            .unwrap()
            .id,
        None
    );
}

#[tokio::test]
async fn the_delivery_log_covers_all_invoices_too() {
    let (sb, mut receiver) = sandbox_with_receiver().await;
    let a = sb.create(dec!(1)).await;
    let b = sb.create(dec!(2)).await;
    sb.pay_ok(&a.uuid, json!({})).await;
    sb.pay_ok(&b.uuid, json!({})).await;
    receiver.next().await;
    receiver.next().await;
    let all: Vec<cryptocloud_sandbox::DeliveryAttempt> = sb
        .http
        .get(sb.url("/sandbox/deliveries?min=2"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut ids: Vec<_> = all.iter().map(|d| d.invoice_id.clone()).collect();
    ids.sort();
    let mut expected = vec![a.uuid.prefixed(), b.uuid.prefixed()];
    expected.sort();
    assert_eq!(ids, expected);
    let response = sb
        .http
        .get(sb.url("/sandbox/invoices/NOPE0000/deliveries"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}
