//! The contract's error body, `{"error": {"code", "message"}}`, as the API document
//! describes it (`platform::http::error_response` writes it).

use utoipa::ToSchema;

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
