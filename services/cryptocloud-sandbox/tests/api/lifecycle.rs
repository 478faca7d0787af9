//! The invoice life cycle: created → paid | overpaid | partial (→ paid) | canceled.

use cryptocloud::{AddFields, InvoiceStatus, TimeToPay};
use rust_decimal_macros::dec;
use serde_json::{json, Value};

use crate::helpers::{new_invoice, sandbox};

#[tokio::test]
async fn a_full_payment_makes_the_invoice_paid() {
    let sb = sandbox().await;
    let invoice = sb.create(dec!(25)).await;
    let answer = sb.pay_ok(&invoice.uuid, json!({})).await;
    assert_eq!(answer["invoice"]["status"], "paid");
    assert_eq!(answer["postbacks"], 1);
    let now = sb.info(&invoice.uuid).await;
    assert_eq!(now.status, InvoiceStatus::Paid);
    // 25 USD plus the client's 0.5 USDT network fee.
    assert_eq!(now.received, Some(dec!(25.5)));
    assert_eq!(now.invoice_status.as_deref(), Some("success"));
    assert!(now.date_finished.is_some());
    // Paying again is refused and changes nothing.
    let response = sb.pay(&invoice.uuid, json!({"amount": 1})).await;
    assert_eq!(response.status(), 409);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_payable");
    assert_eq!(sb.info(&invoice.uuid).await.received, Some(dec!(25.5)));
}

#[tokio::test]
async fn paying_more_makes_it_overpaid() {
    let sb = sandbox().await;
    let invoice = sb.create(dec!(25)).await;
    let answer = sb.pay_ok(&invoice.uuid, json!({"amount": 30})).await;
    assert_eq!(answer["invoice"]["status"], "overpaid");
    assert_eq!(answer["postbacks"], 1);
    let now = sb.info(&invoice.uuid).await;
    assert_eq!(now.status, InvoiceStatus::Overpaid);
    // 30 USD and its share of the network fee (0.6).
    assert_eq!(now.received, Some(dec!(30.6)));
}

#[tokio::test]
async fn paying_less_makes_it_partial_and_a_top_up_paid() {
    let sb = sandbox().await;
    let invoice = sb.create(dec!(25)).await;
    let answer = sb.pay_ok(&invoice.uuid, json!({"amount": 10})).await;
    assert_eq!(answer["invoice"]["status"], "partial");
    assert_eq!(answer["postbacks"], 0, "no postback for a partial payment");
    let now = sb.info(&invoice.uuid).await;
    assert_eq!(now.status, InvoiceStatus::Partial);
    assert_eq!(now.received, Some(dec!(10.2)));
    assert_eq!(now.to_surcharge, Some(dec!(15.3)));
    // A partial invoice cannot be cancelled.
    assert!(sb.client.cancel_invoice(&invoice.uuid).await.is_err());

    // Without an amount the top-up pays what is still owed.
    let answer = sb.pay_ok(&invoice.uuid, json!({})).await;
    assert_eq!(answer["paid"], json!(15.3));
    assert_eq!(answer["invoice"]["status"], "paid");
    assert_eq!(answer["postbacks"], 1);
    let now = sb.info(&invoice.uuid).await;
    assert_eq!(now.status, InvoiceStatus::Paid);
    assert_eq!(now.received, Some(dec!(25.5)));
    assert_eq!(now.to_surcharge, Some(dec!(0)));
}

