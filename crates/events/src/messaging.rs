//! The messaging contract, in one place: the exchange, the worker's queue and its
//! bindings, the routing keys, the retry schedule, and the headers the retry path writes.
//! `crates/platform` only knows how to declare a [`Topology`] it is given.

use std::collections::BTreeMap;
use std::time::Duration;

use platform::broker::lapin::types::{AMQPValue, FieldTable, ShortString};
use platform::broker::lapin::BasicProperties;
use platform::broker::Topology;

/// Topic exchange every event goes to.
pub const EXCHANGE: &str = "payments";
/// The subscription worker's quorum queue.
pub const WORKER_QUEUE: &str = "subscription-worker";
/// The event dispatcher's quorum queue: the home of every event the services emit.
pub const DISPATCHER_QUEUE: &str = "event-dispatcher";
/// What the dispatcher's queue is bound to: every payment and subscription event.
pub const EVENT_BINDINGS: [&str; 2] = ["payment.#", "subscription.#"];
/// Routing key of [`crate::PostbackReceived`].
pub const ROUTING_KEY_POSTBACK: &str = "postback.cryptocloud";
/// Routing key of [`crate::SubscriptionUpgraded`].
pub const ROUTING_KEY_SUBSCRIPTION_UPGRADED: &str = "subscription.upgraded";
/// Routing key of [`crate::SubscriptionRenewalDue`].
pub const ROUTING_KEY_RENEWAL_DUE: &str = "subscription.renewal_due";
/// Routing keys of [`crate::PaymentChanged`].
pub const ROUTING_KEY_PAYMENT_COMPLETED: &str = "payment.completed";
pub const ROUTING_KEY_PAYMENT_PARTIAL: &str = "payment.partial";
pub const ROUTING_KEY_PAYMENT_CANCELED: &str = "payment.canceled";
/// Routing keys of [`crate::SubscriptionChanged`].
pub const ROUTING_KEY_GRACE_STARTED: &str = "subscription.grace_started";
pub const ROUTING_KEY_SUBSCRIPTION_EXPIRED: &str = "subscription.expired";
pub const ROUTING_KEY_SUBSCRIPTION_CANCELED: &str = "subscription.canceled";
pub const ROUTING_KEY_SUBSCRIPTION_RESUMED: &str = "subscription.resumed";
/// AMQP `content_type` of every event.
pub const CONTENT_TYPE: &str = "application/x-protobuf";

/// Back-off steps of the worker's retry path: attempt n waits the n-th (the last repeats).
pub const RETRY_DELAYS_SECS: [u64; 5] = [1, 5, 30, 120, 600];
/// The quorum queue's redelivery cap (crash loops end in the DLQ instead of forever).
pub const DELIVERY_LIMIT: u32 = 20;
/// Attempts (the first included) before a message whose payment cannot be found is
/// dead-lettered; the worker's `WORKER_MAX_ATTEMPTS` default.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 8;

/// Headers of the retry path.
pub mod headers {
    /// 1-based attempt number of a delivery (picks the back-off step).
    pub const ATTEMPT: &str = "x-attempt";
    /// Earlier attempts that spent the budget (payment not found yet); outages do not.
    pub const ATTEMPTS_SPENT: &str = "x-attempts-spent";
    /// Why the last attempt failed (retries).
    pub const LAST_ERROR: &str = "x-last-error";
    /// Why the message was dead-lettered, for people.
    pub const DEAD_LETTER_REASON: &str = "x-dead-letter-reason";
    /// The same as a metric label, for `dlq list`.
    pub const DEAD_LETTER_REASON_CODE: &str = "x-dead-letter-reason-code";
    pub const DEAD_LETTERED_AT: &str = "x-dead-lettered-at";
    /// The routing key the message first arrived with.
    pub const ORIGINAL_ROUTING_KEY: &str = "x-original-routing-key";
    /// Set by `dlq replay`.
    pub const REPLAYED_AT: &str = "x-replayed-at";
    /// Times the message was handed back to the queue unprocessed (shutdowns, crashes, lost
    /// channels) before the worker re-published it fresh.
    pub const REDELIVERIES: &str = "x-redeliveries";
    /// The quorum queue's count of returns of this copy (compared with its delivery limit).
    pub const DELIVERY_COUNT: &str = "x-delivery-count";
    /// The broker's own bookkeeping, which only grows with every pass through a queue.
    pub const BROKER_PREFIXES: [&str; 4] = [
        "x-death",
        "x-first-death",
        "x-last-death",
        "x-delivery-count",
    ];
}

/// The worker's queue, bound to postbacks, with its delay queues and DLQ.
pub fn worker_topology() -> Topology {
    Topology::new(
        EXCHANGE,
        WORKER_QUEUE,
        &[ROUTING_KEY_POSTBACK],
        RETRY_DELAYS_SECS
            .into_iter()
            .map(Duration::from_secs)
            .collect(),
        DELIVERY_LIMIT,
    )
}

/// The event dispatcher's queue on the worker's exchange, with its delay queues and DLQ.
/// The worker declares it too, so an event is never published to a key nothing binds
/// (it would be returned) whether or not the dispatcher has started.
pub fn dispatcher_topology_beside(worker: &Topology) -> Topology {
    worker.beside(
        DISPATCHER_QUEUE,
        &EVENT_BINDINGS,
        RETRY_DELAYS_SECS
            .into_iter()
            .map(Duration::from_secs)
            .collect(),
        DELIVERY_LIMIT,
    )
}

