//! Where a message goes when it is not simply acked: a delay queue for another attempt, or
//! the dead-letter queue with the reason. The copy is published (and confirmed) before the
//! original is acked, so nothing is lost in between.

use std::collections::BTreeMap;
use std::time::Duration;

use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::BasicProperties;
use platform::broker::{Broker, PublishError, Topology};

/// 1-based attempt number of a delivery.
pub const ATTEMPT: &str = "x-attempt";
/// Why the last attempt failed (retries) or why the message was dead-lettered.
pub const LAST_ERROR: &str = "x-last-error";
pub const DEAD_LETTER_REASON: &str = "x-dead-letter-reason";
/// Metric label of the reason, for `dlq list`.
pub const DEAD_LETTER_REASON_CODE: &str = "x-dead-letter-reason-code";
pub const DEAD_LETTERED_AT: &str = "x-dead-lettered-at";
/// The routing key the message first arrived with.
pub const ORIGINAL_ROUTING_KEY: &str = "x-original-routing-key";

const PUBLISH_TIMEOUT: Duration = Duration::from_secs(10);

/// The attempt a delivery is (the first delivery has no header: attempt 1).
pub fn attempt_of(properties: &BasicProperties) -> u32 {
    let Some(headers) = properties.headers() else {
        return 1;
    };
    let value = headers.inner().get(&ShortString::from(ATTEMPT));
    let attempt = match value {
        Some(AMQPValue::LongString(s)) => s.to_string().parse().ok(),
        Some(AMQPValue::ShortString(s)) => s.as_str().parse().ok(),
        Some(AMQPValue::LongUInt(n)) => Some(*n),
        Some(AMQPValue::LongInt(n)) => u32::try_from(*n).ok(),
        Some(AMQPValue::LongLongInt(n)) => u32::try_from(*n).ok(),
        Some(AMQPValue::ShortUInt(n)) => Some(u32::from(*n)),
        _ => None,
    };
    attempt.unwrap_or(1).max(1)
}

/// Publishes the message to the delay queue of `next_attempt - 1`; it comes back to the
/// work queue when its wait is over.
pub async fn publish_retry(
    broker: &Broker,
    topology: &Topology,
    properties: &BasicProperties,
    routing_key: &str,
    payload: &[u8],
    next_attempt: u32,
    reason: &str,
) -> Result<(), PublishError> {
    let mut headers = headers_of(properties, routing_key);
    headers.insert(ATTEMPT.into(), text(&next_attempt.to_string()));
    headers.insert(LAST_ERROR.into(), text(reason));
    let properties = properties.clone().with_headers(FieldTable::from(headers));
    let queue = topology.delay_queue(next_attempt - 1);
    broker
        .publish("", &queue, payload, properties, PUBLISH_TIMEOUT)
        .await
}

/// Publishes the message to the dead-letter queue with the reason.
pub async fn publish_dead_letter(
    broker: &Broker,
    topology: &Topology,
    properties: &BasicProperties,
    routing_key: &str,
    payload: &[u8],
    reason: &str,
    reason_code: &str,
) -> Result<(), PublishError> {
    let mut headers = headers_of(properties, routing_key);
    headers.insert(DEAD_LETTER_REASON.into(), text(reason));
    headers.insert(DEAD_LETTER_REASON_CODE.into(), text(reason_code));
    headers.insert(
        DEAD_LETTERED_AT.into(),
        text(&chrono::Utc::now().to_rfc3339()),
    );
    let properties = properties.clone().with_headers(FieldTable::from(headers));
    broker
        .publish(
            "",
            &topology.dead_letter_queue,
            payload,
            properties,
            PUBLISH_TIMEOUT,
        )
        .await
}

/// The message's headers, with the first routing key remembered. The broker's own
/// `x-death` bookkeeping is dropped: it only grows with every pass through a delay queue.
fn headers_of(properties: &BasicProperties, routing_key: &str) -> BTreeMap<ShortString, AMQPValue> {
    let mut headers = properties
        .headers()
        .as_ref()
        .map(|h| h.inner().clone())
        .unwrap_or_default();
    headers.retain(|k, _| {
        !k.as_str().starts_with("x-death") && !k.as_str().starts_with("x-first-death")
    });
    headers
        .entry(ORIGINAL_ROUTING_KEY.into())
        .or_insert_with(|| text(routing_key));
    headers
}

fn text(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_attempt_is_read_from_any_integer_or_text_header() {
        assert_eq!(attempt_of(&BasicProperties::default()), 1);
        for value in [
            text("3"),
            AMQPValue::LongUInt(3),
            AMQPValue::LongLongInt(3),
            AMQPValue::ShortUInt(3),
        ] {
            let mut headers = FieldTable::default();
            headers.insert(ATTEMPT.into(), value);
            assert_eq!(
                attempt_of(&BasicProperties::default().with_headers(headers)),
                3
            );
        }
        let mut headers = FieldTable::default();
        headers.insert(ATTEMPT.into(), text("garbage"));
        assert_eq!(
            attempt_of(&BasicProperties::default().with_headers(headers)),
            1
        );
    }

    #[test]
    fn the_first_routing_key_is_kept_and_death_headers_dropped() {
        let mut headers = FieldTable::default();
        headers.insert("x-death".into(), AMQPValue::LongUInt(1));
        headers.insert("keep".into(), text("me"));
        let props = BasicProperties::default().with_headers(headers);
        let first = headers_of(&props, "postback.cryptocloud");
        assert!(!first.contains_key(&ShortString::from("x-death")));
        assert!(first.contains_key(&ShortString::from("keep")));
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
