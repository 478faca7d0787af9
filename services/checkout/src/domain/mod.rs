//! Domain types parsed at the edge: once a value has one of these types it is valid. The
//! payment's own types (ids, status, tier, amounts) belong to `crates/payments`; checkout
//! adds what only an order needs.

mod months;
mod payment_method;

pub use ::payments::{
    display_amount, Amount, Cursor, InvalidUserId, OrderId, PaymentRecord, PaymentStatus, Tier,
    UserId,
};
pub use months::{InvalidMonths, Months};
pub use payment_method::{InvalidPaymentMethod, PaymentMethod, OFFERED as OFFERED_PAYMENT_METHODS};
