//! Reading request bodies field by field, so every problem is reported against its field
//! (`{"status":"error","result":{"amount": "..."}}`) as CryptoCloud does.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use super::error::ApiError;

pub const REQUIRED: &str = "This field is required.";

/// A JSON object body; `null` members count as absent.
pub struct JsonObject(BTreeMap<String, Box<RawValue>>);

impl JsonObject {
    /// An empty body is an empty object (balance takes none); anything else must be an object.
    pub fn parse(bytes: &[u8]) -> Result<JsonObject, ApiError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(JsonObject(BTreeMap::new()));
        }
        let map: BTreeMap<String, Box<RawValue>> = serde_json::from_slice(bytes)
            .map_err(|e| ApiError::Unprocessable(format!("expected a JSON object: {e}")))?;
        Ok(JsonObject(
            map.into_iter()
                .filter(|(_, v)| v.get().trim() != "null")
                .collect(),
        ))
    }

    fn raw(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|v| v.get())
    }

    /// A string member; a number is taken as written (order ids are often numeric).
    pub fn string(&self, key: &str) -> Result<Option<String>, String> {
        let Some(raw) = self.raw(key) else {
            return Ok(None);
        };
        let text = if raw.starts_with('"') {
            serde_json::from_str::<String>(raw).map_err(|_| "Must be a string.".to_owned())?
        } else if serde_json::from_str::<serde_json::Number>(raw).is_ok() {
            raw.to_owned()
        } else {
            return Err("Must be a string.".to_owned());
        };
        let text = text.trim().to_owned();
        Ok((!text.is_empty()).then_some(text))
    }

    pub fn required_string(&self, key: &str) -> Result<String, String> {
        self.string(key)?.ok_or_else(|| REQUIRED.to_owned())
    }

    /// A number or numeric string, exactly.
    pub fn decimal(&self, key: &str) -> Result<Option<Decimal>, String> {
        match self.raw(key) {
            None => Ok(None),
            Some(raw) => cryptocloud::decimal::parse_json_token(raw)
                .map_err(|_| "A valid number is required.".to_owned()),
        }
    }

    /// Any member that deserialises into `T`.
    pub fn value<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, String> {
        match self.raw(key) {
            None => Ok(None),
            Some(raw) => serde_json::from_str(raw)
                .map(Some)
                .map_err(|e| e.to_string()),
        }
    }
}

/// Collects field errors so one answer names every bad field.
#[derive(Default)]
pub struct Errors(BTreeMap<String, String>);

impl Errors {
    /// The value, or `None` with the error noted against `field`.
    pub fn take<T>(&mut self, field: &str, result: Result<T, String>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(message) => {
                self.add(field, message);
                None
            }
        }
    }

    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0
            .entry(field.to_owned())
            .or_insert_with(|| message.into());
    }

    pub fn into_result(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.0))
        }
    }
}

/// A `dd.mm.yyyy` date member.
pub fn date(body: &JsonObject, key: &str) -> Result<chrono::NaiveDate, String> {
    let text = body.required_string(key)?;
    cryptocloud::date::parse(&text).map_err(|_| "Invalid date format, use dd.mm.yyyy.".to_owned())
}
