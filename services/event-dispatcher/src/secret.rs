//! An endpoint's signing secret: `whsec_` + base64 of at least 24 random bytes; the HMAC
//! key is the decoded bytes. Generated when the admin does not give one.

use base64::Engine as _;
use rand::RngCore as _;

const PREFIX: &str = "whsec_";
/// What a generated secret holds, and the least a given one must.
const GENERATED_BYTES: usize = 32;
const MIN_BYTES: usize = 24;

/// A valid secret. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BadSecret {
    #[error("a secret starts with `whsec_`")]
    Prefix,
    #[error("a secret is `whsec_` followed by base64")]
    NotBase64,
    #[error("a secret holds at least {MIN_BYTES} bytes (it has {0})")]
    TooShort(usize),
}

impl WebhookSecret {
    pub fn parse(raw: &str) -> Result<Self, BadSecret> {
        let raw = raw.trim();
        let encoded = raw.strip_prefix(PREFIX).ok_or(BadSecret::Prefix)?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| BadSecret::NotBase64)?;
        if bytes.len() < MIN_BYTES {
            return Err(BadSecret::TooShort(bytes.len()));
        }
        Ok(Self(raw.to_string()))
    }

    pub fn generate() -> Self {
        let mut bytes = [0u8; GENERATED_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(format!(
            "{PREFIX}{}",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        ))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_are_valid_and_distinct() {
        let a = WebhookSecret::generate();
        let b = WebhookSecret::generate();
        assert_ne!(a, b);
        assert_eq!(WebhookSecret::parse(a.expose()), Ok(a.clone()));
        assert!(!format!("{a:?}").contains(a.expose()));
    }

    #[test]
    fn bad_secrets_say_why() {
        assert_eq!(
            WebhookSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            Err(BadSecret::Prefix)
        );
        assert_eq!(
            WebhookSecret::parse("whsec_not base64!"),
            Err(BadSecret::NotBase64)
        );
        assert_eq!(
            WebhookSecret::parse("whsec_c2hvcnQ="),
            Err(BadSecret::TooShort(5))
        );
        // The Standard Webhooks specification's example secret.
        assert!(WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_ok());
    }
}
