//! The worker's configuration: the contract's environment variables plus a few tuning
//! knobs with defaults. Field names are the lower-case variable names.

use std::time::Duration;

use platform::config::{non_empty_secret, AmqpUrl, DatabaseUrl};
use secrecy::SecretString;
use serde::Deserialize;

use crate::plans::{PlanError, PlanSettings, Plans};

/// Everything `subscription-worker run` (and `reconcile --now`) needs.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    #[serde(default)]
    pub database_url: DatabaseUrl,
    #[serde(default)]
    pub amqp_url: AmqpUrl,
    #[serde(default = "default_api_url")]
    pub cryptocloud_api_url: String,
    #[serde(deserialize_with = "non_empty_secret")]
    pub cryptocloud_api_key: SecretString,
    /// The shop renewal invoices are opened for; without it no renewal is opened (logged).
    #[serde(default)]
    pub cryptocloud_shop_id: Option<String>,
    /// `RENEWAL_NOTICE_DAYS`: days before expiry a reminder goes out (`7,3,1`); the first
    /// (largest) opens the renewal invoice.
    #[serde(default = "default_notice_days", deserialize_with = "notice_days")]
    pub renewal_notice_days: Vec<u32>,
    /// `RENEWAL_MONTHS`: months a renewal invoice buys.
    #[serde(
        default = "default_renewal_months",
        deserialize_with = "renewal_months"
    )]
    pub renewal_months: u32,
    /// `GRACE_PERIOD_DAYS`: days after expiry during which the user keeps the paid tier.
    #[serde(default, deserialize_with = "grace_days")]
    pub grace_period_days: u32,
    /// Not used by the worker yet; accepted so the shared environment loads unchanged.
    #[serde(default)]
    pub admin_token: Option<SecretString>,
    #[serde(default = "default_listen")]
    pub worker_listen: String,
    #[serde(default = "default_sweep_interval")]
    pub worker_sweep_interval_secs: u64,
    #[serde(default = "default_reconcile_after")]
    pub worker_reconcile_after_secs: u64,
    /// Unacknowledged deliveries the broker hands one consumer at most.
    #[serde(default = "default_prefetch")]
    pub worker_prefetch: u16,
    /// Groups of deliveries processed at the same time by one process.
    #[serde(default = "default_concurrency")]
    pub worker_concurrency: usize,
    /// Most deliveries applied in one transaction with one CryptoCloud call (1 to 100).
    #[serde(default = "default_batch_size")]
    pub worker_batch_size: usize,
    /// An underpayment within this share of the invoice (percent, e.g. `0.5`) completes the
    /// payment; `0` (the default): only a full payment does.
    #[serde(default, deserialize_with = "tolerance_percent")]
    pub payment_tolerance_percent: rust_decimal::Decimal,
    /// `WORKER_ACCEPT_TEST_INVOICES`: apply invoices CryptoCloud reports with
    /// `test_mode: true` (marked in `payment_data`); `false` acknowledges them and changes
    /// nothing, as production must.
    #[serde(default = "default_true")]
    pub worker_accept_test_invoices: bool,
    /// Attempts (first delivery included) before a retryable failure is dead-lettered.
    #[serde(default = "default_max_attempts")]
    pub worker_max_attempts: u32,
    #[serde(default = "default_pool_size")]
    pub worker_db_pool_size: u32,
    /// Plan catalogue overrides, the same `plans` setting (`PLANS` as JSON) checkout reads;
    /// the worker uses each plan's `requests_limit`.
    #[serde(default)]
    pub plans: PlanSettings,
}

impl Settings {
    pub fn sweep_interval(&self) -> Duration {
        Duration::from_secs(self.worker_sweep_interval_secs.max(1))
    }

    pub fn reconcile_after(&self) -> Duration {
        Duration::from_secs(self.worker_reconcile_after_secs)
    }

