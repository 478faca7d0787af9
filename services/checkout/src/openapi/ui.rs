//! `GET /docs/`: Swagger UI over `/openapi.json`, with try-it-out against this service
//! (`Authorize` takes a user token or the admin token). Its files are in the binary:
//! `utoipa-swagger-ui`'s `vendored` feature takes them from a crate at build time, so
//! nothing is downloaded, then or when the page loads (no CDN, and the online validator
//! badge is off). `GET /docs/plain` is the same document rendered on the server without
//! scripts.

use std::sync::{Arc, OnceLock};

use actix_web::http::header::LOCATION;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use utoipa_swagger_ui::Config;

pub const PATH: &str = "/docs/";

fn config() -> Arc<Config<'static>> {
    static CONFIG: OnceLock<Arc<Config<'static>>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            Arc::new(
                Config::new(["/openapi.json"])
                    .try_it_out_enabled(true)
                    .display_operation_id(true)
                    .deep_linking(true)
                    // Swagger UI would otherwise load a badge from an online validator.
                    .validator_url("none"),
            )
        })
        .clone()
}

/// `GET /docs`: the UI's files are relative to `/docs/`.
pub async fn redirect() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((LOCATION, PATH))
        .finish()
}

/// `GET /docs/{file}`: the UI's page (empty `file`) and its scripts, styles and images.
pub async fn file(file: web::Path<String>) -> HttpResponse {
    match utoipa_swagger_ui::serve(&file, config()) {
        Ok(Some(found)) => HttpResponse::Ok()
            .content_type(found.content_type)
            .body(found.bytes.into_owned()),
        Ok(None) => {
            platform::http::error_response(StatusCode::NOT_FOUND, "not_found", "no such resource")
        }
        Err(e) => {
            tracing::error!(error = %e, "serving Swagger UI failed");
            platform::http::error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "internal error",
            )
        }
    }
}

/// `GET /docs/plain`.
pub async fn plain() -> HttpResponse {
    crate::pages::respond(
        StatusCode::OK,
        crate::pages::docs::render(&super::document()),
    )
}
