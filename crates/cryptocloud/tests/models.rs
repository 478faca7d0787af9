//! Response and request bodies, on fixtures shaped like the documented examples.

use chrono::{NaiveDate, TimeZone, Timelike, Utc};
use cryptocloud::{
    AddFields, ApiResponse, ApiStatus, Balance, CreateInvoice, Invoice, InvoiceId, InvoiceStatus,
    ListInvoices, Statistics, TimeToPay,
};
use rust_decimal_macros::dec;

const CREATE_RESPONSE: &str = r#"{
  "status": "success",
  "result": {
    "uuid": "INV-7Q2K9XAB", "created": "2025-03-01 10:15:30.123456", "address": "",
    "expiry_date": "2025-03-02 10:15:30.123456", "side_commission": "client",
    "side_commission_cc": "client", "amount": 25.0, "amount_usd": 25.0, "amount_in_fiat": 25.0,
    "fee": 0.5, "fee_usd": 0.5, "service_fee": 0.48, "service_fee_usd": 0.48,
    "type_payments": "crypto", "fiat_currency": "USD", "status": "created",
    "is_email_required": false, "link": "https://pay.cryptocloud.plus/7Q2K9XAB", "invoice_id": null,
    "currency": {"id": 4, "code": "USDT", "fullcode": "USDT_TRC20",
      "network": {"code": "TRC20", "id": 4, "icon": "https://cdn.example/trx.svg", "fullname": "Tron"},
      "name": "Tether", "is_email_required": false, "stablecoin": true,
      "icon_base": "https://cdn.example/usdt.svg", "icon_network": "https://cdn.example/usdt-trc20.svg",
      "icon_qr": "https://cdn.example/usdt-qr.svg", "order": 1},
    "project": {"id": 101, "name": "Demo shop", "fail": "https://shop.example/fail",
      "success": "https://shop.example/ok", "logo": null},
    "test_mode": true
  }
}"#;

#[test]
fn create_response_parses_every_documented_field() {
    let r: ApiResponse<Invoice> = serde_json::from_str(CREATE_RESPONSE).unwrap();
    assert_eq!(r.status, ApiStatus::Success);
    let inv = r.result;
    assert_eq!(inv.uuid.code(), "7Q2K9XAB");
    let created = inv.created.unwrap();
    assert_eq!(created.nanosecond(), 123_456_000);
    assert_eq!(
        inv.expiry_date.unwrap() - created,
        chrono::Duration::hours(24)
    );
    assert_eq!(inv.address.as_deref(), Some(""));
    assert_eq!(inv.side_commission.as_deref(), Some("client"));
    assert_eq!(inv.side_commission_cc.as_deref(), Some("client"));
    assert_eq!(inv.amount, dec!(25.0));
    assert_eq!(inv.amount_usd, Some(dec!(25)));
    assert_eq!(inv.amount_in_fiat, Some(dec!(25)));
    assert_eq!(inv.fee, Some(dec!(0.5)));
    assert_eq!(inv.service_fee_usd, Some(dec!(0.48)));
    assert_eq!(inv.type_payments.as_deref(), Some("crypto"));
    assert_eq!(inv.fiat_currency.as_deref(), Some("USD"));
    assert_eq!(inv.status, InvoiceStatus::Created);
    assert_eq!(inv.is_email_required, Some(false));
    assert_eq!(inv.link, "https://pay.cryptocloud.plus/7Q2K9XAB");
    assert_eq!(inv.invoice_id, None);
    let currency = inv.currency.as_ref().unwrap();
    assert_eq!(currency.fullcode, "USDT_TRC20");
    assert_eq!(
        currency.network.as_ref().unwrap().fullname.as_deref(),
        Some("Tron")
    );
    assert_eq!(currency.stablecoin, Some(true));
    let project = inv.project.as_ref().unwrap();
    assert_eq!(project.id, Some(101));
    assert_eq!(project.logo, None);
    assert_eq!(inv.test_mode, Some(true));
    assert_eq!(inv.order_id, None);
    assert_eq!(inv.received, None);
    assert_eq!(inv.date_finished, None);
}

