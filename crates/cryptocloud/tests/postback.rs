//! Postback parsing, JSON and form.

use cryptocloud::{InvoiceStatus, Postback, PostbackError, PostbackFormat, PostbackInvoiceInfo};
use rust_decimal_macros::dec;

const TOKEN: &str =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpZCI6IjdRMks5WEFCIiwiZXhwIjoxfQ.c2lnbmF0dXJl";

fn json_body() -> String {
    format!(
        r#"{{
  "status": "success", "invoice_id": "7Q2K9XAB", "amount_crypto": 25.012,
  "currency": "USDT_TRC20", "order_id": "order-42",
  "token": "{TOKEN}",
  "invoice_info": {{
    "uuid": "INV-7Q2K9XAB", "created": "2025-03-01 10:15:30.123456", "address": "TXyz",
    "currency": {{"id": 4, "code": "USDT", "fullcode": "USDT_TRC20", "network": {{"code": "TRC20", "id": 4, "icon": "x", "fullname": "Tron"}}}},
    "date_finished": "2025-03-01 10:22:05.000001", "expiry_date": "2025-03-02 10:15:30.123456",
    "side_commission": "client", "type_payments": "crypto", "amount": 25.0, "amount_": 25.0,
    "status": "paid", "invoice_status": "success", "is_email_required": false,
    "project": {{"id": 101, "name": "Demo shop", "fail": "", "success": "", "logo": null}},
    "tx_list": ["0xabc"]
  }},
  "something_new": [1, 2, 3]
}}"#
    )
}

#[test]
fn json_postback_as_documented() {
    let pb = Postback::parse(Some("application/json"), json_body().as_bytes()).unwrap();
    assert_eq!(pb.format, PostbackFormat::Json);
    assert_eq!(pb.status, "success");
    assert_eq!(pb.invoice_id.code(), "7Q2K9XAB");
    assert_eq!(pb.amount_crypto.to_string(), "25.012");
    assert_eq!(pb.currency, "USDT_TRC20");
    assert_eq!(pb.order_id.as_deref(), Some("order-42"));
    assert_eq!(pb.token.as_deref(), Some(TOKEN));
    let info = pb.invoice_info.as_ref().unwrap();
    assert_eq!(info.uuid, pb.invoice_id);
    assert_eq!(info.status, InvoiceStatus::Paid);
    assert_eq!(info.invoice_status.as_deref(), Some("success"));
    assert_eq!(info.amount, Some(dec!(25.0)));
    assert_eq!(info.currency.as_ref().unwrap().fullcode, "USDT_TRC20");
    assert!(info.date_finished.is_some());
}

#[test]
fn debug_never_prints_the_token() {
    let pb = Postback::parse(Some("application/json"), json_body().as_bytes()).unwrap();
    let shown = format!("{pb:?}");
    assert!(!shown.contains(TOKEN), "{shown}");
    assert!(!shown.contains("eyJ"), "{shown}");
    assert!(shown.contains("[redacted]"));
}

#[test]
fn form_postback_with_invoice_info_as_json_string() {
    let info = r#"{"uuid":"INV-7Q2K9XAB","status":"overpaid","amount":"25.5"}"#;
    let body = serde_urlencoded::to_string([
        ("status", "success"),
        ("invoice_id", "7q2k9xab"),
        ("amount_crypto", "214356.22712"),
        ("currency", "USDT_TRC20"),
        ("order_id", "order-42"),
        ("token", TOKEN),
        ("invoice_info", info),
        ("extra", "ignored"),
    ])
    .unwrap();
    let pb = Postback::parse(
        Some("application/x-www-form-urlencoded; charset=utf-8"),
        body.as_bytes(),
    )
    .unwrap();
    assert_eq!(pb.format, PostbackFormat::Form);
    assert_eq!(pb.invoice_id.code(), "7Q2K9XAB");
    assert_eq!(pb.amount_crypto.to_string(), "214356.22712");
    assert_eq!(pb.token.as_deref(), Some(TOKEN));
    let info = pb.invoice_info.unwrap();
    assert_eq!(info.status, InvoiceStatus::Overpaid);
    assert_eq!(info.amount, Some(dec!(25.5)));
}