    /// Renewal invoices and reminders, when a shop to open invoices for is configured.
    pub fn renewal_policy(&self) -> Option<crate::renewals::RenewalPolicy> {
        let shop_id = self.cryptocloud_shop_id.as_deref()?.trim();
        (!shop_id.is_empty()).then(|| crate::renewals::RenewalPolicy {
            notice_days: self.renewal_notice_days.clone(),
            months: self.renewal_months,
            shop_id: shop_id.to_string(),
        })
    }

    /// The plan catalogue; an invalid `PLANS` setting is reported at start-up.
    pub fn plans(&self) -> Result<Plans, PlanError> {
        Plans::from_settings(&self.plans)
    }

    /// Defaults everywhere except the given connections; used by tests.
    pub fn new(database_url: DatabaseUrl, amqp_url: AmqpUrl, api_url: &str, api_key: &str) -> Self {
        Self {
            database_url,
            amqp_url,
            cryptocloud_api_url: api_url.to_string(),
            cryptocloud_api_key: SecretString::from(api_key.to_string()),
            cryptocloud_shop_id: None,
            renewal_notice_days: default_notice_days(),
            renewal_months: default_renewal_months(),
            grace_period_days: 0,
            admin_token: None,
            worker_listen: "127.0.0.1:0".to_string(),
            worker_sweep_interval_secs: default_sweep_interval(),
            worker_reconcile_after_secs: default_reconcile_after(),
            worker_prefetch: default_prefetch(),
            worker_concurrency: default_concurrency(),
            worker_batch_size: default_batch_size(),
            worker_max_attempts: default_max_attempts(),
            payment_tolerance_percent: rust_decimal::Decimal::ZERO,
            worker_accept_test_invoices: true,
            worker_db_pool_size: default_pool_size(),
            plans: PlanSettings::default(),
        }
    }
}

/// What `subscription-worker migrate` needs (the migration Job has nothing else).
#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    #[serde(default)]
    pub database_url: DatabaseUrl,
}

/// What the `dlq` commands need.
#[derive(Debug, Clone, Deserialize)]
pub struct BrokerSettings {
    #[serde(default)]
    pub amqp_url: AmqpUrl,
}

fn default_api_url() -> String {
    "https://api.cryptocloud.plus".to_string()
}
/// Where the service listens unless `WORKER_LISTEN` says otherwise (its healthcheck asks here too).
pub const DEFAULT_LISTEN: &str = "0.0.0.0:8082";

fn default_listen() -> String {
    DEFAULT_LISTEN.to_string()
}
fn default_notice_days() -> Vec<u32> {
    vec![7, 3, 1]
}
fn default_renewal_months() -> u32 {
    1
}
/// `7,3,1`: distinct whole days from 1 to 365, kept largest first.
fn notice_days<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u32>, D::Error> {
    let raw = String::deserialize(d)?;
    let mut days = Vec::new();
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.parse::<u32>() {
            Ok(n) if (1..=365).contains(&n) => days.push(n),
            _ => {
                return Err(serde::de::Error::custom(format!(
                    "{part:?} is not a number of days from 1 to 365 (e.g. 7,3,1)"
                )))
            }
        }
    }
    if days.is_empty() {
        return Err(serde::de::Error::custom("at least one day, e.g. 7,3,1"));
    }
    days.sort_unstable_by(|a, b| b.cmp(a));
    days.dedup();
    Ok(days)
}
/// Whole months from 1 to 120, as text or a number.
fn renewal_months<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let raw = String::deserialize(d)?;
    match raw.trim().parse::<u32>() {
        Ok(n) if (1..=120).contains(&n) => Ok(n),
        _ => Err(serde::de::Error::custom(
            "must be whole months from 1 to 120",
        )),
    }
}
/// Whole days from 0 to 365, as text or a number.
pub(crate) fn grace_days<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let raw = String::deserialize(d)?;
    match raw.trim().parse::<u32>() {
        Ok(n) if n <= 365 => Ok(n),
        _ => Err(serde::de::Error::custom("must be whole days from 0 to 365")),
    }
}
fn default_true() -> bool {
    true
}
fn default_sweep_interval() -> u64 {
    60
}
fn default_reconcile_after() -> u64 {
    600
}
// Enough unacknowledged deliveries for every concurrent group to be full.
fn default_prefetch() -> u16 {
    400
}
fn default_concurrency() -> usize {
    4
}
// One info call (at most 100 ids) and one commit per group.
fn default_batch_size() -> usize {
    100
}
/// A decimal from 0 to 100 written as text (never a float), e.g. `0.5`.
fn tolerance_percent<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<rust_decimal::Decimal, D::Error> {
    let raw = String::deserialize(d)?;
    let value: rust_decimal::Decimal = raw
        .trim()
        .parse()
        .map_err(|_| serde::de::Error::custom("must be a decimal number of percent, e.g. 0.5"))?;
    if value.is_sign_negative() || value > rust_decimal::Decimal::ONE_HUNDRED {
        return Err(serde::de::Error::custom("must be from 0 to 100"));
    }
    Ok(value)
}

