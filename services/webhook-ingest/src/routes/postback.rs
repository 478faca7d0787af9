//! `POST /api/webhook/payment`: admit the source, read the body (64 KiB at most), parse,
//! verify and validate it, publish it and answer 200 only after the broker's confirm.

use std::time::{Duration, Instant};

use actix_web::http::header::{self, HeaderMap};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use chrono::Utc;
use futures::StreamExt;
use platform::broker::{Broker, PublishError};
use platform::http::error_response;

use crate::intake::{Intake, Intaker, Rejection};
use crate::source::{SourceDenied, SourcePolicy};
use crate::telemetry;

/// Largest postback body accepted; CryptoCloud's are a few KiB.
pub const BODY_LIMIT: usize = 64 * 1024;

/// What the endpoint needs, shared by every worker thread.
pub struct PostbackEndpoint {
    pub intaker: Intaker,
    pub sources: SourcePolicy,
    pub broker: Broker,
    pub exchange: String,
    pub publish_timeout: Duration,
    /// `INGEST_BODY_TIMEOUT_MS`: the deadline for the whole body.
    pub body_timeout: Duration,
}

/// Everything that keeps a postback from a 200, mapped to HTTP in one place below.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Source(#[from] SourceDenied),
    #[error("the request body is larger than {BODY_LIMIT} bytes")]
    TooLarge,
    #[error("the request body could not be read: {0}")]
    Unreadable(String),
    #[error("the request body did not arrive within {0:?}")]
    BodyTimeout(Duration),
    #[error(transparent)]
    Rejected(#[from] Rejection),
    #[error("the postback could not be stored: {0}")]
    Publish(#[from] PublishError),
}

impl IngestError {
    /// Error code in the body, and the `reason` label of the rejection metric.
    pub fn code(&self) -> &'static str {
        match self {
            IngestError::Source(SourceDenied::NotAllowed) => "forbidden_source",
            IngestError::Source(SourceDenied::RateLimited { .. }) => "rate_limited",
            IngestError::TooLarge => "payload_too_large",
            IngestError::Unreadable(_) => "unreadable_body",
            IngestError::BodyTimeout(_) => "body_timeout",
            IngestError::Rejected(r) => r.reason(),
            IngestError::Publish(PublishError::NotConnected | PublishError::Broker(_)) => {
                "broker_unavailable"
            }
            IngestError::Publish(PublishError::Timeout(_)) => "publish_timeout",
            IngestError::Publish(PublishError::Nacked) => "publish_nacked",
            IngestError::Publish(PublishError::Returned(_)) => "unroutable",
        }
    }

    /// The message for the sender: what was wrong, never a secret or broker internals.
    fn public_message(&self) -> String {
        match self {
            IngestError::Publish(PublishError::Timeout(_)) => {
                "the message broker did not confirm the postback in time; retry later".to_owned()
            }
            IngestError::Publish(_) => {
                "the postback could not be stored right now; retry later".to_owned()
            }
            other => other.to_string(),
        }
    }
}

impl ResponseError for IngestError {
    fn status_code(&self) -> StatusCode {
        match self {
            IngestError::Source(SourceDenied::NotAllowed) => StatusCode::FORBIDDEN,
            IngestError::Source(SourceDenied::RateLimited { .. }) => StatusCode::TOO_MANY_REQUESTS,
            IngestError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            IngestError::Unreadable(_) => StatusCode::BAD_REQUEST,
            IngestError::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            IngestError::Rejected(r) if r.is_token_problem() => StatusCode::UNAUTHORIZED,
            IngestError::Rejected(_) => StatusCode::BAD_REQUEST,
            IngestError::Publish(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = error_response(self.status_code(), self.code(), self.public_message());
        let retry_after = match self {
            IngestError::Source(SourceDenied::RateLimited { retry_after }) => {
                Some(retry_after.as_secs_f64().ceil().max(1.0) as u64)
            }
            IngestError::Publish(_) => Some(1),
            _ => None,
        };
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
        }
        response
    }
}

#[tracing::instrument(
    name = "receive postback",
    skip_all,
    fields(invoice_id, message_id, format, outcome)
)]
pub async fn receive_postback(
    req: HttpRequest,
    payload: web::Payload,
    endpoint: web::Data<PostbackEndpoint>,
) -> Result<HttpResponse, IngestError> {
    telemetry::received();
    let span = tracing::Span::current();
    match ingest(&req, payload, &endpoint).await {
        Ok(()) => {
            span.record("outcome", "published");
            Ok(HttpResponse::Ok().json(serde_json::json!({"status": "ok"})))
        }
        Err(err) => {
            let code = err.code();
            span.record("outcome", code);
            telemetry::rejected(code);
            if matches!(err, IngestError::Publish(_)) {
                tracing::error!(error = %err, code, "postback not published");
            } else {
                tracing::warn!(error = %err, code, "postback refused");
            }
            Err(err)
        }
    }
}

async fn ingest(
    req: &HttpRequest,
    payload: web::Payload,
    endpoint: &PostbackEndpoint,
) -> Result<(), IngestError> {
    endpoint
        .sources
        .admit(req.peer_addr(), forwarded_for(req.headers()).as_deref())?;
    let body = tokio::time::timeout(endpoint.body_timeout, read_body(req, payload))
        .await
        .map_err(|_| IngestError::BodyTimeout(endpoint.body_timeout))??;
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let Intake {
        postback,
        token_age_secs,
        token_id,
    } = endpoint.intaker.accept(content_type, &body, Utc::now())?;
    telemetry::token_age(token_age_secs);
    telemetry::token_id(token_id.as_str());

    let span = tracing::Span::current();
    span.record("invoice_id", postback.invoice_id.code());
    span.record("message_id", postback.message_id.as_str());
    span.record("format", postback.format.as_str());

    let event = events::encode(&postback.to_event());
    let started = Instant::now();
    let published = endpoint
        .broker
        .publish(
            &endpoint.exchange,
            <events::PostbackReceived as events::Event>::ROUTING_KEY,
            &event,
            postback.properties(),
            endpoint.publish_timeout,
        )
        .await;
    let outcome = if published.is_ok() {
        "confirmed"
    } else {
        "failed"
    };
    telemetry::publish_duration(outcome, started.elapsed());
    published?;
    telemetry::published(postback.format.as_str());
    tracing::info!(
        status = postback.postback_status.as_str(),
        invoice_status = postback.invoice_status.as_ref().map(|s| s.as_str()),
        "postback published"
    );
    Ok(())
}

/// All `X-Forwarded-For` headers, joined in order.
fn forwarded_for(headers: &HeaderMap) -> Option<String> {
    let parts: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .collect();
    (!parts.is_empty()).then(|| parts.join(","))
}

/// Reads the body, refusing it as soon as it passes the limit (by `Content-Length` before
/// reading, or while streaming when there is none).
async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
) -> Result<web::BytesMut, IngestError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > BODY_LIMIT as u64) {
        return Err(IngestError::TooLarge);
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| IngestError::Unreadable(e.to_string()))?;
        if body.len() + chunk.len() > BODY_LIMIT {
            return Err(IngestError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
