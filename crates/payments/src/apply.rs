//! What the worker's exactly-once transaction does to a payment: find and lock it by
//! invoice or order id, then complete it or record a partial payment. The caller owns the
//! transaction; these only run its statements.

use cryptocloud::InvoiceId;
use rust_decimal::Decimal;
use sqlx::PgConnection;

use crate::announce::{self, PaymentFacts};
use crate::{PaymentStatus, Tier, UserId};

/// The payment row as the transaction locked it.
#[derive(Debug, Clone)]
pub struct LockedPayment {
    pub id: i64,
    pub user_id: UserId,
    pub invoice_id: Option<String>,
    pub order_id: String,
    pub amount: Decimal,
    pub currency: String,
    pub status: PaymentStatus,
    pub subscription_tier: Tier,
    pub subscription_months: i32,
}

/// Locks, before anything else in a group's transaction, every user and then every payment
/// the group's invoices can touch, each in id order. Every group takes its locks in this
/// one order (users, then payments), so two groups over the same rows wait for each other
/// instead of deadlocking, whatever order their messages came in.
#[tracing::instrument(skip_all, fields(count = invoices.len()))]
pub async fn lock_group(
    conn: &mut PgConnection,
    invoices: &[(&InvoiceId, Option<&str>)],
) -> sqlx::Result<()> {
    let forms: Vec<String> = invoices
        .iter()
        .flat_map(|(id, _)| [id.prefixed(), id.code().to_string()])
        .collect();
    let orders: Vec<String> = invoices
        .iter()
        .filter_map(|(_, order)| order.map(str::to_string))
        .collect();
    sqlx::query!(
        r#"SELECT u.id FROM users u
           WHERE u.id IN (SELECT user_id FROM payments
                          WHERE invoice_id = ANY($1::text[]) OR order_id = ANY($2::text[]))
           ORDER BY u.id
           FOR UPDATE"#,
        &forms,
        &orders,
    )
    .fetch_all(&mut *conn)
    .await?;
    sqlx::query!(
        r#"SELECT id FROM payments
           WHERE invoice_id = ANY($1::text[]) OR order_id = ANY($2::text[])
           ORDER BY id
           FOR UPDATE"#,
        &forms,
        &orders,
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(())
}

/// Finds and locks the payments with this invoice id (stored prefixed; the bare form is
/// accepted too) or this order id (the invoice id may not be stored yet); at most two, so
/// the caller can tell when the two ids name different payments.
#[tracing::instrument(skip(conn))]
pub async fn lock_for_apply(
    conn: &mut PgConnection,
    invoice_id: &InvoiceId,
    order_id: Option<&str>,
) -> sqlx::Result<Vec<LockedPayment>> {
    let forms = vec![invoice_id.prefixed(), invoice_id.code().to_string()];
    sqlx::query_as!(
        LockedPayment,
        r#"SELECT id, user_id AS "user_id: UserId", invoice_id, order_id, amount, currency,
                  status AS "status: PaymentStatus",
                  subscription_tier AS "subscription_tier: Tier", subscription_months
           FROM payments
           WHERE invoice_id = ANY($1::text[]) OR order_id = $2
           ORDER BY id
           LIMIT 2
           FOR UPDATE"#,
        &forms,
        order_id,
    )
    .fetch_all(&mut *conn)
    .await
}

/// → `completed` or `partial` (`to`) with CryptoCloud's invoice as `payment_data`; false
/// when the state machine does not allow it (already completed, or still `creating`).
/// Completing also stamps `paid_at` and clears a failure reason. A change writes its
/// `payment.completed`/`payment.partial` event (once per payment and status).
#[tracing::instrument(skip(conn, payment_data))]
pub async fn record_paid(
    conn: &mut PgConnection,
    payment: &LockedPayment,
    invoice_id: &InvoiceId,
    payment_data: &serde_json::Value,
    to: PaymentStatus,
) -> sqlx::Result<bool> {
    debug_assert!(matches!(
        to,
        PaymentStatus::Completed | PaymentStatus::Partial
    ));
    let completed = to == PaymentStatus::Completed;
    let done = sqlx::query!(
        r#"UPDATE payments
           SET status = $4, invoice_id = COALESCE(invoice_id, $2),
               payment_data = COALESCE(payment_data, '{}'::jsonb) || $3,
               paid_at = CASE WHEN $5 THEN now() ELSE paid_at END,
               failure_reason = CASE WHEN $5 THEN NULL ELSE failure_reason END,
               updated_at = now()
           WHERE id = $1 AND status = ANY($6::text[])"#,
        payment.id,
        invoice_id.prefixed(),
        payment_data,
        to.as_str(),
        completed,
        &PaymentStatus::sources_of(to),
    )
    .execute(&mut *conn)
    .await?;
    let changed = done.rows_affected() == 1;
    if changed {
        let invoice = invoice_id.prefixed();
        let facts = PaymentFacts {
            payment_id: payment.id,
            user_id: payment.user_id,
            invoice_id: Some(payment.invoice_id.as_deref().unwrap_or(&invoice)),
            order_id: &payment.order_id,
            amount: payment.amount,
            currency: &payment.currency,
            tier: &payment.subscription_tier,
            months: payment.subscription_months,
        };
        announce::payment(conn, to, facts).await?;
    }
    Ok(changed)
}
