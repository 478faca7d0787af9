//! The admin API under `/api/v1/admin`, behind `Authorization: Bearer <ADMIN_TOKEN>`:
//! endpoints (create, list, get, patch, delete), each endpoint's delivery log, resend of
//! one delivery and recovery of every failed one since a time. Errors are [`AdminError`],
//! mapped to the contract's error body in one place. Every route is in [`admin_table`],
//! which the API document ([`crate::openapi`]) is checked against.

use std::future::{ready, Ready};

use actix_web::http::{Method, StatusCode};
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, ResponseError};
use chrono::{DateTime, Utc};
use platform::bearer::AdminToken;
use platform::http::{route, ErrorResponse, RouteRow};
use platform::openapi::Answers;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::deliveries::{self, AttemptLog, DeliveryLog, DeliveryStatus, Trigger};
use crate::endpoints::{self, BadEndpoint, Changes, Endpoint, NewEndpoint};
use crate::scheduler::Dispatch;
use crate::secret::WebhookSecret;

/// Where the admin API lives.
pub const ADMIN_PREFIX: &str = "/api/v1/admin";
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
    /// Status and code of each of `errors` (samples), as they are answered.
    pub fn answers(errors: &[AdminError]) -> Answers {
        errors.iter().map(|e| (e.status_code(), e.code())).collect()
    }

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

/// The admin API: method, path under [`ADMIN_PREFIX`], handler. [`configure`] registers
/// exactly these and [`admin_routes`] lists them, so every route goes here and nowhere else.
fn admin_table() -> Vec<RouteRow> {
    vec![
        route(Method::POST, "/webhook-endpoints", create),
        route(Method::GET, "/webhook-endpoints", list),
        route(Method::GET, "/webhook-endpoints/{id}", get),
        route(Method::PATCH, "/webhook-endpoints/{id}", patch),
        route(Method::DELETE, "/webhook-endpoints/{id}", delete),
        route(Method::GET, "/webhook-endpoints/{id}/deliveries", log),
        route(Method::POST, "/webhook-endpoints/{id}/recover", recover),
        route(Method::POST, "/deliveries/{delivery_id}/resend", resend),
    ]
}

/// Method and full path of every admin route.
pub fn admin_routes() -> Vec<(Method, String)> {
    admin_table()
        .into_iter()
        .map(|(method, path, _)| (method, format!("{ADMIN_PREFIX}{path}")))
        .collect()
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    let scope = web::scope(ADMIN_PREFIX)
        .app_data(platform::http::json_config(MAX_BODY_BYTES))
        .app_data(
            web::QueryConfig::default()
                .error_handler(|err, _| AdminError::BadQuery(err.to_string()).into()),
        )
        .app_data(web::PathConfig::default().error_handler(|_, _| {
            AdminError::NotFound("endpoint or delivery (ids are UUIDs)").into()
        }));
    let scope = admin_table()
        .into_iter()
        .fold(scope, |scope, (_, path, route)| scope.route(path, route));
    cfg.service(scope);
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEndpoint {
    /// `https://` (or `http://`) to a public address; private, loopback and link-local
    /// addresses are refused unless `DISPATCH_ALLOW_PRIVATE_URLS` is set.
    #[schema(example = "https://merchant.example/webhooks/payments")]
    pub url: String,
    /// Event types to receive, or `["*"]` for all.
    #[schema(example = json!(["payment.completed", "subscription.upgraded"]))]
    pub events: Vec<String>,
    /// `whsec_` and base64 of 24 to 64 bytes; generated when absent.
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}

/// An endpoint just created, with its signing secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedEndpoint {
    #[serde(flatten)]
    pub endpoint: Endpoint,
    /// The signing secret (`whsec_…`): shown here only.
    pub secret: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointList {
    pub data: Vec<Endpoint>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryList {
    /// Newest first.
    pub data: Vec<DeliveryLog>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Recovered {
    /// Failed deliveries made due again.
    pub recovered: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Resent {
    pub delivery_id: Uuid,
    pub event_id: String,
    /// The delivery's status after the attempt.
    pub status: DeliveryStatus,
    pub attempt: AttemptLog,
}

/// 201 with the endpoint and its secret: the only time the secret is shown.
#[utoipa::path(
    post,
    path = "/api/v1/admin/webhook-endpoints",
    operation_id = "createWebhookEndpoint",
    summary = "Add a merchant endpoint",
    tag = "webhook-endpoints",
    request_body = CreateEndpoint,
    responses(
        (status = 201, description = "Created; the secret is shown only here", body = CreatedEndpoint),
        (status = 422, description = "Bad url, secret, event type or description", body = ErrorResponse),
    ),
    security(("admin_token" = [])),
)]
#[tracing::instrument(skip_all)]
pub async fn create(
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
    Ok(HttpResponse::Created().json(CreatedEndpoint {
        endpoint,
        secret: new.secret.expose().to_string(),
    }))
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/webhook-endpoints",
    operation_id = "listWebhookEndpoints",
    summary = "Every endpoint (without secrets)",
    tag = "webhook-endpoints",
    responses((status = 200, description = "Oldest first", body = EndpointList)),
    security(("admin_token" = [])),
)]
#[tracing::instrument(skip_all)]
pub async fn list(_: Admin, state: web::Data<AdminState>) -> Result<HttpResponse, AdminError> {
    let data = endpoints::list(&state.pool).await?;
    Ok(HttpResponse::Ok().json(EndpointList { data }))
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/webhook-endpoints/{id}",
    operation_id = "getWebhookEndpoint",
    summary = "One endpoint (without its secret)",
    tag = "webhook-endpoints",
    params(("id" = Uuid, Path, description = "The endpoint's id")),
    responses(
        (status = 200, description = "The endpoint", body = Endpoint),
        (status = 404, description = "No such endpoint", body = ErrorResponse),
    ),
    security(("admin_token" = [])),
)]
#[tracing::instrument(skip_all, fields(endpoint_id = %id))]
pub async fn get(
    _: Admin,
    state: web::Data<AdminState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AdminError> {
    let endpoint = endpoints::get(&state.pool, *id)
        .await?
        .ok_or(AdminError::NotFound("endpoint"))?;
    Ok(HttpResponse::Ok().json(endpoint))
}

/// The fields to change; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchEndpoint {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
    /// A new secret (rotation); the old one stops signing at once.
    pub secret: Option<String>,
}

