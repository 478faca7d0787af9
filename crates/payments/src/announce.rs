//! The merchant events of the state changes made here, written to the outbox in the
//! transaction of the change; the worker's relay publishes them after commit. An event's
//! id is derived from the change (the payment and type, or the user and expiry), and an id
//! already in the outbox is left as it is, so a repeated change never makes a second event.

use chrono::{DateTime, Utc};
use events::messaging as keys;
use sqlx::PgConnection;

use crate::{PaymentStatus, Tier, UserId};

/// Writes an event, encoded, routed by `routing_key`.
#[tracing::instrument(skip(conn, event))]
pub async fn write<E: events::prost::Message>(
    conn: &mut PgConnection,
    event_id: &str,
    routing_key: &str,
    event: &E,
) -> sqlx::Result<()> {
    sqlx::query!(
        r#"INSERT INTO outbox_events (event_id, routing_key, payload)
           VALUES ($1, $2, $3)
           ON CONFLICT (event_id) DO NOTHING"#,
        event_id,
        routing_key,
        events::encode(event),
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// What a payment event says about the payment.
#[derive(Debug, Clone)]
pub struct PaymentFacts<'a> {
    pub payment_id: i64,
    pub user_id: UserId,
    pub invoice_id: Option<&'a str>,
    pub order_id: &'a str,
    pub amount: rust_decimal::Decimal,
    pub currency: &'a str,
    pub tier: &'a Tier,
    pub months: i32,
}

/// `payment.completed`, `payment.partial` or `payment.canceled`: one per payment and status.
pub async fn payment(
    conn: &mut PgConnection,
    status: PaymentStatus,
    facts: PaymentFacts<'_>,
) -> sqlx::Result<()> {
    let routing_key = match status {
        PaymentStatus::Completed => keys::ROUTING_KEY_PAYMENT_COMPLETED,
        PaymentStatus::Partial => keys::ROUTING_KEY_PAYMENT_PARTIAL,
        PaymentStatus::Canceled => keys::ROUTING_KEY_PAYMENT_CANCELED,
        // No merchant event for the others (see the catalogue).
        _ => return Ok(()),
    };
    let event_id = format!("{routing_key}-{}", facts.payment_id);
    let event = events::PaymentChanged {
        event_id: event_id.clone(),
        user_id: facts.user_id.get(),
        payment_id: facts.payment_id,
        invoice_id: facts.invoice_id.unwrap_or_default().to_string(),
        order_id: facts.order_id.to_string(),
        status: status.as_str().to_string(),
        amount: facts.amount.to_string(),
        currency: facts.currency.to_string(),
        tier: facts.tier.to_string(),
        months: facts.months.max(0) as u32,
        occurred_at: Some(events::to_timestamp(Utc::now())),
    };
    write(conn, &event_id, routing_key, &event).await
}

/// A plan change without a payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanChange {
    GraceStarted,
    Expired,
    Canceled,
    Resumed,
}

impl PlanChange {
    fn routing_key(self) -> &'static str {
        match self {
            PlanChange::GraceStarted => keys::ROUTING_KEY_GRACE_STARTED,
            PlanChange::Expired => keys::ROUTING_KEY_SUBSCRIPTION_EXPIRED,
            PlanChange::Canceled => keys::ROUTING_KEY_SUBSCRIPTION_CANCELED,
            PlanChange::Resumed => keys::ROUTING_KEY_SUBSCRIPTION_RESUMED,
        }
    }
}

/// The plan as the change left it.
#[derive(Debug, Clone)]
pub struct PlanFacts<'a> {
    pub user_id: UserId,
    pub tier: &'a Tier,
    /// `free`, `active` or `grace`.
    pub status: &'static str,
    pub expires_at: Option<DateTime<Utc>>,
    pub renews: bool,
    pub previous_tier: Option<&'a Tier>,
}

/// `subscription.grace_started`, `.expired`, `.canceled` or `.resumed`. `key` names the
/// change (the expiry, or the commit's own id for a cancel or resume, which a user may do
/// more than once per expiry).
pub async fn plan(
    conn: &mut PgConnection,
    change: PlanChange,
    key: &str,
    facts: PlanFacts<'_>,
) -> sqlx::Result<()> {
    let routing_key = change.routing_key();
    let event_id = format!("{routing_key}-{}-{key}", facts.user_id.get());
    let event = events::SubscriptionChanged {
        event_id: event_id.clone(),
        user_id: facts.user_id.get(),
        tier: facts.tier.to_string(),
        status: facts.status.to_string(),
        expires_at: facts.expires_at.map(events::to_timestamp),
        renews: facts.renews,
        previous_tier: facts
            .previous_tier
            .map(ToString::to_string)
            .unwrap_or_default(),
        previous_expires_at: None,
        occurred_at: Some(events::to_timestamp(Utc::now())),
    };
    write(conn, &event_id, routing_key, &event).await
}
