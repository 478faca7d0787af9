//! Parsing CryptoCloud's postback (webhook), sent as JSON or as
//! `application/x-www-form-urlencoded` depending on the project settings.

use std::fmt;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;

use crate::model::{lenient, InvoiceCurrency, InvoiceStatus, Project};
use crate::InvoiceId;

/// Longest text accepted in a flat field (status, currency, order id).
const MAX_TEXT_LEN: usize = 256;

/// The encoding the postback arrived in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PostbackFormat {
    Json,
    Form,
}

impl PostbackFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            PostbackFormat::Json => "json",
            PostbackFormat::Form => "form",
        }
    }
}

/// A parsed postback. Its token signs only the invoice id, so the other fields
/// are a hint until CryptoCloud is asked about the invoice.
#[derive(Clone, PartialEq)]
pub struct Postback {
    /// Top-level `status`; only `success` is documented.
    pub status: String,
    pub invoice_id: InvoiceId,
    pub amount_crypto: Decimal,
    /// Full crypto code, e.g. `USDT_TRC20`.
    pub currency: String,
    /// `None` when absent, `null` or empty.
    pub order_id: Option<String>,
    /// The JWT; `None` when absent or empty. Never printed by `Debug`.
    pub token: Option<String>,
    /// A hint only: `None` when absent or when it could not be read (see
    /// `invoice_info_ignored`).
    pub invoice_info: Option<PostbackInvoiceInfo>,
    /// Why an `invoice_info` that was sent was ignored (not JSON, not an invoice snapshot,
    /// nested form keys, repeated, another invoice's). Never refuses the postback.
    pub invoice_info_ignored: Option<String>,
    pub format: PostbackFormat,
}

impl fmt::Debug for Postback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Postback")
            .field("status", &self.status)
            .field("invoice_id", &self.invoice_id)
            .field("amount_crypto", &self.amount_crypto)
            .field("currency", &self.currency)
            .field("order_id", &self.order_id)
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .field("invoice_info", &self.invoice_info)
            .field("invoice_info_ignored", &self.invoice_info_ignored)
            .field("format", &self.format)
            .finish()
    }
}

/// The invoice snapshot inside a postback. Only `uuid` and `status` are
/// required; informational parts we cannot read become `None`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PostbackInvoiceInfo {
    /// `INV-XXXXXXXX`.
    pub uuid: InvoiceId,
    /// E.g. `paid` or `overpaid`.
    pub status: InvoiceStatus,
    #[serde(default)]
    pub invoice_status: Option<String>,
    #[serde(default, with = "crate::decimal::option")]
    pub amount: Option<Decimal>,
    #[serde(default, with = "crate::decimal::option")]
    pub amount_usd: Option<Decimal>,
    #[serde(default, with = "crate::decimal::option")]
    pub amount_paid: Option<Decimal>,
    #[serde(default, with = "crate::decimal::option")]
    pub received: Option<Decimal>,
    #[serde(default, with = "crate::decimal::option")]
    pub received_usd: Option<Decimal>,
    #[serde(
        default,
        serialize_with = "crate::timestamp::option::serialize",
        deserialize_with = "lenient_time"
    )]
    pub created: Option<DateTime<Utc>>,
    #[serde(
        default,
        serialize_with = "crate::timestamp::option::serialize",
        deserialize_with = "lenient_time"
    )]
    pub date_finished: Option<DateTime<Utc>>,
    #[serde(
        default,
        serialize_with = "crate::timestamp::option::serialize",
        deserialize_with = "lenient_time"
    )]
    pub expiry_date: Option<DateTime<Utc>>,
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub currency: Option<InvoiceCurrency>,
    #[serde(default)]
    pub side_commission: Option<String>,
    #[serde(default)]
    pub type_payments: Option<String>,
    #[serde(default)]
    pub is_email_required: Option<bool>,
    #[serde(default, deserialize_with = "lenient")]
    pub project: Option<Project>,
    #[serde(default)]
    pub order_id: Option<String>,
    #[serde(default)]
    pub test_mode: Option<bool>,
}

