//! Postbacks: built from an invoice snapshot, signed HS256 with the secret key (claims
//! `id` + `exp` = now + 300 s, a fresh token for every attempt), sent in the background
//! with retries, every attempt logged. The fault options bend each step on purpose.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use cryptocloud::{sign_postback_token, IdClaim, InvoiceId, Postback, PostbackFormat};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::delivery::{DeliveryAttempt, Outcome, TokenMode};
use crate::settings::IdClaimMode;
use crate::store::Store;

/// Lifetime of a valid token, as CryptoCloud mints it.
const TOKEN_LIFETIME_SECS: i64 = 300;
/// An expired token is this far in the past: beyond any sane verifier leeway.
const EXPIRED_BY_SECS: i64 = 3_600;
const MAX_TIMES: u32 = 100;
const MAX_RETRIES: u32 = 20;
const MAX_DELAY_MS: u64 = 600_000;
const MAX_BACKOFF: Duration = Duration::from_secs(30);
const KEPT_RESPONSE_CHARS: usize = 2_000;

/// The format of one postback: the configured one, a named one, or the other one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FormatChoice {
    Json,
    Form,
    Other,
}

/// How the token is written in the body (some senders wrap it, as a Python `bytes` repr or
/// in plain quotes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenWrap {
    #[default]
    Plain,
    /// `"eyJ…"`, quotes included in the value.
    Quotes,
    /// `b'eyJ…'`, a Python `bytes` repr.
    Bytes,
}

/// How the `invoice_info` snapshot is sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InfoShape {
    /// A JSON object (JSON body) or JSON text (form).
    #[default]
    Json,
    /// Not sent.
    Absent,
    /// A Python dict repr (`{'uuid': 'INV-…', 'status': 'paid'}`): not JSON.
    NotJson,
    /// Form only: nested keys `invoice_info[uuid]=…&invoice_info[status]=…` (a JSON body
    /// sends the object as usual).
    Nested,
}

/// Fault options of `POST /sandbox/invoices/{uuid}/pay` and `.../postback`; all optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostbackOptions {
    /// Send the postback this many times (default 1; 2 when `concurrent` is set alone).
    pub times: Option<u32>,
    /// Wait this long before sending.
    pub delay_ms: Option<u64>,
    /// Send the `times` copies at once instead of one after another.
    pub concurrent: Option<bool>,
    pub token: Option<TokenMode>,
    pub format: Option<FormatChoice>,
    /// Do not send at all (a lost postback); logged with outcome `lost`.
    pub lost: Option<bool>,
    /// Retries after a non-2xx answer or a transport error (default: the configured policy).
    pub retries: Option<u32>,
    pub id_claim: Option<IdClaimMode>,
    pub token_wrap: Option<TokenWrap>,
    pub invoice_info: Option<InfoShape>,
    /// Send to this URL instead of the configured one.
    pub url: Option<String>,
}

/// The resolved plan of one dispatch.
#[derive(Debug, Clone)]
pub struct Plan {
    pub times: u32,
    pub delay: Duration,
    pub concurrent: bool,
    pub token: TokenMode,
    pub format: PostbackFormat,
    pub lost: bool,
    pub retries: u32,
    pub id_claim: IdClaimMode,
    pub token_wrap: TokenWrap,
    pub invoice_info: InfoShape,
    pub url: Option<String>,
}

/// The configured delivery policy.
#[derive(Debug, Clone)]
pub struct Policy {
    pub url: Option<String>,
    pub format: PostbackFormat,
    pub retries: u32,
    pub backoff: Duration,
    pub id_claim: IdClaimMode,
}

