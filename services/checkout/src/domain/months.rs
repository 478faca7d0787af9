//! The number of months bought at once: 1 up to the plan's maximum.

use crate::plans::Plan;

/// A number of months valid for one plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Months(u32);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("months must be a whole number from 1 to {max}")]
pub struct InvalidMonths {
    pub max: u32,
}

impl Months {
    pub fn parse(value: i64, plan: &Plan) -> Result<Self, InvalidMonths> {
        let max = plan.max_months();
        match u32::try_from(value) {
            Ok(m) if (1..=max).contains(&m) => Ok(Self(m)),
            _ => Err(InvalidMonths { max }),
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plans::PlanCatalogue;
    use proptest::prelude::*;

    #[test]
    fn bounds_are_one_to_the_plans_maximum() {
        let plans = PlanCatalogue::defaults();
        let pro = plans.get("pro").unwrap();
        assert_eq!(Months::parse(1, pro).unwrap().get(), 1);
        assert_eq!(Months::parse(12, pro).unwrap().get(), 12);
        for bad in [0, -1, 13, i64::MAX, i64::MIN] {
            assert_eq!(Months::parse(bad, pro), Err(InvalidMonths { max: 12 }));
        }
    }

    proptest! {
        #[test]
        fn parse_accepts_exactly_the_range(v in any::<i64>()) {
            let plans = PlanCatalogue::defaults();
            let pro = plans.get("pro").unwrap();
            prop_assert_eq!(Months::parse(v, pro).is_ok(), (1..=12).contains(&v));
        }
    }
}
