//! `POST /api/v1/subscription/cancel` and `/resume`: the paid plan stays until its expiry
//! either way; cancel stops its renewals (no renewal invoice, no reminder, an open renewal
//! invoice canceled), resume starts them again (the worker's next sweep opens the renewal
//! when the plan is inside its notice window).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};

use ::payments::{plan, renewal};

use super::{subscription_of, SubscriptionView};
use crate::auth::User;
use crate::payments::cancel::cancel_pending;
use crate::state::AppState;
use platform::http::ErrorResponse;

/// What canceling or resuming can fail with, mapped to HTTP here.
#[derive(Debug, thiserror::Error)]
pub enum RenewalError {
    #[error("there is no paid plan running to cancel or resume")]
    NoPaidPlan,
    #[error(
        "this request came from another site; send it from our own pages or with a bearer token"
    )]
    ForeignOrigin,
    #[error("internal error")]
    Database(#[from] sqlx::Error),
}

impl RenewalError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoPaidPlan => "no_paid_plan",
            Self::ForeignOrigin => "forbidden_origin",
            Self::Database(_) => "internal_error",
        }
    }

    /// (status, code) of everything these endpoints can fail with, for the API document.
    pub fn answers() -> Vec<(StatusCode, &'static str)> {
        [
            Self::NoPaidPlan,
            Self::ForeignOrigin,
            Self::Database(sqlx::Error::RowNotFound),
        ]
        .iter()
        .map(|e| (e.status_code(), e.code()))
        .collect()
    }
}

impl ResponseError for RenewalError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::NoPaidPlan => StatusCode::CONFLICT,
            Self::ForeignOrigin => StatusCode::FORBIDDEN,
            Self::Database(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::Database(e) = self {
            tracing::error!(error = %e, "subscription change failed");
        }
        platform::http::error_response(self.status_code(), self.code(), self.to_string())
    }
}

/// Stops the renewals of the caller's paid plan; the paid time stays.
#[utoipa::path(
    post,
    path = "/api/v1/subscription/cancel",
    operation_id = "cancelSubscription",
    tag = "subscription",
    responses(
        (status = 200, description = "Renewals stopped; the plan runs to its expiry", body = SubscriptionView),
        (status = 401, description = "No, bad or expired user token", body = ErrorResponse),
        (status = 403, description = "Sent with the session cookie from another site (`forbidden_origin`)", body = ErrorResponse),
        (status = 409, description = "On `free`: nothing to cancel (`no_paid_plan`)", body = ErrorResponse),
        (status = 500, description = "Internal error", body = ErrorResponse),
    ),
    security(("bearer" = []), ("session_cookie" = []))
)]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn cancel_subscription(
    user: User,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, RenewalError> {
    change(user, state, req, false).await
}

/// Starts the renewals of the caller's paid plan again.
#[utoipa::path(
    post,
    path = "/api/v1/subscription/resume",
    operation_id = "resumeSubscription",
    tag = "subscription",
    responses(
        (status = 200, description = "The plan renews again", body = SubscriptionView),
        (status = 401, description = "No, bad or expired user token", body = ErrorResponse),
        (status = 403, description = "Sent with the session cookie from another site (`forbidden_origin`)", body = ErrorResponse),
        (status = 409, description = "On `free`: nothing to resume (`no_paid_plan`)", body = ErrorResponse),
        (status = 500, description = "Internal error", body = ErrorResponse),
    ),
    security(("bearer" = []), ("session_cookie" = []))
)]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn resume_subscription(
    user: User,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, RenewalError> {
    change(user, state, req, true).await
}

async fn change(
    user: User,
    state: web::Data<AppState>,
    req: HttpRequest,
    renews: bool,
) -> Result<HttpResponse, RenewalError> {
    if !user.may_change_state(&req, &state.base_url) {
        tracing::warn!(user = %user.id, "cross-site subscription change refused");
        return Err(RenewalError::ForeignOrigin);
    }
    // Spawned: a renewal invoice canceled at CryptoCloud is canceled here too, even if the
    // caller went away.
    let view = tokio::spawn(async move { set(&state, user, renews).await })
        .await
        .map_err(|e| {
            RenewalError::Database(sqlx::Error::Protocol(format!("task failed: {e}")))
        })??;
    Ok(HttpResponse::Ok().json(view))
}

/// Cancels (`false`) or resumes (`true`) renewals; shared with the dashboard's buttons.
pub async fn set(
    state: &AppState,
    user: User,
    renews: bool,
) -> Result<SubscriptionView, RenewalError> {
    plan::set_renews(&state.pool, user.id, renews)
        .await?
        .ok_or(RenewalError::NoPaidPlan)?;
    tracing::info!(renews, "subscription renewal changed");
    if !renews {
        if let Some(open) = renewal::open_of(&state.pool, user.id).await? {
            // Best effort: a renewal left open is never reminded of again, and paying it
            // still extends the plan.
            match cancel_pending(state, user.id, open.id).await {
                Ok(_) => tracing::info!(payment_id = open.id, "open renewal invoice canceled"),
                Err(e) => {
                    tracing::warn!(payment_id = open.id, error = %e, "the open renewal invoice could not be canceled")
                }
            }
        }
    }
    Ok(subscription_of(state, user.id).await?)
}
