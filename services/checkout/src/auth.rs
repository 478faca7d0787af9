//! Users: an HS256 JWT (`sub` = user id, `exp` required) in `Authorization: Bearer ...` or
//! in the `session` cookie. The admin: a static bearer token.

use std::future::{ready, Ready};

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, ResponseError};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize};

use crate::configuration::BaseUrl;
use crate::domain::UserId;

/// Name of the cookie that may carry the user token.
pub const SESSION_COOKIE: &str = "session";
/// Clock skew allowed on `exp`.
const LEEWAY_SECS: u64 = 30;

/// Verifies user tokens with the current key and, during a rotation, the previous one.
pub struct TokenKeys {
    current: DecodingKey,
    previous: Option<DecodingKey>,
    signing: EncodingKey,
    validation: Validation,
}

impl TokenKeys {
    /// With `audience`, a token must name it in `aud`; without, `aud` is not looked at
    /// (the main application's tokens may carry one of their own).
    pub fn new(
        current: &SecretString,
        previous: Option<&SecretString>,
        audience: Option<&str>,
    ) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        // `sub` is required by `Claims` itself: listing it here would refuse numeric subjects.
        match audience {
            Some(audience) => {
                validation.set_audience(&[audience]);
                validation.set_required_spec_claims(&["exp", "aud"]);
            }
            None => {
                validation.validate_aud = false;
                validation.set_required_spec_claims(&["exp"]);
            }
        }
        validation.leeway = LEEWAY_SECS;
        validation.validate_exp = true;
        // Configuration refuses empty secrets, the one kind of key jsonwebtoken rejects.
        let decoding = |s: &SecretString| {
            DecodingKey::from_secret(s.expose_secret().as_bytes()).expect("a non-empty secret")
        };
        Self {
            current: decoding(current),
            previous: previous.map(decoding),
            signing: EncodingKey::from_secret(current.expose_secret().as_bytes())
                .expect("a non-empty secret"),
            validation,
        }
    }

    /// The user a token names, if it is genuine and unexpired.
    pub fn verify(&self, token: &str) -> Result<UserId, AuthError> {
        let decoded = match jsonwebtoken::decode::<Claims>(token, &self.current, &self.validation) {
            Err(e)
                if matches!(e.kind(), ErrorKind::InvalidSignature) && self.previous.is_some() =>
            {
                let previous = self.previous.as_ref().expect("checked above");
                jsonwebtoken::decode::<Claims>(token, previous, &self.validation)
            }
            other => other,
        };
        match decoded {
            Ok(data) => Ok(data.claims.sub),
            Err(e) if matches!(e.kind(), ErrorKind::ExpiredSignature) => Err(AuthError::Expired),
            Err(_) => Err(AuthError::Invalid),
        }
    }

    /// A token for `user` valid for `ttl` (used by the development login only).
    pub fn issue(&self, user: UserId, ttl: chrono::Duration) -> String {
        let claims = IssuedClaims {
            sub: user.get().to_string(),
            exp: (chrono::Utc::now() + ttl).timestamp(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.signing)
            .expect("HS256 signing of a small claim set cannot fail")
    }
}

#[derive(Deserialize)]
struct Claims {
    #[serde(deserialize_with = "subject")]
    sub: UserId,
}

#[derive(Serialize)]
struct IssuedClaims {
    sub: String,
    exp: i64,
}

/// `sub` is a string per RFC 7519, but issuers also send a bare number.
fn subject<'de, D: Deserializer<'de>>(d: D) -> Result<UserId, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Sub {
        Text(String),
        Number(i64),
    }
    match Sub::deserialize(d)? {
        Sub::Text(t) => UserId::parse(&t),
        Sub::Number(n) => UserId::new(n),
    }
    .map_err(serde::de::Error::custom)
}

/// Why a request is not authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("sign in first: send a bearer token or the session cookie")]
    Missing,
    #[error("the token is not valid")]
    Invalid,
    #[error("the token has expired; sign in again")]
    Expired,
}

impl AuthError {
    /// Every reason, for the API document.
    pub const ALL: [Self; 3] = [Self::Missing, Self::Invalid, Self::Expired];

    pub fn code(self) -> &'static str {
        match self {
            Self::Missing => "unauthorized",
            Self::Invalid => "invalid_token",
            Self::Expired => "token_expired",
        }
    }
}

impl ResponseError for AuthError {
    fn status_code(&self) -> StatusCode {
        StatusCode::UNAUTHORIZED
    }

    fn error_response(&self) -> HttpResponse {
        let mut response =
            platform::http::error_response(self.status_code(), self.code(), self.to_string());
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        response
    }
}

/// Where the caller's token came from: a cookie can be sent by a cross-site form, a header
/// cannot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    Header,
    Cookie,
}

/// The authenticated caller. As an extractor it answers 401 with the JSON error body; page
/// handlers take `Result<User, AuthError>` to render their own answer.
#[derive(Debug, Clone, Copy)]
pub struct User {
    pub id: UserId,
    pub source: TokenSource,
}

impl User {
    pub fn authenticate(req: &HttpRequest, keys: &TokenKeys) -> Result<Self, AuthError> {
        // A present Authorization header wins, and must be a bearer token.
        if let Some(value) = req.headers().get(header::AUTHORIZATION) {
            let token = value
                .to_str()
                .ok()
                .and_then(bearer_token)
                .ok_or(AuthError::Invalid)?;
            return keys.verify(token).map(|id| User {
                id,
                source: TokenSource::Header,
            });
        }
        if let Some(cookie) = req.cookie(SESSION_COOKIE) {
            return keys.verify(cookie.value()).map(|id| User {
                id,
                source: TokenSource::Cookie,
            });
        }
        Err(AuthError::Missing)
    }
}

