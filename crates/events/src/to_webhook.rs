//! The merchant's JSON body of an event on the bus: the protobuf message its routing key
//! names, decoded and mapped to [`MerchantEvent`]. The event id, type and time are the
//! message's own, so the same message always gives the same body.

use chrono::{DateTime, Utc};

use crate::webhook::{
    MerchantEvent, PaymentEvent, PaymentEventData, PaymentEventType, RenewalDueData,
    RenewalDueEvent, RenewalDueEventType, SubscriptionEvent, SubscriptionEventData,
    SubscriptionEventType,
};
use crate::{
    decode, from_timestamp, messaging as m, DecodeError, PaymentChanged, SubscriptionChanged,
    SubscriptionRenewalDue, SubscriptionUpgraded, Timestamp,
};

/// Why a message cannot be a webhook: nothing a retry would change.
#[derive(Debug, thiserror::Error)]
pub enum NotAnEvent {
    #[error("routing key `{0}` is not a merchant event type")]
    UnknownType(String),
    #[error(transparent)]
    Undecodable(#[from] DecodeError),
    #[error("{0} is missing or out of range")]
    Missing(&'static str),
}

impl MerchantEvent {
    /// The event `payload` carries, its type named by `routing_key`.
    pub fn from_message(routing_key: &str, payload: &[u8]) -> Result<Self, NotAnEvent> {
        let payment = |event_type| -> Result<Self, NotAnEvent> {
            let m: PaymentChanged = decode(payload)?;
            Ok(Self::Payment(PaymentEvent {
                id: non_empty(m.event_id, "event_id")?,
                event_type,
                created_at: time(m.occurred_at.as_ref(), "occurred_at")?,
                data: PaymentEventData {
                    user_id: m.user_id,
                    payment_id: m.payment_id,
                    invoice_id: m.invoice_id,
                    order_id: m.order_id,
                    status: m.status,
                    amount: m.amount,
                    currency: m.currency,
                    tier: m.tier,
                    months: m.months,
                },
            }))
        };
        let changed = |event_type| -> Result<Self, NotAnEvent> {
            let m: SubscriptionChanged = decode(payload)?;
            Ok(Self::Subscription(SubscriptionEvent {
                id: non_empty(m.event_id, "event_id")?,
                event_type,
                created_at: time(m.occurred_at.as_ref(), "occurred_at")?,
                data: SubscriptionEventData {
                    user_id: m.user_id,
                    tier: m.tier,
                    status: m.status,
                    expires_at: optional_time(m.expires_at.as_ref()),
                    renews: m.renews,
                    previous_tier: (!m.previous_tier.is_empty()).then_some(m.previous_tier),
                    previous_expires_at: optional_time(m.previous_expires_at.as_ref()),
                },
            }))
        };
        match routing_key {
            m::ROUTING_KEY_PAYMENT_COMPLETED => payment(PaymentEventType::Completed),
            m::ROUTING_KEY_PAYMENT_PARTIAL => payment(PaymentEventType::Partial),
            m::ROUTING_KEY_PAYMENT_CANCELED => payment(PaymentEventType::Canceled),
            m::ROUTING_KEY_GRACE_STARTED => changed(SubscriptionEventType::GraceStarted),
            m::ROUTING_KEY_SUBSCRIPTION_EXPIRED => changed(SubscriptionEventType::Expired),
            m::ROUTING_KEY_SUBSCRIPTION_CANCELED => changed(SubscriptionEventType::Canceled),
            m::ROUTING_KEY_SUBSCRIPTION_RESUMED => changed(SubscriptionEventType::Resumed),
            m::ROUTING_KEY_SUBSCRIPTION_UPGRADED => {
                let m: SubscriptionUpgraded = decode(payload)?;
                Ok(Self::Subscription(SubscriptionEvent {
                    id: non_empty(m.event_id, "event_id")?,
                    event_type: SubscriptionEventType::Upgraded,
                    created_at: time(m.occurred_at.as_ref(), "occurred_at")?,
                    data: SubscriptionEventData {
                        user_id: m.user_id,
                        tier: m.tier,
                        // A payment just extended it into the future.
                        status: "active".to_string(),
                        expires_at: Some(time(m.new_expiry.as_ref(), "new_expiry")?),
                        renews: m.renews,
                        previous_tier: (!m.previous_tier.is_empty()).then_some(m.previous_tier),
                        previous_expires_at: optional_time(m.previous_expires_at.as_ref()),
                    },
                }))
            }
            m::ROUTING_KEY_RENEWAL_DUE => {
                let m: SubscriptionRenewalDue = decode(payload)?;
                let created_at = time(m.occurred_at.as_ref(), "occurred_at")?;
                let expires_at = time(m.expires_at.as_ref(), "expires_at")?;
                Ok(Self::RenewalDue(RenewalDueEvent {
                    id: non_empty(m.event_id, "event_id")?,
                    event_type: RenewalDueEventType::RenewalDue,
                    created_at,
                    data: RenewalDueData {
                        user_id: m.user_id,
                        tier: m.tier,
                        status: if expires_at > created_at {
                            "active"
                        } else {
                            "grace"
                        }
                        .to_string(),
                        expires_at,
                        // Reminders go only to plans that renew.
                        renews: true,
                        payment_id: m.payment_id,
                        payment_url: m.payment_url,
                        amount: m.amount,
                        currency: m.currency,
                    },
                }))
            }
            other => Err(NotAnEvent::UnknownType(other.to_string())),
        }
    }

    /// The event id (`webhook-id`).
    pub fn id(&self) -> &str {
        match self {
            Self::Payment(e) => &e.id,
            Self::Subscription(e) => &e.id,
            Self::RenewalDue(e) => &e.id,
        }
    }

    /// When the change it reports was committed.
    pub fn created_at(&self) -> DateTime<Utc> {
        match self {
            Self::Payment(e) => e.created_at,
            Self::Subscription(e) => e.created_at,
            Self::RenewalDue(e) => e.created_at,
        }
    }
}

fn non_empty(s: String, field: &'static str) -> Result<String, NotAnEvent> {
    if s.is_empty() {
        Err(NotAnEvent::Missing(field))
    } else {
        Ok(s)
    }
}

fn time(ts: Option<&Timestamp>, field: &'static str) -> Result<DateTime<Utc>, NotAnEvent> {
    ts.and_then(from_timestamp)
        .ok_or(NotAnEvent::Missing(field))
}

fn optional_time(ts: Option<&Timestamp>) -> Option<DateTime<Utc>> {
    ts.and_then(from_timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{encode, to_timestamp};
    use chrono::TimeZone;

    #[test]
    fn every_type_of_the_catalogue_has_a_body() {
        let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        for kind in crate::webhook::EVENT_KINDS {
            let payload = match kind.envelope {
                crate::webhook::Envelope::Payment => encode(&PaymentChanged {
                    event_id: "e1".into(),
                    occurred_at: Some(to_timestamp(at)),
                    ..Default::default()
                }),
                crate::webhook::Envelope::RenewalDue => encode(&SubscriptionRenewalDue {
                    event_id: "e1".into(),
                    occurred_at: Some(to_timestamp(at)),
                    expires_at: Some(to_timestamp(at)),
                    ..Default::default()
                }),
                crate::webhook::Envelope::Subscription
                    if kind.name == m::ROUTING_KEY_SUBSCRIPTION_UPGRADED =>
                {
                    encode(&SubscriptionUpgraded {
                        event_id: "e1".into(),
                        occurred_at: Some(to_timestamp(at)),
                        new_expiry: Some(to_timestamp(at)),
                        ..Default::default()
                    })
                }
                crate::webhook::Envelope::Subscription => encode(&SubscriptionChanged {
                    event_id: "e1".into(),
                    occurred_at: Some(to_timestamp(at)),
                    ..Default::default()
                }),
            };
            let event = MerchantEvent::from_message(kind.name, &payload).unwrap();
            let json = serde_json::to_value(&event).unwrap();
            assert_eq!(json["type"], kind.name);
            assert_eq!(event.id(), "e1");
            assert_eq!(event.created_at(), at);
        }
    }

    #[test]
    fn what_is_not_an_event_says_why() {
        assert!(matches!(
            MerchantEvent::from_message("postback.cryptocloud", b""),
            Err(NotAnEvent::UnknownType(_))
        ));
        assert!(matches!(
            MerchantEvent::from_message(m::ROUTING_KEY_PAYMENT_COMPLETED, &[0xff, 0xff]),
            Err(NotAnEvent::Undecodable(_))
        ));
        // No id: it could not be deduplicated, so it is refused rather than sent.
        let no_id = encode(&PaymentChanged::default());
        assert!(matches!(
            MerchantEvent::from_message(m::ROUTING_KEY_PAYMENT_COMPLETED, &no_id),
            Err(NotAnEvent::Missing("event_id"))
        ));
    }
}
