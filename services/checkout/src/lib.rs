//! Checkout: the plan catalogue, checkout through CryptoCloud, payment history, the
//! subscription status and the dashboard pages, organised by flow. Each flow keeps its HTTP
//! handlers in `http` and its one error enum, mapped to HTTP in one place. `main.rs` only
//! wires [`configuration::Settings`] into [`startup::Application`].
//!
//! | flow | module |
//! | --- | --- |
//! | plans on offer | [`tiers`] |
//! | buying a plan | [`checkout`] |
//! | the caller's payments (history, one, cancel) | [`payments`] |
//! | the caller's plan | [`subscription`] |
//! | the dashboard pages and the guide's form | [`pages`] |
//! | operator statistics | [`admin`] |
//! | health, readiness, the API document | [`ops`], [`openapi`] |

pub mod admin;
pub mod auth;
pub mod checkout;
pub mod configuration;
pub mod domain;
pub mod idempotency;
pub mod openapi;
pub mod ops;
pub mod pages;
pub mod payments;
pub mod provider;
pub mod startup;
pub mod state;
pub mod subscription;
pub mod tiers;

/// The shared plan catalogue (`crates/plans`).
pub use ::plans;
pub use configuration::Settings;
pub use startup::Application;
