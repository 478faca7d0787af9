//! The checkout flow: validate the order, record the payment, ask CryptoCloud for the
//! invoice, record the outcome. Shared by the JSON API and the dashboard's form.
//!
//! Order of work, so nothing is orphaned: the payment row is committed as `creating` with
//! our `order_id` before CryptoCloud is called with that `order_id`; then it becomes
//! `pending` with the invoice, or `failed` with the reason. A `pending` row always has its
//! invoice (the table's check constraint enforces it too).

use std::time::Duration;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::{
    display_amount, InvalidMonths, InvalidPaymentMethod, Months, OrderId, PaymentMethod, UserId,
};
use crate::idempotency::{self, Begun, IdempotencyError, IdempotencyKey, StoredResponse};
use crate::payments::{self, NewPayment, PaymentRecord};
use crate::plans::{Plan, PlanCatalogue};
use crate::provider::ProviderFailure;
use crate::state::AppState;

/// Body of `POST /api/v1/checkout`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutRequest {
    /// A paid plan from `GET /api/v1/tiers`, e.g. `pro`.
    #[schema(example = "pro")]
    pub tier: String,
    /// Whole months, from 1 to the plan's `max_months`.
    #[schema(value_type = i64, example = 1, minimum = 1)]
    #[serde(deserialize_with = "whole_number")]
    pub months: Option<i64>,
    /// Optional CryptoCloud coin code (e.g. `USDT_TRC20`) to offer on the payment page.
    #[schema(example = "USDT_TRC20")]
    #[serde(default)]
    pub payment_method: Option<String>,
}

/// Any JSON value: an integer is `Some`, anything else (`"3"`, `1.5`, `null`) is `None`, so
/// a bad `months` is reported as `invalid_months` like an out-of-range one. Absent is
/// still a missing field.
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(serde_json::Value::deserialize(d)?.as_i64())
}

/// `201 Created` answer of a checkout.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CheckoutResponse {
    pub payment_id: i64,
    /// CryptoCloud's invoice id, with the `INV-` prefix.
    #[schema(example = "INV-7Q2K9XAB")]
    pub invoice_id: String,
    /// CryptoCloud's payment page: send the payer here.
    pub payment_url: String,
    /// Price × months, exact, as a decimal string.
    #[schema(example = "99.00")]
    pub amount: String,
    #[schema(example = "USD")]
    pub currency: String,
    /// `pending` until the payment is confirmed.
    #[schema(example = "pending")]
    pub status: String,
    /// Our reference, also sent to CryptoCloud.
    #[schema(example = "ord_01939b4f0c5e7d2a9b3c4d5e6f708192")]
    pub order_id: String,
    #[schema(example = "pro")]
    pub tier: String,
    #[schema(example = 1)]
    pub months: i32,
}

impl CheckoutResponse {
    fn from_record(record: &PaymentRecord) -> Self {
        Self {
            payment_id: record.id,
            invoice_id: record.invoice_id.clone().unwrap_or_default(),
            payment_url: record.payment_url.clone().unwrap_or_default(),
            amount: display_amount(record.amount),
            currency: record.currency.clone(),
            status: record.status.clone(),
            order_id: record.order_id.clone(),
            tier: record.subscription_tier.clone(),
            months: record.subscription_months,
        }
    }
}

/// A valid order: a paid plan, months in range, an optional known coin.
#[derive(Debug, Clone)]
pub struct Order {
    pub plan: Plan,
    pub months: Months,
    pub method: Option<PaymentMethod>,
}

impl Order {
    pub fn parse(
        plans: &PlanCatalogue,
        tier: &str,
        months: Option<i64>,
        method: Option<&str>,
    ) -> Result<Self, CheckoutError> {
        let plan = plans
            .get(tier)
            .ok_or_else(|| CheckoutError::UnknownTier(tier.chars().take(64).collect()))?;
        if !plan.is_paid() {
            return Err(CheckoutError::NotForSale(plan.name().to_string()));
        }
        let months = months
            .ok_or(InvalidMonths {
                max: plan.max_months(),
            })
            .and_then(|m| Months::parse(m, plan))?;
        let method = PaymentMethod::parse_optional(method)?;
        Ok(Self {
            plan: plan.clone(),
            months,
            method,
        })
    }

    /// What identifies this order for idempotency.
    pub fn fingerprint(&self) -> String {
        idempotency::fingerprint(&[
            "checkout/v1",
            self.plan.name(),
            &self.months.get().to_string(),
            self.method.as_ref().map_or("", PaymentMethod::as_str),
        ])
    }
}

