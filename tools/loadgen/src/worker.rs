//! Scenario 2, the worker. N paid invoices wait in the queue (their postbacks sent through
//! the real ingest while the worker is stopped); the worker starts and drains them. The
//! rate and the latency come from the inbox's own timestamps (`received_at` set by the
//! ingest, `processed_at` written in the apply transaction). The ceilings are the worker's
//! own apply transaction (`subscription_worker::apply::apply`) called directly with the
//! same pool size, for N other payments: one payment per transaction (a group of one),
//! then 10 and 100 per transaction: the same SQL, no broker, no HTTP. Each run is the
//! three ceilings and then the drain; the runs repeat (`--reps`). Then postbacks arrive
//! at a fixed rate of half the median maximum.

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
use crate::ratio::{cpu_per_unit, median_index, CpuPerUnit, Spread};
use crate::stats::{percentiles_of_ms, Latencies, Percentiles, RunStats};

/// Payments per transaction of the ceilings: one (the per-payment ceiling), then batched.
pub const CEILING_GROUPS: [usize; 3] = [1, 10, 100];

/// One ceiling: the apply transaction called directly, `per_tx` payments in each.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ceiling {
    pub per_tx: usize,
    pub stats: RunStats,
    pub cpu: CpuPerUnit,
}

/// One run: the ceilings, then the drain.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerRep {
    pub ceilings: Vec<Ceiling>,
    pub drain_rate: f64,
    pub drain_cpu: CpuPerUnit,
}

impl WorkerRep {
    fn of_ceiling(&self, per_tx: usize) -> Option<f64> {
        let c = self.ceilings.iter().find(|c| c.per_tx == per_tx)?;
        Some(self.drain_rate / c.stats.rate.max(1e-9))
    }
}

/// The figures of the median run (by worker / one-transaction ceiling) and every run.
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
    /// Absent in reports written before the runs were repeated.
    #[serde(default)]
    pub reps: Vec<WorkerRep>,
}

impl WorkerResult {
    pub fn of_ceiling(&self) -> f64 {
        self.drain_rate / self.ceiling.rate.max(1e-9)
    }

    /// Worker / the ceiling with `per_tx` payments per transaction, over the runs.
    pub fn ratio(&self, per_tx: usize) -> Option<Spread> {
        if self.reps.is_empty() {
            return (per_tx == 1)
                .then(|| Spread::of([self.of_ceiling()]))
                .flatten();
        }
        Spread::of(self.reps.iter().filter_map(|r| r.of_ceiling(per_tx)))
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
    let template = Template::fetch(bench).await?;
    let mut reps = Vec::new();
    let mut drains = Vec::new();
    for rep in 0..bench.opts.reps() {
        bench.stop_worker().await?;
        bench.purge_work_queue().await?;
        let mut ceilings = Vec::new();
        for (k, per_tx) in CEILING_GROUPS.into_iter().enumerate() {
            eprintln!("worker run {rep}: ceiling, {per_tx} per transaction, pool {pool_size}");
            let first_user = 20_000_000 + ((rep * CEILING_GROUPS.len() + k) as i64) * 1_000_000;
            let (stats, usage) =
                ceiling(bench, &template, n, pool_size, per_tx, first_user).await?;
            eprintln!("  ceiling {:.0}/s", stats.rate);
            let cpu = cpu_per_unit(&usage, stats.ok);
            ceilings.push(Ceiling { per_tx, stats, cpu });
        }
        let drain = drain(bench, &signer, n, rep).await?;
        bench.settle().await?;
        reps.push(WorkerRep {
            ceilings,
            drain_rate: drain.rate,
            drain_cpu: drain.cpu.clone(),
        });
        drains.push(drain);
    }
    let ratios: Vec<f64> = reps
        .iter()
        .map(|r| r.of_ceiling(1).unwrap_or(0.0))
        .collect();
    let median = median_index(&ratios);
    let drain = drains.swap_remove(median);
    let ceiling = reps[median].ceilings[0].stats.clone();
    bench.start_worker().await?;

    let fixed_rate = (drain.rate / 2.0).max(1.0);
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
        filled: drain.filled,
        drain_rate: drain.rate,
        drain_span_s: drain.span_s,
        drain_latency: drain.latency,
        ceiling,
        fixed_rate,
        fixed_sent,
        fixed_applied: fixed_latencies.len(),
        fixed_latency,
        reps,
    })
}

/// What one drain came to.
struct Drain {
    filled: RunStats,
    rate: f64,
    span_s: f64,
    latency: Percentiles,
    cpu: CpuPerUnit,
}

