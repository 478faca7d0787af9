//! Scenario 1, ingest: valid, signed, distinct postbacks at each concurrency for a fixed
//! time, beside the HTTP ceiling (a bare actix-web handler on the same path) and the broker
//! ceiling (confirmed persistent publishes to the same quorum queue), interleaved: ingest,
//! HTTP ceiling, broker ceiling, repeated `--reps` times at each concurrency. The worker is
//! stopped, so after each run the queue holds exactly what was confirmed: that count is
//! checked against the 200s.

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
use crate::ratio::{cpu_per_unit, cpu_ratio, median_index, CpuPerUnit, Spread};
use crate::stats::RunStats;

/// One concurrency: the figures of its median run (by ingest / broker ceiling) and the
/// ratios over every run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Level {
    pub concurrency: usize,
    pub ingest: RunStats,
    /// Messages in the queue after the ingest run: must equal `ingest.ok`.
    pub queued: u64,
    pub http_ceiling: RunStats,
    pub broker_ceiling: RunStats,
    /// Absent in reports written before the runs were repeated.
    #[serde(default)]
    pub reps: Vec<LevelRep>,
}

/// One interleaved run of the ingest and its two ceilings, with their CPU per unit (per
/// confirmed postback, per bare request, per confirmed publish).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LevelRep {
    pub ingest: RunStats,
    pub queued: u64,
    pub http_ceiling: RunStats,
    pub broker_ceiling: RunStats,
    pub ingest_cpu: CpuPerUnit,
    pub http_cpu: CpuPerUnit,
    pub broker_cpu: CpuPerUnit,
}

impl LevelRep {
    fn of_broker(&self) -> f64 {
        self.ingest.rate / self.broker_ceiling.rate.max(1e-9)
    }
}

impl Level {
    pub fn of_broker(&self) -> f64 {
        self.ingest.rate / self.broker_ceiling.rate.max(1e-9)
    }
    pub fn of_http(&self) -> f64 {
        self.ingest.rate / self.http_ceiling.rate.max(1e-9)
    }

    fn over_reps(&self, f: impl Fn(&LevelRep) -> Option<f64>) -> Option<Spread> {
        Spread::of(self.reps.iter().filter_map(f))
    }

    /// Ingest / broker ceiling over the runs (the single run of an older report).
    pub fn broker_ratio(&self) -> Option<Spread> {
        if self.reps.is_empty() {
            return Spread::of([self.of_broker()]);
        }
        self.over_reps(|r| Some(r.of_broker()))
    }

    /// The ingest's CPU per confirmed postback / the bare handler's per request.
    pub fn cpu_vs_bare(&self) -> Option<Spread> {
        self.over_reps(|r| cpu_ratio(&r.ingest_cpu, "webhook-ingest", &r.http_cpu, "bare-http"))
    }

    /// RabbitMQ's CPU per message on the ingest path / in the broker ceiling.
    pub fn rabbitmq_vs_ceiling(&self) -> Option<Spread> {
        self.over_reps(|r| cpu_ratio(&r.ingest_cpu, "rabbitmq", &r.broker_cpu, "rabbitmq"))
    }

    /// Every run confirmed every 200 and had no errors.
    pub fn all_confirmed(&self) -> bool {
        let one = |ingest: &RunStats, queued: u64| queued == ingest.ok && ingest.error_count() == 0;
        one(&self.ingest, self.queued) && self.reps.iter().all(|r| one(&r.ingest, r.queued))
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
        let mut reps = Vec::new();
        for rep in 0..bench.opts.reps() {
            eprintln!("ingest: concurrency {concurrency}, run {rep}");
            reps.push(interleaved(bench, &bare, &signer, concurrency, duration).await?);
        }
        let ratios: Vec<f64> = reps.iter().map(LevelRep::of_broker).collect();
        let median = reps[median_index(&ratios)].clone();
        levels.push(Level {
            concurrency,
            ingest: median.ingest,
            queued: median.queued,
            http_ceiling: median.http_ceiling,
            broker_ceiling: median.broker_ceiling,
            reps,
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

/// The ingest, then the bare handler, then the broker, at one concurrency.
async fn interleaved(
    bench: &mut Bench,
    bare: &BareServer,
    signer: &PostbackSigner,
    concurrency: usize,
    duration: Duration,
) -> anyhow::Result<LevelRep> {
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
    let ingest_usage = bench.record(&format!("ingest c={concurrency}"), meter);
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
    let http_usage = bench.record(&format!("http ceiling c={concurrency}"), meter);
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
    let broker_usage = bench.record(&format!("broker ceiling c={concurrency}"), meter);
    eprintln!("  broker ceiling {:.0}/s", broker_ceiling.rate);
    bench.purge_work_queue().await?;
    Ok(LevelRep {
        ingest_cpu: cpu_per_unit(&ingest_usage, ingest.ok),
        http_cpu: cpu_per_unit(&http_usage, http_ceiling.ok),
        broker_cpu: cpu_per_unit(&broker_usage, broker_ceiling.ok),
        ingest,
        queued,
        http_ceiling,
        broker_ceiling,
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
