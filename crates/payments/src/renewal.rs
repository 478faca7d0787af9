//! Renewals: which renewing paid plans need a renewal invoice opened, and which reminders
//! are due. A renewal payment is opened through [`crate::creation::open`] with
//! `renewal_for` set to the expiry it renews; the unique index on `(user_id, renewal_for)`
//! over live payments makes that happen once per user and expiry, and the primary key of
//! `renewal_notices` makes each reminder happen once.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::{PgConnection, PgExecutor};

use crate::{PaymentRecord, PaymentStatus, Tier, UserId};

/// A renewing paid plan inside its first notice window with no live renewal payment.
#[derive(Debug, Clone)]
pub struct DueRenewal {
    pub user: UserId,
    pub tier: Tier,
    pub expires: DateTime<Utc>,
}

/// Up to `limit` plans that renew, end within `within_days` and have no live renewal for
/// their current expiry (soonest first). Only a hint of what to open: the insert decides.
#[tracing::instrument(skip(db))]
pub async fn due(
    db: impl PgExecutor<'_>,
    within_days: i32,
    limit: i64,
) -> sqlx::Result<Vec<DueRenewal>> {
    let free = Tier::free();
    sqlx::query_as!(
        DueRenewal,
        r#"SELECT u.id AS "user: UserId", u.subscription_tier AS "tier: Tier",
                  u.subscription_expires AS "expires!"
           FROM users u
           WHERE u.renews AND u.subscription_tier <> $1
             AND u.subscription_expires > now()
             AND u.subscription_expires <= now() + make_interval(days => $2)
             AND NOT EXISTS (
                 SELECT 1 FROM payments p
                 WHERE p.user_id = u.id AND p.renewal_for = u.subscription_expires
                   AND p.status IN ('creating', 'pending', 'partial', 'completed'))
           ORDER BY u.subscription_expires, u.id
           LIMIT $3"#,
        free.as_str(),
        within_days,
        limit,
    )
    .fetch_all(db)
    .await
}

/// Up to `limit` users on a paid tier with no expiry (legacy data, e.g. from a guide
/// database): they are never renewed or expired, so the worker tells the operator.
#[tracing::instrument(skip(db))]
pub async fn paid_without_expiry(db: impl PgExecutor<'_>, limit: i64) -> sqlx::Result<Vec<UserId>> {
    let free = Tier::free();
    sqlx::query_scalar!(
        r#"SELECT id AS "id: UserId" FROM users
           WHERE subscription_tier <> $1 AND subscription_expires IS NULL
           ORDER BY id LIMIT $2"#,
        free.as_str(),
        limit,
    )
    .fetch_all(db)
    .await
}

/// A reminder just recorded: the plan, the window it is for and the renewal to pay.
#[derive(Debug, Clone)]
pub struct Reminder {
    pub user: UserId,
    pub tier: Tier,
    pub expires: DateTime<Utc>,
    pub days: i32,
    pub payment_id: i64,
    pub invoice_id: Option<String>,
    pub payment_url: Option<String>,
    pub amount: Decimal,
    pub currency: String,
}

/// Records, in the caller's transaction, the reminders now due: for each renewing plan with
/// an open (`pending`) renewal of its expiry, the smallest of `notice_days` whose window it
/// is inside, unless that reminder was sent. Windows a plan skipped get none. Returns what
/// was recorded, for the caller to write its events in the same transaction.
#[tracing::instrument(skip(conn))]
pub async fn record_reminders(
    conn: &mut PgConnection,
    notice_days: &[i32],
    limit: i64,
) -> sqlx::Result<Vec<Reminder>> {
    let free = Tier::free();
    sqlx::query_as!(
        Reminder,
        r#"WITH windows AS (
               SELECT u.id AS user_id, u.subscription_tier AS tier,
                      u.subscription_expires AS expires,
                      (SELECT min(d) FROM unnest($1::int[]) AS d
                       WHERE u.subscription_expires <= now() + make_interval(days => d)) AS days
               FROM users u
               WHERE u.renews AND u.subscription_tier <> $2
                 AND u.subscription_expires > now()
                 AND u.subscription_expires
                     <= now() + make_interval(days => (SELECT max(d) FROM unnest($1::int[]) AS d))
           ), due AS (
               SELECT w.user_id, w.tier, w.expires, w.days,
                      p.id AS payment_id, p.invoice_id, p.payment_url, p.amount, p.currency
               FROM windows w
               JOIN payments p ON p.user_id = w.user_id
                              AND p.renewal_for = w.expires
                              AND p.status = 'pending'
               WHERE w.days IS NOT NULL
                 AND NOT EXISTS (
                     SELECT 1 FROM renewal_notices n
                     WHERE n.user_id = w.user_id AND n.expires_at = w.expires
                       AND n.days = w.days)
               ORDER BY w.expires, w.user_id
               LIMIT $3
           ), sent AS (
               INSERT INTO renewal_notices (user_id, expires_at, days, payment_id)
               SELECT user_id, expires, days, payment_id FROM due
               ON CONFLICT DO NOTHING
               RETURNING user_id, days
           )
           SELECT due.user_id AS "user!: UserId", due.tier AS "tier!: Tier",
                  due.expires AS "expires!", sent.days AS "days!", due.payment_id AS "payment_id!",
                  due.invoice_id, due.payment_url, due.amount AS "amount!",
                  due.currency AS "currency!"
           FROM sent JOIN due ON due.user_id = sent.user_id"#,
        notice_days,
        free.as_str(),
        limit,
    )
    .fetch_all(&mut *conn)
    .await
}

/// The open (`pending`) renewal of the user's current expiry, if any.
#[tracing::instrument(skip(db))]
pub async fn open_of(db: impl PgExecutor<'_>, user: UserId) -> sqlx::Result<Option<PaymentRecord>> {
    sqlx::query_as!(
        PaymentRecord,
        r#"SELECT p.id, p.user_id AS "user_id: UserId", p.invoice_id, p.order_id, p.amount,
                  p.currency, p.payment_method, p.status AS "status: PaymentStatus",
                  p.subscription_tier AS "subscription_tier: Tier", p.subscription_months,
                  p.payment_url, p.failure_reason, p.created_at, p.updated_at, p.paid_at
           FROM payments p JOIN users u ON u.id = p.user_id
           WHERE p.user_id = $1 AND p.renewal_for = u.subscription_expires
             AND p.status = 'pending'"#,
        user.get()
    )
    .fetch_optional(db)
    .await
}

/// Open renewal invoices whose period and `grace_days` have ended unpaid: `(payment id,
/// invoice id)`, up to `limit`, to be canceled at CryptoCloud and then here.
#[tracing::instrument(skip(db))]
pub async fn lapsed(
    db: impl PgExecutor<'_>,
    grace_days: i32,
    limit: i64,
) -> sqlx::Result<Vec<(i64, String)>> {
    let rows = sqlx::query!(
        r#"SELECT id, invoice_id AS "invoice_id!" FROM payments
           WHERE renewal_for IS NOT NULL
             AND renewal_for + make_interval(days => $2) <= now()
             AND status = 'pending' AND invoice_id IS NOT NULL
           ORDER BY renewal_for, id
           LIMIT $1"#,
        limit,
        grace_days
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.id, r.invoice_id)).collect())
}
