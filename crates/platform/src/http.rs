//! Building blocks shared by the HTTP services: the contract's error body, operational
//! endpoints, request metrics, and JSON/form extractor configuration.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Serialize;

/// `{"error": {"code", "message"}}`: every 4xx/5xx of our APIs has this shape.
#[derive(Debug, Serialize, Clone)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, Clone)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
}

pub fn error_response(status: StatusCode, code: &str, message: impl Into<String>) -> HttpResponse {
    HttpResponse::build(status).json(ErrorBody {
        error: ErrorDetail {
            code: code.to_string(),
            message: message.into(),
        },
    })
}

/// `GET /healthz`: the process is up.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// Readiness answer: 200 when every check passed, else 503 with the details.
pub fn readiness(checks: &[(&str, bool)]) -> HttpResponse {
    let ready = checks.iter().all(|(_, ok)| *ok);
    let details: serde_json::Map<String, serde_json::Value> = checks
        .iter()
        .map(|(name, ok)| {
            (
                name.to_string(),
                serde_json::Value::from(if *ok { "up" } else { "down" }),
            )
        })
        .collect();
    let body =
        serde_json::json!({"status": if ready { "ready" } else { "not ready" }, "checks": details});
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
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
            use actix_web::error::JsonPayloadError as E;
            let response = match &err {
                E::OverflowKnownLength { .. } | E::Overflow { .. } => too_large(),
                E::ContentType => wrong_content_type("application/json"),
                E::Deserialize(e) if e.is_data() => error_response(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_field",
                    e.to_string(),
                ),
                E::Deserialize(e) => {
                    error_response(StatusCode::BAD_REQUEST, "malformed_json", e.to_string())
                }
                other => error_response(StatusCode::BAD_REQUEST, "bad_request", other.to_string()),
            };
            actix_web::error::InternalError::from_response(err, response).into()
        })
}

fn too_large() -> HttpResponse {
    error_response(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "the request body is too large",
    )
}

fn wrong_content_type(expected: &str) -> HttpResponse {
    error_response(
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
            let response = match &err {
                E::Overflow { .. } => too_large(),
                E::ContentType => wrong_content_type("application/x-www-form-urlencoded"),
                other => error_response(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_form",
                    other.to_string(),
                ),
            };
            actix_web::error::InternalError::from_response(err, response).into()
        })
}

/// Query-string extractor config with the same error body.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| {
        let response = error_response(StatusCode::BAD_REQUEST, "invalid_query", err.to_string());
        actix_web::error::InternalError::from_response(err, response).into()
    })
}

/// Path extractor config with the same error body (a non-numeric id is a 404, not a 400:
/// no such resource).
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err, _req| {
        let response = error_response(StatusCode::NOT_FOUND, "not_found", "no such resource");
        actix_web::error::InternalError::from_response(err, response).into()
    })
}
