//! The checkout flow: validate the order, record the payment, ask CryptoCloud for the
//! invoice, record the outcome. `POST /api/v1/checkout` ([`http`]) and the dashboard's
//! upgrade form both run [`create_payment`].

mod create;
mod error;
pub mod http;
mod order;

pub use create::{create_payment, create_payment_once};
pub use error::CheckoutError;
pub use order::{CheckoutRequest, CheckoutResponse, Order};
