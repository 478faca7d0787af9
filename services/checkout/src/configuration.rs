//! Checkout's settings. Field names are the lower-case contract variable names
//! (`DATABASE_URL` → `database_url`); see `platform::config` for the sources and their order.

use std::fmt;
use std::time::Duration;

use platform::config::{
    empty_as_none, non_empty_secret, non_empty_string, optional_secret, DatabaseUrl,
};
use secrecy::SecretString;
use serde::{Deserialize, Deserializer};

use crate::plans::{PlanCatalogue, PlanError, PlanSettings};

#[derive(Deserialize)]
pub struct Settings {
    #[serde(default)]
    pub database_url: DatabaseUrl,
    #[serde(default = "default_api_url")]
    pub cryptocloud_api_url: String,
    #[serde(deserialize_with = "non_empty_secret")]
    pub cryptocloud_api_key: SecretString,
    #[serde(deserialize_with = "non_empty_string")]
    pub cryptocloud_shop_id: String,
    /// Public URL of checkout, for the links we hand out.
    #[serde(default = "default_base_url", deserialize_with = "base_url")]
    pub base_url: BaseUrl,
    /// HS256 key of user tokens.
    #[serde(deserialize_with = "non_empty_secret")]
    pub auth_jwt_secret: SecretString,
    /// The previous key during a rotation: tokens verifying with it are accepted too.
    #[serde(default, deserialize_with = "optional_secret")]
    pub auth_jwt_secret_previous: Option<SecretString>,
    /// When set, user tokens must carry this `aud`; when not, `aud` is ignored.
    #[serde(default, deserialize_with = "empty_as_none")]
    pub auth_jwt_audience: Option<String>,
    #[serde(deserialize_with = "non_empty_secret")]
    pub admin_token: SecretString,
    #[serde(default = "default_listen")]
    pub checkout_listen: String,
    /// Whole-request timeout of CryptoCloud calls.
    #[serde(default = "default_timeout_ms")]
    pub cryptocloud_timeout_ms: u64,
    #[serde(default = "default_pool_size")]
    pub checkout_db_pool_size: u32,
    /// Largest JSON or form body accepted.
    #[serde(default = "default_max_body")]
    pub checkout_max_body_bytes: usize,
    /// `GET /dev/login?user_id=N` hands out a session cookie. Never in production.
    #[serde(default)]
    pub dev_login_enabled: bool,
    /// `GRACE_PERIOD_DAYS`: days after expiry during which the user keeps the paid tier
    /// (shown as `status: grace`); the worker reads the same setting.
    #[serde(default, deserialize_with = "grace_days")]
    pub grace_period_days: u32,
    /// Added or changed plans (see `plans`).
    #[serde(default)]
    pub plans: PlanSettings,
    /// HTTP worker threads; `None` = one per core.
    #[serde(default)]
    pub checkout_workers: Option<usize>,
}

impl Settings {
    /// Settings for tests and tools: everything but the required values at its default.
    pub fn new(
        database_url: DatabaseUrl,
        cryptocloud_api_url: impl Into<String>,
        cryptocloud_api_key: impl Into<String>,
        cryptocloud_shop_id: impl Into<String>,
        auth_jwt_secret: impl Into<String>,
        admin_token: impl Into<String>,
    ) -> Self {
        Self {
            database_url,
            cryptocloud_api_url: cryptocloud_api_url.into(),
            cryptocloud_api_key: SecretString::from(cryptocloud_api_key.into()),
            cryptocloud_shop_id: cryptocloud_shop_id.into(),
            base_url: default_base_url(),
            auth_jwt_secret: SecretString::from(auth_jwt_secret.into()),
            auth_jwt_secret_previous: None,
            auth_jwt_audience: None,
            admin_token: SecretString::from(admin_token.into()),
            checkout_listen: default_listen(),
            cryptocloud_timeout_ms: default_timeout_ms(),
            checkout_db_pool_size: default_pool_size(),
            checkout_max_body_bytes: default_max_body(),
            dev_login_enabled: false,
            grace_period_days: 0,
            plans: PlanSettings::default(),
            checkout_workers: None,
        }
    }

    pub fn cryptocloud_timeout(&self) -> Duration {
        Duration::from_millis(self.cryptocloud_timeout_ms.max(1))
    }

    /// The plan catalogue these settings describe.
    pub fn plan_catalogue(&self) -> Result<PlanCatalogue, PlanError> {
        PlanCatalogue::from_settings(&self.plans)
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Secrets are left out entirely.
        f.debug_struct("Settings")
            .field("database_url", &self.database_url)
            .field("cryptocloud_api_url", &self.cryptocloud_api_url)
            .field("cryptocloud_shop_id", &self.cryptocloud_shop_id)
            .field("base_url", &self.base_url.as_str())
            .field("checkout_listen", &self.checkout_listen)
            .field("cryptocloud_timeout_ms", &self.cryptocloud_timeout_ms)
            .field("checkout_db_pool_size", &self.checkout_db_pool_size)
            .field("dev_login_enabled", &self.dev_login_enabled)
            .field("grace_period_days", &self.grace_period_days)
            .field("plans", &self.plans)
            .finish_non_exhaustive()
    }
}

