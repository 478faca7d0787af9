//! Renewal invoices and their reminders (crypto has no card on file: every period needs a
//! new invoice). Each sweep opens a renewal payment, with a real CryptoCloud invoice, for
//! every renewing paid plan inside its first notice window (`RENEWAL_NOTICE_DAYS`), through
//! the same `payments::creation::open` checkout uses; then records the reminders due and
//! writes one `subscription.renewal_due` event each, in the same transaction. Several
//! workers and repeated sweeps open one renewal and send one reminder: the database's
//! unique keys decide, not a check.

use std::collections::BTreeSet;
use std::sync::Mutex;

use payments::creation::{self, Invoicing, NewPayment, OpenError};
use payments::{renewal, OrderId};

use crate::context::Context;

/// Plans looked at per sweep step.
const BATCH: i64 = 500;

/// `RENEWAL_NOTICE_DAYS`, `RENEWAL_MONTHS` and the shop the invoices are opened for.
#[derive(Debug, Clone)]
pub struct RenewalPolicy {
    /// Notice days, largest first; the first one opens the renewal invoice.
    pub notice_days: Vec<u32>,
    pub months: u32,
    pub shop_id: String,
}

impl RenewalPolicy {
    fn first_notice(&self) -> i32 {
        self.notice_days.first().copied().unwrap_or(0) as i32
    }
}

/// What one sweep step did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RenewalReport {
    /// Renewal payments opened (with their invoice).
    pub opened: usize,
    /// Opened by someone else meanwhile.
    pub already_open: usize,
    /// CryptoCloud gave no invoice (the payment is `failed`; the next sweep tries again).
    pub failed: usize,
    /// Plans no longer in `PLANS`: kept to expiry, not renewed.
    pub unknown_plans: usize,
    pub reminded: usize,
    /// Unpaid renewal invoices of plans that ended, canceled at CryptoCloud and here.
    pub lapsed: usize,
    /// Renewals opened while their plan was being canceled, canceled again at once.
    pub withdrawn: usize,
    /// Users on a paid tier with no expiry (legacy data): never renewed.
    pub without_expiry: usize,
    /// Warnings logged by this pass: a removed plan or a user without expiry is named
    /// once per worker, not at every sweep.
    pub warned: usize,
}

impl RenewalReport {
    /// Something was opened, sent, closed or warned about (what is only seen again, such
    /// as a removed plan's users, is not news at every sweep).
    fn acted(&self) -> bool {
        self.opened
            + self.already_open
            + self.failed
            + self.reminded
            + self.lapsed
            + self.withdrawn
            + self.warned
            > 0
    }
}

/// What this worker has already warned about.
#[derive(Debug, Default)]
pub struct Warned {
    tiers: BTreeSet<String>,
    users: BTreeSet<i64>,
}

impl Warned {
    /// True the first time `tier` is given.
    fn tier(this: &Mutex<Warned>, tier: &str) -> bool {
        this.lock()
            .expect("not poisoned")
            .tiers
            .insert(tier.to_string())
    }

    /// True the first time `user` is given.
    fn user(this: &Mutex<Warned>, user: i64) -> bool {
        this.lock().expect("not poisoned").users.insert(user)
    }
}

/// Opens the renewals due, then sends the reminders due.
#[tracing::instrument(skip_all)]
pub async fn run_once(ctx: &Context, policy: &RenewalPolicy) -> anyhow::Result<RenewalReport> {
    let mut report = RenewalReport::default();
    warn_without_expiry(ctx, &mut report).await?;
    open_due(ctx, policy, &mut report).await?;
    remind(ctx, policy, &mut report).await?;
    close_lapsed(ctx, &mut report).await?;
    if report.acted() {
        tracing::info!(?report, "renewals");
    }
    Ok(report)
}

async fn open_due(
    ctx: &Context,
    policy: &RenewalPolicy,
    report: &mut RenewalReport,
) -> anyhow::Result<()> {
    let due = renewal::due(&ctx.pool, policy.first_notice(), BATCH).await?;
    let mut unknown = BTreeSet::new();
    let invoicing = Invoicing {
        client: &ctx.cryptocloud,
        shop_id: &policy.shop_id,
    };
    for plan in due {
        let Some(priced) = ctx.plans.plan(plan.tier.as_str()) else {
            report.unknown_plans += 1;
            unknown.insert(plan.tier.to_string());
            continue;
        };
        let order_id = OrderId::generate();
        let kind = serde_json::json!({"kind": "renewal"});
        let new = NewPayment {
            user: plan.user,
            order_id: &order_id,
            amount: priced.amount_for(policy.months),
            currency: priced.currency(),
            payment_method: None,
            tier: &plan.tier,
            months: policy.months,
            payment_data: Some(kind.clone()),
            renewal_for: Some(plan.expires),
        };
        match creation::open(&ctx.pool, invoicing, &new, kind).await {
            Ok(Some(record)) => {
                report.opened += 1;
                metrics::counter!(crate::counters::RENEWALS_OPENED).increment(1);
                tracing::info!(user = %plan.user, payment_id = record.id, expires = %plan.expires, "renewal invoice opened");
                // A cancel that committed while this invoice was being opened did not see it
                // (it was not `pending` yet): take it back, so no canceled plan keeps one.
                if !payments::plan::renews(&ctx.pool, plan.user).await? {
                    withdraw(ctx, &record).await?;
                    report.withdrawn += 1;
                }
            }
            Ok(None) => report.already_open += 1,
            Err(OpenError::Provider { failure, .. }) => {
                report.failed += 1;
                tracing::warn!(user = %plan.user, reason = failure.code(), "renewal invoice not created; next sweep tries again");
            }
            Err(OpenError::Database(e)) => return Err(e.into()),
        }
    }
    for tier in unknown {
        if Warned::tier(&ctx.warned, &tier) {
            report.warned += 1;
            tracing::warn!(%tier, "plan is no longer in PLANS: its users keep it to expiry, no renewal is opened");
        }
    }
    Ok(())
}

