//! What every service shares: configuration loading, telemetry, the PostgreSQL pool and
//! migrations, the RabbitMQ connection and topology, operational HTTP endpoints and
//! graceful shutdown.

pub mod broker;
pub mod config;
pub mod database;
pub mod http;
pub mod metrics;
pub mod shutdown;
pub mod telemetry;

pub use secrecy::{ExposeSecret, SecretString};
