//! Merchant webhooks: the JSON body the event dispatcher POSTs to every endpoint subscribed
//! to an event's type, `{"id", "type", "created_at", "data": {...}}`, and the Standard
//! Webhooks headers that sign it (`docs/architecture.md`, "Contract: merchant events and
//! webhooks"). Checkout's API document lists them under `webhooks`, so a merchant can
//! generate types for what it receives.
//!
//! Amounts are decimal strings, never numbers; times are RFC 3339 in UTC.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The event id, the same on every retry and resend of one event.
pub const HEADER_ID: &str = "webhook-id";
/// Unix seconds of this attempt.
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
/// `v1,` + base64 of HMAC-SHA256 over `{id}.{timestamp}.{body}` with the endpoint's secret.
pub const HEADER_SIGNATURE: &str = "webhook-signature";

/// The type of a payment event; also its routing key on the exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum PaymentEventType {
    #[serde(rename = "payment.completed")]
    Completed,
    #[serde(rename = "payment.partial")]
    Partial,
    #[serde(rename = "payment.canceled")]
    Canceled,
}

/// The type of a subscription event (other than `subscription.renewal_due`); also its
/// routing key on the exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum SubscriptionEventType {
    #[serde(rename = "subscription.upgraded")]
    Upgraded,
    #[serde(rename = "subscription.grace_started")]
    GraceStarted,
    #[serde(rename = "subscription.expired")]
    Expired,
    #[serde(rename = "subscription.canceled")]
    Canceled,
    #[serde(rename = "subscription.resumed")]
    Resumed,
}

/// The type of a renewal reminder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum RenewalDueEventType {
    #[serde(rename = "subscription.renewal_due")]
    RenewalDue,
}

/// A payment became `completed` or `partial`, or was canceled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PaymentEvent {
    /// The event id, also sent as `webhook-id`.
    #[schema(example = "evt_01939b4f0c5e7d2a9b3c4d5e6f708192")]
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: PaymentEventType,
    pub created_at: DateTime<Utc>,
    pub data: PaymentEventData,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PaymentEventData {
    #[schema(example = 42)]
    pub user_id: i64,
    #[schema(example = 1001)]
    pub payment_id: i64,
    /// With the `INV-` prefix.
    #[schema(example = "INV-7Q2K9XAB")]
    pub invoice_id: String,
    #[schema(example = "ord_01939b4f0c5e7d2a9b3c4d5e6f708192")]
    pub order_id: String,
    /// The payment's status after the change: `completed`, `partial` or `canceled`.
    #[schema(example = "completed")]
    pub status: String,
    /// Decimal string.
    #[schema(example = "99.00")]
    pub amount: String,
    #[schema(example = "USD")]
    pub currency: String,
    #[schema(example = "pro")]
    pub tier: String,
    #[schema(example = 1)]
    pub months: u32,
}

/// A user's plan changed: upgraded (or extended), grace started, expired, canceled (it
/// will not renew) or resumed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SubscriptionEvent {
    /// The event id, also sent as `webhook-id`.
    #[schema(example = "evt_01939b4f0c5e7d2a9b3c4d5e6f708192")]
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: SubscriptionEventType,
    pub created_at: DateTime<Utc>,
    pub data: SubscriptionEventData,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SubscriptionEventData {
    #[schema(example = 42)]
    pub user_id: i64,
    /// The tier after the change.
    #[schema(example = "pro")]
    pub tier: String,
    /// `free`, `active` or `grace`.
    #[schema(example = "active")]
    pub status: String,
    /// When the paid plan ends; null on `free`.
    #[schema(required = true)]
    pub expires_at: Option<DateTime<Utc>>,
    /// False once the user canceled: the plan ends at `expires_at`.
    pub renews: bool,
    /// The tier before, present only when the tier changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "free")]
    pub previous_tier: Option<String>,
    /// The expiry before, present only when the expiry changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_expires_at: Option<DateTime<Utc>>,
}

/// A reminder that a paid plan is about to end, with the renewal invoice to pay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RenewalDueEvent {
    /// The event id, also sent as `webhook-id`.
    #[schema(example = "evt_01939b4f0c5e7d2a9b3c4d5e6f708192")]
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: RenewalDueEventType,
    pub created_at: DateTime<Utc>,
    pub data: RenewalDueData,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RenewalDueData {
    #[schema(example = 42)]
    pub user_id: i64,
    #[schema(example = "pro")]
    pub tier: String,
    /// `active` or `grace`.
    #[schema(example = "active")]
    pub status: String,
    /// When the paid plan ends unless the renewal is paid.
    pub expires_at: DateTime<Utc>,
    pub renews: bool,
    /// The renewal payment.
    #[schema(example = 1002)]
    pub payment_id: i64,
    /// CryptoCloud's payment page of the renewal invoice.
    pub payment_url: String,
    /// Decimal string.
    #[schema(example = "99.00")]
    pub amount: String,
    #[schema(example = "USD")]
    pub currency: String,
}

