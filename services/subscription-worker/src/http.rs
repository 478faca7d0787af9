//! Operations HTTP: `/healthz`, `/readyz` (database, broker, consumer), `/metrics`.

use actix_web::web;

pub use platform::http::ConsumerReadiness as Readiness;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(platform::http::healthz))
        .route("/readyz", web::get().to(platform::http::consumer_readyz))
        .route("/metrics", web::get().to(platform::http::metrics));
}