/// An absolute http(s) URL without a trailing slash, e.g. `https://pay.example.com`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl(String);

impl BaseUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let url = url::Url::parse(raw.trim()).map_err(|e| format!("not a URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err("expected an http:// or https:// URL".into());
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err("must not have a query or fragment".into());
        }
        Ok(Self(url.as_str().trim_end_matches('/').to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `base` + `path` (which starts with `/`).
    pub fn join(&self, path: &str) -> String {
        format!("{}{path}", self.0)
    }

    /// `scheme://host[:port]`, what a browser sends in `Origin`.
    pub fn origin(&self) -> String {
        url::Url::parse(&self.0)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default()
    }

    pub fn is_https(&self) -> bool {
        self.0.starts_with("https://")
    }
}

fn default_api_url() -> String {
    "https://api.cryptocloud.plus".into()
}

fn default_base_url() -> BaseUrl {
    BaseUrl("http://localhost:8080".into())
}

/// Where the service listens unless `CHECKOUT_LISTEN` says otherwise (its healthcheck asks here too).
pub const DEFAULT_LISTEN: &str = "0.0.0.0:8080";

fn default_listen() -> String {
    DEFAULT_LISTEN.to_string()
}

fn default_timeout_ms() -> u64 {
    10_000
}

fn default_pool_size() -> u32 {
    10
}

fn default_max_body() -> usize {
    16 * 1024
}

fn base_url<'de, D: Deserializer<'de>>(d: D) -> Result<BaseUrl, D::Error> {
    let raw = String::deserialize(d)?;
    BaseUrl::parse(&raw).map_err(serde::de::Error::custom)
}

/// Whole days from 0 to 365, as text or a number.
fn grace_days<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let raw = String::deserialize(d)?;
    match raw.trim().parse::<u32>() {
        Ok(n) if n <= 365 => Ok(n),
        _ => Err(serde::de::Error::custom("must be whole days from 0 to 365")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn build(pairs: &[(&str, &str)]) -> Result<Settings, platform::config::ConfigError> {
        platform::config::from_pairs(pairs)
    }

    const REQUIRED: &[(&str, &str)] = &[
        ("cryptocloud_api_key", "key"),
        ("cryptocloud_shop_id", "shop"),
        ("auth_jwt_secret", "jwt-secret"),
        ("admin_token", "admin-secret"),
    ];

    #[test]
    fn defaults_apply_when_only_the_required_values_are_set() {
        let s = build(REQUIRED).unwrap();
        assert_eq!(s.cryptocloud_api_url, "https://api.cryptocloud.plus");
        assert_eq!(s.base_url.as_str(), "http://localhost:8080");
        assert_eq!(s.checkout_listen, "0.0.0.0:8080");
        assert_eq!(s.cryptocloud_timeout(), Duration::from_secs(10));
        assert!(!s.dev_login_enabled);
        assert!(s.auth_jwt_secret_previous.is_none());
        assert_eq!(s.plan_catalogue().unwrap(), PlanCatalogue::defaults());
    }

    #[test]
    fn each_required_value_is_named_when_missing() {
        for (missing, _) in REQUIRED {
            let pairs: Vec<_> = REQUIRED
                .iter()
                .copied()
                .filter(|(k, _)| k != missing)
                .collect();
            let err = build(&pairs).unwrap_err();
            assert_eq!(err.variable, missing.to_uppercase());
        }
    }

    #[test]
    fn base_url_is_validated_and_normalised() {
        let mut pairs = REQUIRED.to_vec();
        pairs.push(("base_url", "https://pay.example.com/"));
        let s = build(&pairs).unwrap();
        assert_eq!(
            s.base_url.join("/dashboard"),
            "https://pay.example.com/dashboard"
        );
        assert_eq!(s.base_url.origin(), "https://pay.example.com");
        pairs.pop();
        pairs.push(("base_url", "ftp://x"));
        assert_eq!(build(&pairs).unwrap_err().variable, "BASE_URL");
    }

    #[test]
    fn an_empty_previous_secret_is_unset_and_a_set_one_is_kept() {
        let mut pairs = REQUIRED.to_vec();
        pairs.push(("auth_jwt_secret_previous", ""));
        assert!(build(&pairs).unwrap().auth_jwt_secret_previous.is_none());
        pairs.pop();
        pairs.push(("auth_jwt_secret_previous", "old"));
        let s = build(&pairs).unwrap();
        assert_eq!(s.auth_jwt_secret_previous.unwrap().expose_secret(), "old");
    }

    #[test]
    fn plans_come_from_a_json_variable() {
        let mut pairs = REQUIRED.to_vec();
        pairs.push((
            "plans",
            r#"{"team": {"price": "10", "requests_limit": 500}}"#,
        ));
        let s = build(&pairs).unwrap();
        assert_eq!(
            s.plan_catalogue()
                .unwrap()
                .get("team")
                .unwrap()
                .requests_limit(),
            500
        );
    }

    #[test]
    fn debug_output_has_no_secrets() {
        let s = build(REQUIRED).unwrap();
        let text = format!("{s:?}");
        for secret in ["jwt-secret", "admin-secret"] {
            assert!(!text.contains(secret), "{text}");
        }
    }
}
