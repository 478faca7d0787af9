//! `/readyz` and the JSON answer for unknown routes (`/healthz` and `/metrics` come from
//! platform).

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use platform::broker::Broker;
use platform::http::{error_response, readiness};

/// Ready only while a confirm-mode channel to RabbitMQ is open: without it every postback
/// would be answered 503.
pub async fn readyz(broker: web::Data<Broker>) -> HttpResponse {
    readiness(&[("broker", broker.is_ready())])
}

pub async fn not_found() -> HttpResponse {
    error_response(StatusCode::NOT_FOUND, "not_found", "no such route")
}
