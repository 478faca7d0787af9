//! Settings of the sandbox. Field names map to the contract's `SANDBOX_*` variables
//! (`SANDBOX_LISTEN`, `SANDBOX_API_KEY`, ...); every value has a development default, so the
//! binary starts with no configuration at all.

use cryptocloud::PostbackFormat;

use crate::fees::SideCommission;
use platform::config::{empty_as_none, non_empty_secret, non_empty_string};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};

/// Built-in development API key (the `.env.example` value), accepted when none is configured.
pub const DEV_API_KEY: &str = "sandbox-api-key-change-me";
/// Built-in development shop id.
pub const DEV_SHOP_ID: &str = "sandbox-shop-change-me";
/// Built-in development secret key that signs postbacks.
pub const DEV_SECRET_KEY: &str = "sandbox-secret-key-change-me";

/// How the postback token's `id` claim is written (CryptoCloud's form is unconfirmed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IdClaimMode {
    /// The bare invoice code as a string, e.g. `"7Q2K9XAB"`.
    #[default]
    #[serde(alias = "str")]
    String,
    /// The invoice's internal number, as in the docs' sample token (`{"id": 13}`).
    #[serde(alias = "integer")]
    Int,
    /// No `id` claim at all.
    None,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Settings {
    /// `SANDBOX_LISTEN`: address to bind.
    #[serde(rename = "sandbox_listen", default = "default_listen")]
    pub listen: String,
    /// `SANDBOX_PUBLIC_URL`: base of the invoice `link`. Unset: derived from the bound address
    /// (`http://localhost:PORT` when listening on all interfaces).
    #[serde(
        rename = "sandbox_public_url",
        default,
        deserialize_with = "empty_as_none"
    )]
    pub public_url: Option<String>,
    /// `SANDBOX_API_KEY`: the key accepted in `Authorization: Token <key>`.
    #[serde(
        rename = "sandbox_api_key",
        default = "dev_api_key",
        deserialize_with = "non_empty_secret"
    )]
    pub api_key: SecretString,
    /// `SANDBOX_SHOP_ID`: the only `shop_id` invoices may be created for.
    #[serde(
        rename = "sandbox_shop_id",
        default = "dev_shop_id",
        deserialize_with = "non_empty_string"
    )]
    pub shop_id: String,
    /// `SANDBOX_SECRET_KEY`: HS256 key of the postback token.
    #[serde(
        rename = "sandbox_secret_key",
        default = "dev_secret_key",
        deserialize_with = "non_empty_secret"
    )]
    pub secret_key: SecretString,
    /// `SANDBOX_POSTBACK_URL`: where postbacks go; empty or `None` sends none (each is
    /// logged as a failed delivery).
    #[serde(
        rename = "sandbox_postback_url",
        default = "default_postback_url",
        deserialize_with = "empty_as_none"
    )]
    pub postback_url: Option<String>,
    /// `SANDBOX_POSTBACK_FORMAT`: `json` or `form`.
    #[serde(
        rename = "sandbox_postback_format",
        default = "default_format",
        deserialize_with = "postback_format"
    )]
    pub postback_format: PostbackFormat,
    /// `SANDBOX_POSTBACK_RETRIES`: extra attempts after a non-2xx answer or a transport error.
    #[serde(rename = "sandbox_postback_retries", default = "default_retries")]
    pub postback_retries: u32,
    /// `SANDBOX_POSTBACK_BACKOFF_MS`: wait before the first retry; doubles on each retry.
    #[serde(rename = "sandbox_postback_backoff_ms", default = "default_backoff_ms")]
    pub postback_backoff_ms: u64,
    /// `SANDBOX_POSTBACK_TIMEOUT_MS`: timeout of one delivery attempt.
    #[serde(rename = "sandbox_postback_timeout_ms", default = "default_timeout_ms")]
    pub postback_timeout_ms: u64,
    /// `SANDBOX_ID_CLAIM`: `string` (default), `int` or `none`.
    #[serde(rename = "sandbox_id_claim", default)]
    pub id_claim: IdClaimMode,
    /// `SANDBOX_SIDE_COMMISSION`: who pays the network fee, `client` (default; added to what
    /// the payer owes) or `merchant` (taken from what the merchant receives).
    #[serde(rename = "sandbox_side_commission", default)]
    pub side_commission: SideCommission,
    /// `SANDBOX_SUCCESS_URL`: the project's success URL; the payment page redirects there.
    #[serde(rename = "sandbox_success_url", default = "default_success_url")]
    pub success_url: String,
    /// `SANDBOX_FAIL_URL`: the project's fail URL (after the invoice expires).
    #[serde(rename = "sandbox_fail_url", default = "default_fail_url")]
    pub fail_url: String,
    /// `SANDBOX_LATENCY_MS`: every API call answers after this delay.
    #[serde(rename = "sandbox_latency_ms", default)]
    pub latency_ms: u64,
    /// `SANDBOX_ERROR_RATE`: fraction (0..=1) of API calls answered with `error_status`.
    #[serde(rename = "sandbox_error_rate", default, deserialize_with = "fraction")]
    pub error_rate: f64,
    /// `SANDBOX_ERROR_STATUS`: 500 (default), 429 or another 4xx/5xx.
    #[serde(
        rename = "sandbox_error_status",
        default = "default_error_status",
        deserialize_with = "error_status"
    )]
    pub error_status: u16,
    /// `SANDBOX_DROP_RATE`: fraction (0..=1) of API calls whose connection is dropped.
    #[serde(rename = "sandbox_drop_rate", default, deserialize_with = "fraction")]
    pub drop_rate: f64,
    /// `SANDBOX_WORKERS`: HTTP worker threads.
    #[serde(rename = "sandbox_workers", default = "default_workers")]
    pub workers: usize,
}

