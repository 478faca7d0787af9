//! Scenario 5, the event dispatcher: events published to the exchange as the worker's
//! relay publishes them, delivered as signed webhooks to a local receiver that verifies
//! every signature (the run command's demo receiver). Measured: events delivered per
//! second and the lag from publish (just after the commit that wrote the event) to
//! receipt. Ceiling: the same signed requests POSTed by this process straight to the
//! same receiver, with as many in flight as the dispatcher's `DISPATCH_CONCURRENCY`.

use std::time::{Duration, Instant};

use futures::StreamExt;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::BasicProperties;
use serde::{Deserialize, Serialize};
use stack::dev_credentials as dev;
use stack::receiver::DemoReceiver;

use crate::bench::Bench;
use crate::stats::{percentiles_of_ms, Percentiles};

/// The dispatcher's default attempts in flight.
const IN_FLIGHT: usize = 64;
/// An event type the other scenarios never produce, so only these events reach the
/// benchmark's endpoint.
const EVENT_TYPE: &str = events::messaging::ROUTING_KEY_PAYMENT_PARTIAL;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DispatchResult {
    pub events: usize,
    /// Events delivered per second, first publish to last receipt.
    pub rate: f64,
    /// Publish to receipt.
    pub lag: Percentiles,
    /// Signed POSTs per second straight to the receiver.
    pub ceiling_rate: f64,
}

impl DispatchResult {
    pub fn of_ceiling(&self) -> f64 {
        self.rate / self.ceiling_rate.max(1e-9)
    }
}

pub async fn run(bench: &mut Bench) -> anyhow::Result<DispatchResult> {
    let events = if bench.opts.smoke { 200 } else { 5_000 };
    let receiver = DemoReceiver::start("127.0.0.1:0", dev::WEBHOOK_SECRET, false)?;
    let http = reqwest::Client::new();
    let admin = format!("{}/api/v1/admin/webhook-endpoints", bench.dispatcher_url());
    let created: serde_json::Value = http
        .post(&admin)
        .bearer_auth(dev::ADMIN_TOKEN)
        .json(
            &serde_json::json!({"url": receiver.url(), "secret": dev::WEBHOOK_SECRET,
                                  "events": [EVENT_TYPE]}),
        )
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let endpoint = created["id"].as_str().unwrap_or_default().to_string();

    eprintln!("dispatch: {events} events to one endpoint");
    let channel = bench.amqp.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let meter = bench.meter();
    let started = Instant::now();
    let exchange = bench.topology.exchange.clone();
    futures::stream::iter(0..events)
        .map(|i| {
            let channel = channel.clone();
            let exchange = exchange.clone();
            async move {
                let event = events::PaymentChanged {
                    event_id: format!("bench-dispatch-{i}"),
                    user_id: 1,
                    payment_id: i as i64,
                    invoice_id: format!("INV-BENCH{i}"),
                    order_id: format!("ord_bench_{i}"),
                    status: "partial".into(),
                    amount: "99.00".into(),
                    currency: "USD".into(),
                    tier: "pro".into(),
                    months: 1,
                    occurred_at: Some(events::to_timestamp(chrono::Utc::now())),
                };
                channel
                    .basic_publish(
                        exchange.as_str().into(),
                        EVENT_TYPE.into(),
                        BasicPublishOptions::default(),
                        &events::encode(&event),
                        BasicProperties::default()
                            .with_delivery_mode(2)
                            .with_message_id(event.event_id.as_str().into()),
                    )
                    .await?
                    .await
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .for_each(|r| async move {
            if let Err(e) = r {
                eprintln!("  publish failed: {e}");
            }
        })
        .await;
    let deadline = Instant::now() + Duration::from_secs(300);
    while receiver.received().len() < events {
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {} of {events} webhooks arrived within 300 s",
            receiver.received().len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed();
    bench.record("dispatch", meter);
    let received = receiver.received();
    anyhow::ensure!(
        received.iter().all(|r| r.verified),
        "a webhook's signature did not verify"
    );
    let lags: Vec<f64> = received
        .iter()
        .filter_map(|r| {
            let created = r.body["created_at"].as_str()?;
            let created = chrono::DateTime::parse_from_rfc3339(created).ok()?;
            Some(
                (r.received_at - created.with_timezone(&chrono::Utc)).num_microseconds()? as f64
                    / 1000.0,
            )
        })
        .collect();

    // The ceiling: the same signed bodies, straight from here.
    let body = received[0].body.to_string();
    let signer = standardwebhooks::Webhook::new(dev::WEBHOOK_SECRET)?;
    let url = receiver.url();
    let meter = bench.meter();
    let ceiling_started = Instant::now();
    futures::stream::iter(0..events)
        .map(|i| {
            let id = format!("bench-ceiling-{i}");
            let ts = chrono::Utc::now().timestamp();
            let signature = signer.sign(&id, ts, body.as_bytes());
            let request = http
                .post(&url)
                .header("content-type", "application/json")
                .header("webhook-id", id)
                .header("webhook-timestamp", ts.to_string())
                .header("webhook-signature", signature.unwrap_or_default())
                .body(body.clone());
            async move { request.send().await.map(|r| r.status().is_success()) }
        })
        .buffer_unordered(IN_FLIGHT)
        .for_each(|_| async {})
        .await;
    let ceiling_elapsed = ceiling_started.elapsed();
    bench.record("dispatch ceiling", meter);

    let _ = http
        .delete(format!("{admin}/{endpoint}"))
        .bearer_auth(dev::ADMIN_TOKEN)
        .send()
        .await;
    receiver.stop().await;
    let result = DispatchResult {
        events,
        rate: events as f64 / elapsed.as_secs_f64().max(1e-9),
        lag: percentiles_of_ms(&lags),
        ceiling_rate: events as f64 / ceiling_elapsed.as_secs_f64().max(1e-9),
    };
    eprintln!(
        "  {:.0} delivered/s (ceiling {:.0}/s), lag p50 {:.1} ms p99 {:.1} ms",
        result.rate, result.ceiling_rate, result.lag.p50_ms, result.lag.p99_ms
    );
    Ok(result)
}
