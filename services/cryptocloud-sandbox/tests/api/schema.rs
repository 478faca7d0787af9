//! Every API answer held against a schema written from the captured real answers
//! (`cryptocloud-api.md` §3–§5 and pitfall 17): each field present with its JSON type,
//! amounts as floats (Python's form, exponent notation for small fees), fees non-zero.

use cryptocloud::CreateStaticWallet;
use cryptocloud_sandbox::{Settings, SideCommission, DEV_API_KEY, DEV_SHOP_ID};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{json, Value};

use crate::helpers::{new_invoice, sandbox, spawn_sandbox, TestSandbox};

/// A JSON type as the real service uses it.
#[derive(Debug, Clone, Copy)]
enum Ty {
    Str,
    /// `YYYY-MM-DD HH:MM:SS.ffffff`.
    Time,
    Int,
    /// A number written with a fraction or an exponent (`25.0`, `1.5e-06`), never `25`.
    Float,
    Bool,
    Null,
    OptStr,
    OptTime,
    Obj(Schema),
}

type Schema = &'static [(&'static str, Ty)];

const NETWORK: Schema = &[
    ("code", Ty::Str),
    ("id", Ty::Int),
    ("icon", Ty::Str),
    ("fullname", Ty::Str),
];

const INVOICE_CURRENCY: Schema = &[
    ("id", Ty::Int),
    ("code", Ty::Str),
    ("fullcode", Ty::Str),
    ("network", Ty::Obj(NETWORK)),
    ("name", Ty::Str),
    ("is_email_required", Ty::Bool),
    ("stablecoin", Ty::Bool),
    ("icon_base", Ty::Str),
    ("icon_network", Ty::Str),
    ("icon_qr", Ty::Str),
    ("order", Ty::Int),
];

/// Captured create answers carry `logo: ""`.
const PROJECT: Schema = &[
    ("id", Ty::Int),
    ("name", Ty::Str),
    ("fail", Ty::Str),
    ("success", Ty::Str),
    ("logo", Ty::Str),
];

/// Fields of every invoice object (create, info, list).
const INVOICE: Schema = &[
    ("uuid", Ty::Str),
    ("created", Ty::Time),
    ("address", Ty::Str),
    ("expiry_date", Ty::Time),
    ("side_commission", Ty::Str),
    ("amount", Ty::Float),
    ("amount_usd", Ty::Float),
    ("amount_in_fiat", Ty::Float),
    ("fee", Ty::Float),
    ("fee_usd", Ty::Float),
    ("service_fee", Ty::Float),
    ("service_fee_usd", Ty::Float),
    ("type_payments", Ty::Str),
    ("fiat_currency", Ty::Str),
    ("status", Ty::Str),
    ("is_email_required", Ty::Bool),
    ("link", Ty::Str),
    ("invoice_id", Ty::Null),
    ("currency", Ty::Obj(INVOICE_CURRENCY)),
    ("project", Ty::Obj(PROJECT)),
    ("test_mode", Ty::Bool),
];

/// Create names the service-fee side `side_commission_service` (pitfall 17).
const CREATE_ONLY: Schema = &[("side_commission_service", Ty::Str)];

/// Info and list add these.
const INFO_ONLY: Schema = &[
    ("side_commission_cc", Ty::Str),
    ("order_id", Ty::OptStr),
    ("received", Ty::Float),
    ("received_usd", Ty::Float),
    ("to_surcharge", Ty::Float),
    ("to_surcharge_usd", Ty::Float),
    ("date_finished", Ty::OptTime),
    ("invoice_status", Ty::OptStr),
];

const BALANCE_CURRENCY: Schema = &[
    ("id", Ty::Int),
    ("code", Ty::Str),
    ("short_code", Ty::Str),
    ("name", Ty::Str),
    ("is_email_required", Ty::Bool),
    ("stablecoin", Ty::Bool),
    ("icon_base", Ty::Str),
    ("icon_network", Ty::Str),
    ("icon_qr", Ty::Str),
    ("order", Ty::Int),
    ("obj_network", Ty::Obj(NETWORK)),
    ("enable", Ty::Bool),
];

const BALANCE: Schema = &[
    ("currency", Ty::Obj(BALANCE_CURRENCY)),
    ("balance_crypto", Ty::Float),
    ("balance_usd", Ty::Float),
    ("available_balance", Ty::Float),
    ("available_balance_usd", Ty::Float),
];

