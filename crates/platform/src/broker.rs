//! RabbitMQ: one supervised connection per process with a confirm-mode publishing channel,
//! reconnecting with back-off when the broker goes away, and the declaration of a
//! [`Topology`] the caller names (the contract's names live in `crates/events`).

mod publisher;
mod supervisor;
mod topology;

pub use lapin;
pub use publisher::PublishError;
pub use supervisor::{Broker, Link};
pub use topology::Topology;