impl PostbackInvoiceInfo {
    /// A minimal snapshot (for senders such as the sandbox).
    pub fn new(uuid: InvoiceId, status: InvoiceStatus) -> Self {
        PostbackInvoiceInfo {
            uuid,
            status,
            invoice_status: None,
            amount: None,
            amount_usd: None,
            amount_paid: None,
            received: None,
            received_usd: None,
            created: None,
            date_finished: None,
            expiry_date: None,
            address: None,
            currency: None,
            side_commission: None,
            type_payments: None,
            is_email_required: None,
            project: None,
            order_id: None,
            test_mode: None,
        }
    }
}

fn lenient_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    Ok(value.as_str().and_then(|s| crate::timestamp::parse(s).ok()))
}

/// What is wrong with a postback. Never contains the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PostbackError {
    /// The body is neither a JSON object nor a form.
    #[error("postback body is not a valid {format}: {message}")]
    Body {
        format: &'static str,
        message: String,
    },
    #[error("postback field `{field}` is missing")]
    MissingField { field: &'static str },
    #[error("postback field `{field}` is invalid: {message}")]
    InvalidField {
        field: &'static str,
        message: String,
    },
    #[error("postback field `{field}` appears more than once")]
    DuplicateField { field: String },
}

impl PostbackError {
    /// The offending field, when one is to blame.
    pub fn field(&self) -> Option<&str> {
        match self {
            PostbackError::Body { .. } => None,
            PostbackError::MissingField { field } | PostbackError::InvalidField { field, .. } => {
                Some(field)
            }
            PostbackError::DuplicateField { field } => Some(field),
        }
    }
}

/// The flat fields a postback is acted on by; only these may not repeat.
const USED_FIELDS: [&str; 6] = [
    "status",
    "invoice_id",
    "amount_crypto",
    "currency",
    "order_id",
    "token",
];

/// One field's raw value, as the encoding delivered it.
enum Raw {
    Json(Box<RawValue>),
    Form(String),
}

struct Fields {
    entries: Vec<(String, Raw)>,
}