/// Everything a checkout can fail with; mapped to HTTP in [`ResponseError`] below and to
/// the error page's reason codes in [`CheckoutError::reason`].
#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    #[error("unknown tier {0:?}; see GET /api/v1/tiers")]
    UnknownTier(String),
    #[error("the {0} plan cannot be bought")]
    NotForSale(String),
    #[error(transparent)]
    InvalidMonths(#[from] InvalidMonths),
    #[error(transparent)]
    InvalidPaymentMethod(#[from] InvalidPaymentMethod),
    #[error("Idempotency-Key must be 1 to 255 visible ASCII characters")]
    InvalidIdempotencyKey,
    #[error("this Idempotency-Key was already used with a different request body")]
    IdempotencyKeyReused,
    #[error("a request with this Idempotency-Key is still being processed; retry shortly")]
    IdempotencyKeyInUse,
    #[error("{} (payment {payment_id} was marked failed)", .failure.message())]
    Provider {
        failure: ProviderFailure,
        payment_id: i64,
        retry_after: Option<Duration>,
    },
    #[error("internal error")]
    Unexpected(#[from] anyhow::Error),
}

impl CheckoutError {
    /// The machine-readable code of the error body and of the error page's `reason`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::UnknownTier(_) => "unknown_tier",
            Self::NotForSale(_) => "tier_not_purchasable",
            Self::InvalidMonths(_) => "invalid_months",
            Self::InvalidPaymentMethod(_) => "invalid_payment_method",
            Self::InvalidIdempotencyKey => "invalid_idempotency_key",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::IdempotencyKeyInUse => "idempotency_key_in_use",
            Self::Provider { failure, .. } => failure.code(),
            Self::Unexpected(_) => "internal_error",
        }
    }
}

impl From<sqlx::Error> for CheckoutError {
    fn from(e: sqlx::Error) -> Self {
        Self::Unexpected(anyhow::Error::new(e).context("database"))
    }
}

impl From<IdempotencyError> for CheckoutError {
    fn from(e: IdempotencyError) -> Self {
        match e {
            IdempotencyError::Mismatch => Self::IdempotencyKeyReused,
            IdempotencyError::StillRunning => Self::IdempotencyKeyInUse,
            IdempotencyError::Database(e) => e.into(),
        }
    }
}

impl ResponseError for CheckoutError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::UnknownTier(_)
            | Self::NotForSale(_)
            | Self::InvalidMonths(_)
            | Self::InvalidPaymentMethod(_)
            | Self::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            Self::InvalidIdempotencyKey => StatusCode::BAD_REQUEST,
            Self::IdempotencyKeyInUse => StatusCode::CONFLICT,
            Self::Provider { failure, .. } => failure.status(),
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::Unexpected(e) = self {
            // The detail goes to the log, never to the caller.
            tracing::error!(error = ?e, "checkout failed");
        }
        let mut response =
            platform::http::error_response(self.status_code(), self.reason(), self.to_string());
        let retry_after = match self {
            Self::Provider { retry_after, .. } => *retry_after,
            Self::IdempotencyKeyInUse => Some(Duration::from_secs(1)),
            _ => None,
        };
        if let Some(after) = retry_after {
            if let Ok(value) = HeaderValue::from_str(&after.as_secs().max(1).to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}

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
        Begun::Claimed => {
            let task = tokio::spawn(async move {
                let response = match create_payment_inner(&state, user, &order).await {
                    Ok(response) => response,
                    Err(e) => {
                        if let Err(release) = idempotency::release(&state.pool, user, &key).await {
                            tracing::warn!(error = %release, "could not release an idempotency key; it lapses with its lease");
                        }
                        return Err(e);
                    }
                };
                let stored = StoredResponse {
                    status: StatusCode::CREATED.as_u16(),
                    body: serde_json::to_value(&response).expect("a response serialises"),
                };
                idempotency::complete(&state.pool, user, &key, response.payment_id, &stored)
                    .await?;
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

    let payment_id = payments::insert_creating(
        &state.pool,
        &NewPayment {
            user,
            order_id: &order_id,
            amount,
            currency: order.plan.currency(),
            payment_method: order.method.as_ref(),
            tier: order.plan.name(),
            months: order.months.get(),
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
    let record = payments::mark_pending(
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
    if let Err(e) = payments::mark_failed(&state.pool, payment_id, failure.code(), details).await {
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
