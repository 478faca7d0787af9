//! A payment's first steps: the row is committed `creating` with our order id before
//! CryptoCloud is called with it, then becomes `pending` with the invoice or `failed` with
//! the reason. A `pending` row always has its invoice (a check constraint enforces it too).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::{PgExecutor, PgPool};

use crate::{OrderId, PaymentRecord, PaymentStatus, ProviderFailure, Tier, UserId};

/// A payment about to be asked for.
pub struct NewPayment<'a> {
    pub user: UserId,
    pub order_id: &'a OrderId,
    pub amount: Decimal,
    pub currency: &'a str,
    /// A CryptoCloud coin code the invoice is restricted to; `None`: the payer picks.
    pub payment_method: Option<&'a str>,
    pub tier: &'a Tier,
    pub months: u32,
    /// Stored as `payment_data`; the invoice is added to it (e.g. `{"kind": "renewal"}`).
    pub payment_data: Option<serde_json::Value>,
    /// A renewal: the expiry it renews. At most one live renewal per user and expiry.
    pub renewal_for: Option<DateTime<Utc>>,
}

/// Where invoices are opened: the CryptoCloud client and the shop.
#[derive(Clone, Copy)]
pub struct Invoicing<'a> {
    pub client: &'a cryptocloud::Client,
    pub shop_id: &'a str,
}

/// Why a payment could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// CryptoCloud gave no usable invoice; the payment is now `failed` with the reason.
    #[error("the invoice could not be created: {}", failure.code())]
    Provider {
        payment_id: i64,
        failure: ProviderFailure,
        error: Option<cryptocloud::Error>,
    },
}

/// The one way a payment and its invoice come to be, for checkout and for the worker's
/// renewals alike: the row is committed `creating` with our order id, CryptoCloud is asked
/// for the invoice with it, then the row is `pending` with the invoice (`page_data` and the
/// invoice added to its `payment_data`) or `failed` with the reason. `None`: a renewal of
/// `new.renewal_for` is already open (another worker or an earlier sweep opened it).
#[tracing::instrument(skip_all, fields(user = %new.user, tier = %new.tier, payment_id))]
pub async fn open(
    pool: &PgPool,
    invoicing: Invoicing<'_>,
    new: &NewPayment<'_>,
    page_data: serde_json::Value,
) -> Result<Option<PaymentRecord>, OpenError> {
    let Some(payment_id) = insert_creating(pool, new).await? else {
        return Ok(None);
    };
    tracing::Span::current().record("payment_id", payment_id);
    let request = cryptocloud::CreateInvoice {
        shop_id: invoicing.shop_id.to_string(),
        amount: new.amount,
        currency: Some(new.currency.to_string()),
        order_id: Some(new.order_id.to_string()),
        email: None,
        add_fields: new.payment_method.map(|m| cryptocloud::AddFields {
            available_currencies: Some(vec![m.to_string()]),
            ..Default::default()
        }),
    };
    let (failure, error, details) = match invoicing.client.create_invoice(&request).await {
        Ok(invoice) if is_payment_link(&invoice.link) => {
            let invoice_id = invoice.uuid.prefixed();
            let mut payment_data = serde_json::json!({ "invoice": invoice });
            if let (Some(data), Some(extra)) = (payment_data.as_object_mut(), page_data.as_object())
            {
                data.extend(extra.clone());
            }
            let record = mark_pending(pool, payment_id, &invoice_id, &invoice.link, payment_data)
                .await
                .inspect_err(|e| {
                    // The invoice exists and the row still says `creating` with our order
                    // id, so a postback still finds it by `order_id`.
                    tracing::error!(error = %e, invoice_id, "storing the invoice failed");
                })?;
            tracing::info!(invoice_id, "invoice created");
            return Ok(Some(record));
        }
        Ok(invoice) => (
            ProviderFailure::BadResponse,
            None,
            serde_json::json!({
                "error": {"code": ProviderFailure::BadResponse.code(), "message": "the invoice has no usable payment link"},
                "invoice": invoice,
            }),
        ),
        Err(error) => {
            let failure = ProviderFailure::classify(&error);
            tracing::warn!(%error, reason = failure.code(), "creating the invoice failed");
            let details = serde_json::json!({
                "error": {"code": failure.code(), "message": error.to_string()},
            });
            (failure, Some(error), details)
        }
    };
    mark_failed(pool, payment_id, failure.code(), details).await?;
    Err(OpenError::Provider {
        payment_id,
        failure,
        error,
    })
}