#[tokio::test]
async fn an_unpaid_invoice_is_canceled_when_time_to_pay_runs_out() {
    let sb = sandbox().await;
    let mut request = new_invoice(dec!(25));
    request.add_fields = Some(AddFields {
        time_to_pay: Some(TimeToPay {
            hours: 0,
            minutes: 1,
        }),
        ..AddFields::default()
    });
    let invoice = sb.client.create_invoice(&request).await.unwrap();
    let clock: Value = sb
        .post_json("/sandbox/clock", json!({"advance_secs": 59}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(clock["offset_secs"], 59);
    assert_eq!(sb.info(&invoice.uuid).await.status, InvoiceStatus::Created);

    sb.post_json("/sandbox/clock", json!({"advance_secs": 2}))
        .await;
    let now = sb.info(&invoice.uuid).await;
    assert_eq!(now.status, InvoiceStatus::Canceled);
    assert_eq!(now.date_finished, now.expiry_date);
    let response = sb.pay(&invoice.uuid, json!({})).await;
    assert_eq!(response.status(), 409);
    // A fresh invoice made after the clock moved expires relative to the new time.
    let fresh = sb.create(dec!(1)).await;
    assert_eq!(sb.info(&fresh.uuid).await.status, InvoiceStatus::Created);
}

#[tokio::test]
async fn the_expire_control_lets_time_run_out_now() {
    let sb = sandbox().await;
    let invoice = sb.create(dec!(25)).await;
    let response = sb
        .post_json(
            &format!("/sandbox/invoices/{}/expire", invoice.uuid),
            json!({}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["invoice"]["status"], "canceled");
    assert_eq!(sb.info(&invoice.uuid).await.status, InvoiceStatus::Canceled);

    // A paid invoice cannot expire.
    let paid = sb.create(dec!(5)).await;
    sb.pay_ok(&paid.uuid, json!({})).await;
    let response = sb
        .post_json(
            &format!("/sandbox/invoices/{}/expire", paid.uuid),
            json!({}),
        )
        .await;
    assert_eq!(response.status(), 409);
    assert_eq!(sb.info(&paid.uuid).await.status, InvoiceStatus::Paid);
}

#[tokio::test]
async fn a_partial_invoice_that_expires_stays_partial_and_takes_no_top_up() {
    let sb = sandbox().await;
    let invoice = sb.create(dec!(25)).await;
    sb.pay_ok(&invoice.uuid, json!({"amount": 5})).await;
    sb.post_json(
        &format!("/sandbox/invoices/{}/expire", invoice.uuid),
        json!({}),
    )
    .await;
    assert_eq!(sb.info(&invoice.uuid).await.status, InvoiceStatus::Partial);
    let response = sb.pay(&invoice.uuid, json!({})).await;
    assert_eq!(response.status(), 409);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "expired");
    // 5 USD and its share of the network fee.
    assert_eq!(sb.info(&invoice.uuid).await.received, Some(dec!(5.1)));
}

#[tokio::test]
async fn bad_pay_requests_change_nothing() {
    let sb = sandbox().await;
    let invoice = sb.create(dec!(25)).await;
    for (body, status) in [
        (json!({"amount": 0}), 422),
        (json!({"amount": -3}), 422),
        (json!({"amount": "lots"}), 422),
        (json!({"amount": 1, "amount_crypto": 1}), 422),
        (json!({"times": 0}), 422),
        (json!({"token": "forged"}), 422),
        (json!({"unknown": true}), 422),
    ] {
        let response = sb.pay(&invoice.uuid, body.clone()).await;
        assert_eq!(response.status(), status, "{body}");
        let error: Value = response.json().await.unwrap();
        assert!(error["error"]["code"].is_string(), "{error}");
    }
    assert_eq!(sb.info(&invoice.uuid).await.status, InvoiceStatus::Created);
    let response = sb
        .pay(
            &cryptocloud::InvoiceId::parse("NOPE1234").unwrap(),
            json!({}),
        )
        .await;
    assert_eq!(response.status(), 404);
    // No body at all pays in full.
    let response = sb
        .http
        .post(sb.url(&format!("/sandbox/invoices/{}/pay", invoice.uuid.code())))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(sb.info(&invoice.uuid).await.status, InvoiceStatus::Paid);
}

#[tokio::test]
async fn amount_crypto_pays_in_the_invoice_coin() {
    let sb = sandbox().await;
    let mut request = new_invoice(dec!(30));
    request.add_fields = Some(AddFields {
        cryptocurrency: Some("BTC".into()),
        ..AddFields::default()
    });
    let invoice = sb.client.create_invoice(&request).await.unwrap();
    let answer = sb
        .pay_ok(&invoice.uuid, json!({"amount_crypto": 0.0002006}))
        .await;
    assert_eq!(answer["invoice"]["status"], "partial");
    let answer = sb.pay_ok(&invoice.uuid, json!({"amount": 18})).await;
    assert_eq!(answer["invoice"]["status"], "paid");
    // 18 USD is 0.0003 BTC plus its share of the fee (0.0000009).
    assert_eq!(sb.info(&invoice.uuid).await.received, Some(dec!(0.0005015)));
}
