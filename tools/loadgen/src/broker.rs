//! The broker ceiling: persistent, mandatory publishes of a postback-sized message to the
//! same exchange and quorum queue, each awaited for its publisher confirm, from this one
//! process over one confirm-mode channel (as the ingest shares its channel), with the
//! same number in flight as the HTTP load's concurrency.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions, QueuePurgeOptions,
};
use lapin::types::FieldTable;
use lapin::Confirmation;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use tokio::time::Instant;

use crate::stats::{Latencies, RunStats};

pub async fn connect(url: &str) -> anyhow::Result<Connection> {
    let properties = ConnectionProperties::default();
    Ok(Connection::connect(url, properties).await?)
}

/// Messages in a queue right now.
pub async fn queue_len(channel: &Channel, queue: &str) -> anyhow::Result<u32> {
    let q = channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    Ok(q.message_count())
}

pub async fn purge(channel: &Channel, queue: &str) -> anyhow::Result<()> {
    channel
        .queue_purge(queue.into(), QueuePurgeOptions::default())
        .await?;
    Ok(())
}

/// A message like the ingest's: a `PostbackReceived` with its own id.
fn message(i: u64, salt: &str) -> (Vec<u8>, BasicProperties) {
    let message_id = format!("bench-broker-{salt}-{i}");
    let body = events::encode(&events::PostbackReceived {
        message_id: message_id.clone(),
        invoice_id: format!("BRK{i:013}"),
        order_id: format!("order-{salt}-{i}"),
        postback_status: "success".into(),
        invoice_status: "paid".into(),
        amount_crypto: "25.012".into(),
        crypto_currency: "USDT_TRC20".into(),
        received_at: Some(events::to_timestamp(chrono::Utc::now())),
        source_format: events::SourceFormat::Json as i32,
    });
    let properties = BasicProperties::default()
        .with_message_id(message_id.into())
        .with_content_type(events::CONTENT_TYPE.into())
        .with_type("PostbackReceived".into())
        .with_app_id("loadgen".into())
        .with_delivery_mode(2);
    (body, properties)
}

/// `in_flight` publishers for `duration`, each waiting for its confirm before the next.
pub async fn confirmed_publishes(
    connection: &Connection,
    exchange: &str,
    routing_key: &str,
    in_flight: usize,
    duration: Duration,
) -> anyhow::Result<RunStats> {
    let channel = connection.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let salt = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let started = Instant::now();
    let slots: Vec<_> = (0..in_flight.max(1))
        .map(|_| {
            let channel = channel.clone();
            let next = next.clone();
            let salt = salt.clone();
            let exchange = exchange.to_string();
            let routing_key = routing_key.to_string();
            tokio::spawn(async move {
                let mut ok = 0u64;
                let mut errors: BTreeMap<String, u64> = BTreeMap::new();
                let mut latencies = Latencies::default();
                while started.elapsed() < duration {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let (body, properties) = message(i, &salt);
                    let sent = Instant::now();
                    let confirmed = async {
                        channel
                            .basic_publish(
                                exchange.as_str().into(),
                                routing_key.as_str().into(),
                                BasicPublishOptions {
                                    mandatory: true,
                                    ..Default::default()
                                },
                                &body,
                                properties,
                            )
                            .await?
                            .await
                    }
                    .await;
                    match confirmed {
                        Ok(Confirmation::Ack(None)) => {
                            ok += 1;
                            latencies.record(sent.elapsed());
                        }
                        Ok(other) => {
                            *errors.entry(format!("{other:?}")).or_default() += 1;
                        }
                        Err(e) => {
                            *errors.entry(e.to_string()).or_default() += 1;
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    }
                }
                (ok, errors, latencies)
            })
        })
        .collect();
    let mut ok = 0;
    let mut errors = BTreeMap::new();
    let mut latencies = Latencies::default();
    for slot in futures::future::join_all(slots).await {
        let (o, e, l) = slot?;
        ok += o;
        for (k, v) in e {
            *errors.entry(k).or_default() += v;
        }
        latencies.merge(&l);
    }
    let elapsed = started.elapsed();
    let _ = channel.close(200, "done".into()).await;
    Ok(RunStats::new(ok, errors, elapsed, &latencies))
}
