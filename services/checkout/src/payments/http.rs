//! `GET /api/v1/payments`, `GET /api/v1/payments/{id}`, `POST /api/v1/payments/{id}/cancel`.
//! Another user's payment does not exist as far as the caller can tell (404, never 403).

use ::payments::history;
use actix_web::{web, HttpRequest, HttpResponse};

use super::{cancel, ListQuery, PaymentList, PaymentView, PaymentsError};
use crate::auth::User;
use crate::state::AppState;
use platform::http::ErrorResponse;

/// The caller's payments, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/payments",
    operation_id = "listPayments",
    tag = "payments",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of payments", body = PaymentList),
        (status = 400, description = "Bad limit, page or cursor", body = ErrorResponse),
        (status = 401, description = "No, bad or expired user token", body = ErrorResponse),
        (status = 500, description = "Internal error", body = ErrorResponse),
    ),
    security(("bearer" = []), ("session_cookie" = []))
)]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn list_payments(
    user: User,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, PaymentsError> {
    let page = super::history::page(&state, user.id, &query).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// One of the caller's payments.
#[utoipa::path(
    get,
    path = "/api/v1/payments/{id}",
    operation_id = "getPayment",
    tag = "payments",
    params(("id" = i64, Path, description = "payment_id")),
    responses(
        (status = 200, description = "The payment", body = PaymentView),
        (status = 401, description = "No, bad or expired user token", body = ErrorResponse),
        (status = 404, description = "No such payment, or not the caller's", body = ErrorResponse),
        (status = 500, description = "Internal error", body = ErrorResponse),
    ),
    security(("bearer" = []), ("session_cookie" = []))
)]
#[tracing::instrument(skip_all, fields(user = %user.id, payment_id = *id))]
pub async fn get_payment(
    user: User,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, PaymentsError> {
    let record = history::find_for_user(&state.pool, user.id, *id)
        .await?
        .ok_or(PaymentsError::NotFound)?;
    Ok(HttpResponse::Ok().json(PaymentView::from(&record)))
}

/// Cancels a pending payment: first its invoice at CryptoCloud, then here.
#[utoipa::path(
    post,
    path = "/api/v1/payments/{id}/cancel",
    operation_id = "cancelPayment",
    tag = "payments",
    params(("id" = i64, Path, description = "payment_id")),
    responses(
        (status = 200, description = "Canceled", body = PaymentView),
        (status = 401, description = "No, bad or expired user token", body = ErrorResponse),
        (status = 403, description = "Sent with the session cookie from another site (`forbidden_origin`)", body = ErrorResponse),
        (status = 404, description = "No such payment, or not the caller's", body = ErrorResponse),
        (status = 409, description = "Not pending (or already paid at CryptoCloud)", body = ErrorResponse),
        (status = 502, description = "CryptoCloud answered with an error; nothing changed", body = ErrorResponse),
        (status = 503, description = "CryptoCloud unreachable, too slow or rate limiting; nothing changed", body = ErrorResponse,
            headers(("Retry-After" = String, description = "Seconds to wait before retrying"))),
        (status = 500, description = "Internal error", body = ErrorResponse),
    ),
    security(("bearer" = []), ("session_cookie" = []))
)]
#[tracing::instrument(skip_all, fields(user = %user.id, payment_id = *id))]
pub async fn cancel_payment(
    user: User,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<i64>,
) -> Result<HttpResponse, PaymentsError> {
    if !user.may_change_state(&req, &state.base_url) {
        tracing::warn!(user = %user.id, "cross-site cancel refused");
        return Err(PaymentsError::ForeignOrigin);
    }
    let id = id.into_inner();
    // Spawned: once CryptoCloud canceled the invoice, our row follows even if the caller left.
    let record = tokio::spawn(async move { cancel::cancel_pending(&state, user.id, id).await })
        .await
        .map_err(|e| PaymentsError::Unexpected(anyhow::anyhow!("cancel task failed: {e}")))??;
    Ok(HttpResponse::Ok().json(PaymentView::from(&record)))
}
