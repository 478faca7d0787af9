//! `loadgen`: starts the real services (the release binaries beside it) on their own
//! database and RabbitMQ vhost, runs the scenarios, tears everything down and writes the
//! report. `loadgen bare-http` is the HTTP ceiling it starts for itself.

mod bare;
mod bench;
mod broker;
mod checkout;
mod cli;
mod dispatch;
mod fixtures;
mod ingest;
mod load;
mod procs;
mod ratio;
mod report;
mod stats;
mod worker;

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use stack::{LogMode, Stack, StackConfig};

use crate::bench::Bench;
use crate::cli::{Cli, Command, Options};
use crate::report::{Meta, Report};

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::BareHttp { listen }) = cli.command {
        return Ok(bare::serve(&listen)?);
    }
    let options = cli.options.effective();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(options))
}

fn bin_dir(options: &Options) -> anyhow::Result<PathBuf> {
    let dir = match &options.bin_dir {
        Some(dir) => dir.clone(),
        None => std::env::current_exe()?
            .parent()
            .map(PathBuf::from)
            .ok_or_else(|| anyhow::anyhow!("no folder around this executable"))?,
    };
    for name in bench::SERVICES {
        anyhow::ensure!(
            dir.join(name).exists(),
            "{name} is not built in {}: run `cargo build --release --bins` (scripts/bench.sh does)",
            dir.display()
        );
    }
    Ok(dir)
}

async fn run(options: Options) -> anyhow::Result<()> {
    // Service logs are read and dropped unless asked for: writing them out line by line
    // from this process would make the services wait on a slow pipe reader.
    let log = match &options.log_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            eprintln!("service logs: {}", dir.display());
            LogMode::Dir(dir.clone())
        }
        None => LogMode::Quiet,
    };
    let scratch = std::env::temp_dir().join(format!("loadgen-{}", std::process::id()));
    let mut config = StackConfig::isolated(bin_dir(&options)?, scratch)?;
    config.log = log;
    // The contract's defaults: reconciliation must not apply the waiting payments itself.
    config.worker_sweep_interval_secs = 60;
    config.worker_reconcile_after_secs = 600;
    config
        .extra_env
        .entry("subscription-worker".into())
        .or_default()
        .insert(
            "WORKER_DB_POOL_SIZE".into(),
            options.worker_pool.to_string(),
        );
    if let Some(params) = &options.database_url_params {
        let url = format!("{}?{params}", stack::infra::database_url(&config.database));
        for service in ["checkout", "subscription-worker"] {
            config
                .extra_env
                .entry(service.into())
                .or_default()
                .insert("DATABASE_URL".into(), url.clone());
        }
    }
    for setting in &options.env {
        let (service, pair) = setting
            .split_once(':')
            .ok_or_else(|| anyhow::anyhow!("--env {setting}: expected SERVICE:NAME=VALUE"))?;
        let (name, value) = pair
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--env {setting}: expected SERVICE:NAME=VALUE"))?;
        config
            .extra_env
            .entry(service.to_string())
            .or_default()
            .insert(name.to_string(), value.to_string());
    }

    let load_before = procs::load_average();
    let stack = Stack::start(config).await?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .connect(&stack.database_url())
        .await;
    let amqp = broker::connect(&stack::infra::amqp_url(&stack.config.vhost)).await;
    let (pool, amqp) = match (pool, amqp) {
        (Ok(p), Ok(a)) => (p, a),
        (p, a) => {
            stack.destroy().await?;
            anyhow::bail!(
                "cannot reach the stack's database or vhost: {:?} {:?}",
                p.err(),
                a.err()
            );
        }
    };
    let channel = amqp.create_channel().await?;
    let mut bench = Bench {
        opts: options.clone(),
        stack,
        pool,
        amqp,
        channel,
        topology: events::messaging::worker_topology(),
        phases: Vec::new(),
        extra: Vec::new(),
    };

    let scraper = (options.scrape_secs > 0).then(|| {
        let ports = bench.stack.config.ports;
        tokio::spawn(scrape(
            [ports.ingest, ports.worker, ports.checkout, ports.dispatcher],
            Duration::from_secs(options.scrape_secs),
        ))
    });
    let outcome = scenarios(&mut bench).await;
    if let Some(scraper) = scraper {
        scraper.abort();
    }
    let Bench {
        stack,
        pool,
        amqp,
        phases,
        ..
    } = bench;
    pool.close().await;
    let _ = amqp.close(200, "done".into()).await;
    stack.destroy().await?;
    let (idle, ingest, checkout, worker, dispatch) = outcome?;
    let (checkout, checkout_reps) = match checkout {
        Some((runs, reps)) => (Some(runs), reps),
        None => (None, Vec::new()),
    };

    let report = Report {
        meta: Meta {
            date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
            cpu_model: procs::cpu_model(),
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            mem_gib: procs::mem_total_gib(),
            load_before,
            load_after: procs::load_average(),
            git_commit: git_commit(),
            command: std::env::args().collect::<Vec<_>>().join(" "),
        },
        options: options.clone(),
        idle,
        ingest,
        checkout,
        checkout_reps,
        worker,
        dispatch,
        phases,
    };
    // The results are kept first, whatever happens to the rest.
    if let Some(path) = &options.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)?;
    }
    let baseline = match &options.baseline {
        Some(path) => {
            let text = std::fs::read_to_string(path)?;
            Some(serde_json::from_str::<Report>(&text).map_err(|e| {
                anyhow::anyhow!("the baseline {} cannot be read: {e}", path.display())
            })?)
        }
        None => None,
    };
    let markdown = report::markdown(&report, baseline.as_ref());
    if let Some(path) = &options.out {
        report::write_markdown(path, &markdown)?;
        eprintln!("wrote {}", path.display());
    }
    println!("{markdown}");
    Ok(())
}

type Outcome = (
    procs::Usage,
    Option<ingest::IngestResult>,
    Option<(Vec<checkout::CheckoutRun>, Vec<checkout::CheckoutRep>)>,
    Option<worker::WorkerResult>,
    Option<dispatch::DispatchResult>,
);

async fn scenarios(bench: &mut Bench) -> anyhow::Result<Outcome> {
    let settle = if bench.opts.smoke { 1 } else { 3 };
    let meter = bench.meter();
    tokio::time::sleep(Duration::from_secs(settle)).await;
    let idle = meter.finish();
    let ingest = match bench.opts.runs("ingest") {
        true => Some(ingest::run(bench).await?),
        false => None,
    };
    let checkout = match bench.opts.runs("checkout") {
        true => Some(checkout::run(bench).await?),
        false => None,
    };
    let worker = match bench.opts.runs("worker") {
        true => Some(worker::run(bench).await?),
        false => None,
    };
    let dispatch = match bench.opts.runs("dispatch") {
        true => Some(dispatch::run(bench).await?),
        false => None,
    };
    Ok((idle, ingest, checkout, worker, dispatch))
}

/// Reads `/metrics` of each service every `every`, as a Prometheus server would.
async fn scrape(ports: [u16; 4], every: Duration) {
    let http = reqwest::Client::new();
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        for port in ports {
            let url = format!("http://127.0.0.1:{port}/metrics");
            if let Ok(response) = http.get(url).send().await {
                let _ = response.bytes().await;
            }
        }
    }
}

/// The commit measured, marked when the work tree has changes.
fn git_commit() -> String {
    let run = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let commit = run(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into());
    match run(&["status", "--porcelain", "--untracked-files=no"]) {
        Some(changes) if !changes.is_empty() => format!("{commit} + uncommitted changes"),
        _ => commit,
    }
}