fn is_payment_link(link: &str) -> bool {
    url::Url::parse(link).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
}

/// Inserts the row in `creating`; the user's row is created on their first checkout in the
/// same statement (one round trip, one commit). Returns the new id, or `None` when a live
/// renewal of the same user and expiry exists (the unique index decides, not a check).
#[tracing::instrument(skip_all, fields(order_id = %new.order_id))]
pub async fn insert_creating(
    db: impl PgExecutor<'_>,
    new: &NewPayment<'_>,
) -> sqlx::Result<Option<i64>> {
    let months = i32::try_from(new.months).expect("months are at most 120");
    sqlx::query_scalar!(
        "WITH new_user AS (INSERT INTO users (id) VALUES ($1) ON CONFLICT (id) DO NOTHING) \
         INSERT INTO payments \
            (user_id, order_id, amount, currency, payment_method, status, subscription_tier, \
             subscription_months, payment_data, renewal_for) \
         VALUES ($1, $2, $3, $4, $5, 'creating', $6, $7, $8, $9) \
         ON CONFLICT (user_id, renewal_for) \
            WHERE renewal_for IS NOT NULL \
              AND status IN ('creating', 'pending', 'partial', 'completed') \
         DO NOTHING \
         RETURNING id",
        new.user.get(),
        new.order_id.as_str(),
        new.amount,
        new.currency,
        new.payment_method,
        new.tier.as_str(),
        months,
        new.payment_data,
        new.renewal_for,
    )
    .fetch_optional(db)
    .await
}

/// `creating` → `pending` with the invoice (stored with its `INV-` prefix).
#[tracing::instrument(skip(db, payment_data))]
pub async fn mark_pending(
    db: impl PgExecutor<'_>,
    id: i64,
    invoice_id: &str,
    payment_url: &str,
    payment_data: serde_json::Value,
) -> sqlx::Result<PaymentRecord> {
    sqlx::query_as!(
        PaymentRecord,
        r#"UPDATE payments
           SET status = 'pending', invoice_id = $2, payment_url = $3,
               payment_data = COALESCE(payment_data, '{}'::jsonb) || $4, updated_at = now()
           WHERE id = $1 AND status = ANY($5::text[])
           RETURNING id, user_id AS "user_id: UserId", invoice_id, order_id, amount, currency,
                     payment_method, status AS "status: PaymentStatus",
                     subscription_tier AS "subscription_tier: Tier", subscription_months,
                     payment_url, failure_reason, created_at, updated_at, paid_at"#,
        id,
        invoice_id,
        payment_url,
        payment_data,
        &PaymentStatus::sources_of(PaymentStatus::Pending),
    )
    .fetch_one(db)
    .await
}

/// `creating` → `failed`, keeping the reason code and the details.
#[tracing::instrument(skip(db, details))]
pub async fn mark_failed(
    db: impl PgExecutor<'_>,
    id: i64,
    reason: &str,
    details: serde_json::Value,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE payments \
         SET status = 'failed', failure_reason = $2, \
             payment_data = COALESCE(payment_data, '{}'::jsonb) || $3, updated_at = now() \
         WHERE id = $1 AND status = ANY($4::text[])",
        id,
        reason,
        details,
        &PaymentStatus::sources_of(PaymentStatus::Failed),
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Marks payments stuck in `creating` for `minutes` as `failed` (reason `abandoned`): a
/// checkout crashed between CryptoCloud's answer and its own commit, and its caller never
/// got a payment URL. Safe even if that invoice is paid later: the payment is still found by
/// its order id and completed. Returns how many.
#[tracing::instrument(skip(db))]
pub async fn fail_abandoned(db: impl PgExecutor<'_>, minutes: i32) -> sqlx::Result<u64> {
    let result = sqlx::query!(
        "UPDATE payments SET status = 'failed', failure_reason = 'abandoned', updated_at = now() \
         WHERE status = 'creating' AND created_at < now() - make_interval(mins => $1)",
        minutes
    )
    .execute(db)
    .await?;
    Ok(result.rows_affected())
}