#[test]
fn invoice_serialises_to_json_that_parses_back_identically() {
    let r: ApiResponse<Invoice> = serde_json::from_str(CREATE_RESPONSE).unwrap();
    let text = serde_json::to_string(&r).unwrap();
    assert!(text.contains(r#""uuid":"INV-7Q2K9XAB""#), "{text}");
    assert!(
        text.contains(r#""created":"2025-03-01 10:15:30.123456""#),
        "{text}"
    );
    assert!(text.contains(r#""amount":25.0"#), "{text}");
    assert!(text.contains(r#""status":"created""#), "{text}");
    let back: ApiResponse<Invoice> = serde_json::from_str(&text).unwrap();
    assert_eq!(back, r);
}

#[test]
fn info_response_with_extras_and_unknown_fields() {
    let json = r#"{"status":"success","result":[
      {"uuid":"INV-8HJK2MNP","created":"2025-03-01 10:15:30","status":"partial","amount":214356.22712,
       "amount_usd":"25.50","link":"https://pay.cryptocloud.plus/8HJK2MNP","order_id":"order-42",
       "received":12.000001,"received_usd":12.0,"to_surcharge":13.5,"to_surcharge_usd":13.5,
       "date_finished":null,"invoice_status":"success","tx_list":["abc"],"brand_new_field":{"x":1},
       "currency":{"id":"not-an-int","code":5},"project":"weird"},
      {"uuid":"INV-7Q2K9XAB","created":"2025-03-01 10:15:30.000001","status":"overpaid","amount":"25",
       "link":"https://pay.cryptocloud.plus/7Q2K9XAB","date_finished":"2025-03-01 10:22:05"}
    ]}"#;
    let r: ApiResponse<Vec<Invoice>> = serde_json::from_str(json).unwrap();
    let [a, b] = r.result.try_into().unwrap();
    assert_eq!(a.status, InvoiceStatus::Partial);
    assert_eq!(a.amount.to_string(), "214356.22712");
    assert_eq!(a.amount_usd.unwrap().to_string(), "25.50");
    assert_eq!(a.received.unwrap().to_string(), "12.000001");
    assert_eq!(a.to_surcharge, Some(dec!(13.5)));
    assert_eq!(a.order_id.as_deref(), Some("order-42"));
    assert_eq!(a.invoice_status.as_deref(), Some("success"));
    // Informational objects in a shape we cannot read do not fail the invoice.
    assert_eq!(a.currency, None);
    assert_eq!(a.project, None);
    assert_eq!(b.status, InvoiceStatus::Overpaid);
    assert!(b.status.is_paid() && b.status.is_terminal());
    assert_eq!(
        b.date_finished,
        Some(Utc.with_ymd_and_hms(2025, 3, 1, 10, 22, 5).unwrap())
    );
}

#[test]
fn list_response_with_timestamps_without_fraction() {
    let json = r#"{"status":"success","result":[
      {"uuid":"INV-AAAA1111","created":"2023-01-02 12:00:00","expiry_date":"2023-01-03 12:00:00",
       "status":"canceled","amount":10,"link":"https://pay.cryptocloud.plus/AAAA1111"}],"all_count":1}"#;
    let r: ApiResponse<Vec<Invoice>> = serde_json::from_str(json).unwrap();
    assert_eq!(r.result.len(), 1);
    assert_eq!(
        r.result[0].created,
        Some(Utc.with_ymd_and_hms(2023, 1, 2, 12, 0, 0).unwrap())
    );
    assert_eq!(r.result[0].status, InvoiceStatus::Canceled);
}

#[test]
fn info_answer_without_informational_fields_reads() {
    // Only what we act on: no `created`, `expiry_date`, fees, currency or project.
    let json = r#"{"status":"success","result":[
      {"uuid":"INV-AAAA1111","status":"paid","amount":10.0,"received":10.0}]}"#;
    let r: ApiResponse<Vec<Invoice>> = serde_json::from_str(json).unwrap();
    let inv = &r.result[0];
    assert_eq!(inv.uuid.code(), "AAAA1111");
    assert_eq!(inv.status, InvoiceStatus::Paid);
    assert_eq!(inv.amount, dec!(10));
    assert_eq!(inv.received, Some(dec!(10)));
    assert_eq!(inv.created, None);
    assert_eq!(inv.expiry_date, None);
    assert_eq!(inv.fee, None);
    assert_eq!(inv.currency, None);
    assert_eq!(inv.link, "");
}

#[test]
fn captured_create_answer_forms_read() {
    // As captured from the live service: `side_commission_service`, an exponent-notation
    // fee, and an empty `logo`.
    let json = r#"{"uuid":"INV-7Q2K9XAB","created":"2026-03-01 10:15:30.123456",
      "side_commission":"client","side_commission_service":"merchant","status":"created",
      "amount":0.0004265,"fee":1.499999996212864e-06,"fee_usd":0.09,
      "project":{"id":101,"name":"Demo shop","fail":"","success":"","logo":""}}"#;
    let inv: Invoice = serde_json::from_str(json).unwrap();
    assert_eq!(inv.side_commission_service.as_deref(), Some("merchant"));
    assert_eq!(inv.side_commission_cc, None);
    assert_eq!(inv.fee, Some(dec!(0.000001499999996212864)));
    assert_eq!(inv.project.unwrap().logo.as_deref(), Some(""));
}

