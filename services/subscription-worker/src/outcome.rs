//! What processing one message came to, and why a message is retried or dead-lettered.

use std::fmt;

use chrono::{DateTime, Utc};

/// What processing one delivery came to (the pipeline's answer). The consumer maps it to
/// ack, retry or dead-letter; tests call `process` and look at it directly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The payment was completed and the user's plan extended.
    Applied {
        payment_id: i64,
        user_id: i64,
        new_expiry: DateTime<Utc>,
    },
    /// CryptoCloud says the invoice is only partly paid: recorded, no upgrade.
    Partial { payment_id: i64 },
    /// This message id was applied before.
    Duplicate,
    /// The payment was already completed (by another message or by reconciliation).
    AlreadyCompleted { payment_id: i64 },
    /// CryptoCloud says the invoice is not paid (`created`, `canceled`): nothing changes.
    Ignored { invoice_status: String },
    /// A paid test-mode invoice refused by `WORKER_ACCEPT_TEST_INVOICES=false`: nothing changes.
    TestRefused { invoice_status: String },
    /// Try again later through the delay queues.
    Retry(Reason),
    /// Never going to work as it is: straight to the dead-letter queue.
    DeadLetter(Reason),
}

impl Outcome {
    /// The `outcome` label of `worker_messages_total` for an outcome that is acked as is.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Applied { .. } => "completed",
            Outcome::Partial { .. } => "partial",
            Outcome::Duplicate | Outcome::AlreadyCompleted { .. } => "duplicate",
            Outcome::Ignored { .. } | Outcome::TestRefused { .. } => "ignored",
            Outcome::Retry(_) => "retried",
            Outcome::DeadLetter(_) => "dead_lettered",
        }
    }
}

/// Why a message could not be applied (now).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// The body is not a `PostbackReceived`.
    Undecodable(String),
    /// Neither the body nor the AMQP properties carry a message id.
    MissingMessageId,
    /// The invoice id is not an invoice id.
    BadInvoiceId(String),
    /// No payment has this invoice or order id (yet: it may race the checkout's commit).
    PaymentNotFound(String),
    /// The payment row exists but checkout has not stored the invoice yet.
    PaymentBeingCreated(i64),
    /// CryptoCloud's answer did not include the invoice.
    InvoiceUnknown(String),
    /// CryptoCloud failed or could not be reached.
    Api(String),
    /// PostgreSQL failed.
    Database(String),
    /// What CryptoCloud reports does not match what we asked for (amount, currency, order).
    Mismatch(String),
    /// The payment's tier grants no known requests limit.
    UnknownTier(String),
    /// Handed back to the queue this many times without being processed (crash loop).
    Redelivered(u32),
    /// A retryable failure that kept failing.
    GaveUp { attempts: u32, last: Box<Reason> },
}

impl Reason {
    /// Whether a retry for this reason spends the message's attempt budget
    /// (`WORKER_MAX_ATTEMPTS`). Only "not there (yet)" does: a dependency that cannot be
    /// reached or fails says nothing about the message, so an outage is waited out, however
    /// long, and never dead-letters a payment.
    pub fn spends_attempts(&self) -> bool {
        match self {
            Reason::PaymentNotFound(_)
            | Reason::PaymentBeingCreated(_)
            | Reason::InvoiceUnknown(_) => true,
            Reason::Api(_) | Reason::Database(_) => false,
            Reason::GaveUp { last, .. } => last.spends_attempts(),
            _ => true,
        }
    }

    /// A dependency (CryptoCloud or PostgreSQL) failed or could not be reached.
    pub fn is_outage(&self) -> bool {
        matches!(self, Reason::Api(_) | Reason::Database(_))
    }

    /// Low-cardinality label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Reason::Undecodable(_) => "undecodable",
            Reason::MissingMessageId => "missing_message_id",
            Reason::BadInvoiceId(_) => "bad_invoice_id",
            Reason::PaymentNotFound(_) => "payment_not_found",
            Reason::PaymentBeingCreated(_) => "payment_being_created",
            Reason::InvoiceUnknown(_) => "invoice_unknown",
            Reason::Api(_) => "api_error",
            Reason::Database(_) => "database_error",
            Reason::Mismatch(_) => "mismatch",
            Reason::UnknownTier(_) => "unknown_tier",
            Reason::Redelivered(_) => "redelivered",
            Reason::GaveUp { last, .. } => last.label(),
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Undecodable(e) => write!(f, "undecodable message: {e}"),
            Reason::MissingMessageId => f.write_str("message has no message id"),
            Reason::BadInvoiceId(e) => write!(f, "bad invoice id: {e}"),
            Reason::PaymentNotFound(id) => write!(f, "no payment for invoice {id}"),
            Reason::PaymentBeingCreated(id) => write!(f, "payment {id} is still being created"),
            Reason::InvoiceUnknown(id) => write!(f, "CryptoCloud does not know invoice {id}"),
            Reason::Api(e) => write!(f, "CryptoCloud API error: {e}"),
            Reason::Database(e) => write!(f, "database error: {e}"),
            Reason::Mismatch(e) => write!(f, "invoice does not match the payment: {e}"),
            Reason::UnknownTier(t) => write!(f, "unknown subscription tier {t:?}"),
            Reason::Redelivered(n) => write!(
                f,
                "handed back to the queue {n} times without being processed (crash loop?)"
            ),
            Reason::GaveUp { attempts, last } => {
                write!(f, "gave up after {attempts} attempts: {last}")
            }
        }
    }
}

impl From<sqlx::Error> for Reason {
    fn from(e: sqlx::Error) -> Self {
        Reason::Database(e.to_string())
    }
}
