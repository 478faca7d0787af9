//! Scenario 3, checkout: `POST /api/v1/checkout` (JSON, bearer user token) against the
//! sandbox at a fixed concurrency, interleaved with its ceiling, `--reps` times; then once
//! with the sandbox answering every API call after a delay. The ceiling is what checkout
//! does inside: `payments::creation::open` (the `creating` row, the sandbox's invoice
//! call, the `pending` update) called directly from here, with the same users, plan,
//! concurrency and pool size: the same SQL and the same sandbox call, no HTTP in front.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::time::Instant;

use hyper::StatusCode;
use payments::creation::{self, Invoicing, NewPayment};
use payments::{OrderId, Tier, UserId};
use serde::{Deserialize, Serialize};
use sqlx::postgres::PgPoolOptions;

use crate::bench::Bench;
use crate::load::{self, Until};
use crate::ratio::{cpu_per_unit, cpu_ratio, median_index, CpuPerUnit, Spread};
use crate::stats::{Latencies, RunStats};

/// Distinct users the requests rotate through.
const USERS: i64 = 1_000;
/// Checkout's default `CHECKOUT_DB_POOL_SIZE`, which the ceiling's pool matches.
const POOL_SIZE: u32 = 10;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckoutRun {
    /// Sandbox latency added to every CryptoCloud call.
    pub sandbox_latency_ms: u64,
    pub concurrency: usize,
    pub stats: RunStats,
}

/// One interleaved run: checkout over HTTP, then its ceiling.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckoutRep {
    pub checkout: RunStats,
    pub ceiling: RunStats,
    pub checkout_cpu: CpuPerUnit,
    pub ceiling_cpu: CpuPerUnit,
}

impl CheckoutRep {
    fn of_ceiling(&self) -> f64 {
        self.checkout.rate / self.ceiling.rate.max(1e-9)
    }
}

/// Checkout / its ceiling over the runs.
pub fn ratio(reps: &[CheckoutRep]) -> Option<Spread> {
    Spread::of(reps.iter().map(CheckoutRep::of_ceiling))
}

/// PostgreSQL's CPU per checkout (µs) over the runs.
pub fn postgres_per_checkout(reps: &[CheckoutRep]) -> Option<Spread> {
    Spread::of(
        reps.iter()
            .filter_map(|r| r.checkout_cpu.get("postgresql").copied()),
    )
}

/// PostgreSQL's CPU per checkout over HTTP / per call of the ceiling.
pub fn postgres_vs_ceiling(reps: &[CheckoutRep]) -> Option<Spread> {
    Spread::of(
        reps.iter()
            .filter_map(|r| cpu_ratio(&r.checkout_cpu, "postgresql", &r.ceiling_cpu, "postgresql")),
    )
}

/// The runs at each sandbox latency (the median fast run first) and every interleaved run.
pub async fn run(bench: &mut Bench) -> anyhow::Result<(Vec<CheckoutRun>, Vec<CheckoutRep>)> {
    let concurrency = bench.opts.checkout_concurrency;
    bench.sandbox_faults(serde_json::json!({})).await?;
    let mut reps = Vec::new();
    for rep in 0..bench.opts.reps() {
        eprintln!("checkout: concurrency {concurrency}, run {rep}");
        let (checkout, usage) = over_http(bench, 0).await?;
        let checkout_cpu = cpu_per_unit(&usage, checkout.ok);
        let (ceiling, usage) = ceiling(bench).await?;
        eprintln!("  ceiling {:.0}/s", ceiling.rate);
        let ceiling_cpu = cpu_per_unit(&usage, ceiling.ok);
        reps.push(CheckoutRep {
            checkout,
            ceiling,
            checkout_cpu,
            ceiling_cpu,
        });
    }
    let ratios: Vec<f64> = reps.iter().map(CheckoutRep::of_ceiling).collect();
    let mut runs = vec![CheckoutRun {
        sandbox_latency_ms: 0,
        concurrency,
        stats: reps[median_index(&ratios)].checkout.clone(),
    }];
    let latency_ms = bench.opts.checkout_latency_ms;
    bench
        .sandbox_faults(serde_json::json!({"latency_ms": latency_ms}))
        .await?;
    let (stats, _) = over_http(bench, latency_ms).await?;
    runs.push(CheckoutRun {
        sandbox_latency_ms: latency_ms,
        concurrency,
        stats,
    });
    bench.sandbox_faults(serde_json::json!({})).await?;
    Ok((runs, reps))
}

