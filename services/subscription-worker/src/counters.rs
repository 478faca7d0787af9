//! Metrics: Prometheus series through the `metrics` facade (process-wide), plus a few
//! per-instance counters so tests running several workers in one process can tell them apart.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};

/// Deliveries handled, by the outcome label of `worker_messages_total`.
pub const MESSAGES: &str = "worker_messages_total";
/// Seconds from delivery to ack/retry/dead-letter.
pub const PROCESSING_SECONDS: &str = "worker_processing_duration_seconds";
/// Seconds from webhook-ingest receiving the postback to the payment applied.
pub const RECEIVED_TO_APPLIED_SECONDS: &str = "worker_postback_to_applied_seconds";
/// Retries by reason.
pub const RETRIES: &str = "worker_retries_total";
/// Dead-lettered messages by reason.
pub const DEAD_LETTERED: &str = "worker_dead_lettered_total";
/// Pending payments by age bucket (gauge, refreshed by the sweep).
pub const PENDING_PAYMENTS: &str = "worker_pending_payments";
/// Plans returned to free by the expiry sweep.
pub const EXPIRED: &str = "worker_subscriptions_expired_total";
/// Pending payments looked up by reconciliation, by what came of it.
pub const RECONCILED: &str = "worker_reconciled_payments_total";
/// Groups whose one transaction failed and were applied one by one instead.
pub const GROUP_FALLBACKS: &str = "worker_group_commit_fallbacks_total";
/// 1 while consumption is paused because CryptoCloud or PostgreSQL is down.
pub const DEPENDENCY_DOWN: &str = "worker_dependency_down";
/// Paid test-mode invoices, by `decision` (`applied` or `refused`).
pub const TEST_INVOICES: &str = "worker_test_invoices_total";
/// Renewal payments opened with their invoice.
pub const RENEWALS_OPENED: &str = "worker_renewals_opened_total";
/// `subscription.renewal_due` reminders recorded.
pub const RENEWAL_REMINDERS: &str = "worker_renewal_reminders_total";
/// Copies near the quorum queue's delivery limit re-published fresh.
pub const REFRESHED: &str = "worker_redelivered_refreshed_total";
/// Seconds the oldest unpublished outbox event has waited (gauge, 0 when none).
pub const OUTBOX_OLDEST: &str = "worker_outbox_oldest_unpublished_seconds";
/// Relay rounds that failed (an event returned, nacked, or the broker gone).
pub const OUTBOX_FAILURES: &str = "worker_outbox_publish_failures_total";
/// Outbox events published (confirmed by the broker).
pub const OUTBOX_PUBLISHED: &str = "worker_outbox_published_total";

/// Per-instance counters, one per `worker_messages_total` outcome.
#[derive(Debug, Default)]
pub struct Stats {
    pub completed: AtomicU64,
    pub partial: AtomicU64,
    pub duplicate: AtomicU64,
    pub ignored: AtomicU64,
    pub retried: AtomicU64,
    pub dead_lettered: AtomicU64,
    /// Groups applied one by one after their transaction failed (a deadlock, say).
    pub group_fallbacks: AtomicU64,
}

impl Stats {
    fn counter(&self, outcome: &str) -> Option<&AtomicU64> {
        Some(match outcome {
            "completed" => &self.completed,
            "partial" => &self.partial,
            "duplicate" => &self.duplicate,
            "ignored" => &self.ignored,
            "retried" => &self.retried,
            "dead_lettered" => &self.dead_lettered,
            _ => return None,
        })
    }

    /// Counts one delivery under `outcome` here and in Prometheus.
    pub fn record(&self, outcome: &'static str, elapsed: Duration) {
        if let Some(counter) = self.counter(outcome) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        metrics::counter!(MESSAGES, "outcome" => outcome).increment(1);
        metrics::histogram!(PROCESSING_SECONDS, "outcome" => outcome).record(elapsed.as_secs_f64());
    }

    pub fn get(&self, outcome: &str) -> u64 {
        self.counter(outcome)
            .map_or(0, |counter| counter.load(Ordering::Relaxed))
    }
}

/// Records how long a postback took from receipt to being applied.
pub fn record_applied_latency(received_at: Option<DateTime<Utc>>) {
    if let Some(received_at) = received_at {
        let seconds = (Utc::now() - received_at).num_milliseconds().max(0) as f64 / 1000.0;
        metrics::histogram!(RECEIVED_TO_APPLIED_SECONDS).record(seconds);
    }
}

/// Counts one paid test-mode invoice under `decision` (`applied` or `refused`).
pub fn test_invoice(decision: &'static str) {
    metrics::counter!(TEST_INVOICES, "decision" => decision).increment(1);
}

/// Counts one failed relay round.
pub fn outbox_failure() {
    metrics::counter!(OUTBOX_FAILURES).increment(1);
}
