//! `Authorization: Bearer <token>`: parsing it, and the static admin token of the admin
//! APIs, compared in constant time.

use actix_web::http::header;
use actix_web::HttpRequest;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

/// The token of `Bearer <token>` (scheme case-insensitive).
pub fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The admin token, kept only as a digest so comparisons take the same time for any input.
pub struct AdminToken([u8; 32]);

impl AdminToken {
    pub fn new(token: &SecretString) -> Self {
        Self(Sha256::digest(token.expose_secret().as_bytes()).into())
    }

    /// True when the request carries `Authorization: Bearer <ADMIN_TOKEN>`.
    pub fn admits(&self, req: &HttpRequest) -> bool {
        let Some(token) = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer_token)
        else {
            return false;
        };
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        // Constant-time comparison of the digests.
        digest
            .iter()
            .zip(self.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer"), None);
        assert_eq!(bearer_token("Bearer "), None);
    }

    #[test]
    fn only_the_token_is_admitted() {
        let token = AdminToken::new(&SecretString::from("s3cret".to_string()));
        let with = |value: &str| {
            actix_web::test::TestRequest::default()
                .insert_header((header::AUTHORIZATION, value))
                .to_http_request()
        };
        assert!(token.admits(&with("Bearer s3cret")));
        assert!(!token.admits(&with("Bearer s3cre")));
        assert!(!token.admits(&with("Basic s3cret")));
        assert!(!token.admits(&actix_web::test::TestRequest::default().to_http_request()));
    }
}
