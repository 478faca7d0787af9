//! How a failed CryptoCloud call is answered: the reason (`payments::ProviderFailure`, the
//! code kept in `payments.failure_reason`) mapped to 502 or 503 with a message for people.

use actix_web::http::StatusCode;

pub use ::payments::ProviderFailure;

/// The HTTP side of a [`ProviderFailure`].
pub trait ProviderAnswer {
    fn status(self) -> StatusCode;
    fn message(self) -> &'static str;
}

impl ProviderAnswer for ProviderFailure {
    /// 503 when trying again later may help (unreachable, slow, rate limited); 502 when
    /// CryptoCloud answered with an error.
    fn status(self) -> StatusCode {
        match self {
            ProviderFailure::Unavailable
            | ProviderFailure::Timeout
            | ProviderFailure::RateLimited => StatusCode::SERVICE_UNAVAILABLE,
            ProviderFailure::ServerError
            | ProviderFailure::Rejected
            | ProviderFailure::Unauthorized
            | ProviderFailure::BadResponse => StatusCode::BAD_GATEWAY,
        }
    }

    /// For the caller: what happened, without internals.
    fn message(self) -> &'static str {
        match self {
            ProviderFailure::Unavailable => {
                "the payment provider cannot be reached; try again in a few minutes"
            }
            ProviderFailure::Timeout => {
                "the payment provider did not answer in time; try again in a few minutes"
            }
            ProviderFailure::RateLimited => "the payment provider is busy; try again in a minute",
            ProviderFailure::ServerError => {
                "the payment provider had an internal error; try again later"
            }
            ProviderFailure::Rejected => "the payment provider refused to create the invoice",
            ProviderFailure::Unauthorized => {
                "the payment provider refused our credentials; the operator has been alerted"
            }
            ProviderFailure::BadResponse => "the payment provider gave an answer we could not use",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreachable_slow_and_rate_limited_are_503_answers_with_errors_are_502() {
        let status = |f: ProviderFailure| f.status().as_u16();
        for f in ProviderFailure::ALL {
            let expected = match f {
                ProviderFailure::Unavailable
                | ProviderFailure::Timeout
                | ProviderFailure::RateLimited => 503,
                _ => 502,
            };
            assert_eq!(status(f), expected, "{f:?}");
            assert!(!f.message().is_empty());
        }
    }
}
