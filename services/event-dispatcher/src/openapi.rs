//! The admin API's document, served at `GET /openapi.json` on the dispatcher's own port:
//! generated from the handlers' `#[utoipa::path]` attributes, completed with the admin
//! token's security scheme and every operation's error codes, taken from [`AdminError`]
//! so that the document lists what is really answered.

use actix_web::HttpResponse;
use platform::http::{ErrorDetail, ErrorResponse};
use platform::openapi::{Answers, OperationAnswers};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::admin::{self, AdminError};
use crate::endpoints::BadEndpoint;
use crate::http;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "event-dispatcher",
        description = "Merchant webhook endpoints and their delivery log: add, change and remove \
                       endpoints, read every delivery with its attempts, resend one delivery, \
                       recover every failed one. Every admin call takes \
                       `Authorization: Bearer <ADMIN_TOKEN>`. The webhooks themselves are \
                       described in checkout's document (`webhooks`)."
    ),
    paths(
        admin::create,
        admin::list,
        admin::get,
        admin::patch,
        admin::delete,
        admin::log,
        admin::recover,
        admin::resend,
        http::healthz,
        http::readyz,
    ),
    components(schemas(ErrorResponse, ErrorDetail)),
    modifiers(&Security, &ErrorCodes),
    tags(
        (name = "webhook-endpoints", description = "Where events are delivered"),
        (name = "deliveries", description = "What was delivered, resending and recovering"),
        (name = "operations", description = "Health and readiness"),
    )
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "admin_token",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
    }
}

/// Each admin operation with what it can fail with.
pub const ERROR_ANSWERS: &[OperationAnswers] = &[
    ("createWebhookEndpoint", || {
        with_body(&[AdminError::Invalid(BadEndpoint::NoEvents)])
    }),
    ("listWebhookEndpoints", || always(&[])),
    ("getWebhookEndpoint", || {
        always(&[AdminError::NotFound("endpoint")])
    }),
    ("updateWebhookEndpoint", || {
        with_body(&[
            AdminError::NotFound("endpoint"),
            AdminError::Invalid(BadEndpoint::NoEvents),
            AdminError::FromConfig,
        ])
    }),
    ("deleteWebhookEndpoint", || {
        always(&[AdminError::NotFound("endpoint"), AdminError::FromConfig])
    }),
    ("listDeliveries", || {
        always(&[
            AdminError::NotFound("endpoint"),
            AdminError::BadQuery(String::new()),
        ])
    }),
    ("recoverDeliveries", || {
        with_body(&[AdminError::NotFound("endpoint")])
    }),
    ("resendDelivery", || {
        always(&[AdminError::NotFound("delivery")])
    }),
];

/// `errors` and what every admin call can fail with: no token, a database error.
fn always(errors: &[AdminError]) -> Answers {
    let every = [
        AdminError::Unauthorized,
        AdminError::Database(sqlx::Error::PoolClosed),
    ];
    [AdminError::answers(&every), AdminError::answers(errors)].concat()
}

/// [`always`] and a rejected JSON body.
fn with_body(errors: &[AdminError]) -> Answers {
    [always(errors), platform::http::json_rejections()].concat()
}

struct ErrorCodes;

impl Modify for ErrorCodes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        platform::openapi::write_error_answers(openapi, ERROR_ANSWERS);
    }
}

/// The document as JSON.
pub fn document() -> serde_json::Value {
    serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI document serialises")
}

/// `GET /openapi.json`.
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(document())
}