impl Fields {
    fn get(&self, name: &str) -> Option<&Raw> {
        self.entries.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// A repeated key is refused only when it is one of the fields acted on: which copy
    /// would count is ambiguous. Any other key may repeat.
    fn check_duplicates(&self) -> Result<(), PostbackError> {
        for field in USED_FIELDS {
            if self.entries.iter().filter(|(k, _)| k == field).count() > 1 {
                return Err(PostbackError::DuplicateField {
                    field: field.to_string(),
                });
            }
        }
        Ok(())
    }

    /// A text field: JSON string (or number, kept as written), or form text.
    /// `null`, absent and (after trimming) empty give `None`.
    fn text(&self, field: &'static str) -> Result<Option<String>, PostbackError> {
        let text = match self.get(field) {
            None => return Ok(None),
            Some(Raw::Form(s)) => s.clone(),
            Some(Raw::Json(raw)) => {
                let token = raw.get().trim();
                if token == "null" {
                    return Ok(None);
                }
                if token.starts_with('"') {
                    serde_json::from_str::<String>(token)
                        .map_err(|e| invalid(field, e.to_string()))?
                } else if serde_json::from_str::<serde_json::Number>(token).is_ok() {
                    token.to_owned()
                } else {
                    return Err(invalid(field, "must be a string".to_owned()));
                }
            }
        };
        let text = text.trim();
        if text.is_empty() {
            return Ok(None);
        }
        if text.len() > MAX_TEXT_LEN {
            return Err(invalid(field, format!("longer than {MAX_TEXT_LEN} bytes")));
        }
        if text.chars().any(char::is_control) {
            return Err(invalid(field, "contains control characters".to_owned()));
        }
        Ok(Some(text.to_owned()))
    }

    fn required_text(&self, field: &'static str) -> Result<String, PostbackError> {
        self.text(field)?
            .ok_or(PostbackError::MissingField { field })
    }

    fn amount(&self, field: &'static str) -> Result<Decimal, PostbackError> {
        let parsed = match self.get(field) {
            None => None,
            Some(Raw::Json(raw)) => {
                crate::decimal::parse_json_token(raw.get()).map_err(|m| invalid(field, m))?
            }
            Some(Raw::Form(s)) if s.trim().is_empty() => None,
            Some(Raw::Form(s)) => {
                Some(crate::decimal::parse_str(s).map_err(|m| invalid(field, m))?)
            }
        };
        let amount = parsed.ok_or(PostbackError::MissingField { field })?;
        if amount.is_sign_negative() && !amount.is_zero() {
            return Err(invalid(field, "must not be negative".to_owned()));
        }
        Ok(amount)
    }

    /// The token is only ever a string; its value is never put into an error.
    fn token(&self) -> Result<Option<String>, PostbackError> {
        let text = match self.get("token") {
            None => return Ok(None),
            Some(Raw::Form(s)) => s.clone(),
            Some(Raw::Json(raw)) => {
                let token = raw.get().trim();
                if token == "null" {
                    return Ok(None);
                }
                serde_json::from_str::<String>(token)
                    .map_err(|_| invalid("token", "must be a string".to_owned()))?
            }
        };
        let text = text.trim();
        Ok((!text.is_empty()).then(|| text.to_owned()))
    }

    /// An object in JSON mode, or JSON text (either mode). It is only a hint: `Err` says
    /// why what was sent cannot be read, and the caller ignores it.
    fn invoice_info(&self) -> Result<Option<PostbackInvoiceInfo>, String> {
        const FIELD: &str = "invoice_info";
        let mut copies = self.entries.iter().filter(|(k, _)| k == FIELD);
        let (Some((_, raw)), None) = (copies.next(), copies.next()) else {
            if self.entries.iter().any(|(k, _)| k == FIELD) {
                return Err("sent more than once".to_owned());
            }
            if self
                .entries
                .iter()
                .any(|(k, _)| k.starts_with("invoice_info["))
            {
                return Err("sent as nested form keys".to_owned());
            }
            return Ok(None);
        };
        let json_text = match raw {
            Raw::Form(s) => s.clone(),
            Raw::Json(raw) => {
                let token = raw.get().trim();
                if token == "null" {
                    return Ok(None);
                }
                if token.starts_with('"') {
                    serde_json::from_str::<String>(token).map_err(|e| e.to_string())?
                } else {
                    token.to_owned()
                }
            }
        };
        if json_text.trim().is_empty() {
            return Ok(None);
        }
        serde_json::from_str::<PostbackInvoiceInfo>(&json_text)
            .map(Some)
            .map_err(|e| format!("not an invoice snapshot: {e}"))
    }
}

fn invalid(field: &'static str, message: String) -> PostbackError {
    PostbackError::InvalidField { field, message }
}

/// Collects a JSON object's members in order, keeping duplicates so they can be refused.
struct JsonEntries(Vec<(String, Box<RawValue>)>);

impl<'de> Deserialize<'de> for JsonEntries {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = JsonEntries;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<JsonEntries, A::Error> {
                let mut entries = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Box<RawValue>>()? {
                    entries.push((k, v));
                }
                Ok(JsonEntries(entries))
            }
        }
        d.deserialize_map(Visitor)
    }
}

impl Postback {
    /// Parses a postback body. The content type picks the format, but the body
    /// wins when they disagree or the type is missing: a body whose first
    /// non-space byte is `{` (or `[`) is JSON, one with `key=value` pairs a form.
    pub fn parse(content_type: Option<&str>, body: &[u8]) -> Result<Postback, PostbackError> {
        let format = detect_format(content_type, body);
        let fields = match format {
            PostbackFormat::Json => {
                let entries: JsonEntries =
                    serde_json::from_slice(body).map_err(|e| PostbackError::Body {
                        format: "JSON object",
                        message: e.to_string(),
                    })?;
                Fields {
                    entries: entries
                        .0
                        .into_iter()
                        .map(|(k, v)| (k, Raw::Json(v)))
                        .collect(),
                }
            }
            PostbackFormat::Form => {
                if body.iter().all(u8::is_ascii_whitespace) {
                    return Err(PostbackError::Body {
                        format: "form",
                        message: "empty body".to_owned(),
                    });
                }
                let pairs: Vec<(String, String)> =
                    serde_urlencoded::from_bytes(body).map_err(|e| PostbackError::Body {
                        format: "form",
                        message: e.to_string(),
                    })?;
                Fields {
                    entries: pairs.into_iter().map(|(k, v)| (k, Raw::Form(v))).collect(),
                }
            }
        };
        fields.check_duplicates()?;

        let status = fields.required_text("status")?;
        let invoice_text = fields.required_text("invoice_id")?;
        let invoice_id = InvoiceId::parse(&invoice_text)
            .map_err(|e| invalid("invoice_id", e.reason.to_owned()))?;
        let amount_crypto = fields.amount("amount_crypto")?;
        let currency = fields.required_text("currency")?;
        let order_id = fields.text("order_id")?;
        let token = fields.token()?;
        let (invoice_info, invoice_info_ignored) = match fields.invoice_info() {
            Ok(Some(info)) if info.uuid != invoice_id => (
                None,
                Some(format!(
                    "its uuid {} is not invoice_id {}",
                    info.uuid,
                    invoice_id.code()
                )),
            ),
            Ok(info) => (info, None),
            Err(why) => (None, Some(why)),
        };
        Ok(Postback {
            status,
            invoice_id,
            amount_crypto,
            currency,
            order_id,
            token,
            invoice_info,
            invoice_info_ignored,
            format,
        })
    }

