//! `stack listen`: follows the running local stack live, one line per thing that happened,
//! the way `stripe listen` follows an account: each postback the sandbox sent and the
//! ingest's answer, each payment whose status changed, each event the worker wrote and
//! published, and each webhook attempt of the event dispatcher.

use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;

/// One line of the feed.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    pub at: DateTime<Utc>,
    /// `postback`, `payment`, `event` or `webhook`.
    pub kind: &'static str,
    pub what: String,
}

/// Where to look: the sandbox's delivery log and the stack's database.
pub struct Sources {
    pub sandbox: String,
    pub pool: PgPool,
}

/// How far the feed has read.
#[derive(Debug, Default)]
struct Seen {
    postbacks: usize,
    payments_since: Option<DateTime<Utc>>,
    payment_ids_at_since: Vec<i64>,
    event_id: i64,
    published_id: i64,
    attempt_id: i64,
}

/// Follows what happens from now on until `stop` resolves: `ready` once the starting point
/// is read (anything after it is reported), then `emit` with each line.
pub async fn follow(
    sources: &Sources,
    poll: Duration,
    ready: impl FnOnce(),
    mut emit: impl FnMut(&Line),
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let mut seen = start_here(sources, &http).await?;
    ready();
    tokio::pin!(stop);
    let mut tick = tokio::time::interval(poll);
    loop {
        tokio::select! {
            _ = &mut stop => return Ok(()),
            _ = tick.tick() => {
                for line in read_new(sources, &http, &mut seen).await? {
                    emit(&line);
                }
            }
        }
    }
}

/// The feed starts with what happens after it started.
async fn start_here(sources: &Sources, http: &reqwest::Client) -> anyhow::Result<Seen> {
    let postbacks = sandbox_log(http, &sources.sandbox).await?.len();
    let payments_since = payments::history::last_change(&sources.pool)
        .await
        .context("reading the stack's database")?;
    let row = sqlx::query!(
        r#"SELECT
             (SELECT coalesce(max(id), 0) FROM outbox_events) AS "event_id!",
             (SELECT coalesce(max(id), 0) FROM outbox_events WHERE published_at IS NOT NULL) AS "published_id!",
             (SELECT coalesce(max(id), 0) FROM webhook_attempts) AS "attempt_id!""#
    )
    .fetch_one(&sources.pool)
    .await
    .context("reading the stack's database")?;
    Ok(Seen {
        postbacks,
        payments_since,
        payment_ids_at_since: Vec::new(),
        event_id: row.event_id,
        published_id: row.published_id,
        attempt_id: row.attempt_id,
    })
}

async fn sandbox_log(http: &reqwest::Client, sandbox: &str) -> anyhow::Result<Vec<Value>> {
    let log: Value = http
        .get(format!("{sandbox}/sandbox/deliveries"))
        .send()
        .await
        .with_context(|| format!("the sandbox at {sandbox}"))?
        .error_for_status()?
        .json()
        .await?;
    Ok(log.as_array().cloned().unwrap_or_default())
}

async fn read_new(
    sources: &Sources,
    http: &reqwest::Client,
    seen: &mut Seen,
) -> anyhow::Result<Vec<Line>> {
    let mut lines = Vec::new();

    let log = sandbox_log(http, &sources.sandbox).await?;
    for entry in log.iter().skip(seen.postbacks) {
        let at = entry["sent_at"]
            .as_str()
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(Utc::now);
        let answer = match (entry["outcome"].as_str(), entry["status"].as_u64()) {
            (Some("lost"), _) => "lost on the way (not sent)".to_string(),
            (_, Some(status)) => format!("ingest answered {status}"),
            _ => format!("no answer: {}", entry["error"].as_str().unwrap_or("?")),
        };
        lines.push(Line {
            at,
            kind: "postback",
            what: format!(
                "{} postback {} attempt {} ({}, token {}): {answer}",
                entry["invoice_id"].as_str().unwrap_or("?"),
                entry["postback"],
                entry["attempt"],
                entry["format"].as_str().unwrap_or("?"),
                entry["token"].as_str().unwrap_or("?"),
            ),
        });
    }
    seen.postbacks = log.len();

    let since = seen.payments_since.unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
    let payments = payments::history::changed_since(&sources.pool, since, 500).await?;
    let mut at_since = Vec::new();
    for p in payments {
        if p.updated_at == since && seen.payment_ids_at_since.contains(&p.id) {
            continue;
        }
        if seen.payments_since != Some(p.updated_at) {
            at_since.clear();
        }
        seen.payments_since = Some(p.updated_at);
        at_since.push(p.id);
        lines.push(Line {
            at: p.updated_at,
            kind: "payment",
            what: format!(
                "payment {} of user {}: {} ({} {} {}, invoice {})",
                p.id,
                p.user_id.get(),
                p.status,
                p.subscription_tier.as_str(),
                p.amount,
                p.currency,
                p.invoice_id.as_deref().unwrap_or("-"),
            ),
        });
    }
    if !at_since.is_empty() {
        seen.payment_ids_at_since = at_since;
    }

    let events = sqlx::query!(
        r#"SELECT id, event_id, routing_key, created_at, published_at
           FROM outbox_events WHERE id > $1 OR (id > $2 AND published_at IS NOT NULL)
           ORDER BY id LIMIT 500"#,
        seen.event_id,
        seen.published_id,
    )
    .fetch_all(&sources.pool)
    .await?;
    for e in events {
        if e.id > seen.event_id {
            lines.push(Line {
                at: e.created_at,
                kind: "event",
                what: format!("{} written ({})", e.routing_key, e.event_id),
            });
            seen.event_id = e.id;
        }
        if let Some(published) = e.published_at {
            if e.id > seen.published_id {
                lines.push(Line {
                    at: published,
                    kind: "event",
                    what: format!("{} published to RabbitMQ ({})", e.routing_key, e.event_id),
                });
                seen.published_id = e.id;
            }
        }
    }

    let attempts = sqlx::query!(
        r#"SELECT a.id, a.attempted_at, a.response_status, a.error, a.duration_ms, a.trigger,
                  ev.event_type, ev.id AS event_id, e.url
           FROM webhook_attempts a
           JOIN webhook_deliveries d ON d.id = a.delivery_id
           JOIN webhook_events ev ON ev.id = d.event_id
           JOIN webhook_endpoints e ON e.id = d.endpoint_id
           WHERE a.id > $1 ORDER BY a.id LIMIT 500"#,
        seen.attempt_id,
    )
    .fetch_all(&sources.pool)
    .await?;
    for a in attempts {
        let answer = match (a.response_status, a.error) {
            (Some(status), _) => status.to_string(),
            (None, Some(error)) => format!("no answer: {error}"),
            (None, None) => "no answer".to_string(),
        };
        lines.push(Line {
            at: a.attempted_at,
            kind: "webhook",
            what: format!(
                "{} ({}) → {}: {answer} in {} ms ({})",
                a.event_type, a.event_id, a.url, a.duration_ms, a.trigger
            ),
        });
        seen.attempt_id = a.id;
    }

    lines.sort_by_key(|l| l.at);
    Ok(lines)
}
