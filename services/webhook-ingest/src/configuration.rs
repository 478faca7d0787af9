//! Settings of webhook-ingest, read by `platform::config::load` from the contract's
//! environment variables (field name = lower-case variable name).

use std::fmt;
use std::time::Duration;

use ipnet::IpNet;
use platform::config::{non_empty_secret, optional_secret, AmqpUrl};
use secrecy::SecretString;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// Key that signs CryptoCloud's postback token.
    #[serde(deserialize_with = "non_empty_secret")]
    pub cryptocloud_secret_key: SecretString,
    /// The key being rotated out: tokens signed by it are still accepted while set.
    #[serde(default, deserialize_with = "optional_secret")]
    pub cryptocloud_secret_key_previous: Option<SecretString>,
    #[serde(default)]
    pub amqp_url: AmqpUrl,
    #[serde(default = "default_listen")]
    pub ingest_listen: String,
    #[serde(default = "default_leeway_secs")]
    pub cryptocloud_token_leeway_secs: u64,
    /// How long a postback waits for the broker's confirm before it is answered 503.
    #[serde(
        default = "default_publish_timeout_ms",
        deserialize_with = "positive_millis"
    )]
    pub ingest_publish_timeout_ms: u64,
    /// The whole body must arrive within this long of the request head: a body trickled
    /// byte by byte does not hold a connection for ever (408 `body_timeout`).
    #[serde(
        default = "default_body_timeout_ms",
        deserialize_with = "positive_millis"
    )]
    pub ingest_body_timeout_ms: u64,
    /// Source networks allowed to post (comma-separated CIDRs); empty allows everyone.
    #[serde(default, deserialize_with = "networks")]
    pub ingest_allowed_networks: Vec<IpNet>,
    /// Reverse proxies whose `X-Forwarded-For` is believed (comma-separated CIDRs); empty
    /// means the TCP peer is the source.
    #[serde(default, deserialize_with = "networks")]
    pub ingest_trusted_proxies: Vec<IpNet>,
    /// Postbacks per minute per source address; 0 turns the limit off.
    #[serde(default)]
    pub ingest_rate_limit_per_minute: u32,
}

impl Settings {
    /// Settings for tests: listen on a random local port, everything else default.
    pub fn for_tests(secret_key: &str, amqp_url: AmqpUrl) -> Self {
        Settings {
            cryptocloud_secret_key: SecretString::from(secret_key.to_owned()),
            cryptocloud_secret_key_previous: None,
            amqp_url,
            ingest_listen: "127.0.0.1:0".to_owned(),
            cryptocloud_token_leeway_secs: default_leeway_secs(),
            ingest_publish_timeout_ms: default_publish_timeout_ms(),
            ingest_body_timeout_ms: default_body_timeout_ms(),
            ingest_allowed_networks: Vec::new(),
            ingest_trusted_proxies: Vec::new(),
            ingest_rate_limit_per_minute: 0,
        }
    }

    pub fn publish_timeout(&self) -> Duration {
        Duration::from_millis(self.ingest_publish_timeout_ms)
    }

    pub fn body_timeout(&self) -> Duration {
        Duration::from_millis(self.ingest_body_timeout_ms)
    }

    pub fn token_leeway(&self) -> Duration {
        Duration::from_secs(self.cryptocloud_token_leeway_secs)
    }
}

/// Where the service listens unless `INGEST_LISTEN` says otherwise (its healthcheck asks here too).
pub const DEFAULT_LISTEN: &str = "0.0.0.0:8081";

fn default_listen() -> String {
    DEFAULT_LISTEN.to_string()
}

fn default_leeway_secs() -> u64 {
    60
}

// Well under a sender's own timeout (the sandbox's is 5 s; CryptoCloud's is unknown): the
// postback must get our 503, not a timeout it may log as a different failure.
fn default_publish_timeout_ms() -> u64 {
    2000
}

fn default_body_timeout_ms() -> u64 {
    5000
}

fn positive_millis<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let ms = u64::deserialize(d)?;
    if ms == 0 {
        return Err(de::Error::custom("must be at least 1 (milliseconds)"));
    }
    Ok(ms)
}

