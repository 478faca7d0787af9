//! The one processing pipeline: a group of deliveries (a single delivery is a group of one)
//! is decoded, checked against the inbox, confirmed with one `invoice/merchant/info` call
//! per 100 invoices and applied in one transaction. The consumer runs it on what arrived
//! together; tests run it directly, without a broker, and so prove the production path.

use std::collections::HashSet;

use cryptocloud::InvoiceId;
use events::PostbackReceived;

use crate::apply::{apply, ApplyInput};
use crate::context::Context;
use crate::lookup::{self, Verdict};
use crate::outcome::{Outcome, Reason};

/// One delivery: its body and the `message_id` AMQP property (used when the body has none).
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    pub payload: &'a [u8],
    pub amqp_message_id: Option<&'a str>,
}

impl<'a> Message<'a> {
    pub fn new(payload: &'a [u8], amqp_message_id: Option<&'a str>) -> Self {
        Self {
            payload,
            amqp_message_id,
        }
    }
}

/// What a delivery says, once decoded and checked.
struct Parsed {
    message_id: String,
    invoice_id: InvoiceId,
    received_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Decodes a `PostbackReceived`; an outcome when it can never be applied as it is.
fn parse(message: Message<'_>) -> Result<Parsed, Outcome> {
    let body: PostbackReceived = events::decode(message.payload)
        .map_err(|e| Outcome::DeadLetter(Reason::Undecodable(e.to_string())))?;
    let message_id = match (
        body.message_id.trim(),
        message.amqp_message_id.map(str::trim),
    ) {
        (id, _) if !id.is_empty() => id.to_string(),
        (_, Some(id)) if !id.is_empty() => id.to_string(),
        _ => return Err(Outcome::DeadLetter(Reason::MissingMessageId)),
    };
    let invoice_id = InvoiceId::parse(&body.invoice_id)
        .map_err(|e| Outcome::DeadLetter(Reason::BadInvoiceId(e.to_string())))?;
    let received_at = body.received_at.as_ref().and_then(events::from_timestamp);
    Ok(Parsed {
        message_id,
        invoice_id,
        received_at,
    })
}

/// Processes the deliveries that arrived together. Outcomes come in input order.
#[tracing::instrument(skip_all, fields(count = messages.len()))]
pub async fn process(ctx: &Context, messages: &[Message<'_>]) -> Vec<Outcome> {
    let mut outcomes: Vec<Option<Outcome>> = Vec::with_capacity(messages.len());
    let mut parsed: Vec<(usize, Parsed)> = Vec::new();
    for (i, message) in messages.iter().enumerate() {
        match parse(*message) {
            Ok(p) => {
                outcomes.push(None);
                parsed.push((i, p));
            }
            Err(outcome) => outcomes.push(Some(outcome)),
        }
    }
    let fail_all =
        |outcomes: &mut Vec<Option<Outcome>>, parsed: &[(usize, Parsed)], outcome: Outcome| {
            for (i, _) in parsed {
                outcomes[*i] = Some(outcome.clone());
            }
        };

    // Redeliveries stop here without asking CryptoCloud; the transaction checks again.
    let ids: Vec<String> = parsed.iter().map(|(_, p)| p.message_id.clone()).collect();
    match already_processed(ctx, &ids).await {
        Ok(done) => parsed.retain(|(i, p)| {
            let duplicate = done.contains(&p.message_id);
            if duplicate {
                outcomes[*i] = Some(Outcome::Duplicate);
            }
            !duplicate
        }),
        Err(e) => fail_all(&mut outcomes, &parsed, Outcome::Retry(e.into())),
    }
    if outcomes.iter().all(Option::is_some) {
        return outcomes.into_iter().flatten().collect();
    }

    let mut wanted: Vec<InvoiceId> = parsed.iter().map(|(_, p)| p.invoice_id.clone()).collect();
    wanted.sort_by(|a, b| a.code().cmp(b.code()));
    wanted.dedup();
    let invoices = match lookup::invoices(&ctx.cryptocloud, &wanted).await {
        Ok(invoices) => invoices,
        Err(e) => {
            // Errors are not answers: try again later.
            fail_all(
                &mut outcomes,
                &parsed,
                Outcome::Retry(Reason::Api(e.to_string())),
            );
            return outcomes.into_iter().flatten().collect();
        }
    };

    let mut to_apply: Vec<(usize, ApplyInput<'_>, Verdict)> = Vec::new();
    for (i, p) in &parsed {
        let Some(invoice) = invoices.iter().find(|inv| inv.uuid == p.invoice_id) else {
            outcomes[*i] = Some(Outcome::Retry(Reason::InvoiceUnknown(
                p.invoice_id.to_string(),
            )));
            continue;
        };
        let verdict = ctx.verdict(invoice);
        if verdict == Verdict::Ignore {
            tracing::info!(message_id = p.message_id, status = %invoice.status, "invoice is not paid at CryptoCloud; nothing to do");
            outcomes[*i] = Some(Outcome::Ignored {
                invoice_status: invoice.status.to_string(),
            });
            continue;
        }
        if verdict == Verdict::TestRefused {
            outcomes[*i] = Some(refuse_test_invoice(invoice));
            continue;
        }
        let input = ApplyInput {
            message_id: &p.message_id,
            received_at: p.received_at,
            invoice,
        };
        to_apply.push((*i, input, verdict));
    }
    let inputs: Vec<(ApplyInput<'_>, Verdict)> = to_apply
        .iter()
        .map(|(_, input, verdict)| (*input, *verdict))
        .collect();
    let applied = apply(ctx, &inputs).await;
    for ((i, _, _), outcome) in to_apply.iter().zip(applied) {
        outcomes[*i] = Some(outcome);
    }
    outcomes
        .into_iter()
        .map(|o| o.unwrap_or(Outcome::Retry(Reason::Database("not processed".into()))))
        .collect()
}

/// A paid test-mode invoice under `WORKER_ACCEPT_TEST_INVOICES=false`: logged, counted,
/// acknowledged; the payment stays as it is.
pub fn refuse_test_invoice(invoice: &cryptocloud::Invoice) -> Outcome {
    tracing::warn!(invoice_id = %invoice.uuid, status = %invoice.status, "a test-mode invoice was paid; refused (WORKER_ACCEPT_TEST_INVOICES=false)");
    crate::counters::test_invoice("refused");
    Outcome::TestRefused {
        invoice_status: invoice.status.to_string(),
    }
}

/// The message ids among `message_ids` that the inbox already holds.
#[tracing::instrument(skip_all, fields(count = message_ids.len()))]
async fn already_processed(
    ctx: &Context,
    message_ids: &[String],
) -> Result<HashSet<String>, sqlx::Error> {
    if message_ids.is_empty() {
        return Ok(Default::default());
    }
    let done = sqlx::query_scalar!(
        r#"SELECT message_id FROM processed_messages WHERE message_id = ANY($1::text[])"#,
        message_ids
    )
    .fetch_all(&ctx.pool)
    .await?;
    Ok(done.into_iter().collect())
}
