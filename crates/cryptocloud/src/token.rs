//! The postback token: a compact HS256 JWT signed with the project's SECRET KEY,
//! with claims `{id, exp}`. It expires five minutes after sending, so it is
//! checked at receipt.

use std::fmt;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use jsonwebtoken::errors::ErrorKind;
pub use jsonwebtoken::Algorithm;
use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::InvoiceId;

/// Why a postback token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("postback token is missing")]
    Missing,
    #[error("postback token is malformed")]
    Malformed,
    #[error("postback token signature does not verify")]
    BadSignature,
    #[error("postback token uses an algorithm other than HS256")]
    Algorithm,
    #[error("postback token has expired")]
    Expired,
    #[error("postback token was issued for another invoice")]
    InvoiceMismatch,
}

/// The claims of a token that passed verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    pub exp: DateTime<Utc>,
    /// The `id` claim as text (an integer is written in decimal), if present.
    pub id: Option<String>,
    /// What the `id` claim was.
    pub id_kind: IdKind,
}

/// The forms of `id` claim a verified token can carry. The docs do not say whether
/// CryptoCloud signs the invoice code or its numeric id, so only a string can be held
/// against the postback's invoice; the worker confirms every postback with the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    /// A string naming the postback's invoice.
    Invoice,
    /// A number: CryptoCloud's own id, not comparable with the invoice code.
    Numeric,
    /// No `id` claim.
    Absent,
}

impl IdKind {
    /// Metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invoice => "invoice",
            Self::Numeric => "numeric",
            Self::Absent => "absent",
        }
    }
}

/// Verifies postback tokens: HS256 only, `exp` required (with leeway), and a string
/// `id` claim naming the postback's invoice (a numeric or absent one is accepted).
#[derive(Clone)]
pub struct TokenVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("leeway_secs", &self.validation.leeway)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Claims {
    exp: i64,
    #[serde(default)]
    id: Option<Value>,
}

impl TokenVerifier {
    pub fn new(secret: SecretString, leeway: Duration) -> Self {
        // Configuration refuses an empty secret, the one key jsonwebtoken rejects.
        let key = DecodingKey::from_secret(secret.expose_secret().as_bytes())
            .expect("the postback secret is not empty");
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = leeway.as_secs();
        validation.validate_exp = true;
        validation.validate_nbf = false;
        // CryptoCloud sets no aud/iss/sub/iat; require only exp.
        validation.validate_aud = false;
        validation.required_spec_claims = ["exp".to_owned()].into_iter().collect();
        TokenVerifier { key, validation }
    }

    /// Checks `token` for the postback of `invoice`.
    pub fn verify(
        &self,
        token: Option<&str>,
        invoice: &InvoiceId,
    ) -> Result<VerifiedToken, TokenError> {
        let token = token.map(strip_quotes).map(str::trim).unwrap_or("");
        if token.is_empty() {
            return Err(TokenError::Missing);
        }
        // Look at `alg` ourselves first: jsonwebtoken cannot even parse `none`,
        // and we want that reported as a refused algorithm, not as garbage.
        let header_b64 = token.split('.').next().unwrap_or("");
        if token.split('.').count() != 3 {
            return Err(TokenError::Malformed);
        }
        let header: Value = URL_SAFE_NO_PAD
            .decode(header_b64.trim_end_matches('='))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or(TokenError::Malformed)?;
        match header.get("alg").and_then(Value::as_str) {
            Some("HS256") => {}
            Some(_) => return Err(TokenError::Algorithm),
            None => return Err(TokenError::Malformed),
        }

        let data = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation).map_err(
            |e| match e.kind() {
                ErrorKind::InvalidSignature => TokenError::BadSignature,
                ErrorKind::ExpiredSignature => TokenError::Expired,
                ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                    TokenError::Algorithm
                }
                _ => TokenError::Malformed,
            },
        )?;
        let exp = DateTime::from_timestamp(data.claims.exp, 0).ok_or(TokenError::Malformed)?;
        let (id, id_kind) = match data.claims.id {
            None | Some(Value::Null) => (None, IdKind::Absent),
            Some(Value::String(s)) if id_matches(&s, invoice) => (Some(s), IdKind::Invoice),
            Some(Value::String(_)) => return Err(TokenError::InvoiceMismatch),
            Some(Value::Number(n)) if n.is_i64() || n.is_u64() => {
                (Some(n.to_string()), IdKind::Numeric)
            }
            Some(_) => return Err(TokenError::Malformed),
        };
        Ok(VerifiedToken { exp, id, id_kind })
    }
}

/// Compares an `id` claim with the invoice after stripping `INV-` on both
/// sides, ignoring case.
fn id_matches(claim: &str, invoice: &InvoiceId) -> bool {
    let claim = claim.trim();
    let bare = match claim.get(..4) {
        Some(head) if head.eq_ignore_ascii_case("INV-") => &claim[4..],
        _ => claim,
    };
    bare.eq_ignore_ascii_case(invoice.code())
}

/// The docs print the token as a Python bytes literal (`b'eyJ…'`); accept that
/// wrapping, or plain quotes, if a sender copies it. The signature is still checked.
fn strip_quotes(token: &str) -> &str {
    let t = token.trim();
    let unprefixed = t.strip_prefix('b').unwrap_or(t);
    for candidate in [unprefixed, t] {
        for quote in ['\'', '"'] {
            if let Some(inner) = candidate
                .strip_prefix(quote)
                .and_then(|r| r.strip_suffix(quote))
            {
                return inner;
            }
        }
    }
    t
}

/// The `id` claim to put into a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdClaim {
    /// A string id, e.g. the bare code `7Q2K9XAB`.
    Str(String),
    /// An integer id, as in the docs' sample token.
    Int(i64),
    /// No `id` claim.
    None,
}

impl From<&InvoiceId> for IdClaim {
    fn from(id: &InvoiceId) -> Self {
        IdClaim::Str(id.code().to_owned())
    }
}

#[derive(Serialize)]
struct SignClaims {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<Value>,
    exp: i64,
}

/// Signs a postback token as CryptoCloud does: HS256 with the secret key,
/// header `{"typ":"JWT","alg":"HS256"}`, claims `{id, exp}`.
pub fn sign_postback_token(secret: &SecretString, id: IdClaim, exp: DateTime<Utc>) -> String {
    let id = match id {
        IdClaim::Str(s) => Some(Value::String(s)),
        IdClaim::Int(n) => Some(Value::from(n)),
        IdClaim::None => None,
    };
    let claims = SignClaims {
        id,
        exp: exp.timestamp(),
    };
    // HMAC signing of a plain struct fails only for an empty key, which nothing configures.
    EncodingKey::from_secret(secret.expose_secret().as_bytes())
        .and_then(|key| jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key))
        .unwrap_or_default()
}

/// Signs arbitrary claims with an HMAC algorithm (HS256/HS384/HS512) and key;
/// for tests that need wrong keys, other algorithms or odd claims.
pub fn sign_with(
    alg: Algorithm,
    key: &[u8],
    claims: &Value,
) -> Result<String, jsonwebtoken::errors::Error> {
    jsonwebtoken::encode(&Header::new(alg), claims, &EncodingKey::from_secret(key)?)
}

/// Builds an unsigned token with `alg: none`; for tests that it is refused.
pub fn unsigned_token(claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{payload}.")
}
