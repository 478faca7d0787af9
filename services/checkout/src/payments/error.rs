//! What the payment endpoints can fail with, and its one mapping to HTTP.

use std::time::Duration;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use crate::provider::{ProviderAnswer, ProviderFailure};

#[derive(Debug, thiserror::Error)]
pub enum PaymentsError {
    #[error("no such payment")]
    NotFound,
    #[error(
        "this request came from another site; send it from our own pages or with a bearer token"
    )]
    ForeignOrigin,
    #[error("{0}")]
    InvalidQuery(&'static str),
    #[error("{0}")]
    NotCancelable(String),
    #[error("{}", .0.message())]
    Provider(ProviderFailure, Option<Duration>),
    #[error("internal error")]
    Unexpected(#[from] anyhow::Error),
}

impl PaymentsError {
    /// The machine-readable code of the error body.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::ForeignOrigin => "forbidden_origin",
            Self::InvalidQuery(_) => "invalid_query",
            Self::NotCancelable(_) => "not_cancelable",
            Self::Provider(failure, _) => failure.code(),
            Self::Unexpected(_) => "internal_error",
        }
    }

    /// (status, code) of each error, for the API document.
    pub fn answers(errors: &[Self]) -> Vec<(StatusCode, &'static str)> {
        errors.iter().map(|e| (e.status_code(), e.code())).collect()
    }

    /// What listing the history can fail with.
    pub fn of_listing() -> Vec<Self> {
        vec![Self::InvalidQuery(""), Self::unexpected()]
    }

    /// What reading one payment can fail with.
    pub fn of_reading() -> Vec<Self> {
        vec![Self::NotFound, Self::unexpected()]
    }

    /// What canceling can fail with. CryptoCloud refusing the cancel (its validation
    /// error) is `not_cancelable`, so `provider_rejected` is not among them.
    pub fn of_canceling() -> Vec<Self> {
        let mut errors = vec![
            Self::NotFound,
            Self::ForeignOrigin,
            Self::NotCancelable(String::new()),
            Self::unexpected(),
        ];
        errors.extend(
            ProviderFailure::ALL
                .into_iter()
                .filter(|f| *f != ProviderFailure::Rejected)
                .map(|f| Self::Provider(f, None)),
        );
        errors
    }

    fn unexpected() -> Self {
        Self::Unexpected(anyhow::anyhow!("a sample"))
    }
}

impl From<sqlx::Error> for PaymentsError {
    fn from(e: sqlx::Error) -> Self {
        Self::Unexpected(anyhow::Error::new(e).context("database"))
    }
}

impl ResponseError for PaymentsError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::ForeignOrigin => StatusCode::FORBIDDEN,
            Self::InvalidQuery(_) => StatusCode::BAD_REQUEST,
            Self::NotCancelable(_) => StatusCode::CONFLICT,
            Self::Provider(failure, _) => failure.status(),
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::Unexpected(e) = self {
            tracing::error!(error = ?e, "payments request failed");
        }
        let code = self.code();
        let mut response =
            platform::http::error_response(self.status_code(), code, self.to_string());
        if let Self::Provider(_, Some(after)) = self {
            if let Ok(value) = HeaderValue::from_str(&after.as_secs().max(1).to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}
