//! Operator tools for the dead-letter queue: list what is there, and replay messages onto
//! the work queue once their cause is fixed. Replaying is safe: the inbox recognises a
//! message that was in fact applied.
//!
//! Both walk the queue once (as many messages as it held at the start). Every message taken
//! is first re-published (to the DLQ unchanged, or to the work queue), confirmed, and only
//! then acked, so nothing is lost, and no message collects redeliveries (a quorum queue
//! may drop a message after too many).

use std::time::Duration;

use events::messaging::{attempt_of, carried_headers, header_str, headers, text, Carry};
use lapin::options::{BasicAckOptions, BasicGetOptions};
use lapin::types::FieldTable;
use lapin::BasicProperties;
use platform::broker::Broker;

const PUBLISH_TIMEOUT: Duration = Duration::from_secs(10);

/// One dead-lettered message, as `dlq list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeadLetter {
    pub message_id: Option<String>,
    pub invoice_id: Option<String>,
    pub reason: Option<String>,
    pub reason_code: Option<String>,
    pub dead_lettered_at: Option<String>,
    pub attempts: u32,
    pub bytes: usize,
}

impl DeadLetter {
    fn from_message(properties: &BasicProperties, payload: &[u8]) -> Self {
        let decoded = events::decode::<events::PostbackReceived>(payload).ok();
        let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
        let message_id = properties
            .message_id()
            .as_ref()
            .map(|s| s.to_string())
            .filter(|s| !s.is_empty())
            .or_else(|| decoded.as_ref().and_then(|m| non_empty(&m.message_id)));
        let props = properties.headers();
        Self {
            message_id,
            invoice_id: decoded.as_ref().and_then(|m| non_empty(&m.invoice_id)),
            // Messages the broker dead-lettered itself (delivery limit) carry no reason of ours.
            reason: header_str(props, headers::DEAD_LETTER_REASON).or_else(|| {
                header_str(props, "x-first-death-reason").map(|r| format!("broker: {r}"))
            }),
            reason_code: header_str(props, headers::DEAD_LETTER_REASON_CODE),
            dead_lettered_at: header_str(props, headers::DEAD_LETTERED_AT),
            attempts: attempt_of(properties),
            bytes: payload.len(),
        }
    }
}

/// Which messages `dlq replay` puts back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    All,
    Id(String),
}

/// Lists the dead-letter queue without removing anything.
pub async fn list(broker: &Broker) -> anyhow::Result<Vec<DeadLetter>> {
    let mut seen = Vec::new();
    walk(broker, |entry| {
        seen.push(entry.clone());
        false
    })
    .await?;
    Ok(seen)
}

/// Moves the selected messages back to the work queue (with fresh attempts); returns them.
pub async fn replay(broker: &Broker, selector: &Selector) -> anyhow::Result<Vec<DeadLetter>> {
    let mut replayed = Vec::new();
    walk(broker, |entry| {
        let chosen = match selector {
            Selector::All => true,
            Selector::Id(id) => entry.message_id.as_deref() == Some(id.as_str()),
        };
        if chosen {
            replayed.push(entry.clone());
        }
        chosen
    })
    .await?;
    Ok(replayed)
}

/// Takes each message present at the start once; `replay(entry)` decides whether it goes to
/// the work queue (true) or back to the end of the DLQ (false).
async fn walk(broker: &Broker, mut replay: impl FnMut(&DeadLetter) -> bool) -> anyhow::Result<()> {
    let topology = broker.topology();
    let link = broker
        .link()
        .ok_or_else(|| anyhow::anyhow!("not connected to RabbitMQ"))?;
    let count = broker.queue_len(&topology.dead_letter_queue).await?;
    let channel = link.connection.create_channel().await?;
    for _ in 0..count {
        let Some(message) = channel
            .basic_get(
                topology.dead_letter_queue.as_str().into(),
                BasicGetOptions { no_ack: false },
            )
            .await?
        else {
            break;
        };
        let delivery = &message.delivery;
        let entry = DeadLetter::from_message(&delivery.properties, &delivery.data);
        if replay(&entry) {
            let properties = replay_properties(&delivery.properties);
            broker
                .publish(
                    "",
                    &topology.work_queue,
                    &delivery.data,
                    properties,
                    PUBLISH_TIMEOUT,
                )
                .await?;
        } else {
            broker
                .publish(
                    "",
                    &topology.dead_letter_queue,
                    &delivery.data,
                    delivery.properties.clone(),
                    PUBLISH_TIMEOUT,
                )
                .await?;
        }
        delivery.acker.ack(BasicAckOptions::default()).await?;
    }
    let _ = channel.close(200, "done".into()).await;
    Ok(())
}

/// The original properties without the retry and dead-letter bookkeeping, so the replayed
/// message starts again at attempt 1.
fn replay_properties(properties: &BasicProperties) -> BasicProperties {
    let mut carried = carried_headers(properties, Carry::Fresh);
    carried.insert(
        headers::REPLAYED_AT.into(),
        text(&chrono::Utc::now().to_rfc3339()),
    );
    properties.clone().with_headers(FieldTable::from(carried))
}
