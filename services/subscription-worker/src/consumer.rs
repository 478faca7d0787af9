//! The RabbitMQ consumer: manual acks, bounded prefetch and concurrency, re-created on
//! every new broker connection, so a broker restart needs no process restart.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{FutureExt, StreamExt};
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions};
use lapin::types::FieldTable;
use platform::broker::{Broker, Link};
use tokio_util::sync::CancellationToken;

use crate::context::Context;
use crate::outcome::{Outcome, Reason};
use crate::pipeline::{process, Message};
use crate::retry::{self, Move};

/// How one process consumes.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    pub prefetch: u16,
    /// Groups processed at the same time.
    pub concurrency: usize,
    /// Most deliveries in one group (one info call, one transaction). A group is whatever
    /// has arrived, up to this: nothing waits for a group to fill.
    pub batch_size: usize,
    /// Attempts (the first included) whose payment could not be found before the message
    /// is dead-lettered; outages never count (see [`Reason::spends_attempts`]).
    pub max_attempts: u32,
}

/// What was done with a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Disposition {
    Ack,
    /// Another pass: `next_attempt` picks the back-off step (the longest repeats), `spent`
    /// is the budget used so far.
    Retry {
        next_attempt: u32,
        spent: u32,
        reason: Reason,
    },
    DeadLetter(Reason),
}

/// `attempt`: this delivery's number; `spent`: how many earlier attempts spent the budget.
fn disposition(outcome: &Outcome, attempt: u32, spent: u32, max_attempts: u32) -> Disposition {
    match outcome {
        Outcome::Retry(reason) if reason.spends_attempts() && spent + 1 >= max_attempts => {
            Disposition::DeadLetter(Reason::GaveUp {
                attempts: spent + 1,
                last: Box::new(reason.clone()),
            })
        }
        Outcome::Retry(reason) => Disposition::Retry {
            next_attempt: attempt + 1,
            spent: spent + u32::from(reason.spends_attempts()),
            reason: reason.clone(),
        },
        Outcome::DeadLetter(reason) => Disposition::DeadLetter(reason.clone()),
        _ => Disposition::Ack,
    }
}

