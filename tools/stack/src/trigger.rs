//! `stack trigger <scenario>`: drives the running local stack through the sandbox, the
//! way `stripe trigger` drives a Stripe account, and reports what each service did: the
//! checkout's answer, the sandbox's payment, the ingest's answers to the postbacks, the
//! payment's status after the worker, the plan, and the merchant webhooks the dispatcher
//! delivered. Each scenario states what the contract expects; the command fails when the
//! stack did something else.

use std::time::Duration;

use anyhow::Context;
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{json, Value};

use crate::client::StackClient;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// Paid in full: completed once, the plan upgraded.
    Paid,
    /// Half paid, then a postback: the payment records `partial`, the plan waits.
    Partial,
    /// Paid half as much again: completed (the excess is kept), the plan upgraded.
    Overpaid,
    /// The time to pay runs out, then a postback: nothing is applied.
    Expired,
    /// Paid once, the postback sent twice: applied once.
    Duplicate,
    /// A postback signed with another key: refused with 401, nothing applied.
    BadToken,
    /// Paid, but the postback never arrives: the worker's reconciliation finds it later.
    Lost,
}

impl Scenario {
    /// What the sandbox is asked to do, as the body of its pay call (`None`: expire).
    fn payment(self, amount: Decimal) -> Option<Value> {
        Some(match self {
            Self::Paid => json!({}),
            Self::Partial => json!({"amount": (amount / Decimal::TWO).round_dp(2).to_string()}),
            Self::Overpaid => {
                json!({"amount": (amount * Decimal::new(15, 1)).round_dp(2).to_string()})
            }
            Self::Expired => return None,
            Self::Duplicate => json!({"times": 2}),
            Self::BadToken => json!({"token": "bad_signature", "retries": 0}),
            Self::Lost => json!({"lost": true}),
        })
    }

    /// CryptoCloud sends postbacks only for a settled invoice: for these the scenario
    /// forges one, so the worker's handling of the status shows.
    fn forges_postback(self) -> bool {
        matches!(self, Self::Partial | Self::Expired)
    }

    /// The payment's status once the stack has done its part.
    fn expected_status(self) -> &'static str {
        match self {
            Self::Paid | Self::Overpaid | Self::Duplicate => "completed",
            Self::Partial => "partial",
            Self::Expired | Self::BadToken | Self::Lost => "pending",
        }
    }

    /// The ingest's answer to every postback sent (none sent: empty).
    fn expected_answers(self) -> &'static [u16] {
        match self {
            Self::Paid | Self::Overpaid | Self::Partial | Self::Expired => &[200],
            Self::Duplicate => &[200, 200],
            Self::BadToken => &[401],
            Self::Lost => &[],
        }
    }

    fn upgrades(self) -> bool {
        self.expected_status() == "completed"
    }

    /// The merchant webhooks of this payment.
    fn expected_events(self) -> &'static [&'static str] {
        match self {
            Self::Paid | Self::Overpaid | Self::Duplicate => {
                &["payment.completed", "subscription.upgraded"]
            }
            Self::Partial => &["payment.partial"],
            Self::Expired | Self::BadToken | Self::Lost => &[],
        }
    }

    fn note(self) -> Option<&'static str> {
        match self {
            Self::Lost => Some(
                "the worker's reconciliation looks the invoice up once it is WORKER_RECONCILE_AFTER_SECS old (600 s by default) and completes it then",
            ),
            Self::Expired => Some(
                "an expired invoice changes nothing; the worker's reconciliation marks the payment when it looks it up",
            ),
            Self::BadToken => Some("nothing was published: the worker never saw it"),
            _ => None,
        }
    }
}

/// Where the running stack answers.
#[derive(Debug, Clone)]
pub struct Target {
    pub checkout: String,
    pub sandbox: String,
    pub dispatcher: String,
    pub admin_token: String,
}

/// One thing a service did, as printed.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub service: &'static str,
    pub what: String,
}

/// The whole run, for `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: Scenario,
    pub user_id: i64,
    pub payment_id: i64,
    pub invoice_id: String,
    pub payment_status: String,
    pub tier_before: String,
    pub tier_after: String,
    /// The ingest's HTTP answer to each postback, in order.
    pub postback_answers: Vec<u16>,
    /// `(event type, delivery status)` of each merchant webhook of this payment.
    pub webhooks: Vec<(String, String)>,
    pub steps: Vec<Step>,
    /// Where the stack differed from what the contract expects (empty: as expected).
    pub unexpected: Vec<String>,
}

