//! The user's plan (`users`): read for the subscription view, extended by a completed
//! payment, returned to `free` at expiry. A user's row is created with their first payment
//! ([`crate::creation::insert_creating`]).

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor, PgPool};

use crate::announce::{self, PlanChange, PlanFacts};
use crate::{Tier, UserId};

/// A user's plan as stored.
#[derive(Debug, Clone)]
pub struct PlanRow {
    pub subscription_tier: Tier,
    pub subscription_expires: Option<DateTime<Utc>>,
    pub requests_limit: i32,
    pub requests_used: i32,
    /// False once the owner canceled: no renewal invoices, no reminders.
    pub renews: bool,
}

/// `None` for a user who never checked out (no row yet).
#[tracing::instrument(skip(db))]
pub async fn plan_of(db: impl PgExecutor<'_>, user: UserId) -> sqlx::Result<Option<PlanRow>> {
    sqlx::query_as!(
        PlanRow,
        r#"SELECT subscription_tier AS "subscription_tier: Tier", subscription_expires,
                  requests_limit, requests_used, renews
           FROM users WHERE id = $1"#,
        user.get()
    )
    .fetch_optional(db)
    .await
}

/// Whether the user's plan renews (false once canceled, or without a row).
#[tracing::instrument(skip(db))]
pub async fn renews(db: impl PgExecutor<'_>, user: UserId) -> sqlx::Result<bool> {
    let renews = sqlx::query_scalar!("SELECT renews FROM users WHERE id = $1", user.get())
        .fetch_optional(db)
        .await?;
    Ok(renews.unwrap_or(false))
}

/// Cancel (`false`) or resume (`true`) the renewal of a paid plan still running, with its
/// `subscription.canceled`/`.resumed` event when it changed (a repeated cancel makes none).
/// `None` when the user has no such plan (free, expired, or no row).
#[tracing::instrument(skip(pool))]
pub async fn set_renews(
    pool: &PgPool,
    user: UserId,
    renews: bool,
) -> sqlx::Result<Option<PlanRow>> {
    let free = Tier::free();
    let mut tx = pool.begin().await?;
    let row = sqlx::query!(
        r#"UPDATE users u SET renews = $2, updated_at = now()
           FROM (SELECT id, renews FROM users WHERE id = $1 FOR UPDATE) before
           WHERE u.id = before.id AND u.subscription_tier <> $3 AND u.subscription_expires > now()
           RETURNING u.subscription_tier AS "subscription_tier: Tier", u.subscription_expires,
                     u.requests_limit, u.requests_used, u.renews, before.renews AS was"#,
        user.get(),
        renews,
        free.as_str(),
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let plan = PlanRow {
        subscription_tier: row.subscription_tier,
        subscription_expires: row.subscription_expires,
        requests_limit: row.requests_limit,
        requests_used: row.requests_used,
        renews: row.renews,
    };
    if row.was != renews {
        let change = if renews {
            PlanChange::Resumed
        } else {
            PlanChange::Canceled
        };
        let facts = PlanFacts {
            user_id: user,
            tier: &plan.subscription_tier,
            status: "active",
            expires_at: plan.subscription_expires,
            renews,
            previous_tier: None,
        };
        // Each flip is its own change: a user may cancel, resume and cancel again.
        let key = uuid::Uuid::now_v7().simple().to_string();
        announce::plan(&mut tx, change, &key, facts).await?;
    }
    tx.commit().await?;
    Ok(Some(plan))
}

/// Monthly prices of the catalogue's tiers, for converting the time left on one tier into
/// another.
#[derive(Debug, Clone, Default)]
pub struct Prices {
    names: Vec<String>,
    prices: Vec<rust_decimal::Decimal>,
}

impl Prices {
    pub fn new(tiers: impl IntoIterator<Item = (String, rust_decimal::Decimal)>) -> Self {
        let (names, prices) = tiers.into_iter().unzip();
        Self { names, prices }
    }
}

/// Extends the plan in one statement on the locked row: tier set, limit from the tier, and
/// expiry = now + the time left + the paid calendar months (in UTC). The time left on the
/// same tier counts as it is; on another paid tier it is converted at the ratio of their
/// monthly prices (`left × price(old) / price(new)`), in either direction, so nothing paid
/// is lost. The row lock serialises two payments of one user, and the second sees the
/// first's expiry, so both periods count.
/// A plan in its grace period (expired less than `grace_days` ago, tier kept) extends from
/// the expiry the grace started at: grace is not free time.
#[tracing::instrument(skip(conn, prices))]
pub async fn extend(
    conn: &mut PgConnection,
    user: UserId,
    tier: &Tier,
    months: i32,
    requests_limit: i32,
    prices: &Prices,
    grace_days: i32,
) -> sqlx::Result<Extended> {
    let free = Tier::free();
    let extended = sqlx::query_as!(
        Extended,
        r#"WITH prices AS (SELECT * FROM unnest($5::text[], $6::numeric[]) AS t(name, price))
           UPDATE users
           SET subscription_tier = $2,
               subscription_expires =
                   ((CASE
                       WHEN subscription_expires IS NULL THEN now()
                       -- In grace: from the expiry, on whichever tier.
                       WHEN subscription_expires <= now() AND subscription_tier <> $7
                            AND subscription_expires + make_interval(days => $8) >= now()
                           THEN subscription_expires
                       WHEN subscription_expires <= now() THEN now()
                       WHEN subscription_tier = $2 OR subscription_tier = $7
                           THEN subscription_expires
                       ELSE now() + COALESCE(
                           make_interval(secs => (EXTRACT(EPOCH FROM subscription_expires - now())
                               * (SELECT price FROM prices WHERE name = users.subscription_tier)
                               / NULLIF((SELECT price FROM prices WHERE name = $2), 0))::float8),
                           -- A tier without a price on either side: the time stays as it is.
                           subscription_expires - now())
                     END) AT TIME ZONE 'UTC'
                    + make_interval(months => $3)) AT TIME ZONE 'UTC',
               requests_limit = $4,
               updated_at = now()
           -- Renamed, so the SET above reads only the row being updated.
           FROM (SELECT id AS was_id, subscription_tier AS was_tier,
                        subscription_expires AS was_expires
                 FROM users WHERE id = $1 FOR UPDATE) before
           WHERE users.id = before.was_id
           RETURNING users.subscription_expires AS "expires!", users.renews,
                     before.was_tier AS "previous_tier: Tier",
                     before.was_expires AS previous_expires"#,
        user.get(),
        tier.as_str(),
        months,
        requests_limit,
        &prices.names,
        &prices.prices,
        free.as_str(),
        grace_days,
    )
    .fetch_optional(&mut *conn)
    .await?;
    // payments.user_id references users, so the row exists.
    extended.ok_or(sqlx::Error::RowNotFound)
}

/// A plan after [`extend`], with what it was before (for `subscription.upgraded`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extended {
    pub expires: DateTime<Utc>,
    pub renews: bool,
    pub previous_tier: Tier,
    pub previous_expires: Option<DateTime<Utc>>,
}

