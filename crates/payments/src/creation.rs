//! A payment's first steps: the row is committed `creating` with our order id before
//! CryptoCloud is called with it, then becomes `pending` with the invoice or `failed` with
//! the reason. A `pending` row always has its invoice (a check constraint enforces it too).

use rust_decimal::Decimal;
use sqlx::PgExecutor;

use crate::{OrderId, PaymentRecord, PaymentStatus, Tier, UserId};

/// A payment about to be asked for.
pub struct NewPayment<'a> {
    pub user: UserId,
    pub order_id: &'a OrderId,
    pub amount: Decimal,
    pub currency: &'a str,
    /// A CryptoCloud coin code the invoice is restricted to; `None`: the payer picks.
    pub payment_method: Option<&'a str>,
    pub tier: &'a Tier,
    pub months: u32,
    /// Stored as `payment_data` until the invoice replaces it (e.g. `{"kind": "renewal"}`).
    pub payment_data: Option<serde_json::Value>,
}

/// Inserts the row in `creating`; the user's row is created on their first checkout in the
/// same statement (one round trip, one commit). Returns the new id.
#[tracing::instrument(skip_all, fields(order_id = %new.order_id))]
pub async fn insert_creating(db: impl PgExecutor<'_>, new: &NewPayment<'_>) -> sqlx::Result<i64> {
    let months = i32::try_from(new.months).expect("months are at most 120");
    sqlx::query_scalar!(
        "WITH new_user AS (INSERT INTO users (id) VALUES ($1) ON CONFLICT (id) DO NOTHING) \
         INSERT INTO payments \
            (user_id, order_id, amount, currency, payment_method, status, subscription_tier, \
             subscription_months, payment_data) \
         VALUES ($1, $2, $3, $4, $5, 'creating', $6, $7, $8) \
         RETURNING id",
        new.user.get(),
        new.order_id.as_str(),
        new.amount,
        new.currency,
        new.payment_method,
        new.tier.as_str(),
        months,
        new.payment_data,
    )
    .fetch_one(db)
    .await
}

/// `creating` → `pending` with the invoice (stored with its `INV-` prefix).
#[tracing::instrument(skip(db, payment_data))]
pub async fn mark_pending(
    db: impl PgExecutor<'_>,
    id: i64,
    invoice_id: &str,
    payment_url: &str,
    payment_data: serde_json::Value,
) -> sqlx::Result<PaymentRecord> {
    sqlx::query_as!(
        PaymentRecord,
        r#"UPDATE payments
           SET status = 'pending', invoice_id = $2, payment_url = $3,
               payment_data = COALESCE(payment_data, '{}'::jsonb) || $4, updated_at = now()
           WHERE id = $1 AND status = ANY($5::text[])
           RETURNING id, user_id AS "user_id: UserId", invoice_id, order_id, amount, currency,
                     payment_method, status AS "status: PaymentStatus",
                     subscription_tier AS "subscription_tier: Tier", subscription_months,
                     payment_url, failure_reason, created_at, updated_at, paid_at"#,
        id,
        invoice_id,
        payment_url,
        payment_data,
        &PaymentStatus::sources_of(PaymentStatus::Pending),
    )
    .fetch_one(db)
    .await
}

/// `creating` → `failed`, keeping the reason code and the details.
#[tracing::instrument(skip(db, details))]
pub async fn mark_failed(
    db: impl PgExecutor<'_>,
    id: i64,
    reason: &str,
    details: serde_json::Value,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE payments \
         SET status = 'failed', failure_reason = $2, \
             payment_data = COALESCE(payment_data, '{}'::jsonb) || $3, updated_at = now() \
         WHERE id = $1 AND status = ANY($4::text[])",
        id,
        reason,
        details,
        &PaymentStatus::sources_of(PaymentStatus::Failed),
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Marks payments stuck in `creating` for `minutes` as `failed` (reason `abandoned`): a
/// checkout crashed between CryptoCloud's answer and its own commit, and its caller never
/// got a payment URL. Safe even if that invoice is paid later: the payment is still found by
/// its order id and completed. Returns how many.
#[tracing::instrument(skip(db))]
pub async fn fail_abandoned(db: impl PgExecutor<'_>, minutes: i32) -> sqlx::Result<u64> {
    let result = sqlx::query!(
        "UPDATE payments SET status = 'failed', failure_reason = 'abandoned', updated_at = now() \
         WHERE status = 'creating' AND created_at < now() - make_interval(mins => $1)",
        minutes
    )
    .execute(db)
    .await?;
    Ok(result.rows_affected())
}
