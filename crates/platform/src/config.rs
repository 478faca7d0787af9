//! Configuration: `config/default.toml`, then `config/$APP_ENV.toml`, then environment
//! variables (the contract's flat names, e.g. `DATABASE_URL`), which win. A `.env` file in
//! the working directory is loaded first when present.
//!
//! Each service declares its own settings struct with field names that are the lower-case
//! variable names; a missing or malformed value is reported naming the variable.

use std::fmt;
use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

/// A configuration problem, displayed as one line naming the environment variable.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {variable}: {problem}")]
pub struct ConfigError {
    pub variable: String,
    pub problem: String,
}

/// Loads settings of type `S` from the layered sources.
pub fn load<S: DeserializeOwned>() -> Result<S, ConfigError> {
    // A missing .env is normal; a malformed one is not silently ignored.
    if let Err(err) = dotenvy::dotenv() {
        if !err.not_found() {
            return Err(ConfigError {
                variable: ".env".into(),
                problem: err.to_string(),
            });
        }
    }
    let dir = std::env::var("APP_CONFIG_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from("config"));
    let mut builder = config::Config::builder()
        .add_source(config::File::from(dir.join("default.toml")).required(false));
    if let Ok(env) = std::env::var("APP_ENV") {
        builder =
            builder.add_source(config::File::from(dir.join(format!("{env}.toml"))).required(false));
    }
    let config = builder
        .add_source(environment())
        .build()
        .map_err(|e| ConfigError {
            variable: "config".into(),
            problem: e.to_string(),
        })?;
    from_config(config)
}

/// The environment as a configuration source. Values stay the strings they were written
/// as (no `try_parsing`): a key `0012…` keeps its zeros, a 25-digit id is not rounded to a
/// float, `TRUE` stays `TRUE` where a string is wanted; numbers and booleans are parsed
/// only where a setting is a number or a boolean.
fn environment() -> config::Environment {
    config::Environment::default()
}

/// Settings from these variables as if they were the whole environment (upper-case names,
/// as a shell would have them): the code `load` runs, for tests and tools.
pub fn from_environment<S: DeserializeOwned>(
    vars: std::collections::HashMap<String, String>,
) -> Result<S, ConfigError> {
    let config = config::Config::builder()
        .add_source(environment().source(Some(vars)))
        .build()
        .map_err(|e| ConfigError {
            variable: "config".into(),
            problem: e.to_string(),
        })?;
    from_config(config)
}

/// Deserialises a built [`config::Config`], naming the offending variable on failure.
pub fn from_config<S: DeserializeOwned>(config: config::Config) -> Result<S, ConfigError> {
    serde_path_to_error::deserialize(config).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner().to_string();
        // A missing field is reported against its parent; name the field itself.
        let missing = missing_field(&inner);
        let variable = missing.clone().unwrap_or(path);
        ConfigError {
            variable: variable.to_uppercase(),
            problem: if missing.is_some() {
                "required but not set".to_string()
            } else {
                // Values are never echoed: they may be secrets.
                inner.split(" at line").next().unwrap_or(&inner).to_string()
            },
        }
    })
}

/// The field named by serde's or config's "missing field" message.
fn missing_field(message: &str) -> Option<String> {
    if !message.starts_with("missing") {
        return None;
    }
    message.split(['`', '"']).nth(1).map(str::to_string)
}

/// A PostgreSQL URL. Accepts the `postgresql+asyncpg://` form of the original guide and
/// keeps the whole URL secret (it may carry a password).
#[derive(Clone)]
pub struct DatabaseUrl(SecretString);

impl DatabaseUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let normalised = if let Some(rest) = raw.strip_prefix("postgresql+asyncpg://") {
            format!("postgres://{rest}")
        } else if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            raw.to_string()
        } else {
            return Err("expected a postgres:// or postgresql+asyncpg:// URL".into());
        };
        Ok(Self(SecretString::from(normalised)))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DatabaseUrl([REDACTED])")
    }
}

impl Default for DatabaseUrl {
    fn default() -> Self {
        Self(SecretString::from("postgres://127.0.0.1/payments"))
    }
}

impl<'de> Deserialize<'de> for DatabaseUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// An AMQP URL (may carry a password).
#[derive(Clone)]
pub struct AmqpUrl(SecretString);

impl AmqpUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if !(raw.starts_with("amqp://") || raw.starts_with("amqps://")) {
            return Err("expected an amqp:// or amqps:// URL".into());
        }
        Ok(Self(SecretString::from(raw.to_string())))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for AmqpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AmqpUrl([REDACTED])")
    }
}

impl Default for AmqpUrl {
    fn default() -> Self {
        Self(SecretString::from("amqp://guest:guest@127.0.0.1:5672/%2f"))
    }
}