/// Runs `scenario` for `user_id`, calling `progress` with each step as it happens.
pub async fn run(
    target: &Target,
    scenario: Scenario,
    user_id: i64,
    wait: Duration,
    mut progress: impl FnMut(&Step),
) -> anyhow::Result<Report> {
    let client = StackClient::new(&target.checkout, &target.sandbox)?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()?;
    let mut steps = Vec::new();
    let mut step = |service: &'static str, what: String| {
        let s = Step { service, what };
        progress(&s);
        steps.push(s);
    };
    let started = chrono::Utc::now();

    let before = client.subscription(user_id).await?;
    let tier_before = before["tier"].as_str().unwrap_or("?").to_string();
    let created = client.checkout(user_id, "pro", 1).await?;
    let payment_id = created["payment_id"]
        .as_i64()
        .context("checkout: payment_id")?;
    let invoice = created["invoice_id"]
        .as_str()
        .context("checkout: invoice_id")?
        .to_string();
    let amount: Decimal = created["amount"]
        .as_str()
        .context("checkout: amount")?
        .parse()
        .context("checkout: amount is a decimal")?;
    step(
        "checkout",
        format!(
            "POST /api/v1/checkout → 201: payment {payment_id}, invoice {invoice}, {amount} {}, status {}",
            created["currency"].as_str().unwrap_or("?"),
            created["status"].as_str().unwrap_or("?"),
        ),
    );

    match scenario.payment(amount) {
        Some(body) => {
            let paid = client.pay(&invoice, body.clone()).await?;
            step(
                "sandbox",
                format!(
                    "paid {invoice} ({}): invoice {}, {} postback(s) scheduled",
                    describe_payment(&body),
                    paid["status"].as_str().unwrap_or("?"),
                    paid["postbacks"].as_u64().unwrap_or(0),
                ),
            );
        }
        None => {
            let res = http
                .post(format!(
                    "{}/sandbox/invoices/{invoice}/expire",
                    target.sandbox
                ))
                .send()
                .await?;
            anyhow::ensure!(
                res.status().is_success(),
                "sandbox expire: {}",
                res.status()
            );
            step("sandbox", format!("{invoice}: time to pay ran out"));
        }
    }
    if scenario.forges_postback() {
        let res = http
            .post(format!(
                "{}/sandbox/invoices/{invoice}/postback",
                target.sandbox
            ))
            .json(&json!({}))
            .send()
            .await?;
        anyhow::ensure!(
            res.status().is_success(),
            "sandbox postback: {}",
            res.status()
        );
        step(
            "sandbox",
            "a postback sent for the invoice as it stands (CryptoCloud itself sends them only for paid invoices)".into(),
        );
    }

    // The ingest's answers, as the sandbox logged them.
    let expected_answers = scenario.expected_answers();
    let log = wait_for(wait, || async {
        let log = client.deliveries(&invoice).await?;
        let entries = log.as_array().cloned().unwrap_or_default();
        let settled = entries.iter().filter(|e| e["outcome"] != "lost").count();
        let lost = entries.iter().any(|e| e["outcome"] == "lost");
        Ok(
            (settled >= expected_answers.len() && (scenario != Scenario::Lost || lost))
                .then_some(entries),
        )
    })
    .await?
    .unwrap_or_default();
    let mut postback_answers = Vec::new();
    for entry in &log {
        if entry["outcome"] == "lost" {
            step("sandbox", "postback not sent (lost on the way)".into());
            continue;
        }
        let status = entry["status"].as_u64().map(|s| s as u16);
        step(
            "ingest",
            format!(
                "postback {} ({}, token {}) → {}",
                entry["postback"],
                entry["format"].as_str().unwrap_or("?"),
                entry["token"].as_str().unwrap_or("?"),
                status.map_or_else(
                    || format!("no answer: {}", entry["error"].as_str().unwrap_or("?")),
                    |s| s.to_string()
                ),
            ),
        );
        postback_answers.extend(status);
    }

    // The worker: the payment settles on the expected status, or stays as it is.
    let expected_status = scenario.expected_status();
    let settle_wait = if expected_status == "pending" {
        Duration::from_secs(2).min(wait)
    } else {
        wait
    };
    let payment = wait_for(settle_wait, || async {
        let payment = client.payment(user_id, payment_id).await?;
        Ok(
            (payment["status"] == expected_status && expected_status != "pending")
                .then_some(payment),
        )
    })
    .await?;
    let payment = match payment {
        Some(p) => p,
        None => client.payment(user_id, payment_id).await?,
    };
    let payment_status = payment["status"].as_str().unwrap_or("?").to_string();
    step("worker", format!("payment {payment_id}: {payment_status}"));

    let after = if scenario.upgrades() {
        client
            .wait_for_subscription(user_id, wait, |s| s["tier"] == "pro")
            .await
            .unwrap_or(Value::Null)
    } else {
        client.subscription(user_id).await?
    };
    let tier_after = after["tier"].as_str().unwrap_or("?").to_string();
    step(
        "checkout",
        format!(
            "subscription of user {user_id}: {tier_before} → {tier_after}{}",
            after["expires_at"]
                .as_str()
                .map(|e| format!(" until {e}"))
                .unwrap_or_default()
        ),
    );

    // The dispatcher: this payment's webhooks, once none is pending.
    let expected_events = scenario.expected_events();
    let webhooks = wait_for(wait, || async {
        let got = webhooks_of(&http, target, payment_id, started).await?;
        let done = expected_events.iter().all(|t| {
            got.iter()
                .any(|(ty, status, _)| ty == t && status != "pending")
        });
        Ok(done.then_some(got))
    })
    .await?;
    let webhooks = match webhooks {
        Some(w) => w,
        None => webhooks_of(&http, target, payment_id, started).await?,
    };
    for (event_type, status, url) in &webhooks {
        step("dispatcher", format!("{event_type} → {url}: {status}"));
    }
    if webhooks.is_empty() {
        step("dispatcher", "no webhook for this payment".into());
    }
    if let Some(note) = scenario.note() {
        step("note", note.into());
    }

    let mut unexpected = Vec::new();
    if payment_status != expected_status {
        unexpected.push(format!(
            "payment {payment_status}, expected {expected_status}"
        ));
    }
    if postback_answers != expected_answers {
        unexpected.push(format!(
            "the ingest answered {postback_answers:?}, expected {expected_answers:?}"
        ));
    }
    let upgraded = tier_after == "pro";
    if scenario.upgrades() && !upgraded {
        unexpected.push(format!("the plan is {tier_after}, expected pro"));
    }
    if !scenario.upgrades() && tier_after != tier_before {
        unexpected.push(format!("the plan changed: {tier_before} → {tier_after}"));
    }
    for wanted in expected_events {
        let delivered = webhooks
            .iter()
            .filter(|(t, s, _)| t == wanted && s == "delivered")
            .count();
        if delivered == 0 {
            unexpected.push(format!("no {wanted} webhook delivered"));
        }
    }
    for (t, _, _) in &webhooks {
        if !expected_events.contains(&t.as_str()) {
            unexpected.push(format!("an unexpected {t} webhook"));
        }
    }
    Ok(Report {
        scenario,
        user_id,
        payment_id,
        invoice_id: invoice,
        payment_status,
        tier_before,
        tier_after,
        postback_answers,
        webhooks: webhooks.into_iter().map(|(t, s, _)| (t, s)).collect(),
        steps,
        unexpected,
    })
}

