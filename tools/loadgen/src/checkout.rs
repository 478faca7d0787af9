//! Scenario 3, checkout: `POST /api/v1/checkout` (JSON, bearer user token) against the
//! sandbox at a fixed concurrency, once as the sandbox answers and once with the sandbox
//! answering every API call after a delay.

use std::sync::Arc;

use hyper::StatusCode;
use serde::{Deserialize, Serialize};

use crate::bench::Bench;
use crate::load::{self, Until};
use crate::stats::RunStats;

/// Distinct users the requests rotate through.
const USERS: i64 = 1_000;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckoutRun {
    /// Sandbox latency added to every CryptoCloud call.
    pub sandbox_latency_ms: u64,
    pub concurrency: usize,
    pub stats: RunStats,
}

pub async fn run(bench: &mut Bench) -> anyhow::Result<Vec<CheckoutRun>> {
    let addr = bench.checkout_addr();
    let tokens: Arc<Vec<String>> = Arc::new(
        (1..=USERS)
            .map(|id| format!("Bearer {}", stack::client::user_token(id)))
            .collect(),
    );
    let body = bytes::Bytes::from_static(br#"{"tier":"pro","months":1}"#);
    let concurrency = bench.opts.checkout_concurrency;
    let mut runs = Vec::new();
    for latency_ms in [0, bench.opts.checkout_latency_ms] {
        eprintln!("checkout: concurrency {concurrency}, sandbox latency {latency_ms} ms");
        bench
            .sandbox_faults(serde_json::json!({"latency_ms": latency_ms}))
            .await?;
        let tokens = tokens.clone();
        let body = body.clone();
        let meter = bench.meter();
        let stats = load::closed_loop(
            addr,
            concurrency,
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
        bench.record(&format!("checkout +{latency_ms} ms"), meter);
        eprintln!(
            "  {:.0}/s p99 {:.1} ms, {} errors {:?}",
            stats.rate,
            stats.latency.p99_ms,
            stats.error_count(),
            stats.errors
        );
        runs.push(CheckoutRun {
            sandbox_latency_ms: latency_ms,
            concurrency,
            stats,
        });
    }
    bench.sandbox_faults(serde_json::json!({})).await?;
    Ok(runs)
}
