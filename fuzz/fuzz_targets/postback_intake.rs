//! Fuzzes webhook-ingest's intake: postback body parser (JSON or form, sniffed), token
//! verifier and field validation. It must answer every input without panicking.
//!
//! The first byte picks the Content-Type header; the rest is the body. The seeds in
//! `fuzz/seeds/postback_intake` carry tokens signed with `fuzz-key` that expire in 2100,
//! so mutations of their other fields reach validation past the signature check.
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;
use webhook_ingest::Intaker;

const CONTENT_TYPES: [Option<&str>; 6] = [
    None,
    Some("application/json"),
    Some("application/x-www-form-urlencoded"),
    Some("application/json; charset=utf-8"),
    Some("text/plain"),
    Some("multipart/form-data; boundary=x"),
];

fn intaker() -> &'static Intaker {
    static INTAKER: OnceLock<Intaker> = OnceLock::new();
    INTAKER.get_or_init(|| {
        Intaker::new(
            SecretString::from("fuzz-key"),
            Some(SecretString::from("fuzz-previous-key")),
            Duration::from_secs(60),
        )
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let content_type = CONTENT_TYPES[selector as usize % CONTENT_TYPES.len()];
    if let Ok(intake) = intaker().accept(content_type, body, chrono::Utc::now()) {
        // What is accepted is well-formed enough to publish.
        let event = intake.postback.to_event();
        assert!(event.message_id.starts_with("cc-") && event.message_id.len() == 35);
        assert!(!event.invoice_id.is_empty() && !event.crypto_currency.is_empty());
    }
});
