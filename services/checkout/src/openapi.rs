//! The OpenAPI document, generated from the handlers' `#[utoipa::path]` attributes and
//! the bodies' `ToSchema` derives.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::routes;

/// The contract's error body: `{"error": {"code", "message"}}`.
#[derive(Debug, ToSchema)]
pub struct ErrorResponse {
    pub error: ErrorDetail,
}

#[derive(Debug, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable, e.g. `invalid_months`.
    #[schema(example = "invalid_months")]
    pub code: String,
    /// For humans.
    #[schema(example = "months must be a whole number from 1 to 12")]
    pub message: String,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "checkout",
        description = "Plans, checkout through CryptoCloud, payment history and subscription status. \
                       Users authenticate with an HS256 JWT (`sub` = user id) as a bearer token or in the `session` cookie."
    ),
    paths(
        routes::tiers::list_tiers,
        routes::checkout::create,
        routes::payments::list,
        routes::payments::get,
        routes::payments::cancel,
        routes::subscription::get,
        routes::admin::stats,
        routes::ops::healthz,
        routes::ops::readyz,
    ),
    components(schemas(ErrorResponse, ErrorDetail)),
    modifiers(&SecuritySchemes),
    tags(
        (name = "plans", description = "The plan catalogue"),
        (name = "checkout", description = "Buying a plan"),
        (name = "payments", description = "The caller's payments"),
        (name = "subscription", description = "The caller's plan and usage"),
        (name = "admin", description = "Operator endpoints (ADMIN_TOKEN)"),
        (name = "operations", description = "Health and readiness"),
    )
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session_cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                crate::auth::SESSION_COOKIE,
            ))),
        );
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document as JSON (built once per call; it is small).
pub fn document() -> serde_json::Value {
    serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI document serialises")
}
