//! Serde helpers for CryptoCloud timestamps: `YYYY-MM-DD HH:MM:SS[.ffffff]`,
//! UTC without a zone suffix. Reading accepts the fraction or not (and, to be
//! forgiving, a `T` separator or an RFC 3339 string); writing always uses
//! microseconds, as CryptoCloud does.
//!
//! Use with `#[serde(with = "cryptocloud::timestamp")]` or
//! `#[serde(default, with = "cryptocloud::timestamp::option")]`.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{de, Deserialize, Deserializer, Serializer};

const WRITE_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.6f";

/// Parses a CryptoCloud timestamp as UTC.
pub fn parse(text: &str) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(t.and_utc());
        }
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            let shown: String = text.chars().take(40).collect();
            format!("{shown:?} is not a timestamp like 2025-03-01 10:15:30.123456")
        })
}

/// Formats as CryptoCloud does: `2025-03-01 10:15:30.123456`.
pub fn format(t: &DateTime<Utc>) -> String {
    t.format(WRITE_FORMAT).to_string()
}

pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&t.format(WRITE_FORMAT))
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    let text = std::borrow::Cow::<'de, str>::deserialize(d)?;
    parse(&text).map_err(de::Error::custom)
}

/// The same for `Option<DateTime<Utc>>`: `null` and `""` read as `None`.
pub mod option {
    use super::*;

    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => super::serialize(t, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        match Option::<std::borrow::Cow<'de, str>>::deserialize(d)? {
            Some(text) if !text.trim().is_empty() => {
                parse(&text).map(Some).map_err(de::Error::custom)
            }
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Timelike};
    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Times {
        #[serde(with = "crate::timestamp")]
        a: DateTime<Utc>,
        #[serde(default, with = "crate::timestamp::option")]
        b: Option<DateTime<Utc>>,
    }

    #[test]
    fn with_microseconds() {
        let t = parse("2025-03-01 10:15:30.123456").unwrap();
        assert_eq!(
            t,
            Utc.with_ymd_and_hms(2025, 3, 1, 10, 15, 30).unwrap()
                + chrono::Duration::microseconds(123_456)
        );
    }

    #[test]
    fn without_fraction() {
        let t = parse("2023-01-02 12:00:00").unwrap();
        assert_eq!(t, Utc.with_ymd_and_hms(2023, 1, 2, 12, 0, 0).unwrap());
        assert_eq!(t.nanosecond(), 0);
    }

    #[test]
    fn forgiving_variants() {
        let expected = Utc.with_ymd_and_hms(2023, 1, 2, 12, 0, 0).unwrap();
        assert_eq!(parse("2023-01-02T12:00:00").unwrap(), expected);
        assert_eq!(parse("2023-01-02T14:00:00+02:00").unwrap(), expected);
    }

    #[test]
    fn rejects_garbage() {
        for s in [
            "",
            "yesterday",
            "2023-13-02 12:00:00",
            "02.01.2023",
            "2023-01-02",
        ] {
            assert!(parse(s).is_err(), "{s:?}");
        }
    }

    #[test]
    fn serde_round_trip_writes_microseconds() {
        let v: Times =
            serde_json::from_str(r#"{"a":"2023-01-02 12:00:00","b":"2025-03-01 10:22:05.000001"}"#)
                .unwrap();
        let text = serde_json::to_string(&v).unwrap();
        assert_eq!(
            text,
            r#"{"a":"2023-01-02 12:00:00.000000","b":"2025-03-01 10:22:05.000001"}"#
        );
        assert_eq!(serde_json::from_str::<Times>(&text).unwrap(), v);
    }

    #[test]
    fn option_null_missing_empty() {
        for json in [
            r#"{"a":"2023-01-02 12:00:00","b":null}"#,
            r#"{"a":"2023-01-02 12:00:00"}"#,
            r#"{"a":"2023-01-02 12:00:00","b":""}"#,
        ] {
            assert_eq!(
                serde_json::from_str::<Times>(json).unwrap().b,
                None,
                "{json}"
            );
        }
        assert!(
            serde_json::from_str::<Times>(r#"{"a":"2023-01-02 12:00:00","b":"soon"}"#).is_err()
        );
    }
}
