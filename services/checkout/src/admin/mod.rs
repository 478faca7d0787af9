//! `GET /api/v1/admin/stats`, for the operator (`Authorization: Bearer <ADMIN_TOKEN>`).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::display_amount;
use crate::state::AppState;
use ::payments::report;
use platform::http::ErrorResponse;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AdminStats {
    /// Payments ever created.
    pub payments_total: i64,
    /// Payments completed (all time).
    pub completed_count: i64,
    /// Completed revenue per currency, all time.
    pub revenue: Vec<CurrencyAmount>,
    pub last_24h: Last24h,
    /// Payments per tier, most completed first ("popular tiers").
    pub payments_per_tier: Vec<TierStats>,
    pub payments_per_status: Vec<StatusStats>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CurrencyAmount {
    #[schema(example = "USD")]
    pub currency: String,
    /// Decimal string.
    #[schema(example = "1188.00")]
    pub amount: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Last24h {
    /// Payments created in the last 24 hours.
    pub payments_created: i64,
    /// Payments completed in the last 24 hours.
    pub completed_count: i64,
    pub revenue: Vec<CurrencyAmount>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TierStats {
    pub tier: String,
    pub payments: i64,
    pub completed: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StatusStats {
    pub status: String,
    pub count: i64,
}

/// Completed count, revenue by currency, the last 24 hours and payments per tier.
#[utoipa::path(
    get,
    path = "/api/v1/admin/stats",
    operation_id = "getAdminStats",
    tag = "admin",
    responses(
        (status = 200, description = "Payment statistics", body = AdminStats),
        (status = 401, description = "Missing or wrong admin token", body = ErrorResponse),
        (status = 500, description = "Internal error", body = ErrorResponse),
    ),
    security(("admin_token" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn get_admin_stats(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, AdminError> {
    if !state.admin_token.admits(&req) {
        return Err(AdminError::Unauthorized);
    }
    Ok(HttpResponse::Ok().json(collect(&state).await?))
}

/// What the admin endpoints can fail with, mapped to HTTP here.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("send Authorization: Bearer <ADMIN_TOKEN>")]
    Unauthorized,
    #[error("internal error")]
    Database(#[from] sqlx::Error),
}

impl AdminError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthorized => "unauthorized",
            Self::Database(_) => "internal_error",
        }
    }

    /// (status, code) of each error, for the API document.
    pub fn answers() -> Vec<(StatusCode, &'static str)> {
        [Self::Unauthorized, Self::Database(sqlx::Error::PoolClosed)]
            .iter()
            .map(|e| (e.status_code(), e.code()))
            .collect()
    }
}

impl ResponseError for AdminError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Database(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::Database(e) = self {
            tracing::error!(error = %e, "admin stats failed");
        }
        platform::http::error_response(self.status_code(), self.code(), self.to_string())
    }
}

async fn collect(state: &AppState) -> sqlx::Result<AdminStats> {
    let totals = report::totals(&state.pool).await?;
    let revenue = report::revenue(&state.pool).await?;
    let tiers = report::per_tier(&state.pool).await?;
    let statuses = report::per_status(&state.pool).await?;
    Ok(AdminStats {
        payments_total: totals.payments,
        completed_count: totals.completed,
        revenue: revenue
            .iter()
            .map(|r| CurrencyAmount {
                currency: r.currency.clone(),
                amount: display_amount(r.all_time),
            })
            .collect(),
        last_24h: Last24h {
            payments_created: totals.created_24h,
            completed_count: totals.completed_24h,
            revenue: revenue
                .iter()
                .filter(|r| !r.last_24h.is_zero())
                .map(|r| CurrencyAmount {
                    currency: r.currency.clone(),
                    amount: display_amount(r.last_24h),
                })
                .collect(),
        },
        payments_per_tier: tiers
            .into_iter()
            .map(|t| TierStats {
                tier: t.tier,
                payments: t.payments,
                completed: t.completed,
            })
            .collect(),
        payments_per_status: statuses
            .into_iter()
            .map(|s| StatusStats {
                status: s.status,
                count: s.count,
            })
            .collect(),
    })
}
