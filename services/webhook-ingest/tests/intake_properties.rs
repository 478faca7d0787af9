//! Property tests over the intake (body parser + token verifier + field validation): it
//! never panics on any input, and what it accepts and refuses follows the rules.
//!
//! Long run (see the README): `PROPTEST_CASES=1000000 cargo test -p webhook-ingest --test
//! intake_properties`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use cryptocloud::token::{unsigned_token, Algorithm};
use cryptocloud::{sign_postback_token, sign_with, IdClaim, InvoiceId, PostbackFormat, TokenError};
use proptest::prelude::*;
use secrecy::SecretString;
use serde_json::{json, Map, Value};
use webhook_ingest::{Intaker, Rejection};

const KEY: &str = "property-test-key";

fn intaker() -> Intaker {
    Intaker::new(
        SecretString::from(KEY),
        Some(SecretString::from("previous-key")),
        Duration::from_secs(60),
    )
}

fn now() -> DateTime<Utc> {
    Utc::now()
}

fn content_type() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some("application/json".to_owned())),
        Just(Some("application/json; charset=utf-8".to_owned())),
        Just(Some("application/x-www-form-urlencoded".to_owned())),
        Just(Some("text/plain".to_owned())),
        Just(Some("APPLICATION/VND.API+JSON".to_owned())),
        "\\PC{0,40}".prop_map(Some),
    ]
}

/// How the token of a generated postback is made.
#[derive(Debug, Clone)]
enum TokenKind {
    Valid,
    PreviousKey,
    WrongKey,
    Expired,
    OtherInvoice,
    IntegerId,
    NoId,
    AlgNone,
    Hs512,
    Missing,
    Garbage(String),
    ThreeParts(String, String, String),
}

impl TokenKind {
    fn outcome(&self) -> Option<TokenError> {
        match self {
            TokenKind::Valid | TokenKind::PreviousKey | TokenKind::NoId | TokenKind::IntegerId => {
                None
            }
            TokenKind::WrongKey => Some(TokenError::BadSignature),
            TokenKind::Expired => Some(TokenError::Expired),
            TokenKind::OtherInvoice => Some(TokenError::InvoiceMismatch),
            TokenKind::AlgNone | TokenKind::Hs512 => Some(TokenError::Algorithm),
            TokenKind::Missing => Some(TokenError::Missing),
            // Anything may come of garbage, except acceptance.
            TokenKind::Garbage(_) | TokenKind::ThreeParts(..) => Some(TokenError::Malformed),
        }
    }

    fn make(&self, invoice: &InvoiceId) -> Option<String> {
        let exp = now() + chrono::Duration::minutes(5);
        let key = |k: &str| SecretString::from(k.to_owned());
        let claims = json!({"id": invoice.code(), "exp": exp.timestamp()});
        Some(match self {
            TokenKind::Valid => sign_postback_token(&key(KEY), IdClaim::from(invoice), exp),
            TokenKind::PreviousKey => {
                sign_postback_token(&key("previous-key"), IdClaim::from(invoice), exp)
            }
            TokenKind::WrongKey => {
                sign_postback_token(&key("not-the-key"), IdClaim::from(invoice), exp)
            }
            TokenKind::Expired => sign_postback_token(
                &key(KEY),
                IdClaim::from(invoice),
                now() - chrono::Duration::minutes(3),
            ),
            TokenKind::OtherInvoice => {
                let other = if invoice.code() == "ZZZZ0000" {
                    "ZZZZ0001"
                } else {
                    "ZZZZ0000"
                };
                sign_postback_token(&key(KEY), IdClaim::Str(other.to_owned()), exp)
            }
            // Invoice codes here always contain a letter, so a number never names them.
            TokenKind::IntegerId => sign_postback_token(&key(KEY), IdClaim::Int(13), exp),
            TokenKind::NoId => sign_postback_token(&key(KEY), IdClaim::None, exp),
            TokenKind::AlgNone => unsigned_token(&claims),
            TokenKind::Hs512 => sign_with(Algorithm::HS512, KEY.as_bytes(), &claims).unwrap(),
            TokenKind::Missing => return None,
            TokenKind::Garbage(s) => s.clone(),
            TokenKind::ThreeParts(a, b, c) => format!("{a}.{b}.{c}"),
        })
    }
}