async fn over_http(
    bench: &mut Bench,
    latency_ms: u64,
) -> anyhow::Result<(RunStats, crate::procs::Usage)> {
    let addr = bench.checkout_addr();
    let tokens: Arc<Vec<String>> = Arc::new(
        (1..=USERS)
            .map(|id| format!("Bearer {}", stack::client::user_token(id)))
            .collect(),
    );
    let body = bytes::Bytes::from_static(br#"{"tier":"pro","months":1}"#);
    let meter = bench.meter();
    let stats = load::closed_loop(
        addr,
        bench.opts.checkout_concurrency,
        Until::Elapsed(bench.opts.duration()),
        StatusCode::CREATED,
        Arc::new(move |i| {
            let token = &tokens[i as usize % tokens.len()];
            load::post(
                addr,
                "/api/v1/checkout",
                "application/json",
                &[("authorization", token)],
                body.clone(),
            )
        }),
    )
    .await;
    let usage = bench.record(&format!("checkout +{latency_ms} ms"), meter);
    eprintln!(
        "  {:.0}/s p99 {:.1} ms, {} errors {:?}",
        stats.rate,
        stats.latency.p99_ms,
        stats.error_count(),
        stats.errors
    );
    Ok((stats, usage))
}

/// `creation::open` directly, as checkout's handler calls it for `{"tier":"pro","months":1}`.
async fn ceiling(bench: &mut Bench) -> anyhow::Result<(RunStats, crate::procs::Usage)> {
    let catalogue = plans::PlanCatalogue::defaults();
    let plan = catalogue
        .get("pro")
        .ok_or_else(|| anyhow::anyhow!("no pro plan in the default catalogue"))?
        .clone();
    let client = cryptocloud::Client::new(cryptocloud::ClientConfig::new(
        bench.sandbox_url(),
        secrecy::SecretString::from(stack::dev_credentials::API_KEY.to_string()),
    ))?;
    let pool = PgPoolOptions::new()
        .max_connections(POOL_SIZE)
        .connect(&bench.stack.database_url())
        .await?;
    let base = format!("http://127.0.0.1:{}", bench.stack.config.ports.checkout);
    let page_data = serde_json::json!({
        "success_url": format!("{base}/dashboard/payment/success"),
        "fail_url": format!("{base}/dashboard/payment/error"),
    });
    let shared = Arc::new((plan, client, pool.clone(), page_data));
    let next = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + bench.opts.duration();
    let meter = bench.meter();
    let started = Instant::now();
    let tasks: Vec<_> = (0..bench.opts.checkout_concurrency)
        .map(|_| {
            let (shared, next) = (shared.clone(), next.clone());
            tokio::spawn(async move {
                let (plan, client, pool, page_data) = &*shared;
                let tier = Tier::of(plan);
                let invoicing = Invoicing {
                    client,
                    shop_id: stack::dev_credentials::SHOP_ID,
                };
                let mut latencies = Latencies::default();
                let (mut ok, mut failed) = (0u64, 0u64);
                while Instant::now() < until {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let user = UserId::new(1 + (i as i64 % USERS)).expect("a positive id");
                    let order_id = OrderId::generate();
                    let new = NewPayment {
                        user,
                        order_id: &order_id,
                        amount: plan.amount_for(1),
                        currency: plan.currency(),
                        payment_method: None,
                        tier: &tier,
                        months: 1,
                        payment_data: None,
                        renewal_for: None,
                    };
                    let t = Instant::now();
                    match creation::open(pool, invoicing, &new, page_data.clone()).await {
                        Ok(Some(_)) => {
                            ok += 1;
                            latencies.record(t.elapsed());
                        }
                        _ => failed += 1,
                    }
                }
                (ok, failed, latencies)
            })
        })
        .collect();
    let stats = RunStats::gather(tasks, "not opened", started).await?;
    let usage = bench.record("checkout ceiling", meter);
    pool.close().await;
    Ok((stats, usage))
}
