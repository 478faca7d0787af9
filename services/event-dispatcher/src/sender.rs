//! One HTTP attempt of a delivery: the body signed by the Standard Webhooks scheme (the
//! reference crate `standardwebhooks`), POSTed with a timeout, no redirect followed, no
//! proxy, through the SSRF guard's resolver, reading at most [`MAX_RESPONSE_BYTES`] of
//! the answer. Never logs the secret or the signed body.

use std::time::{Duration, Instant};

use chrono::Utc;
use events::webhook::{HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP};
use reqwest::header::{CONTENT_TYPE, USER_AGENT};
use standardwebhooks::Webhook;

use crate::deliveries::{AttemptResult, Due};
use crate::destination;

/// The most of an answer's body read (then the connection is dropped): an endpoint
/// answering with megabytes costs nothing but this.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;

#[derive(Clone)]
pub struct Sender {
    client: reqwest::Client,
    allow_private: bool,
}

impl Sender {
    pub fn new(timeout: Duration, allow_private: bool) -> anyhow::Result<Self> {
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            // A redirect is an answer, not a delivery: following it could lead anywhere.
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would resolve names where the guard cannot see them.
            .no_proxy()
            .pool_idle_timeout(Duration::from_secs(30));
        if let Some(resolver) = destination::resolver(allow_private) {
            builder = builder.dns_resolver(resolver);
        }
        Ok(Self {
            client: builder.build()?,
            allow_private,
        })
    }

    /// Attempts `due` once.
    #[tracing::instrument(skip_all, fields(delivery_id = %due.delivery_id, event_id = %due.event_id))]
    pub async fn attempt(&self, due: &Due) -> AttemptResult {
        let attempted_at = Utc::now();
        let started = Instant::now();
        let (response_status, error) = match self.send(due, attempted_at.timestamp()).await {
            Ok(status) if (200..300).contains(&status) => (Some(status), None),
            Ok(status) if (300..400).contains(&status) => {
                (Some(status), Some("redirect not followed".to_string()))
            }
            Ok(status) => (Some(status), None),
            Err(e) => (None, Some(e)),
        };
        AttemptResult {
            attempted_at,
            duration: started.elapsed(),
            response_status,
            error,
        }
    }

    /// The answer's status, or why there was none.
    async fn send(&self, due: &Due, timestamp: i64) -> Result<u16, String> {
        let url = destination::parse_url(&due.url).map_err(|e| e.to_string())?;
        // A literal address never reaches the resolver: check it here.
        if let Some(ip) = destination::literal_address(&url) {
            if !self.allow_private && destination::is_refused(ip) {
                return Err(destination::BadDestination::Refused(ip).to_string());
            }
        }
        let signature = Webhook::new(&due.secret)
            .and_then(|w| w.sign(&due.event_id, timestamp, due.body.as_bytes()))
            .map_err(|e| format!("cannot sign: {e}"))?;
        let mut response = self
            .client
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .header(
                USER_AGENT,
                concat!("event-dispatcher/", env!("CARGO_PKG_VERSION")),
            )
            .header(HEADER_ID, &due.event_id)
            .header(HEADER_TIMESTAMP, timestamp.to_string())
            .header(HEADER_SIGNATURE, signature)
            .body(due.body.clone())
            .send()
            .await
            .map_err(describe)?;
        let status = response.status().as_u16();
        // Read a bounded part of the answer so the connection can be reused; stop there.
        let mut read = 0usize;
        while read < MAX_RESPONSE_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => read += chunk.len(),
                Ok(None) | Err(_) => break,
            }
        }
        Ok(status)
    }
}

/// A short reason for the log: the kind of failure and the innermost cause, never the URL
/// (it may carry credentials).
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else if e.is_request() {
        "request"
    } else {
        "error"
    };
    let mut cause: &dyn std::error::Error = &e;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    let detail: String = cause.to_string().chars().take(300).collect();
    format!("{kind}: {detail}")
}
