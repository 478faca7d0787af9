//! Numbers as CryptoCloud writes them. Its backend is Python, so amounts go out as JSON
//! floats in Python's `repr` form: `25.0` (never `25`), and exponent notation with a
//! signed two-digit exponent below 1e-4 (`1.5e-06`), as the captured answers show.
//!
//! Money stays `Decimal` in the sandbox; the `f64` exists only to print the wire form.

use rust_decimal::Decimal;
use serde::{ser, Serialize, Serializer};
use serde_json::value::RawValue;

/// A money amount written as a Python float. Only a direct serialisation keeps the form:
/// through a `serde_json::Value` it becomes an `f64` again and prints as Rust does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PyFloat(pub Decimal);

impl Serialize for PyFloat {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let raw = RawValue::from_string(py_repr(self.0)).map_err(ser::Error::custom)?;
        raw.serialize(s)
    }
}

impl From<Decimal> for PyFloat {
    fn from(value: Decimal) -> Self {
        PyFloat(value)
    }
}

/// Python's `repr(float(value))`.
pub fn py_repr(value: Decimal) -> String {
    // Through the decimal text: the nearest float, so 0.0000015 prints as 1.5e-06.
    let float: f64 = value.to_string().parse().unwrap_or(0.0);
    // `{:e}` gives the shortest round-trip digits, e.g. `1.5e-6`.
    let sci = format!("{float:e}");
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if (-4..16).contains(&exponent) {
        let plain = format!("{float}");
        if plain.contains('.') {
            plain
        } else {
            format!("{plain}.0")
        }
    } else {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn python_float_forms() {
        for (value, text) in [
            (dec!(25), "25.0"),
            (dec!(25.50), "25.5"),
            (dec!(0), "0.0"),
            (dec!(0.0001), "0.0001"),
            (dec!(0.00005), "5e-05"),
            (dec!(0.0000015), "1.5e-06"),
            (dec!(0.000001), "1e-06"),
            (dec!(214356.22712), "214356.22712"),
            (dec!(-0.5), "-0.5"),
            (dec!(12345678901234567), "1.2345678901234568e+16"),
        ] {
            assert_eq!(py_repr(value), text, "{value}");
        }
    }

    #[test]
    fn serializes_as_a_json_number_the_client_reads_back() {
        let text = serde_json::to_string(&PyFloat(dec!(0.0000015))).unwrap();
        assert_eq!(text, "1.5e-06");
        let back = cryptocloud::decimal::parse_json_token(&text).unwrap();
        assert_eq!(back, Some(dec!(0.0000015)));
        let back = cryptocloud::decimal::parse_json_token("1.499999996212864e-06").unwrap();
        assert_eq!(back, Some(dec!(0.000001499999996212864)));
    }
}