fn default_max_attempts() -> u32 {
    8
}
fn default_pool_size() -> u32 {
    10
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(pairs: &[(&str, &str)]) -> Result<Settings, platform::config::ConfigError> {
        let mut b = config::Config::builder();
        for (k, v) in pairs {
            b = b.set_override(*k, *v).unwrap();
        }
        platform::config::from_config(b.build().unwrap())
    }

    #[test]
    fn defaults_follow_the_contract() {
        let s = build(&[("cryptocloud_api_key", "k")]).unwrap();
        assert_eq!(s.worker_listen, "0.0.0.0:8082");
        assert_eq!(s.worker_sweep_interval_secs, 60);
        assert_eq!(s.worker_reconcile_after_secs, 600);
        assert_eq!(s.cryptocloud_api_url, "https://api.cryptocloud.plus");
        assert_eq!(s.plans().unwrap().requests_limit("pro"), Some(100_000));
    }

    #[test]
    fn the_api_key_is_required_and_never_printed() {
        let err = build(&[]).unwrap_err();
        assert_eq!(err.variable, "CRYPTOCLOUD_API_KEY");
        let s = build(&[
            ("cryptocloud_api_key", "very-secret"),
            ("worker_prefetch", "4"),
        ])
        .unwrap();
        assert_eq!(s.worker_prefetch, 4);
        assert!(!format!("{s:?}").contains("very-secret"));
        let err = build(&[
            ("cryptocloud_api_key", "k"),
            ("worker_max_attempts", "many"),
        ])
        .unwrap_err();
        assert_eq!(err.variable, "WORKER_MAX_ATTEMPTS");
    }

    #[test]
    fn renewal_settings_are_read_and_checked() {
        let s = build(&[("cryptocloud_api_key", "k")]).unwrap();
        assert_eq!(
            (s.renewal_notice_days.clone(), s.renewal_months),
            (vec![7, 3, 1], 1)
        );
        assert!(s.renewal_policy().is_none(), "no shop, no renewals");
        let s = build(&[
            ("cryptocloud_api_key", "k"),
            ("cryptocloud_shop_id", "0012"),
            ("renewal_notice_days", " 1, 14,3,3 "),
            ("renewal_months", "3"),
        ])
        .unwrap();
        let policy = s.renewal_policy().unwrap();
        assert_eq!(policy.notice_days, vec![14, 3, 1]);
        assert_eq!((policy.months, policy.shop_id.as_str()), (3, "0012"));
        for (key, value, variable) in [
            ("renewal_notice_days", "7,0", "RENEWAL_NOTICE_DAYS"),
            ("renewal_notice_days", "", "RENEWAL_NOTICE_DAYS"),
            ("renewal_months", "0", "RENEWAL_MONTHS"),
        ] {
            let err = build(&[("cryptocloud_api_key", "k"), (key, value)]).unwrap_err();
            assert_eq!(err.variable, variable, "{value:?}");
        }
    }
}