/// The attempt a delivery is (the first delivery has no header: attempt 1).
pub fn attempt_of(properties: &BasicProperties) -> u32 {
    number_header(properties, headers::ATTEMPT)
        .unwrap_or(1)
        .max(1)
}

/// How many earlier attempts spent the budget. A message retried before the header existed
/// counted every attempt: take its attempt count then.
pub fn attempts_spent(properties: &BasicProperties) -> u32 {
    number_header(properties, headers::ATTEMPTS_SPENT).unwrap_or_else(|| attempt_of(properties) - 1)
}

/// How many times the broker has had this copy handed back (0 for a first delivery).
pub fn delivery_count(properties: &BasicProperties) -> u32 {
    number_header(properties, headers::DELIVERY_COUNT).unwrap_or(0)
}

/// Earlier returns of this message, carried over when the worker re-published it.
pub fn earlier_redeliveries(properties: &BasicProperties) -> u32 {
    number_header(properties, headers::REDELIVERIES).unwrap_or(0)
}

/// A header holding a non-negative whole number, as text or as any integer type.
fn number_header(properties: &BasicProperties, name: &str) -> Option<u32> {
    let headers = properties.headers().as_ref()?;
    match headers.inner().get(&ShortString::from(name))? {
        AMQPValue::LongString(s) => s.to_string().parse().ok(),
        AMQPValue::ShortString(s) => s.as_str().parse().ok(),
        AMQPValue::LongUInt(n) => Some(*n),
        AMQPValue::LongInt(n) => u32::try_from(*n).ok(),
        AMQPValue::LongLongInt(n) => u32::try_from(*n).ok(),
        AMQPValue::ShortUInt(n) => Some(u32::from(*n)),
        _ => None,
    }
}

/// What [`carried_headers`] keeps of our own retry headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carry {
    /// Another pass of the retry path: keep the attempt count and the first routing key.
    Retry,
    /// A replay from the DLQ: start again at attempt 1, as a fresh message.
    Fresh,
}

/// The headers a message carries when it is re-published: never the broker's bookkeeping,
/// and with [`Carry::Fresh`] none of the retry path's either.
pub fn carried_headers(
    properties: &BasicProperties,
    carry: Carry,
) -> BTreeMap<ShortString, AMQPValue> {
    let mut kept = properties
        .headers()
        .as_ref()
        .map(|h| h.inner().clone())
        .unwrap_or_default();
    kept.retain(|k, _| {
        let k = k.as_str();
        let broker = headers::BROKER_PREFIXES.iter().any(|p| k.starts_with(p));
        let ours = [
            headers::ATTEMPT,
            headers::ATTEMPTS_SPENT,
            headers::LAST_ERROR,
            headers::DEAD_LETTER_REASON,
            headers::DEAD_LETTER_REASON_CODE,
            headers::DEAD_LETTERED_AT,
            headers::REDELIVERIES,
        ]
        .contains(&k);
        let dropped = broker || (carry == Carry::Fresh && ours);
        !dropped
    });
    kept
}

/// Reads a string header of a message.
pub fn header_str(headers: &Option<FieldTable>, name: &str) -> Option<String> {
    match headers.as_ref()?.inner().get(&ShortString::from(name))? {
        AMQPValue::LongString(s) => Some(s.to_string()),
        AMQPValue::ShortString(s) => Some(s.to_string()),
        _ => None,
    }
}

/// A text header value.
pub fn text(s: &str) -> AMQPValue {
    AMQPValue::LongString(s.to_string().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worker_topology_is_the_contract() {
        let t = worker_topology();
        assert_eq!(t.exchange, "payments");
        assert_eq!(t.work_queue, "subscription-worker");
        assert_eq!(t.bindings, vec!["postback.cryptocloud".to_string()]);
        assert_eq!(t.dead_letter_queue, "subscription-worker.dlq");
        assert_eq!(t.delay_queue(1), "subscription-worker.retry.1000ms");
        assert_eq!(t.delay_queue(99), "subscription-worker.retry.600000ms");
    }

    #[test]
    fn the_attempt_is_read_from_any_integer_or_text_header() {
        assert_eq!(attempt_of(&BasicProperties::default()), 1);
        for value in [
            text("3"),
            AMQPValue::LongUInt(3),
            AMQPValue::LongLongInt(3),
            AMQPValue::ShortUInt(3),
        ] {
            let mut h = FieldTable::default();
            h.insert(headers::ATTEMPT.into(), value);
            assert_eq!(attempt_of(&BasicProperties::default().with_headers(h)), 3);
        }
        let mut h = FieldTable::default();
        h.insert(headers::ATTEMPT.into(), text("garbage"));
        assert_eq!(attempt_of(&BasicProperties::default().with_headers(h)), 1);
    }

    #[test]
    fn broker_bookkeeping_never_travels_and_a_replay_starts_fresh() {
        let mut h = FieldTable::default();
        for k in ["x-death", "x-first-death-reason", "x-last-death-queue"] {
            h.insert(k.into(), AMQPValue::LongUInt(1));
        }
        h.insert(headers::ATTEMPT.into(), text("4"));
        h.insert("keep".into(), text("me"));
        let props = BasicProperties::default().with_headers(h);
        let retry = carried_headers(&props, Carry::Retry);
        let keys: Vec<&str> = retry.keys().map(|k| k.as_str()).collect();
        assert_eq!(keys, vec!["keep", "x-attempt"]);
        let fresh = carried_headers(&props, Carry::Fresh);
        let keys: Vec<&str> = fresh.keys().map(|k| k.as_str()).collect();
        assert_eq!(keys, vec!["keep"]);
    }
}
