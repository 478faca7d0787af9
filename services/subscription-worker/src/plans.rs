//! Requests limit per tier, from the shared plan catalogue (`crates/plans`): the same
//! `plans` setting checkout prices invoices with, so the two services cannot disagree.

pub use plans::{PlanCatalogue, PlanError, PlanSettings, FREE_PLAN as FREE};

#[derive(Debug, Clone)]
pub struct Plans {
    catalogue: PlanCatalogue,
    /// Every tier's monthly price, computed once (each plan change converts with them).
    prices: payments::plan::Prices,
}

impl Default for Plans {
    fn default() -> Self {
        Self::new(PlanCatalogue::default())
    }
}

impl Plans {
    fn new(catalogue: PlanCatalogue) -> Self {
        let prices = payments::plan::Prices::new(
            catalogue.iter().map(|p| (p.name().to_string(), p.price())),
        );
        Self { catalogue, prices }
    }

    pub fn from_settings(settings: &PlanSettings) -> Result<Self, PlanError> {
        PlanCatalogue::from_settings(settings).map(Self::new)
    }

    /// The limit `tier` grants; `None` for a tier the catalogue does not know (such a
    /// payment is dead-lettered rather than granting an arbitrary limit).
    pub fn requests_limit(&self, tier: &str) -> Option<i32> {
        self.catalogue.get(tier).map(|plan| plan.requests_limit())
    }

    /// The plan named `tier` (price, currency, limit); `None` when `PLANS` no longer has it.
    pub fn plan(&self, tier: &str) -> Option<&plans::Plan> {
        self.catalogue.get(tier)
    }

    /// Every tier's monthly price, for converting time left between tiers.
    pub fn prices(&self) -> &payments::plan::Prices {
        &self.prices
    }

    pub fn free_requests_limit(&self) -> i32 {
        self.catalogue.free().requests_limit()
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
            r#"{"team": {"price": "299", "requests_limit": 1000000, "max_months": 12}, "pro": {"max_months": 24}}"#
        ))
        .unwrap();
        let plans = Plans::from_settings(&settings).unwrap();
        assert_eq!(plans.requests_limit("team"), Some(1_000_000));
        assert_eq!(
            plans.requests_limit("pro"),
            Some(100_000),
            "untouched limit stays"
        );
        assert!(serde_json::from_value::<PlanSettings>(serde_json::json!("not json")).is_err());
    }
}
