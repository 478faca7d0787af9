//! Periodic work: plans past their expiry return to `free`, and `pending` payments whose
//! postback never came are looked up at CryptoCloud and settled through the apply path.
//! Safe with several workers: expiry takes rows with SKIP LOCKED, reconciliation runs under
//! a database advisory lock (one reconciler at a time).

use std::time::Duration;

use cryptocloud::{InvoiceId, InvoiceStatus, MAX_INFO_IDS};
use payments::{closing, creation, plan, reconcile as open_payments, PaymentStatus};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::apply::{apply, ApplyInput};
use crate::context::Context;
use crate::counters;
use crate::lookup::{self, Verdict};
use crate::outcome::Outcome;
use crate::plans::Plans;

/// Advisory lock key of reconciliation ("subscription-worker reconcile").
const RECONCILE_LOCK: i64 = 0x5357_5243_4f4e_4331;
const EXPIRY_BATCH: i64 = 1000;
/// Inbox rows older than this are deleted. A message redelivered later still cannot extend
/// twice: its payment is already `completed`.
const INBOX_RETENTION_DAYS: i32 = 90;
/// Sent outbox events older than this are deleted.
const OUTBOX_RETENTION_DAYS: i32 = 7;

/// A payment still `creating` after this long lost its checkout (a crash between
/// CryptoCloud's answer and checkout's own commit): the caller never got a payment URL.
const ABANDONED_AFTER_MINUTES: i32 = 30;

/// Runs both sweeps every `interval` (the first right away) until `shutdown`.
pub async fn run(
    ctx: Context,
    interval: Duration,
    reconcile_after: Duration,
    shutdown: CancellationToken,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.cancelled() => break,
        }
        if let Err(e) = expire_subscriptions(&ctx.pool, &ctx.plans, ctx.grace_days).await {
            tracing::warn!(error = %e, "expiry sweep failed");
        }
        if let Some(policy) = &ctx.renewals {
            if let Err(e) = crate::renewals::run_once(&ctx, policy).await {
                tracing::warn!(error = %e, "renewal sweep failed; next sweep tries again");
            }
        }
        match reconcile(&ctx, reconcile_after).await {
            Ok(report) if report.checked > 0 => tracing::info!(?report, "reconciliation done"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "reconciliation failed; next sweep tries again"),
        }
        if let Err(e) = record_pending_ages(&ctx.pool).await {
            tracing::warn!(error = %e, "cannot count pending payments");
        }
        if let Err(e) = prune(&ctx.pool).await {
            tracing::warn!(error = %e, "cannot prune the inbox and outbox");
        }
        match fail_abandoned(&ctx.pool).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(payments = n, "abandoned checkouts marked failed"),
            Err(e) => tracing::warn!(error = %e, "cannot sweep abandoned checkouts"),
        }
    }
}

/// Marks checkouts stuck in `creating` as `failed` (see `payments::creation::fail_abandoned`).
pub async fn fail_abandoned(pool: &PgPool) -> Result<u64, sqlx::Error> {
    creation::fail_abandoned(pool, ABANDONED_AFTER_MINUTES).await
}

/// Announces the grace periods that started, then returns plans past `subscription_expires`
/// (and their grace) to `free` with the free limit; the number of users downgraded.
#[tracing::instrument(skip_all)]
pub async fn expire_subscriptions(
    pool: &PgPool,
    plans: &Plans,
    grace_days: i32,
) -> Result<u64, sqlx::Error> {
    let mut graced = 0;
    loop {
        let done = plan::start_grace_batch(pool, EXPIRY_BATCH, grace_days).await?;
        graced += done;
        if done < EXPIRY_BATCH as u64 {
            break;
        }
    }
    if graced > 0 {
        tracing::info!(users = graced, "plans expired into their grace period");
    }
    let mut total = 0;
    loop {
        let done =
            plan::expire_batch(pool, plans.free_requests_limit(), EXPIRY_BATCH, grace_days).await?;
        total += done;
        if done < EXPIRY_BATCH as u64 {
            break;
        }
    }
    if total > 0 {
        tracing::info!(users = total, "expired plans returned to free");
        metrics::counter!(counters::EXPIRED).increment(total);
    }
    Ok(total)
}

/// What one reconciliation pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReconcileReport {
    /// Another worker was reconciling; this one did nothing.
    pub skipped: bool,
    pub checked: usize,
    pub completed: usize,
    pub partial: usize,
    pub canceled: usize,
    pub expired: usize,
    pub unchanged: usize,
    /// Applying failed (retried on the next pass) or was refused (mismatch, unknown tier).
    pub failed: usize,
}

