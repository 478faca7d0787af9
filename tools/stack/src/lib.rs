//! Starts the five services as real processes with one coherent configuration: the
//! sandbox stands in for CryptoCloud and posts back to the ingest; checkout and the worker
//! talk to the sandbox. Used by `scripts/run.sh` (fixed contract ports) and by the
//! end-to-end tests (free ports, their own database and RabbitMQ vhost). [`trigger`] and
//! [`listen`] are the developer's toolbox against a running stack.

pub mod client;
pub mod devclock;
pub mod infra;
pub mod listen;
pub mod process;
pub mod receiver;
mod stack;
pub mod trigger;
pub mod webdriver;

pub use process::LogMode;
pub use stack::{Ports, Stack, StackConfig};

/// Development credentials shared by the sandbox and the services that talk to it.
pub mod dev_credentials {
    // The sandbox's built-in development values (see .env.example).
    pub const API_KEY: &str = "sandbox-api-key-change-me";
    pub const SHOP_ID: &str = "sandbox-shop-change-me";
    pub const SECRET_KEY: &str = "sandbox-secret-key-change-me";
    pub const AUTH_JWT_SECRET: &str = "dev-only-user-token-key-change-me";
    pub const ADMIN_TOKEN: &str = "dev-admin-token";
    /// Signs the webhooks the dispatcher sends the local demo receiver.
    pub const WEBHOOK_SECRET: &str = "whsec_ZGV2LW9ubHktd2ViaG9vay1zZWNyZXQtY2hhbmdlLW1l";
}
