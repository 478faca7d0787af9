//! The admin API under `/api/v1/admin`, behind `Authorization: Bearer <ADMIN_TOKEN>`:
//! endpoints (create, list, get, patch, delete), each endpoint's delivery log, resend of
//! one delivery and recovery of every failed one since a time. Errors are [`AdminError`],
//! mapped to the contract's error body in one place.

use std::future::{ready, Ready};

use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, ResponseError};
use chrono::{DateTime, Utc};
use platform::bearer::AdminToken;
use serde::Deserialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::deliveries::{self, DeliveryStatus, Trigger};
use crate::endpoints::{self, BadEndpoint, Changes, NewEndpoint};
use crate::scheduler::Dispatch;
use crate::secret::WebhookSecret;

/// Most deliveries one log request returns.
const MAX_LOG_ROWS: i64 = 500;
/// Largest admin request body.
const MAX_BODY_BYTES: usize = 16 * 1024;

pub struct AdminState {
    pub pool: PgPool,
    pub token: AdminToken,
    pub dispatch: Dispatch,
    pub allow_private: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("send Authorization: Bearer <ADMIN_TOKEN>")]
    Unauthorized,
    #[error("no such {0}")]
    NotFound(&'static str),
    #[error("{0}")]
    Invalid(#[from] BadEndpoint),
    #[error("{0}")]
    BadQuery(String),
    #[error("this endpoint comes from WEBHOOK_ENDPOINTS: change the setting instead (only `enabled` can be changed here)")]
    FromConfig,
    #[error("internal error")]
    Database(#[from] sqlx::Error),
}

impl AdminError {
    fn code(&self) -> &'static str {
        match self {
            Self::Unauthorized => "unauthorized",
            Self::NotFound(_) => "not_found",
            Self::Invalid(_) => "invalid_field",
            Self::BadQuery(_) => "invalid_query",
            Self::FromConfig => "endpoint_from_config",
            Self::Database(_) => "internal_error",
        }
    }
}

impl ResponseError for AdminError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::BadQuery(_) => StatusCode::BAD_REQUEST,
            Self::FromConfig => StatusCode::CONFLICT,
            Self::Database(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::Database(e) = self {
            tracing::error!(error = %e, "admin request failed");
        }
        platform::http::error_response(self.status_code(), self.code(), self.to_string())
    }
}

/// Proof that the request carries the admin token: handlers take it as an argument.
pub struct Admin;

impl FromRequest for Admin {
    type Error = AdminError;
    type Future = Ready<Result<Self, AdminError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let admitted = req
            .app_data::<web::Data<AdminState>>()
            .is_some_and(|state| state.token.admits(req));
        ready(if admitted {
            Ok(Admin)
        } else {
            Err(AdminError::Unauthorized)
        })
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1/admin")
            .app_data(platform::http::json_config(MAX_BODY_BYTES))
            .app_data(
                web::QueryConfig::default()
                    .error_handler(|err, _| AdminError::BadQuery(err.to_string()).into()),
            )
            .app_data(web::PathConfig::default().error_handler(|_, _| {
                AdminError::NotFound("endpoint or delivery (ids are UUIDs)").into()
            }))
            .route("/webhook-endpoints", web::post().to(create))
            .route("/webhook-endpoints", web::get().to(list))
            .route("/webhook-endpoints/{id}", web::get().to(get))
            .route("/webhook-endpoints/{id}", web::patch().to(patch))
            .route("/webhook-endpoints/{id}", web::delete().to(delete))
            .route("/webhook-endpoints/{id}/deliveries", web::get().to(log))
            .route("/webhook-endpoints/{id}/recover", web::post().to(recover))
            .route("/deliveries/{delivery_id}/resend", web::post().to(resend)),
    );
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateEndpoint {
    pub url: String,
    pub events: Vec<String>,
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}

/// 201 with the endpoint and its secret: the only time the secret is shown.
#[tracing::instrument(skip_all)]
async fn create(
    _: Admin,
    state: web::Data<AdminState>,
    body: web::Json<CreateEndpoint>,
) -> Result<HttpResponse, AdminError> {
    let new = NewEndpoint::parse(
        &body.url,
        body.secret.as_deref(),
        &body.events,
        body.description.as_deref(),
        state.allow_private,
    )
    .await?;
    let endpoint = endpoints::insert(&state.pool, &new).await?;
    tracing::info!(endpoint_id = %endpoint.id, "endpoint created");
    let mut json = serde_json::to_value(&endpoint).expect("serialises");
    json["secret"] = new.secret.expose().into();
    Ok(HttpResponse::Created().json(json))
}

#[tracing::instrument(skip_all)]
async fn list(_: Admin, state: web::Data<AdminState>) -> Result<HttpResponse, AdminError> {
    let all = endpoints::list(&state.pool).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "data": all })))
}

