use cryptocloud::{PostbackFormat, PostbackInvoiceInfo};
use events::SourceFormat;
use rust_decimal::Decimal;

use super::helpers::*;

#[tokio::test]
async fn a_valid_json_postback_is_confirmed_and_arrives_as_postback_received() {
    // Arrange
    let app = spawn_app(|_| {}).await;
    let invoice = invoice();
    let postback = postback(&invoice);

    // Act
    let response = app.post(&postback, PostbackFormat::Json).await;

    // Assert
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"status": "ok"})
    );
    let (event, properties) = app.observer.next().await;
    let expected_id = expected_message_id(&postback);
    assert_eq!(event.message_id, expected_id);
    assert_eq!(event.invoice_id, invoice.code());
    assert_eq!(event.order_id, "order-42");
    assert_eq!(event.postback_status, "success");
    assert_eq!(event.invoice_status, "paid");
    assert_eq!(event.amount_crypto, "25.012");
    assert_eq!(event.crypto_currency, "USDT_TRC20");
    assert_eq!(event.source_format, SourceFormat::Json as i32);
    let received_at = events::from_timestamp(&event.received_at.unwrap()).unwrap();
    assert!((chrono::Utc::now() - received_at).num_seconds().abs() < 60);

    assert_eq!(
        properties.message_id().as_ref().map(|s| s.as_str()),
        Some(expected_id.as_str())
    );
    assert_eq!(
        properties.content_type().as_ref().map(|s| s.as_str()),
        Some(events::CONTENT_TYPE)
    );
    assert_eq!(
        properties.kind().as_ref().map(|s| s.as_str()),
        Some("PostbackReceived")
    );
    assert_eq!(
        properties.app_id().as_ref().map(|s| s.as_str()),
        Some("webhook-ingest")
    );
    assert_eq!(*properties.delivery_mode(), Some(2), "persistent");
    assert_eq!(
        *properties.timestamp(),
        Some(received_at.timestamp() as u64)
    );
    app.observer.assert_empty().await;
    app.cleanup().await;
}

#[tokio::test]
async fn a_valid_form_postback_arrives_with_the_same_id_as_its_json_twin() {
    let app = spawn_app(|_| {}).await;
    let invoice = invoice();
    let mut postback = postback(&invoice);
    // The flat six fields, as the PHP and Java SDKs read them: no invoice snapshot.
    postback.invoice_info = None;

    let response = app.post(&postback, PostbackFormat::Form).await;
    assert_eq!(response.status(), 200);
    let (from_form, _) = app.observer.next().await;
    assert_eq!(from_form.source_format, SourceFormat::Form as i32);
    assert_eq!(
        from_form.invoice_status, "",
        "no snapshot, no invoice status"
    );
    assert_eq!(from_form.message_id, expected_message_id(&postback));

    let response = app.post(&postback, PostbackFormat::Json).await;
    assert_eq!(response.status(), 200);
    let (from_json, _) = app.observer.next().await;
    assert_eq!(from_json.message_id, from_form.message_id);
    assert_eq!(from_json.amount_crypto, from_form.amount_crypto);
    app.cleanup().await;
}

#[tokio::test]
async fn a_form_postback_with_its_snapshot_as_json_text_is_accepted() {
    let app = spawn_app(|_| {}).await;
    let invoice = invoice();
    let mut postback = postback(&invoice);
    postback.invoice_info = Some(PostbackInvoiceInfo::new(invoice.clone(), "overpaid".into()));

    let response = app.post(&postback, PostbackFormat::Form).await;

    assert_eq!(response.status(), 200);
    let (event, _) = app.observer.next().await;
    assert_eq!(event.invoice_status, "overpaid");
    assert_eq!(event.message_id, expected_message_id(&postback));
    app.cleanup().await;
}

#[tokio::test]
async fn the_format_is_sniffed_when_the_content_type_is_missing_or_wrong() {
    let app = spawn_app(|_| {}).await;
    let json_postback = postback(&invoice());
    let form_postback = postback(&invoice());
    let cases = [
        (None, json_postback.to_json_body(), SourceFormat::Json),
        (
            Some("text/plain"),
            json_postback.to_json_body(),
            SourceFormat::Json,
        ),
        (
            Some("application/x-www-form-urlencoded"),
            json_postback.to_json_body(),
            SourceFormat::Json,
        ),
        (
            None,
            form_postback.to_form_body().into_bytes(),
            SourceFormat::Form,
        ),
        (
            Some("application/json"),
            form_postback.to_form_body().into_bytes(),
            SourceFormat::Form,
        ),
    ];
    for (content_type, body, format) in cases {
        let response = app.post_raw(content_type, body).await;
        assert_eq!(response.status(), 200, "content type {content_type:?}");
        let (event, _) = app.observer.next().await;
        assert_eq!(
            event.source_format, format as i32,
            "content type {content_type:?}"
        );
    }
    app.cleanup().await;
}

