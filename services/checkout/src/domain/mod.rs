//! Domain types parsed at the edge: once a value has one of these types it is valid.

mod money;
mod months;
mod order_id;
mod payment_method;
mod payment_status;
mod user_id;

pub use money::{display_amount, Amount};
pub use months::{InvalidMonths, Months};
pub use order_id::OrderId;
pub use payment_method::{InvalidPaymentMethod, PaymentMethod, OFFERED as OFFERED_PAYMENT_METHODS};
pub use payment_status::PaymentStatus;
pub use user_id::{InvalidUserId, UserId};