fn token_kind() -> impl Strategy<Value = TokenKind> {
    let b64 = "[A-Za-z0-9_-]{0,40}";
    prop_oneof![
        4 => Just(TokenKind::Valid),
        1 => Just(TokenKind::PreviousKey),
        1 => Just(TokenKind::WrongKey),
        1 => Just(TokenKind::Expired),
        1 => Just(TokenKind::OtherInvoice),
        1 => Just(TokenKind::IntegerId),
        1 => Just(TokenKind::NoId),
        1 => Just(TokenKind::AlgNone),
        1 => Just(TokenKind::Hs512),
        1 => Just(TokenKind::Missing),
        1 => "[^\\s.]{1,60}".prop_map(TokenKind::Garbage),
        1 => (b64, b64, b64).prop_map(|(a, b, c)| TokenKind::ThreeParts(a, b, c)),
    ]
}

/// A generated postback: valid field values, each possibly swapped for something odd.
#[derive(Debug, Clone)]
struct Generated {
    invoice: InvoiceId,
    invoice_text: String,
    status: Value,
    amount: Value,
    currency: Value,
    order_id: Value,
    info_status: Option<String>,
    token: TokenKind,
    form: bool,
    fields_valid: bool,
}

fn odd_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        Just(json!([])),
        Just(json!({"a": 1})),
        Just(json!(true)),
        any::<i64>().prop_map(Value::from),
        "\\PC{0,20}".prop_map(Value::from),
        "[ -~]{0,300}".prop_map(Value::from),
    ]
}

fn generated() -> impl Strategy<Value = Generated> {
    let invoice = "[A-Z]{1}[A-Z0-9]{7}".prop_map(|c| InvoiceId::parse(&c).unwrap());
    let amount =
        (0u64..10_000_000_000, 0u32..10).prop_map(|(m, s)| rust_decimal::Decimal::new(m as i64, s));
    let currency = prop_oneof![
        Just("BTC"),
        Just("USDT_TRC20"),
        Just("eth"),
        Just("USDC_ERC20")
    ];
    let status = prop_oneof![Just("success"), Just("Success"), Just("paid")];
    let info = prop::option::of(prop_oneof![
        Just("paid"),
        Just("partial"),
        Just("overpaid"),
        Just("created")
    ]);
    let oddities = prop::collection::vec(prop::option::weighted(0.15, odd_value()), 4);
    (
        invoice,
        amount,
        currency,
        status,
        info,
        token_kind(),
        any::<bool>(),
        any::<bool>(),
        oddities,
        any::<bool>(),
    )
        .prop_map(
            |(
                invoice,
                amount,
                currency,
                status,
                info,
                token,
                form,
                prefixed,
                odd,
                number_amount,
            )| {
                let fields_valid = odd.iter().all(Option::is_none);
                let amount = if number_amount && !form {
                    serde_json::from_str::<Value>(&amount.to_string()).unwrap()
                } else {
                    Value::from(amount.to_string())
                };
                let [status_v, amount_v, currency_v, order_v]: [Option<Value>; 4] =
                    odd.try_into().unwrap();
                Generated {
                    invoice_text: if prefixed {
                        invoice.prefixed().to_lowercase()
                    } else {
                        invoice.code().to_owned()
                    },
                    invoice,
                    status: status_v.unwrap_or_else(|| Value::from(status)),
                    amount: amount_v.unwrap_or(amount),
                    currency: currency_v.unwrap_or_else(|| Value::from(currency)),
                    // Any order id is fine; the odd ones above stand in for text.
                    order_id: order_v.unwrap_or_else(|| Value::from("order-1")),
                    info_status: info.map(str::to_owned),
                    token,
                    form,
                    fields_valid,
                }
            },
        )
}