const STATIC_WALLET: Schema = &[
    ("currency", Ty::Obj(BALANCE_CURRENCY)),
    ("address", Ty::Str),
    ("uuid", Ty::Str),
];

const COUNTS: Schema = &[
    ("all", Ty::Int),
    ("created", Ty::Int),
    ("paid", Ty::Int),
    ("overpaid", Ty::Int),
    ("partial", Ty::Int),
    ("canceled", Ty::Int),
];

const AMOUNTS: Schema = &[
    ("all", Ty::Float),
    ("created", Ty::Float),
    ("paid", Ty::Float),
    ("overpaid", Ty::Float),
    ("partial", Ty::Float),
    ("canceled", Ty::Float),
];

const STATISTICS: Schema = &[("count", Ty::Obj(COUNTS)), ("amount", Ty::Obj(AMOUNTS))];

fn is_time(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        s.len() == "2025-03-01 10:15:30.123456".len() && cryptocloud::timestamp::parse(s).is_ok()
    })
}

/// Every field of `schema` in `value`, with its type; returns the problems found.
fn check(value: &Value, schema: Schema, path: &str, problems: &mut Vec<String>) {
    for (name, ty) in schema {
        let at = format!("{path}.{name}");
        let Some(v) = value.get(name) else {
            problems.push(format!("{at} is missing"));
            continue;
        };
        let ok = match ty {
            Ty::Str => v.is_string(),
            Ty::Time => is_time(v),
            Ty::Int => v.is_i64() || v.is_u64(),
            Ty::Float => v.is_f64(),
            Ty::Bool => v.is_boolean(),
            Ty::Null => v.is_null(),
            Ty::OptStr => v.is_null() || v.is_string(),
            Ty::OptTime => v.is_null() || is_time(v),
            Ty::Obj(inner) => {
                check(v, inner, &at, problems);
                v.is_object()
            }
        };
        if !ok {
            problems.push(format!("{at} should be {ty:?}, is {v}"));
        }
    }
}

fn assert_schema(value: &Value, schemas: &[Schema], what: &str) {
    let mut problems = Vec::new();
    for schema in schemas {
        check(value, schema, what, &mut problems);
    }
    assert!(problems.is_empty(), "{what}: {problems:#?}\n{value:#}");
}

fn decimal(v: &Value) -> Decimal {
    cryptocloud::decimal::parse_json_token(&v.to_string())
        .unwrap()
        .unwrap()
}

/// Fees are never zero, and consistent with the amount and the fee side.
fn assert_fees(invoice: &Value, owed_before_fee: Decimal) {
    for fee in ["fee", "fee_usd", "service_fee", "service_fee_usd"] {
        assert!(decimal(&invoice[fee]) > Decimal::ZERO, "{fee}: {invoice:#}");
    }
    let amount = decimal(&invoice["amount"]);
    let fee = decimal(&invoice["fee"]);
    match invoice["side_commission"].as_str() {
        Some("client") => assert_eq!(amount, owed_before_fee + fee, "{invoice:#}"),
        Some("merchant") => assert_eq!(amount, owed_before_fee, "{invoice:#}"),
        other => panic!("side_commission {other:?}"),
    }
}

async fn post(sb: &TestSandbox, path: &str, body: Option<Value>) -> (String, Value) {
    let mut request = sb
        .http
        .post(sb.url(path))
        .header("Authorization", format!("Token {DEV_API_KEY}"));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let text = request.send().await.unwrap().text().await.unwrap();
    let value: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value["status"], "success", "{path}: {text}");
    (text, value)
}

async fn create_raw(sb: &TestSandbox, amount: &str, coin: Option<&str>) -> (String, Value) {
    let mut body = json!({"shop_id": DEV_SHOP_ID, "amount": amount, "order_id": "schema-1"});
    if let Some(coin) = coin {
        body["add_fields"] = json!({ "cryptocurrency": coin });
    }
    post(sb, "/v2/invoice/create", Some(body)).await
}

