//! Serde helpers for `rust_decimal::Decimal` amounts in CryptoCloud JSON.
//!
//! CryptoCloud sends amounts as JSON numbers (`214356.22712`) or numeric strings
//! (`"25.50"`). Plain serde_json would hand non-integers to `visit_f64` and lose
//! exactness, so these helpers read the raw JSON token instead and never touch
//! `f64`. They therefore work only with serde_json and only on non-buffered
//! fields (no `#[serde(flatten)]` or untagged enums around them).
//!
//! Use with `#[serde(with = "cryptocloud::decimal")]`, or
//! `#[serde(default, with = "cryptocloud::decimal::option")]`.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{de, ser, Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

/// Writes the decimal as a JSON number with its exact digits (`25.50`).
pub fn serialize<S: Serializer>(value: &Decimal, s: S) -> Result<S::Ok, S::Error> {
    let raw = RawValue::from_string(value.to_string()).map_err(ser::Error::custom)?;
    raw.serialize(s)
}

/// Reads a JSON number or a numeric string, exactly.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
    let raw = Box::<RawValue>::deserialize(d)?;
    match parse_json_token(raw.get()).map_err(de::Error::custom)? {
        Some(v) => Ok(v),
        None => Err(de::Error::custom("expected a decimal number, found null")),
    }
}

/// Parses one raw JSON token (number, numeric string, or `null`).
///
/// `null` and the empty string give `Ok(None)`.
pub fn parse_json_token(token: &str) -> Result<Option<Decimal>, String> {
    let token = token.trim();
    if token == "null" {
        return Ok(None);
    }
    if token.starts_with('"') {
        let text: String =
            serde_json::from_str(token).map_err(|e| format!("invalid JSON string: {e}"))?;
        if text.trim().is_empty() {
            return Ok(None);
        }
        return parse_str(&text).map(Some);
    }
    if token.starts_with(['-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9']) {
        return parse_str(token).map(Some);
    }
    Err("expected a number or a numeric string".to_owned())
}

/// Parses decimal text (`"25.50"`, `"-1"`, `"1e-3"`), exactly.
pub fn parse_str(text: &str) -> Result<Decimal, String> {
    let text = text.trim();
    let valid_chars = !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'));
    if !valid_chars {
        return Err(format!("{:?} is not a decimal number", cut(text)));
    }
    let parsed = if text.contains(['e', 'E']) {
        Decimal::from_scientific(text)
    } else {
        Decimal::from_str(text)
    };
    parsed.map_err(|e| format!("{:?} is not a decimal number: {e}", cut(text)))
}

fn cut(s: &str) -> String {
    s.chars().take(40).collect()
}

/// The same for `Option<Decimal>`: `None` is written as `null`; `null`, a missing
/// field (with `#[serde(default)]`) and `""` read as `None`.
pub mod option {
    use super::*;

    pub fn serialize<S: Serializer>(value: &Option<Decimal>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => super::serialize(v, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
        let raw = Box::<RawValue>::deserialize(d)?;
        parse_json_token(raw.get()).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;
    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Amounts {
        #[serde(with = "crate::decimal")]
        a: Decimal,
        #[serde(default, with = "crate::decimal::option")]
        b: Option<Decimal>,
    }

    fn read(json: &str) -> Result<Amounts, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn numbers_are_exact() {
        let v = read(r#"{"a": 214356.22712, "b": 0.1}"#).unwrap();
        assert_eq!(v.a, dec!(214356.22712));
        assert_eq!(v.a.to_string(), "214356.22712");
        assert_eq!(v.b, Some(dec!(0.1)));
        // More digits than an f64 can hold.
        let v = read(r#"{"a": 12345678901234.123456789}"#).unwrap();
        assert_eq!(v.a.to_string(), "12345678901234.123456789");
    }

    #[test]
    fn strings_are_exact() {
        let v = read(r#"{"a": "25.50", "b": " 7 "}"#).unwrap();
        assert_eq!(v.a.to_string(), "25.50");
        assert_eq!(v.b, Some(dec!(7)));
    }

    #[test]
    fn integers_negatives_and_exponents() {
        assert_eq!(read(r#"{"a": 25}"#).unwrap().a, dec!(25));
        assert_eq!(read(r#"{"a": -3.5}"#).unwrap().a, dec!(-3.5));
        assert_eq!(read(r#"{"a": 1.5e2}"#).unwrap().a, dec!(150));
        assert_eq!(read(r#"{"a": "2E-3"}"#).unwrap().a, dec!(0.002));
    }

    #[test]
    fn option_accepts_null_missing_and_empty() {
        assert_eq!(read(r#"{"a": 1, "b": null}"#).unwrap().b, None);
        assert_eq!(read(r#"{"a": 1}"#).unwrap().b, None);
        assert_eq!(read(r#"{"a": 1, "b": ""}"#).unwrap().b, None);
    }

    #[test]
    fn rejects_non_numbers() {
        for json in [
            r#"{"a": "abc"}"#,
            r#"{"a": ""}"#,
            r#"{"a": null}"#,
            r#"{"a": true}"#,
            r#"{"a": [1]}"#,
            r#"{"a": {"x": 1}}"#,
            r#"{"a": "1.2.3"}"#,
            r#"{"a": "NaN"}"#,
            r#"{"a": 1, "b": "x"}"#,
        ] {
            assert!(read(json).is_err(), "{json} should be rejected");
        }
    }

    #[test]
    fn serializes_as_exact_json_number() {
        let v = Amounts {
            a: dec!(25.50),
            b: None,
        };
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"{"a":25.50,"b":null}"#
        );
        let v = Amounts {
            a: dec!(214356.22712),
            b: Some(dec!(-0.000001)),
        };
        let text = serde_json::to_string(&v).unwrap();
        assert_eq!(text, r#"{"a":214356.22712,"b":-0.000001}"#);
        assert_eq!(read(&text).unwrap(), v);
    }
}