/// Consumes until `shutdown`; `consuming` tells readiness whether a consumer is attached.
pub async fn run(
    ctx: Context,
    broker: Broker,
    config: ConsumerConfig,
    consuming: Arc<AtomicBool>,
    shutdown: CancellationToken,
) {
    let mut links = broker.links();
    let mut backoff = Duration::from_millis(100);
    while !shutdown.is_cancelled() {
        let link = tokio::select! {
            link = Broker::next_link(&mut links) => link,
            _ = shutdown.cancelled() => break,
        };
        let Some(link) = link else { break };
        let started = Instant::now();
        match consume_on(&ctx, &broker, &link, &config, &consuming, &shutdown).await {
            Ok(()) => tracing::info!(generation = link.generation, "consumer stopped"),
            Err(e) => tracing::warn!(generation = link.generation, error = %e, "consumer failed"),
        }
        consuming.store(false, Ordering::SeqCst);
        // A consumer that ran a while starts over quickly; one that keeps failing backs off.
        if started.elapsed() > Duration::from_secs(10) {
            backoff = Duration::from_millis(100);
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.cancelled() => break,
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
    consuming.store(false, Ordering::SeqCst);
}

async fn consume_on(
    ctx: &Context,
    broker: &Broker,
    link: &Link,
    config: &ConsumerConfig,
    consuming: &AtomicBool,
    shutdown: &CancellationToken,
) -> lapin::Result<()> {
    let topology = broker.topology();
    let channel = link.connection.create_channel().await?;
    channel
        .basic_qos(config.prefetch.max(1), BasicQosOptions::default())
        .await?;
    let tag = format!(
        "subscription-worker.{}.{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    );
    let consumer = channel
        .basic_consume(
            topology.work_queue.as_str().into(),
            tag.as_str().into(),
            // Manual acks (no_ack false); not exclusive, so several workers share the queue.
            BasicConsumeOptions {
                no_ack: false,
                exclusive: false,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    consuming.store(true, Ordering::SeqCst);
    tracing::info!(generation = link.generation, consumer_tag = %tag, prefetch = config.prefetch, "consuming");

    // On shutdown no new delivery is taken, in-flight ones finish (commit, then ack).
    consumer
        .take_until(shutdown.clone().cancelled_owned())
        .ready_chunks(config.batch_size.max(1))
        .for_each_concurrent(config.concurrency.max(1), |chunk| async move {
            let deliveries = platform::broker::delivered(chunk);
            // Before anything can hand them back once more (the gate below waits, a shutdown
            // returns what waits), copies near the broker's delivery limit start afresh.
            let deliveries = refresh_worn(ctx, broker, deliveries).await;
            // While a dependency is down, wait here: the stream is not pulled meanwhile,
            // so nothing but the prefetched deliveries leaves the queue.
            if !ctx.gate.pass(shutdown).await {
                return; // unacked: the broker redelivers them
            }
            handle_batch(ctx, broker, config, deliveries).await;
        })
        .await;
    // Prefetched deliveries not yet started go back to the queue.
    if channel.status().connected() {
        let _ = channel.close(200, "consumer stopped".into()).await;
    }
    Ok(())
}

/// Returns of one message, over all its copies, after which the worker stops handing it
/// back and dead-letters it with its reason: a message that keeps crashing the worker.
const MAX_REDELIVERIES: u32 = 100;

/// The quorum queue dead-letters a copy returned `delivery_limit` times (shutdowns, panics,
/// lost channels count), with no reason of ours. A copy returned half that often is
/// re-published fresh instead, counting its returns in a header, so only the worker ever
/// decides that a message is dead: past `MAX_REDELIVERIES` returns, with its reason.
/// Returns the deliveries still to process.
async fn refresh_worn(ctx: &Context, broker: &Broker, deliveries: Vec<Delivery>) -> Vec<Delivery> {
    let topology = broker.topology();
    let refresh_at = (topology.delivery_limit / 2).max(1);
    let mut fresh = Vec::with_capacity(deliveries.len());
    for delivery in deliveries {
        let count = events::messaging::delivery_count(&delivery.properties);
        if count < refresh_at {
            fresh.push(delivery);
            continue;
        }
        let returns = events::messaging::earlier_redeliveries(&delivery.properties) + count;
        let started = Instant::now();
        let (moved, label) = if returns >= MAX_REDELIVERIES {
            let reason = Reason::Redelivered(returns);
            tracing::error!(returns, %reason, "dead-lettering a message that keeps coming back");
            metrics::counter!(crate::counters::DEAD_LETTERED, "reason" => reason.label())
                .increment(1);
            let text = reason.to_string();
            let to = Move::DeadLetter {
                reason: &text,
                code: reason.label(),
            };
            (
                retry::forward(broker, topology, &delivery, to).await,
                "dead_lettered",
            )
        } else {
            tracing::info!(
                count,
                returns,
                "re-publishing a copy near the delivery limit"
            );
            metrics::counter!(crate::counters::REFRESHED).increment(1);
            let to = Move::Refresh {
                redeliveries: returns,
            };
            (
                retry::forward(broker, topology, &delivery, to).await,
                "retried",
            )
        };
        match moved {
            Ok(()) => ack(ctx, &delivery, label, started).await,
            // Not moved: process this copy after all rather than hand it back once more.
            Err(e) => {
                tracing::warn!(error = %e, "could not re-publish a worn copy; processing it");
                fresh.push(delivery);
            }
        }
    }
    fresh
}

/// Processes the deliveries that arrived together, then disposes of each: acked, or moved on
/// (delay queue or DLQ) and then acked. Every ack comes after the group's commit.
#[tracing::instrument(skip_all, fields(count = deliveries.len()))]
async fn handle_batch(
    ctx: &Context,
    broker: &Broker,
    config: &ConsumerConfig,
    deliveries: Vec<Delivery>,
) {
    if deliveries.is_empty() {
        return;
    }
    let started = Instant::now();
    let message_ids: Vec<Option<String>> = deliveries
        .iter()
        .map(|d| d.properties.message_id().as_ref().map(|s| s.to_string()))
        .collect();
    let messages: Vec<Message<'_>> = deliveries
        .iter()
        .zip(&message_ids)
        .map(|(d, id)| Message::new(&d.data, id.as_deref()))
        .collect();
    // A bug must not take the consumer down: the messages go back (one that keeps coming
    // back is dead-lettered with its reason by `refresh_worn`).
    let processed = AssertUnwindSafe(process(ctx, &messages))
        .catch_unwind()
        .await;
    let Ok(outcomes) = processed else {
        tracing::error!("processing panicked; requeueing the messages");
        for delivery in deliveries {
            requeue(&delivery).await;
        }
        return;
    };
    match outcomes.iter().find_map(|o| match o {
        Outcome::Retry(reason) if reason.is_outage() => Some(reason.label()),
        _ => None,
    }) {
        Some(reason) => ctx.gate.trip(reason),
        None => ctx.gate.reset(),
    }
    futures::future::join_all(
        deliveries
            .into_iter()
            .zip(outcomes)
            .map(|(delivery, outcome)| dispose(ctx, broker, config, delivery, outcome, started)),
    )
    .await;
}

/// Acks a processed delivery, or moves it on (delay queue or DLQ) and then acks it.
#[tracing::instrument(skip_all, fields(delivery_tag = delivery.delivery_tag, redelivered = delivery.redelivered))]
async fn dispose(
    ctx: &Context,
    broker: &Broker,
    config: &ConsumerConfig,
    delivery: Delivery,
    outcome: Outcome,
    started: Instant,
) {
    let attempt = events::messaging::attempt_of(&delivery.properties);
    let spent = events::messaging::attempts_spent(&delivery.properties);
    let disposition = disposition(&outcome, attempt, spent, config.max_attempts);
    let topology = broker.topology();
    let (moved, label) = match &disposition {
        Disposition::Ack => (Ok(()), outcome.label()),
        Disposition::Retry {
            next_attempt,
            spent,
            reason,
        } => {
            tracing::info!(attempt, spent, %reason, "retrying later");
            let reason = reason.to_string();
            let to = Move::Retry {
                next_attempt: *next_attempt,
                spent: *spent,
                reason: &reason,
            };
            (
                retry::forward(broker, topology, &delivery, to).await,
                "retried",
            )
        }
        Disposition::DeadLetter(reason) => {
            tracing::error!(attempt, %reason, "dead-lettering the message");
            let text = reason.to_string();
            let to = Move::DeadLetter {
                reason: &text,
                code: reason.label(),
            };
            (
                retry::forward(broker, topology, &delivery, to).await,
                "dead_lettered",
            )
        }
    };

    match moved {
        Ok(()) => {
            ack(ctx, &delivery, label, started).await;
            match &disposition {
                Disposition::Retry { reason, .. } => {
                    metrics::counter!(crate::counters::RETRIES, "reason" => reason.label())
                        .increment(1)
                }
                Disposition::DeadLetter(reason) => {
                    metrics::counter!(crate::counters::DEAD_LETTERED, "reason" => reason.label())
                        .increment(1)
                }
                Disposition::Ack => {}
            }
        }
        Err(e) => {
            // Not safely moved: hand the message back (`refresh_worn` keeps count).
            tracing::warn!(error = %e, "could not move the message; requeueing it");
            tokio::time::sleep(Duration::from_millis(500)).await;
            requeue(&delivery).await;
        }
    }
}

/// Acks a delivery that was handled (or safely moved on) and counts it under `label`.
async fn ack(ctx: &Context, delivery: &Delivery, label: &'static str, started: Instant) {
    if let Err(e) = delivery.acker.ack(BasicAckOptions::default()).await {
        // The channel is gone: the broker redelivers, and the inbox recognises it.
        tracing::warn!(error = %e, "ack failed");
    }
    ctx.stats.record(label, started.elapsed());
}

/// Hands a delivery back to the queue (a failed ack is the broker's redelivery anyway).
async fn requeue(delivery: &Delivery) {
    let _ = delivery
        .acker
        .nack(BasicNackOptions {
            requeue: true,
            ..Default::default()
        })
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_missing_payments_spend_the_attempt_budget() {
        let not_found = Outcome::Retry(Reason::PaymentNotFound("INV-X".into()));
        assert_eq!(
            disposition(&not_found, 1, 0, 3),
            Disposition::Retry {
                next_attempt: 2,
                spent: 1,
                reason: Reason::PaymentNotFound("INV-X".into())
            }
        );
        match disposition(&not_found, 3, 2, 3) {
            Disposition::DeadLetter(Reason::GaveUp { attempts: 3, last }) => {
                assert_eq!(*last, Reason::PaymentNotFound("INV-X".into()))
            }
            other => panic!("{other:?}"),
        }
        // An outage, however long, is retried and spends nothing.
        let outage = Outcome::Retry(Reason::Api("503".into()));
        assert_eq!(
            disposition(&outage, 500, 2, 3),
            Disposition::Retry {
                next_attempt: 501,
                spent: 2,
                reason: Reason::Api("503".into())
            }
        );
        let database = Outcome::Retry(Reason::Database("gone".into()));
        assert!(matches!(
            disposition(&database, 99, 2, 3),
            Disposition::Retry { spent: 2, .. }
        ));
        assert_eq!(disposition(&Outcome::Duplicate, 9, 9, 3), Disposition::Ack);
        assert_eq!(
            disposition(&Outcome::DeadLetter(Reason::MissingMessageId), 1, 0, 3),
            Disposition::DeadLetter(Reason::MissingMessageId)
        );
    }
}