/// A comma- or space-separated string of CIDRs (a bare address is a single host), or a
/// list of them in TOML.
fn networks<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<IpNet>, D::Error> {
    struct Networks;

    impl<'de> Visitor<'de> for Networks {
        type Value = Vec<IpNet>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a comma-separated list of CIDRs such as 10.0.0.0/8,2001:db8::/32")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            v.split(|c: char| c == ',' || c.is_whitespace())
                .filter(|s| !s.is_empty())
                .map(|s| parse_network(s).map_err(E::custom))
                .collect()
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(item) = seq.next_element::<String>()? {
                out.push(parse_network(item.trim()).map_err(de::Error::custom)?);
            }
            Ok(out)
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
    }

    d.deserialize_any(Networks)
}

pub fn parse_network(s: &str) -> Result<IpNet, String> {
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
        .map(|net| net.trunc())
        .map_err(|_| format!("{s:?} is not a CIDR network such as 10.0.0.0/8"))
}

#[cfg(test)]
mod tests {
    use platform::config::ConfigError;
    use secrecy::ExposeSecret;

    use super::*;

    fn build(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        platform::config::from_pairs(pairs)
    }

    #[test]
    fn only_the_secret_key_is_required_and_defaults_follow_the_contract() {
        let s = build(&[("cryptocloud_secret_key", "k")]).unwrap();
        assert_eq!(s.ingest_listen, "0.0.0.0:8081");
        assert_eq!(s.cryptocloud_token_leeway_secs, 60);
        assert_eq!(s.ingest_publish_timeout_ms, 2000);
        assert_eq!(s.amqp_url.expose(), "amqp://guest:guest@127.0.0.1:5672/%2f");
        assert!(s.ingest_allowed_networks.is_empty());
        assert_eq!(s.ingest_rate_limit_per_minute, 0);
        assert!(s.cryptocloud_secret_key_previous.is_none());

        let err = build(&[]).unwrap_err();
        assert_eq!(err.variable, "CRYPTOCLOUD_SECRET_KEY");
        let err = build(&[("cryptocloud_secret_key", "  ")]).unwrap_err();
        assert_eq!(err.variable, "CRYPTOCLOUD_SECRET_KEY");
    }

    #[test]
    fn networks_are_a_comma_list_of_cidrs_or_addresses() {
        let s = build(&[
            ("cryptocloud_secret_key", "k"),
            (
                "ingest_allowed_networks",
                "10.0.0.0/8, 192.168.1.7,2001:db8::/32",
            ),
        ])
        .unwrap();
        let nets: Vec<String> = s
            .ingest_allowed_networks
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(nets, ["10.0.0.0/8", "192.168.1.7/32", "2001:db8::/32"]);

        let s = build(&[
            ("cryptocloud_secret_key", "k"),
            ("ingest_allowed_networks", ""),
        ])
        .unwrap();
        assert!(s.ingest_allowed_networks.is_empty());
    }

    #[test]
    fn a_bad_network_or_timeout_names_its_variable() {
        let err = build(&[
            ("cryptocloud_secret_key", "k"),
            ("ingest_allowed_networks", "10.0.0.0/8,nope"),
        ])
        .unwrap_err();
        assert_eq!(err.variable, "INGEST_ALLOWED_NETWORKS");
        let err = build(&[
            ("cryptocloud_secret_key", "k"),
            ("ingest_publish_timeout_ms", "0"),
        ])
        .unwrap_err();
        assert_eq!(err.variable, "INGEST_PUBLISH_TIMEOUT_MS");
        let err = build(&[
            ("cryptocloud_secret_key", "k"),
            ("ingest_rate_limit_per_minute", "-1"),
        ])
        .unwrap_err();
        assert_eq!(err.variable, "INGEST_RATE_LIMIT_PER_MINUTE");
    }

    #[test]
    fn the_previous_key_is_optional_and_never_printed() {
        let s = build(&[
            ("cryptocloud_secret_key", "current-secret"),
            ("cryptocloud_secret_key_previous", "old-secret"),
        ])
        .unwrap();
        assert_eq!(
            s.cryptocloud_secret_key_previous
                .as_ref()
                .unwrap()
                .expose_secret(),
            "old-secret"
        );
        let debug = format!("{s:?}");
        assert!(
            !debug.contains("current-secret") && !debug.contains("old-secret"),
            "{debug}"
        );

        let s = build(&[
            ("cryptocloud_secret_key", "k"),
            ("cryptocloud_secret_key_previous", ""),
        ])
        .unwrap();
        assert!(s.cryptocloud_secret_key_previous.is_none());
    }
}