impl FromRequest for User {
    type Error = AuthError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let result = match req.app_data::<web::Data<TokenKeys>>() {
            Some(keys) => Self::authenticate(req, keys),
            None => Err(AuthError::Invalid),
        };
        ready(result)
    }
}

impl User {
    /// Whether this caller may change state with this request: always with a bearer
    /// header (a page on another site cannot set one), and with the session cookie only
    /// when the request comes from our own site (the cookie rides along on cross-site posts).
    pub fn may_change_state(&self, req: &HttpRequest, base_url: &BaseUrl) -> bool {
        self.source == TokenSource::Header || same_origin(req, base_url)
    }
}

/// True unless the browser says the form came from another site: `Origin` (or, failing
/// that, `Referer`) must be our `BASE_URL` or the host the request was sent to.
fn same_origin(req: &HttpRequest, base_url: &BaseUrl) -> bool {
    let source = req
        .headers()
        .get(header::ORIGIN)
        .or_else(|| req.headers().get(header::REFERER))
        .and_then(|v| v.to_str().ok());
    let Some(source) = source else {
        // Old browsers and non-browser clients send neither; SameSite=Lax still applies.
        return true;
    };
    let Ok(url) = url::Url::parse(source) else {
        return false;
    };
    let origin = url.origin().ascii_serialization();
    if origin == base_url.origin() {
        return true;
    }
    let info = req.connection_info();
    origin == format!("{}://{}", info.scheme(), info.host())
}

use platform::bearer::bearer_token;
pub use platform::bearer::AdminToken;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_aud_claim_is_ignored_unless_an_audience_is_configured() {
        let exp = chrono::Utc::now().timestamp() + 60;
        let sign = |claims: serde_json::Value| {
            jsonwebtoken::encode(
                &Header::new(Algorithm::HS256),
                &claims,
                &EncodingKey::from_secret(b"current").unwrap(),
            )
            .unwrap()
        };
        let with_aud = sign(json!({"sub": "7", "exp": exp, "aud": "main-app"}));
        let without = sign(json!({"sub": "7", "exp": exp}));
        let secret = SecretString::from("current".to_string());
        let open = TokenKeys::new(&secret, None, None);
        assert_eq!(open.verify(&with_aud).map(UserId::get), Ok(7));
        assert_eq!(open.verify(&without).map(UserId::get), Ok(7));
        let strict = TokenKeys::new(&secret, None, Some("payments"));
        assert_eq!(strict.verify(&with_aud), Err(AuthError::Invalid));
        assert_eq!(strict.verify(&without), Err(AuthError::Invalid));
        let ours = sign(json!({"sub": "7", "exp": exp, "aud": "payments"}));
        assert_eq!(strict.verify(&ours).map(UserId::get), Ok(7));
    }

    fn sign(secret: &str, claims: serde_json::Value) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()).unwrap(),
        )
        .unwrap()
    }

    fn exp_in(secs: i64) -> i64 {
        chrono::Utc::now().timestamp() + secs
    }

    fn keys(previous: Option<&str>) -> TokenKeys {
        let prev = previous.map(|p| SecretString::from(p.to_string()));
        TokenKeys::new(
            &SecretString::from("current".to_string()),
            prev.as_ref(),
            None,
        )
    }

    #[test]
    fn accepts_string_and_number_subjects() {
        let k = keys(None);
        let t = sign("current", json!({"sub": "42", "exp": exp_in(60)}));
        assert_eq!(k.verify(&t).unwrap().get(), 42);
        let t = sign("current", json!({"sub": 43, "exp": exp_in(60)}));
        assert_eq!(k.verify(&t).unwrap().get(), 43);
    }

    #[test]
    fn refuses_expired_unsigned_foreign_and_malformed_tokens() {
        let k = keys(None);
        let expired = sign("current", json!({"sub": "1", "exp": exp_in(-3600)}));
        assert_eq!(k.verify(&expired), Err(AuthError::Expired));
        let no_exp = sign("current", json!({"sub": "1"}));
        assert_eq!(k.verify(&no_exp), Err(AuthError::Invalid));
        let foreign = sign("other", json!({"sub": "1", "exp": exp_in(60)}));
        assert_eq!(k.verify(&foreign), Err(AuthError::Invalid));
        let bad_sub = sign("current", json!({"sub": "abc", "exp": exp_in(60)}));
        assert_eq!(k.verify(&bad_sub), Err(AuthError::Invalid));
        let zero = sign("current", json!({"sub": 0, "exp": exp_in(60)}));
        assert_eq!(k.verify(&zero), Err(AuthError::Invalid));
        assert_eq!(k.verify("not.a.token"), Err(AuthError::Invalid));
        // alg=none and HS512 are refused.
        let hs512 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &json!({"sub": "1", "exp": exp_in(60)}),
            &EncodingKey::from_secret(b"current").unwrap(),
        )
        .unwrap();
        assert_eq!(k.verify(&hs512), Err(AuthError::Invalid));
    }

    #[test]
    fn the_previous_key_is_accepted_during_a_rotation() {
        let old = sign("old", json!({"sub": "7", "exp": exp_in(60)}));
        assert_eq!(keys(None).verify(&old), Err(AuthError::Invalid));
        assert_eq!(keys(Some("old")).verify(&old).unwrap().get(), 7);
    }

    #[test]
    fn issued_tokens_verify() {
        let k = keys(None);
        let t = k.issue(UserId::new(5).unwrap(), chrono::Duration::hours(1));
        assert_eq!(k.verify(&t).unwrap().get(), 5);
    }
}
