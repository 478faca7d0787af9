//! Processing one postback message: decode, pull-confirm at CryptoCloud, apply. A plain
//! function of its input, so tests can call it without a broker.

use cryptocloud::InvoiceId;
use events::PostbackReceived;

use crate::apply::{apply, apply_batch, ApplyInput};
use crate::confirm::{self, Verdict};
use crate::context::Context;
use crate::outcome::{Outcome, Reason};

/// What a delivery says, once decoded and checked.
struct Parsed {
    message_id: String,
    invoice_id: InvoiceId,
    received_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Decodes a `PostbackReceived`; an outcome when it can never be applied as it is.
/// `amqp_message_id` is the delivery's `message_id` property, used when the body has none.
fn parse(payload: &[u8], amqp_message_id: Option<&str>) -> Result<Parsed, Outcome> {
    let message: PostbackReceived = events::decode(payload)
        .map_err(|e| Outcome::DeadLetter(Reason::Undecodable(e.to_string())))?;
    let message_id = match (message.message_id.trim(), amqp_message_id.map(str::trim)) {
        (id, _) if !id.is_empty() => id.to_string(),
        (_, Some(id)) if !id.is_empty() => id.to_string(),
        _ => return Err(Outcome::DeadLetter(Reason::MissingMessageId)),
    };
    let invoice_id = InvoiceId::parse(&message.invoice_id)
        .map_err(|e| Outcome::DeadLetter(Reason::BadInvoiceId(e.to_string())))?;
    let received_at = message
        .received_at
        .as_ref()
        .and_then(events::from_timestamp);
    Ok(Parsed {
        message_id,
        invoice_id,
        received_at,
    })
}

/// Processes one `PostbackReceived`. `amqp_message_id` is the delivery's `message_id`
/// property, used when the body carries none.
#[tracing::instrument(skip_all, fields(message_id, invoice_id))]
pub async fn process(ctx: &Context, payload: &[u8], amqp_message_id: Option<&str>) -> Outcome {
    let parsed = match parse(payload, amqp_message_id) {
        Ok(parsed) => parsed,
        Err(outcome) => return outcome,
    };
    let span = tracing::Span::current();
    span.record("message_id", parsed.message_id.as_str());
    span.record("invoice_id", tracing::field::display(&parsed.invoice_id));

    // A cheap early exit for redeliveries; the transaction checks again, atomically.
    match already_processed(ctx, &parsed.message_id).await {
        Ok(true) => return Outcome::Duplicate,
        Ok(false) => {}
        Err(e) => return Outcome::Retry(e.into()),
    }

    let invoice = match confirm::fetch_one(&ctx.cryptocloud, &parsed.invoice_id).await {
        Ok(Some(invoice)) => invoice,
        Ok(None) => return Outcome::Retry(Reason::InvoiceUnknown(parsed.invoice_id.to_string())),
        // Errors are not answers: try again later.
        Err(e) => return Outcome::Retry(Reason::Api(e.to_string())),
    };
    let verdict = confirm::verdict(&invoice.status);
    if verdict == Verdict::Ignore {
        tracing::info!(status = %invoice.status, "invoice is not paid at CryptoCloud; nothing to do");
        return Outcome::Ignored {
            invoice_status: invoice.status.to_string(),
        };
    }
    apply(
        ctx,
        ApplyInput {
            message_id: &parsed.message_id,
            received_at: parsed.received_at,
            invoice: &invoice,
        },
        verdict,
    )
    .await
}

/// Processes several deliveries together, each as [`process`] would, with one inbox look-up,
/// one `invoice/merchant/info` call per 100 invoices and one transaction for all that are
/// applied. Outcomes come in input order.
#[tracing::instrument(skip_all, fields(count = messages.len()))]
pub async fn process_batch(ctx: &Context, messages: &[(&[u8], Option<&str>)]) -> Vec<Outcome> {
    let mut outcomes: Vec<Option<Outcome>> = Vec::with_capacity(messages.len());
    let mut parsed: Vec<(usize, Parsed)> = Vec::new();
    for (i, (payload, amqp_message_id)) in messages.iter().enumerate() {
        match parse(payload, *amqp_message_id) {
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
    match already_processed_many(ctx, &ids).await {
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
    let invoices = match confirm::fetch_many(&ctx.cryptocloud, &wanted).await {
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
        let verdict = confirm::verdict(&invoice.status);
        if verdict == Verdict::Ignore {
            tracing::info!(message_id = p.message_id, status = %invoice.status, "invoice is not paid at CryptoCloud; nothing to do");
            outcomes[*i] = Some(Outcome::Ignored {
                invoice_status: invoice.status.to_string(),
            });
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
    let applied = apply_batch(ctx, &inputs).await;
    for ((i, _, _), outcome) in to_apply.iter().zip(applied) {
        outcomes[*i] = Some(outcome);
    }
    outcomes
        .into_iter()
        .map(|o| o.unwrap_or(Outcome::Retry(Reason::Database("not processed".into()))))
        .collect()
}

#[tracing::instrument(skip(ctx))]
async fn already_processed(ctx: &Context, message_id: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM processed_messages WHERE message_id = $1) AS "exists!""#,
        message_id
    )
    .fetch_one(&ctx.pool)
    .await
}

#[tracing::instrument(skip_all, fields(count = message_ids.len()))]
async fn already_processed_many(
    ctx: &Context,
    message_ids: &[String],
) -> Result<std::collections::HashSet<String>, sqlx::Error> {
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
