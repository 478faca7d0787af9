//! From raw body to an accepted postback: parse (JSON or form), verify the token at
//! receipt, validate the fields. Pure and synchronous, so it is fuzzed and property-tested
//! on its own.

use std::time::Duration;

use chrono::{DateTime, Utc};
use cryptocloud::{IdKind, Postback, PostbackError, TokenError, VerifiedToken};
use secrecy::SecretString;

use crate::fields::{CurrencyCode, Status};
use crate::message::{message_id, AcceptedPostback};
use crate::telemetry;
use crate::verifier::KeyRing;

/// CryptoCloud's tokens expire this long after the postback was sent.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(300);

/// Why a postback was refused. Display texts never contain the token or a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error(transparent)]
    Malformed(#[from] PostbackError),
    #[error("postback field `{field}` is invalid: {message}")]
    InvalidField {
        field: &'static str,
        message: String,
    },
    #[error(transparent)]
    Token(#[from] TokenError),
}

impl Rejection {
    /// Short label for metrics and error codes.
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::Malformed(PostbackError::Body { .. }) => "malformed_body",
            Rejection::Malformed(_) | Rejection::InvalidField { .. } => "invalid_field",
            Rejection::Token(TokenError::Missing) => "token_missing",
            Rejection::Token(TokenError::Malformed) => "token_malformed",
            Rejection::Token(TokenError::BadSignature) => "token_bad_signature",
            Rejection::Token(TokenError::Algorithm) => "token_algorithm",
            Rejection::Token(TokenError::Expired) => "token_expired",
            Rejection::Token(TokenError::InvoiceMismatch) => "token_invoice_mismatch",
        }
    }

    pub fn is_token_problem(&self) -> bool {
        matches!(self, Rejection::Token(_))
    }
}

/// A postback that passed, with what the token told about the sender's clock.
#[derive(Debug, Clone, PartialEq)]
pub struct Intake {
    pub postback: AcceptedPostback,
    /// Receipt time minus the token's issue time (`exp` - 5 min): transit plus clock
    /// skew; negative when the sender's clock is ahead of ours.
    pub token_age_secs: f64,
    /// What the token's `id` claim was (counted: it tells what CryptoCloud really signs).
    pub token_id: IdKind,
}

#[derive(Debug, Clone)]
pub struct Intaker {
    keys: KeyRing,
}

impl Intaker {
    pub fn new(secret: SecretString, previous: Option<SecretString>, leeway: Duration) -> Self {
        Intaker {
            keys: KeyRing::new(secret, previous, leeway),
        }
    }

    /// Parses, verifies and validates one postback body.
    pub fn accept(
        &self,
        content_type: Option<&str>,
        body: &[u8],
        received_at: DateTime<Utc>,
    ) -> Result<Intake, Rejection> {
        let postback = Postback::parse(content_type, body)?;
        let token = self
            .keys
            .verify(postback.token.as_deref(), &postback.invoice_id)?;
        let postback = validate(postback, received_at)?;
        Ok(Intake {
            postback,
            token_age_secs: token_age_secs(&token, received_at),
            token_id: token.id_kind,
        })
    }
}

fn validate(p: Postback, received_at: DateTime<Utc>) -> Result<AcceptedPostback, Rejection> {
    let invalid =
        |field: &'static str| move |message: String| Rejection::InvalidField { field, message };
    let postback_status = Status::parse(&p.status).map_err(invalid("status"))?;
    // `invoice_info` is a hint (the worker asks CryptoCloud): what cannot be read is
    // logged and ignored, never a reason to refuse the postback.
    let mut ignored = p.invoice_info_ignored.clone();
    let invoice_status = match p
        .invoice_info
        .as_ref()
        .map(|i| Status::parse(i.status.as_str()))
    {
        Some(Ok(status)) => Some(status),
        Some(Err(why)) => {
            ignored = Some(format!("its status {why}"));
            None
        }
        None => None,
    };
    if let Some(why) = &ignored {
        tracing::warn!(invoice_id = p.invoice_id.code(), reason = %why, "invoice_info ignored");
        telemetry::invoice_info_ignored();
    }
    let currency = CurrencyCode::parse(&p.currency).map_err(invalid("currency"))?;
    // The parser refuses negatives; zero stays acceptable (test-mode confirmations).
    let identity_status = invoice_status.as_ref().unwrap_or(&postback_status);
    Ok(AcceptedPostback {
        message_id: message_id(&p.invoice_id, identity_status, p.amount_crypto),
        invoice_id: p.invoice_id,
        order_id: p.order_id,
        postback_status,
        invoice_status,
        amount_crypto: p.amount_crypto,
        currency,
        format: p.format,
        received_at,
    })
}

