//! Closing an open invoice without payment: canceled by its owner, or canceled or expired
//! at CryptoCloud.

use cryptocloud::InvoiceId;
use sqlx::PgPool;

use crate::announce::{self, PaymentFacts};
use crate::{PaymentRecord, PaymentStatus, Tier, UserId};

/// An open payment → `canceled`, for its owner, with its `payment.canceled` event. `None`
/// when it is not (or no longer) open.
#[tracing::instrument(skip(pool))]
pub async fn cancel_for_user(
    pool: &PgPool,
    user: UserId,
    id: i64,
) -> sqlx::Result<Option<PaymentRecord>> {
    let mut tx = pool.begin().await?;
    let record = sqlx::query_as!(
        PaymentRecord,
        r#"UPDATE payments SET status = 'canceled', updated_at = now()
           WHERE id = $1 AND user_id = $2 AND status = ANY($3::text[])
           RETURNING id, user_id AS "user_id: UserId", invoice_id, order_id, amount, currency,
                     payment_method, status AS "status: PaymentStatus",
                     subscription_tier AS "subscription_tier: Tier", subscription_months,
                     payment_url, failure_reason, created_at, updated_at, paid_at"#,
        id,
        user.get(),
        &PaymentStatus::sources_of(PaymentStatus::Canceled),
    )
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(p) = &record {
        announce::payment(&mut tx, PaymentStatus::Canceled, facts_of(p)).await?;
    }
    tx.commit().await?;
    Ok(record)
}

fn facts_of(p: &PaymentRecord) -> PaymentFacts<'_> {
    PaymentFacts {
        payment_id: p.id,
        user_id: p.user_id,
        invoice_id: p.invoice_id.as_deref(),
        order_id: &p.order_id,
        amount: p.amount,
        currency: &p.currency,
        tier: &p.subscription_tier,
        months: p.subscription_months,
    }
}

/// The still-open payment of `invoice_id` → `to` (`canceled` or `expired`), a cancel with
/// its `payment.canceled` event; false when it was no longer open.
#[tracing::instrument(skip(pool))]
pub async fn close_invoice(
    pool: &PgPool,
    invoice_id: &InvoiceId,
    to: PaymentStatus,
) -> sqlx::Result<bool> {
    debug_assert!(matches!(
        to,
        PaymentStatus::Canceled | PaymentStatus::Expired
    ));
    let forms = vec![invoice_id.prefixed(), invoice_id.code().to_string()];
    let mut tx = pool.begin().await?;
    let closed = sqlx::query_as!(
        PaymentRecord,
        r#"UPDATE payments SET status = $2, updated_at = now()
           WHERE invoice_id = ANY($1::text[]) AND status = ANY($3::text[])
           RETURNING id, user_id AS "user_id: UserId", invoice_id, order_id, amount, currency,
                     payment_method, status AS "status: PaymentStatus",
                     subscription_tier AS "subscription_tier: Tier", subscription_months,
                     payment_url, failure_reason, created_at, updated_at, paid_at"#,
        &forms,
        to.as_str(),
        &PaymentStatus::sources_of(to),
    )
    .fetch_all(&mut *tx)
    .await?;
    for p in &closed {
        announce::payment(&mut tx, to, facts_of(p)).await?;
    }
    tx.commit().await?;
    Ok(!closed.is_empty())
}
