//! webhook-ingest: receives CryptoCloud's postbacks, verifies their token at receipt,
//! validates them and publishes one protobuf `PostbackReceived` per postback, answering
//! 200 only once RabbitMQ has confirmed it. It touches no database.

pub mod configuration;
pub mod fields;
pub mod intake;
pub mod message;
pub mod routes;
pub mod source;
pub mod startup;
pub mod telemetry;
pub mod verifier;

pub use configuration::Settings;
pub use intake::{Intake, Intaker, Rejection};
pub use startup::Application;
