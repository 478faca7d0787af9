//! `Authorization: Token <API_KEY>`, checked as CryptoCloud does: no key is an
//! "Unauthorized request." (401); a key that is not the project's gets a PyJWT-style
//! `{"detail": ...}` (403).

use std::future::{ready, Ready};

use actix_web::http::header::AUTHORIZATION;
use actix_web::{web, FromRequest, HttpRequest};
use secrecy::ExposeSecret;

use super::error::ApiError;
use crate::startup::AppState;

/// Extracting this succeeds only for the configured API key.
pub struct Authorized;

impl FromRequest for Authorized {
    type Error = ApiError;
    type Future = Ready<Result<Authorized, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let Some(state) = req.app_data::<web::Data<AppState>>() else {
            return ready(Err(ApiError::MissingKey));
        };
        let header = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        ready(check(header, state.api_key.expose_secret()))
    }
}

fn check(header: Option<&str>, api_key: &str) -> Result<Authorized, ApiError> {
    let Some(key) = header.and_then(|h| h.strip_prefix("Token ")).map(str::trim) else {
        return Err(ApiError::MissingKey);
    };
    if key.is_empty() {
        return Err(ApiError::MissingKey);
    }
    if key == api_key {
        return Ok(Authorized);
    }
    // Real keys are JWTs: something that is not one cannot even be decoded.
    if key.split('.').count() == 3 {
        Err(ApiError::WrongKey("Signature verification failed"))
    } else {
        Err(ApiError::WrongKey("Not enough segments"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_token_scheme_with_the_key_passes() {
        assert!(check(Some("Token k1"), "k1").is_ok());
        assert!(matches!(check(None, "k1"), Err(ApiError::MissingKey)));
        assert!(matches!(
            check(Some("Bearer k1"), "k1"),
            Err(ApiError::MissingKey)
        ));
        assert!(matches!(
            check(Some("Token "), "k1"),
            Err(ApiError::MissingKey)
        ));
        assert!(matches!(
            check(Some("Token k2"), "k1"),
            Err(ApiError::WrongKey("Not enough segments"))
        ));
        assert!(matches!(
            check(Some("Token a.b.c"), "k1"),
            Err(ApiError::WrongKey("Signature verification failed"))
        ));
    }
}
