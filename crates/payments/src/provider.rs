//! Why CryptoCloud did not give us an invoice: one reason code per kind of failure, kept in
//! `payments.failure_reason` and used as a metric label (checkout maps it to 502 or 503).

use std::time::Duration;

/// Why CryptoCloud did not give us what we asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderFailure {
    /// Connection refused, DNS, TLS or I/O failure.
    Unavailable,
    /// No answer within `CRYPTOCLOUD_TIMEOUT_MS`.
    Timeout,
    /// HTTP 429.
    RateLimited,
    /// HTTP 5xx.
    ServerError,
    /// A validation error: CryptoCloud refused the request's fields.
    Rejected,
    /// The API key or shop was refused.
    Unauthorized,
    /// An answer we could not read, or one without a payment link.
    BadResponse,
}

impl ProviderFailure {
    pub fn classify(error: &cryptocloud::Error) -> Self {
        use cryptocloud::Error as E;
        match error {
            E::Transport { timeout: true, .. } => Self::Timeout,
            E::Transport { .. } | E::Config { .. } => Self::Unavailable,
            E::RateLimited { .. } => Self::RateLimited,
            E::Server { .. } => Self::ServerError,
            E::Validation { .. } => Self::Rejected,
            E::Unauthorized { .. } => Self::Unauthorized,
            E::Decode { .. } => Self::BadResponse,
        }
    }

    /// The code stored in `payments.failure_reason` and sent in the error body.
    pub fn code(self) -> &'static str {
        match self {
            Self::Unavailable => "provider_unavailable",
            Self::Timeout => "provider_timeout",
            Self::RateLimited => "provider_rate_limited",
            Self::ServerError => "provider_error",
            Self::Rejected => "provider_rejected",
            Self::Unauthorized => "provider_unauthorized",
            Self::BadResponse => "provider_bad_response",
        }
    }

    /// Seconds a client should wait before trying again, for the `Retry-After` header.
    pub fn retry_after(self, error: Option<&cryptocloud::Error>) -> Option<Duration> {
        match (self, error) {
            (Self::RateLimited, Some(cryptocloud::Error::RateLimited { retry_after })) => {
                Some(retry_after.unwrap_or(Duration::from_secs(30)))
            }
            (Self::Unavailable | Self::Timeout | Self::RateLimited, _) => {
                Some(Duration::from_secs(30))
            }
            _ => None,
        }
    }

    /// Every reason, for pages, the API document's error codes and tests.
    pub const ALL: [ProviderFailure; 7] = [
        Self::Unavailable,
        Self::Timeout,
        Self::RateLimited,
        Self::ServerError,
        Self::Rejected,
        Self::Unauthorized,
        Self::BadResponse,
    ];

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.code() == code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn each_failure_has_its_code() {
        let cases = [
            (
                cryptocloud::Error::Transport {
                    message: "refused".into(),
                    timeout: false,
                },
                "provider_unavailable",
            ),
            (
                cryptocloud::Error::Transport {
                    message: "slow".into(),
                    timeout: true,
                },
                "provider_timeout",
            ),
            (
                cryptocloud::Error::RateLimited { retry_after: None },
                "provider_rate_limited",
            ),
            (
                cryptocloud::Error::Server {
                    status: 500,
                    message: "boom".into(),
                },
                "provider_error",
            ),
            (
                cryptocloud::Error::Validation {
                    fields: BTreeMap::new(),
                },
                "provider_rejected",
            ),
            (
                cryptocloud::Error::Unauthorized {
                    message: "no".into(),
                },
                "provider_unauthorized",
            ),
            (
                cryptocloud::Error::Decode {
                    message: "?".into(),
                },
                "provider_bad_response",
            ),
        ];
        for (error, code) in cases {
            let f = ProviderFailure::classify(&error);
            assert_eq!(f.code(), code);
            assert_eq!(ProviderFailure::from_code(code), Some(f));
        }
    }
}
