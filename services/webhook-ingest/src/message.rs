//! The event published for an accepted postback, its deterministic id and its AMQP
//! properties.

use chrono::{DateTime, Utc};
use cryptocloud::{InvoiceId, PostbackFormat};
use events::{Event, PostbackReceived, SourceFormat};
use platform::broker::lapin::BasicProperties;
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

use crate::fields::{CurrencyCode, Status};

pub const APP_ID: &str = "webhook-ingest";

/// A postback that passed every check, ready to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct AcceptedPostback {
    pub message_id: String,
    pub invoice_id: InvoiceId,
    pub order_id: Option<String>,
    pub postback_status: Status,
    pub invoice_status: Option<Status>,
    pub amount_crypto: Decimal,
    pub currency: CurrencyCode,
    pub format: PostbackFormat,
    pub received_at: DateTime<Utc>,
}

/// The id of a postback: the same for every resend of one notification (so the worker
/// deduplicates), different when the invoice moves on (`partial`, then `paid`).
///
/// The identity is the invoice, its status (`invoice_info.status` when sent, else the
/// top-level status) and the amount. The amount is part of it because form postbacks
/// may carry no `invoice_info`, where a top-up after a partial payment would otherwise
/// look like a resend of the first notification and be dropped as a duplicate.
pub fn message_id(invoice: &InvoiceId, status: &Status, amount: Decimal) -> String {
    let identity = format!(
        "cryptocloud|{}|{}|{}",
        invoice.code(),
        status.as_str(),
        amount.normalize()
    );
    let digest = Sha256::digest(identity.as_bytes());
    format!("cc-{}", &hex::encode(digest)[..32])
}

impl AcceptedPostback {
    /// The protobuf event.
    pub fn to_event(&self) -> PostbackReceived {
        PostbackReceived {
            message_id: self.message_id.clone(),
            invoice_id: self.invoice_id.code().to_owned(),
            order_id: self.order_id.clone().unwrap_or_default(),
            postback_status: self.postback_status.as_str().to_owned(),
            invoice_status: self
                .invoice_status
                .as_ref()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            amount_crypto: self.amount_crypto.to_string(),
            crypto_currency: self.currency.as_str().to_owned(),
            received_at: Some(events::to_timestamp(self.received_at)),
            source_format: match self.format {
                PostbackFormat::Json => SourceFormat::Json,
                PostbackFormat::Form => SourceFormat::Form,
            } as i32,
        }
    }

    /// Persistent (delivery mode 2), typed and stamped with the deterministic id.
    pub fn properties(&self) -> BasicProperties {
        BasicProperties::default()
            .with_message_id(self.message_id.as_str().into())
            .with_content_type(events::CONTENT_TYPE.into())
            .with_type(PostbackReceived::EVENT_TYPE.into())
            .with_app_id(APP_ID.into())
            .with_timestamp(self.received_at.timestamp().max(0) as u64)
            .with_delivery_mode(2)
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn id(invoice: &str, status: &str, amount: &str) -> String {
        message_id(
            &InvoiceId::parse(invoice).unwrap(),
            &Status::parse(status).unwrap(),
            Decimal::from_str(amount).unwrap(),
        )
    }

    #[test]
    fn the_same_postback_always_gets_the_same_id() {
        let a = id("7Q2K9XAB", "paid", "25.012");
        assert_eq!(
            a,
            id("INV-7q2k9xab", "PAID", "25.0120"),
            "prefix, case and trailing zeros do not matter"
        );
        assert!(a.starts_with("cc-") && a.len() == 35, "{a}");
        assert!(a[3..].bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn a_new_state_of_the_invoice_gets_a_new_id() {
        let partial = id("7Q2K9XAB", "partial", "10");
        let paid = id("7Q2K9XAB", "paid", "25");
        let top_up = id("7Q2K9XAB", "success", "15");
        let first = id("7Q2K9XAB", "success", "10");
        let other_invoice = id("7Q2K9XAC", "paid", "25");
        let all = [partial, paid, top_up, first, other_invoice];
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }
}