    /// The JSON body CryptoCloud would send (`invoice_id` bare, amount as a number).
    pub fn to_json_body(&self) -> Vec<u8> {
        #[derive(Serialize)]
        struct Wire<'a> {
            status: &'a str,
            invoice_id: &'a str,
            #[serde(with = "crate::decimal")]
            amount_crypto: Decimal,
            currency: &'a str,
            order_id: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            token: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            invoice_info: Option<&'a PostbackInvoiceInfo>,
        }
        let wire = Wire {
            status: &self.status,
            invoice_id: self.invoice_id.code(),
            amount_crypto: self.amount_crypto,
            currency: &self.currency,
            order_id: self.order_id.as_deref(),
            token: self.token.as_deref(),
            invoice_info: self.invoice_info.as_ref(),
        };
        // Plain strings, decimals and a derived struct: serialising cannot fail.
        serde_json::to_vec(&wire).unwrap_or_default()
    }

    /// The form body CryptoCloud would send; `invoice_info` becomes a JSON string.
    pub fn to_form_body(&self) -> String {
        let mut pairs: Vec<(&str, String)> = vec![
            ("status", self.status.clone()),
            ("invoice_id", self.invoice_id.code().to_owned()),
            ("amount_crypto", self.amount_crypto.to_string()),
            ("currency", self.currency.clone()),
            ("order_id", self.order_id.clone().unwrap_or_default()),
        ];
        if let Some(token) = &self.token {
            pairs.push(("token", token.clone()));
        }
        if let Some(info) = &self.invoice_info {
            pairs.push((
                "invoice_info",
                serde_json::to_string(info).unwrap_or_default(),
            ));
        }
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    }

    /// The body for `format`, with its content type.
    pub fn to_body(&self, format: PostbackFormat) -> (&'static str, Vec<u8>) {
        match format {
            PostbackFormat::Json => ("application/json", self.to_json_body()),
            PostbackFormat::Form => (
                "application/x-www-form-urlencoded",
                self.to_form_body().into_bytes(),
            ),
        }
    }
}

fn detect_format(content_type: Option<&str>, body: &[u8]) -> PostbackFormat {
    let declared = content_type.and_then(|ct| {
        let mime = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if mime == "application/json" || mime.ends_with("+json") {
            Some(PostbackFormat::Json)
        } else if mime == "application/x-www-form-urlencoded" {
            Some(PostbackFormat::Form)
        } else {
            None
        }
    });
    // The body is the better witness: a form never starts with `{` or `[`
    // (they would be percent-encoded), and a form without `=` carries nothing.
    let sniffed = match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{' | b'[') => Some(PostbackFormat::Json),
        Some(_) if body.contains(&b'=') => Some(PostbackFormat::Form),
        _ => None,
    };
    if let (Some(d), Some(s)) = (declared, sniffed) {
        if d != s {
            tracing::debug!(
                declared = d.as_str(),
                sniffed = s.as_str(),
                "postback content type disagrees with its body"
            );
        }
    }
    sniffed.or(declared).unwrap_or(PostbackFormat::Json)
}
