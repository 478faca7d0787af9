//! subscription-worker: applies paid CryptoCloud invoices to users' plans exactly once,
//! expires plans and reconciles postbacks that never came.
//!
//! A postback travels: work queue → [`consumer`] → [`pipeline::process`] (decode, the
//! inbox, [`lookup`] at CryptoCloud, [`apply::apply`] in one transaction per group) → ack,
//! or a delay queue ([`retry`]), or the DLQ ([`dlq`]). Payments and plans change only
//! through `crates/payments`.

pub mod apply;
pub mod cli;
pub mod commands;
pub mod consumer;
pub mod context;
pub mod counters;
pub mod dlq;
pub mod gate;
pub mod http;
pub mod inbox;
pub mod lookup;
pub mod outbox;
pub mod outcome;
pub mod pipeline;
pub mod plans;
pub mod renewals;
pub mod report;
pub mod retry;
pub mod settings;
pub mod startup;
pub mod sweep;

pub use context::Context;
pub use outcome::{Outcome, Reason};
pub use settings::Settings;
pub use startup::Application;
