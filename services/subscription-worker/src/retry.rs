//! Where a message goes when it is not simply acked: a delay queue for another attempt, or
//! the dead-letter queue with the reason. The copy is published (and confirmed) before the
//! original is acked, so nothing is lost in between.

use std::collections::BTreeMap;
use std::time::Duration;

use events::messaging::headers::{
    ATTEMPT, ATTEMPTS_SPENT, DEAD_LETTERED_AT, DEAD_LETTER_REASON, DEAD_LETTER_REASON_CODE,
    LAST_ERROR, ORIGINAL_ROUTING_KEY, REDELIVERIES,
};
use events::messaging::{carried_headers, text, Carry};
use lapin::message::Delivery;
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::BasicProperties;
use platform::broker::{Broker, PublishError, Topology};

const PUBLISH_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a delivery goes instead of being simply acked.
#[derive(Debug, Clone, Copy)]
pub enum Move<'a> {
    /// To the delay queue of `next_attempt - 1`; it comes back to the work queue after.
    /// `spent`: attempts that used the budget so far.
    Retry {
        next_attempt: u32,
        spent: u32,
        reason: &'a str,
    },
    /// To the dead-letter queue, with the reason for people and as a metric label.
    DeadLetter { reason: &'a str, code: &'a str },
    /// Back to the work queue as a fresh copy (its delivery count starts again), the
    /// returns so far carried in a header; attempts are unchanged.
    Refresh { redeliveries: u32 },
}

/// Publishes a copy of the delivery where `to` says, confirmed by the broker.
pub async fn forward(
    broker: &Broker,
    topology: &Topology,
    delivery: &Delivery,
    to: Move<'_>,
) -> Result<(), PublishError> {
    let mut headers = headers_of(&delivery.properties, delivery.routing_key.as_str());
    let queue = match to {
        Move::Retry {
            next_attempt,
            spent,
            reason,
        } => {
            headers.insert(ATTEMPT.into(), text(&next_attempt.to_string()));
            headers.insert(ATTEMPTS_SPENT.into(), text(&spent.to_string()));
            headers.insert(LAST_ERROR.into(), text(reason));
            topology.delay_queue(next_attempt - 1)
        }
        Move::DeadLetter { reason, code } => {
            headers.insert(DEAD_LETTER_REASON.into(), text(reason));
            headers.insert(DEAD_LETTER_REASON_CODE.into(), text(code));
            headers.insert(
                DEAD_LETTERED_AT.into(),
                text(&chrono::Utc::now().to_rfc3339()),
            );
            topology.dead_letter_queue.clone()
        }
        Move::Refresh { redeliveries } => {
            headers.insert(REDELIVERIES.into(), text(&redeliveries.to_string()));
            topology.work_queue.clone()
        }
    };
    let properties = delivery
        .properties
        .clone()
        .with_headers(FieldTable::from(headers));
    broker
        .publish("", &queue, &delivery.data, properties, PUBLISH_TIMEOUT)
        .await
}

/// The message's headers for another pass, with the first routing key remembered.
fn headers_of(properties: &BasicProperties, routing_key: &str) -> BTreeMap<ShortString, AMQPValue> {
    let mut headers = carried_headers(properties, Carry::Retry);
    headers
        .entry(ORIGINAL_ROUTING_KEY.into())
        .or_insert_with(|| text(routing_key));
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_routing_key_is_kept() {
        let first = headers_of(&BasicProperties::default(), "postback.cryptocloud");
        let again = headers_of(
            &BasicProperties::default().with_headers(FieldTable::from(first)),
            "work",
        );
        assert_eq!(
            again.get(&ShortString::from(ORIGINAL_ROUTING_KEY)),
            Some(&text("postback.cryptocloud"))
        );
    }
}