impl Generated {
    fn body(&self) -> (Option<&'static str>, Vec<u8>) {
        let mut object = Map::new();
        object.insert("status".into(), self.status.clone());
        object.insert("invoice_id".into(), Value::from(self.invoice_text.clone()));
        object.insert("amount_crypto".into(), self.amount.clone());
        object.insert("currency".into(), self.currency.clone());
        object.insert("order_id".into(), self.order_id.clone());
        if let Some(token) = self.token.make(&self.invoice) {
            object.insert("token".into(), Value::from(token));
        }
        if let Some(status) = &self.info_status {
            object.insert(
                "invoice_info".into(),
                json!({"uuid": self.invoice.prefixed(), "status": status}),
            );
        }
        if self.form {
            let pairs: Vec<(String, String)> = object
                .into_iter()
                .map(|(k, v)| match v {
                    Value::String(s) => (k, s),
                    other => (k, other.to_string()),
                })
                .collect();
            (
                Some("application/x-www-form-urlencoded"),
                serde_urlencoded::to_string(pairs).unwrap().into_bytes(),
            )
        } else {
            (
                Some("application/json"),
                serde_json::to_vec(&Value::Object(object)).unwrap(),
            )
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    /// Any bytes under any content type: an answer, never a panic.
    #[test]
    fn arbitrary_bytes_never_panic(ct in content_type(), body in prop::collection::vec(any::<u8>(), 0..4096)) {
        let _ = intaker().accept(ct.as_deref(), &body, now());
    }

    /// Text that looks like a form or a JSON object goes deeper into the parser.
    #[test]
    fn form_and_json_like_text_never_panics(
        ct in content_type(),
        body in prop_oneof![
            "([a-z_]{1,14}=[ -~]{0,30}&){0,10}",
            "\\{(\"[a-z_]{1,14}\": ?(\"[ -~]{0,20}\"|[0-9.eE+-]{1,12}|null|true|\\{\\}|\\[\\]),?){0,10}\\}",
        ],
    ) {
        let _ = intaker().accept(ct.as_deref(), body.as_bytes(), now());
    }

    /// Generated postbacks are accepted exactly when every field and the token are good,
    /// refused for the token's own reason otherwise, and no refusal echoes the token.
    #[test]
    fn generated_postbacks_are_judged_by_the_rules(g in generated()) {
        let (ct, body) = g.body();
        let result = intaker().accept(ct, &body, now());
        match (&result, g.fields_valid, g.token.outcome()) {
            (Ok(intake), true, None) => {
                let p = &intake.postback;
                prop_assert_eq!(&p.invoice_id, &g.invoice);
                prop_assert_eq!(p.format, if g.form { PostbackFormat::Form } else { PostbackFormat::Json });
                prop_assert!(p.message_id.starts_with("cc-") && p.message_id.len() == 35);
                prop_assert_eq!(p.invoice_status.as_ref().map(|s| s.as_str().to_owned()), g.info_status.clone());
            }
            (Err(Rejection::Token(err)), true, Some(expected)) => match &g.token {
                TokenKind::Garbage(_) | TokenKind::ThreeParts(..) => {}
                _ => prop_assert_eq!(*err, expected),
            },
            // Odd fields may be refused by the parser before the token is looked at, or
            // after it by validation; an odd order id can also be fine.
            (Err(_), false, _) => {}
            (Ok(_), false, None) => {}
            (other, valid, expected) => {
                prop_assert!(false, "unexpected {other:?} (fields valid: {valid}, token: {expected:?})");
            }
        }
        if let (Err(err), Some(token)) = (&result, g.token.make(&g.invoice)) {
            if token.len() > 12 {
                prop_assert!(!err.to_string().contains(&token));
            }
        }
    }

    /// The message id depends only on invoice, status and amount: not on the format, the
    /// spelling of the invoice id, the token or the order id.
    #[test]
    fn the_message_id_is_stable_across_encodings(g in generated(), order in "[a-z0-9-]{1,20}") {
        let mut g = g;
        g.token = TokenKind::Valid;
        if !g.fields_valid {
            return Ok(());
        }
        let first = intaker().accept(g.body().0, &g.body().1, now()).unwrap();
        g.form = !g.form;
        g.order_id = Value::from(order);
        g.invoice_text = g.invoice.prefixed();
        g.token = TokenKind::NoId;
        let second = intaker().accept(g.body().0, &g.body().1, now()).unwrap();
        prop_assert_eq!(first.postback.message_id, second.postback.message_id);
    }

    /// Random byte edits of a valid body: never a panic.
    #[test]
    fn mutated_valid_bodies_never_panic(
        g in generated(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..12),
    ) {
        let (ct, mut body) = g.body();
        for (at, byte, op) in edits {
            if body.is_empty() {
                body.push(byte);
                continue;
            }
            let i = at.index(body.len());
            match op {
                0 => body[i] = byte,
                1 => body.insert(i, byte),
                _ => {
                    body.remove(i);
                }
            }
        }
        let _ = intaker().accept(ct, &body, now());
    }
}
