//! The caller's payments: history, one payment, cancel. Another user's payment does not
//! exist as far as the caller can tell (404, never 403).

use std::time::Duration;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse, ResponseError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::User;
use crate::domain::{display_amount, PaymentStatus, UserId};
use crate::openapi::ErrorResponse;
use crate::payments::{self, Cursor, PaymentRecord};
use crate::provider::ProviderFailure;
use crate::state::AppState;

pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;
/// Deep offsets are slow; past this, use the cursor.
pub const MAX_PAGE: u32 = 1000;

/// One payment.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PaymentView {
    pub payment_id: i64,
    #[schema(example = "ord_01939b4f0c5e7d2a9b3c4d5e6f708192")]
    pub order_id: String,
    /// With the `INV-` prefix; null until CryptoCloud created the invoice.
    #[schema(example = "INV-7Q2K9XAB")]
    pub invoice_id: Option<String>,
    /// Decimal string.
    #[schema(example = "99.00")]
    pub amount: String,
    #[schema(example = "USD")]
    pub currency: String,
    #[schema(example = "USDT_TRC20")]
    pub payment_method: Option<String>,
    /// `creating`, `pending`, `completed`, `partial`, `canceled`, `expired` or `failed`.
    #[schema(example = "pending")]
    pub status: String,
    #[schema(example = "pro")]
    pub tier: String,
    #[schema(example = 1)]
    pub months: i32,
    pub payment_url: Option<String>,
    /// Why a `failed` payment failed, e.g. `provider_timeout`.
    pub failure_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
}

impl From<&PaymentRecord> for PaymentView {
    fn from(r: &PaymentRecord) -> Self {
        Self {
            payment_id: r.id,
            order_id: r.order_id.clone(),
            invoice_id: r.invoice_id.clone(),
            amount: display_amount(r.amount),
            currency: r.currency.clone(),
            payment_method: r.payment_method.clone(),
            status: r.status.clone(),
            tier: r.subscription_tier.clone(),
            months: r.subscription_months,
            payment_url: r.payment_url.clone(),
            failure_reason: r.failure_reason.clone(),
            created_at: r.created_at,
            updated_at: r.updated_at,
            paid_at: r.paid_at,
        }
    }
}

/// A page of history, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PaymentList {
    pub items: Vec<PaymentView>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
    /// The page number, when paging by `page`.
    pub page: Option<u32>,
    pub limit: u32,
}

/// Paging: either `cursor` (from `next_cursor`) or `page` (1-based), with `limit`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// 1 to 100, default 20.
    pub limit: Option<u32>,
    /// Opaque, from the previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// 1 to 1000; not together with `cursor`.
    pub page: Option<u32>,
}

