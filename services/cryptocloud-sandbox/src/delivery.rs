//! The postback delivery log's entries: what each attempt to deliver a postback sent and
//! how it ended (`GET /sandbox/invoices/{uuid}/deliveries`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Which token the postback carries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenMode {
    /// Correctly signed, `exp` = now + 300 s.
    #[default]
    Valid,
    /// Correctly signed, but `exp` an hour ago.
    Expired,
    /// Signed with a different key.
    BadSignature,
    /// No `token` field at all.
    Missing,
    /// Correctly signed, but its `id` names another invoice.
    WrongInvoice,
    /// Unsigned, `alg: none`.
    AlgNone,
}

/// How one attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Answered 2xx.
    Delivered,
    /// Answered, but not 2xx.
    Rejected,
    /// No answer: connect failure, timeout, no URL configured.
    Error,
    /// Deliberately not sent.
    Lost,
}

/// One entry of the delivery log (`GET /sandbox/invoices/{uuid}/deliveries`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryAttempt {
    /// `INV-XXXXXXXX`.
    pub invoice_id: String,
    /// Which postback of this invoice (1-based; `times: 3` makes three).
    pub postback: u32,
    /// Attempt of that postback (1-based; 0 for a lost one).
    pub attempt: u32,
    pub url: Option<String>,
    /// `json` or `form`.
    pub format: String,
    pub token: TokenMode,
    pub outcome: Outcome,
    /// The receiver's HTTP status, when it answered.
    pub status: Option<u16>,
    pub error: Option<String>,
    /// Exactly what was sent (none for a lost postback).
    pub request_body: Option<String>,
    /// The start of the receiver's answer.
    pub response_body: Option<String>,
    pub sent_at: DateTime<Utc>,
    pub duration_ms: u64,
}
