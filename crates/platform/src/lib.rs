//! What every service shares, knowing nothing of the domain: configuration loading,
//! telemetry, the PostgreSQL pool and migrations, the RabbitMQ connection and the
//! declaration of a topology the caller names, operational HTTP endpoints, and the one
//! [`service::Service`] shape with its `main` and graceful shutdown.

pub mod bearer;
pub mod broker;
pub mod config;
pub mod database;
pub mod http;
pub mod metrics;
pub mod openapi;
pub mod service;
pub mod shutdown;
pub mod telemetry;

pub use secrecy::{ExposeSecret, SecretString};
