//! The plan catalogue: what each subscription tier costs per month, how many requests it
//! allows and for how many months it can be bought at once.
//!
//! Built from the original guide's two plans (`free`: 100 requests, price 0; `pro`: 100000
//! requests, 99 USD a month) merged with the operator's `plans` setting, so plans are added
//! or changed without code changes:
//!
//! ```toml
//! # config/default.toml (or config/$APP_ENV.toml)
//! [plans.pro]
//! max_months = 24            # change one field of a built-in plan
//! [plans.team]
//! price = "299"              # a string (or an integer): never a float
//! currency = "USD"           # default USD
//! requests_limit = 1000000
//! max_months = 12            # default 12
//! ```
//!
//! or, as an environment variable holding the same table as JSON:
//! `PLANS='{"team": {"price": "299", "requests_limit": 1000000}}'`.
//!
//! Checkout prices invoices from it; the subscription worker reads the same setting to set
//! `requests_limit` on upgrade, so the two cannot disagree.

use std::collections::BTreeMap;
use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer};

/// Built-in defaults for a plan's maximum number of months and its currency.
pub const DEFAULT_MAX_MONTHS: u32 = 12;
pub const DEFAULT_CURRENCY: &str = "USD";
/// A plan can be bought for at most ten years at once.
const MONTHS_CEILING: u32 = 120;
/// Largest amount a `NUMERIC(20, 8)` column holds is below 10^12.
const AMOUNT_CEILING: i64 = 1_000_000_000_000;
/// Name of the plan every user starts on and falls back to.
pub const FREE_PLAN: &str = "free";

/// One plan of the catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    name: String,
    price: Decimal,
    currency: String,
    requests_limit: i32,
    max_months: u32,
}

impl Plan {
    /// Lower-case name, e.g. `pro` (what `users.subscription_tier` stores).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Price per month.
    pub fn price(&self) -> Decimal {
        self.price
    }

    /// ISO 4217 code, upper case.
    pub fn currency(&self) -> &str {
        &self.currency
    }

    pub fn requests_limit(&self) -> i32 {
        self.requests_limit
    }

    pub fn max_months(&self) -> u32 {
        self.max_months
    }

    /// Only plans with a price can be bought.
    pub fn is_paid(&self) -> bool {
        self.price > Decimal::ZERO
    }

    /// Price × months, exact. `months` is at most [`Plan::max_months`], which was checked
    /// at load time to keep the product inside `NUMERIC(20, 8)`.
    pub fn amount_for(&self, months: u32) -> Decimal {
        self.price * Decimal::from(months)
    }
}

/// The plans on offer, ordered by price then name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanCatalogue {
    plans: Vec<Plan>,
}

impl PlanCatalogue {
    /// The original guide's plans.
    pub fn defaults() -> Self {
        Self::from_settings(&PlanSettings::default()).expect("the built-in plans are valid")
    }

    /// The defaults with the operator's settings applied (fields of an existing plan are
    /// replaced one by one; a new plan needs at least `price` and `requests_limit`).
    pub fn from_settings(settings: &PlanSettings) -> Result<Self, PlanError> {
        let mut merged: BTreeMap<String, PlanFields> = BTreeMap::new();
        merged.insert(
            FREE_PLAN.to_string(),
            PlanFields {
                price: Some(Decimal::ZERO),
                currency: None,
                requests_limit: Some(100),
                max_months: None,
            },
        );
        merged.insert(
            "pro".to_string(),
            PlanFields {
                price: Some(Decimal::from(99)),
                currency: None,
                requests_limit: Some(100_000),
                max_months: None,
            },
        );
        for (raw_name, fields) in &settings.0 {
            let name = raw_name.trim().to_ascii_lowercase();
            let entry = merged.entry(name).or_default();
            entry.overlay(fields);
        }
        let mut plans = merged
            .into_iter()
            .map(|(name, fields)| fields.into_plan(name))
            .collect::<Result<Vec<_>, _>>()?;
        plans.sort_by(|a, b| a.price.cmp(&b.price).then_with(|| a.name.cmp(&b.name)));
        Ok(Self { plans })
    }

    /// The plan called `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&Plan> {
        let name = name.trim();
        self.plans
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Plan> {
        self.plans.iter()
    }