#[test]
fn invoice_requires_uuid_status_amount() {
    for json in [
        r#"{"created":"2023-01-02 12:00:00","status":"paid","amount":1}"#,
        r#"{"uuid":"INV-AAAA1111","created":"2023-01-02 12:00:00","amount":1}"#,
        r#"{"uuid":"INV-AAAA1111","created":"2023-01-02 12:00:00","status":"paid"}"#,
        r#"{"uuid":"INV-AAAA1111","created":"2023-01-02 12:00:00","status":"paid","amount":1.5e400}"#,
        r#"{"uuid":"INV-A","created":"2023-01-02 12:00:00","status":"paid","amount":1}"#,
        r#"{"uuid":"INV-AAAA1111","created":"yesterday","status":"paid","amount":1}"#,
    ] {
        assert!(serde_json::from_str::<Invoice>(json).is_err(), "{json}");
    }
}

#[test]
fn statuses_forward_compatible() {
    let s: InvoiceStatus = serde_json::from_str(r#""refunded""#).unwrap();
    assert_eq!(s, InvoiceStatus::Other("refunded".to_owned()));
    assert_eq!(s.as_str(), "refunded");
    assert_eq!(serde_json::to_string(&s).unwrap(), r#""refunded""#);
    for (text, status) in [
        ("created", InvoiceStatus::Created),
        ("paid", InvoiceStatus::Paid),
        ("partial", InvoiceStatus::Partial),
        ("overpaid", InvoiceStatus::Overpaid),
        ("canceled", InvoiceStatus::Canceled),
    ] {
        assert_eq!(
            serde_json::to_string(&status).unwrap(),
            format!("\"{text}\"")
        );
        assert_eq!(text.parse::<InvoiceStatus>().unwrap(), status);
    }
    assert!(!InvoiceStatus::Partial.is_paid());
}

#[test]
fn cancel_result_parses() {
    let r: ApiResponse<Vec<String>> =
        serde_json::from_str(r#"{"status":"success","result":["ok"]}"#).unwrap();
    assert_eq!(r.result, ["ok"]);
}

#[test]
fn statistics_parse_exactly() {
    let json = r#"{"status":"success","result":{"count":{"all":12,"created":2,"paid":7,"overpaid":1,"partial":1,"canceled":1},
 "amount":{"all":640.5,"created":40.0,"paid":520.0,"overpaid":60.5,"partial":10.0,"canceled":10.0}}}"#;
    let s: ApiResponse<Statistics> = serde_json::from_str(json).unwrap();
    assert_eq!(s.result.count.all, 12);
    assert_eq!(s.result.count.paid, 7);
    assert_eq!(s.result.amount.all, dec!(640.5));
    assert_eq!(s.result.amount.overpaid, dec!(60.5));
    let back: ApiResponse<Statistics> =
        serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
    assert_eq!(back, s);
}

#[test]
fn balance_parses_the_balance_currency_shape() {
    let json = r#"{"status":"success","result":[{"currency":{"id":4,"code":"USDT_TRC20","short_code":"USDT",
      "name":"Tether","is_email_required":false,"stablecoin":true,"icon_base":"x","icon_network":"y",
      "icon_qr":"z","order":1,"obj_network":{"code":"TRC20","id":4,"icon":"i","fullname":"Tron"},"enable":true},
      "balance_crypto":214356.22712,"balance_usd":"214356.23","available_balance":0.000001,"available_balance_usd":0}]}"#;
    let r: ApiResponse<Vec<Balance>> = serde_json::from_str(json).unwrap();
    let b = &r.result[0];
    assert_eq!(b.currency.code, "USDT_TRC20");
    assert_eq!(b.currency.short_code.as_deref(), Some("USDT"));
    assert_eq!(b.currency.obj_network.as_ref().unwrap().code, "TRC20");
    assert_eq!(b.balance_crypto.to_string(), "214356.22712");
    assert_eq!(b.balance_usd, dec!(214356.23));
    assert_eq!(b.available_balance.to_string(), "0.000001");
}