#[tokio::test]
async fn a_resent_postback_is_published_again_with_the_same_id_and_a_new_state_gets_a_new_id() {
    let app = spawn_app(|_| {}).await;
    let invoice = invoice();
    let mut partial = postback(&invoice);
    partial.amount_crypto = Decimal::new(10, 0);
    partial.invoice_info = Some(PostbackInvoiceInfo::new(invoice.clone(), "partial".into()));
    let paid = postback(&invoice);

    for p in [&partial, &partial, &paid] {
        assert_eq!(app.post(p, PostbackFormat::Json).await.status(), 200);
    }

    let (first, _) = app.observer.next().await;
    let (resent, _) = app.observer.next().await;
    let (then_paid, _) = app.observer.next().await;
    assert_eq!(
        first.message_id, resent.message_id,
        "the worker deduplicates on it"
    );
    assert_ne!(
        first.message_id, then_paid.message_id,
        "a later `paid` must not be dropped as a duplicate"
    );
    assert_eq!(then_paid.invoice_status, "paid");
    app.cleanup().await;
}

#[tokio::test]
async fn during_a_key_rotation_tokens_of_the_previous_key_are_accepted() {
    let app = spawn_app(|s| {
        s.cryptocloud_secret_key = secret("the-new-key");
        s.cryptocloud_secret_key_previous = Some(secret(SECRET));
    })
    .await;
    let invoice = invoice();
    let signed_with_old = postback(&invoice);
    let mut signed_with_new = postback(&invoice);
    signed_with_new.token = Some(cryptocloud::sign_postback_token(
        &secret("the-new-key"),
        cryptocloud::IdClaim::from(&invoice),
        chrono::Utc::now() + chrono::Duration::minutes(5),
    ));

    assert_eq!(
        app.post(&signed_with_old, PostbackFormat::Json)
            .await
            .status(),
        200
    );
    assert_eq!(
        app.post(&signed_with_new, PostbackFormat::Json)
            .await
            .status(),
        200
    );

    app.observer.next().await;
    app.observer.next().await;
    app.cleanup().await;
}

#[tokio::test]
async fn a_body_of_exactly_64_kib_is_accepted() {
    let app = spawn_app(|_| {}).await;
    let postback = postback(&invoice());
    let mut body = postback.to_json_body();
    // Pad inside the object with whitespace, which JSON ignores.
    let pad = webhook_ingest::routes::BODY_LIMIT - body.len();
    body.splice(1..1, std::iter::repeat_n(b' ', pad));
    assert_eq!(body.len(), 64 * 1024);

    let response = app.post_raw(Some("application/json"), body).await;

    assert_eq!(response.status(), 200);
    app.observer.next().await;
    app.cleanup().await;
}

/// `invoice_info` is a hint: a form postback whose snapshot cannot be read (not JSON, a
/// Python repr, nested keys, repeated, another invoice's) is accepted on its six flat fields,
/// published without an invoice status, and counted.
#[tokio::test]
async fn a_form_postback_with_an_unreadable_invoice_info_is_accepted_and_counted() {
    let app = spawn_app(|_| {}).await;
    let invoice = invoice();
    let mut flat = postback(&invoice);
    flat.invoice_info = None;
    let base = flat.to_form_body();
    let oddities = [
        "invoice_info=not+json".to_string(),
        "invoice_info=%7B%27uuid%27%3A+%27INV-X%27%7D".to_string(),
        format!(
            "invoice_info%5Buuid%5D={}&invoice_info%5Bstatus%5D=paid",
            invoice.prefixed()
        ),
        "invoice_info=%7B%7D&invoice_info=%7B%7D".to_string(),
        "invoice_info=%7B%22uuid%22%3A%22INV-ZZZZ9999%22%2C%22status%22%3A%22paid%22%7D"
            .to_string(),
        // Not one of the six: may repeat.
        "note=a&note=b".to_string(),
    ];
    for odd in &oddities {
        let response = app
            .post_raw(
                Some("application/x-www-form-urlencoded"),
                format!("{base}&{odd}"),
            )
            .await;
        assert_eq!(response.status(), 200, "{odd}");
        let (event, _) = app.observer.next().await;
        assert_eq!(event.invoice_status, "", "{odd}: the snapshot was not used");
        assert_eq!(event.message_id, expected_message_id(&flat), "{odd}");
    }
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("webhook_invoice_info_ignored_total 5"),
        "{metrics}"
    );
    // One of the six twice is still refused: which copy would count is ambiguous.
    let response = app
        .post_raw(
            Some("application/x-www-form-urlencoded"),
            format!("{base}&currency=BTC"),
        )
        .await;
    assert_eq!(response.status(), 400);
    app.observer.assert_empty().await;
    app.cleanup().await;
}