/// What the payment endpoints can fail with, mapped to HTTP in one place below.
#[derive(Debug, thiserror::Error)]
pub enum PaymentsError {
    #[error("no such payment")]
    NotFound,
    #[error("{0}")]
    InvalidQuery(&'static str),
    #[error("{0}")]
    NotCancelable(String),
    #[error("{}", .0.message())]
    Provider(ProviderFailure, Option<Duration>),
    #[error("internal error")]
    Unexpected(#[from] anyhow::Error),
}

impl From<sqlx::Error> for PaymentsError {
    fn from(e: sqlx::Error) -> Self {
        Self::Unexpected(anyhow::Error::new(e).context("database"))
    }
}

impl ResponseError for PaymentsError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::InvalidQuery(_) => StatusCode::BAD_REQUEST,
            Self::NotCancelable(_) => StatusCode::CONFLICT,
            Self::Provider(failure, _) => failure.status(),
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let code = match self {
            Self::NotFound => "not_found",
            Self::InvalidQuery(_) => "invalid_query",
            Self::NotCancelable(_) => "not_cancelable",
            Self::Provider(failure, _) => failure.code(),
            Self::Unexpected(e) => {
                tracing::error!(error = ?e, "payments request failed");
                "internal_error"
            }
        };
        let mut response =
            platform::http::error_response(self.status_code(), code, self.to_string());
        if let Self::Provider(_, Some(after)) = self {
            if let Ok(value) = HeaderValue::from_str(&after.as_secs().max(1).to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}

/// The caller's payments, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/payments",
    tag = "payments",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of payments", body = PaymentList),
        (status = 400, description = "Bad limit, page or cursor", body = ErrorResponse),
        (status = 401, description = "No, bad or expired user token", body = ErrorResponse),
    ),
    security(("bearer" = []), ("session_cookie" = []))
)]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn list(
    user: User,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, PaymentsError> {
    let page = history_page(&state, user.id, &query).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// One page of a user's history (shared with the dashboard's history page).
pub async fn history_page(
    state: &AppState,
    user: UserId,
    query: &ListQuery,
) -> Result<PaymentList, PaymentsError> {
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(PaymentsError::InvalidQuery("limit must be from 1 to 100"));
    }
    let (cursor, offset, page) = match (&query.cursor, query.page) {
        (Some(_), Some(_)) => {
            return Err(PaymentsError::InvalidQuery(
                "use either cursor or page, not both",
            ))
        }
        (Some(text), None) => {
            let cursor = Cursor::decode(text)
                .ok_or(PaymentsError::InvalidQuery("cursor is not one we issued"))?;
            (Some(cursor), 0, None)
        }
        (None, Some(page)) => {
            if !(1..=MAX_PAGE).contains(&page) {
                return Err(PaymentsError::InvalidQuery("page must be from 1 to 1000"));
            }
            (None, i64::from(page - 1) * i64::from(limit), Some(page))
        }
        (None, None) => (None, 0, None),
    };
    // One extra row tells whether there is a next page.
    let mut rows =
        payments::list_for_user(&state.pool, user, cursor, offset, i64::from(limit) + 1).await?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_cursor = if more {
        rows.last().map(|r| Cursor::of(r).encode())
    } else {
        None
    };
    Ok(PaymentList {
        items: rows.iter().map(PaymentView::from).collect(),
        next_cursor,
        page,
        limit,
    })
}

/// One of the caller's payments.
#[utoipa::path(
    get,
    path = "/api/v1/payments/{id}",
    tag = "payments",
    params(("id" = i64, Path, description = "payment_id")),
    responses(
        (status = 200, description = "The payment", body = PaymentView),
        (status = 401, description = "No, bad or expired user token", body = ErrorResponse),
        (status = 404, description = "No such payment, or not the caller's", body = ErrorResponse),
    ),
    security(("bearer" = []), ("session_cookie" = []))
)]
#[tracing::instrument(skip_all, fields(user = %user.id, payment_id = *id))]
pub async fn get(
    user: User,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, PaymentsError> {
    let record = payments::find_for_user(&state.pool, user.id, *id)
        .await?
        .ok_or(PaymentsError::NotFound)?;
    Ok(HttpResponse::Ok().json(PaymentView::from(&record)))
}

/// Cancels a pending payment: first its invoice at CryptoCloud, then here.
#[utoipa::path(
    post,
    path = "/api/v1/payments/{id}/cancel",
    tag = "payments",
    params(("id" = i64, Path, description = "payment_id")),
    responses(
        (status = 200, description = "Canceled", body = PaymentView),
        (status = 401, description = "No, bad or expired user token", body = ErrorResponse),
        (status = 404, description = "No such payment, or not the caller's", body = ErrorResponse),
        (status = 409, description = "Not pending (or already paid at CryptoCloud)", body = ErrorResponse),
        (status = 502, description = "CryptoCloud answered with an error; nothing changed", body = ErrorResponse),
        (status = 503, description = "CryptoCloud unreachable or too slow; nothing changed", body = ErrorResponse),
    ),
    security(("bearer" = []), ("session_cookie" = []))
)]
#[tracing::instrument(skip_all, fields(user = %user.id, payment_id = *id))]
pub async fn cancel(
    user: User,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, PaymentsError> {
    let id = id.into_inner();
    // Spawned: once CryptoCloud canceled the invoice, our row follows even if the caller left.
    let record = tokio::spawn(async move { cancel_payment(&state, user.id, id).await })
        .await
        .map_err(|e| PaymentsError::Unexpected(anyhow::anyhow!("cancel task failed: {e}")))??;
    Ok(HttpResponse::Ok().json(PaymentView::from(&record)))
}

async fn cancel_payment(
    state: &AppState,
    user: UserId,
    id: i64,
) -> Result<PaymentRecord, PaymentsError> {
    let record = payments::find_for_user(&state.pool, user, id)
        .await?
        .ok_or(PaymentsError::NotFound)?;
    if record.status() != Some(PaymentStatus::Pending) {
        return Err(not_pending(&record.status));
    }
    let invoice = record
        .invoice_id
        .as_deref()
        .and_then(|i| cryptocloud::InvoiceId::parse(i).ok())
        .ok_or_else(|| {
            PaymentsError::Unexpected(anyhow::anyhow!(
                "pending payment {id} has no usable invoice id"
            ))
        })?;
    match state.cryptocloud.cancel_invoice(&invoice).await {
        Ok(()) => {}
        // CryptoCloud cancels only a `created` invoice: it was paid or canceled meanwhile,
        // and the worker will bring our row up to date.
        Err(cryptocloud::Error::Validation { fields }) => {
            tracing::info!(?fields, "CryptoCloud refused to cancel the invoice");
            return Err(PaymentsError::NotCancelable(
                "CryptoCloud no longer lets this invoice be canceled (it may have been paid)"
                    .into(),
            ));
        }
        Err(error) => {
            let failure = ProviderFailure::classify(&error);
            tracing::warn!(%error, reason = failure.code(), "canceling the invoice failed");
            return Err(PaymentsError::Provider(
                failure,
                failure.retry_after(Some(&error)),
            ));
        }
    }
    match payments::mark_canceled(&state.pool, user, id).await? {
        Some(record) => {
            tracing::info!(invoice_id = %invoice, "payment canceled");
            Ok(record)
        }
        // Changed between our read and the update (e.g. the worker completed it).
        None => {
            let now = payments::find_for_user(&state.pool, user, id)
                .await?
                .ok_or(PaymentsError::NotFound)?;
            Err(not_pending(&now.status))
        }
    }
}

fn not_pending(status: &str) -> PaymentsError {
    PaymentsError::NotCancelable(format!(
        "only a pending payment can be canceled; this one is {status}"
    ))
}
