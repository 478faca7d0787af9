//! A small HTTP client for the running stack: what a frontend and a paying user do.

use std::time::Duration;

use anyhow::Context;
use serde_json::{json, Value};

use crate::dev_credentials as dev;

#[derive(Clone)]
pub struct StackClient {
    http: reqwest::Client,
    checkout: String,
    sandbox: String,
}

/// A user token as checkout expects it (HS256, `sub` = user id, `exp`), signed with the
/// development key the stack configures.
pub fn user_token(user_id: i64) -> String {
    let claims = json!({"sub": user_id.to_string(), "exp": (chrono::Utc::now() + chrono::Duration::hours(1)).timestamp()});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(dev::AUTH_JWT_SECRET.as_bytes())
            .expect("a non-empty secret"),
    )
    .expect("HS256 signing does not fail")
}

impl StackClient {
    pub fn new(checkout_url: &str, sandbox_url: &str) -> anyhow::Result<Self> {
        Ok(Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(15))
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
            checkout: checkout_url.trim_end_matches('/').to_string(),
            sandbox: sandbox_url.trim_end_matches('/').to_string(),
        })
    }

    pub async fn subscription(&self, user_id: i64) -> anyhow::Result<Value> {
        let res = self
            .http
            .get(format!("{}/api/v1/subscription", self.checkout))
            .bearer_auth(user_token(user_id))
            .send()
            .await?;
        json_ok(res, "GET /api/v1/subscription").await
    }

    /// `POST /api/v1/subscription/cancel` or `/resume` (`what`): the subscription after it.
    pub async fn change_subscription(&self, user_id: i64, what: &str) -> anyhow::Result<Value> {
        let res = self
            .http
            .post(format!("{}/api/v1/subscription/{what}", self.checkout))
            .bearer_auth(user_token(user_id))
            .send()
            .await?;
        json_ok(res, "POST /api/v1/subscription/{cancel,resume}").await
    }

    /// `POST /api/v1/checkout`: returns `{payment_id, invoice_id, payment_url, amount, currency, status}`.
    pub async fn checkout(&self, user_id: i64, tier: &str, months: u32) -> anyhow::Result<Value> {
        let res = self
            .http
            .post(format!("{}/api/v1/checkout", self.checkout))
            .bearer_auth(user_token(user_id))
            .json(&json!({"tier": tier, "months": months}))
            .send()
            .await?;
        json_ok(res, "POST /api/v1/checkout").await
    }

    pub async fn payment(&self, user_id: i64, payment_id: i64) -> anyhow::Result<Value> {
        let res = self
            .http
            .get(format!("{}/api/v1/payments/{payment_id}", self.checkout))
            .bearer_auth(user_token(user_id))
            .send()
            .await?;
        json_ok(res, "GET /api/v1/payments/{id}").await
    }

    /// Pays an invoice at the sandbox (`options` are the control API's fault-injection fields).
    pub async fn pay(&self, invoice_id: &str, options: Value) -> anyhow::Result<Value> {
        let res = self
            .http
            .post(format!(
                "{}/sandbox/invoices/{invoice_id}/pay",
                self.sandbox
            ))
            .json(&options)
            .send()
            .await?;
        json_ok(res, "POST /sandbox/invoices/{uuid}/pay").await
    }

    pub async fn deliveries(&self, invoice_id: &str) -> anyhow::Result<Value> {
        let res = self
            .http
            .get(format!(
                "{}/sandbox/invoices/{invoice_id}/deliveries",
                self.sandbox
            ))
            .send()
            .await?;
        json_ok(res, "GET /sandbox/invoices/{uuid}/deliveries").await
    }

    /// Polls the user's subscription until `done` holds, at most `timeout`.
    pub async fn wait_for_subscription(
        &self,
        user_id: i64,
        timeout: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let sub = self.subscription(user_id).await?;
            if done(&sub) {
                return Ok(sub);
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "subscription of user {user_id} did not reach the expected state in {timeout:?}: {sub}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn json_ok(res: reqwest::Response, what: &str) -> anyhow::Result<Value> {
    let status = res.status();
    let body = res
        .text()
        .await
        .with_context(|| format!("{what}: reading the body"))?;
    anyhow::ensure!(status.is_success(), "{what} answered {status}: {body}");
    serde_json::from_str(&body).with_context(|| format!("{what}: not JSON: {body}"))
}
