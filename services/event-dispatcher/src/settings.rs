//! The dispatcher's configuration: the contract's `DISPATCH_*`, `WEBHOOK_ENDPOINTS` and
//! `ADMIN_TOKEN`, plus tuning knobs with defaults. Field names are the lower-case
//! variable names.

use std::time::Duration;

use platform::config::{non_empty_secret, AmqpUrl, DatabaseUrl};
use secrecy::SecretString;
use serde::Deserialize;

use crate::endpoints::ConfiguredEndpoint;

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    #[serde(default)]
    pub database_url: DatabaseUrl,
    #[serde(default)]
    pub amqp_url: AmqpUrl,
    /// Bearer token of the admin API.
    #[serde(deserialize_with = "non_empty_secret")]
    pub admin_token: SecretString,
    #[serde(default = "default_listen")]
    pub dispatch_listen: String,
    /// An attempt that has no answer after this long failed.
    #[serde(default = "default_timeout")]
    pub dispatch_timeout_secs: u64,
    /// Waits between attempts; after the last one the delivery is `failed`.
    #[serde(default = "default_schedule", deserialize_with = "schedule")]
    pub dispatch_retry_schedule_secs: Vec<u64>,
    /// An endpoint whose attempts all failed for this long is disabled.
    #[serde(default = "default_disable_after")]
    pub dispatch_disable_after_hours: u64,
    /// Deliver to loopback, private and link-local addresses too (local development).
    #[serde(default)]
    pub dispatch_allow_private: bool,
    /// `WEBHOOK_ENDPOINTS`: a JSON list of `{"url", "secret", "events"}`.
    #[serde(default, deserialize_with = "configured_endpoints")]
    pub webhook_endpoints: Vec<ConfiguredEndpoint>,
    /// Attempts in flight at once, over all endpoints.
    #[serde(default = "default_concurrency")]
    pub dispatch_concurrency: usize,
    /// Attempts in flight at once to one endpoint, so a slow one holds only these.
    #[serde(default = "default_per_endpoint")]
    pub dispatch_endpoint_concurrency: usize,
    /// Unacknowledged events the broker hands the dispatcher at most.
    #[serde(default = "default_prefetch")]
    pub dispatch_prefetch: u16,
    #[serde(default = "default_pool_size")]
    pub dispatch_db_pool_size: u32,
}

impl Settings {
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.dispatch_timeout_secs.max(1))
    }

    pub fn schedule(&self) -> Vec<Duration> {
        self.dispatch_retry_schedule_secs
            .iter()
            .copied()
            .map(Duration::from_secs)
            .collect()
    }

    pub fn disable_after(&self) -> Duration {
        Duration::from_secs(self.dispatch_disable_after_hours.saturating_mul(3600))
    }

    /// Defaults everywhere except the connections; used by tests.
    pub fn new(database_url: DatabaseUrl, amqp_url: AmqpUrl, admin_token: &str) -> Self {
        Self {
            database_url,
            amqp_url,
            admin_token: SecretString::from(admin_token.to_string()),
            dispatch_listen: "127.0.0.1:0".to_string(),
            dispatch_timeout_secs: default_timeout(),
            dispatch_retry_schedule_secs: default_schedule(),
            dispatch_disable_after_hours: default_disable_after(),
            dispatch_allow_private: false,
            webhook_endpoints: Vec::new(),
            dispatch_concurrency: default_concurrency(),
            dispatch_endpoint_concurrency: default_per_endpoint(),
            dispatch_prefetch: default_prefetch(),
            dispatch_db_pool_size: default_pool_size(),
        }
    }
}

/// Where the service listens unless `DISPATCH_LISTEN` says otherwise (its healthcheck asks here too).
pub const DEFAULT_LISTEN: &str = "0.0.0.0:8083";

fn default_listen() -> String {
    DEFAULT_LISTEN.to_string()
}
fn default_timeout() -> u64 {
    15
}
fn default_schedule() -> Vec<u64> {
    vec![5, 300, 1800, 7200, 18000, 36000, 36000]
}
fn default_disable_after() -> u64 {
    120
}
fn default_concurrency() -> usize {
    64
}
fn default_per_endpoint() -> usize {
    8
}
fn default_prefetch() -> u16 {
    64
}
fn default_pool_size() -> u32 {
    10
}

/// `5,300,1800`: seconds, each at most a week; empty means a single attempt.
fn schedule<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u64>, D::Error> {
    let raw = String::deserialize(d)?;
    raw.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|part| match part.parse::<u64>() {
            Ok(n) if n <= 7 * 86_400 => Ok(n),
            _ => Err(serde::de::Error::custom(format!(
                "{part:?} is not a number of seconds up to a week (e.g. 5,300,1800)"
            ))),
        })
        .collect()
}

/// The JSON list, each endpoint checked as the admin API checks one.
fn configured_endpoints<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<ConfiguredEndpoint>, D::Error> {
    let raw = String::deserialize(d)?;
    if raw.trim().is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_str(&raw).map_err(|e| {
        serde::de::Error::custom(format!(
            "must be a JSON list of {{\"url\", \"secret\", \"events\"}}: {e}"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(pairs: &[(&str, &str)]) -> Result<Settings, String> {
        let mut all = vec![("admin_token", "t")];
        all.extend_from_slice(pairs);
        platform::config::from_pairs(&all).map_err(|e| e.to_string())
    }

    #[test]
    fn the_contract_defaults() {
        let s = load(&[]).unwrap();
        assert_eq!(s.dispatch_listen, "0.0.0.0:8083");
        assert_eq!(s.timeout(), Duration::from_secs(15));
        assert_eq!(
            s.dispatch_retry_schedule_secs,
            [5, 300, 1800, 7200, 18000, 36000, 36000]
        );
        assert_eq!(s.disable_after(), Duration::from_secs(120 * 3600));
        assert!(!s.dispatch_allow_private);
        assert!(s.webhook_endpoints.is_empty());
    }

    #[test]
    fn bad_values_name_the_variable() {
        let e = load(&[("dispatch_retry_schedule_secs", "5,soon")]).unwrap_err();
        assert!(
            e.to_uppercase().contains("DISPATCH_RETRY_SCHEDULE_SECS"),
            "{e}"
        );
        let e = load(&[("webhook_endpoints", "[{\"url\": 1}]")]).unwrap_err();
        assert!(e.to_uppercase().contains("WEBHOOK_ENDPOINTS"), "{e}");
        assert!(load(&[]).is_ok());
        let e = platform::config::from_pairs::<Settings>(&[])
            .unwrap_err()
            .to_string();
        assert!(e.to_uppercase().contains("ADMIN_TOKEN"), "{e}");
    }
}
