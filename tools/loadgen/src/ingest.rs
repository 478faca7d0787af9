//! Scenario 1, ingest: valid, signed, distinct postbacks at each concurrency for a fixed
//! time, beside the HTTP ceiling (a bare actix-web handler on the same path) and the broker
//! ceiling (confirmed persistent publishes to the same quorum queue). The worker is stopped,
//! so after each run the queue holds exactly what was confirmed: that count is checked
//! against the 200s.

use std::net::{SocketAddr, TcpListener};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use cryptocloud::InvoiceId;
use hyper::StatusCode;
use serde::{Deserialize, Serialize};

use crate::bench::Bench;
use crate::fixtures::PostbackSigner;
use crate::load::{self, MakeRequest, Until};
use crate::stats::RunStats;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Level {
    pub concurrency: usize,
    pub ingest: RunStats,
    /// Messages in the queue after the ingest run: must equal `ingest.ok`.
    pub queued: u64,
    pub http_ceiling: RunStats,
    pub broker_ceiling: RunStats,
}

impl Level {
    pub fn of_broker(&self) -> f64 {
        self.ingest.rate / self.broker_ceiling.rate.max(1e-9)
    }
    pub fn of_http(&self) -> f64 {
        self.ingest.rate / self.http_ceiling.rate.max(1e-9)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IngestResult {
    pub levels: Vec<Level>,
    /// Open loop at half the best rate above.
    pub half_rate: f64,
    pub at_half_rate: RunStats,
}

/// Distinct valid postbacks: request `i` is for its own invoice.
fn postbacks(signer: PostbackSigner) -> MakeRequest {
    let salt: String = uuid::Uuid::new_v4().simple().to_string()[..6].to_ascii_uppercase();
    Arc::new(move |i| {
        let invoice = InvoiceId::parse(&format!("B{salt}{i:09}")).expect("alphanumeric code");
        signer.request(&invoice, None)
    })
}

pub async fn run(bench: &mut Bench) -> anyhow::Result<IngestResult> {
    let signer = PostbackSigner::new(stack::dev_credentials::SECRET_KEY, bench.ingest_addr());
    let duration = bench.opts.duration();
    bench.stop_worker().await?;
    let bare = BareServer::start().await?;
    bench.extra.push(("bare-http".into(), bare.pid));

    let mut levels = Vec::new();
    for &concurrency in &bench.opts.concurrency.clone() {
        eprintln!("ingest: concurrency {concurrency}");
        bench.purge_work_queue().await?;
        let meter = bench.meter();
        let ingest = load::closed_loop(
            bench.ingest_addr(),
            concurrency,
            Until::Elapsed(duration),
            StatusCode::OK,
            postbacks(signer.clone()),
        )
        .await;
        bench.record(&format!("ingest c={concurrency}"), meter);
        let queued = bench.work_queue_len().await? as u64;
        eprintln!(
            "  ingest {:.0}/s p99 {:.1} ms, {} errors, queued {queued} of {} ok",
            ingest.rate,
            ingest.latency.p99_ms,
            ingest.error_count(),
            ingest.ok
        );

        let meter = bench.meter();
        let http_ceiling = load::closed_loop(
            bare.addr,
            concurrency,
            Until::Elapsed(duration),
            StatusCode::OK,
            postbacks(signer.clone()),
        )
        .await;
        bench.record(&format!("http ceiling c={concurrency}"), meter);
        eprintln!("  http ceiling {:.0}/s", http_ceiling.rate);

        bench.purge_work_queue().await?;
        let meter = bench.meter();
        let broker_ceiling = crate::broker::confirmed_publishes(
            &bench.amqp,
            &bench.topology.exchange,
            events::ROUTING_KEY_POSTBACK,
            concurrency,
            duration,
        )
        .await?;
        bench.record(&format!("broker ceiling c={concurrency}"), meter);
        eprintln!("  broker ceiling {:.0}/s", broker_ceiling.rate);
        bench.purge_work_queue().await?;
        levels.push(Level {
            concurrency,
            ingest,
            queued,
            http_ceiling,
            broker_ceiling,
        });
    }
    bench.extra.retain(|(name, _)| name != "bare-http");
    bare.stop().await;

    let best = levels.iter().map(|l| l.ingest.rate).fold(0.0_f64, f64::max);
    let half_rate = (best / 2.0).max(1.0);
    // The purges above leave the quorum queue compacting its log for a moment; that is the
    // harness's doing, not the ingest's, so the open loop starts once it has settled.
    tokio::time::sleep(Duration::from_secs(if bench.opts.smoke { 0 } else { 5 })).await;
    eprintln!("ingest: open loop at {half_rate:.0}/s");
    let meter = bench.meter();
    let at_half_rate = load::fixed_rate(
        bench.ingest_addr(),
        64,
        half_rate,
        duration,
        StatusCode::OK,
        postbacks(signer),
    )
    .await;
    bench.record("ingest at half rate", meter);
    eprintln!(
        "  p50 {:.1} ms p99 {:.1} ms, {} errors",
        at_half_rate.latency.p50_ms,
        at_half_rate.latency.p99_ms,
        at_half_rate.error_count()
    );
    bench.purge_work_queue().await?;
    Ok(IngestResult {
        levels,
        half_rate,
        at_half_rate,
    })
}

/// `loadgen bare-http` as a child process on a free port.
struct BareServer {
    addr: SocketAddr,
    pid: u32,
    child: tokio::process::Child,
}

impl BareServer {
    async fn start() -> anyhow::Result<Self> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let child = tokio::process::Command::new(std::env::current_exe()?)
            .args(["bare-http", "--listen", &addr.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        let pid = child.id().unwrap_or(0);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "the bare HTTP server did not start"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(Self { addr, pid, child })
    }

    async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