#[test]
fn form_postback_flat_fields_only() {
    let body = "status=success&invoice_id=7Q2K9XAB&amount_crypto=25.012&currency=USDT_TRC20&order_id=&token=abc";
    let pb = Postback::parse(None, body.as_bytes()).unwrap();
    assert_eq!(pb.format, PostbackFormat::Form);
    assert_eq!(pb.order_id, None);
    assert_eq!(pb.invoice_info, None);
    assert_eq!(pb.token.as_deref(), Some("abc"));
}

#[test]
fn json_invoice_info_as_string_and_prefixed_invoice_id() {
    let body = r#"{"status":"success","invoice_id":"INV-7Q2K9XAB","amount_crypto":"25.012","currency":"BTC",
        "order_id":null,"invoice_info":"{\"uuid\":\"INV-7Q2K9XAB\",\"status\":\"paid\"}"}"#;
    let pb = Postback::parse(Some("application/json"), body.as_bytes()).unwrap();
    assert_eq!(pb.invoice_id.code(), "7Q2K9XAB");
    assert_eq!(pb.order_id, None);
    assert_eq!(pb.token, None);
    assert_eq!(pb.invoice_info.unwrap().status, InvoiceStatus::Paid);
}

#[test]
fn content_type_is_a_hint_the_body_decides() {
    let json = json_body();
    for ct in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some(""),
    ] {
        let pb = Postback::parse(ct, json.as_bytes()).unwrap();
        assert_eq!(pb.format, PostbackFormat::Json, "{ct:?}");
    }
    let form = "status=success&invoice_id=7Q2K9XAB&amount_crypto=1&currency=BTC";
    for ct in [
        None,
        Some("application/json"),
        Some("application/octet-stream"),
    ] {
        let pb = Postback::parse(ct, form.as_bytes()).unwrap();
        assert_eq!(pb.format, PostbackFormat::Form, "{ct:?}");
    }
}

fn field_error(ct: Option<&str>, body: &str) -> PostbackError {
    Postback::parse(ct, body.as_bytes()).unwrap_err()
}

#[test]
fn errors_name_the_field() {
    let cases: &[(&str, &str)] = &[
        (
            r#"{"invoice_id":"7Q2K9XAB","amount_crypto":1,"currency":"BTC"}"#,
            "status",
        ),
        (
            r#"{"status":"success","amount_crypto":1,"currency":"BTC"}"#,
            "invoice_id",
        ),
        (
            r#"{"status":"success","invoice_id":"7Q2K-9XAB","amount_crypto":1,"currency":"BTC"}"#,
            "invoice_id",
        ),
        (
            r#"{"status":"success","invoice_id":"7Q2K9XAB","currency":"BTC"}"#,
            "amount_crypto",
        ),
        (
            r#"{"status":"success","invoice_id":"7Q2K9XAB","amount_crypto":"1,5","currency":"BTC"}"#,
            "amount_crypto",
        ),
        (
            r#"{"status":"success","invoice_id":"7Q2K9XAB","amount_crypto":-1,"currency":"BTC"}"#,
            "amount_crypto",
        ),
        (
            r#"{"status":"success","invoice_id":"7Q2K9XAB","amount_crypto":true,"currency":"BTC"}"#,
            "amount_crypto",
        ),
        (
            r#"{"status":"success","invoice_id":"7Q2K9XAB","amount_crypto":1}"#,
            "currency",
        ),
        (
            r#"{"status":"success","invoice_id":"7Q2K9XAB","amount_crypto":1,"currency":["BTC"]}"#,
            "currency",
        ),
        (
            r#"{"status":"success","invoice_id":"7Q2K9XAB","amount_crypto":1,"currency":"BTC","order_id":{}}"#,
            "order_id",
        ),
        (
            r#"{"status":"success","status":"fail","invoice_id":"7Q2K9XAB","amount_crypto":1,"currency":"BTC"}"#,
            "status",
        ),
        (
            "status=success&invoice_id=7Q2K9XAB&amount_crypto=abc&currency=BTC",
            "amount_crypto",
        ),
        (
            "status=success&invoice_id=7Q2K9XAB&amount_crypto=1&currency=BTC&currency=ETH",
            "currency",
        ),
        (
            "status=success&invoice_id=&amount_crypto=1&currency=BTC",
            "invoice_id",
        ),
    ];
    for (body, field) in cases {
        let err = field_error(None, body);
        assert_eq!(err.field(), Some(*field), "{body} -> {err}");
        assert!(err.to_string().contains(field), "{err}");
    }
}

