//! Serde helpers for request dates in CryptoCloud's `dd.mm.yyyy` form
//! (invoice list and statistics).

use chrono::NaiveDate;
use serde::{de, Deserialize, Deserializer, Serializer};

const FORMAT: &str = "%d.%m.%Y";

/// Formats as `01.03.2025`.
pub fn format(d: &NaiveDate) -> String {
    d.format(FORMAT).to_string()
}

/// Parses `01.03.2025`.
pub fn parse(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text.trim(), FORMAT).map_err(|_| {
        let shown: String = text.chars().take(20).collect();
        format!("{shown:?} is not a date like 01.03.2025")
    })
}

pub fn serialize<S: Serializer>(d: &NaiveDate, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&d.format(FORMAT))
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDate, D::Error> {
    let text = std::borrow::Cow::<'de, str>::deserialize(d)?;
    parse(&text).map_err(de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let d = parse("01.03.2025").unwrap();
        assert_eq!(d, NaiveDate::from_ymd_opt(2025, 3, 1).unwrap());
        assert_eq!(format(&d), "01.03.2025");
        assert!(parse("2025-03-01").is_err());
        assert!(parse("31.02.2025").is_err());
    }
}