impl Settings {
    /// For in-process tests: `127.0.0.1:0`, the development credentials, no postback URL,
    /// quick retries, no API faults.
    pub fn for_tests() -> Settings {
        Settings {
            listen: "127.0.0.1:0".to_owned(),
            public_url: None,
            api_key: dev_api_key(),
            shop_id: dev_shop_id(),
            secret_key: dev_secret_key(),
            postback_url: None,
            postback_format: PostbackFormat::Json,
            postback_retries: default_retries(),
            postback_backoff_ms: 20,
            postback_timeout_ms: 5_000,
            id_claim: IdClaimMode::String,
            side_commission: SideCommission::Client,
            success_url: default_success_url(),
            fail_url: default_fail_url(),
            latency_ms: 0,
            error_rate: 0.0,
            error_status: 500,
            drop_rate: 0.0,
            workers: 1,
        }
    }

    /// The credentials that are still the built-in development values, as
    /// `(variable, value)`. Configured values never appear here.
    pub fn builtin_credentials(&self) -> Vec<(&'static str, &'static str)> {
        let mut builtin = Vec::new();
        if self.api_key.expose_secret() == DEV_API_KEY {
            builtin.push(("SANDBOX_API_KEY", DEV_API_KEY));
        }
        if self.shop_id == DEV_SHOP_ID {
            builtin.push(("SANDBOX_SHOP_ID", DEV_SHOP_ID));
        }
        if self.secret_key.expose_secret() == DEV_SECRET_KEY {
            builtin.push(("SANDBOX_SECRET_KEY", DEV_SECRET_KEY));
        }
        builtin
    }

    /// What the binary prints at start about credentials: the built-in ones in full (they
    /// are public), the configured ones only by name.
    pub fn credentials_notice(&self) -> String {
        let builtin = self.builtin_credentials();
        let mut lines = Vec::new();
        if !builtin.is_empty() {
            lines
                .push("built-in development credentials in use (set them to override):".to_owned());
            for (name, value) in &builtin {
                lines.push(format!("  {name}={value}"));
            }
        }
        let configured: Vec<&str> = ["SANDBOX_API_KEY", "SANDBOX_SHOP_ID", "SANDBOX_SECRET_KEY"]
            .into_iter()
            .filter(|name| !builtin.iter().any(|(b, _)| b == name))
            .collect();
        if !configured.is_empty() {
            lines.push(format!("configured (not shown): {}", configured.join(", ")));
        }
        lines.join("\n")
    }
}

