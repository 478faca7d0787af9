//! `POST /api/v1/checkout`.

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::{
    create_payment, create_payment_once, CheckoutError, CheckoutRequest, CheckoutResponse, Order,
};
use crate::auth::User;
use crate::idempotency::IdempotencyKey;
use crate::state::AppState;
use platform::http::ErrorResponse;

pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

/// Creates a payment and its CryptoCloud invoice; send the payer to `payment_url`.
///
/// With an `Idempotency-Key` header, repeating the same request (even concurrently)
/// returns the same payment and creates one invoice; the same key with a different body
/// is a 422. Keys are kept 24 hours. After a 502/503 the key is free again, so retrying
/// with it makes a new attempt (the failed payment stays in the history).
#[utoipa::path(
    post,
    path = "/api/v1/checkout",
    operation_id = "createCheckout",
    tag = "checkout",
    request_body = CheckoutRequest,
    params(
        ("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, pattern = r"^[!-~]+$",
            description = "1 to 255 visible ASCII characters, chosen by the client per purchase; repeating the request with it returns the same payment (kept 24 hours)"),
    ),
    responses(
        (status = 201, description = "Payment created, invoice pending", body = CheckoutResponse,
            headers(
                ("Location" = String, description = "/api/v1/payments/{payment_id}"),
                ("Idempotent-Replayed" = String, description = "`true` when this is the stored answer of an earlier request with the same Idempotency-Key"),
            )),
        (status = 400, description = "Malformed JSON or Idempotency-Key", body = ErrorResponse),
        (status = 401, description = "No, bad or expired user token", body = ErrorResponse,
            headers(("WWW-Authenticate" = String, description = "`Bearer`"))),
        (status = 409, description = "The same Idempotency-Key is still being processed", body = ErrorResponse,
            headers(("Retry-After" = String, description = "Seconds to wait before retrying"))),
        (status = 413, description = "Body too large", body = ErrorResponse),
        (status = 415, description = "Not application/json", body = ErrorResponse),
        (status = 422, description = "Unknown or free tier, months out of range, missing or unknown field, unknown payment method, or an Idempotency-Key reused with another body", body = ErrorResponse),
        (status = 502, description = "CryptoCloud answered with an error; the payment is marked failed", body = ErrorResponse),
        (status = 503, description = "CryptoCloud unreachable, too slow or rate limiting; the payment is marked failed", body = ErrorResponse,
            headers(("Retry-After" = String, description = "Seconds to wait before retrying"))),
        (status = 500, description = "Internal error; nothing to retry with another body", body = ErrorResponse),
    ),
    security(("bearer" = []), ("session_cookie" = []))
)]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn create_checkout(
    user: User,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<CheckoutRequest>,
) -> Result<HttpResponse, CheckoutError> {
    let body = body.into_inner();
    let order = Order::parse(
        &state.plans,
        &body.tier,
        body.months,
        body.payment_method.as_deref(),
    )?;
    let key = req
        .headers()
        .get(IDEMPOTENCY_KEY)
        .map(|v| IdempotencyKey::parse(v.as_bytes()))
        .transpose()
        .map_err(|_| CheckoutError::InvalidIdempotencyKey)?;
    match key {
        None => {
            let response = create_payment(state, user.id, order).await?;
            Ok(created(&response))
        }
        Some(key) => {
            let (stored, replayed) = create_payment_once(state, user.id, order, key).await?;
            let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::CREATED);
            let mut builder = HttpResponse::build(status);
            if let Some(id) = stored
                .body
                .get("payment_id")
                .and_then(serde_json::Value::as_i64)
            {
                builder.insert_header((header::LOCATION, format!("/api/v1/payments/{id}")));
            }
            if replayed {
                builder.insert_header(("Idempotent-Replayed", "true"));
            }
            Ok(builder.json(stored.body))
        }
    }
}

fn created(response: &CheckoutResponse) -> HttpResponse {
    HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/api/v1/payments/{}", response.payment_id),
        ))
        .json(response)
}
