//! `GET /api/v1/subscription`: the caller's plan and usage; `POST /api/v1/subscription/cancel`
//! and `/resume`: stop and restart its renewals.

pub mod renewal;

pub use renewal::{cancel_subscription, resume_subscription, RenewalError};

use actix_web::http::StatusCode;
use actix_web::ResponseError;

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use ::payments::plan;

use crate::auth::User;
use crate::domain::UserId;
use crate::state::AppState;
use platform::http::ErrorResponse;

/// The caller's subscription.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SubscriptionView {
    #[schema(example = "pro")]
    pub tier: String,
    /// When the paid plan ends (then the user is back on `free`); null on `free`.
    pub expires_at: Option<DateTime<Utc>>,
    /// True on a paid plan that has not expired.
    pub active: bool,
    #[schema(example = 100000)]
    pub requests_limit: i32,
    #[schema(example = 42)]
    pub requests_used: i32,
    #[schema(example = 99958)]
    pub requests_remaining: i32,
    /// `free`, `active`, or `grace` (expired, the tier kept until `grace_until`).
    #[schema(example = "active")]
    pub status: String,
    /// True on a paid plan whose renewals were not canceled.
    pub renews: bool,
    /// When a paid plan falls to free after its expiry (`GRACE_PERIOD_DAYS`); null without
    /// a grace period or on free.
    pub grace_until: Option<DateTime<Utc>>,
    /// The open renewal invoice of the current period, if any.
    pub renewal: Option<RenewalView>,
}

/// A renewal invoice waiting to be paid.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RenewalView {
    #[schema(example = 1002)]
    pub payment_id: i64,
    #[schema(example = "INV-7Q2K9XAB")]
    pub invoice_id: Option<String>,
    pub payment_url: Option<String>,
    /// Decimal string.
    #[schema(example = "99.00")]
    pub amount: String,
    #[schema(example = "USD")]
    pub currency: String,
}

/// Tier, expiry, limits and requests used. A user who never checked out is on `free`.
#[utoipa::path(
    get,
    path = "/api/v1/subscription",
    operation_id = "getSubscription",
    tag = "subscription",
    responses(
        (status = 200, description = "The caller's subscription", body = SubscriptionView),
        (status = 401, description = "No, bad or expired user token", body = ErrorResponse),
        (status = 500, description = "Internal error", body = ErrorResponse),
    ),
    security(("bearer" = []), ("session_cookie" = []))
)]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn get_subscription(
    user: User,
    state: web::Data<AppState>,
) -> Result<HttpResponse, SubscriptionError> {
    Ok(HttpResponse::Ok().json(subscription_of(&state, user.id).await?))
}

/// Shared with the dashboard.
pub async fn subscription_of(
    state: &AppState,
    user: UserId,
) -> Result<SubscriptionView, sqlx::Error> {
    let view = match plan::plan_of(&state.pool, user).await? {
        Some(row) => {
            let now = Utc::now();
            let paid = !row.subscription_tier.is_free();
            let grace_until = row
                .subscription_expires
                .filter(|_| paid && state.grace_days > 0)
                .map(|e| e + chrono::Duration::days(i64::from(state.grace_days)));
            let active = paid && row.subscription_expires.is_some_and(|e| e > now);
            let in_grace = paid && !active && grace_until.is_some_and(|g| g > now);
            let renewal = match active {
                true => ::payments::renewal::open_of(&state.pool, user).await?,
                false => None,
            };
            SubscriptionView {
                active,
                requests_remaining: (row.requests_limit - row.requests_used).max(0),
                tier: row.subscription_tier.to_string(),
                expires_at: row.subscription_expires,
                requests_limit: row.requests_limit,
                requests_used: row.requests_used,
                status: match (active, in_grace) {
                    (true, _) => "active",
                    (false, true) => "grace",
                    (false, false) => "free",
                }
                .to_string(),
                renews: active && row.renews,
                grace_until,
                renewal: renewal.map(|r| RenewalView {
                    payment_id: r.id,
                    invoice_id: r.invoice_id,
                    payment_url: r.payment_url,
                    amount: ::payments::display_amount(r.amount),
                    currency: r.currency,
                }),
            }
        }
        None => {
            let free = state.plans.free();
            SubscriptionView {
                tier: free.name().to_string(),
                expires_at: None,
                active: false,
                requests_limit: free.requests_limit(),
                requests_used: 0,
                requests_remaining: free.requests_limit(),
                status: "free".to_string(),
                renews: false,
                grace_until: None,
                renewal: None,
            }
        }
    };
    Ok(view)
}

/// What reading the subscription can fail with, mapped to HTTP here.
#[derive(Debug, thiserror::Error)]
pub enum SubscriptionError {
    #[error("internal error")]
    Database(#[from] sqlx::Error),
}

impl SubscriptionError {
    /// (status, code) of everything reading the subscription can fail with, for the API
    /// document.
    pub fn answers() -> Vec<(StatusCode, &'static str)> {
        vec![(StatusCode::INTERNAL_SERVER_ERROR, Self::CODE)]
    }

    const CODE: &'static str = "internal_error";
}

impl ResponseError for SubscriptionError {
    fn status_code(&self) -> StatusCode {
        StatusCode::INTERNAL_SERVER_ERROR
    }

    fn error_response(&self) -> HttpResponse {
        let Self::Database(e) = self;
        tracing::error!(error = %e, "subscription request failed");
        platform::http::error_response(self.status_code(), Self::CODE, self.to_string())
    }
}