/// `n` postbacks queued through the ingest while the worker is stopped, then drained.
async fn drain(
    bench: &mut Bench,
    signer: &PostbackSigner,
    n: usize,
    rep: usize,
) -> anyhow::Result<Drain> {
    eprintln!("worker run {rep}: preparing {n} paid invoices");
    let label = format!("drain{rep}");
    let first_user = 10_000_000 + rep as i64 * 1_000_000;
    let waiting = fixtures::paid_invoices(&bench.sandbox_url(), &label, n, first_user).await?;
    fixtures::insert_pending(&bench.pool, &waiting).await?;
    eprintln!("worker run {rep}: filling the queue through the ingest");
    let waiting = Arc::new(waiting);
    let filled = load::closed_loop(
        bench.ingest_addr(),
        64,
        Until::Count(n as u64),
        StatusCode::OK,
        requests_for(signer.clone(), waiting),
    )
    .await;
    let queued = bench.work_queue_len().await? as usize;
    anyhow::ensure!(
        queued == n && filled.ok as usize == n,
        "expected {n} postbacks queued, the ingest confirmed {} and the queue holds {queued}",
        filled.ok
    );

    eprintln!("worker run {rep}: draining {n}");
    // Started before the meter so the meter sees its pid; it cannot consume before it
    // has connected, which is after this line.
    bench.stack.worker.start()?;
    let meter = bench.meter();
    bench.start_worker().await?;
    let prefix = format!("bench-{label}-");
    let within = Duration::from_secs(120 + n as u64 / 20);
    wait_applied(bench, &prefix, n, within).await?;
    let usage = bench.record("worker drain", meter);
    let (span, latencies) = fixtures::applied_timings(&bench.pool, &prefix).await?;
    let rate = if span > 0.0 {
        (latencies.len() as f64 - 1.0) / span
    } else {
        0.0
    };
    eprintln!("  drained at {rate:.0}/s");
    Ok(Drain {
        filled,
        rate,
        span_s: span,
        latency: percentiles_of_ms(&latencies),
        cpu: cpu_per_unit(&usage, n as u64),
    })
}

/// One real paid invoice as the sandbox reports it, which the ceilings copy under other
/// ids, and the client that fetched it.
struct Template {
    client: cryptocloud::Client,
    invoice: serde_json::Value,
}

impl Template {
    async fn fetch(bench: &Bench) -> anyhow::Result<Self> {
        let paid = fixtures::paid_invoices(&bench.sandbox_url(), "template", 1, 1).await?;
        let client = cryptocloud::Client::new(cryptocloud::ClientConfig::new(
            bench.sandbox_url(),
            secrecy::SecretString::from(stack::dev_credentials::API_KEY.to_string()),
        ))?;
        let invoice = client
            .invoice_info(std::slice::from_ref(&paid[0].invoice))
            .await?
            .pop()
            .ok_or_else(|| anyhow::anyhow!("the sandbox does not know its own invoice"))?;
        Ok(Self {
            client,
            invoice: serde_json::to_value(&invoice)?,
        })
    }
}

/// The worker's apply transaction for `n` other payments, `per_tx` in each, `pool_size`
/// transactions at a time. The events these write are marked sent afterwards: they are
/// the harness's, and relaying them would load the drain that follows.
async fn ceiling(
    bench: &mut Bench,
    template: &Template,
    n: usize,
    pool_size: u32,
    per_tx: usize,
    first_user: i64,
) -> anyhow::Result<(RunStats, crate::procs::Usage)> {
    let salt = uuid::Uuid::new_v4().simple().to_string()[..6].to_ascii_uppercase();
    let waiting: Vec<Waiting> = (0..n)
        .map(|i| Waiting {
            invoice: InvoiceId::parse(&format!("C{salt}{i:09}")).expect("alphanumeric code"),
            order_id: format!("bench-ceiling-{salt}-{i}"),
            user_id: first_user + i as i64,
        })
        .collect();
    fixtures::insert_pending(&bench.pool, &waiting).await?;
    let invoices: Vec<Invoice> = waiting
        .iter()
        .map(|w| {
            let mut v = template.invoice.clone();
            v["uuid"] = w.invoice.prefixed().into();
            v["order_id"] = w.order_id.clone().into();
            serde_json::from_value(v)
        })
        .collect::<Result<_, _>>()?;
    let message_ids: Vec<String> = waiting.iter().map(|w| w.order_id.clone()).collect();
    let outbox_before: i64 = sqlx::query_scalar("SELECT COALESCE(max(id), 0) FROM outbox_events")
        .fetch_one(&bench.pool)
        .await?;

    let pool = PgPoolOptions::new()
        .max_connections(pool_size)
        .connect(&bench.stack.database_url())
        .await?;
    let ctx = Context::new(pool.clone(), template.client.clone(), Default::default());
    let work = Arc::new((invoices, message_ids));
    let next = Arc::new(AtomicUsize::new(0));
    let per_tx = per_tx.max(1);
    let meter = bench.meter();
    let started = Instant::now();
    let tasks: Vec<_> = (0..pool_size)
        .map(|_| {
            let (ctx, work, next) = (ctx.clone(), work.clone(), next.clone());
            tokio::spawn(async move {
                let (invoices, message_ids) = &*work;
                let mut latencies = Latencies::default();
                let mut ok = 0u64;
                let mut other = 0u64;
                loop {
                    let from = next.fetch_add(per_tx, Ordering::Relaxed);
                    if from >= invoices.len() {
                        break;
                    }
                    let to = (from + per_tx).min(invoices.len());
                    let inputs: Vec<_> = (from..to)
                        .map(|i| {
                            let input = ApplyInput {
                                message_id: &message_ids[i],
                                received_at: Some(chrono::Utc::now()),
                                invoice: &invoices[i],
                            };
                            (input, Verdict::Complete)
                        })
                        .collect();
                    let t = Instant::now();
                    let outcomes = apply(&ctx, &inputs).await;
                    latencies.record(t.elapsed());
                    for outcome in outcomes {
                        match outcome {
                            Outcome::Applied { .. } => ok += 1,
                            _ => other += 1,
                        }
                    }
                }
                (ok, other, latencies)
            })
        })
        .collect();
    let stats = RunStats::gather(tasks, "not applied", started).await?;
    let usage = bench.record(&format!("worker ceiling, {per_tx} per tx"), meter);
    pool.close().await;
    sqlx::query(
        "UPDATE outbox_events SET published_at = now() WHERE id > $1 AND published_at IS NULL",
    )
    .bind(outbox_before)
    .execute(&bench.pool)
    .await?;
    Ok((stats, usage))
}
