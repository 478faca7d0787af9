//! What a checkout asks for and answers: the request body, the validated order and the
//! `201` answer.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::CheckoutError;
use crate::domain::{display_amount, InvalidMonths, Months, PaymentMethod, PaymentRecord};
use crate::idempotency;
use crate::plans::{Plan, PlanCatalogue};

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
    pub(crate) fn from_record(record: &PaymentRecord) -> Self {
        Self {
            payment_id: record.id,
            invoice_id: record.invoice_id.clone().unwrap_or_default(),
            payment_url: record.payment_url.clone().unwrap_or_default(),
            amount: display_amount(record.amount),
            currency: record.currency.clone(),
            status: record.status.to_string(),
            order_id: record.order_id.clone(),
            tier: record.subscription_tier.to_string(),
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
