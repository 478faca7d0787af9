//! event-dispatcher: delivers our events to merchants' endpoints as signed webhooks.
//!
//! An event travels: the `event-dispatcher` queue → [`intake`] (its JSON body and one
//! pending delivery per subscribed endpoint, one transaction, then ack) → [`scheduler`]
//! (claims due deliveries from the database, each attempt its own task) → [`sender`]
//! (signed POST through the [`destination`] guard) → [`deliveries::record_attempt`]
//! (delivered, next attempt, or failed). The [`admin`] API manages [`endpoints`] and reads
//! and replays the log; [`openapi`] describes it.

pub mod admin;
pub mod backlog;
pub mod deliveries;
pub mod destination;
pub mod endpoints;
pub mod http;
pub mod intake;
pub mod openapi;
pub mod scheduler;
pub mod secret;
pub mod sender;
pub mod settings;
pub mod startup;

pub use settings::Settings;
pub use startup::Application;
