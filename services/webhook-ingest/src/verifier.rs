//! The postback token check, with an optional second key so the secret can be rotated
//! without refusing postbacks signed just before the switch.

use std::time::Duration;

use cryptocloud::{InvoiceId, TokenError, TokenVerifier, VerifiedToken};
use secrecy::SecretString;

#[derive(Debug, Clone)]
pub struct KeyRing {
    current: TokenVerifier,
    previous: Option<TokenVerifier>,
}

impl KeyRing {
    pub fn new(current: SecretString, previous: Option<SecretString>, leeway: Duration) -> Self {
        KeyRing {
            current: TokenVerifier::new(current, leeway),
            previous: previous.map(|key| TokenVerifier::new(key, leeway)),
        }
    }

    /// Verifies with the current key; only a signature mismatch is retried with the
    /// previous one (an expired or misdirected token stays refused whatever the key).
    pub fn verify(
        &self,
        token: Option<&str>,
        invoice: &InvoiceId,
    ) -> Result<VerifiedToken, TokenError> {
        match (self.current.verify(token, invoice), &self.previous) {
            (Err(TokenError::BadSignature), Some(previous)) => previous.verify(token, invoice),
            (result, _) => result,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration as ChronoDuration, Utc};
    use cryptocloud::{sign_postback_token, IdClaim};

    use super::*;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    #[test]
    fn the_previous_key_is_accepted_only_while_configured() {
        let invoice = InvoiceId::parse("7Q2K9XAB").unwrap();
        let old = sign_postback_token(
            &secret("old"),
            IdClaim::from(&invoice),
            Utc::now() + ChronoDuration::minutes(5),
        );
        let new = sign_postback_token(
            &secret("new"),
            IdClaim::from(&invoice),
            Utc::now() + ChronoDuration::minutes(5),
        );

        let rotating = KeyRing::new(secret("new"), Some(secret("old")), Duration::from_secs(60));
        assert!(rotating.verify(Some(&old), &invoice).is_ok());
        assert!(rotating.verify(Some(&new), &invoice).is_ok());

        let rotated = KeyRing::new(secret("new"), None, Duration::from_secs(60));
        assert_eq!(
            rotated.verify(Some(&old), &invoice),
            Err(TokenError::BadSignature)
        );

        let other = sign_postback_token(
            &secret("other"),
            IdClaim::from(&invoice),
            Utc::now() + ChronoDuration::minutes(5),
        );
        assert_eq!(
            rotating.verify(Some(&other), &invoice),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn an_expired_token_is_not_rescued_by_the_previous_key() {
        let invoice = InvoiceId::parse("7Q2K9XAB").unwrap();
        let expired = sign_postback_token(
            &secret("new"),
            IdClaim::from(&invoice),
            Utc::now() - ChronoDuration::minutes(10),
        );
        let ring = KeyRing::new(secret("new"), Some(secret("old")), Duration::from_secs(60));
        assert_eq!(
            ring.verify(Some(&expired), &invoice),
            Err(TokenError::Expired)
        );
    }
}
