//! CryptoCloud API v2 under `/v2`, with the configured faults in front of it.

mod auth;
mod body;
mod error;
mod invoices;
mod wallet;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::{from_fn, Next};
use actix_web::web::{self, Bytes};
use actix_web::HttpResponse;
use chrono::Utc;

use crate::faults::{Action, Overrides};
use crate::startup::AppState;
use crate::store::ApiRequest;

/// Largest request body accepted (info with 100 ids is far below this).
const BODY_LIMIT: usize = 64 * 1024;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/v2")
            .wrap(from_fn(inject_faults))
            .app_data(web::PayloadConfig::new(BODY_LIMIT))
            .route("/invoice/create", web::post().to(invoices::create))
            .route("/invoice/merchant/info", web::post().to(invoices::info))
            .route(
                "/invoice/merchant/canceled",
                web::post().to(invoices::cancel),
            )
            .route("/invoice/merchant/list", web::post().to(invoices::list))
            .route(
                "/invoice/merchant/statistics",
                web::post().to(invoices::statistics),
            )
            .route(
                "/merchant/wallet/balance/all",
                web::post().to(wallet::balance),
            )
            .route(
                "/invoice/static/create",
                web::post().to(wallet::create_static),
            )
            .default_service(web::to(not_found)),
    );
}

async fn not_found() -> HttpResponse {
    HttpResponse::NotFound().json(serde_json::json!({"detail": "Not Found"}))
}

/// Applies latency, injected errors and dropped connections, and logs every API call.
async fn inject_faults(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    let overrides = match Overrides::from_headers(req.headers()) {
        Ok(o) => o,
        Err(message) => {
            let response = HttpResponse::BadRequest().json(serde_json::json!({"detail": message}));
            return Ok(req.into_response(response));
        }
    };
    let decision = state.store.decide_fault(overrides);
    if !decision.latency.is_zero() {
        tokio::time::sleep(decision.latency).await;
    }
    let mut record = ApiRequest {
        at: Utc::now(),
        method: req.method().to_string(),
        path: req.path().to_owned(),
        fault: None,
        latency_ms: u64::try_from(decision.latency.as_millis()).unwrap_or(u64::MAX),
        status: None,
    };
    let response = match decision.action {
        Action::Drop => {
            tracing::info!(path = %record.path, "fault injected: dropping the connection");
            record.fault = Some("drop".to_owned());
            req.into_response(dropped_connection())
        }
        Action::Fail(status) => {
            tracing::info!(path = %record.path, status, "fault injected: error answer");
            record.fault = Some(format!("error_{status}"));
            record.status = Some(status);
            req.into_response(injected_error(status))
        }
        Action::Answer => {
            let response = next.call(req).await?.map_into_boxed_body();
            record.status = Some(response.status().as_u16());
            response
        }
    };
    state.store.record_request(record);
    Ok(response)
}

/// An error answer as the infrastructure in front of CryptoCloud would give it.
fn injected_error(status: u16) -> HttpResponse {
    let code = actix_web::http::StatusCode::from_u16(status)
        .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
    let reason = code.canonical_reason().unwrap_or("Error");
    let mut response = HttpResponse::build(code);
    match status {
        429 => response
            .insert_header(("Retry-After", "1"))
            .json(serde_json::json!({"detail": reason})),
        500 => response
            .content_type("text/plain; charset=utf-8")
            .body(reason),
        _ => response.json(serde_json::json!({"detail": reason})),
    }
}

/// A response whose body fails before its first byte: actix then closes the connection
/// without writing the head, so the client sees the connection drop with no answer.
fn dropped_connection() -> HttpResponse {
    let failing = futures::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::other(
            "connection dropped by sandbox fault injection",
        ))
    });
    HttpResponse::Ok().streaming(failing)
}