impl PostbackOptions {
    pub fn plan(&self, policy: &Policy) -> Result<Plan, String> {
        let concurrent = self.concurrent.unwrap_or(false);
        let times = self.times.unwrap_or(if concurrent { 2 } else { 1 });
        if times == 0 || times > MAX_TIMES {
            return Err(format!("times must be between 1 and {MAX_TIMES}"));
        }
        let delay_ms = self.delay_ms.unwrap_or(0);
        if delay_ms > MAX_DELAY_MS {
            return Err(format!("delay_ms must be at most {MAX_DELAY_MS}"));
        }
        let retries = self.retries.unwrap_or(policy.retries);
        if retries > MAX_RETRIES {
            return Err(format!("retries must be at most {MAX_RETRIES}"));
        }
        let url = match &self.url {
            Some(url) if !(url.starts_with("http://") || url.starts_with("https://")) => {
                return Err("url must be an http(s) URL".to_owned())
            }
            Some(url) => Some(url.clone()),
            None => policy.url.clone(),
        };
        let format = match self.format {
            None => policy.format,
            Some(FormatChoice::Json) => PostbackFormat::Json,
            Some(FormatChoice::Form) => PostbackFormat::Form,
            Some(FormatChoice::Other) => match policy.format {
                PostbackFormat::Json => PostbackFormat::Form,
                PostbackFormat::Form => PostbackFormat::Json,
            },
        };
        Ok(Plan {
            times,
            delay: Duration::from_millis(delay_ms),
            concurrent,
            token: self.token.unwrap_or_default(),
            format,
            lost: self.lost.unwrap_or(false),
            retries,
            id_claim: self.id_claim.unwrap_or(policy.id_claim),
            token_wrap: self.token_wrap.unwrap_or_default(),
            invoice_info: self.invoice_info.unwrap_or_default(),
            url,
        })
    }
}

/// A postback ready to go, minus its token.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub invoice: InvoiceId,
    /// The invoice's internal number (the integer `id` claim).
    pub number: i64,
    pub postback: Postback,
}

/// Sends postbacks on the runtime the application was built on.
#[derive(Clone)]
pub struct Dispatcher {
    http: reqwest::Client,
    secret: SecretString,
    policy: Policy,
    store: Arc<Store>,
    runtime: tokio::runtime::Handle,
}

