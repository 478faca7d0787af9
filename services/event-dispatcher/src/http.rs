//! Operations HTTP: `/healthz`, `/readyz`, `/metrics`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use actix_web::{web, HttpResponse};
use platform::broker::Broker;
use sqlx::PgPool;

#[derive(Clone)]
pub struct Readiness {
    pub pool: PgPool,
    pub broker: Broker,
    /// A consumer is attached to the `event-dispatcher` queue.
    pub consuming: Arc<AtomicBool>,
}

/// Ready when the database answers, the broker is connected and the consumer is attached.
pub async fn readyz(state: web::Data<Readiness>) -> HttpResponse {
    let database = platform::database::is_reachable(&state.pool).await;
    platform::http::readiness(&[
        ("database", database),
        ("broker", state.broker.is_ready()),
        ("consumer", state.consuming.load(Ordering::SeqCst)),
    ])
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(platform::http::healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(platform::http::metrics));
}
