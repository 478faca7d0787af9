//! Operations: liveness, readiness, and the answer for unknown paths.

use actix_web::{web, HttpResponse};
use platform::http::{HealthStatus, ReadinessStatus};

use crate::state::AppState;

/// The process is up.
#[utoipa::path(get, path = "/healthz", operation_id = "getHealth", tag = "operations",
    responses((status = 200, description = "Up", body = HealthStatus)))]
pub async fn healthz() -> HttpResponse {
    platform::http::healthz().await
}

/// The database answers.
#[utoipa::path(get, path = "/readyz", operation_id = "getReadiness", tag = "operations",
    responses(
        (status = 200, description = "Ready", body = ReadinessStatus),
        (status = 503, description = "A dependency is down", body = ReadinessStatus),
    ))]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let database = platform::database::is_reachable(&state.pool).await;
    platform::http::readiness(&[("database", database)])
}

/// Anything else: the contract's error body.
pub async fn not_found() -> HttpResponse {
    platform::http::error_response(
        actix_web::http::StatusCode::NOT_FOUND,
        "not_found",
        "no such resource",
    )
}
