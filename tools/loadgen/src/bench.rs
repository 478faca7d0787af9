//! The running stack and what every scenario shares: addresses, a database pool, a broker
//! connection, and the per-phase accounting of CPU and memory.

use std::net::SocketAddr;
use std::time::Duration;

use lapin::{Channel, Connection};
use platform::broker::Topology;
use sqlx::PgPool;
use stack::Stack;

use crate::broker;
use crate::cli::Options;
use crate::procs::{Meter, Usage, Who};

pub const SERVICES: [&str; 5] = [
    "webhook-ingest",
    "subscription-worker",
    "checkout",
    "event-dispatcher",
    "cryptocloud-sandbox",
];

pub struct Bench {
    pub opts: Options,
    pub stack: Stack,
    pub pool: PgPool,
    pub amqp: Connection,
    pub channel: Channel,
    pub topology: Topology,
    /// Accounting per phase, in order.
    pub phases: Vec<(String, Usage)>,
    /// Extra processes to account for (the bare HTTP server while it runs).
    pub extra: Vec<(String, u32)>,
}

impl Bench {
    pub fn ingest_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.stack.config.ports.ingest))
    }

    pub fn checkout_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.stack.config.ports.checkout))
    }

    pub fn dispatcher_url(&self) -> String {
        self.stack.dispatcher_url()
    }

    pub fn sandbox_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.stack.config.ports.sandbox)
    }

    /// Starts accounting for a phase: the four services, PostgreSQL, RabbitMQ and this
    /// process (the load generator shares the cores).
    pub fn meter(&mut self) -> Meter {
        let mut groups: Vec<(String, Who)> = Vec::new();
        for name in SERVICES {
            if let Some(pid) = self.stack.service_mut(name).pid() {
                groups.push((name.to_string(), Who::Pid(pid)));
            }
        }
        for (name, pid) in &self.extra {
            groups.push((name.clone(), Who::Pid(*pid)));
        }
        groups.push(("postgresql".into(), Who::Command("postgres")));
        groups.push(("rabbitmq".into(), Who::Command("beam.smp")));
        groups.push(("loadgen".into(), Who::Pid(std::process::id())));
        Meter::start(groups)
    }

    /// Ends a phase's accounting and keeps it; returns what it used.
    pub fn record(&mut self, phase: &str, meter: Meter) -> Usage {
        let usage = meter.finish();
        eprintln!(
            "  [{phase}] cpu s: {}",
            usage
                .cpu_s
                .iter()
                .map(|(k, v)| format!("{k}={v:.1}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        self.phases.push((phase.to_string(), usage.clone()));
        usage
    }

    pub async fn purge_work_queue(&self) -> anyhow::Result<()> {
        broker::purge(&self.channel, &self.topology.work_queue).await
    }

    pub async fn work_queue_len(&self) -> anyhow::Result<u32> {
        broker::queue_len(&self.channel, &self.topology.work_queue).await
    }

    /// Waits until what the last run left behind is done (the outbox relayed, the
    /// dispatcher's queue empty), so it does not run into the next one's measurement.
    pub async fn settle(&self) -> anyhow::Result<()> {
        let dispatcher = events::messaging::dispatcher_topology_beside(&self.topology);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
        loop {
            let unsent: i64 =
                sqlx::query_scalar("SELECT count(*) FROM outbox_events WHERE published_at IS NULL")
                    .fetch_one(&self.pool)
                    .await?;
            let queued = broker::queue_len(&self.channel, &dispatcher.work_queue).await?;
            if unsent == 0 && queued == 0 {
                return Ok(());
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "still {unsent} events in the outbox and {queued} in the dispatcher's queue after 300 s"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Stops the worker so postbacks stay in the queue.
    pub async fn stop_worker(&mut self) -> anyhow::Result<()> {
        self.stack.worker.stop(Duration::from_secs(20)).await
    }

    /// Starts the worker again and waits until it consumes.
    pub async fn start_worker(&mut self) -> anyhow::Result<()> {
        if !self.stack.worker.is_running() {
            self.stack.worker.start()?;
        }
        self.stack.wait_healthy(Duration::from_secs(60)).await
    }

    pub async fn sandbox_faults(&self, faults: serde_json::Value) -> anyhow::Result<()> {
        let res = reqwest::Client::new()
            .post(format!("{}/sandbox/faults", self.sandbox_url()))
            .json(&faults)
            .send()
            .await?;
        anyhow::ensure!(
            res.status().is_success(),
            "setting sandbox faults answered {}",
            res.status()
        );
        Ok(())
    }
}