/// `invoice_info` is a hint: what cannot be read is ignored (and said why), never refused.
#[test]
fn an_unreadable_invoice_info_is_ignored_not_refused() {
    const FLAT: &str = "status=success&invoice_id=7Q2K9XAB&amount_crypto=1&currency=BTC";
    let cases: &[(&str, &str)] = &[
        (
            r#"{"status":"success","invoice_id":"7Q2K9XAB","amount_crypto":1,"currency":"BTC","invoice_info":"not json"}"#,
            "not an invoice snapshot",
        ),
        (
            r#"{"status":"success","invoice_id":"7Q2K9XAB","amount_crypto":1,"currency":"BTC","invoice_info":{"uuid":"INV-7Q2K9XAB"}}"#,
            "not an invoice snapshot",
        ),
        (
            r#"{"status":"success","invoice_id":"7Q2K9XAB","amount_crypto":1,"currency":"BTC","invoice_info":{"uuid":"INV-OTHER123","status":"paid"}}"#,
            "is not invoice_id",
        ),
        (
            r#"{"status":"success","invoice_id":"7Q2K9XAB","amount_crypto":1,"currency":"BTC","invoice_info":[1,2]}"#,
            "not an invoice snapshot",
        ),
    ];
    let form_cases = [
        (
            format!("{FLAT}&invoice_info=%7Bbroken"),
            "not an invoice snapshot",
        ),
        (
            format!("{FLAT}&invoice_info=python%3A+%7B%27uuid%27%3A+1%7D"),
            "not an invoice snapshot",
        ),
        (
            format!("{FLAT}&invoice_info%5Buuid%5D=INV-7Q2K9XAB&invoice_info%5Bstatus%5D=paid"),
            "nested form keys",
        ),
        (
            format!("{FLAT}&invoice_info=%7B%7D&invoice_info=%7B%7D"),
            "more than once",
        ),
    ];
    let all = cases
        .iter()
        .map(|(b, w)| (b.to_string(), *w))
        .chain(form_cases.iter().map(|(b, w)| (b.clone(), *w)));
    for (body, why) in all {
        let pb = Postback::parse(None, body.as_bytes()).unwrap_or_else(|e| panic!("{body}: {e}"));
        assert_eq!(pb.invoice_info, None, "{body}");
        let ignored = pb.invoice_info_ignored.expect("says why");
        assert!(ignored.contains(why), "{body}: {ignored}");
        assert_eq!(pb.invoice_id.code(), "7Q2K9XAB");
    }
}

