//! Money amounts: `rust_decimal::Decimal`, written in JSON as strings with at least two
//! decimal places (`"99.00"`, `"0.125"`), never as floats.

use rust_decimal::Decimal;
use serde::{Serialize, Serializer};

/// The canonical text of an amount: trailing zeros dropped, then at least two decimals.
pub fn display_amount(value: Decimal) -> String {
    let mut v = value.normalize();
    if v.scale() < 2 {
        v.rescale(2);
    }
    v.to_string()
}

/// A decimal amount serialised with [`display_amount`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Amount(pub Decimal);

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&display_amount(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn amounts_print_exactly_with_two_decimals_at_least() {
        assert_eq!(display_amount(dec!(99)), "99.00");
        assert_eq!(display_amount(dec!(99.00000000)), "99.00");
        assert_eq!(display_amount(dec!(0.5)), "0.50");
        assert_eq!(display_amount(dec!(12.345)), "12.345");
        assert_eq!(display_amount(dec!(0)), "0.00");
        assert_eq!(
            serde_json::to_string(&Amount(dec!(1188))).unwrap(),
            "\"1188.00\""
        );
    }
}