#[tracing::instrument(skip_all, fields(endpoint_id = %id))]
async fn get(
    _: Admin,
    state: web::Data<AdminState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AdminError> {
    let endpoint = endpoints::get(&state.pool, *id)
        .await?
        .ok_or(AdminError::NotFound("endpoint"))?;
    Ok(HttpResponse::Ok().json(endpoint))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchEndpoint {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
    /// A new secret (rotation); the old one stops signing at once.
    pub secret: Option<String>,
}

#[tracing::instrument(skip_all, fields(endpoint_id = %id))]
async fn patch(
    _: Admin,
    state: web::Data<AdminState>,
    id: web::Path<Uuid>,
    body: web::Json<PatchEndpoint>,
) -> Result<HttpResponse, AdminError> {
    let current = endpoints::get(&state.pool, *id)
        .await?
        .ok_or(AdminError::NotFound("endpoint"))?;
    let body = body.into_inner();
    if current.from_config && (body.url.is_some() || body.events.is_some() || body.secret.is_some())
    {
        return Err(AdminError::FromConfig);
    }
    let url = match body.url {
        Some(raw) => {
            let url = crate::destination::parse_url(&raw).map_err(BadEndpoint::from)?;
            crate::destination::check(&url, state.allow_private)
                .await
                .map_err(BadEndpoint::from)?;
            Some(url)
        }
        None => None,
    };
    let changes = Changes {
        url,
        events: body
            .events
            .as_deref()
            .map(endpoints::event_types)
            .transpose()?,
        description: body
            .description
            .as_deref()
            .map(|d| endpoints::description_of(Some(d)))
            .transpose()?,
        enabled: body.enabled,
        secret: body
            .secret
            .as_deref()
            .map(WebhookSecret::parse)
            .transpose()
            .map_err(BadEndpoint::from)?,
    };
    let endpoint = endpoints::update(&state.pool, *id, &changes)
        .await?
        .ok_or(AdminError::NotFound("endpoint"))?;
    Ok(HttpResponse::Ok().json(endpoint))
}

#[tracing::instrument(skip_all, fields(endpoint_id = %id))]
async fn delete(
    _: Admin,
    state: web::Data<AdminState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AdminError> {
    let current = endpoints::get(&state.pool, *id)
        .await?
        .ok_or(AdminError::NotFound("endpoint"))?;
    if current.from_config {
        return Err(AdminError::FromConfig);
    }
    endpoints::delete(&state.pool, *id).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize)]
pub struct LogQuery {
    pub status: Option<DeliveryStatus>,
    pub since: Option<DateTime<Utc>>,
    pub limit: Option<i64>,
}

#[tracing::instrument(skip_all, fields(endpoint_id = %id))]
async fn log(
    _: Admin,
    state: web::Data<AdminState>,
    id: web::Path<Uuid>,
    query: web::Query<LogQuery>,
) -> Result<HttpResponse, AdminError> {
    endpoints::get(&state.pool, *id)
        .await?
        .ok_or(AdminError::NotFound("endpoint"))?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=MAX_LOG_ROWS).contains(&limit) {
        return Err(AdminError::BadQuery(format!(
            "limit must be from 1 to {MAX_LOG_ROWS}"
        )));
    }
    let rows = deliveries::log(&state.pool, *id, query.status, query.since, limit).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "data": rows })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecoverBody {
    pub since: DateTime<Utc>,
}

/// 202: the failed deliveries are due again; the scheduler attempts them.
#[tracing::instrument(skip_all, fields(endpoint_id = %id))]
async fn recover(
    _: Admin,
    state: web::Data<AdminState>,
    id: web::Path<Uuid>,
    body: web::Json<RecoverBody>,
) -> Result<HttpResponse, AdminError> {
    endpoints::get(&state.pool, *id)
        .await?
        .ok_or(AdminError::NotFound("endpoint"))?;
    let recovered = deliveries::recover(&state.pool, *id, body.since).await?;
    tracing::info!(endpoint_id = %id, recovered, "failed deliveries recovered");
    Ok(HttpResponse::Accepted().json(serde_json::json!({ "recovered": recovered })))
}

/// One attempt now, with the same `webhook-id`; 200 with the delivery's status and what
/// the attempt got.
#[tracing::instrument(skip_all, fields(delivery_id = %id))]
async fn resend(
    _: Admin,
    state: web::Data<AdminState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AdminError> {
    let due = deliveries::due_for_resend(&state.pool, *id)
        .await?
        .ok_or(AdminError::NotFound("delivery"))?;
    let (attempt, recorded) = state.dispatch.attempt(&due, Trigger::Resend).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "delivery_id": due.delivery_id,
        "event_id": due.event_id,
        "status": recorded.status,
        "attempt": {
            "attempted_at": attempt.attempted_at,
            "response_status": attempt.response_status,
            "error": attempt.error,
            "duration_ms": attempt.duration.as_millis() as u64,
            "trigger": "resend",
        },
    })))
}
