//! What processing needs, shared by the consumer, the sweeps and the operator commands.

use std::sync::Arc;

use rust_decimal::Decimal;
use sqlx::PgPool;
use tokio::sync::Notify;

use crate::counters::Stats;
use crate::gate::DependencyGate;
use crate::plans::Plans;

/// Cheap to clone.
#[derive(Clone)]
pub struct Context {
    pub pool: PgPool,
    pub cryptocloud: cryptocloud::Client,
    pub plans: Arc<Plans>,
    /// Woken after every commit that wrote an outbox event, so the relay publishes at once.
    pub outbox_wake: Arc<Notify>,
    /// This instance's counters (the Prometheus metrics are process-wide).
    pub stats: Arc<Stats>,
    /// Closed while a dependency is known to be down.
    pub gate: Arc<DependencyGate>,
    /// `PAYMENT_TOLERANCE_PERCENT`: an underpayment within it completes the payment.
    pub tolerance_percent: Decimal,
    /// `WORKER_ACCEPT_TEST_INVOICES`.
    pub accept_test_invoices: bool,
    /// Renewal invoices and reminders; `None` without `CRYPTOCLOUD_SHOP_ID`.
    pub renewals: Option<Arc<crate::renewals::RenewalPolicy>>,
    /// `GRACE_PERIOD_DAYS`: days after expiry a plan keeps its tier.
    pub grace_days: i32,
    /// What the renewal sweep has warned about, so each warning is logged once.
    pub warned: Arc<std::sync::Mutex<crate::renewals::Warned>>,
}

impl Context {
    pub fn new(pool: PgPool, cryptocloud: cryptocloud::Client, plans: Plans) -> Self {
        Self {
            pool,
            cryptocloud,
            plans: Arc::new(plans),
            outbox_wake: Arc::new(Notify::new()),
            stats: Arc::new(Stats::default()),
            gate: Arc::new(DependencyGate::default()),
            tolerance_percent: Decimal::ZERO,
            accept_test_invoices: true,
            renewals: None,
            grace_days: 0,
            warned: Arc::default(),
        }
    }
}

impl Context {
    /// What CryptoCloud's invoice means for its payment under this worker's settings.
    pub fn verdict(&self, invoice: &cryptocloud::Invoice) -> crate::lookup::Verdict {
        crate::lookup::verdict(invoice, self.tolerance_percent, self.accept_test_invoices)
    }
}
