//! The caller's payments: history, one payment, cancel.

pub(crate) mod cancel;
mod error;
pub mod history;
pub mod http;
mod view;

pub use error::PaymentsError;
pub use view::{ListQuery, PaymentList, PaymentView, DEFAULT_LIMIT, MAX_LIMIT, MAX_PAGE};
