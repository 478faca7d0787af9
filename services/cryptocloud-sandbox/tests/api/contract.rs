//! Contract tests: the `cryptocloud` client exercises every endpoint against the sandbox.

use chrono::{Duration as Span, Utc};
use cryptocloud::{
    AddFields, CreateInvoice, CreateStaticWallet, Error, InvoiceId, InvoiceStatus, ListInvoices,
};
use cryptocloud_sandbox::{DEV_API_KEY, DEV_SHOP_ID};
use rust_decimal_macros::dec;
use serde_json::{json, Value};
use std::time::Duration;

use crate::helpers::{client, new_invoice, sandbox};

#[tokio::test]
async fn create_invoice_answers_with_the_documented_shape() {
    let sb = sandbox().await;
    let mut request = new_invoice(dec!(25.50));
    request.order_id = Some("order-42".to_owned());
    let invoice = sb.client.create_invoice(&request).await.unwrap();

    assert_eq!(invoice.status, InvoiceStatus::Created);
    // The client pays the network fee (0.5 USDT on TRC20): it is added to what is owed.
    assert_eq!(invoice.amount, dec!(26));
    assert_eq!(invoice.amount_usd, Some(dec!(26)));
    assert_eq!(invoice.amount_in_fiat, Some(dec!(25.50)));
    assert_eq!(invoice.fee, Some(dec!(0.5)));
    assert_eq!(invoice.fee_usd, Some(dec!(0.5)));
    assert_eq!(invoice.service_fee_usd, Some(dec!(0.48)));
    assert_eq!(invoice.side_commission.as_deref(), Some("client"));
    assert_eq!(invoice.side_commission_service.as_deref(), Some("merchant"));
    assert_eq!(invoice.fiat_currency.as_deref(), Some("USD"));
    assert_eq!(invoice.order_id.as_deref(), Some("order-42"));
    assert_eq!(invoice.test_mode, Some(true));
    assert_eq!(invoice.address.as_deref(), Some(""));
    let currency = invoice.currency.as_ref().unwrap();
    assert_eq!(currency.fullcode, "USDT_TRC20");
    assert_eq!(currency.code, "USDT");
    // time_to_pay of 30 minutes sets the expiry.
    let created = invoice.created.unwrap();
    assert_eq!(invoice.expiry_date.unwrap() - created, Span::minutes(30));
    assert!((Utc::now() - created).num_seconds().abs() < 5);
    // The code: 8 uppercase alphanumerics; the link is the payment page.
    let code = invoice.uuid.code();
    assert_eq!(code.len(), 8);
    assert!(code
        .bytes()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()));
    assert_eq!(invoice.link, format!("{}/{code}", sb.base));
    let project = invoice.project.as_ref().unwrap();
    assert_eq!(
        project.success.as_deref(),
        Some(sb.settings.success_url.as_str())
    );

    // The raw envelope and wire forms: `INV-` uuid, CryptoCloud's timestamp format.
    let raw: Value = sb
        .http
        .post(sb.url("/v2/invoice/create"))
        .header("Authorization", format!("Token {DEV_API_KEY}"))
        .json(&json!({"shop_id": DEV_SHOP_ID, "amount": "10", "email": "a@b.example"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(raw["status"], "success");
    let uuid = raw["result"]["uuid"].as_str().unwrap();
    assert!(uuid.starts_with("INV-") && uuid.len() == 12, "{uuid}");
    let created = raw["result"]["created"].as_str().unwrap();
    assert_eq!(
        created.len(),
        "2025-03-01 10:15:30.123456".len(),
        "{created}"
    );
    assert_eq!(&created[10..11], " ");
    // No time_to_pay: 24 hours.
    let created = cryptocloud::timestamp::parse(created).unwrap();
    let expiry =
        cryptocloud::timestamp::parse(raw["result"]["expiry_date"].as_str().unwrap()).unwrap();
    assert_eq!(expiry - created, Span::hours(24));
    assert_eq!(raw["result"]["fiat_currency"], "USD");
}

#[tokio::test]
async fn a_preselected_coin_gets_an_address_and_a_crypto_amount() {
    let sb = sandbox().await;
    let mut request = new_invoice(dec!(30));
    request.add_fields = Some(AddFields {
        cryptocurrency: Some("BTC".to_owned()),
        ..AddFields::default()
    });
    let invoice = sb.client.create_invoice(&request).await.unwrap();
    // 30 USD at 60 000 USD/BTC, plus the BTC network fee (0.0000015 BTC, 0.09 USD).
    assert_eq!(invoice.amount, dec!(0.0005015));
    assert_eq!(invoice.amount_usd, Some(dec!(30.09)));
    assert_eq!(invoice.fee, Some(dec!(0.0000015)));
    assert!(
        invoice
            .address
            .as_deref()
            .is_some_and(|a| a.starts_with("bc1q")),
        "{:?}",
        invoice.address
    );
    assert_eq!(invoice.currency.unwrap().fullcode, "BTC");
}

#[tokio::test]
async fn create_invoice_refuses_bad_fields_by_name() {
    let sb = sandbox().await;
    let request = CreateInvoice {
        shop_id: "not-our-shop".to_owned(),
        amount: dec!(-1),
        currency: Some("XYZ".to_owned()),
        email: Some("not-an-email".to_owned()),
        ..CreateInvoice::default()
    };
    match sb.client.create_invoice(&request).await.unwrap_err() {
        Error::Validation { fields } => {
            for field in ["shop_id", "amount", "currency", "email"] {
                assert!(fields.contains_key(field), "{field} missing in {fields:?}");
            }
        }
        other => panic!("{other:?}"),
    }
    let mut request = new_invoice(dec!(5));
    request.add_fields = Some(AddFields {
        cryptocurrency: Some("DOGE_MOON".to_owned()),
        ..AddFields::default()
    });
    assert!(
        matches!(sb.client.create_invoice(&request).await, Err(Error::Validation { fields }) if fields.contains_key("cryptocurrency"))
    );

    // Raw: a missing amount is named; a body that is not JSON gets FastAPI's 422.
    let auth = format!("Token {DEV_API_KEY}");
    let response = sb
        .http
        .post(sb.url("/v2/invoice/create"))
        .header("Authorization", &auth)
        .json(&json!({"shop_id": DEV_SHOP_ID}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "error");
    assert_eq!(body["result"]["amount"], "This field is required.");
    let response = sb
        .http
        .post(sb.url("/v2/invoice/create"))
        .header("Authorization", &auth)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    assert!(body["detail"].is_array(), "{body}");
    // Nothing was created by any of these.
    let all: Vec<Value> = sb
        .http
        .get(sb.url("/sandbox/invoices"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(all.is_empty(), "{all:?}");
}

#[tokio::test]
async fn info_takes_ids_with_or_without_the_prefix_and_skips_unknown_ones() {
    let sb = sandbox().await;
    let a = sb.create(dec!(10)).await;
    let b = sb.create(dec!(20)).await;
    let unknown = InvoiceId::parse("ZZZZ9999").unwrap();
    let found = sb
        .client
        .invoice_info(&[a.uuid.clone(), unknown, b.uuid.clone()])
        .await
        .unwrap();
    assert_eq!(
        found.iter().map(|i| i.uuid.clone()).collect::<Vec<_>>(),
        vec![a.uuid.clone(), b.uuid.clone()]
    );
    assert_eq!(found[0].amount, dec!(10.5));

    let auth = format!("Token {DEV_API_KEY}");
    let bare = a.uuid.code().to_owned();
    let prefixed = b.uuid.prefixed();
    let body: Value = sb
        .http
        .post(sb.url("/v2/invoice/merchant/info"))
        .header("Authorization", &auth)
        .json(&json!({"uuids": [bare, prefixed.to_lowercase()]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["status"], "success");
    let uuids: Vec<&str> = body["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["uuid"].as_str().unwrap())
        .collect();
    assert_eq!(uuids, vec![a.uuid.prefixed(), b.uuid.prefixed()]);

    // At most 100 ids; none is an error too.
    let many: Vec<String> = (0..101).map(|n| format!("AAAA{n:04}")).collect();
    for ids in [json!(many), json!([])] {
        let response = sb
            .http
            .post(sb.url("/v2/invoice/merchant/info"))
            .header("Authorization", &auth)
            .json(&json!({"uuids": ids}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        let body: Value = response.json().await.unwrap();
        assert!(body["result"]["uuids"].is_string(), "{body}");
    }
    let hundred: Vec<InvoiceId> = (0..100)
        .map(|n| InvoiceId::parse(&format!("AAAA{n:04}")).unwrap())
        .collect();
    assert!(sb.client.invoice_info(&hundred).await.unwrap().is_empty());
}

#[tokio::test]
async fn cancel_works_only_while_created() {
    let sb = sandbox().await;
    let invoice = sb.create(dec!(10)).await;
    sb.client.cancel_invoice(&invoice.uuid).await.unwrap();
    let now = sb.info(&invoice.uuid).await;
    assert_eq!(now.status, InvoiceStatus::Canceled);
    assert!(now.date_finished.is_some());

    let not_created = |e: Error| matches!(e, Error::Validation { fields } if fields.get("validate_error").map(String::as_str) == Some("Invoice is not created"));
    assert!(not_created(
        sb.client.cancel_invoice(&invoice.uuid).await.unwrap_err()
    ));

    let paid = sb.create(dec!(10)).await;
    sb.pay_ok(&paid.uuid, json!({})).await;
    assert!(not_created(
        sb.client.cancel_invoice(&paid.uuid).await.unwrap_err()
    ));
    assert_eq!(sb.info(&paid.uuid).await.status, InvoiceStatus::Paid);

    // The bare code works as well; no uuid is the documented error.
    let bare = sb.create(dec!(10)).await;
    let auth = format!("Token {DEV_API_KEY}");
    let body: Value = sb
        .http
        .post(sb.url("/v2/invoice/merchant/canceled"))
        .header("Authorization", &auth)
        .json(&json!({"uuid": bare.uuid.code()}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body, json!({"status": "success", "result": ["ok"]}));
    let response = sb
        .http
        .post(sb.url("/v2/invoice/merchant/canceled"))
        .header("Authorization", &auth)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["result"]["validate_error"], "uuid is required");
    assert!(matches!(
        sb.client
            .cancel_invoice(&InvoiceId::parse("NOPE0000").unwrap())
            .await,
        Err(Error::Validation { .. })
    ));
}

#[tokio::test]
async fn list_pages_through_the_invoices_of_a_period() {
    let sb = sandbox().await;
    let first = sb.create(dec!(1)).await;
    let second = sb.create(dec!(2)).await;
    let third = sb.create(dec!(3)).await;
    let today = Utc::now().date_naive();
    let all = sb
        .client
        .list_invoices(&ListInvoices {
            start: today - Span::days(1),
            end: today + Span::days(1),
            offset: 0,
            limit: 10,
        })
        .await
        .unwrap();
    // Newest first.
    assert_eq!(
        all.iter().map(|i| i.uuid.clone()).collect::<Vec<_>>(),
        vec![third.uuid.clone(), second.uuid.clone(), first.uuid.clone()]
    );
    let page = sb
        .client
        .list_invoices(&ListInvoices {
            start: today,
            end: today,
            offset: 1,
            limit: 1,
        })
        .await
        .unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].uuid, second.uuid);
    let past = sb
        .client
        .list_invoices(&ListInvoices {
            start: today - Span::days(30),
            end: today - Span::days(20),
            offset: 0,
            limit: 10,
        })
        .await
        .unwrap();
    assert!(past.is_empty());

    let auth = format!("Token {DEV_API_KEY}");
    let d = |date: chrono::NaiveDate| cryptocloud::date::format(&date);
    let body: Value = sb
        .http
        .post(sb.url("/v2/invoice/merchant/list"))
        .header("Authorization", &auth)
        .json(&json!({"start": d(today), "end": d(today), "offset": 0, "limit": 2}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["all_count"], 3);
    assert_eq!(body["result"].as_array().unwrap().len(), 2);
    for (request, field) in [
        (
            json!({"start": d(today), "end": d(today - Span::days(1))}),
            "end",
        ),
        (json!({"start": "2025-01-01", "end": d(today)}), "start"),
        (
            json!({"start": d(today), "end": d(today), "limit": 101}),
            "limit",
        ),
    ] {
        let response = sb
            .http
            .post(sb.url("/v2/invoice/merchant/list"))
            .header("Authorization", &auth)
            .json(&request)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{request}");
        let body: Value = response.json().await.unwrap();
        assert!(body["result"][field].is_string(), "{request} -> {body}");
    }
}

#[tokio::test]
async fn statistics_count_and_sum_per_status() {
    let sb = sandbox().await;
    let paid = sb.create(dec!(10)).await;
    let partial = sb.create(dec!(20)).await;
    let over = sb.create(dec!(5)).await;
    let canceled = sb.create(dec!(7)).await;
    let _created = sb.create(dec!(1.5)).await;
    sb.pay_ok(&paid.uuid, json!({})).await;
    sb.pay_ok(&partial.uuid, json!({"amount": 5})).await;
    sb.pay_ok(&over.uuid, json!({"amount": 6})).await;
    sb.client.cancel_invoice(&canceled.uuid).await.unwrap();

    let today = Utc::now().date_naive();
    let stats = sb.client.statistics(today, today).await.unwrap();
    assert_eq!(stats.count.all, 5);
    assert_eq!(
        (
            stats.count.created,
            stats.count.paid,
            stats.count.partial,
            stats.count.overpaid,
            stats.count.canceled
        ),
        (1, 1, 1, 1, 1)
    );
    // Invoice amounts in USD, with the client's network fee (0.5 each).
    assert_eq!(stats.amount.all, dec!(46));
    assert_eq!(stats.amount.paid, dec!(10.5));
    assert_eq!(stats.amount.partial, dec!(20.5));
    assert_eq!(stats.amount.overpaid, dec!(5.5));
    assert_eq!(stats.amount.canceled, dec!(7.5));
    assert_eq!(stats.amount.created, dec!(2));
    let empty = sb
        .client
        .statistics(today - Span::days(9), today - Span::days(8))
        .await
        .unwrap();
    assert_eq!(empty.count.all, 0);
}

#[tokio::test]
async fn balance_reflects_payments_per_coin() {
    let sb = sandbox().await;
    let before = sb.client.balance().await.unwrap();
    let usdt = before
        .iter()
        .find(|b| b.currency.code == "USDT_TRC20")
        .expect("USDT_TRC20 listed");
    assert_eq!(usdt.balance_crypto, dec!(0));
    assert_eq!(usdt.currency.short_code.as_deref(), Some("USDT"));
    assert!(usdt.currency.obj_network.is_some());

    let a = sb.create(dec!(25)).await;
    let b = sb.create(dec!(10)).await;
    sb.pay_ok(&a.uuid, json!({})).await;
    sb.pay_ok(&b.uuid, json!({"amount": 4})).await;
    let after = sb.client.balance().await.unwrap();
    let usdt = after
        .iter()
        .find(|b| b.currency.code == "USDT_TRC20")
        .unwrap();
    // Received 25.5 + 4.2 USDT; each invoice's network fee (0.5) and service fee (0.48,
    // 0.19) are not the merchant's.
    assert_eq!(usdt.balance_crypto, dec!(28.03));
    assert_eq!(usdt.balance_usd, dec!(28.03));
    assert_eq!(usdt.available_balance, dec!(28.03));
}

#[tokio::test]
async fn static_wallets_are_stable_per_customer() {
    let sb = sandbox().await;
    let request = CreateStaticWallet {
        shop_id: DEV_SHOP_ID.to_owned(),
        currency: "USDT_TRC20".to_owned(),
        identify: "user-7".to_owned(),
    };
    let wallet = sb.client.create_static_wallet(&request).await.unwrap();
    assert_eq!(wallet.uuid.len(), 32);
    assert!(!wallet.uuid.starts_with("INV-"));
    assert!(wallet.address.starts_with('T'));
    assert_eq!(wallet.currency.as_ref().unwrap().code, "USDT_TRC20");
    assert_eq!(
        sb.client.create_static_wallet(&request).await.unwrap(),
        wallet
    );
    let other = CreateStaticWallet {
        identify: "user-8".to_owned(),
        ..request.clone()
    };
    assert_ne!(
        sb.client
            .create_static_wallet(&other)
            .await
            .unwrap()
            .address,
        wallet.address
    );
    let bad = CreateStaticWallet {
        currency: "NOPE".to_owned(),
        ..request
    };
    assert!(
        matches!(sb.client.create_static_wallet(&bad).await, Err(Error::Validation { fields }) if fields.contains_key("currency"))
    );
}

#[tokio::test]
async fn a_wrong_or_missing_key_is_refused_as_cryptocloud_does() {
    let sb = sandbox().await;
    let wrong = client(&sb.base, "not-the-key", Duration::from_secs(5));
    assert!(matches!(
        wrong.create_invoice(&new_invoice(dec!(1))).await,
        Err(Error::Unauthorized { .. })
    ));
    assert!(matches!(
        wrong.balance().await,
        Err(Error::Unauthorized { .. })
    ));
    let jwt_shaped = client(&sb.base, "eyJh.eyJi.c2ln", Duration::from_secs(5));
    match jwt_shaped.balance().await.unwrap_err() {
        Error::Unauthorized { message } => assert_eq!(message, "Signature verification failed"),
        other => panic!("{other:?}"),
    }

    for header in [None, Some(format!("Bearer {DEV_API_KEY}"))] {
        let mut request = sb.http.post(sb.url("/v2/merchant/wallet/balance/all"));
        if let Some(h) = &header {
            request = request.header("Authorization", h);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{header:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body,
            json!({"status": "error", "result": {"authorization": "Unauthorized request."}})
        );
    }
    let response = sb
        .http
        .post(sb.url("/v2/merchant/wallet/balance/all"))
        .header("Authorization", "Token wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let body: Value = response.json().await.unwrap();
    assert!(body["detail"].is_string(), "{body}");
    // Refused calls create nothing.
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
async fn unknown_api_paths_and_health() {
    let sb = sandbox().await;
    let response = sb
        .http
        .post(sb.url("/v2/invoice/nothing"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"detail": "Not Found"})
    );
    let response = sb.http.get(sb.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
}
