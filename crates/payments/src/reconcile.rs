//! What reconciliation reads: open payments whose postback may never have come, and how
//! old the pending ones are.

use std::time::Duration;

use sqlx::PgExecutor;

/// An open payment to ask CryptoCloud about.
#[derive(Debug, Clone)]
pub struct OpenPayment {
    pub id: i64,
    pub invoice_id: String,
}

/// Open payments (`pending`, or `partial`: a top-up's postback may be lost too) older than
/// `older_than` with an id above `after_id`, by id.
#[tracing::instrument(skip(db))]
pub async fn open_older_than(
    db: impl PgExecutor<'_>,
    older_than: Duration,
    after_id: i64,
    limit: i64,
) -> sqlx::Result<Vec<OpenPayment>> {
    sqlx::query_as!(
        OpenPayment,
        r#"SELECT id, invoice_id AS "invoice_id!"
           FROM payments
           WHERE status IN ('pending', 'partial') AND invoice_id IS NOT NULL
             AND created_at < now() - make_interval(secs => $1)
             AND id > $2
           ORDER BY id
           LIMIT $3"#,
        older_than.as_secs_f64(),
        after_id,
        limit,
    )
    .fetch_all(db)
    .await
}

/// Pending payments by age: under 10 minutes, 10 minutes to 1 hour, 1 to 24 hours, older.
#[tracing::instrument(skip_all)]
pub async fn pending_ages(db: impl PgExecutor<'_>) -> sqlx::Result<[(&'static str, i64); 4]> {
    let row = sqlx::query!(
        r#"SELECT
             count(*) FILTER (WHERE created_at >= now() - interval '10 minutes') AS "under_10m!",
             count(*) FILTER (WHERE created_at < now() - interval '10 minutes'
                                AND created_at >= now() - interval '1 hour') AS "under_1h!",
             count(*) FILTER (WHERE created_at < now() - interval '1 hour'
                                AND created_at >= now() - interval '24 hours') AS "under_24h!",
             count(*) FILTER (WHERE created_at < now() - interval '24 hours') AS "over_24h!"
           FROM payments WHERE status = 'pending'"#
    )
    .fetch_one(db)
    .await?;
    Ok([
        ("under_10m", row.under_10m),
        ("10m_to_1h", row.under_1h),
        ("1h_to_24h", row.under_24h),
        ("over_24h", row.over_24h),
    ])
}
