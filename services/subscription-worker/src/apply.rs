//! Applying a confirmed invoice to its payment in one transaction: inbox row, payment
//! status, the user's plan and the outbox event commit together or not at all.

use chrono::{DateTime, Utc};
use cryptocloud::{Invoice, InvoiceId};
use rust_decimal::Decimal;
use sqlx::{Postgres, Transaction};

use crate::confirm::{check_matches, Expected, Verdict};
use crate::context::Context;
use crate::outcome::{Outcome, Reason};
use crate::stats;

/// One confirmed invoice to apply, under the id of the message (or sweep) that asked.
#[derive(Debug, Clone, Copy)]
pub struct ApplyInput<'a> {
    pub message_id: &'a str,
    /// When webhook-ingest received the postback (`None` for reconciliation).
    pub received_at: Option<DateTime<Utc>>,
    /// CryptoCloud's answer, never the postback's claims.
    pub invoice: &'a Invoice,
}

/// Applies `verdict` (complete or partial) for the invoice. Every error rolls back.
#[tracing::instrument(skip_all, fields(message_id = input.message_id, invoice_id = %input.invoice.uuid))]
pub async fn apply(ctx: &Context, input: ApplyInput<'_>, verdict: Verdict) -> Outcome {
    let mut tx = match ctx.pool.begin().await {
        Ok(tx) => tx,
        Err(e) => return Outcome::Retry(e.into()),
    };
    let outcome = match apply_in(ctx, &mut tx, input, verdict).await {
        Ok(outcome) => outcome,
        Err(e) => return Outcome::Retry(e.into()),
    };
    // Only an applied change is committed; anything else leaves no trace, so the message
    // can be retried or replayed later.
    let keep = matches!(
        outcome,
        Outcome::Applied { .. } | Outcome::Partial { .. } | Outcome::AlreadyCompleted { .. }
    );
    if !keep {
        let _ = tx.rollback().await;
        return outcome;
    }
    if let Err(e) = tx.commit().await {
        return Outcome::Retry(e.into());
    }
    if let Outcome::Applied {
        payment_id,
        user_id,
        new_expiry,
    } = &outcome
    {
        tracing::info!(payment_id, user_id, %new_expiry, "payment applied, plan extended");
        stats::record_applied_latency(input.received_at);
        ctx.outbox_wake.notify_one();
    }
    outcome
}

/// The payment row as the transaction locked it.
struct LockedPayment {
    id: i64,
    user_id: i64,
    invoice_id: Option<String>,
    order_id: String,
    amount: Decimal,
    currency: String,
    status: String,
    subscription_tier: String,
    subscription_months: i32,
}

async fn apply_in(
    ctx: &Context,
    tx: &mut Transaction<'static, Postgres>,
    input: ApplyInput<'_>,
    verdict: Verdict,
) -> Result<Outcome, sqlx::Error> {
    // First statement: a concurrent copy of this message waits here for our commit and
    // then finds the row, so a message is applied at most once.
    if !claim_message(tx, input.message_id, input.received_at).await? {
        return Ok(Outcome::Duplicate);
    }

    let invoice = input.invoice;
    let payments = lock_payment(tx, &invoice.uuid, invoice.order_id.as_deref()).await?;
    let payment = match payments.as_slice() {
        [] => {
            return Ok(Outcome::Retry(Reason::PaymentNotFound(
                invoice.uuid.to_string(),
            )))
        }
        [one] => one,
        [..] => {
            return Ok(Outcome::DeadLetter(Reason::Mismatch(
                "the invoice id and the order id name different payments".to_string(),
            )))
        }
    };
    if payment.status == "creating" {
        // Checkout is between CryptoCloud's answer and its own commit.
        return Ok(Outcome::Retry(Reason::PaymentBeingCreated(payment.id)));
    }
    let expected = Expected {
        invoice_id: payment.invoice_id.as_deref(),
        order_id: &payment.order_id,
        amount: payment.amount,
        currency: &payment.currency,
    };
    if let Err(mismatch) = check_matches(&expected, invoice) {
        tracing::error!(payment_id = payment.id, %mismatch, "CryptoCloud's invoice does not match the payment");
        return Ok(Outcome::DeadLetter(Reason::Mismatch(mismatch)));
    }
    if payment.status == "completed" {
        // Never extend twice, whichever message (or sweep) asks again.
        record_message(tx, input.message_id, payment.id, "already_completed").await?;
        return Ok(Outcome::AlreadyCompleted {
            payment_id: payment.id,
        });
    }
    let payment_data =
        serde_json::to_value(invoice).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;

    match verdict {
        Verdict::Ignore => Ok(Outcome::Ignored {
            invoice_status: invoice.status.to_string(),
        }),
        Verdict::Partial => {
            mark_partial(tx, payment.id, &invoice.uuid, &payment_data).await?;
            record_message(tx, input.message_id, payment.id, "partial").await?;
            Ok(Outcome::Partial {
                payment_id: payment.id,
            })
        }
        Verdict::Complete => {
            let Some(requests_limit) = ctx.plans.requests_limit(&payment.subscription_tier) else {
                return Ok(Outcome::DeadLetter(Reason::UnknownTier(
                    payment.subscription_tier.clone(),
                )));
            };
            mark_completed(tx, payment.id, &invoice.uuid, &payment_data).await?;
            let new_expiry = extend_plan(
                tx,
                payment.user_id,
                &payment.subscription_tier,
                payment.subscription_months,
                requests_limit,
            )
            .await?;
            let event = events::SubscriptionUpgraded {
                event_id: event_id(payment.id),
                user_id: payment.user_id,
                payment_id: payment.id,
                invoice_id: invoice.uuid.prefixed(),
                tier: payment.subscription_tier.clone(),
                months: payment.subscription_months.max(0) as u32,
                new_expiry: Some(events::to_timestamp(new_expiry)),
                occurred_at: Some(events::to_timestamp(Utc::now())),
            };
            insert_outbox_event(tx, &event).await?;
            record_message(tx, input.message_id, payment.id, "completed").await?;
            Ok(Outcome::Applied {
                payment_id: payment.id,
                user_id: payment.user_id,
                new_expiry,
            })
        }
    }
}