/// Any webhook body; `type` tells which.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum MerchantEvent {
    Payment(PaymentEvent),
    Subscription(SubscriptionEvent),
    RenewalDue(RenewalDueEvent),
}

/// Which body an event type is sent with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Envelope {
    Payment,
    Subscription,
    RenewalDue,
}

/// One event type a merchant can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventKind {
    /// `payment.completed`, …: the `type` field and the routing key.
    pub name: &'static str,
    pub envelope: Envelope,
    /// When it is sent.
    pub when: &'static str,
}

/// Every event type, in the contract's order.
pub const EVENT_KINDS: [EventKind; 9] = [
    kind(
        "payment.completed",
        Envelope::Payment,
        "A payment became `completed`.",
    ),
    kind(
        "payment.partial",
        Envelope::Payment,
        "A payment became `partial` (part of the amount arrived).",
    ),
    kind(
        "payment.canceled",
        Envelope::Payment,
        "A payment was canceled (by the user, or a renewal invoice at expiry).",
    ),
    kind(
        "subscription.upgraded",
        Envelope::Subscription,
        "A completed payment changed the tier or the expiry.",
    ),
    kind(
        "subscription.renewal_due",
        Envelope::RenewalDue,
        "The plan is within a notice window of its expiry; carries the renewal invoice.",
    ),
    kind(
        "subscription.grace_started",
        Envelope::Subscription,
        "The plan expired and the grace period started: the tier is kept until it ends.",
    ),
    kind(
        "subscription.expired",
        Envelope::Subscription,
        "The plan ended: the user is back on `free`.",
    ),
    kind(
        "subscription.canceled",
        Envelope::Subscription,
        "The user canceled: the plan stays until expiry and does not renew.",
    ),
    kind(
        "subscription.resumed",
        Envelope::Subscription,
        "The user undid a cancel: the plan renews again.",
    ),
];

const fn kind(name: &'static str, envelope: Envelope, when: &'static str) -> EventKind {
    EventKind {
        name,
        envelope,
        when,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn type_name<T: Serialize>(t: T) -> String {
        serde_json::to_value(t)
            .unwrap()
            .as_str()
            .unwrap()
            .to_string()
    }

    /// The list and the three `type` enums name the same nine types.
    #[test]
    fn every_kind_is_a_type_of_its_envelope() {
        let mut named: Vec<(String, Envelope)> = Vec::new();
        for t in [
            PaymentEventType::Completed,
            PaymentEventType::Partial,
            PaymentEventType::Canceled,
        ] {
            named.push((type_name(t), Envelope::Payment));
        }
        for t in [
            SubscriptionEventType::Upgraded,
            SubscriptionEventType::GraceStarted,
            SubscriptionEventType::Expired,
            SubscriptionEventType::Canceled,
            SubscriptionEventType::Resumed,
        ] {
            named.push((type_name(t), Envelope::Subscription));
        }
        named.push((
            type_name(RenewalDueEventType::RenewalDue),
            Envelope::RenewalDue,
        ));
        let mut listed: Vec<(String, Envelope)> = EVENT_KINDS
            .iter()
            .map(|k| (k.name.to_string(), k.envelope))
            .collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        listed.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(named, listed);
    }

    #[test]
    fn a_body_reads_back_as_the_event_its_type_names() {
        let body = serde_json::json!({
            "id": "evt_1",
            "type": "subscription.canceled",
            "created_at": "2025-01-01T00:00:00Z",
            "data": {"user_id": 1, "tier": "pro", "status": "active",
                     "expires_at": "2025-02-01T00:00:00Z", "renews": false},
        });
        let event: MerchantEvent = serde_json::from_value(body.clone()).unwrap();
        let MerchantEvent::Subscription(event) = &event else {
            panic!("{event:?}");
        };
        assert_eq!(event.event_type, SubscriptionEventType::Canceled);
        // Unchanged fields are left out, not sent as null.
        assert_eq!(serde_json::to_value(event).unwrap(), body);
        let payment = serde_json::json!({
            "id": "evt_2", "type": "payment.completed", "created_at": "2025-01-01T00:00:00Z",
            "data": {"user_id": 1, "payment_id": 2, "invoice_id": "INV-A", "order_id": "ord_1",
                     "status": "completed", "amount": "99.00", "currency": "USD", "tier": "pro", "months": 1},
        });
        assert!(matches!(
            serde_json::from_value(payment).unwrap(),
            MerchantEvent::Payment(_)
        ));
    }
}
