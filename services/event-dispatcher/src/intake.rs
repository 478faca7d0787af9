//! The consumer of the `event-dispatcher` queue: each event becomes its stored body and one
//! pending delivery per subscribed endpoint, in one transaction, and only then is acked,
//! so nothing waits on a merchant's endpoint here. A message that is not an event goes to
//! the DLQ (nack without requeue); while the database is down, the event is held (not
//! acked) and stored again with back-off. Re-created on every new broker connection.

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

use crate::deliveries;

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
        .for_each_concurrent(usize::from(prefetch.max(1)), |delivery| async move {
            match delivery {
                Ok(delivery) => handle(pool, delivery, wake, shutdown).await,
                Err(e) => tracing::warn!(error = %e, "consumer stream error"),
            }
        })
        .await;
    if channel.status().connected() {
        let _ = channel.close(200, "consumer stopped".into()).await;
    }
    Ok(())
}

async fn handle(pool: &PgPool, delivery: Delivery, wake: &Notify, shutdown: &CancellationToken) {
    let routing_key = delivery.routing_key.as_str().to_string();
    let event = match MerchantEvent::from_message(&routing_key, &delivery.data) {
        Ok(event) => event,
        Err(e) => {
            metrics::counter!("dispatch_events_total", "outcome" => "dead_lettered").increment(1);
            tracing::error!(routing_key, error = %e, "not an event: dead-lettered");
            let _ = delivery
                .nack(BasicNackOptions {
                    requeue: false,
                    ..Default::default()
                })
                .await;
            return;
        }
    };
    let body = serde_json::to_string(&event).expect("an event serialises");
    let mut backoff = Duration::from_millis(200);
    loop {
        match deliveries::record_event(pool, event.id(), &routing_key, event.created_at(), &body)
            .await
        {
            Ok(made) => {
                metrics::counter!("dispatch_events_total", "outcome" => "recorded").increment(1);
                tracing::debug!(event_id = event.id(), deliveries = made, "event recorded");
                if made > 0 {
                    wake.notify_one();
                }
                let _ = delivery.ack(BasicAckOptions::default()).await;
                return;
            }
            Err(e) => {
                tracing::warn!(event_id = event.id(), error = %e, "cannot record an event; retrying");
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
