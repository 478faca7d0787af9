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

/// The deliveries of a chunk of a consumer's stream (`ready_chunks`), its errors logged:
/// a stream error is the channel going away, and what it held is redelivered.
pub fn delivered(
    chunk: Vec<lapin::Result<lapin::message::Delivery>>,
) -> Vec<lapin::message::Delivery> {
    chunk
        .into_iter()
        .filter_map(|delivery| {
            delivery
                .inspect_err(|e| tracing::warn!(error = %e, "consumer stream error"))
                .ok()
        })
        .collect()
}