    /// Plans that can be bought.
    pub fn paid(&self) -> impl Iterator<Item = &Plan> {
        self.plans.iter().filter(|p| p.is_paid())
    }

    /// The `free` plan (always present: it is a built-in and cannot be given a price).
    pub fn free(&self) -> &Plan {
        self.get(FREE_PLAN)
            .expect("the free plan is always in the catalogue")
    }
}

impl Default for PlanCatalogue {
    fn default() -> Self {
        Self::defaults()
    }
}

/// A plan setting that cannot be used; names the plan and the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("plan {plan:?}: {problem}")]
pub struct PlanError {
    pub plan: String,
    pub problem: String,
}

/// The operator's `plans` setting: a table of plan name → fields, from TOML or from a JSON
/// string (an environment variable cannot hold a table).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanSettings(pub BTreeMap<String, PlanFields>);

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

/// The fields of one plan as configured; absent fields keep the built-in value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanFields {
    #[serde(default, deserialize_with = "price")]
    pub price: Option<Decimal>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub requests_limit: Option<i32>,
    #[serde(default)]
    pub max_months: Option<u32>,
}

impl PlanFields {
    fn overlay(&mut self, other: &PlanFields) {
        if other.price.is_some() {
            self.price = other.price;
        }
        if other.currency.is_some() {
            self.currency.clone_from(&other.currency);
        }
        if other.requests_limit.is_some() {
            self.requests_limit = other.requests_limit;
        }
        if other.max_months.is_some() {
            self.max_months = other.max_months;
        }
    }

    fn into_plan(self, name: String) -> Result<Plan, PlanError> {
        let fail = |problem: &str| PlanError {
            plan: name.clone(),
            problem: problem.to_string(),
        };
        let valid_name = !name.is_empty()
            && name.len() <= 32
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if !valid_name {
            return Err(fail("a name is 1 to 32 of a-z, 0-9, '_' and '-'"));
        }
        let price = self.price.ok_or_else(|| fail("price is required"))?;
        if price.is_sign_negative() {
            return Err(fail("price must not be negative"));
        }
        if price.normalize().scale() > 8 {
            return Err(fail("price has more than 8 decimal places"));
        }
        if name == FREE_PLAN && !price.is_zero() {
            return Err(fail("the free plan cannot have a price"));
        }
        let currency = self
            .currency
            .unwrap_or_else(|| DEFAULT_CURRENCY.to_string())
            .trim()
            .to_ascii_uppercase();
        if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(fail("currency must be a three-letter code such as USD"));
        }
        let requests_limit = self
            .requests_limit
            .ok_or_else(|| fail("requests_limit is required"))?;
        if requests_limit < 0 {
            return Err(fail("requests_limit must not be negative"));
        }
        let max_months = self.max_months.unwrap_or(DEFAULT_MAX_MONTHS);
        if !(1..=MONTHS_CEILING).contains(&max_months) {
            return Err(fail("max_months must be between 1 and 120"));
        }
        if price * Decimal::from(max_months) >= Decimal::from(AMOUNT_CEILING) {
            return Err(fail("price × max_months is too large"));
        }
        Ok(Plan {
            name,
            price,
            currency,
            requests_limit,
            max_months,
        })
    }
}

