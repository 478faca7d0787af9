//! Checkout: the plan catalogue, checkout through CryptoCloud, payment history, the
//! subscription status and the dashboard pages. `main.rs` only wires
//! [`configuration::Settings`] into [`startup::Application`].

pub mod auth;
pub mod checkout;
pub mod configuration;
pub mod domain;
pub mod idempotency;
pub mod openapi;
pub mod pages;
pub mod payments;
pub mod plans;
pub mod provider;
pub mod routes;
pub mod startup;
pub mod state;
pub mod stats;
pub mod users;

pub use configuration::Settings;
pub use startup::Application;
