//! The one error type of the API client, and the mapping from an HTTP answer to it.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::model::ApiResponse;

/// Everything an API call can fail with. Messages never contain the API key.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `{"status":"error","result":{field: message}}`: the request was refused.
    #[error("CryptoCloud rejected the request: {}", join_fields(.fields))]
    Validation { fields: BTreeMap<String, String> },
    /// 401/403, a `{"detail": ...}` body, or `result.authorization`: the API key was refused.
    #[error("CryptoCloud refused the API key: {message}")]
    Unauthorized { message: String },
    /// HTTP 429.
    #[error("CryptoCloud rate limited the request (retry after {retry_after:?})")]
    RateLimited { retry_after: Option<Duration> },
    /// HTTP 5xx.
    #[error("CryptoCloud server error (HTTP {status}): {message}")]
    Server { status: u16, message: String },
    /// Connect failure, timeout or I/O error.
    #[error("cannot reach CryptoCloud: {message}")]
    Transport { message: String, timeout: bool },
    /// The answer could not be understood (bad JSON, unexpected shape or status).
    #[error("cannot decode CryptoCloud response: {message}")]
    Decode { message: String },
    /// The client could not be built (bad base URL, unusable API key characters).
    #[error("invalid CryptoCloud client configuration: {message}")]
    Config { message: String },
}

impl Error {
    /// Worth trying again later: rate limits, server errors, transport failures.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::RateLimited { .. } | Error::Server { .. } | Error::Transport { .. }
        )
    }

    pub(crate) fn validation(field: &str, message: &str) -> Error {
        Error::Validation {
            fields: BTreeMap::from([(field.to_owned(), message.to_owned())]),
        }
    }

    pub(crate) fn from_reqwest(e: reqwest::Error) -> Error {
        // The key travels in a header, never in the URL, so the URL is safe to show.
        let mut message = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            message.push_str(": ");
            message.push_str(&s.to_string());
            source = s.source();
        }
        Error::Transport {
            message,
            timeout: e.is_timeout(),
        }
    }
}

fn join_fields(fields: &BTreeMap<String, String>) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Turns one HTTP answer into the endpoint's `result` or an [`Error`].
///
/// Success needs both a 2xx code and `"status": "success"`; error bodies come
/// as `{"status":"error","result":{...}}` or as `{"detail": ...}`.
pub(crate) fn interpret<T: DeserializeOwned>(
    http_status: u16,
    retry_after: Option<&str>,
    body: &[u8],
) -> Result<T, Error> {
    if http_status == 429 {
        return Err(Error::RateLimited {
            retry_after: retry_after
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs),
        });
    }
    // Parsed loosely only to classify; a success result is decoded from the bytes
    // again so amounts stay exact.
    let json: Option<Value> = serde_json::from_slice(body).ok();
    if http_status >= 500 {
        return Err(Error::Server {
            status: http_status,
            message: json
                .as_ref()
                .and_then(error_message)
                .unwrap_or_else(|| snippet(body)),
        });
    }
    let Some(json) = json else {
        if matches!(http_status, 401 | 403) {
            return Err(Error::Unauthorized {
                message: snippet(body),
            });
        }
        return Err(Error::Decode {
            message: format!("HTTP {http_status}, body is not JSON: {}", snippet(body)),
        });
    };
    let auth_refused = matches!(http_status, 401 | 403);
    match json.get("status").and_then(Value::as_str) {
        Some("success") if (200..300).contains(&http_status) => {
            serde_json::from_slice::<ApiResponse<T>>(body)
                .map(|r| r.result)
                .map_err(|e| Error::Decode {
                    message: format!("unexpected success body: {e}"),
                })
        }
        Some("error") => {
            let fields = result_fields(json.get("result"));
            if auth_refused || fields.contains_key("authorization") {
                let message = fields
                    .get("authorization")
                    .cloned()
                    .unwrap_or_else(|| join_fields(&fields));
                Err(Error::Unauthorized { message })
            } else {
                Err(Error::Validation { fields })
            }
        }
        _ => match json.get("detail") {
            // FastAPI-style validation list: [{"loc": [...], "msg": "..."}].
            Some(Value::Array(items)) if !auth_refused => Err(Error::Validation {
                fields: detail_list_fields(items),
            }),
            Some(detail) if http_status != 404 => Err(Error::Unauthorized {
                message: value_text(detail),
            }),
            _ if auth_refused => Err(Error::Unauthorized {
                message: error_message(&json).unwrap_or_else(|| snippet(body)),
            }),
            _ => Err(Error::Decode {
                message: format!("unexpected answer (HTTP {http_status}): {}", snippet(body)),
            }),
        },
    }
}

fn result_fields(result: Option<&Value>) -> BTreeMap<String, String> {
    match result {
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| (k.clone(), value_text(v)))
            .collect(),
        Some(Value::Null) | None => BTreeMap::from([("result".to_owned(), "error".to_owned())]),
        Some(other) => BTreeMap::from([("result".to_owned(), value_text(other))]),
    }
}

