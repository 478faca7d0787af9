//! Processing one postback message: decode, pull-confirm at CryptoCloud, apply. A plain
//! function of its input, so tests can call it without a broker.

use cryptocloud::InvoiceId;
use events::PostbackReceived;

use crate::apply::{apply, ApplyInput};
use crate::confirm::{self, Verdict};
use crate::context::Context;
use crate::outcome::{Outcome, Reason};

/// Processes one `PostbackReceived`. `amqp_message_id` is the delivery's `message_id`
/// property, used when the body carries none.
#[tracing::instrument(skip_all, fields(message_id, invoice_id))]
pub async fn process(ctx: &Context, payload: &[u8], amqp_message_id: Option<&str>) -> Outcome {
    let message: PostbackReceived = match events::decode(payload) {
        Ok(message) => message,
        Err(e) => return Outcome::DeadLetter(Reason::Undecodable(e.to_string())),
    };
    let message_id = match (message.message_id.trim(), amqp_message_id.map(str::trim)) {
        (id, _) if !id.is_empty() => id.to_string(),
        (_, Some(id)) if !id.is_empty() => id.to_string(),
        _ => return Outcome::DeadLetter(Reason::MissingMessageId),
    };
    let span = tracing::Span::current();
    span.record("message_id", message_id.as_str());
    let invoice_id = match InvoiceId::parse(&message.invoice_id) {
        Ok(id) => id,
        Err(e) => return Outcome::DeadLetter(Reason::BadInvoiceId(e.to_string())),
    };
    span.record("invoice_id", tracing::field::display(&invoice_id));

    // A cheap early exit for redeliveries; the transaction checks again, atomically.
    match already_processed(ctx, &message_id).await {
        Ok(true) => return Outcome::Duplicate,
        Ok(false) => {}
        Err(e) => return Outcome::Retry(e.into()),
    }

    let invoice = match confirm::fetch_one(&ctx.cryptocloud, &invoice_id).await {
        Ok(Some(invoice)) => invoice,
        Ok(None) => return Outcome::Retry(Reason::InvoiceUnknown(invoice_id.to_string())),
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
    let received_at = message
        .received_at
        .as_ref()
        .and_then(events::from_timestamp);
    apply(
        ctx,
        ApplyInput {
            message_id: &message_id,
            received_at,
            invoice: &invoice,
        },
        verdict,
    )
    .await
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
