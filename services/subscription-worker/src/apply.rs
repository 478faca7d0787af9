//! Applying a confirmed invoice to its payment in one transaction: inbox row, payment
//! status, the user's plan and the outbox event commit together or not at all.

use chrono::{DateTime, Utc};
use cryptocloud::Invoice;
use payments::{apply, plan, PaymentStatus};
use sqlx::PgConnection;

use crate::context::Context;
use crate::counters;
use crate::inbox;
use crate::lookup::{check_matches, Expected, Verdict};
use crate::outcome::{Outcome, Reason};

/// One confirmed invoice to apply, under the id of the message (or sweep) that asked.
#[derive(Debug, Clone, Copy)]
pub struct ApplyInput<'a> {
    pub message_id: &'a str,
    /// When webhook-ingest received the postback (`None` for reconciliation).
    pub received_at: Option<DateTime<Utc>>,
    /// CryptoCloud's answer, never the postback's claims.
    pub invoice: &'a Invoice,
}

/// Applies the confirmed invoices of one group in one transaction (group commit): one
/// commit, and so one WAL flush, for all of them; a single delivery is a group of one. One
/// that is not applied (payment not found, mismatch, duplicate) leaves no trace and the
/// others still commit. Any database error abandons the group and applies each as a group
/// of its own; nothing was committed, so nothing is applied twice. Outcomes come in input
/// order.
#[tracing::instrument(skip_all, fields(count = inputs.len()))]
pub async fn apply(ctx: &Context, inputs: &[(ApplyInput<'_>, Verdict)]) -> Vec<Outcome> {
    match apply_group(ctx, inputs).await {
        Ok(outcomes) => outcomes,
        Err(e) if inputs.len() > 1 => {
            tracing::warn!(error = %e, "group commit failed; applying one by one");
            ctx.stats
                .group_fallbacks
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            metrics::counter!(counters::GROUP_FALLBACKS).increment(1);
            let mut outcomes = Vec::with_capacity(inputs.len());
            for input in inputs {
                let outcome = match apply_group(ctx, std::slice::from_ref(input)).await {
                    Ok(mut one) => one.remove(0),
                    Err(e) => Outcome::Retry(e.into()),
                };
                outcomes.push(outcome);
            }
            outcomes
        }
        Err(e) => vec![Outcome::Retry(e.into())],
    }
}

async fn apply_group(
    ctx: &Context,
    inputs: &[(ApplyInput<'_>, Verdict)],
) -> Result<Vec<Outcome>, sqlx::Error> {
    if inputs.is_empty() {
        return Ok(Vec::new());
    }
    // The same order in every group, so two groups claiming the same message ids wait for
    // each other instead of deadlocking; rows are locked up front in one order too.
    let mut order: Vec<usize> = (0..inputs.len()).collect();
    order.sort_by_key(|&i| inputs[i].0.message_id);
    let mut outcomes = vec![Outcome::Duplicate; inputs.len()];
    let mut entries = Vec::with_capacity(inputs.len());
    let mut tx = ctx.pool.begin().await?;
    if inputs.len() > 1 {
        let invoices: Vec<_> = inputs
            .iter()
            .map(|(input, _)| (&input.invoice.uuid, input.invoice.order_id.as_deref()))
            .collect();
        apply::lock_group(&mut tx, &invoices).await?;
    }
    for i in order {
        let (input, verdict) = inputs[i];
        let outcome = apply_in(ctx, &mut tx, input, verdict).await?;
        match inbox_entry(&outcome) {
            Some((payment_id, label)) => entries.push((input.message_id, payment_id, label)),
            // Its own claim is all a message that is not applied has written (see
            // `apply_in`); taking it back leaves the group as if it had never been there.
            // A cheaper way than a savepoint per message: this path is rare.
            None if outcome != Outcome::Duplicate => {
                inbox::unclaim(&mut tx, input.message_id).await?
            }
            None => {}
        }
        outcomes[i] = outcome;
    }
    if entries.is_empty() {
        // Nothing applied: leave no trace, so the messages can be retried or replayed.
        tx.rollback().await?;
        return Ok(outcomes);
    }
    inbox::record(&mut tx, &entries).await?;
    tx.commit().await?;
    let applied: Vec<_> = inputs
        .iter()
        .map(|(input, _)| *input)
        .zip(outcomes.iter().cloned())
        .collect();
    after_commit(ctx, &applied);
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
            tracing::info!(message_id = input.message_id, invoice_id = %input.invoice.uuid, payment_id, user_id, %new_expiry, test_mode = input.invoice.test_mode == Some(true), "payment applied, plan extended");
            counters::record_applied_latency(input.received_at);
            upgraded = true;
        }
    }
    if upgraded {
        ctx.outbox_wake.notify_one();
    }
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
    if !inbox::claim(conn, input.message_id, input.received_at).await? {
        return Ok(Outcome::Duplicate);
    }

    let invoice = input.invoice;
    let payments = apply::lock_for_apply(conn, &invoice.uuid, invoice.order_id.as_deref()).await?;
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
    if payment.status == PaymentStatus::Creating {
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
    if payment.status == PaymentStatus::Completed {
        // Never extend twice, whichever message (or sweep) asks again.
        return Ok(Outcome::AlreadyCompleted {
            payment_id: payment.id,
        });
    }
    // CryptoCloud's invoice, `test_mode` included, is what `payment_data` keeps.
    let payment_data =
        serde_json::to_value(invoice).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    // Logged with the applied payment's own line (`test_mode`), counted here.
    if invoice.test_mode == Some(true) && matches!(verdict, Verdict::Complete | Verdict::Partial) {
        crate::counters::test_invoice("applied");
    }

    match verdict {
        Verdict::Ignore => Ok(Outcome::Ignored {
            invoice_status: invoice.status.to_string(),
        }),
        Verdict::TestRefused => Ok(Outcome::TestRefused {
            invoice_status: invoice.status.to_string(),
        }),
        Verdict::Partial => {
            apply::record_paid(
                conn,
                payment,
                &invoice.uuid,
                &payment_data,
                PaymentStatus::Partial,
            )
            .await?;
            Ok(Outcome::Partial {
                payment_id: payment.id,
            })
        }
        Verdict::Complete => {
            let Some(requests_limit) = ctx.plans.requests_limit(payment.subscription_tier.as_str())
            else {
                return Ok(Outcome::DeadLetter(Reason::UnknownTier(
                    payment.subscription_tier.to_string(),
                )));
            };
            apply::record_paid(
                conn,
                payment,
                &invoice.uuid,
                &payment_data,
                PaymentStatus::Completed,
            )
            .await?;
            let extended = plan::extend(
                conn,
                payment.user_id,
                &payment.subscription_tier,
                payment.subscription_months,
                requests_limit,
                ctx.plans.prices(),
                ctx.grace_days,
            )
            .await?;
            let event = events::SubscriptionUpgraded {
                event_id: event_id(payment.id),
                user_id: payment.user_id.get(),
                payment_id: payment.id,
                invoice_id: invoice.uuid.prefixed(),
                tier: payment.subscription_tier.to_string(),
                months: payment.subscription_months.max(0) as u32,
                new_expiry: Some(events::to_timestamp(extended.expires)),
                occurred_at: Some(events::to_timestamp(Utc::now())),
                renews: extended.renews,
                previous_tier: if extended.previous_tier == payment.subscription_tier {
                    String::new()
                } else {
                    extended.previous_tier.to_string()
                },
                previous_expires_at: extended.previous_expires.map(events::to_timestamp),
            };
            payments::announce::write(
                conn,
                &event.event_id,
                events::ROUTING_KEY_SUBSCRIPTION_UPGRADED,
                &event,
            )
            .await?;
            Ok(Outcome::Applied {
                payment_id: payment.id,
                user_id: payment.user_id.get(),
                new_expiry: extended.expires,
            })
        }
    }
}

/// One upgrade event per payment: a payment completes once, so its event id is stable.
pub fn event_id(payment_id: i64) -> String {
    format!("subscription-upgraded-{payment_id}")
}
