//! Every API answer held against a schema written from the captured real answers
//! (`cryptocloud-api.md` §3–§5 and pitfalls 14–18): each field present with its JSON type,
//! amounts as floats in Python's form (checked on the raw text, exponent notation for small
//! fees), fees non-zero and consistent with the amounts, for every coin and both fee sides.
//! Extra fields are allowed, as every client reviewed ignores unknown ones.

use std::collections::HashMap;

use cryptocloud::CreateStaticWallet;
use cryptocloud_sandbox::{Settings, SideCommission, DEV_API_KEY, DEV_SHOP_ID};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use crate::helpers::{new_invoice, sandbox, spawn_sandbox, TestSandbox};

/// A JSON type as the real service uses it.
#[derive(Debug, Clone, Copy)]
enum Ty {
    Str,
    /// `YYYY-MM-DD HH:MM:SS.ffffff`.
    Time,
    Int,
    /// A money amount as a Python float: `25.0` (never `25`), `0.0005015`, and exponent
    /// notation below 1e-4 (`1.5e-06`, like the captured `1.499999996212864e-06`).
    /// See [`is_python_float`].
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

/// A number as Python's `repr(float)` writes it, which is what the real service sends:
/// a fraction (`25.0`, `0.0005015`, never `25`) from 1e-4 up to 1e16, and exponent
/// notation with a signed exponent of at least two digits (`1.5e-06`, `1e-05`) below that
/// (and above). Checked on the raw JSON text: a parsed `Value` no longer knows the form.
fn is_python_float(text: &str) -> bool {
    let Ok(value) = text.parse::<f64>() else {
        return false;
    };
    let magnitude = value.abs();
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    match unsigned.split_once('e') {
        Some((mantissa, exponent)) => {
            let mantissa_ok = match mantissa.split_once('.') {
                Some((whole, fraction)) => {
                    digits(whole)
                        && whole.len() == 1
                        && digits(fraction)
                        && !fraction.ends_with('0')
                }
                None => digits(mantissa) && mantissa.len() == 1,
            } && !mantissa.starts_with('0');
            let exponent_ok = exponent.len() >= 3
                && (exponent.starts_with('-') || exponent.starts_with('+'))
                && digits(&exponent[1..]);
            mantissa_ok && exponent_ok && magnitude != 0.0 && !(1e-4..1e16).contains(&magnitude)
        }
        None => match unsigned.split_once('.') {
            Some((whole, fraction)) => {
                digits(whole)
                    && (whole == "0" || !whole.starts_with('0'))
                    && digits(fraction)
                    && (fraction == "0" || !fraction.ends_with('0'))
                    && (magnitude == 0.0 || (1e-4..1e16).contains(&magnitude))
            }
            None => false,
        },
    }
}

#[test]
fn python_float_forms_are_recognised() {
    for good in [
        "25.0",
        "0.0",
        "0.5",
        "-0.5",
        "0.0005015",
        "0.0001",
        "214356.22712",
        "1.5e-06",
        "1e-05",
        "1.499999996212864e-06",
        "1e+16",
    ] {
        assert!(is_python_float(good), "{good}");
    }
    for bad in [
        "25", "0", "25.50", "1.5e-6", "1.5E-06", "0.000015", "15e-07", "0.15e-05", "1e+03",
        "1000.0e0", "\"25.0\"", "null", "025.0",
    ] {
        assert!(!is_python_float(bad), "{bad}");
    }
}

/// An object's fields as raw JSON text.
fn fields(raw: &RawValue) -> Option<HashMap<String, Box<RawValue>>> {
    serde_json::from_str(raw.get()).ok()
}

/// Every field of `schema` in `raw`, with its type; collects the problems found.
fn check(raw: &RawValue, schema: Schema, path: &str, problems: &mut Vec<String>) {
    let Some(fields) = fields(raw) else {
        problems.push(format!("{path} is not an object: {}", raw.get()));
        return;
    };
    for (name, ty) in schema {
        let at = format!("{path}.{name}");
        let Some(field) = fields.get(*name) else {
            problems.push(format!("{at} is missing"));
            continue;
        };
        let text = field.get();
        let v: Value = serde_json::from_str(text).unwrap();
        let ok = match ty {
            Ty::Str => v.is_string(),
            Ty::Time => is_time(&v),
            Ty::Int => v.is_i64() || v.is_u64(),
            Ty::Float => is_python_float(text),
            Ty::Bool => v.is_boolean(),
            Ty::Null => v.is_null(),
            Ty::OptStr => v.is_null() || v.is_string(),
            Ty::OptTime => v.is_null() || is_time(&v),
            Ty::Obj(inner) => {
                check(field, inner, &at, problems);
                v.is_object()
            }
        };
        if !ok {
            problems.push(format!("{at} should be {ty:?}, is {text}"));
        }
    }
}

/// Holds `raw` against the union of `schemas`.
fn assert_schema(raw: &RawValue, schemas: &[Schema], what: &str) {
    let mut problems = Vec::new();
    for schema in schemas {
        check(raw, schema, what, &mut problems);
    }
    assert!(problems.is_empty(), "{what}: {problems:#?}\n{}", raw.get());
}

fn decimal(v: &Value) -> Decimal {
    cryptocloud::decimal::parse_json_token(&v.to_string())
        .unwrap()
        .unwrap()
}

/// Fees are never zero, and consistent with the amounts and the fee side: a client-side
/// network fee is in `amount` and `amount_usd`, a merchant-side one in neither.
/// `before_fee` is (what is owed in the coin, in USD) without the network fee.
fn assert_fees(invoice: &Value, before_fee: (Decimal, Decimal)) {
    for fee in ["fee", "fee_usd", "service_fee", "service_fee_usd"] {
        assert!(decimal(&invoice[fee]) > Decimal::ZERO, "{fee}: {invoice:#}");
    }
    let (amount, amount_usd) = (decimal(&invoice["amount"]), decimal(&invoice["amount_usd"]));
    let (fee, fee_usd) = (decimal(&invoice["fee"]), decimal(&invoice["fee_usd"]));
    match invoice["side_commission"].as_str() {
        Some("client") => assert_eq!(
            (amount, amount_usd),
            (before_fee.0 + fee, before_fee.1 + fee_usd),
            "{invoice:#}"
        ),
        Some("merchant") => assert_eq!((amount, amount_usd), before_fee, "{invoice:#}"),
        other => panic!("side_commission {other:?}"),
    }
}

/// A successful answer: its raw text, its `result` as raw text, and parsed.
struct Answer {
    text: String,
    result: Box<RawValue>,
    value: Value,
}

impl Answer {
    /// The entries of an array `result`, as raw text.
    fn items(&self) -> Vec<Box<RawValue>> {
        serde_json::from_str(self.result.get()).expect("result is an array")
    }
}

async fn post(sb: &TestSandbox, path: &str, body: Option<Value>) -> Answer {
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
    let envelope = fields(&serde_json::from_str::<Box<RawValue>>(&text).unwrap()).unwrap();
    let result = envelope.get("result").expect("result").clone();
    Answer {
        text,
        result,
        value,
    }
}

async fn create_raw(sb: &TestSandbox, amount: &str, coin: Option<&str>) -> Answer {
    let mut body = json!({"shop_id": DEV_SHOP_ID, "amount": amount, "order_id": "schema-1"});
    if let Some(coin) = coin {
        body["add_fields"] = json!({ "cryptocurrency": coin });
    }
    post(sb, "/v2/invoice/create", Some(body)).await
}

fn today_period() -> Value {
    let today = chrono::Utc::now().format("%d.%m.%Y").to_string();
    json!({"start": today, "end": today})
}

#[tokio::test]
async fn every_answer_matches_the_captured_schema() {
    let sb = sandbox().await;

    // Create, with the default coin and with BTC (whose small fee is in exponent form).
    let usdt = create_raw(&sb, "25", None).await;
    assert_schema(&usdt.result, &[INVOICE, CREATE_ONLY], "create");
    assert_eq!(usdt.value["result"]["amount_in_fiat"].to_string(), "25.0");
    assert_fees(&usdt.value["result"], (dec!(25), dec!(25)));
    let btc = create_raw(&sb, "30", Some("BTC")).await;
    assert_schema(&btc.result, &[INVOICE, CREATE_ONLY], "create BTC");
    assert_fees(&btc.value["result"], (dec!(0.0005), dec!(30)));
    assert!(btc.text.contains(r#""fee":1.5e-06"#), "{}", btc.text);

    // Pay one in part and one in full so info and list hold every status field.
    let paid = usdt.value["result"]["uuid"].as_str().unwrap().to_owned();
    let partial = btc.value["result"]["uuid"].as_str().unwrap().to_owned();
    sb.pay_ok(&cryptocloud::InvoiceId::parse(&paid).unwrap(), json!({}))
        .await;
    sb.pay_ok(
        &cryptocloud::InvoiceId::parse(&partial).unwrap(),
        json!({"amount": 10}),
    )
    .await;

    let info = post(
        &sb,
        "/v2/invoice/merchant/info",
        Some(json!({"uuids": [paid, partial]})),
    )
    .await;
    let items = info.items();
    assert_eq!(items.len(), 2);
    for (raw, created) in items.iter().zip([&usdt, &btc]) {
        assert_schema(raw, &[INVOICE, INFO_ONLY], "info");
        // The same fees as on creation.
        let (invoice, created): (Value, &Value) = (
            serde_json::from_str(raw.get()).unwrap(),
            &created.value["result"],
        );
        for field in [
            "amount",
            "amount_usd",
            "fee",
            "fee_usd",
            "service_fee",
            "service_fee_usd",
        ] {
            assert_eq!(invoice[field], created[field], "info {field}");
        }
    }
    let rows = &info.value["result"];
    assert_eq!(rows[0]["status"], "paid");
    assert!(is_time(&rows[0]["date_finished"]));
    assert_eq!(rows[0]["invoice_status"], "success");
    assert_eq!(rows[1]["status"], "partial");
    assert!(decimal(&rows[1]["to_surcharge"]) > Decimal::ZERO);

    let wallet = CreateStaticWallet {
        shop_id: DEV_SHOP_ID.to_owned(),
        currency: "BTC".to_owned(),
        identify: "user-7".to_owned(),
    };
    let wallet = post(
        &sb,
        "/v2/invoice/static/create",
        Some(serde_json::to_value(wallet).unwrap()),
    )
    .await;
    assert_schema(&wallet.result, &[STATIC_WALLET], "static wallet");
    assert_eq!(wallet.value["result"]["uuid"].as_str().unwrap().len(), 32);

    let fresh = create_raw(&sb, "5", None).await;
    let canceled = post(
        &sb,
        "/v2/invoice/merchant/canceled",
        Some(json!({"uuid": fresh.value["result"]["uuid"]})),
    )
    .await;
    assert_eq!(canceled.result.get(), r#"["ok"]"#);

    let list = post(&sb, "/v2/invoice/merchant/list", Some(today_period())).await;
    assert!(list.value["all_count"].is_u64(), "{}", list.text);
    let items = list.items();
    assert_eq!(items.len(), 3);
    for raw in &items {
        assert_schema(raw, &[INVOICE, INFO_ONLY], "list");
    }
    let rows = list.value["result"].as_array().unwrap();
    for row in rows {
        for fee in ["fee", "fee_usd", "service_fee", "service_fee_usd"] {
            assert!(decimal(&row[fee]) > Decimal::ZERO, "list {fee}: {row:#}");
        }
    }

    // Statistics count every invoice by status and sum their `amount_usd` (so a
    // client-side network fee is in it).
    let stats = post(&sb, "/v2/invoice/merchant/statistics", Some(today_period())).await;
    assert_schema(&stats.result, &[STATISTICS], "statistics");
    for (status, _) in COUNTS {
        let of_status: Vec<&Value> = rows
            .iter()
            .filter(|r| *status == "all" || r["status"] == *status)
            .collect();
        let stats = &stats.value["result"];
        assert_eq!(stats["count"][status], of_status.len(), "count.{status}");
        let sum: Decimal = of_status.iter().map(|r| decimal(&r["amount_usd"])).sum();
        assert_eq!(decimal(&stats["amount"][status]), sum, "amount.{status}");
    }

    // The balance holds what was received less each such invoice's network and service
    // fees: neither is the merchant's money, whichever side pays the network fee.
    let balance = post(&sb, "/v2/merchant/wallet/balance/all", None).await;
    for raw in balance.items() {
        assert_schema(&raw, &[BALANCE], "balance");
    }
    for entry in balance.value["result"].as_array().unwrap() {
        let code = entry["currency"]["code"].as_str().unwrap();
        let credit: Decimal = rows
            .iter()
            .filter(|r| r["currency"]["fullcode"] == code)
            .filter(|r| decimal(&r["received"]) > Decimal::ZERO)
            .map(|r| decimal(&r["received"]) - decimal(&r["fee"]) - decimal(&r["service_fee"]))
            .sum();
        assert_eq!(decimal(&entry["balance_crypto"]), credit, "{code}");
        assert_eq!(
            entry["available_balance"], entry["balance_crypto"],
            "{code}"
        );
    }
}

/// Creates a 25 USD invoice in `coin` on both sandboxes.
async fn create_on_both(
    client: &TestSandbox,
    merchant: &TestSandbox,
    coin: &str,
) -> (Answer, Answer) {
    (
        create_raw(client, "25", Some(coin)).await,
        create_raw(merchant, "25", Some(coin)).await,
    )
}

#[tokio::test]
async fn every_coin_carries_a_network_fee_on_either_side() {
    let client_side = sandbox().await;
    let mut settings = Settings::for_tests();
    settings.side_commission = SideCommission::Merchant;
    let merchant_side = spawn_sandbox(settings).await;

    // Every coin the sandbox offers is in the balance answer.
    let balance = post(&client_side, "/v2/merchant/wallet/balance/all", None).await;
    let coins: Vec<String> = balance.value["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["currency"]["code"].as_str().unwrap().to_owned())
        .collect();
    assert!(coins.len() >= 10, "{coins:?}");

    let mut exponent_fees = Vec::new();
    for coin in &coins {
        let (by_client, by_merchant) = create_on_both(&client_side, &merchant_side, coin).await;
        assert_schema(&by_client.result, &[INVOICE, CREATE_ONLY], coin);
        assert_schema(&by_merchant.result, &[INVOICE, CREATE_ONLY], coin);
        let (c, m) = (&by_client.value["result"], &by_merchant.value["result"]);
        assert_eq!(
            (c["side_commission"].as_str(), m["side_commission"].as_str()),
            (Some("client"), Some("merchant"))
        );
        assert_eq!(c["currency"]["fullcode"], coin.as_str());
        // One fee per coin, whoever pays it; the merchant's invoice is the bare amount.
        for fee in ["fee", "fee_usd", "service_fee", "service_fee_usd"] {
            assert_eq!(c[fee], m[fee], "{coin} {fee}");
        }
        let before_fee = (decimal(&m["amount"]), dec!(25));
        assert_fees(m, before_fee);
        assert_fees(c, before_fee);
        let fee_text = fields(&by_client.result).unwrap()["fee"].get().to_owned();
        if fee_text.contains('e') {
            exponent_fees.push(format!("{coin}: {fee_text}"));
        }
    }
    // Small fees go out in exponent notation, like the captured `1.499999996212864e-06`.
    assert!(
        exponent_fees.iter().any(|f| f.starts_with("BTC:")),
        "{exponent_fees:?}"
    );

    // Info and list answers carry them too.
    for sb in [&client_side, &merchant_side] {
        let mut period = today_period();
        period["limit"] = json!(100);
        let list = post(sb, "/v2/invoice/merchant/list", Some(period)).await;
        let items = list.items();
        assert_eq!(items.len(), coins.len());
        let uuids: Vec<Value> = list.value["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["uuid"].clone())
            .collect();
        let info = post(
            sb,
            "/v2/invoice/merchant/info",
            Some(json!({ "uuids": uuids })),
        )
        .await;
        for raw in items.iter().chain(info.items().iter()) {
            assert_schema(raw, &[INVOICE, INFO_ONLY], "info/list");
            let invoice: Value = serde_json::from_str(raw.get()).unwrap();
            for fee in ["fee", "fee_usd", "service_fee", "service_fee_usd"] {
                assert!(decimal(&invoice[fee]) > Decimal::ZERO, "{fee}: {invoice:#}");
            }
        }
    }
}

#[tokio::test]
async fn a_merchant_side_fee_leaves_the_amount_and_comes_off_the_balance() {
    let mut settings = Settings::for_tests();
    settings.side_commission = SideCommission::Merchant;
    let sb = spawn_sandbox(settings).await;
    let created = create_raw(&sb, "10", None).await;
    assert_schema(&created.result, &[INVOICE, CREATE_ONLY], "create");
    assert_eq!(created.value["result"]["side_commission"], "merchant");
    assert_fees(&created.value["result"], (dec!(10), dec!(10)));

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

#[tokio::test]
async fn our_client_reads_an_info_answer_without_informational_fields() {
    let sb = sandbox().await;
    let invoice = sb.create(dec!(10)).await;
    sb.pay_ok(&invoice.uuid, json!({})).await;
    let faults = sb
        .post_json("/sandbox/faults", json!({"sparse_info": true}))
        .await;
    assert_eq!(faults.status(), 200);

    let raw = post(
        &sb,
        "/v2/invoice/merchant/info",
        Some(json!({"uuids": [invoice.uuid.prefixed()]})),
    )
    .await;
    let sparse = &raw.value["result"][0];
    for gone in [
        "created",
        "expiry_date",
        "project",
        "fee",
        "service_fee",
        "link",
    ] {
        assert!(sparse.get(gone).is_none(), "{gone} in {sparse:#}");
    }

    let read = sb.info(&invoice.uuid).await;
    assert_eq!(read.uuid, invoice.uuid);
    assert_eq!(read.status, cryptocloud::InvoiceStatus::Paid);
    assert_eq!(read.amount, dec!(10.5));
    assert_eq!(read.received, Some(dec!(10.5)));
    assert_eq!((read.created, read.fee, read.project), (None, None, None));
}