#[tokio::test]
async fn every_answer_matches_the_captured_schema() {
    let sb = sandbox().await;

    // Create, with the default coin and with BTC (whose small fee is in exponent form).
    let (_, usdt) = create_raw(&sb, "25", None).await;
    assert_schema(&usdt["result"], &[INVOICE, CREATE_ONLY], "create");
    assert_eq!(usdt["result"]["amount_in_fiat"].to_string(), "25.0");
    assert_fees(&usdt["result"], dec!(25));
    let (text, btc) = create_raw(&sb, "30", Some("BTC")).await;
    assert_schema(&btc["result"], &[INVOICE, CREATE_ONLY], "create BTC");
    assert_fees(&btc["result"], dec!(0.0005));
    assert!(text.contains(r#""fee":1.5e-06"#), "{text}");

    // Pay one in part and one in full so info and list hold every status field.
    let paid = usdt["result"]["uuid"].as_str().unwrap().to_owned();
    let partial = btc["result"]["uuid"].as_str().unwrap().to_owned();
    sb.pay_ok(&cryptocloud::InvoiceId::parse(&paid).unwrap(), json!({}))
        .await;
    sb.pay_ok(
        &cryptocloud::InvoiceId::parse(&partial).unwrap(),
        json!({"amount": 10}),
    )
    .await;

    let (_, info) = post(
        &sb,
        "/v2/invoice/merchant/info",
        Some(json!({"uuids": [paid, partial]})),
    )
    .await;
    let info = info["result"].as_array().unwrap();
    assert_eq!(info.len(), 2);
    for invoice in info {
        assert_schema(invoice, &[INVOICE, INFO_ONLY], "info");
    }
    assert_eq!(info[0]["status"], "paid");
    assert!(is_time(&info[0]["date_finished"]));
    assert_eq!(info[1]["status"], "partial");
    assert!(decimal(&info[1]["to_surcharge"]) > Decimal::ZERO);

    let today = chrono::Utc::now().format("%d.%m.%Y").to_string();
    let period = json!({"start": today, "end": today});
    let (_, list) = post(&sb, "/v2/invoice/merchant/list", Some(period.clone())).await;
    assert!(list["all_count"].is_u64(), "{list}");
    let rows = list["result"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for invoice in rows {
        assert_schema(invoice, &[INVOICE, INFO_ONLY], "list");
    }

    let (_, stats) = post(&sb, "/v2/invoice/merchant/statistics", Some(period)).await;
    assert_schema(&stats["result"], &[STATISTICS], "statistics");

    let (_, balance) = post(&sb, "/v2/merchant/wallet/balance/all", None).await;
    for entry in balance["result"].as_array().unwrap() {
        assert_schema(entry, &[BALANCE], "balance");
    }

    let wallet = CreateStaticWallet {
        shop_id: DEV_SHOP_ID.to_owned(),
        currency: "BTC".to_owned(),
        identify: "user-7".to_owned(),
    };
    let (_, wallet) = post(
        &sb,
        "/v2/invoice/static/create",
        Some(serde_json::to_value(wallet).unwrap()),
    )
    .await;
    assert_schema(&wallet["result"], &[STATIC_WALLET], "static wallet");
    assert_eq!(wallet["result"]["uuid"].as_str().unwrap().len(), 32);

    let (_, fresh) = create_raw(&sb, "5", None).await;
    let (_, canceled) = post(
        &sb,
        "/v2/invoice/merchant/canceled",
        Some(json!({"uuid": fresh["result"]["uuid"]})),
    )
    .await;
    assert_eq!(canceled["result"], json!(["ok"]));
}

#[tokio::test]
async fn a_merchant_side_fee_leaves_the_amount_and_comes_off_the_balance() {
    let mut settings = Settings::for_tests();
    settings.side_commission = SideCommission::Merchant;
    let sb = spawn_sandbox(settings).await;
    let (_, created) = create_raw(&sb, "10", None).await;
    assert_schema(&created["result"], &[INVOICE, CREATE_ONLY], "create");
    assert_eq!(created["result"]["side_commission"], "merchant");
    assert_fees(&created["result"], dec!(10));

    let invoice = sb
        .client
        .create_invoice(&new_invoice(dec!(10)))
        .await
        .unwrap();
    assert_eq!(invoice.amount, dec!(10));
    sb.pay_ok(&invoice.uuid, json!({})).await;
    let balance = sb.client.balance().await.unwrap();
    let usdt = balance
        .iter()
        .find(|b| b.currency.code == "USDT_TRC20")
        .unwrap();
    // 10 received, less the 0.5 network fee and the 0.19 service fee.
    assert_eq!(usdt.balance_crypto, dec!(9.31));
}
