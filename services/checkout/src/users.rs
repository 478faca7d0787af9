//! The `users` rows checkout reads (a user's row is created with their first payment, in
//! [`crate::payments::insert_creating`]).

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::domain::UserId;

/// A user's plan as stored (the worker keeps it up to date).
#[derive(Debug, Clone)]
pub struct SubscriptionRow {
    pub subscription_tier: String,
    pub subscription_expires: Option<DateTime<Utc>>,
    pub requests_limit: i32,
    pub requests_used: i32,
}

/// `None` for a user who never checked out (no row yet).
#[tracing::instrument(skip(pool))]
pub async fn subscription(pool: &PgPool, user: UserId) -> sqlx::Result<Option<SubscriptionRow>> {
    sqlx::query_as!(
        SubscriptionRow,
        "SELECT subscription_tier, subscription_expires, requests_limit, requests_used \
         FROM users WHERE id = $1",
        user.get()
    )
    .fetch_optional(pool)
    .await
}
