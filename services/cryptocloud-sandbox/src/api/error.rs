//! The API's error answers, in CryptoCloud's shapes, mapped to HTTP in one place.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// Everything an API call can be refused with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No `Authorization: Token ...` header.
    #[error("no API key")]
    MissingKey,
    /// A key was sent but is not the project's; carries PyJWT-style detail text.
    #[error("API key refused: {0}")]
    WrongKey(&'static str),
    /// `{"status":"error","result":{field: message}}`.
    #[error("validation failed: {0:?}")]
    Validation(BTreeMap<String, String>),
    /// The body is not a JSON object: FastAPI's 422 `{"detail": [...]}`.
    #[error("unprocessable body: {0}")]
    Unprocessable(String),
}

impl ApiError {
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        ApiError::Validation(BTreeMap::from([(field.to_owned(), message.into())]))
    }

    pub fn validate(message: impl Into<String>) -> Self {
        ApiError::field("validate_error", message)
    }
}

#[derive(Serialize)]
struct DetailItem<'a> {
    loc: [&'a str; 1],
    msg: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::MissingKey => StatusCode::UNAUTHORIZED,
            ApiError::WrongKey(_) => StatusCode::FORBIDDEN,
            ApiError::Validation(_) => StatusCode::BAD_REQUEST,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        match self {
            ApiError::MissingKey => response.json(serde_json::json!({
                "status": "error",
                "result": {"authorization": "Unauthorized request."},
            })),
            ApiError::WrongKey(detail) => response.json(serde_json::json!({"detail": detail})),
            ApiError::Validation(fields) => response.json(serde_json::json!({
                "status": "error",
                "result": fields,
            })),
            ApiError::Unprocessable(message) => response.json(serde_json::json!({
                "detail": [DetailItem { loc: ["body"], msg: message, kind: "value_error.jsondecode" }],
            })),
        }
    }
}
