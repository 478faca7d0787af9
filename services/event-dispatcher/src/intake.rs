//! The consumer of the `event-dispatcher` queue: each event becomes its stored body and one
//! pending delivery per subscribed endpoint, and only then is acked, so nothing waits on a
//! merchant's endpoint here. The events that arrived together are stored in one
//! transaction (group commit: one commit per group, not per event). A message that is not
//! an event goes to the DLQ (nack without requeue); while the database is down, the events
//! are held (not acked) and stored again with back-off. Re-created on every new broker
//! connection.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use events::webhook::MerchantEvent;
use futures::StreamExt;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions};
use lapin::types::FieldTable;
use platform::broker::{Broker, Link};
use sqlx::PgPool;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::deliveries::{self, NewEvent};

/// Events stored per transaction at most: what arrived together, up to this many.
const GROUP: usize = 100;
/// Groups being stored at once; while all are busy, the next group fills up.
const GROUPS_IN_FLIGHT: usize = 4;

/// Consumes until `shutdown`; `consuming` tells readiness whether a consumer is attached.
pub async fn run(
    pool: PgPool,
    broker: Broker,
    prefetch: u16,
    wake: Arc<Notify>,
    consuming: Arc<AtomicBool>,
    shutdown: CancellationToken,
) {
    let mut links = broker.links();
    while !shutdown.is_cancelled() {
        let link = tokio::select! {
            link = Broker::next_link(&mut links) => link,
            _ = shutdown.cancelled() => break,
        };
        let Some(link) = link else { break };
        if let Err(e) = consume_on(
            &pool, &broker, &link, prefetch, &wake, &consuming, &shutdown,
        )
        .await
        {
            tracing::warn!(generation = link.generation, error = %e, "consumer failed");
        }
        consuming.store(false, Ordering::SeqCst);
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = shutdown.cancelled() => break,
        }
    }
    consuming.store(false, Ordering::SeqCst);
}

async fn consume_on(
    pool: &PgPool,
    broker: &Broker,
    link: &Link,
    prefetch: u16,
    wake: &Notify,
    consuming: &AtomicBool,
    shutdown: &CancellationToken,
) -> lapin::Result<()> {
    let channel = link.connection.create_channel().await?;
    channel
        .basic_qos(prefetch.max(1), BasicQosOptions::default())
        .await?;
    let tag = format!(
        "event-dispatcher.{}.{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    );
    let consumer = channel
        .basic_consume(
            broker.topology().work_queue.as_str().into(),
            tag.as_str().into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    consuming.store(true, Ordering::SeqCst);
    tracing::info!(generation = link.generation, consumer_tag = %tag, "consuming events");
    consumer
        .take_until(shutdown.clone().cancelled_owned())
        .ready_chunks(GROUP.min(usize::from(prefetch.max(1))))
        .for_each_concurrent(GROUPS_IN_FLIGHT, |chunk| {
            handle_group(pool, platform::broker::delivered(chunk), wake, shutdown)
        })
        .await;
    if channel.status().connected() {
        let _ = channel.close(200, "consumer stopped".into()).await;
    }
    Ok(())
}

/// Stores the events of a group and acks them; dead-letters what is not an event.
async fn handle_group(
    pool: &PgPool,
    deliveries: Vec<Delivery>,
    wake: &Notify,
    shutdown: &CancellationToken,
) {
    let mut held = Vec::with_capacity(deliveries.len());
    let mut events = Vec::with_capacity(deliveries.len());
    for delivery in deliveries {
        if let Some(event) = decode(&delivery).await {
            held.push(delivery);
            events.push(event);
        }
    }
    if events.is_empty() {
        return;
    }
    // One bad row must not hold the others: a group that fails is stored one by one, and
    // only what still fails alone waits with back-off (while the database is down, all).
    match deliveries::record_events(pool, &events).await {
        Ok(made) => recorded(held, made, wake).await,
        Err(e) => {
            tracing::warn!(error = %e, count = events.len(), "cannot record events; storing them one by one");
            for (delivery, event) in held.into_iter().zip(events) {
                store_one(pool, delivery, event, wake, shutdown).await;
            }
        }
    }
}

/// The event a delivery carries; `None` when it is not one (then dead-lettered here).
async fn decode(delivery: &Delivery) -> Option<NewEvent> {
    let routing_key = delivery.routing_key.as_str();
    match MerchantEvent::from_message(routing_key, &delivery.data) {
        Ok(event) => Some(NewEvent {
            id: event.id().to_string(),
            event_type: routing_key.to_string(),
            occurred_at: event.created_at(),
            body: serde_json::to_string(&event).expect("an event serialises"),
        }),
        Err(e) => {
            metrics::counter!("dispatch_events_total", "outcome" => "dead_lettered").increment(1);
            tracing::error!(routing_key, error = %e, "not an event: dead-lettered");
            let _ = delivery
                .nack(BasicNackOptions {
                    requeue: false,
                    ..Default::default()
                })
                .await;
            None
        }
    }
}

/// Acks the stored events (only after their commit).
async fn recorded(stored: Vec<Delivery>, made: u64, wake: &Notify) {
    metrics::counter!("dispatch_events_total", "outcome" => "recorded")
        .increment(stored.len() as u64);
    tracing::debug!(events = stored.len(), deliveries = made, "events recorded");
    if made > 0 {
        wake.notify_one();
    }
    for delivery in stored {
        let _ = delivery.ack(BasicAckOptions::default()).await;
    }
}

/// Stores one event, retrying with back-off until it is stored or the service stops.
async fn store_one(
    pool: &PgPool,
    delivery: Delivery,
    event: NewEvent,
    wake: &Notify,
    shutdown: &CancellationToken,
) {
    let mut backoff = Duration::from_millis(200);
    loop {
        match deliveries::record_events(pool, std::slice::from_ref(&event)).await {
            Ok(made) => return recorded(vec![delivery], made, wake).await,
            Err(e) => {
                tracing::warn!(event_id = event.id, error = %e, "cannot record an event; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    // Not acked: the broker hands it to the next consumer.
                    _ = shutdown.cancelled() => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}