impl<'de> Deserialize<'de> for AmqpUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// Deserialises a secret that must not be empty.
pub fn non_empty_secret<'de, D: Deserializer<'de>>(d: D) -> Result<SecretString, D::Error> {
    let raw = String::deserialize(d)?;
    if raw.trim().is_empty() {
        return Err(serde::de::Error::custom("must not be empty"));
    }
    Ok(SecretString::from(raw))
}

/// Deserialises a secret that may be absent; an empty value (a `KEY=` line in `.env`)
/// counts as unset.
pub fn optional_secret<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SecretString>, D::Error> {
    let raw = Option::<String>::deserialize(d)?;
    Ok(raw.filter(|s| !s.trim().is_empty()).map(SecretString::from))
}

/// Deserialises a string that must not be blank, trimmed.
pub fn non_empty_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let raw = String::deserialize(d)?;
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(serde::de::Error::custom("must not be empty"));
    }
    Ok(trimmed.to_string())
}

/// Deserialises an optional string; blank counts as unset.
pub fn empty_as_none<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let raw = Option::<String>::deserialize(d)?;
    Ok(raw.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()))
}

/// Settings from explicit `(variable, value)` pairs only (lower-case names), as if they
/// were the environment: for tests and tools.
pub fn from_pairs<S: DeserializeOwned>(pairs: &[(&str, &str)]) -> Result<S, ConfigError> {
    let mut builder = config::Config::builder();
    for (key, value) in pairs {
        builder = builder
            .set_override(*key, *value)
            .map_err(|e| ConfigError {
                variable: key.to_uppercase(),
                problem: e.to_string(),
            })?;
    }
    let config = builder.build().map_err(|e| ConfigError {
        variable: "config".into(),
        problem: e.to_string(),
    })?;
    from_config(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Typed {
        shop_id: String,
        api_key: SecretString,
        flag_text: String,
        port: u16,
        enabled: bool,
        ratio: u32,
    }

    #[test]
    fn environment_strings_are_used_exactly_as_written() {
        let vars = [
            ("SHOP_ID", "0012345"),
            ("API_KEY", "1234567890123456789012345"),
            ("FLAG_TEXT", "TRUE"),
            ("PORT", "8080"),
            ("ENABLED", "true"),
            ("RATIO", "007"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let typed: Typed = from_environment(vars).unwrap();
        assert_eq!(typed.shop_id, "0012345");
        assert_eq!(typed.api_key.expose_secret(), "1234567890123456789012345");
        assert_eq!(typed.flag_text, "TRUE");
        assert_eq!((typed.port, typed.enabled, typed.ratio), (8080, true, 7));
    }

    #[derive(Debug, Deserialize)]
    struct Sample {
        database_url: DatabaseUrl,
        #[serde(deserialize_with = "non_empty_secret")]
        auth_jwt_secret: SecretString,
        #[serde(default = "default_port")]
        port: u16,
    }

    fn default_port() -> u16 {
        8080
    }

    fn build(pairs: &[(&str, &str)]) -> Result<Sample, ConfigError> {
        from_pairs(pairs)
    }

    #[test]
    fn asyncpg_urls_are_accepted_and_normalised() {
        let s = build(&[
            ("database_url", "postgresql+asyncpg://u:p@db/app"),
            ("auth_jwt_secret", "k"),
        ])
        .unwrap();
        assert_eq!(s.database_url.expose(), "postgres://u:p@db/app");
        assert_eq!(s.port, 8080);
    }

    #[test]
    fn a_missing_required_value_names_the_variable() {
        let err = build(&[("database_url", "postgres://db/app")]).unwrap_err();
        assert_eq!(err.variable, "AUTH_JWT_SECRET");
        assert_eq!(
            err.to_string(),
            "configuration error: AUTH_JWT_SECRET: required but not set"
        );
    }

    #[test]
    fn a_malformed_value_names_the_variable_without_echoing_it() {
        let err = build(&[
            ("database_url", "mysql://secret-password@db"),
            ("auth_jwt_secret", "k"),
        ])
        .unwrap_err();
        assert_eq!(err.variable, "DATABASE_URL");
        assert!(!err.to_string().contains("secret-password"), "{err}");
        let err = build(&[
            ("database_url", "postgres://db/app"),
            ("auth_jwt_secret", "k"),
            ("port", "eighty"),
        ])
        .unwrap_err();
        assert_eq!(err.variable, "PORT");
    }

    #[test]
    fn secrets_never_print() {
        let s = build(&[
            ("database_url", "postgres://user:hunter2@db/app"),
            ("auth_jwt_secret", "topsecret"),
        ])
        .unwrap();
        assert_eq!(s.auth_jwt_secret.expose_secret(), "topsecret");
        let debug = format!("{s:?}");
        assert!(
            !debug.contains("hunter2") && !debug.contains("topsecret"),
            "{debug}"
        );
    }
}
