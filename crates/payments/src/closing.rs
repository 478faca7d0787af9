//! Closing an open invoice without payment: canceled by its owner, or canceled or expired
//! at CryptoCloud.

use cryptocloud::InvoiceId;
use sqlx::PgExecutor;

use crate::{PaymentRecord, PaymentStatus, Tier, UserId};

/// An open payment → `canceled`, for its owner. `None` when it is not (or no longer) open.
#[tracing::instrument(skip(db))]
pub async fn cancel_for_user(
    db: impl PgExecutor<'_>,
    user: UserId,
    id: i64,
) -> sqlx::Result<Option<PaymentRecord>> {
    sqlx::query_as!(
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
    .fetch_optional(db)
    .await
}

/// The still-open payment of `invoice_id` → `to` (`canceled` or `expired`); false when it
/// was no longer open.
#[tracing::instrument(skip(db))]
pub async fn close_invoice(
    db: impl PgExecutor<'_>,
    invoice_id: &InvoiceId,
    to: PaymentStatus,
) -> sqlx::Result<bool> {
    debug_assert!(matches!(
        to,
        PaymentStatus::Canceled | PaymentStatus::Expired
    ));
    let forms = vec![invoice_id.prefixed(), invoice_id.code().to_string()];
    let done = sqlx::query!(
        r#"UPDATE payments SET status = $2, updated_at = now()
           WHERE invoice_id = ANY($1::text[]) AND status = ANY($3::text[])"#,
        &forms,
        to.as_str(),
        &PaymentStatus::sources_of(to),
    )
    .execute(db)
    .await?
    .rows_affected();
    Ok(done > 0)
}
