//! subscription-worker: applies paid CryptoCloud invoices to users' plans exactly once,
//! expires plans and reconciles postbacks that never came.
//!
//! A postback travels: work queue → [`process::process`] (decode, pull-confirm at
//! CryptoCloud, [`apply::apply`] in one transaction) → ack, or a delay queue, or the DLQ.

pub mod apply;
pub mod cli;
pub mod commands;
pub mod confirm;
pub mod consumer;
pub mod context;
pub mod dlq;
pub mod outbox;
pub mod outcome;
pub mod plans;
pub mod process;
pub mod routes;
pub mod routing;
pub mod settings;
pub mod startup;
pub mod stats;
pub mod sweep;

pub use context::Context;
pub use outcome::{Outcome, Reason};
pub use settings::Settings;
pub use startup::Application;