/// Where the service listens unless `SANDBOX_LISTEN` says otherwise (its healthcheck asks here too).
pub const DEFAULT_LISTEN: &str = "0.0.0.0:8088";

fn default_listen() -> String {
    DEFAULT_LISTEN.to_string()
}
fn dev_api_key() -> SecretString {
    SecretString::from(DEV_API_KEY)
}
fn dev_shop_id() -> String {
    DEV_SHOP_ID.to_owned()
}
fn dev_secret_key() -> SecretString {
    SecretString::from(DEV_SECRET_KEY)
}
fn default_postback_url() -> Option<String> {
    Some("http://127.0.0.1:8081/api/webhook/payment".to_owned())
}
fn default_format() -> PostbackFormat {
    PostbackFormat::Json
}
fn default_retries() -> u32 {
    3
}
fn default_backoff_ms() -> u64 {
    500
}
fn default_timeout_ms() -> u64 {
    10_000
}
fn default_success_url() -> String {
    "http://localhost:8080/dashboard/payment/success".to_owned()
}
fn default_fail_url() -> String {
    "http://localhost:8080/dashboard/payment/error".to_owned()
}
fn default_error_status() -> u16 {
    500
}
fn default_workers() -> usize {
    2
}

/// Parses `json` or `form` (any case).
pub(crate) fn parse_format(raw: &str) -> Option<PostbackFormat> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "json" => Some(PostbackFormat::Json),
        "form" => Some(PostbackFormat::Form),
        _ => None,
    }
}

fn postback_format<'de, D: Deserializer<'de>>(d: D) -> Result<PostbackFormat, D::Error> {
    let raw = String::deserialize(d)?;
    parse_format(&raw).ok_or_else(|| serde::de::Error::custom("expected `json` or `form`"))
}

fn fraction<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let value = f64::deserialize(d)?;
    if !(0.0..=1.0).contains(&value) {
        return Err(serde::de::Error::custom(
            "expected a fraction between 0 and 1",
        ));
    }
    Ok(value)
}

