//! The one owner of a payment and of the user's plan: the `payments` and `users` row types,
//! the payment status state machine ([`PaymentStatus::can_become`]) and every query that
//! reads or changes those two tables. Checkout and the subscription worker both go through
//! here, so a status changes in this crate only, and only along a legal transition.
//!
//! | module | what happens to a payment there |
//! | --- | --- |
//! | [`creation`] | `creating`, then `pending` with the invoice or `failed` (checkout's payments and the worker's renewals alike) |
//! | [`history`] | read back by its owner (and followed by the developer's `stack listen`) |
//! | [`closing`] | `canceled` by its owner, `canceled`/`expired` at CryptoCloud |
//! | [`apply`] | locked, then `completed` or `partial` (inside the worker's transaction) |
//! | [`reconcile`] | open payments the worker asks CryptoCloud about |
//! | [`renewal`] | renewal payments due, and their reminders |
//! | [`plan`] | the user's tier and expiry: read, extended, expired |
//! | [`report`] | the admin statistics |
//! | [`announce`] | the merchant event of each change, written to the outbox in its transaction |

pub mod announce;
pub mod apply;
pub mod closing;
pub mod creation;
pub mod history;
mod money;
mod order_id;
pub mod plan;
mod provider;
pub mod reconcile;
mod record;
pub mod renewal;
pub mod report;
mod status;
mod tier;
mod user_id;

pub use money::{display_amount, Amount};
pub use order_id::OrderId;
pub use provider::ProviderFailure;
pub use record::{Cursor, PaymentRecord};
pub use status::PaymentStatus;
pub use tier::Tier;
pub use user_id::{InvalidUserId, UserId};