/// Looks up `pending` payments older than `older_than` at CryptoCloud (up to 100 ids per
/// call) and settles them.
#[tracing::instrument(skip(ctx))]
pub async fn reconcile(ctx: &Context, older_than: Duration) -> anyhow::Result<ReconcileReport> {
    let mut lock = ctx.pool.acquire().await?;
    let locked = sqlx::query_scalar!(
        r#"SELECT pg_try_advisory_lock($1) AS "locked!""#,
        RECONCILE_LOCK
    )
    .fetch_one(&mut *lock)
    .await?;
    if !locked {
        return Ok(ReconcileReport {
            skipped: true,
            ..Default::default()
        });
    }
    let result = reconcile_locked(ctx, older_than).await;
    let _ = sqlx::query_scalar!(
        r#"SELECT pg_advisory_unlock($1) AS "unlocked!""#,
        RECONCILE_LOCK
    )
    .fetch_one(&mut *lock)
    .await;
    result
}

async fn reconcile_locked(ctx: &Context, older_than: Duration) -> anyhow::Result<ReconcileReport> {
    let mut report = ReconcileReport::default();
    let mut after_id = 0_i64;
    loop {
        let rows =
            open_payments::open_older_than(&ctx.pool, older_than, after_id, MAX_INFO_IDS as i64)
                .await?;
        let Some(last) = rows.last() else { break };
        after_id = last.id;
        let ids: Vec<InvoiceId> = rows
            .iter()
            .filter_map(|row| match InvoiceId::parse(&row.invoice_id) {
                Ok(id) => Some(id),
                Err(e) => {
                    tracing::warn!(payment_id = row.id, error = %e, "pending payment with a bad invoice id");
                    None
                }
            })
            .collect();
        report.checked += ids.len();
        let invoices = lookup::invoices(&ctx.cryptocloud, &ids).await?;
        report.unchanged += ids.len().saturating_sub(invoices.len());
        for invoice in &invoices {
            reconcile_one(ctx, invoice, &mut report).await;
        }
        if rows.len() < MAX_INFO_IDS {
            break;
        }
    }
    Ok(report)
}

async fn reconcile_one(
    ctx: &Context,
    invoice: &cryptocloud::Invoice,
    report: &mut ReconcileReport,
) {
    let verdict = ctx.verdict(invoice);
    let result = match verdict {
        Verdict::TestRefused => {
            crate::pipeline::refuse_test_invoice(invoice);
            report.unchanged += 1;
            "test_refused"
        }
        Verdict::Complete | Verdict::Partial => {
            let message_id = format!("reconcile:{}:{}", invoice.uuid, invoice.status);
            let input = ApplyInput {
                message_id: &message_id,
                received_at: None,
                invoice,
            };
            match apply(ctx, &[(input, verdict)]).await.remove(0) {
                Outcome::Applied { .. } => {
                    report.completed += 1;
                    "completed"
                }
                Outcome::Partial { .. } => {
                    report.partial += 1;
                    "partial"
                }
                Outcome::Duplicate
                | Outcome::AlreadyCompleted { .. }
                | Outcome::Ignored { .. }
                | Outcome::TestRefused { .. } => {
                    report.unchanged += 1;
                    "unchanged"
                }
                Outcome::Retry(reason) | Outcome::DeadLetter(reason) => {
                    tracing::error!(invoice_id = %invoice.uuid, %reason, "reconciliation could not apply a paid invoice");
                    report.failed += 1;
                    "failed"
                }
            }
        }
        Verdict::Ignore if invoice.status == InvoiceStatus::Canceled => {
            // CryptoCloud cancels unpaid invoices at their expiry date; before it, someone
            // cancelled on purpose.
            let expired = invoice
                .expiry_date
                .is_some_and(|at| at <= chrono::Utc::now());
            let status = if expired {
                PaymentStatus::Expired
            } else {
                PaymentStatus::Canceled
            };
            match closing::close_invoice(&ctx.pool, &invoice.uuid, status).await {
                Ok(true) if expired => {
                    report.expired += 1;
                    "expired"
                }
                Ok(true) => {
                    report.canceled += 1;
                    "canceled"
                }
                Ok(false) => {
                    report.unchanged += 1;
                    "unchanged"
                }
                Err(e) => {
                    tracing::warn!(invoice_id = %invoice.uuid, error = %e, "cannot close a payment");
                    report.failed += 1;
                    "failed"
                }
            }
        }
        Verdict::Ignore => {
            report.unchanged += 1;
            "unchanged"
        }
    };
    metrics::counter!(counters::RECONCILED, "result" => result).increment(1);
}

/// Refreshes the `worker_pending_payments{age}` gauge.
#[tracing::instrument(skip_all)]
pub async fn record_pending_ages(pool: &PgPool) -> Result<(), sqlx::Error> {
    for (age, count) in open_payments::pending_ages(pool).await? {
        metrics::gauge!(counters::PENDING_PAYMENTS, "age" => age).set(count as f64);
    }
    Ok(())
}

/// Deletes old inbox rows and old sent outbox events, so neither table grows forever.
#[tracing::instrument(skip_all)]
pub async fn prune(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "DELETE FROM processed_messages WHERE processed_at < now() - make_interval(days => $1)",
        INBOX_RETENTION_DAYS
    )
    .execute(pool)
    .await?;
    sqlx::query!(
        "DELETE FROM outbox_events WHERE published_at < now() - make_interval(days => $1)",
        OUTBOX_RETENTION_DAYS
    )
    .execute(pool)
    .await?;
    Ok(())
}