/// Paid plans without an expiry are left alone (nothing to renew from), and named once.
async fn warn_without_expiry(ctx: &Context, report: &mut RenewalReport) -> anyhow::Result<()> {
    let users = renewal::paid_without_expiry(&ctx.pool, BATCH).await?;
    report.without_expiry = users.len();
    for user in users {
        if Warned::user(&ctx.warned, user.get()) {
            report.warned += 1;
            tracing::warn!(%user, "a paid tier without an expiry (legacy data): never renewed or expired; set users.subscription_expires");
        }
    }
    Ok(())
}

async fn remind(
    ctx: &Context,
    policy: &RenewalPolicy,
    report: &mut RenewalReport,
) -> anyhow::Result<()> {
    let days: Vec<i32> = policy.notice_days.iter().map(|d| *d as i32).collect();
    let mut tx = ctx.pool.begin().await?;
    let reminders = renewal::record_reminders(&mut tx, &days, BATCH).await?;
    for r in &reminders {
        let event = events::SubscriptionRenewalDue {
            event_id: format!(
                "renewal-due-{}-{}-{}",
                r.user,
                r.expires.timestamp(),
                r.days
            ),
            user_id: r.user.get(),
            tier: r.tier.to_string(),
            expires_at: Some(events::to_timestamp(r.expires)),
            days: r.days.max(0) as u32,
            payment_id: r.payment_id,
            invoice_id: r.invoice_id.clone().unwrap_or_default(),
            payment_url: r.payment_url.clone().unwrap_or_default(),
            amount: r.amount.normalize().to_string(),
            currency: r.currency.clone(),
            occurred_at: Some(events::to_timestamp(chrono::Utc::now())),
        };
        payments::announce::write(
            &mut tx,
            &event.event_id,
            events::ROUTING_KEY_RENEWAL_DUE,
            &event,
        )
        .await?;
    }
    tx.commit().await?;
    if !reminders.is_empty() {
        ctx.outbox_wake.notify_one();
        metrics::counter!(crate::counters::RENEWAL_REMINDERS).increment(reminders.len() as u64);
    }
    report.reminded += reminders.len();
    Ok(())
}

/// Cancels, at CryptoCloud and then here, the renewal invoices of plans that ended unpaid.
/// CryptoCloud refusing (the invoice was paid or canceled meanwhile) leaves the payment to
/// the postback or to reconciliation.
async fn close_lapsed(ctx: &Context, report: &mut RenewalReport) -> anyhow::Result<()> {
    for (payment_id, invoice) in renewal::lapsed(&ctx.pool, ctx.grace_days, BATCH).await? {
        let Ok(invoice) = cryptocloud::InvoiceId::parse(&invoice) else {
            tracing::warn!(payment_id, invoice, "renewal with an unreadable invoice id");
            continue;
        };
        match ctx.cryptocloud.cancel_invoice(&invoice).await {
            Ok(()) => {}
            Err(cryptocloud::Error::Validation { .. }) => {
                tracing::info!(payment_id, %invoice, "CryptoCloud no longer lets the lapsed renewal be canceled");
                continue;
            }
            Err(e) => return Err(e.into()),
        }
        if payments::closing::close_invoice(&ctx.pool, &invoice, payments::PaymentStatus::Canceled)
            .await?
        {
            report.lapsed += 1;
            tracing::info!(payment_id, %invoice, "unpaid renewal canceled: the plan ended");
        }
    }
    Ok(())
}

/// Cancels a renewal just opened for a plan canceled meanwhile: at CryptoCloud, then here.
async fn withdraw(ctx: &Context, record: &payments::PaymentRecord) -> anyhow::Result<()> {
    let Some(invoice) = record
        .invoice_id
        .as_deref()
        .and_then(|i| cryptocloud::InvoiceId::parse(i).ok())
    else {
        return Ok(());
    };
    match ctx.cryptocloud.cancel_invoice(&invoice).await {
        Ok(()) | Err(cryptocloud::Error::Validation { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    payments::closing::cancel_for_user(&ctx.pool, record.user_id, record.id).await?;
    tracing::info!(
        payment_id = record.id,
        "renewal withdrawn: the plan was canceled meanwhile"
    );
    Ok(())
}
