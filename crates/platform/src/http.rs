//! Building blocks shared by the HTTP services: the contract's error body, operational
//! endpoints, request metrics, and JSON/form extractor configuration.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, Handler, HttpResponse, Responder, Route};
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Serialize;

/// `{"error": {"code", "message"}}`: every 4xx/5xx of our APIs has this shape.
#[derive(Debug, Serialize, Clone, utoipa::ToSchema)]
pub struct ErrorResponse {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, Clone, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable, e.g. `invalid_field`.
    #[schema(example = "invalid_field")]
    pub code: String,
    /// For humans.
    #[schema(example = "url: must be https")]
    pub message: String,
}

pub fn error_response(status: StatusCode, code: &str, message: impl Into<String>) -> HttpResponse {
    HttpResponse::build(status).json(ErrorResponse {
        error: ErrorDetail {
            code: code.to_string(),
            message: message.into(),
        },
    })
}

/// One row of a service's route table: method and path (which a contract test compares
/// with the API document) and the route actix serves for them.
pub type RouteRow = (Method, &'static str, Route);

/// A [`RouteRow`] for `handler`.
pub fn route<F, Args>(method: Method, path: &'static str, handler: F) -> RouteRow
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    (method.clone(), path, web::method(method).to(handler))
}

/// What [`healthz`] answers, as the API documents describe it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HealthStatus {
    #[schema(example = "ok")]
    pub status: String,
}

/// What [`readiness`] answers, as the API documents describe it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReadinessStatus {
    /// `ready` or `not ready`.
    pub status: String,
    /// `up` or `down` per dependency.
    pub checks: std::collections::BTreeMap<String, String>,
}

/// `GET /healthz`: the process is up.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(HealthStatus {
        status: "ok".into(),
    })
}

/// Readiness answer: 200 when every check passed, else 503 with the details.
pub fn readiness(checks: &[(&str, bool)]) -> HttpResponse {
    let ready = checks.iter().all(|(_, ok)| *ok);
    let body = ReadinessStatus {
        status: if ready { "ready" } else { "not ready" }.into(),
        checks: checks
            .iter()
            .map(|(name, ok)| (name.to_string(), if *ok { "up" } else { "down" }.into()))
            .collect(),
    };
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// What a service that consumes a queue is ready with: the database answers, the broker is
/// connected and its consumer is attached.
#[derive(Clone)]
pub struct ConsumerReadiness {
    pub pool: sqlx::PgPool,
    pub broker: crate::broker::Broker,
    /// Set while a consumer is attached to the service's queue.
    pub consuming: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// `GET /readyz` of a [`ConsumerReadiness`] service.
pub async fn consumer_readyz(state: web::Data<ConsumerReadiness>) -> HttpResponse {
    let database = crate::database::is_reachable(&state.pool).await;
    readiness(&[
        ("database", database),
        ("broker", state.broker.is_ready()),
        (
            "consumer",
            state.consuming.load(std::sync::atomic::Ordering::SeqCst),
        ),
    ])
}

/// `GET /metrics` in the Prometheus text format.
pub async fn metrics(handle: web::Data<PrometheusHandle>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(handle.render())
}

/// Middleware (`actix_web::middleware::from_fn(record_request)`) counting requests and
/// their latency by route pattern (not raw path, so ids do not explode cardinality).
pub async fn record_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().to_string();
    let res = next.call(req).await?;
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_string());
    let status = res.status().as_u16().to_string();
    let labels = [("route", route), ("method", method), ("status", status)];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    Ok(res)
}

/// JSON extractor config whose errors use the contract's body: 413 for an oversized body,
/// 415 for a wrong content type, 400 for malformed JSON, 422 for well-formed JSON with
/// missing or mistyped fields.
pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(|err, _req| {
            let (status, code, message) = json_rejection(&err);
            let response = error_response(status, code, message);
            actix_web::error::InternalError::from_response(err, response).into()
        })
}

/// Status, code and message of a rejected JSON body (see [`json_config`]).
fn json_rejection(err: &actix_web::error::JsonPayloadError) -> (StatusCode, &'static str, String) {
    use actix_web::error::JsonPayloadError as E;
    match err {
        E::OverflowKnownLength { .. } | E::Overflow { .. } => too_large(),
        E::ContentType => wrong_content_type("application/json"),
        E::Deserialize(e) if e.is_data() => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            e.to_string(),
        ),
        E::Deserialize(e) => (StatusCode::BAD_REQUEST, "malformed_json", e.to_string()),
        other => (StatusCode::BAD_REQUEST, "bad_request", other.to_string()),
    }
}

/// Every (status, code) [`json_config`] can answer with, for API documents: one error of
/// each kind, mapped by the same function as a real rejection.
pub fn json_rejections() -> Vec<(StatusCode, &'static str)> {
    use actix_web::error::{JsonPayloadError as E, PayloadError};
    let syntax = serde_json::from_str::<serde_json::Value>("{").expect_err("not JSON");
    let data = serde_json::from_str::<u8>("\"text\"").expect_err("not a number");
    [
        E::OverflowKnownLength {
            length: 2,
            limit: 1,
        },
        E::Overflow { limit: 1 },
        E::ContentType,
        E::Deserialize(syntax),
        E::Deserialize(data),
        E::Payload(PayloadError::Incomplete(None)),
    ]
    .iter()
    .map(|e| {
        let (status, code, _) = json_rejection(e);
        (status, code)
    })
    .collect()
}

fn too_large() -> (StatusCode, &'static str, String) {
    (
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "the request body is too large".into(),
    )
}

fn wrong_content_type(expected: &str) -> (StatusCode, &'static str, String) {
    (
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        format!("expected Content-Type: {expected}"),
    )
}

/// Form extractor config with the same error body.
pub fn form_config(limit: usize) -> web::FormConfig {
    web::FormConfig::default()
        .limit(limit)
        .error_handler(|err, _req| {
            use actix_web::error::UrlencodedError as E;
            let (status, code, message) = match &err {
                E::Overflow { .. } => too_large(),
                E::ContentType => wrong_content_type("application/x-www-form-urlencoded"),
                other => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_form",
                    other.to_string(),
                ),
            };
            let response = error_response(status, code, message);
            actix_web::error::InternalError::from_response(err, response).into()
        })
}

/// What [`query_config`] answers a query string it cannot read with.
pub const QUERY_REJECTION: (StatusCode, &str) = (StatusCode::BAD_REQUEST, "invalid_query");

/// Query-string extractor config with the same error body.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| {
        let (status, code) = QUERY_REJECTION;
        let response = error_response(status, code, err.to_string());
        actix_web::error::InternalError::from_response(err, response).into()
    })
}

/// What [`path_config`] answers a path segment it cannot read with.
pub const PATH_REJECTION: (StatusCode, &str) = (StatusCode::NOT_FOUND, "not_found");

/// Path extractor config with the same error body (a non-numeric id is a 404, not a 400:
/// no such resource).
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err, _req| {
        let (status, code) = PATH_REJECTION;
        let response = error_response(status, code, "no such resource");
        actix_web::error::InternalError::from_response(err, response).into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_json_rejection_is_listed() {
        let listed = json_rejections();
        for (status, code) in [
            (413, "payload_too_large"),
            (415, "unsupported_media_type"),
            (400, "malformed_json"),
            (422, "invalid_field"),
            (400, "bad_request"),
        ] {
            assert!(
                listed
                    .iter()
                    .any(|(s, c)| s.as_u16() == status && *c == code),
                "{status} {code} in {listed:?}"
            );
        }
    }
}
