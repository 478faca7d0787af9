//! The OpenAPI document, generated from the handlers' `#[utoipa::path]` attributes and
//! the bodies' `ToSchema` derives, then completed by three modifiers: the security
//! schemes, every operation's error codes ([`errors`]) and the merchant webhooks
//! ([`webhooks`]). `GET /openapi.json` serves it; `GET /docs` renders it.

pub mod errors;
pub mod webhooks;

use actix_web::HttpResponse;
use events::webhook::{
    MerchantEvent, PaymentEvent, PaymentEventData, PaymentEventType, RenewalDueData,
    RenewalDueEvent, RenewalDueEventType, SubscriptionEvent, SubscriptionEventData,
    SubscriptionEventType,
};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use self::errors::ErrorCodes;
use self::webhooks::Webhooks;

use crate::{admin, checkout, ops, payments, subscription, tiers};
use platform::http::{ErrorDetail, ErrorResponse};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "checkout",
        description = "Plans, checkout through CryptoCloud, payment history and subscription status. \
                       Users authenticate with an HS256 JWT (`sub` = user id) as a bearer token or in the `session` cookie."
    ),
    paths(
        tiers::list_tiers,
        checkout::http::create_checkout,
        payments::http::list_payments,
        payments::http::get_payment,
        payments::http::cancel_payment,
        subscription::get_subscription,
        subscription::renewal::cancel_subscription,
        subscription::renewal::resume_subscription,
        admin::get_admin_stats,
        ops::healthz,
        ops::readyz,
    ),
    components(schemas(
        ErrorResponse,
        ErrorDetail,
        MerchantEvent,
        PaymentEvent,
        PaymentEventType,
        PaymentEventData,
        SubscriptionEvent,
        SubscriptionEventType,
        SubscriptionEventData,
        RenewalDueEvent,
        RenewalDueEventType,
        RenewalDueData,
    )),
    modifiers(&SecuritySchemes, &ErrorCodes, &Webhooks),
    tags(
        (name = "plans", description = "The plan catalogue"),
        (name = "checkout", description = "Buying a plan"),
        (name = "payments", description = "The caller's payments"),
        (name = "subscription", description = "The caller's plan and usage"),
        (name = "admin", description = "Operator endpoints (ADMIN_TOKEN)"),
        (name = "operations", description = "Health and readiness"),
        (name = "webhooks", description = "Events the event dispatcher POSTs to merchant endpoints"),
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

/// `GET /openapi.json`.
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(document())
}

/// `GET /docs`.
pub async fn docs() -> HttpResponse {
    crate::pages::respond(
        actix_web::http::StatusCode::OK,
        crate::pages::docs::render(&document()),
    )
}
