//! HTTP routes: the postback endpoint and the operational ones.

mod operations;
mod postback;

pub use operations::{not_found, readyz};
pub use postback::{receive_postback, IngestError, PostbackEndpoint, BODY_LIMIT};
