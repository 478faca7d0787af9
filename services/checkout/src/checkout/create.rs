//! Creating one payment and its invoice, shared by the JSON API and the dashboard's form.
//!
//! Order of work, so nothing is orphaned: the payment row is committed as `creating` with
//! our `order_id` before CryptoCloud is called with that `order_id`; then it becomes
//! `pending` with the invoice, or `failed` with the reason (`crates/payments` owns those
//! transitions).

use std::time::Duration;

use ::payments::creation::{self, NewPayment};
use actix_web::http::StatusCode;

use super::{CheckoutError, CheckoutResponse, Order};
use crate::domain::{OrderId, PaymentMethod, Tier, UserId};
use crate::idempotency::{self, Begun, IdempotencyKey, StoredResponse};
use crate::provider::ProviderFailure;
use crate::state::AppState;

/// Creates one payment and its invoice. Runs to completion even if the caller goes away
/// (it is spawned), so a claimed key or a `creating` row is never left behind by a dropped
/// request.
pub async fn create_payment(
    state: actix_web::web::Data<AppState>,
    user: UserId,
    order: Order,
) -> Result<CheckoutResponse, CheckoutError> {
    tokio::spawn(async move { create_payment_inner(&state, user, &order).await })
        .await
        .map_err(|e| CheckoutError::Unexpected(anyhow::anyhow!("checkout task failed: {e}")))?
}

/// Like [`create_payment`], with an `Idempotency-Key`: returns the stored answer of an
/// identical earlier request instead of creating another payment. The bool is true for a
/// replayed answer.
pub async fn create_payment_once(
    state: actix_web::web::Data<AppState>,
    user: UserId,
    order: Order,
    key: IdempotencyKey,
) -> Result<(StoredResponse, bool), CheckoutError> {
    let hash = order.fingerprint();
    let wait = state.idempotency_wait;
    // A claim older than the longest a holder can take is abandoned.
    let lease = wait + Duration::from_secs(30);
    match idempotency::begin(&state.pool, user, &key, &hash, wait, lease).await? {
        Begun::Replay(stored) => Ok((stored, true)),
        Begun::Claimed(claim) => {
            let task = tokio::spawn(async move {
                let response = match create_payment_inner(&state, user, &order).await {
                    Ok(response) => response,
                    Err(e) => {
                        if let Err(release) =
                            idempotency::release(&state.pool, user, &key, claim).await
                        {
                            tracing::warn!(error = %release, "could not release an idempotency key; it lapses with its lease");
                        }
                        return Err(e);
                    }
                };
                let stored = StoredResponse {
                    status: StatusCode::CREATED.as_u16(),
                    body: serde_json::to_value(&response).expect("a response serialises"),
                };
                let kept = idempotency::complete(
                    &state.pool,
                    user,
                    &key,
                    claim,
                    response.payment_id,
                    &stored,
                )
                .await?;
                if !kept {
                    tracing::warn!(payment_id = response.payment_id, "idempotency claim lapsed while the checkout ran; another request holds the key now");
                }
                Ok::<_, CheckoutError>(stored)
            });
            let stored = task.await.map_err(|e| {
                CheckoutError::Unexpected(anyhow::anyhow!("checkout task failed: {e}"))
            })??;
            Ok((stored, false))
        }
    }
}

#[tracing::instrument(skip_all, fields(user = %user, tier = order.plan.name(), months = order.months.get(), payment_id))]
async fn create_payment_inner(
    state: &AppState,
    user: UserId,
    order: &Order,
) -> Result<CheckoutResponse, CheckoutError> {
    let order_id = OrderId::generate();
    let amount = order.plan.amount_for(order.months.get());

    let tier = Tier::of(&order.plan);
    let payment_id = creation::insert_creating(
        &state.pool,
        &NewPayment {
            user,
            order_id: &order_id,
            amount,
            currency: order.plan.currency(),
            payment_method: order.method.as_ref().map(PaymentMethod::as_str),
            tier: &tier,
            months: order.months.get(),
            payment_data: None,
        },
    )
    .await?;
    tracing::Span::current().record("payment_id", payment_id);

    let request = cryptocloud::CreateInvoice {
        shop_id: state.shop_id.clone(),
        amount,
        currency: Some(order.plan.currency().to_string()),
        order_id: Some(order_id.to_string()),
        email: None,
        add_fields: order.method.as_ref().map(|m| cryptocloud::AddFields {
            available_currencies: Some(vec![m.as_str().to_string()]),
            ..Default::default()
        }),
    };
    let invoice = match state.cryptocloud.create_invoice(&request).await {
        Ok(invoice) if is_payment_link(&invoice.link) => invoice,
        Ok(invoice) => {
            let details = serde_json::json!({
                "error": {"code": ProviderFailure::BadResponse.code(), "message": "the invoice has no usable payment link"},
                "invoice": invoice,
            });
            return Err(fail(
                state,
                payment_id,
                ProviderFailure::BadResponse,
                None,
                details,
            )
            .await);
        }
        Err(error) => {
            let failure = ProviderFailure::classify(&error);
            tracing::warn!(%error, reason = failure.code(), "creating the invoice failed");
            let details = serde_json::json!({
                "error": {"code": failure.code(), "message": error.to_string()},
            });
            return Err(fail(state, payment_id, failure, Some(&error), details).await);
        }
    };

    let invoice_id = invoice.uuid.prefixed();
    let payment_data = serde_json::json!({
        "invoice": invoice,
        "success_url": state.base_url.join("/dashboard/payment/success"),
        "fail_url": state.base_url.join("/dashboard/payment/error"),
    });
    let record = creation::mark_pending(
        &state.pool,
        payment_id,
        &invoice_id,
        &invoice.link,
        payment_data,
    )
    .await
    .map_err(|e| {
        // The invoice exists and the row still says `creating` with our order id, so the
        // worker can still match a postback to it by `order_id`.
        tracing::error!(error = %e, invoice_id, "storing the invoice failed");
        CheckoutError::from(e)
    })?;
    metrics::counter!("checkout_invoices_created_total", "tier" => order.plan.name().to_string())
        .increment(1);
    tracing::info!(invoice_id, "invoice created");
    Ok(CheckoutResponse::from_record(&record))
}

/// Marks the payment failed and builds the error for the caller.
async fn fail(
    state: &AppState,
    payment_id: i64,
    failure: ProviderFailure,
    error: Option<&cryptocloud::Error>,
    details: serde_json::Value,
) -> CheckoutError {
    metrics::counter!("checkout_invoices_failed_total", "reason" => failure.code()).increment(1);
    if let Err(e) = creation::mark_failed(&state.pool, payment_id, failure.code(), details).await {
        return CheckoutError::from(e);
    }
    CheckoutError::Provider {
        failure,
        payment_id,
        retry_after: failure.retry_after(error),
    }
}

fn is_payment_link(link: &str) -> bool {
    url::Url::parse(link).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
}
