//! Scenario 2, the worker. N paid invoices wait in the queue (their postbacks sent through
//! the real ingest while the worker is stopped); the worker starts and drains them. The
//! rate and the latency come from the inbox's own timestamps (`received_at` set by the
//! ingest, `processed_at` written in the apply transaction). The ceiling is the worker's
//! own one-payment transaction (`subscription_worker::apply::apply`, a group of one) called directly with
//! the same pool size and that many payments at once: the same SQL, no broker, no HTTP.
//! Then postbacks arrive at a fixed rate of half the measured maximum.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cryptocloud::{Invoice, InvoiceId};
use hyper::StatusCode;
use serde::{Deserialize, Serialize};
use sqlx::postgres::PgPoolOptions;
use subscription_worker::apply::{apply, ApplyInput};
use subscription_worker::lookup::Verdict;
use subscription_worker::{Context, Outcome};
use tokio::time::Instant;

use crate::bench::Bench;
use crate::fixtures::{self, PostbackSigner, Waiting};
use crate::load::{self, MakeRequest, Until};
use crate::stats::{percentiles_of_ms, Latencies, Percentiles, RunStats};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerResult {
    pub payments: usize,
    pub pool_size: u32,
    /// Filling the queue through the ingest.
    pub filled: RunStats,
    /// Applied per second, first to last `processed_at`.
    pub drain_rate: f64,
    pub drain_span_s: f64,
    /// Received → applied while draining the backlog (mostly time spent queued).
    pub drain_latency: Percentiles,
    pub ceiling: RunStats,
    pub fixed_rate: f64,
    pub fixed_sent: RunStats,
    pub fixed_applied: usize,
    pub fixed_latency: Percentiles,
}

impl WorkerResult {
    pub fn of_ceiling(&self) -> f64 {
        self.drain_rate / self.ceiling.rate.max(1e-9)
    }
}

fn requests_for(signer: PostbackSigner, waiting: Arc<Vec<Waiting>>) -> MakeRequest {
    Arc::new(move |i| {
        let w = &waiting[i as usize % waiting.len()];
        signer.request(&w.invoice, Some(&w.order_id))
    })
}

