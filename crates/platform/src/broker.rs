//! RabbitMQ: one supervised connection per process with a confirm-mode publishing channel,
//! reconnecting with back-off when the broker goes away, and the contract's topology.

mod publisher;
mod supervisor;
mod topology;

pub use lapin;
pub use publisher::PublishError;
pub use supervisor::{Broker, Link};
pub use topology::{header_str, Topology};