fn detail_list_fields(items: &[Value]) -> BTreeMap<String, String> {
    let mut fields = BTreeMap::new();
    for item in items {
        let field = item
            .get("loc")
            .and_then(Value::as_array)
            .and_then(|loc| loc.last())
            .map(value_text)
            .unwrap_or_else(|| "detail".to_owned());
        let message = item
            .get("msg")
            .map(value_text)
            .unwrap_or_else(|| value_text(item));
        fields.insert(field, message);
    }
    fields
}

fn error_message(json: &Value) -> Option<String> {
    if let Some(d) = json.get("detail") {
        return Some(value_text(d));
    }
    if let Some(m) = json.get("message") {
        return Some(value_text(m));
    }
    match json.get("result") {
        Some(Value::Object(map)) if !map.is_empty() => {
            Some(join_fields(&result_fields(json.get("result"))))
        }
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    }
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(value_text).collect::<Vec<_>>().join("; "),
        other => other.to_string(),
    }
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "(empty body)".to_owned();
    }
    let mut cut: String = text.chars().take(200).collect();
    if cut.len() < text.len() {
        cut.push('…');
    }
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Invoice;

    fn err(status: u16, body: &str) -> Error {
        interpret::<Value>(status, None, body.as_bytes()).unwrap_err()
    }

    #[test]
    fn success_needs_status_and_2xx() {
        let v: Vec<String> =
            interpret(200, None, br#"{"status":"success","result":["ok"]}"#).unwrap();
        assert_eq!(v, vec!["ok"]);
        assert!(matches!(
            err(200, r#"{"result":["ok"]}"#),
            Error::Decode { .. }
        ));
        assert!(matches!(
            err(400, r#"{"status":"success","result":[]}"#),
            Error::Decode { .. }
        ));
    }

    #[test]
    fn validation_shape() {
        match err(
            400,
            r#"{"status":"error","result":{"amount":"too small","shop_id":"unknown"}}"#,
        ) {
            Error::Validation { fields } => {
                assert_eq!(fields["amount"], "too small");
                assert_eq!(fields["shop_id"], "unknown");
            }
            other => panic!("{other:?}"),
        }
        match err(
            400,
            r#"{"status":"error","result":{"validate_error":"Invoice is not created"}}"#,
        ) {
            Error::Validation { fields } => {
                assert_eq!(fields["validate_error"], "Invoice is not created")
            }
            other => panic!("{other:?}"),
        }
        // Non-string messages are kept as text.
        match err(
            400,
            r#"{"status":"error","result":{"amount":["required"]}}"#,
        ) {
            Error::Validation { fields } => assert_eq!(fields["amount"], "required"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn authorization_in_result_is_unauthorized_even_with_400() {
        match err(
            400,
            r#"{"status":"error","result":{"authorization":"Unauthorized request."}}"#,
        ) {
            Error::Unauthorized { message } => assert_eq!(message, "Unauthorized request."),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn detail_shape_is_unauthorized() {
        for status in [200, 400, 401, 403] {
            match err(status, r#"{"detail":"Signature verification failed"}"#) {
                Error::Unauthorized { message } => {
                    assert_eq!(message, "Signature verification failed")
                }
                other => panic!("{status}: {other:?}"),
            }
        }
    }

    #[test]
    fn detail_list_is_validation() {
        match err(
            422,
            r#"{"detail":[{"loc":["body","start"],"msg":"field required","type":"x"}]}"#,
        ) {
            Error::Validation { fields } => assert_eq!(fields["start"], "field required"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn status_codes() {
        assert!(matches!(err(401, "nope"), Error::Unauthorized { .. }));
        assert!(
            matches!(err(403, r#"{"message":"Unauthenticated."}"#), Error::Unauthorized { message } if message == "Unauthenticated.")
        );
        match interpret::<Value>(429, Some("7"), b"").unwrap_err() {
            Error::RateLimited { retry_after } => {
                assert_eq!(retry_after, Some(Duration::from_secs(7)))
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            err(429, ""),
            Error::RateLimited { retry_after: None }
        ));
        match err(502, "<html>bad gateway</html>") {
            Error::Server { status, message } => {
                assert_eq!(status, 502);
                assert!(message.contains("bad gateway"));
            }
            other => panic!("{other:?}"),
        }
        match err(500, r#"{"detail":"boom"}"#) {
            Error::Server {
                status: 500,
                message,
            } => assert_eq!(message, "boom"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            err(404, r#"{"detail":"Not Found"}"#),
            Error::Decode { .. }
        ));
        assert!(matches!(err(200, "not json"), Error::Decode { .. }));
    }

    #[test]
    fn bad_success_body_is_decode() {
        let e = interpret::<Invoice>(
            200,
            None,
            br#"{"status":"success","result":{"uuid":"INV-AB12CD34"}}"#,
        )
        .unwrap_err();
        assert!(matches!(e, Error::Decode { .. }), "{e:?}");
    }

    #[test]
    fn retryable() {
        assert!(Error::RateLimited { retry_after: None }.is_retryable());
        assert!(Error::Server {
            status: 500,
            message: String::new()
        }
        .is_retryable());
        assert!(Error::Transport {
            message: String::new(),
            timeout: true
        }
        .is_retryable());
        assert!(!Error::Decode {
            message: String::new()
        }
        .is_retryable());
        assert!(!Error::Unauthorized {
            message: String::new()
        }
        .is_retryable());
        assert!(!Error::validation("a", "b").is_retryable());
    }
}