fn error_status<'de, D: Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
    let value = u16::deserialize(d)?;
    if !(400..=599).contains(&value) {
        return Err(serde::de::Error::custom(
            "expected an HTTP status between 400 and 599",
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(pairs: &[(&str, &str)]) -> Result<Settings, platform::config::ConfigError> {
        let mut builder = config::Config::builder();
        for (key, value) in pairs {
            builder = builder.set_override(*key, *value).unwrap();
        }
        platform::config::from_config(builder.build().unwrap())
    }

    #[test]
    fn no_configuration_gives_the_contract_defaults() {
        let s = load(&[]).unwrap();
        assert_eq!(s.listen, "0.0.0.0:8088");
        assert_eq!(
            s.postback_url.as_deref(),
            Some("http://127.0.0.1:8081/api/webhook/payment")
        );
        assert_eq!(s.postback_format, PostbackFormat::Json);
        assert_eq!(s.api_key.expose_secret(), DEV_API_KEY);
        assert_eq!(s.shop_id, DEV_SHOP_ID);
        assert_eq!(s.secret_key.expose_secret(), DEV_SECRET_KEY);
        assert_eq!(s.id_claim, IdClaimMode::String);
        assert_eq!(s.postback_retries, 3);
        assert_eq!(s.error_rate, 0.0);
    }

    #[test]
    fn contract_variables_are_read() {
        let s = load(&[
            ("sandbox_listen", "127.0.0.1:9999"),
            (
                "sandbox_postback_url",
                "http://ingest:8081/api/webhook/payment",
            ),
            ("sandbox_postback_format", "FORM"),
            ("sandbox_api_key", "k-123"),
            ("sandbox_shop_id", "shop-9"),
            ("sandbox_secret_key", "s-456"),
            ("sandbox_id_claim", "int"),
            ("sandbox_error_rate", "0.25"),
            ("sandbox_error_status", "429"),
            ("sandbox_latency_ms", "150"),
            ("sandbox_success_url", "https://shop.example/ok"),
        ])
        .unwrap();
        assert_eq!(s.listen, "127.0.0.1:9999");
        assert_eq!(s.postback_format, PostbackFormat::Form);
        assert_eq!(s.api_key.expose_secret(), "k-123");
        assert_eq!(s.shop_id, "shop-9");
        assert_eq!(s.id_claim, IdClaimMode::Int);
        assert_eq!(s.error_rate, 0.25);
        assert_eq!(s.error_status, 429);
        assert_eq!(s.latency_ms, 150);
        assert_eq!(s.success_url, "https://shop.example/ok");
    }

    #[test]
    fn an_empty_postback_url_disables_postbacks() {
        let s = load(&[("sandbox_postback_url", "")]).unwrap();
        assert_eq!(s.postback_url, None);
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err = load(&[("sandbox_postback_format", "xml")]).unwrap_err();
        assert_eq!(err.variable, "SANDBOX_POSTBACK_FORMAT");
        let err = load(&[("sandbox_error_rate", "1.5")]).unwrap_err();
        assert_eq!(err.variable, "SANDBOX_ERROR_RATE");
        let err = load(&[("sandbox_api_key", " ")]).unwrap_err();
        assert_eq!(err.variable, "SANDBOX_API_KEY");
        let err = load(&[("sandbox_error_status", "200")]).unwrap_err();
        assert_eq!(err.variable, "SANDBOX_ERROR_STATUS");
    }

    #[test]
    fn builtin_credentials_are_printed_and_configured_ones_never() {
        let defaults = load(&[]).unwrap();
        let notice = defaults.credentials_notice();
        assert!(
            notice.contains(&format!("SANDBOX_API_KEY={DEV_API_KEY}")),
            "{notice}"
        );
        assert!(
            notice.contains(&format!("SANDBOX_SHOP_ID={DEV_SHOP_ID}")),
            "{notice}"
        );
        assert!(
            notice.contains(&format!("SANDBOX_SECRET_KEY={DEV_SECRET_KEY}")),
            "{notice}"
        );
        assert!(!notice.contains("configured"), "{notice}");

        let configured = load(&[
            ("sandbox_api_key", "real-api-key-1"),
            ("sandbox_shop_id", "real-shop-2"),
            ("sandbox_secret_key", "real-secret-3"),
        ])
        .unwrap();
        assert!(configured.builtin_credentials().is_empty());
        let notice = configured.credentials_notice();
        for secret in ["real-api-key-1", "real-shop-2", "real-secret-3"] {
            assert!(!notice.contains(secret), "{notice}");
        }
        assert!(
            notice.contains("configured (not shown): SANDBOX_API_KEY"),
            "{notice}"
        );

        // Mixed: only the built-in one is shown.
        let mixed = load(&[("sandbox_secret_key", "real-secret-3")]).unwrap();
        let notice = mixed.credentials_notice();
        assert!(
            notice.contains(DEV_API_KEY) && !notice.contains("real-secret-3"),
            "{notice}"
        );
        assert!(
            notice.contains("configured (not shown): SANDBOX_SECRET_KEY"),
            "{notice}"
        );
    }

    #[test]
    fn debug_output_hides_secrets() {
        let s = load(&[
            ("sandbox_api_key", "hunter2"),
            ("sandbox_secret_key", "topsecret"),
        ])
        .unwrap();
        let debug = format!("{s:?}");
        assert!(
            !debug.contains("hunter2") && !debug.contains("topsecret"),
            "{debug}"
        );
    }
}
