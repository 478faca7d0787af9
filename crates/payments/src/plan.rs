//! The user's plan (`users`): read for the subscription view, extended by a completed
//! payment, returned to `free` at expiry. A user's row is created with their first payment
//! ([`crate::creation::insert_creating`]).

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};

use crate::{Tier, UserId};

/// A user's plan as stored.
#[derive(Debug, Clone)]
pub struct PlanRow {
    pub subscription_tier: Tier,
    pub subscription_expires: Option<DateTime<Utc>>,
    pub requests_limit: i32,
    pub requests_used: i32,
}

/// `None` for a user who never checked out (no row yet).
#[tracing::instrument(skip(db))]
pub async fn plan_of(db: impl PgExecutor<'_>, user: UserId) -> sqlx::Result<Option<PlanRow>> {
    sqlx::query_as!(
        PlanRow,
        r#"SELECT subscription_tier AS "subscription_tier: Tier", subscription_expires,
                  requests_limit, requests_used
           FROM users WHERE id = $1"#,
        user.get()
    )
    .fetch_optional(db)
    .await
}

/// Extends the plan in one statement: tier set, expiry = max(now, current expiry) + the
/// paid calendar months (in UTC), limit from the tier. The row lock serialises two payments
/// of one user, and the second sees the first's expiry, so both periods count.
#[tracing::instrument(skip(conn))]
pub async fn extend(
    conn: &mut PgConnection,
    user: UserId,
    tier: &Tier,
    months: i32,
    requests_limit: i32,
) -> sqlx::Result<DateTime<Utc>> {
    let expiry = sqlx::query_scalar!(
        r#"UPDATE users
           SET subscription_tier = $2,
               subscription_expires =
                   (GREATEST(now(), COALESCE(subscription_expires, now())) AT TIME ZONE 'UTC'
                    + make_interval(months => $3)) AT TIME ZONE 'UTC',
               requests_limit = $4,
               updated_at = now()
           WHERE id = $1
           RETURNING subscription_expires AS "expires!""#,
        user.get(),
        tier.as_str(),
        months,
        requests_limit,
    )
    .fetch_optional(&mut *conn)
    .await?;
    // payments.user_id references users, so the row exists.
    expiry.ok_or(sqlx::Error::RowNotFound)
}

/// Returns up to `batch` plans past their expiry to `free` with `free_limit`; how many.
/// Rows an apply holds are skipped: it is extending them right now.
#[tracing::instrument(skip(db))]
pub async fn expire_batch(
    db: impl PgExecutor<'_>,
    free_limit: i32,
    batch: i64,
) -> sqlx::Result<u64> {
    let free = Tier::free();
    let done = sqlx::query!(
        r#"UPDATE users
           SET subscription_tier = $1, requests_limit = $2, updated_at = now()
           WHERE id IN (
               SELECT id FROM users
               WHERE subscription_tier <> $1 AND subscription_expires < now()
               ORDER BY id
               LIMIT $3
               FOR UPDATE SKIP LOCKED)
             AND subscription_tier <> $1 AND subscription_expires < now()"#,
        free.as_str(),
        free_limit,
        batch,
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}