fn token_age_secs(token: &VerifiedToken, received_at: DateTime<Utc>) -> f64 {
    let issued_at = token.exp - chrono::Duration::from_std(TOKEN_LIFETIME).unwrap_or_default();
    (received_at - issued_at).num_milliseconds() as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use chrono::Duration as ChronoDuration;
    use cryptocloud::{sign_postback_token, IdClaim, InvoiceId};
    use rust_decimal::Decimal;

    use super::*;

    const KEY: &str = "intake-test-key";

    fn intaker() -> Intaker {
        Intaker::new(SecretString::from(KEY), None, Duration::from_secs(60))
    }

    fn token(invoice: &str, exp: DateTime<Utc>) -> String {
        sign_postback_token(
            &SecretString::from(KEY),
            IdClaim::from(&InvoiceId::parse(invoice).unwrap()),
            exp,
        )
    }

    fn json(token: &str, extra: &str) -> Vec<u8> {
        format!(
            r#"{{"status":"success","invoice_id":"7Q2K9XAB","amount_crypto":25.012,"currency":"usdt_trc20",
               "order_id":"order-42","token":"{token}"{extra}}}"#
        )
        .into_bytes()
    }

    #[test]
    fn a_valid_json_postback_is_accepted_and_normalised() {
        // Whole seconds, as in the token's `exp`.
        let now = DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap();
        let body = json(&token("7Q2K9XAB", now + ChronoDuration::seconds(298)), "");
        let intake = intaker()
            .accept(Some("application/json"), &body, now)
            .unwrap();
        let p = &intake.postback;
        assert_eq!(p.invoice_id.code(), "7Q2K9XAB");
        assert_eq!(p.currency.as_str(), "USDT_TRC20");
        assert_eq!(p.amount_crypto, Decimal::new(25012, 3));
        assert_eq!(p.postback_status.as_str(), "success");
        assert_eq!(p.invoice_status, None);
        assert_eq!(p.order_id.as_deref(), Some("order-42"));
        assert!(
            (intake.token_age_secs - 2.0).abs() < 0.01,
            "{}",
            intake.token_age_secs
        );
    }

    #[test]
    fn form_and_json_of_the_same_postback_share_the_message_id() {
        let now = Utc::now();
        let t = token("7Q2K9XAB", now + ChronoDuration::minutes(5));
        let from_json = intaker()
            .accept(Some("application/json"), &json(&t, ""), now)
            .unwrap();
        let form = format!(
            "status=success&invoice_id=7Q2K9XAB&amount_crypto=25.0120&currency=USDT_TRC20&order_id=order-42&token={t}"
        );
        let from_form = intaker().accept(None, form.as_bytes(), now).unwrap();
        assert_eq!(from_form.postback.format, cryptocloud::PostbackFormat::Form);
        assert_eq!(from_json.postback.message_id, from_form.postback.message_id);
    }

    #[test]
    fn the_invoice_status_decides_the_identity_when_present() {
        let now = Utc::now();
        let t = token("7Q2K9XAB", now + ChronoDuration::minutes(5));
        let info = |status: &str| {
            format!(r#","invoice_info":{{"uuid":"INV-7Q2K9XAB","status":"{status}"}}"#)
        };
        let partial = intaker()
            .accept(None, &json(&t, &info("partial")), now)
            .unwrap();
        let paid = intaker()
            .accept(None, &json(&t, &info("paid")), now)
            .unwrap();
        assert_eq!(
            partial.postback.invoice_status.as_ref().unwrap().as_str(),
            "partial"
        );
        assert_ne!(partial.postback.message_id, paid.postback.message_id);
    }

    #[test]
    fn each_problem_has_its_reason() {
        let now = Utc::now();
        let good = token("7Q2K9XAB", now + ChronoDuration::minutes(5));
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"{not json".to_vec(), "malformed_body"),
            (
                json(&good, "")
                    .iter()
                    .copied()
                    .filter(|b| *b != b'}')
                    .collect(),
                "malformed_body",
            ),
            (br#"{"status":"success"}"#.to_vec(), "invalid_field"),
            (
                json(&good, "").replace_str("25.012", "\"abc\""),
                "invalid_field",
            ),
            (
                json(&good, "").replace_str("usdt_trc20", "US DT"),
                "invalid_field",
            ),
            (
                json(&good, "").replace_str("\"success\"", "\"no way!\""),
                "invalid_field",
            ),
            (
                json(&good, "").replace_str("7Q2K9XAB", "7Q-2K"),
                "invalid_field",
            ),
            (json("", ""), "token_missing"),
            (json("abc.def", ""), "token_malformed"),
            (
                json(&token("7Q2K9XAB", now - ChronoDuration::minutes(5)), ""),
                "token_expired",
            ),
            (
                json(&token("AAAA1111", now + ChronoDuration::minutes(5)), ""),
                "token_invoice_mismatch",
            ),
        ];
        for (body, reason) in cases {
            let err = intaker()
                .accept(Some("application/json"), &body, now)
                .unwrap_err();
            assert_eq!(
                err.reason(),
                reason,
                "{err} for {}",
                String::from_utf8_lossy(&body)
            );
        }
    }

    #[test]
    fn rejections_never_echo_the_token() {
        let now = Utc::now();
        let forged = sign_postback_token(
            &SecretString::from("wrong"),
            IdClaim::Str("7Q2K9XAB".into()),
            now + ChronoDuration::minutes(5),
        );
        let err = intaker().accept(None, &json(&forged, ""), now).unwrap_err();
        assert_eq!(err.reason(), "token_bad_signature");
        assert!(!err.to_string().contains(&forged));
        assert!(!format!("{err:?}").contains(&forged));
    }

    trait ReplaceStr {
        fn replace_str(self, from: &str, to: &str) -> Vec<u8>;
    }

    impl ReplaceStr for Vec<u8> {
        fn replace_str(self, from: &str, to: &str) -> Vec<u8> {
            String::from_utf8(self)
                .unwrap()
                .replacen(from, to, 1)
                .into_bytes()
        }
    }
}
