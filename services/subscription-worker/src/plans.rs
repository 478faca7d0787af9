//! Requests limit per tier. Checkout owns the plan catalogue (names, prices, months); the
//! worker needs only the limit a paid tier grants and the one `free` falls back to. It reads
//! the same `plans` setting as checkout (a TOML table, or the `PLANS` variable holding the
//! same table as JSON) over the same built-in plans, and ignores the fields it does not use.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

/// The tier every plan returns to when it expires.
pub const FREE: &str = "free";

/// Requests limit by lower-case tier name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plans {
    limits: BTreeMap<String, i32>,
}

impl Plans {
    /// The built-in plans (`free` 100, `pro` 100000) with the operator's settings applied.
    pub fn from_settings(settings: &PlanSettings) -> Self {
        let mut limits = BTreeMap::from([(FREE.to_string(), 100), ("pro".to_string(), 100_000)]);
        for (name, fields) in &settings.0 {
            if let Some(limit) = fields.requests_limit {
                limits.insert(name.trim().to_ascii_lowercase(), limit);
            }
        }
        Self { limits }
    }

    /// The limit `tier` grants; `None` for a tier the worker does not know (such a payment
    /// is dead-lettered rather than granting an arbitrary limit).
    pub fn requests_limit(&self, tier: &str) -> Option<i32> {
        self.limits.get(&tier.trim().to_ascii_lowercase()).copied()
    }

    pub fn free_requests_limit(&self) -> i32 {
        self.limits.get(FREE).copied().unwrap_or(100)
    }
}

impl Default for Plans {
    fn default() -> Self {
        Self::from_settings(&PlanSettings::default())
    }
}

/// The `plans` setting: plan name → fields, from a table or a JSON string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanSettings(pub BTreeMap<String, PlanFields>);

/// The one field of a plan the worker uses; checkout's other fields are accepted and ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct PlanFields {
    #[serde(default)]
    pub requests_limit: Option<i32>,
}

impl<'de> Deserialize<'de> for PlanSettings {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Table(BTreeMap<String, PlanFields>),
            Json(String),
        }
        match Raw::deserialize(d)? {
            Raw::Table(table) => Ok(Self(table)),
            Raw::Json(text) if text.trim().is_empty() => Ok(Self::default()),
            Raw::Json(text) => serde_json::from_str(&text)
                .map(Self)
                .map_err(|e| serde::de::Error::custom(format!("not a JSON table of plans: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_tiers_have_limits_and_unknown_ones_do_not() {
        let plans = Plans::default();
        assert_eq!(plans.requests_limit("free"), Some(100));
        assert_eq!(plans.requests_limit("pro"), Some(100_000));
        assert_eq!(plans.requests_limit("Pro"), Some(100_000));
        assert_eq!(plans.requests_limit("enterprise"), None);
        assert_eq!(plans.free_requests_limit(), 100);
    }

    #[test]
    fn checkouts_plans_setting_is_read_for_its_limits() {
        let settings: PlanSettings = serde_json::from_value(serde_json::json!(
            r#"{"team": {"price": "299", "requests_limit": 1000000, "max_months": 12}, "pro": {"max_months": 24}, "Free": {"requests_limit": 50}}"#
        ))
        .unwrap();
        let plans = Plans::from_settings(&settings);
        assert_eq!(plans.requests_limit("team"), Some(1_000_000));
        assert_eq!(
            plans.requests_limit("pro"),
            Some(100_000),
            "untouched limit stays"
        );
        assert_eq!(plans.free_requests_limit(), 50);
        assert!(serde_json::from_value::<PlanSettings>(serde_json::json!("not json")).is_err());
    }
}
