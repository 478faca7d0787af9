//! Command line: the benchmark (default), its smoke version, and the bare HTTP server the
//! benchmark starts as its HTTP ceiling.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use serde::{Deserialize, Serialize};

#[derive(Debug, Parser)]
#[command(
    name = "loadgen",
    about = "Starts the four services (release binaries next to this one) with their own \
             database and RabbitMQ vhost, measures ingest, worker, checkout and memory beside \
             their ceilings, and writes the tables into docs/benchmarks.md"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub options: Options,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The HTTP ceiling: a bare actix-web server answering 200 on the ingest's path.
    BareHttp {
        #[arg(long)]
        listen: String,
    },
}

#[derive(Debug, Clone, Args, Serialize, Deserialize)]
pub struct Options {
    /// Seconds per closed-loop run (each ingest level, each ceiling, each checkout run).
    #[arg(long, default_value_t = 5)]
    pub duration_secs: u64,
    /// Times each scenario runs interleaved with its ceilings; ratios are the median of
    /// the runs, with their range.
    #[arg(long, default_value_t = 3)]
    #[serde(default = "one")]
    pub reps: usize,
    /// Ingest concurrencies (requests or publishes in flight).
    #[arg(long, value_delimiter = ',', default_values_t = [16, 64, 256])]
    pub concurrency: Vec<usize>,
    /// Paid invoices waiting for the worker, per run.
    #[arg(long, default_value_t = 10_000)]
    pub worker_payments: usize,
    /// Database pool of the worker and of its ceiling (WORKER_DB_POOL_SIZE).
    #[arg(long, default_value_t = 10)]
    pub worker_pool: u32,
    /// Seconds of postbacks at half the worker's maximum rate.
    #[arg(long, default_value_t = 10)]
    pub fixed_rate_secs: u64,
    #[arg(long, default_value_t = 64)]
    pub checkout_concurrency: usize,
    /// The slow-sandbox checkout run: latency of every CryptoCloud call.
    #[arg(long, default_value_t = 100)]
    pub checkout_latency_ms: u64,
    /// Which scenarios to run.
    #[arg(long, value_delimiter = ',', default_values_t = ["ingest".to_string(), "checkout".to_string(), "worker".to_string(), "dispatch".to_string()])]
    pub phases: Vec<String>,
    /// A few seconds in all with tiny figures: keeps the benchmark working in CI.
    #[arg(long)]
    pub smoke: bool,
    /// Folder of the service binaries (default: next to this executable).
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
    /// Markdown file whose generated section is replaced (e.g. docs/benchmarks.md).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Also write the raw results as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Results JSON of an earlier run, shown as "before".
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// Appended to the services' DATABASE_URL, e.g. `sslmode=disable` (experiments).
    #[arg(long)]
    pub database_url_params: Option<String>,
    /// Read every service's `/metrics` this often, as Prometheus does (0: never). The
    /// Prometheus recorder keeps histogram samples until they are read.
    #[arg(long, default_value_t = 5)]
    #[serde(default)]
    pub scrape_secs: u64,
    /// Extra environment of a service, `SERVICE:NAME=VALUE` (repeatable), for experiments.
    #[arg(long = "env", value_name = "SERVICE:NAME=VALUE")]
    #[serde(default)]
    pub env: Vec<String>,
    /// Keep the services' logs here (default: read and dropped).
    #[arg(long)]
    pub log_dir: Option<PathBuf>,
}

impl Options {
    /// Shrinks everything for `--smoke`.
    pub fn effective(mut self) -> Self {
        if self.smoke {
            self.duration_secs = 1;
            self.reps = 1;
            self.concurrency = vec![4, 16];
            self.worker_payments = 200;
            self.fixed_rate_secs = 1;
            self.checkout_concurrency = 8;
        }
        self
    }

    pub fn reps(&self) -> usize {
        self.reps.max(1)
    }

    pub fn duration(&self) -> Duration {
        Duration::from_secs(self.duration_secs.max(1))
    }

    pub fn runs(&self, phase: &str) -> bool {
        self.phases.iter().any(|p| p == phase)
    }
}

/// Reports written before `--reps` ran everything once.
fn one() -> usize {
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_issues_figures_and_smoke_shrinks_them() {
        let cli = Cli::parse_from(["loadgen"]);
        let o = cli.options.clone().effective();
        assert_eq!(o.concurrency, [16, 64, 256]);
        assert_eq!(o.worker_payments, 10_000);
        assert_eq!(o.reps, 3);
        assert_eq!(o.checkout_concurrency, 64);
        assert_eq!(o.checkout_latency_ms, 100);
        assert!(o.runs("worker") && o.runs("ingest") && o.runs("checkout"));

        let smoke = Cli::parse_from(["loadgen", "--smoke", "--phases", "ingest"])
            .options
            .effective();
        assert_eq!(smoke.duration_secs, 1);
        assert!(smoke.worker_payments < 1_000);
        assert!(!smoke.runs("worker"));
    }
}