/// Returns up to `batch` plans past their expiry and `grace_days` of grace to `free` with
/// `free_limit`, each with its `subscription.expired` event; how many. Rows an apply holds
/// are skipped: it is extending them right now.
#[tracing::instrument(skip(pool))]
pub async fn expire_batch(
    pool: &PgPool,
    free_limit: i32,
    batch: i64,
    grace_days: i32,
) -> sqlx::Result<u64> {
    let free = Tier::free();
    let mut tx = pool.begin().await?;
    let expired = sqlx::query!(
        r#"UPDATE users u
           SET subscription_tier = $1, requests_limit = $2, updated_at = now()
           FROM (
               SELECT id, subscription_tier FROM users
               WHERE subscription_tier <> $1
                 AND subscription_expires + make_interval(days => $4) < now()
               ORDER BY id
               LIMIT $3
               FOR UPDATE SKIP LOCKED) before
           WHERE u.id = before.id
             AND u.subscription_tier <> $1
             AND u.subscription_expires + make_interval(days => $4) < now()
           RETURNING u.id AS "id: UserId", before.subscription_tier AS "was: Tier",
                     u.subscription_expires AS "expires!", u.renews"#,
        free.as_str(),
        free_limit,
        batch,
        grace_days,
    )
    .fetch_all(&mut *tx)
    .await?;
    for row in &expired {
        let facts = PlanFacts {
            user_id: row.id,
            tier: &free,
            status: "free",
            expires_at: None,
            renews: row.renews,
            previous_tier: Some(&row.was),
        };
        let key = row.expires.timestamp().to_string();
        announce::plan(&mut tx, PlanChange::Expired, &key, facts).await?;
    }
    tx.commit().await?;
    Ok(expired.len() as u64)
}

/// Announces (`subscription.grace_started`) up to `batch` plans that expired and are in
/// their grace period; how many. Marked on the row in the same statement, so each expiry's
/// grace is announced once. Nothing to do without a grace period.
#[tracing::instrument(skip(pool))]
pub async fn start_grace_batch(pool: &PgPool, batch: i64, grace_days: i32) -> sqlx::Result<u64> {
    if grace_days <= 0 {
        return Ok(0);
    }
    let free = Tier::free();
    let mut tx = pool.begin().await?;
    let started = sqlx::query!(
        r#"UPDATE users SET grace_announced_for = subscription_expires
           WHERE id IN (
               SELECT id FROM users
               WHERE subscription_tier <> $1
                 AND subscription_expires <= now()
                 AND subscription_expires + make_interval(days => $3) >= now()
                 AND grace_announced_for IS DISTINCT FROM subscription_expires
               ORDER BY id
               LIMIT $2
               FOR UPDATE SKIP LOCKED)
             AND grace_announced_for IS DISTINCT FROM subscription_expires
           RETURNING id AS "id: UserId", subscription_tier AS "tier: Tier",
                     subscription_expires AS "expires!", renews"#,
        free.as_str(),
        batch,
        grace_days,
    )
    .fetch_all(&mut *tx)
    .await?;
    for row in &started {
        let facts = PlanFacts {
            user_id: row.id,
            tier: &row.tier,
            status: "grace",
            expires_at: Some(row.expires),
            renews: row.renews,
            previous_tier: None,
        };
        let key = row.expires.timestamp().to_string();
        announce::plan(&mut tx, PlanChange::GraceStarted, &key, facts).await?;
    }
    tx.commit().await?;
    Ok(started.len() as u64)
}