/// Polls until `n` payments under `prefix` are completed.
async fn wait_applied(
    bench: &Bench,
    prefix: &str,
    n: usize,
    within: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    loop {
        let done = fixtures::completed(&bench.pool, prefix).await? as usize;
        if done >= n {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {done} of {n} payments applied after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

pub async fn run(bench: &mut Bench) -> anyhow::Result<WorkerResult> {
    let n = bench.opts.worker_payments;
    let pool_size = bench.opts.worker_pool;
    let signer = PostbackSigner::new(stack::dev_credentials::SECRET_KEY, bench.ingest_addr());
    bench.stop_worker().await?;
    bench.purge_work_queue().await?;

    eprintln!("worker: preparing {n} paid invoices");
    let drain = fixtures::paid_invoices(&bench.sandbox_url(), "drain", n, 10_000_000).await?;
    fixtures::insert_pending(&bench.pool, &drain).await?;

    eprintln!("worker: ceiling (apply() directly, pool {pool_size})");
    let ceiling = ceiling(bench, n, pool_size).await?;
    eprintln!("  ceiling {:.0}/s", ceiling.rate);

    eprintln!("worker: filling the queue through the ingest");
    let drain = Arc::new(drain);
    let filled = load::closed_loop(
        bench.ingest_addr(),
        64,
        Until::Count(n as u64),
        StatusCode::OK,
        requests_for(signer.clone(), drain.clone()),
    )
    .await;
    let queued = bench.work_queue_len().await? as usize;
    anyhow::ensure!(
        queued == n && filled.ok as usize == n,
        "expected {n} postbacks queued, the ingest confirmed {} and the queue holds {queued}",
        filled.ok
    );

    eprintln!("worker: draining {n}");
    // Started before the meter so the meter sees its pid; it cannot consume before it
    // has connected, which is after this line.
    bench.stack.worker.start()?;
    let meter = bench.meter();
    bench.start_worker().await?;
    let within = Duration::from_secs(120 + n as u64 / 20);
    wait_applied(bench, "bench-drain-", n, within).await?;
    bench.record("worker drain", meter);
    let (span, latencies) = fixtures::applied_timings(&bench.pool, "bench-drain-").await?;
    let drain_rate = if span > 0.0 {
        (latencies.len() as f64 - 1.0) / span
    } else {
        0.0
    };
    eprintln!("  drained at {drain_rate:.0}/s");

    let fixed_rate = (drain_rate / 2.0).max(1.0);
    let count = (fixed_rate * bench.opts.fixed_rate_secs as f64)
        .round()
        .max(1.0) as usize;
    eprintln!("worker: {count} postbacks at {fixed_rate:.0}/s");
    let fixed =
        Arc::new(fixtures::paid_invoices(&bench.sandbox_url(), "fixed", count, 30_000_000).await?);
    fixtures::insert_pending(&bench.pool, &fixed).await?;
    let meter = bench.meter();
    let fixed_sent = load::fixed_rate(
        bench.ingest_addr(),
        64,
        fixed_rate,
        Duration::from_secs(bench.opts.fixed_rate_secs),
        StatusCode::OK,
        requests_for(signer, fixed.clone()),
    )
    .await;
    wait_applied(bench, "bench-fixed-", count, Duration::from_secs(120)).await?;
    bench.record("worker at half rate", meter);
    let (_, fixed_latencies) = fixtures::applied_timings(&bench.pool, "bench-fixed-").await?;
    let fixed_latency = percentiles_of_ms(&fixed_latencies);
    eprintln!(
        "  received → applied p50 {:.1} ms p99 {:.1} ms",
        fixed_latency.p50_ms, fixed_latency.p99_ms
    );

    Ok(WorkerResult {
        payments: n,
        pool_size,
        filled,
        drain_rate,
        drain_span_s: span,
        drain_latency: percentiles_of_ms(&latencies),
        ceiling,
        fixed_rate,
        fixed_sent,
        fixed_applied: fixed_latencies.len(),
        fixed_latency,
    })
}

/// The worker's one-payment transaction for `n` other payments, `pool_size` at a time.
async fn ceiling(bench: &mut Bench, n: usize, pool_size: u32) -> anyhow::Result<RunStats> {
    // One real invoice as the sandbox reports it, copied under other ids.
    let template = fixtures::paid_invoices(&bench.sandbox_url(), "template", 1, 1).await?;
    let client = cryptocloud::Client::new(cryptocloud::ClientConfig::new(
        bench.sandbox_url(),
        secrecy::SecretString::from(stack::dev_credentials::API_KEY.to_string()),
    ))?;
    let template = client
        .invoice_info(std::slice::from_ref(&template[0].invoice))
        .await?
        .pop()
        .ok_or_else(|| anyhow::anyhow!("the sandbox does not know its own invoice"))?;
    let template = serde_json::to_value(&template)?;
    let salt = uuid::Uuid::new_v4().simple().to_string()[..6].to_ascii_uppercase();
    let waiting: Vec<Waiting> = (0..n)
        .map(|i| Waiting {
            invoice: InvoiceId::parse(&format!("C{salt}{i:09}")).expect("alphanumeric code"),
            order_id: format!("bench-ceiling-{salt}-{i}"),
            user_id: 20_000_000 + i as i64,
        })
        .collect();
    fixtures::insert_pending(&bench.pool, &waiting).await?;
    let invoices: Vec<Invoice> = waiting
        .iter()
        .map(|w| {
            let mut v = template.clone();
            v["uuid"] = w.invoice.prefixed().into();
            v["order_id"] = w.order_id.clone().into();
            serde_json::from_value(v)
        })
        .collect::<Result<_, _>>()?;

    let pool = PgPoolOptions::new()
        .max_connections(pool_size)
        .connect(&bench.stack.database_url())
        .await?;
    let ctx = Context::new(pool.clone(), client, Default::default());
    let invoices = Arc::new(invoices);
    let next = Arc::new(AtomicUsize::new(0));
    let meter = bench.meter();
    let started = Instant::now();
    let tasks: Vec<_> = (0..pool_size)
        .map(|_| {
            let (ctx, invoices, next) = (ctx.clone(), invoices.clone(), next.clone());
            let salt = salt.clone();
            tokio::spawn(async move {
                let mut latencies = Latencies::default();
                let mut ok = 0u64;
                let mut other = 0u64;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(invoice) = invoices.get(i) else {
                        break;
                    };
                    let message_id = format!("bench-ceiling-{salt}-{i}");
                    let t = Instant::now();
                    let input = ApplyInput {
                        message_id: &message_id,
                        received_at: Some(chrono::Utc::now()),
                        invoice,
                    };
                    match apply(&ctx, &[(input, Verdict::Complete)]).await.remove(0) {
                        Outcome::Applied { .. } => {
                            ok += 1;
                            latencies.record(t.elapsed());
                        }
                        _ => other += 1,
                    }
                }
                (ok, other, latencies)
            })
        })
        .collect();
    let mut ok = 0;
    let mut errors = std::collections::BTreeMap::new();
    let mut latencies = Latencies::default();
    for task in futures::future::join_all(tasks).await {
        let (o, e, l) = task?;
        ok += o;
        if e > 0 {
            *errors.entry("not applied".to_string()).or_default() += e;
        }
        latencies.merge(&l);
    }
    let stats = RunStats::new(ok, errors, started.elapsed(), &latencies);
    bench.record("worker ceiling", meter);
    pool.close().await;
    Ok(stats)
}
