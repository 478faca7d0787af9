//! The error answers of each operation: every status it can fail with, the standard error
//! body, and the codes that status can carry. The lists come from the flows' own error
//! types (a sample of each error, mapped by the same functions as a real one) and from the
//! extractors' configuration in `platform::http`, so they cannot drift from what is sent.

use actix_web::ResponseError;
use platform::openapi::{Answers, OperationAnswers};
use utoipa::Modify;

use crate::admin::AdminError;
use crate::auth::AuthError;
use crate::checkout::CheckoutError;
use crate::payments::PaymentsError;
use crate::subscription::{RenewalError, SubscriptionError};

/// Each operation that can fail, by operation id, with what it can fail with.
pub const ERROR_ANSWERS: &[OperationAnswers] = &[
    ("createCheckout", || {
        [
            user(),
            platform::http::json_rejections(),
            CheckoutError::answers(),
        ]
        .concat()
    }),
    ("listPayments", || {
        let listing = PaymentsError::answers(&PaymentsError::of_listing());
        [user(), vec![platform::http::QUERY_REJECTION], listing].concat()
    }),
    ("getPayment", || {
        let reading = PaymentsError::answers(&PaymentsError::of_reading());
        [user(), vec![platform::http::PATH_REJECTION], reading].concat()
    }),
    ("cancelPayment", || {
        let canceling = PaymentsError::answers(&PaymentsError::of_canceling());
        [user(), vec![platform::http::PATH_REJECTION], canceling].concat()
    }),
    ("getSubscription", || {
        [user(), SubscriptionError::answers()].concat()
    }),
    ("cancelSubscription", || {
        [user(), RenewalError::answers()].concat()
    }),
    ("resumeSubscription", || {
        [user(), RenewalError::answers()].concat()
    }),
    ("getAdminStats", AdminError::answers),
];

/// A missing, bad or expired user token.
fn user() -> Answers {
    AuthError::ALL
        .iter()
        .map(|e| (e.status_code(), e.code()))
        .collect()
}

/// Writes [`ERROR_ANSWERS`] into the document.
pub struct ErrorCodes;

impl Modify for ErrorCodes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        platform::openapi::write_error_answers(openapi, ERROR_ANSWERS);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn codes(answers: &Answers, status: u16) -> BTreeSet<&'static str> {
        answers
            .iter()
            .filter(|(s, _)| s.as_u16() == status)
            .map(|(_, c)| *c)
            .collect()
    }

    #[test]
    fn the_checkout_lists_its_real_codes() {
        let (_, answers) = ERROR_ANSWERS
            .iter()
            .find(|(id, _)| *id == "createCheckout")
            .unwrap();
        let answers = answers();
        assert_eq!(
            codes(&answers, 422),
            [
                "idempotency_key_reused",
                "invalid_field",
                "invalid_months",
                "invalid_payment_method",
                "tier_not_purchasable",
                "unknown_tier",
            ]
            .into()
        );
        assert_eq!(
            codes(&answers, 401),
            ["invalid_token", "token_expired", "unauthorized"].into()
        );
        assert_eq!(
            codes(&answers, 503),
            [
                "provider_rate_limited",
                "provider_timeout",
                "provider_unavailable"
            ]
            .into()
        );
        assert!(codes(&answers, 400).contains("malformed_json"));
        assert!(codes(&answers, 400).contains("invalid_idempotency_key"));
        assert_eq!(
            codes(&answers, 409),
            ["idempotency_key_in_use", "plan_currency_mismatch"].into()
        );
        assert_eq!(codes(&answers, 500), ["internal_error"].into());
    }
}