/// One upgrade event per payment: a payment completes once, so its event id is stable.
pub fn event_id(payment_id: i64) -> String {
    format!("subscription-upgraded-{payment_id}")
}

/// Inserts the inbox row; false when the message id is already there.
#[tracing::instrument(skip(tx))]
async fn claim_message(
    tx: &mut Transaction<'static, Postgres>,
    message_id: &str,
    received_at: Option<DateTime<Utc>>,
) -> Result<bool, sqlx::Error> {
    let claimed = sqlx::query_scalar!(
        r#"INSERT INTO processed_messages (message_id, outcome, received_at)
           VALUES ($1, 'processing', $2)
           ON CONFLICT (message_id) DO NOTHING
           RETURNING message_id"#,
        message_id,
        received_at,
    )
    .fetch_optional(&mut **tx)
    .await?;
    Ok(claimed.is_some())
}

/// Completes the inbox row with what came of the message.
#[tracing::instrument(skip(tx))]
async fn record_message(
    tx: &mut Transaction<'static, Postgres>,
    message_id: &str,
    payment_id: i64,
    outcome: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"UPDATE processed_messages
           SET payment_id = $2, outcome = $3, processed_at = clock_timestamp()
           WHERE message_id = $1"#,
        message_id,
        payment_id,
        outcome,
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Finds and locks the payment by invoice id (stored prefixed; the bare form is accepted
/// too) or by order id (the invoice id may not be stored yet).
#[tracing::instrument(skip(tx))]
async fn lock_payment(
    tx: &mut Transaction<'static, Postgres>,
    invoice_id: &InvoiceId,
    order_id: Option<&str>,
) -> Result<Vec<LockedPayment>, sqlx::Error> {
    let forms = vec![invoice_id.prefixed(), invoice_id.code().to_string()];
    sqlx::query_as!(
        LockedPayment,
        r#"SELECT id, user_id, invoice_id, order_id, amount, currency, status,
                  subscription_tier, subscription_months
           FROM payments
           WHERE invoice_id = ANY($1::text[]) OR order_id = $2
           ORDER BY id
           LIMIT 2
           FOR UPDATE"#,
        &forms,
        order_id,
    )
    .fetch_all(&mut **tx)
    .await
}

#[tracing::instrument(skip(tx, payment_data))]
async fn mark_completed(
    tx: &mut Transaction<'static, Postgres>,
    payment_id: i64,
    invoice_id: &InvoiceId,
    payment_data: &serde_json::Value,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"UPDATE payments
           SET status = 'completed', invoice_id = COALESCE(invoice_id, $2), paid_at = now(),
               payment_data = $3, failure_reason = NULL, updated_at = now()
           WHERE id = $1 AND status <> 'completed'"#,
        payment_id,
        invoice_id.prefixed(),
        payment_data,
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[tracing::instrument(skip(tx, payment_data))]
async fn mark_partial(
    tx: &mut Transaction<'static, Postgres>,
    payment_id: i64,
    invoice_id: &InvoiceId,
    payment_data: &serde_json::Value,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"UPDATE payments
           SET status = 'partial', invoice_id = COALESCE(invoice_id, $2),
               payment_data = $3, updated_at = now()
           WHERE id = $1 AND status <> 'completed'"#,
        payment_id,
        invoice_id.prefixed(),
        payment_data,
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Extends the plan in one statement: the row lock serialises two payments of one user,
/// and the second sees the first's expiry, so both periods count.
#[tracing::instrument(skip(tx))]
async fn extend_plan(
    tx: &mut Transaction<'static, Postgres>,
    user_id: i64,
    tier: &str,
    months: i32,
    requests_limit: i32,
) -> Result<DateTime<Utc>, sqlx::Error> {
    let expiry = sqlx::query_scalar!(
        r#"UPDATE users
           SET subscription_tier = $2,
               -- Calendar months counted in UTC, whatever the session's time zone.
               subscription_expires =
                   (GREATEST(now(), COALESCE(subscription_expires, now())) AT TIME ZONE 'UTC'
                    + make_interval(months => $3)) AT TIME ZONE 'UTC',
               requests_limit = $4,
               updated_at = now()
           WHERE id = $1
           RETURNING subscription_expires AS "expires!""#,
        user_id,
        tier,
        months,
        requests_limit,
    )
    .fetch_optional(&mut **tx)
    .await?;
    // payments.user_id references users, so the row exists.
    expiry.ok_or(sqlx::Error::RowNotFound)
}

#[tracing::instrument(skip_all, fields(event_id = %event.event_id))]
async fn insert_outbox_event(
    tx: &mut Transaction<'static, Postgres>,
    event: &events::SubscriptionUpgraded,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"INSERT INTO outbox_events (event_id, routing_key, payload)
           VALUES ($1, $2, $3)
           ON CONFLICT (event_id) DO NOTHING"#,
        event.event_id,
        events::ROUTING_KEY_SUBSCRIPTION_UPGRADED,
        events::encode(event),
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}
