//! The original guide's monitoring queries (completed payments, revenue, the last 24 hours,
//! popular tiers), for the admin endpoint.

use rust_decimal::Decimal;
use sqlx::PgExecutor;

pub struct Totals {
    pub payments: i64,
    pub completed: i64,
    pub created_24h: i64,
    pub completed_24h: i64,
}

pub struct CurrencyRevenue {
    pub currency: String,
    pub all_time: Decimal,
    pub last_24h: Decimal,
}

pub struct TierCount {
    pub tier: String,
    pub payments: i64,
    pub completed: i64,
}

pub struct StatusCount {
    pub status: String,
    pub count: i64,
}

#[tracing::instrument(skip_all)]
pub async fn totals(db: impl PgExecutor<'_>) -> sqlx::Result<Totals> {
    sqlx::query_as!(
        Totals,
        r#"SELECT
            COUNT(*) AS "payments!",
            COUNT(*) FILTER (WHERE status = 'completed') AS "completed!",
            COUNT(*) FILTER (WHERE created_at > now() - INTERVAL '24 hours') AS "created_24h!",
            COUNT(*) FILTER (WHERE status = 'completed'
                             AND COALESCE(paid_at, updated_at) > now() - INTERVAL '24 hours') AS "completed_24h!"
           FROM payments"#
    )
    .fetch_one(db)
    .await
}

/// Completed revenue per currency (amounts in different currencies are never summed).
#[tracing::instrument(skip_all)]
pub async fn revenue(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<CurrencyRevenue>> {
    sqlx::query_as!(
        CurrencyRevenue,
        r#"SELECT
            currency AS "currency!",
            COALESCE(SUM(amount), 0) AS "all_time!",
            COALESCE(SUM(amount) FILTER (WHERE COALESCE(paid_at, updated_at) > now() - INTERVAL '24 hours'), 0) AS "last_24h!"
           FROM payments WHERE status = 'completed'
           GROUP BY currency ORDER BY currency"#
    )
    .fetch_all(db)
    .await
}

#[tracing::instrument(skip_all)]
pub async fn per_tier(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<TierCount>> {
    sqlx::query_as!(
        TierCount,
        r#"SELECT
            subscription_tier AS "tier!",
            COUNT(*) AS "payments!",
            COUNT(*) FILTER (WHERE status = 'completed') AS "completed!"
           FROM payments GROUP BY subscription_tier ORDER BY 3 DESC, 2 DESC, 1"#
    )
    .fetch_all(db)
    .await
}

#[tracing::instrument(skip_all)]
pub async fn per_status(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<StatusCount>> {
    sqlx::query_as!(
        StatusCount,
        r#"SELECT status AS "status!", COUNT(*) AS "count!" FROM payments GROUP BY status ORDER BY status"#
    )
    .fetch_all(db)
    .await
}
