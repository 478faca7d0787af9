//! The `payments` rows: created `creating`, then `pending` with the invoice or `failed`
//! with the reason; read back per user; cancelled while pending.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::PgPool;

use crate::domain::{OrderId, PaymentMethod, PaymentStatus, UserId};

/// One payment as stored.
#[derive(Debug, Clone)]
pub struct PaymentRecord {
    pub id: i64,
    pub user_id: i64,
    pub invoice_id: Option<String>,
    pub order_id: String,
    pub amount: Decimal,
    pub currency: String,
    pub payment_method: Option<String>,
    pub status: String,
    pub subscription_tier: String,
    pub subscription_months: i32,
    pub payment_url: Option<String>,
    pub failure_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
}

impl PaymentRecord {
    pub fn status(&self) -> Option<PaymentStatus> {
        PaymentStatus::parse(&self.status)
    }
}

/// A payment about to be asked for.
pub struct NewPayment<'a> {
    pub user: UserId,
    pub order_id: &'a OrderId,
    pub amount: Decimal,
    pub currency: &'a str,
    pub payment_method: Option<&'a PaymentMethod>,
    pub tier: &'a str,
    pub months: u32,
}

/// Inserts the row in `creating`, before CryptoCloud is called, so an invoice can never
/// exist without its row; the user's row is created on their first checkout in the same
/// statement (one round trip, one commit). Returns the new id.
#[tracing::instrument(skip_all, fields(order_id = %new.order_id))]
pub async fn insert_creating(pool: &PgPool, new: &NewPayment<'_>) -> sqlx::Result<i64> {
    let months = i32::try_from(new.months).expect("months are at most 120");
    sqlx::query_scalar!(
        "WITH new_user AS (INSERT INTO users (id) VALUES ($1) ON CONFLICT (id) DO NOTHING) \
         INSERT INTO payments \
            (user_id, order_id, amount, currency, payment_method, status, subscription_tier, subscription_months) \
         VALUES ($1, $2, $3, $4, $5, 'creating', $6, $7) \
         RETURNING id",
        new.user.get(),
        new.order_id.as_str(),
        new.amount,
        new.currency,
        new.payment_method.map(PaymentMethod::as_str),
        new.tier,
        months
    )
    .fetch_one(pool)
    .await
}

/// `creating` → `pending` with the invoice (stored with its `INV-` prefix).
#[tracing::instrument(skip(pool, payment_data))]
pub async fn mark_pending(
    pool: &PgPool,
    id: i64,
    invoice_id: &str,
    payment_url: &str,
    payment_data: serde_json::Value,
) -> sqlx::Result<PaymentRecord> {
    sqlx::query_as!(
        PaymentRecord,
        "UPDATE payments \
         SET status = 'pending', invoice_id = $2, payment_url = $3, payment_data = $4, updated_at = now() \
         WHERE id = $1 AND status = 'creating' \
         RETURNING id, user_id, invoice_id, order_id, amount, currency, payment_method, status, \
                   subscription_tier, subscription_months, payment_url, failure_reason, \
                   created_at, updated_at, paid_at",
        id,
        invoice_id,
        payment_url,
        payment_data
    )
    .fetch_one(pool)
    .await
}

/// `creating` → `failed`, keeping the reason code and the details.
#[tracing::instrument(skip(pool, details))]
pub async fn mark_failed(
    pool: &PgPool,
    id: i64,
    reason: &str,
    details: serde_json::Value,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE payments \
         SET status = 'failed', failure_reason = $2, payment_data = $3, updated_at = now() \
         WHERE id = $1 AND status = 'creating'",
        id,
        reason,
        details
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// The payment `id` if it belongs to `user`; anyone else's is `None`, like a missing one.
#[tracing::instrument(skip(pool))]
pub async fn find_for_user(
    pool: &PgPool,
    user: UserId,
    id: i64,
) -> sqlx::Result<Option<PaymentRecord>> {
    sqlx::query_as!(
        PaymentRecord,
        "SELECT id, user_id, invoice_id, order_id, amount, currency, payment_method, status, \
                subscription_tier, subscription_months, payment_url, failure_reason, \
                created_at, updated_at, paid_at \
         FROM payments WHERE id = $1 AND user_id = $2",
        id,
        user.get()
    )
    .fetch_optional(pool)
    .await
}

/// Where a page of history starts: after the row with this `(created_at, id)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: DateTime<Utc>,
    pub id: i64,
}

impl Cursor {
    pub fn of(record: &PaymentRecord) -> Self {
        Self {
            created_at: record.created_at,
            id: record.id,
        }
    }

    /// `<microseconds since the epoch>_<id>`.
    pub fn encode(&self) -> String {
        format!("{}_{}", self.created_at.timestamp_micros(), self.id)
    }

    pub fn decode(text: &str) -> Option<Self> {
        let (micros, id) = text.split_once('_')?;
        let micros: i64 = micros.parse().ok()?;
        let id: i64 = id.parse().ok()?;
        Some(Self {
            created_at: DateTime::from_timestamp_micros(micros)?,
            id,
        })
    }
}

/// A user's payments, newest first: after `cursor` when given, else skipping `offset`.
#[tracing::instrument(skip(pool))]
pub async fn list_for_user(
    pool: &PgPool,
    user: UserId,
    cursor: Option<Cursor>,
    offset: i64,
    limit: i64,
) -> sqlx::Result<Vec<PaymentRecord>> {
    sqlx::query_as!(
        PaymentRecord,
        "SELECT id, user_id, invoice_id, order_id, amount, currency, payment_method, status, \
                subscription_tier, subscription_months, payment_url, failure_reason, \
                created_at, updated_at, paid_at \
         FROM payments \
         WHERE user_id = $1 \
           AND ($2::timestamptz IS NULL OR (created_at, id) < ($2::timestamptz, $3::bigint)) \
         ORDER BY created_at DESC, id DESC \
         OFFSET $4 LIMIT $5",
        user.get(),
        cursor.map(|c| c.created_at),
        cursor.map(|c| c.id),
        offset,
        limit
    )
    .fetch_all(pool)
    .await
}

/// `pending` → `canceled` for the owner. `None` when the payment is not (or no longer)
/// pending.
#[tracing::instrument(skip(pool))]
pub async fn mark_canceled(
    pool: &PgPool,
    user: UserId,
    id: i64,
) -> sqlx::Result<Option<PaymentRecord>> {
    sqlx::query_as!(
        PaymentRecord,
        "UPDATE payments SET status = 'canceled', updated_at = now() \
         WHERE id = $1 AND user_id = $2 AND status = 'pending' \
         RETURNING id, user_id, invoice_id, order_id, amount, currency, payment_method, status, \
                   subscription_tier, subscription_months, payment_url, failure_reason, \
                   created_at, updated_at, paid_at",
        id,
        user.get()
    )
    .fetch_optional(pool)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let c = Cursor {
            created_at: DateTime::from_timestamp_micros(1_733_000_000_123_456).unwrap(),
            id: 42,
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        for bad in [
            "",
            "_",
            "1_",
            "_1",
            "a_1",
            "1_b",
            "1-2",
            "99999999999999999999_1",
        ] {
            assert_eq!(Cursor::decode(bad), None, "{bad}");
        }
    }
}