#[test]
fn create_request_skips_none_and_keeps_exact_amount() {
    let minimal = CreateInvoice {
        shop_id: "Ab12Cd34Ef56Gh78".to_owned(),
        amount: dec!(25.50),
        ..Default::default()
    };
    assert_eq!(
        serde_json::to_string(&minimal).unwrap(),
        r#"{"shop_id":"Ab12Cd34Ef56Gh78","amount":25.50}"#
    );
    let full = CreateInvoice {
        currency: Some("EUR".to_owned()),
        order_id: Some("order-42".to_owned()),
        email: Some("buyer@example.com".to_owned()),
        add_fields: Some(AddFields {
            time_to_pay: Some(TimeToPay {
                hours: 0,
                minutes: 30,
            }),
            available_currencies: Some(vec!["USDT_TRC20".to_owned(), "BTC".to_owned()]),
            ..Default::default()
        }),
        ..minimal.clone()
    };
    let value: serde_json::Value =
        serde_json::from_slice(&serde_json::to_vec(&full).unwrap()).unwrap();
    assert_eq!(value["add_fields"]["time_to_pay"]["minutes"], 30);
    assert!(value["add_fields"].get("period").is_none());
    assert_eq!(value["currency"], "EUR");
    // The sandbox reads what the client writes, and accepts string amounts too.
    let back: CreateInvoice = serde_json::from_slice(&serde_json::to_vec(&full).unwrap()).unwrap();
    assert_eq!(back, full);
    let from_string: CreateInvoice =
        serde_json::from_str(r#"{"shop_id":"s","amount":"25.50","unknown":1}"#).unwrap();
    assert_eq!(from_string.amount.to_string(), "25.50");
    assert!(serde_json::from_str::<CreateInvoice>(r#"{"shop_id":"s","amount":"lots"}"#).is_err());
}

#[test]
fn list_request_uses_dotted_dates() {
    let req = ListInvoices {
        start: NaiveDate::from_ymd_opt(2025, 3, 1).unwrap(),
        end: NaiveDate::from_ymd_opt(2025, 3, 31).unwrap(),
        offset: 0,
        limit: 10,
    };
    assert_eq!(
        serde_json::to_string(&req).unwrap(),
        r#"{"start":"01.03.2025","end":"31.03.2025","offset":0,"limit":10}"#
    );
    let back: ListInvoices =
        serde_json::from_str(r#"{"start":"01.03.2025","end":"31.03.2025"}"#).unwrap();
    assert_eq!(back.limit, 10);
}

#[test]
fn info_request_accepts_both_id_forms() {
    let req: cryptocloud::InvoiceInfoRequest =
        serde_json::from_str(r#"{"uuids":["INV-7Q2K9XAB","8hjk2mnp"]}"#).unwrap();
    assert_eq!(
        req.uuids,
        [
            InvoiceId::parse("7Q2K9XAB").unwrap(),
            InvoiceId::parse("8HJK2MNP").unwrap()
        ]
    );
    assert_eq!(
        serde_json::to_string(&req).unwrap(),
        r#"{"uuids":["INV-7Q2K9XAB","INV-8HJK2MNP"]}"#
    );
}

#[test]
fn invoice_converts_to_and_from_serde_json_value() {
    // Services store invoices as JSONB via `serde_json::to_value`.
    let r: ApiResponse<Invoice> = serde_json::from_str(CREATE_RESPONSE).unwrap();
    let value = serde_json::to_value(&r.result).unwrap();
    assert_eq!(value["uuid"], "INV-7Q2K9XAB");
    assert!(value["amount"].is_number(), "{value}");
    assert_eq!(value["fee"].as_f64(), Some(0.5));
    let back: Invoice = serde_json::from_value(value).unwrap();
    assert_eq!(back.amount, dec!(25));
    assert_eq!(back.service_fee, Some(dec!(0.48)));
}
