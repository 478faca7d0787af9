//! Operations HTTP: `/healthz`, `/readyz`, `/metrics`, and the API document at
//! `/openapi.json`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use actix_web::{web, HttpResponse};
use platform::broker::Broker;
use platform::http::{HealthStatus, ReadinessStatus};
use sqlx::PgPool;

#[derive(Clone)]
pub struct Readiness {
    pub pool: PgPool,
    pub broker: Broker,
    /// A consumer is attached to the `event-dispatcher` queue.
    pub consuming: Arc<AtomicBool>,
}

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
    let database = platform::database::is_reachable(&state.pool).await;
    platform::http::readiness(&[
        ("database", database),
        ("broker", state.broker.is_ready()),
        ("consumer", state.consuming.load(Ordering::SeqCst)),
    ])
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(platform::http::metrics))
        .route("/openapi.json", web::get().to(crate::openapi::openapi_json));
}
