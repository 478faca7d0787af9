//! A subscription tier's name as `users.subscription_tier` and `payments.subscription_tier`
//! store it: lower case, as the plan catalogue (`crates/plans`) names its plans.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, sqlx::Type)]
#[sqlx(transparent)]
pub struct Tier(String);

impl Tier {
    /// The tier every user starts on and falls back to.
    pub fn free() -> Self {
        Self(plans::FREE_PLAN.to_string())
    }

    pub fn of(plan: &plans::Plan) -> Self {
        Self(plan.name().to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_free(&self) -> bool {
        self.0 == plans::FREE_PLAN
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for Tier {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}
