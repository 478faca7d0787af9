//! Creating one payment and its invoice, shared by the JSON API and the dashboard's form.
//!
//! Order of work, so nothing is orphaned: the payment row is committed as `creating` with
//! our `order_id` before CryptoCloud is called with that `order_id`; then it becomes
//! `pending` with the invoice, or `failed` with the reason (`crates/payments` owns those
//! transitions).

use std::time::Duration;

use ::payments::creation::{self, Invoicing, NewPayment, OpenError};
use actix_web::http::StatusCode;

use super::{CheckoutError, CheckoutResponse, Order};
use crate::domain::{OrderId, PaymentMethod, Tier, UserId};
use crate::idempotency::{self, Begun, IdempotencyKey, StoredResponse};
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
    refuse_other_currency(state, user, order).await?;
    let order_id = OrderId::generate();
    let amount = order.plan.amount_for(order.months.get());

    let tier = Tier::of(&order.plan);
    let new = NewPayment {
        user,
        order_id: &order_id,
        amount,
        currency: order.plan.currency(),
        payment_method: order.method.as_ref().map(PaymentMethod::as_str),
        tier: &tier,
        months: order.months.get(),
        payment_data: None,
        renewal_for: None,
    };
    let page_data = serde_json::json!({
        "success_url": state.base_url.join("/dashboard/payment/success"),
        "fail_url": state.base_url.join("/dashboard/payment/error"),
    });
    let invoicing = Invoicing {
        client: &state.cryptocloud,
        shop_id: &state.shop_id,
    };
    match creation::open(&state.pool, invoicing, &new, page_data).await {
        Ok(Some(record)) => {
            tracing::Span::current().record("payment_id", record.id);
            metrics::counter!("checkout_invoices_created_total", "tier" => order.plan.name().to_string())
                .increment(1);
            Ok(CheckoutResponse::from_record(&record))
        }
        // Only renewals can find themselves already open.
        Ok(None) => Err(CheckoutError::Unexpected(anyhow::anyhow!(
            "a checkout payment conflicted with a renewal"
        ))),
        Err(OpenError::Database(e)) => Err(CheckoutError::from(e)),
        Err(OpenError::Provider {
            payment_id,
            failure,
            error,
        }) => {
            metrics::counter!("checkout_invoices_failed_total", "reason" => failure.code())
                .increment(1);
            Err(CheckoutError::Provider {
                failure,
                payment_id,
                retry_after: failure.retry_after(error.as_ref()),
            })
        }
    }
}

/// A plan change converts the time left at the ratio of monthly prices, which only means
/// something within one currency: a plan in another currency than the running one is
/// refused (409 `plan_currency_mismatch`).
async fn refuse_other_currency(
    state: &AppState,
    user: UserId,
    order: &Order,
) -> Result<(), CheckoutError> {
    // One currency in the catalogue (the usual case): nothing to refuse, no query.
    let wanted = order.plan.currency();
    if state.plans.iter().all(|p| p.currency() == wanted) {
        return Ok(());
    }
    let Some(running) = ::payments::plan::plan_of(&state.pool, user).await? else {
        return Ok(());
    };
    let active = !running.subscription_tier.is_free()
        && running
            .subscription_expires
            .is_some_and(|e| e > chrono::Utc::now());
    let Some(current) = state.plans.get(running.subscription_tier.as_str()) else {
        return Ok(());
    };
    if active && current.currency() != order.plan.currency() {
        return Err(CheckoutError::PlanCurrencyMismatch {
            tier: order.plan.name().to_string(),
            wanted: order.plan.currency().to_string(),
            running: current.currency().to_string(),
        });
    }
    Ok(())
}
