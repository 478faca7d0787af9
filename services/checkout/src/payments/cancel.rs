//! Canceling a pending payment: first its invoice at CryptoCloud, then here.

use ::payments::{closing, history};

use super::PaymentsError;
use crate::domain::{PaymentRecord, PaymentStatus, UserId};
use crate::provider::ProviderFailure;
use crate::state::AppState;

pub async fn cancel_pending(
    state: &AppState,
    user: UserId,
    id: i64,
) -> Result<PaymentRecord, PaymentsError> {
    let record = history::find_for_user(&state.pool, user, id)
        .await?
        .ok_or(PaymentsError::NotFound)?;
    if record.status != PaymentStatus::Pending {
        return Err(not_pending(record.status));
    }
    let invoice = record
        .invoice_id
        .as_deref()
        .and_then(|i| cryptocloud::InvoiceId::parse(i).ok())
        .ok_or_else(|| {
            PaymentsError::Unexpected(anyhow::anyhow!(
                "pending payment {id} has no usable invoice id"
            ))
        })?;
    match state.cryptocloud.cancel_invoice(&invoice).await {
        Ok(()) => {}
        // CryptoCloud cancels only a `created` invoice: it was paid or canceled meanwhile,
        // and the worker will bring our row up to date.
        Err(cryptocloud::Error::Validation { fields }) => {
            tracing::info!(?fields, "CryptoCloud refused to cancel the invoice");
            return Err(PaymentsError::NotCancelable(
                "CryptoCloud no longer lets this invoice be canceled (it may have been paid)"
                    .into(),
            ));
        }
        Err(error) => {
            let failure = ProviderFailure::classify(&error);
            tracing::warn!(%error, reason = failure.code(), "canceling the invoice failed");
            return Err(PaymentsError::Provider(
                failure,
                failure.retry_after(Some(&error)),
            ));
        }
    }
    match closing::cancel_for_user(&state.pool, user, id).await? {
        Some(record) => {
            tracing::info!(invoice_id = %invoice, "payment canceled");
            Ok(record)
        }
        // Changed between our read and the update (e.g. the worker completed it).
        None => {
            let now = history::find_for_user(&state.pool, user, id)
                .await?
                .ok_or(PaymentsError::NotFound)?;
            Err(not_pending(now.status))
        }
    }
}

fn not_pending(status: PaymentStatus) -> PaymentsError {
    PaymentsError::NotCancelable(format!(
        "only a pending payment can be canceled; this one is {status}"
    ))
}
