//! Operations HTTP: `/healthz`, `/readyz`, `/metrics`, and the API document at
//! `/openapi.json`.

use actix_web::{web, HttpResponse};
use platform::http::{HealthStatus, ReadinessStatus};

pub use platform::http::ConsumerReadiness as Readiness;

/// The process is up.
#[utoipa::path(get, path = "/healthz", operation_id = "getHealth", summary = "Liveness",
    tag = "operations", responses((status = 200, description = "Up", body = HealthStatus)))]
pub async fn healthz() -> HttpResponse {
    platform::http::healthz().await
}

/// Ready when the database answers, the broker is connected and the consumer is attached.
#[utoipa::path(get, path = "/readyz", operation_id = "getReadiness", summary = "Readiness",
    tag = "operations",
    responses(
        (status = 200, description = "Ready", body = ReadinessStatus),
        (status = 503, description = "The database, the broker or the consumer is down", body = ReadinessStatus),
    ))]
pub async fn readyz(state: web::Data<Readiness>) -> HttpResponse {
    platform::http::consumer_readyz(state).await
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(platform::http::metrics))
        .route("/openapi.json", web::get().to(crate::openapi::openapi_json));
}