#[utoipa::path(
    patch,
    path = "/api/v1/admin/webhook-endpoints/{id}",
    operation_id = "updateWebhookEndpoint",
    summary = "Change, enable, disable an endpoint or rotate its secret",
    tag = "webhook-endpoints",
    params(("id" = Uuid, Path, description = "The endpoint's id")),
    request_body = PatchEndpoint,
    responses(
        (status = 200, description = "The endpoint as changed", body = Endpoint),
        (status = 404, description = "No such endpoint", body = ErrorResponse),
        (status = 409, description = "From WEBHOOK_ENDPOINTS: only `enabled` can change", body = ErrorResponse),
        (status = 422, description = "Bad url, secret, event type or description", body = ErrorResponse),
    ),
    security(("admin_token" = [])),
)]
#[tracing::instrument(skip_all, fields(endpoint_id = %id))]
pub async fn patch(
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

#[utoipa::path(
    delete,
    path = "/api/v1/admin/webhook-endpoints/{id}",
    operation_id = "deleteWebhookEndpoint",
    summary = "Remove an endpoint and its delivery log",
    tag = "webhook-endpoints",
    params(("id" = Uuid, Path, description = "The endpoint's id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such endpoint", body = ErrorResponse),
        (status = 409, description = "From WEBHOOK_ENDPOINTS: remove it from the setting", body = ErrorResponse),
    ),
    security(("admin_token" = [])),
)]
#[tracing::instrument(skip_all, fields(endpoint_id = %id))]
pub async fn delete(
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

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// Only deliveries in this status.
    pub status: Option<DeliveryStatus>,
    /// Only deliveries made at or after this time (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// At most this many, 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/webhook-endpoints/{id}/deliveries",
    operation_id = "listDeliveries",
    summary = "The endpoint's deliveries with every attempt",
    tag = "deliveries",
    params(("id" = Uuid, Path, description = "The endpoint's id"), LogQuery),
    responses(
        (status = 200, description = "Newest first", body = DeliveryList),
        (status = 400, description = "Bad status, since or limit", body = ErrorResponse),
        (status = 404, description = "No such endpoint", body = ErrorResponse),
    ),
    security(("admin_token" = [])),
)]
#[tracing::instrument(skip_all, fields(endpoint_id = %id))]
pub async fn log(
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
    let data = deliveries::log(&state.pool, *id, query.status, query.since, limit).await?;
    Ok(HttpResponse::Ok().json(DeliveryList { data }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecoverBody {
    /// Failed deliveries made at or after this time start a new schedule.
    pub since: DateTime<Utc>,
}

/// 202: the failed deliveries are due again; the scheduler attempts them.
#[utoipa::path(
    post,
    path = "/api/v1/admin/webhook-endpoints/{id}/recover",
    operation_id = "recoverDeliveries",
    summary = "Retry every failed delivery since a time",
    tag = "deliveries",
    params(("id" = Uuid, Path, description = "The endpoint's id")),
    request_body = RecoverBody,
    responses(
        (status = 202, description = "Due again; the scheduler attempts them", body = Recovered),
        (status = 404, description = "No such endpoint", body = ErrorResponse),
    ),
    security(("admin_token" = [])),
)]
#[tracing::instrument(skip_all, fields(endpoint_id = %id))]
pub async fn recover(
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
    Ok(HttpResponse::Accepted().json(Recovered { recovered }))
}

/// One attempt now, with the same `webhook-id`; 200 with the delivery's status and what
/// the attempt got.
#[utoipa::path(
    post,
    path = "/api/v1/admin/deliveries/{delivery_id}/resend",
    operation_id = "resendDelivery",
    summary = "Attempt one delivery now, with the same webhook-id",
    tag = "deliveries",
    params(("delivery_id" = Uuid, Path, description = "The delivery's id")),
    responses(
        (status = 200, description = "What the attempt got; the schedule is left as it was", body = Resent),
        (status = 404, description = "No such delivery", body = ErrorResponse),
    ),
    security(("admin_token" = [])),
)]
#[tracing::instrument(skip_all, fields(delivery_id = %id))]
pub async fn resend(
    _: Admin,
    state: web::Data<AdminState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AdminError> {
    let due = deliveries::due_for_resend(&state.pool, *id)
        .await?
        .ok_or(AdminError::NotFound("delivery"))?;
    let (attempt, recorded) = state.dispatch.attempt(&due, Trigger::Resend).await?;
    Ok(HttpResponse::Ok().json(Resent {
        delivery_id: due.delivery_id,
        event_id: due.event_id,
        status: recorded.status,
        attempt: AttemptLog {
            attempted_at: attempt.attempted_at,
            response_status: attempt.response_status.map(i32::from),
            error: attempt.error,
            duration_ms: i32::try_from(attempt.duration.as_millis()).unwrap_or(i32::MAX),
            trigger: Trigger::Resend.as_str().to_string(),
        },
    }))
}