/// A price is a decimal string or an integer. Floats are refused: `9.99` as a float is
/// not 9.99.
fn price<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
    struct PriceVisitor;
    impl serde::de::Visitor<'_> for PriceVisitor {
        type Value = Option<Decimal>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a price as a decimal string such as \"9.99\", or an integer")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
            v.trim()
                .parse::<Decimal>()
                .map(Some)
                .map_err(|_| E::custom(format!("{v:?} is not a decimal number")))
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(Decimal::from(v)))
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(Decimal::from(v)))
        }
        fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Err(E::custom(
                "write the price as a string, e.g. \"9.99\", not a float",
            ))
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    d.deserialize_any(PriceVisitor)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(json: &str) -> PlanSettings {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn defaults_are_the_guides_plans() {
        let c = PlanCatalogue::defaults();
        let names: Vec<_> = c.iter().map(Plan::name).collect();
        assert_eq!(names, ["free", "pro"]);
        let pro = c.get("PRO").unwrap();
        assert_eq!(pro.price(), Decimal::from(99));
        assert_eq!(pro.currency(), "USD");
        assert_eq!(pro.requests_limit(), 100_000);
        assert_eq!(pro.max_months(), 12);
        assert_eq!(pro.amount_for(3), Decimal::from(297));
        assert!(!c.free().is_paid());
        assert_eq!(c.free().requests_limit(), 100);
        assert_eq!(c.paid().count(), 1);
    }

    #[test]
    fn operators_add_plans_and_change_fields() {
        let c = PlanCatalogue::from_settings(&settings(
            r#"{"pro": {"max_months": 24}, "Team": {"price": "299.50", "currency": "eur", "requests_limit": 1000000}}"#,
        ))
        .unwrap();
        assert_eq!(c.get("pro").unwrap().max_months(), 24);
        assert_eq!(c.get("pro").unwrap().price(), Decimal::from(99));
        let team = c.get("team").unwrap();
        assert_eq!(team.price(), "299.50".parse::<Decimal>().unwrap());
        assert_eq!(team.currency(), "EUR");
        assert_eq!(team.max_months(), DEFAULT_MAX_MONTHS);
        assert_eq!(c.paid().count(), 2);
    }

    #[test]
    fn a_json_string_setting_is_read_as_a_table() {
        let from_string: PlanSettings =
            serde_json::from_value(serde_json::json!(r#"{"pro": {"price": 79}}"#)).unwrap();
        let c = PlanCatalogue::from_settings(&from_string).unwrap();
        assert_eq!(c.get("pro").unwrap().price(), Decimal::from(79));
        let empty: PlanSettings = serde_json::from_value(serde_json::json!("")).unwrap();
        assert_eq!(
            PlanCatalogue::from_settings(&empty).unwrap(),
            PlanCatalogue::defaults()
        );
    }

    #[test]
    fn bad_plans_are_refused_naming_the_plan() {
        for (json, plan) in [
            (r#"{"team": {"price": "10"}}"#, "team"),
            (r#"{"team": {"requests_limit": 5}}"#, "team"),
            (r#"{"pro": {"price": "-1"}}"#, "pro"),
            (r#"{"pro": {"max_months": 0}}"#, "pro"),
            (r#"{"pro": {"max_months": 121}}"#, "pro"),
            (r#"{"pro": {"currency": "dollars"}}"#, "pro"),
            (r#"{"free": {"price": "5"}}"#, "free"),
            (
                r#"{"bad name": {"price": "5", "requests_limit": 1}}"#,
                "bad name",
            ),
            (r#"{"pro": {"price": "0.000000001"}}"#, "pro"),
            (r#"{"pro": {"price": "999999999999"}}"#, "pro"),
        ] {
            let err = PlanCatalogue::from_settings(&settings(json)).unwrap_err();
            assert_eq!(err.plan, plan, "{json}: {err}");
        }
    }

    #[test]
    fn float_prices_and_unknown_fields_are_refused() {
        assert!(serde_json::from_str::<PlanSettings>(r#"{"pro": {"price": 9.99}}"#).is_err());
        assert!(serde_json::from_str::<PlanSettings>(r#"{"pro": {"prize": "9"}}"#).is_err());
    }

    #[test]
    fn reads_from_toml_through_the_config_crate() {
        let config = config::Config::builder()
            .add_source(config::File::from_str(
                "[plans.pro]\nprice = \"49.90\"\nmax_months = 6\n[plans.team]\nprice = 300\nrequests_limit = 5000\n",
                config::FileFormat::Toml,
            ))
            .build()
            .unwrap();
        #[derive(Deserialize)]
        struct S {
            plans: PlanSettings,
        }
        let s: S = config.try_deserialize().unwrap();
        let c = PlanCatalogue::from_settings(&s.plans).unwrap();
        assert_eq!(
            c.get("pro").unwrap().price(),
            "49.90".parse::<Decimal>().unwrap()
        );
        assert_eq!(c.get("pro").unwrap().max_months(), 6);
        assert_eq!(c.get("team").unwrap().requests_limit(), 5000);
    }
}
