//! What the payment endpoints answer: one payment, a page of them, and the paging query.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::domain::{display_amount, PaymentRecord};

pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;
/// Deep offsets are slow; past this, use the cursor.
pub const MAX_PAGE: u32 = 1000;

/// One payment.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PaymentView {
    pub payment_id: i64,
    #[schema(example = "ord_01939b4f0c5e7d2a9b3c4d5e6f708192")]
    pub order_id: String,
    /// With the `INV-` prefix; null until CryptoCloud created the invoice.
    #[schema(example = "INV-7Q2K9XAB")]
    pub invoice_id: Option<String>,
    /// Decimal string.
    #[schema(example = "99.00")]
    pub amount: String,
    #[schema(example = "USD")]
    pub currency: String,
    #[schema(example = "USDT_TRC20")]
    pub payment_method: Option<String>,
    /// `creating`, `pending`, `completed`, `partial`, `canceled`, `expired` or `failed`.
    #[schema(example = "pending")]
    pub status: String,
    #[schema(example = "pro")]
    pub tier: String,
    #[schema(example = 1)]
    pub months: i32,
    pub payment_url: Option<String>,
    /// Why a `failed` payment failed, e.g. `provider_timeout`.
    pub failure_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
}

impl From<&PaymentRecord> for PaymentView {
    fn from(r: &PaymentRecord) -> Self {
        Self {
            payment_id: r.id,
            order_id: r.order_id.clone(),
            invoice_id: r.invoice_id.clone(),
            amount: display_amount(r.amount),
            currency: r.currency.clone(),
            payment_method: r.payment_method.clone(),
            status: r.status.to_string(),
            tier: r.subscription_tier.to_string(),
            months: r.subscription_months,
            payment_url: r.payment_url.clone(),
            failure_reason: r.failure_reason.clone(),
            created_at: r.created_at,
            updated_at: r.updated_at,
            paid_at: r.paid_at,
        }
    }
}

/// A page of history, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PaymentList {
    pub items: Vec<PaymentView>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
    /// The page number, when paging by `page`.
    pub page: Option<u32>,
    pub limit: u32,
}

/// Paging: either `cursor` (from `next_cursor`) or `page` (1-based), with `limit`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// 1 to 100, default 20.
    pub limit: Option<u32>,
    /// Opaque, from the previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// 1 to 1000; not together with `cursor`.
    pub page: Option<u32>,
}