#[test]
fn only_the_six_used_fields_may_not_repeat() {
    const FLAT: &str =
        "status=success&invoice_id=7Q2K9XAB&amount_crypto=1&currency=BTC&order_id=o-1&token=t";
    for field in [
        "status",
        "invoice_id",
        "amount_crypto",
        "currency",
        "order_id",
        "token",
    ] {
        let body = format!("{FLAT}&{field}=again");
        assert_eq!(field_error(None, &body).field(), Some(field), "{body}");
    }
    let extra = format!("{FLAT}&note=a&note=b&invoice_info%5Bx%5D=1&invoice_info%5Bx%5D=2");
    let pb = Postback::parse(None, extra.as_bytes()).unwrap();
    assert_eq!(pb.order_id.as_deref(), Some("o-1"));
    let json = r#"{"status":"success","invoice_id":"7Q2K9XAB","amount_crypto":1,"currency":"BTC","extra":1,"extra":2}"#;
    assert!(Postback::parse(None, json.as_bytes()).is_ok());
}

#[test]
fn bad_token_type_does_not_echo_anything() {
    let body = r#"{"status":"success","invoice_id":"7Q2K9XAB","amount_crypto":1,"currency":"BTC","token":{"secret":"s3cr3t-value"}}"#;
    let err = field_error(None, body);
    assert_eq!(err.field(), Some("token"));
    assert!(!err.to_string().contains("s3cr3t"), "{err}");
    assert!(!format!("{err:?}").contains("s3cr3t"));
}

#[test]
fn unparseable_bodies() {
    for body in ["", "   ", "{", "{\"status\":", "[1,2]", "null"] {
        let err = field_error(Some("application/json"), body);
        assert!(
            err.field().is_none() || err.field() == Some("status"),
            "{body:?}: {err}"
        );
    }
    assert!(matches!(
        field_error(None, "{not json}"),
        PostbackError::Body { .. }
    ));
    assert!(matches!(field_error(None, ""), PostbackError::Body { .. }));
    assert!(matches!(
        field_error(None, "[1]"),
        PostbackError::Body { .. }
    ));
}

#[test]
fn bodies_the_sandbox_writes_parse_back() {
    let mut info = PostbackInvoiceInfo::new("7Q2K9XAB".parse().unwrap(), InvoiceStatus::Paid);
    info.amount = Some(dec!(25.012));
    info.invoice_status = Some("success".to_owned());
    let pb = Postback {
        status: "success".to_owned(),
        invoice_id: "7Q2K9XAB".parse().unwrap(),
        amount_crypto: dec!(214356.22712),
        currency: "USDT_TRC20".to_owned(),
        order_id: Some("order 42 & co".to_owned()),
        token: Some(TOKEN.to_owned()),
        invoice_info: Some(info),
        invoice_info_ignored: None,
        format: PostbackFormat::Json,
    };
    let json = pb.to_json_body();
    let text = String::from_utf8(json.clone()).unwrap();
    assert!(text.contains(r#""invoice_id":"7Q2K9XAB""#), "{text}");
    assert!(text.contains(r#""amount_crypto":214356.22712"#), "{text}");
    assert_eq!(
        Postback::parse(Some("application/json"), &json).unwrap(),
        pb
    );

    let (ct, form) = pb.to_body(PostbackFormat::Form);
    assert_eq!(ct, "application/x-www-form-urlencoded");
    let parsed = Postback::parse(Some(ct), &form).unwrap();
    assert_eq!(
        parsed,
        Postback {
            format: PostbackFormat::Form,
            ..pb.clone()
        }
    );

    let bare = Postback {
        order_id: None,
        token: None,
        invoice_info: None,
        invoice_info_ignored: None,
        ..pb
    };
    let parsed = Postback::parse(None, bare.to_form_body().as_bytes()).unwrap();
    assert_eq!(
        parsed,
        Postback {
            format: PostbackFormat::Form,
            ..bare
        }
    );
}

#[test]
fn declared_json_that_is_not_json_is_a_body_error() {
    for body in ["null", "garbage", "[1]", "{\"a\":"] {
        let err = field_error(Some("application/json"), body);
        assert!(
            matches!(
                err,
                PostbackError::Body {
                    format: "JSON object",
                    ..
                }
            ),
            "{body}: {err}"
        );
    }
}