fn describe_payment(body: &Value) -> String {
    let mut parts = Vec::new();
    match body["amount"].as_str() {
        Some(a) => parts.push(format!("{a} paid")),
        None => parts.push("in full".into()),
    }
    if let Some(times) = body["times"].as_u64() {
        parts.push(format!("postback sent {times} times"));
    }
    if let Some(token) = body["token"].as_str() {
        parts.push(format!("token {token}"));
    }
    if body["lost"] == true {
        parts.push("postback lost".into());
    }
    parts.join(", ")
}

/// `(event type, delivery status, endpoint url)` of every delivery made since `since` for
/// an event of this payment (event ids end with the payment id).
async fn webhooks_of(
    http: &reqwest::Client,
    target: &Target,
    payment_id: i64,
    since: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Vec<(String, String, String)>> {
    let admin = |path: String| {
        http.get(format!("{}/api/v1/admin{path}", target.dispatcher))
            .bearer_auth(&target.admin_token)
    };
    let endpoints: Value = admin("/webhook-endpoints".into())
        .send()
        .await
        .context("the event dispatcher's admin API")?
        .error_for_status()?
        .json()
        .await?;
    let suffix = format!("-{payment_id}");
    let mut found = Vec::new();
    for endpoint in endpoints["data"].as_array().into_iter().flatten() {
        let id = endpoint["id"].as_str().unwrap_or_default();
        let log: Value = admin(format!("/webhook-endpoints/{id}/deliveries"))
            .query(&[("since", since.to_rfc3339())])
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        for delivery in log["data"].as_array().into_iter().flatten() {
            if delivery["event_id"]
                .as_str()
                .is_some_and(|e| e.ends_with(&suffix))
            {
                found.push((
                    delivery["event_type"].as_str().unwrap_or("?").to_string(),
                    delivery["status"].as_str().unwrap_or("?").to_string(),
                    endpoint["url"].as_str().unwrap_or("?").to_string(),
                ));
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Polls `check` every 100 ms until it gives a value or `within` has passed (then `None`).
async fn wait_for<T, F, Fut>(within: Duration, mut check: F) -> anyhow::Result<Option<T>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(v) = check().await? {
            return Ok(Some(v));
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
