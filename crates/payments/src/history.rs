//! Reading a user's payments: one, or a page of history newest first.

use sqlx::PgExecutor;

use crate::{Cursor, PaymentRecord, PaymentStatus, Tier, UserId};

/// The payment `id` if it belongs to `user`; anyone else's is `None`, like a missing one.
#[tracing::instrument(skip(db))]
pub async fn find_for_user(
    db: impl PgExecutor<'_>,
    user: UserId,
    id: i64,
) -> sqlx::Result<Option<PaymentRecord>> {
    sqlx::query_as!(
        PaymentRecord,
        r#"SELECT id, user_id AS "user_id: UserId", invoice_id, order_id, amount, currency,
                  payment_method, status AS "status: PaymentStatus",
                  subscription_tier AS "subscription_tier: Tier", subscription_months,
                  payment_url, failure_reason, created_at, updated_at, paid_at
           FROM payments WHERE id = $1 AND user_id = $2"#,
        id,
        user.get()
    )
    .fetch_optional(db)
    .await
}

/// A user's payments, newest first: after `cursor` when given, else skipping `offset`.
#[tracing::instrument(skip(db))]
pub async fn list_for_user(
    db: impl PgExecutor<'_>,
    user: UserId,
    cursor: Option<Cursor>,
    offset: i64,
    limit: i64,
) -> sqlx::Result<Vec<PaymentRecord>> {
    sqlx::query_as!(
        PaymentRecord,
        r#"SELECT id, user_id AS "user_id: UserId", invoice_id, order_id, amount, currency,
                  payment_method, status AS "status: PaymentStatus",
                  subscription_tier AS "subscription_tier: Tier", subscription_months,
                  payment_url, failure_reason, created_at, updated_at, paid_at
           FROM payments
           WHERE user_id = $1
             AND ($2::timestamptz IS NULL OR (created_at, id) < ($2::timestamptz, $3::bigint))
           ORDER BY created_at DESC, id DESC
           OFFSET $4 LIMIT $5"#,
        user.get(),
        cursor.map(|c| c.created_at),
        cursor.map(|c| c.id),
        offset,
        limit
    )
    .fetch_all(db)
    .await
}

/// Everyone's payments changed at or after `since`, oldest change first, at most `limit`
/// (the developer's `stack listen` follows the stack with this).
#[tracing::instrument(skip(db))]
pub async fn changed_since(
    db: impl PgExecutor<'_>,
    since: chrono::DateTime<chrono::Utc>,
    limit: i64,
) -> sqlx::Result<Vec<PaymentRecord>> {
    sqlx::query_as!(
        PaymentRecord,
        r#"SELECT id, user_id AS "user_id: UserId", invoice_id, order_id, amount, currency,
                  payment_method, status AS "status: PaymentStatus",
                  subscription_tier AS "subscription_tier: Tier", subscription_months,
                  payment_url, failure_reason, created_at, updated_at, paid_at
           FROM payments WHERE updated_at >= $1
           ORDER BY updated_at, id LIMIT $2"#,
        since,
        limit
    )
    .fetch_all(db)
    .await
}

/// When a payment last changed (`None` with no payments).
#[tracing::instrument(skip(db))]
pub async fn last_change(
    db: impl PgExecutor<'_>,
) -> sqlx::Result<Option<chrono::DateTime<chrono::Utc>>> {
    sqlx::query_scalar!("SELECT max(updated_at) FROM payments")
        .fetch_one(db)
        .await
}
