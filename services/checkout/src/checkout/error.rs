//! Everything a checkout can fail with, and its one mapping to HTTP.

use std::time::Duration;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use crate::domain::{InvalidMonths, InvalidPaymentMethod};
use crate::idempotency::IdempotencyError;
use crate::provider::{ProviderAnswer, ProviderFailure};

/// Everything a checkout can fail with; mapped to HTTP in [`ResponseError`] below and to
/// the error page's reason codes in [`CheckoutError::reason`].
#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    #[error("unknown tier {0:?}; see GET /api/v1/tiers")]
    UnknownTier(String),
    #[error("the {0} plan cannot be bought")]
    NotForSale(String),
    #[error(transparent)]
    InvalidMonths(#[from] InvalidMonths),
    #[error(transparent)]
    InvalidPaymentMethod(#[from] InvalidPaymentMethod),
    #[error("Idempotency-Key must be 1 to 255 visible ASCII characters")]
    InvalidIdempotencyKey,
    #[error("this Idempotency-Key was already used with a different request body")]
    IdempotencyKeyReused,
    #[error("a request with this Idempotency-Key is still being processed; retry shortly")]
    IdempotencyKeyInUse,
    #[error("the {tier} plan is priced in {wanted}, the running plan in {running}: time left cannot be converted between currencies")]
    PlanCurrencyMismatch {
        tier: String,
        wanted: String,
        running: String,
    },
    #[error("{} (payment {payment_id} was marked failed)", .failure.message())]
    Provider {
        failure: ProviderFailure,
        payment_id: i64,
        retry_after: Option<Duration>,
    },
    #[error("internal error")]
    Unexpected(#[from] anyhow::Error),
}

impl CheckoutError {
    /// The machine-readable code of the error body and of the error page's `reason`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::UnknownTier(_) => "unknown_tier",
            Self::NotForSale(_) => "tier_not_purchasable",
            Self::InvalidMonths(_) => "invalid_months",
            Self::InvalidPaymentMethod(_) => "invalid_payment_method",
            Self::InvalidIdempotencyKey => "invalid_idempotency_key",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::IdempotencyKeyInUse => "idempotency_key_in_use",
            Self::PlanCurrencyMismatch { .. } => "plan_currency_mismatch",
            Self::Provider { failure, .. } => failure.code(),
            Self::Unexpected(_) => "internal_error",
        }
    }
}

impl CheckoutError {
    /// Every (status, code) a checkout can fail with, for the API document: one error of
    /// each kind (and of each provider failure), mapped by the same functions as a real one.
    pub fn answers() -> Vec<(StatusCode, &'static str)> {
        let mut errors = vec![
            Self::UnknownTier(String::new()),
            Self::NotForSale(String::new()),
            Self::InvalidMonths(InvalidMonths { max: 1 }),
            Self::InvalidPaymentMethod(InvalidPaymentMethod(String::new())),
            Self::InvalidIdempotencyKey,
            Self::IdempotencyKeyReused,
            Self::IdempotencyKeyInUse,
            Self::PlanCurrencyMismatch {
                tier: String::new(),
                wanted: String::new(),
                running: String::new(),
            },
            Self::Unexpected(anyhow::anyhow!("a sample")),
        ];
        errors.extend(ProviderFailure::ALL.map(|failure| Self::Provider {
            failure,
            payment_id: 0,
            retry_after: None,
        }));
        errors
            .iter()
            .map(|e| {
                // Naming every variant: a new one does not compile until it is sampled above.
                match e {
                    Self::UnknownTier(_)
                    | Self::NotForSale(_)
                    | Self::InvalidMonths(_)
                    | Self::InvalidPaymentMethod(_)
                    | Self::InvalidIdempotencyKey
                    | Self::IdempotencyKeyReused
                    | Self::IdempotencyKeyInUse
                    | Self::PlanCurrencyMismatch { .. }
                    | Self::Provider { .. }
                    | Self::Unexpected(_) => {}
                }
                (e.status_code(), e.reason())
            })
            .collect()
    }
}

impl From<sqlx::Error> for CheckoutError {
    fn from(e: sqlx::Error) -> Self {
        Self::Unexpected(anyhow::Error::new(e).context("database"))
    }
}

impl From<IdempotencyError> for CheckoutError {
    fn from(e: IdempotencyError) -> Self {
        match e {
            IdempotencyError::Mismatch => Self::IdempotencyKeyReused,
            IdempotencyError::StillRunning => Self::IdempotencyKeyInUse,
            IdempotencyError::Database(e) => e.into(),
        }
    }
}

impl ResponseError for CheckoutError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::UnknownTier(_)
            | Self::NotForSale(_)
            | Self::InvalidMonths(_)
            | Self::InvalidPaymentMethod(_)
            | Self::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            Self::InvalidIdempotencyKey => StatusCode::BAD_REQUEST,
            Self::IdempotencyKeyInUse | Self::PlanCurrencyMismatch { .. } => StatusCode::CONFLICT,
            Self::Provider { failure, .. } => failure.status(),
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::Unexpected(e) = self {
            // The detail goes to the log, never to the caller.
            tracing::error!(error = ?e, "checkout failed");
        }
        let mut response =
            platform::http::error_response(self.status_code(), self.reason(), self.to_string());
        let retry_after = match self {
            Self::Provider { retry_after, .. } => *retry_after,
            Self::IdempotencyKeyInUse => Some(Duration::from_secs(1)),
            _ => None,
        };
        if let Some(after) = retry_after {
            if let Ok(value) = HeaderValue::from_str(&after.as_secs().max(1).to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}
