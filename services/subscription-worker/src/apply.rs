//! Applying a confirmed invoice to its payment in one transaction: inbox row, payment
//! status, the user's plan and the outbox event commit together or not at all.

use chrono::{DateTime, Utc};
use cryptocloud::{Invoice, InvoiceId};
use rust_decimal::Decimal;
use sqlx::PgConnection;

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
    let Some(entry) = inbox_entry(&outcome) else {
        let _ = tx.rollback().await;
        return outcome;
    };
    let committed = async {
        record_messages(&mut tx, &[(input.message_id, entry.0, entry.1)]).await?;
        tx.commit().await
    }
    .await;
    if let Err(e) = committed {
        return Outcome::Retry(e.into());
    }
    after_commit(ctx, &[(input, outcome.clone())]);
    outcome
}

/// Applies several confirmed invoices in one transaction (group commit): one commit, and
/// so one WAL flush, for all of them. One that is not applied (payment not found,
/// mismatch, duplicate) leaves no trace and the others still commit. Any database error
/// abandons the group and applies each alone with [`apply`]; nothing was committed, so
/// nothing is applied twice. Outcomes come in input order.
#[tracing::instrument(skip_all, fields(count = inputs.len()))]
pub async fn apply_batch(ctx: &Context, inputs: &[(ApplyInput<'_>, Verdict)]) -> Vec<Outcome> {
    if let [(input, verdict)] = inputs {
        return vec![apply(ctx, *input, *verdict).await];
    }
    match apply_together(ctx, inputs).await {
        Ok(outcomes) => {
            let applied: Vec<_> = inputs
                .iter()
                .map(|(input, _)| *input)
                .zip(outcomes.iter().cloned())
                .collect();
            after_commit(ctx, &applied);
            outcomes
        }
        Err(e) => {
            tracing::warn!(error = %e, "group commit failed; applying one by one");
            let mut outcomes = Vec::with_capacity(inputs.len());
            for (input, verdict) in inputs {
                outcomes.push(apply(ctx, *input, *verdict).await);
            }
            outcomes
        }
    }
}

async fn apply_together(
    ctx: &Context,
    inputs: &[(ApplyInput<'_>, Verdict)],
) -> Result<Vec<Outcome>, sqlx::Error> {
    // The same order in every group, so two groups claiming the same message ids wait for
    // each other instead of deadlocking.
    let mut order: Vec<usize> = (0..inputs.len()).collect();
    order.sort_by_key(|&i| inputs[i].0.message_id);
    let mut outcomes = vec![Outcome::Duplicate; inputs.len()];
    let mut entries = Vec::with_capacity(inputs.len());
    let mut tx = ctx.pool.begin().await?;
    for i in order {
        let (input, verdict) = inputs[i];
        let outcome = apply_in(ctx, &mut tx, input, verdict).await?;
        match inbox_entry(&outcome) {
            Some((payment_id, label)) => entries.push((input.message_id, payment_id, label)),
            // Its own claim is all a message that is not applied has written (see
            // `apply_in`); taking it back leaves the group as if it had never been there.
            // A cheaper way than a savepoint per message: this path is rare.
            None if outcome != Outcome::Duplicate => {
                unclaim_message(&mut tx, input.message_id).await?
            }
            None => {}
        }
        outcomes[i] = outcome;
    }
    if !entries.is_empty() {
        record_messages(&mut tx, &entries).await?;
    }
    tx.commit().await?;
    Ok(outcomes)
}

/// What the inbox row records for an outcome that is committed; `None`: roll it back.
fn inbox_entry(outcome: &Outcome) -> Option<(i64, &'static str)> {
    match outcome {
        Outcome::Applied { payment_id, .. } => Some((*payment_id, "completed")),
        Outcome::Partial { payment_id } => Some((*payment_id, "partial")),
        Outcome::AlreadyCompleted { payment_id } => Some((*payment_id, "already_completed")),
        _ => None,
    }
}

/// Logs and metrics of committed upgrades, and a nudge for the outbox relay.
fn after_commit(ctx: &Context, committed: &[(ApplyInput<'_>, Outcome)]) {
    let mut upgraded = false;
    for (input, outcome) in committed {
        if let Outcome::Applied {
            payment_id,
            user_id,
            new_expiry,
        } = outcome
        {
            tracing::info!(message_id = input.message_id, invoice_id = %input.invoice.uuid, payment_id, user_id, %new_expiry, "payment applied, plan extended");
            stats::record_applied_latency(input.received_at);
            upgraded = true;
        }
    }
    if upgraded {
        ctx.outbox_wake.notify_one();
    }
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

/// Every outcome that is not applied (see [`inbox_entry`]) returns before any write but
/// the claim of the message: group commit relies on it to take that claim back.
async fn apply_in(
    ctx: &Context,
    conn: &mut PgConnection,
    input: ApplyInput<'_>,
    verdict: Verdict,
) -> Result<Outcome, sqlx::Error> {
    // First statement: a concurrent copy of this message waits here for our commit and
    // then finds the row, so a message is applied at most once.
    if !claim_message(conn, input.message_id, input.received_at).await? {
        return Ok(Outcome::Duplicate);
    }

    let invoice = input.invoice;
    let payments = lock_payment(conn, &invoice.uuid, invoice.order_id.as_deref()).await?;
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
            mark_partial(conn, payment.id, &invoice.uuid, &payment_data).await?;
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
            mark_completed(conn, payment.id, &invoice.uuid, &payment_data).await?;
            let new_expiry = extend_plan(
                conn,
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
            insert_outbox_event(conn, &event).await?;
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
#[tracing::instrument(skip(conn))]
async fn claim_message(
    conn: &mut PgConnection,
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
    .fetch_optional(&mut *conn)
    .await?;
    Ok(claimed.is_some())
}

/// Removes this transaction's claim of a message that was not applied after all.
#[tracing::instrument(skip(conn))]
async fn unclaim_message(conn: &mut PgConnection, message_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "DELETE FROM processed_messages WHERE message_id = $1 AND outcome = 'processing'",
        message_id
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Completes the inbox rows with what came of each message, in one statement. It runs
/// last before the commit, so `processed_at` is when the change became final.
#[tracing::instrument(skip_all, fields(count = entries.len()))]
async fn record_messages(
    conn: &mut PgConnection,
    entries: &[(&str, i64, &'static str)],
) -> Result<(), sqlx::Error> {
    let message_ids: Vec<String> = entries.iter().map(|e| e.0.to_string()).collect();
    let payment_ids: Vec<i64> = entries.iter().map(|e| e.1).collect();
    let outcomes: Vec<String> = entries.iter().map(|e| e.2.to_string()).collect();
    sqlx::query!(
        r#"UPDATE processed_messages AS pm
           SET payment_id = r.payment_id, outcome = r.outcome, processed_at = clock_timestamp()
           FROM unnest($1::text[], $2::bigint[], $3::text[]) AS r(message_id, payment_id, outcome)
           WHERE pm.message_id = r.message_id"#,
        &message_ids,
        &payment_ids,
        &outcomes,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Finds and locks the payment by invoice id (stored prefixed; the bare form is accepted
/// too) or by order id (the invoice id may not be stored yet).
#[tracing::instrument(skip(conn))]
async fn lock_payment(
    conn: &mut PgConnection,
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
    .fetch_all(&mut *conn)
    .await
}

#[tracing::instrument(skip(conn, payment_data))]
async fn mark_completed(
    conn: &mut PgConnection,
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
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[tracing::instrument(skip(conn, payment_data))]
async fn mark_partial(
    conn: &mut PgConnection,
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
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Extends the plan in one statement: the row lock serialises two payments of one user,
/// and the second sees the first's expiry, so both periods count.
#[tracing::instrument(skip(conn))]
async fn extend_plan(
    conn: &mut PgConnection,
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
    .fetch_optional(&mut *conn)
    .await?;
    // payments.user_id references users, so the row exists.
    expiry.ok_or(sqlx::Error::RowNotFound)
}

#[tracing::instrument(skip_all, fields(event_id = %event.event_id))]
async fn insert_outbox_event(
    conn: &mut PgConnection,
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
    .execute(&mut *conn)
    .await?;
    Ok(())
}