impl Dispatcher {
    pub fn new(
        http: reqwest::Client,
        secret: SecretString,
        policy: Policy,
        store: Arc<Store>,
        runtime: tokio::runtime::Handle,
    ) -> Self {
        Dispatcher {
            http,
            secret,
            policy,
            store,
            runtime,
        }
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Schedules the postbacks of `plan`; returns how many were scheduled. Lost postbacks
    /// without a delay are logged before this returns.
    pub fn dispatch(&self, outgoing: Outgoing, plan: Plan) -> u32 {
        let first = self.store.reserve_postbacks(&outgoing.invoice, plan.times);
        let numbers: Vec<u32> = (first..first + plan.times).collect();
        if plan.lost && plan.delay.is_zero() {
            self.log_lost(&outgoing, &plan, &numbers);
            return plan.times;
        }
        let this = self.clone();
        let times = plan.times;
        self.runtime.spawn(async move {
            tokio::time::sleep(plan.delay).await;
            if plan.lost {
                this.log_lost(&outgoing, &plan, &numbers);
            } else if plan.concurrent {
                let sends = numbers.iter().map(|n| this.send(&outgoing, &plan, *n));
                futures::future::join_all(sends).await;
            } else {
                for n in &numbers {
                    this.send(&outgoing, &plan, *n).await;
                }
            }
        });
        times
    }

    fn log_lost(&self, outgoing: &Outgoing, plan: &Plan, numbers: &[u32]) {
        for n in numbers {
            tracing::info!(invoice = %outgoing.invoice, postback = n, "postback lost on purpose");
            self.store.record_delivery(DeliveryAttempt {
                invoice_id: outgoing.invoice.prefixed(),
                postback: *n,
                attempt: 0,
                url: plan.url.clone(),
                format: plan.format.as_str().to_owned(),
                token: plan.token,
                outcome: Outcome::Lost,
                status: None,
                error: None,
                request_body: None,
                response_body: None,
                sent_at: Utc::now(),
                duration_ms: 0,
            });
        }
    }

    /// One postback with its retries.
    #[tracing::instrument(skip_all, fields(invoice = %outgoing.invoice, postback = number))]
    async fn send(&self, outgoing: &Outgoing, plan: &Plan, number: u32) {
        let mut backoff = self.policy.backoff;
        for attempt in 1..=plan.retries + 1 {
            let delivered = self.attempt(outgoing, plan, number, attempt).await;
            if delivered || attempt > plan.retries {
                return;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// One HTTP attempt, logged; true when the receiver answered 2xx.
    async fn attempt(&self, outgoing: &Outgoing, plan: &Plan, number: u32, attempt: u32) -> bool {
        let mut postback = outgoing.postback.clone();
        postback.token = self.token(outgoing, plan).map(|t| match plan.token_wrap {
            TokenWrap::Plain => t,
            TokenWrap::Quotes => format!("\"{t}\""),
            TokenWrap::Bytes => format!("b'{t}'"),
        });
        let (content_type, body) = shaped_body(&postback, plan.format, plan.invoice_info);
        let body_text = String::from_utf8_lossy(&body).into_owned();
        let sent_at = Utc::now();
        let started = Instant::now();
        let mut entry = DeliveryAttempt {
            invoice_id: outgoing.invoice.prefixed(),
            postback: number,
            attempt,
            url: plan.url.clone(),
            format: plan.format.as_str().to_owned(),
            token: plan.token,
            outcome: Outcome::Error,
            status: None,
            error: None,
            request_body: Some(body_text),
            response_body: None,
            sent_at,
            duration_ms: 0,
        };
        match &plan.url {
            None => {
                entry.error = Some("no postback URL configured (SANDBOX_POSTBACK_URL)".to_owned())
            }
            Some(url) => {
                let result = self
                    .http
                    .post(url)
                    .header(reqwest::header::CONTENT_TYPE, content_type)
                    .body(body)
                    .send()
                    .await;
                match result {
                    Ok(response) => {
                        let status = response.status();
                        entry.status = Some(status.as_u16());
                        entry.outcome = if status.is_success() {
                            Outcome::Delivered
                        } else {
                            Outcome::Rejected
                        };
                        let text = response.text().await.unwrap_or_default();
                        entry.response_body =
                            Some(text.chars().take(KEPT_RESPONSE_CHARS).collect());
                    }
                    Err(e) => entry.error = Some(error_chain(&e)),
                }
            }
        }
        entry.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        tracing::info!(
            attempt,
            outcome = ?entry.outcome,
            status = entry.status,
            format = plan.format.as_str(),
            token = ?plan.token,
            "postback attempt"
        );
        let delivered = entry.outcome == Outcome::Delivered;
        self.store.record_delivery(entry);
        delivered
    }

    fn token(&self, outgoing: &Outgoing, plan: &Plan) -> Option<String> {
        let now = Utc::now();
        let fresh = now + chrono::Duration::seconds(TOKEN_LIFETIME_SECS);
        let id = match plan.id_claim {
            IdClaimMode::String => IdClaim::Str(outgoing.invoice.code().to_owned()),
            IdClaimMode::Int => IdClaim::Int(outgoing.number),
            IdClaimMode::None => IdClaim::None,
        };
        match plan.token {
            TokenMode::Valid => Some(sign_postback_token(&self.secret, id, fresh)),
            TokenMode::Expired => Some(sign_postback_token(
                &self.secret,
                id,
                now - chrono::Duration::seconds(EXPIRED_BY_SECS),
            )),
            TokenMode::BadSignature => {
                let wrong =
                    SecretString::from(format!("{}-not-the-secret", self.secret.expose_secret()));
                Some(sign_postback_token(&wrong, id, fresh))
            }
            TokenMode::Missing => None,
            TokenMode::WrongInvoice => {
                let other = if outgoing.invoice.code() == "ZZZZZZZZ" {
                    "YYYYYYYY"
                } else {
                    "ZZZZZZZZ"
                };
                Some(sign_postback_token(
                    &self.secret,
                    IdClaim::Str(other.to_owned()),
                    fresh,
                ))
            }
            TokenMode::AlgNone => Some(cryptocloud::token::unsigned_token(&serde_json::json!({
                "id": outgoing.invoice.code(),
                "exp": fresh.timestamp(),
            }))),
        }
    }
}

/// The body as CryptoCloud would send it, its `invoice_info` bent to `shape`.
fn shaped_body(
    postback: &Postback,
    format: PostbackFormat,
    shape: InfoShape,
) -> (&'static str, Vec<u8>) {
    let info = postback.invoice_info.as_ref();
    let flat = Postback {
        invoice_info: None,
        ..postback.clone()
    };
    let repr = |i: &cryptocloud::PostbackInvoiceInfo| {
        format!("{{'uuid': '{}', 'status': '{}'}}", i.uuid, i.status)
    };
    match (shape, format, info) {
        (InfoShape::Json, _, _) | (_, _, None) => postback.to_body(format),
        (InfoShape::Absent, _, _) => flat.to_body(format),
        (InfoShape::Nested, PostbackFormat::Json, _) => postback.to_body(format),
        (InfoShape::Nested, PostbackFormat::Form, Some(i)) => {
            let mut body = flat.to_form_body();
            let pairs = [
                ("invoice_info[uuid]", i.uuid.to_string()),
                ("invoice_info[status]", i.status.to_string()),
            ];
            body.push('&');
            body.push_str(&serde_urlencoded::to_string(pairs).unwrap_or_default());
            ("application/x-www-form-urlencoded", body.into_bytes())
        }
        (InfoShape::NotJson, PostbackFormat::Form, Some(i)) => {
            let mut body = flat.to_form_body();
            body.push('&');
            body.push_str(
                &serde_urlencoded::to_string([("invoice_info", repr(i))]).unwrap_or_default(),
            );
            ("application/x-www-form-urlencoded", body.into_bytes())
        }
        (InfoShape::NotJson, PostbackFormat::Json, Some(i)) => {
            let mut value: serde_json::Value =
                serde_json::from_slice(&flat.to_json_body()).unwrap_or_default();
            value["invoice_info"] = serde_json::Value::String(repr(i));
            (
                "application/json",
                serde_json::to_vec(&value).unwrap_or_default(),
            )
        }
    }
}

fn error_chain(e: &reqwest::Error) -> String {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy {
            url: Some("http://127.0.0.1:1/pb".to_owned()),
            format: PostbackFormat::Json,
            retries: 3,
            backoff: Duration::from_millis(10),
            id_claim: IdClaimMode::String,
        }
    }

    #[test]
    fn defaults_come_from_the_policy() {
        let plan = PostbackOptions::default().plan(&policy()).unwrap();
        assert_eq!(plan.times, 1);
        assert!(!plan.concurrent && !plan.lost);
        assert_eq!(plan.retries, 3);
        assert_eq!(plan.format, PostbackFormat::Json);
        assert_eq!(plan.token, TokenMode::Valid);
        assert_eq!(plan.url.as_deref(), Some("http://127.0.0.1:1/pb"));
    }

    #[test]
    fn options_override() {
        let options: PostbackOptions = serde_json::from_str(
            r#"{"concurrent":true,"format":"other","token":"bad_signature","retries":0,"url":"http://x/y"}"#,
        )
        .unwrap();
        let plan = options.plan(&policy()).unwrap();
        assert_eq!(plan.times, 2);
        assert_eq!(plan.format, PostbackFormat::Form);
        assert_eq!(plan.token, TokenMode::BadSignature);
        assert_eq!(plan.retries, 0);
        assert_eq!(plan.url.as_deref(), Some("http://x/y"));
    }

    #[test]
    fn bad_options_are_refused() {
        for json in [
            r#"{"times":0}"#,
            r#"{"times":1000}"#,
            r#"{"retries":99}"#,
            r#"{"url":"ftp://x"}"#,
            r#"{"delay_ms":99999999}"#,
        ] {
            let options: PostbackOptions = serde_json::from_str(json).unwrap();
            assert!(options.plan(&policy()).is_err(), "{json}");
        }
        assert!(serde_json::from_str::<PostbackOptions>(r#"{"tiems":2}"#).is_err());
        assert!(serde_json::from_str::<PostbackOptions>(r#"{"token":"forged"}"#).is_err());
    }
}
