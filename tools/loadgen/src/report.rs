//! The results of one run, as JSON (kept as the "before" of later runs) and as the
//! generated section of docs/benchmarks.md.

use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::bench::SERVICES;
use crate::checkout::CheckoutRun;
use crate::cli::Options;
use crate::ingest::IngestResult;
use crate::procs::Usage;
use crate::stats::RunStats;
use crate::worker::WorkerResult;

pub const START: &str = "<!-- loadgen:generated:start -->";
pub const END: &str = "<!-- loadgen:generated:end -->";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Meta {
    pub date: String,
    pub cpu_model: String,
    pub cores: usize,
    pub mem_gib: f64,
    pub load_before: f64,
    pub load_after: f64,
    pub git_commit: String,
    pub command: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub meta: Meta,
    pub options: Options,
    pub idle: Usage,
    pub ingest: Option<IngestResult>,
    pub checkout: Option<Vec<CheckoutRun>>,
    pub worker: Option<WorkerResult>,
    /// Absent in reports written before the event dispatcher existed.
    #[serde(default)]
    pub dispatch: Option<crate::dispatch::DispatchResult>,
    pub phases: Vec<(String, Usage)>,
}

/// A target of the issue and where a run stands against it.
struct Target {
    name: &'static str,
    figure: Option<String>,
    met: Option<bool>,
}

/// The production services (the sandbox stands in for CryptoCloud).
const PRODUCTION: [&str; 4] = [
    "webhook-ingest",
    "subscription-worker",
    "checkout",
    "event-dispatcher",
];

fn targets(r: &Report) -> Vec<Target> {
    let mut out = Vec::new();
    let ingest = r.ingest.as_ref();
    let worst = ingest.and_then(|i| {
        i.levels
            .iter()
            .map(|l| (l.of_broker(), l.concurrency))
            .min_by(|a, b| a.0.total_cmp(&b.0))
    });
    let all_confirmed = ingest.is_some_and(|i| {
        i.levels
            .iter()
            .all(|l| l.queued == l.ingest.ok && l.ingest.error_count() == 0)
    });
    out.push(Target {
        name: "ingest ≥ 70% of the broker ceiling, every 200 confirmed (worst concurrency)",
        figure: worst.map(|(ratio, c)| {
            format!(
                "{:.0}% at c={c}{}",
                ratio * 100.0,
                if all_confirmed {
                    ", all confirmed"
                } else {
                    ", NOT all confirmed"
                }
            )
        }),
        met: worst.map(|(ratio, _)| ratio >= 0.70 && all_confirmed),
    });
    out.push(Target {
        name: "ingest p99 < 20 ms at half its maximum rate",
        figure: ingest.map(|i| {
            format!(
                "{:.1} ms at {:.0}/s",
                i.at_half_rate.latency.p99_ms, i.half_rate
            )
        }),
        met: ingest
            .map(|i| i.at_half_rate.latency.p99_ms < 20.0 && i.at_half_rate.error_count() == 0),
    });
    let worker = r.worker.as_ref();
    out.push(Target {
        name: "worker ≥ 100% of the one-transaction-per-payment ceiling",
        figure: worker.map(|w| {
            format!(
                "{:.0}% ({:.0}/s vs {:.0}/s)",
                w.of_ceiling() * 100.0,
                w.drain_rate,
                w.ceiling.rate
            )
        }),
        met: worker.map(|w| w.of_ceiling() >= 1.0),
    });
    out.push(Target {
        name: "postback → upgraded p99 < 250 ms at half the maximum rate",
        figure: worker
            .map(|w| format!("{:.1} ms at {:.0}/s", w.fixed_latency.p99_ms, w.fixed_rate)),
        met: worker.map(|w| w.fixed_latency.p99_ms < 250.0),
    });
    let checkout = r.checkout.as_deref();
    let fast = checkout.and_then(|c| c.iter().find(|r| r.sandbox_latency_ms == 0));
    let slow = checkout.and_then(|c| c.iter().find(|r| r.sandbox_latency_ms > 0));
    out.push(Target {
        name: "checkout ≥ 2,500 requests/s against the sandbox",
        figure: fast.map(|c| format!("{:.0}/s", c.stats.rate)),
        met: fast.map(|c| c.stats.rate >= 2_500.0 && c.stats.error_count() == 0),
    });
    out.push(Target {
        name: "checkout ≥ 500 requests/s when the sandbox answers after 100 ms",
        figure: slow.map(|c| format!("{:.0}/s", c.stats.rate)),
        met: slow.map(|c| c.stats.rate >= 500.0 && c.stats.error_count() == 0),
    });
    let peak = PRODUCTION
        .iter()
        .filter_map(|s| {
            r.phases
                .iter()
                .filter_map(|(_, u)| u.peak_rss_mib.get(*s))
                .copied()
                .reduce(f64::max)
                .map(|m| (*s, m))
        })
        .max_by(|a, b| a.1.total_cmp(&b.1));
    out.push(Target {
        name: "each service under 30 MB RSS under load (largest peak)",
        figure: peak.map(|(s, m)| format!("{:.1} MB ({s})", m * 1.048_576)),
        met: peak.map(|(_, m)| m * 1.048_576 < 30.0),
    });
    out
}

fn mark(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "met",
        Some(false) => "**not met**",
        None => "n/a",
    }
}

fn ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn errors(s: &RunStats) -> String {
    if s.errors.is_empty() {
        "0".into()
    } else {
        s.errors
            .iter()
            .map(|(k, v)| format!("{v} × {k}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// The generated section.
pub fn markdown(r: &Report, baseline: Option<&Report>) -> String {
    let mut md = String::new();
    let m = &r.meta;
    let _ = writeln!(md, "## Results\n");
    let _ = writeln!(
        md,
        "Run of {} on {} cores ({}), {:.1} GiB memory; 1-minute load average {:.2} before and {:.2} after; commit `{}`.\n",
        m.date, m.cores, m.cpu_model, m.mem_gib, m.load_before, m.load_after, m.git_commit
    );
    let _ = writeln!(md, "Command: `{}`\n", m.command);
    let _ = writeln!(
        md,
        "PostgreSQL, RabbitMQ, the five services and the load generator itself all share these {} cores; \
         the CPU table at the end shows who used them.\n",
        m.cores
    );

    let _ = writeln!(md, "### Targets\n");
    let now = targets(r);
    let before = baseline.map(targets);
    if let Some(b) = baseline {
        let _ = writeln!(
            md,
            "\"Before\" is the run of {} (commit `{}`).\n",
            b.meta.date, b.meta.git_commit
        );
        let _ = writeln!(md, "| target | before | after | |");
        let _ = writeln!(md, "| --- | --- | --- | --- |");
    } else {
        let _ = writeln!(md, "| target | figure | |");
        let _ = writeln!(md, "| --- | --- | --- |");
    }
    for (i, t) in now.iter().enumerate() {
        let figure = t.figure.clone().unwrap_or_else(|| "not run".into());
        match &before {
            Some(b) => {
                let bf = b[i].figure.clone().unwrap_or_else(|| "not run".into());
                let _ = writeln!(md, "| {} | {bf} | {figure} | {} |", t.name, mark(t.met));
            }
            None => {
                let _ = writeln!(md, "| {} | {figure} | {} |", t.name, mark(t.met));
            }
        }
    }
    md.push('\n');

    if let Some(i) = &r.ingest {
        let _ = writeln!(md, "### 1. Ingest\n");
        let _ = writeln!(
            md,
            "Valid, signed, distinct JSON postbacks, one keep-alive connection per request in flight, {} s per run. \
             The worker is stopped, so after each run the quorum queue holds exactly what the broker confirmed: \
             \"queued\" is that count and must equal the 200s. HTTP ceiling: a bare actix-web handler on the same \
             path and the same default worker count, same load. Broker ceiling: persistent, mandatory publishes \
             of a postback-sized message to the same exchange and quorum queue, each awaited for its confirm, \
             from this one process over one channel, with the same number in flight.\n",
            r.options.duration_secs
        );
        let _ = writeln!(md, "| in flight | ingest req/s | p50 ms | p90 ms | p99 ms | max ms | errors | queued | HTTP ceiling req/s | p99 ms | broker ceiling msg/s | p99 ms | ingest / HTTP | ingest / broker |");
        let _ = writeln!(md, "| ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        for l in &i.levels {
            let s = &l.ingest;
            let _ = writeln!(
                md,
                "| {} | {:.0} | {} | {} | {} | {} | {} | {} | {:.0} | {} | {:.0} | {} | {:.0}% | {:.0}% |",
                l.concurrency,
                s.rate,
                ms(s.latency.p50_ms),
                ms(s.latency.p90_ms),
                ms(s.latency.p99_ms),
                ms(s.latency.max_ms),
                errors(s),
                l.queued,
                l.http_ceiling.rate,
                ms(l.http_ceiling.latency.p99_ms),
                l.broker_ceiling.rate,
                ms(l.broker_ceiling.latency.p99_ms),
                l.of_http() * 100.0,
                l.of_broker() * 100.0
            );
        }
        let h = &i.at_half_rate;
        let _ = writeln!(
            md,
            "\nOpen loop at half the best rate ({:.0}/s, 64 connections, latency counted from when each request was due): \
             {:.0} answered/s, p50 {} ms, p90 {} ms, p99 {} ms, max {} ms, errors {}.\n",
            i.half_rate,
            h.rate,
            ms(h.latency.p50_ms),
            ms(h.latency.p90_ms),
            ms(h.latency.p99_ms),
            ms(h.latency.max_ms),
            errors(h)
        );
    }

    if let Some(w) = &r.worker {
        let _ = writeln!(md, "### 2. Worker\n");
        let _ = writeln!(
            md,
            "{} invoices paid at the sandbox, their pending payments in PostgreSQL, their postbacks sent through \
             the ingest while the worker was stopped ({:.0}/s, {} errors). Then the worker starts and drains them. \
             Rate = applied payments between the first and the last `processed_at` of the inbox; latency = \
             `processed_at - received_at` (both recorded by the system; `received_at` is set by the ingest). \
             Ceiling: the worker's own one-payment transaction (`subscription_worker::apply::apply`: inbox row, \
             payment lock and update, plan extension, outbox event) called directly, {} at a time on a pool of {} \
             (the worker's `WORKER_DB_POOL_SIZE`), one transaction per payment, no broker and no CryptoCloud call.\n",
            w.payments, w.filled.rate, errors(&w.filled), w.pool_size, w.pool_size
        );
        let _ = writeln!(md, "| payments | worker applied/s | ceiling applied/s | worker / ceiling | ceiling p99 ms per tx | backlog received → applied p50 / p99 ms |");
        let _ = writeln!(md, "| ---: | ---: | ---: | ---: | ---: | --- |");
        let _ = writeln!(
            md,
            "| {} | {:.0} | {:.0} | {:.0}% | {} | {} / {} |",
            w.payments,
            w.drain_rate,
            w.ceiling.rate,
            w.of_ceiling() * 100.0,
            ms(w.ceiling.latency.p99_ms),
            ms(w.drain_latency.p50_ms),
            ms(w.drain_latency.p99_ms)
        );
        let _ = writeln!(
            md,
            "\nAt a fixed rate of half the maximum ({:.0} postbacks/s for {} s through the ingest, {} applied): \
             postback received → plan upgraded p50 {} ms, p90 {} ms, p99 {} ms, max {} ms. The ingest answered \
             those postbacks with p99 {} ms ({}).\n",
            w.fixed_rate,
            r.options.fixed_rate_secs,
            w.fixed_applied,
            ms(w.fixed_latency.p50_ms),
            ms(w.fixed_latency.p90_ms),
            ms(w.fixed_latency.p99_ms),
            ms(w.fixed_latency.max_ms),
            ms(w.fixed_sent.latency.p99_ms),
            if w.fixed_sent.error_count() == 0 { "no errors".to_string() } else { errors(&w.fixed_sent) }
        );
    }

    if let Some(c) = &r.checkout {
        let _ = writeln!(md, "### 3. Checkout\n");
        let _ = writeln!(
            md,
            "`POST /api/v1/checkout` `{{\"tier\":\"pro\",\"months\":1}}` with a bearer token (1,000 users in turn), \
             answered 201 after the payment row, the sandbox's invoice and the pending update; {} s per run.\n",
            r.options.duration_secs
        );
        let _ = writeln!(
            md,
            "| sandbox latency | in flight | req/s | p50 ms | p90 ms | p99 ms | max ms | errors |"
        );
        let _ = writeln!(
            md,
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
        );
        for run in c {
            let s = &run.stats;
            let _ = writeln!(
                md,
                "| {} ms | {} | {:.0} | {} | {} | {} | {} | {} |",
                run.sandbox_latency_ms,
                run.concurrency,
                s.rate,
                ms(s.latency.p50_ms),
                ms(s.latency.p90_ms),
                ms(s.latency.p99_ms),
                ms(s.latency.max_ms),
                errors(s)
            );
        }
        md.push('\n');
    }

    if let Some(d) = &r.dispatch {
        let _ = writeln!(md, "### 4. Event dispatcher\n");
        let _ = writeln!(
            md,
            "{} `payment.partial` events published to the exchange as the worker's relay publishes them \
             (64 in flight, each confirmed), delivered as signed webhooks to one local endpoint that \
             verifies every signature (the run command's demo receiver). Lag: from publish to receipt. \
             Ceiling: the same signed requests POSTed by the load generator straight to the same \
             receiver, 64 in flight (the dispatcher's `DISPATCH_CONCURRENCY`).\n",
            d.events
        );
        let _ = writeln!(md, "| events | delivered/s | ceiling req/s | dispatcher / ceiling | lag p50 ms | p90 ms | p99 ms | max ms |");
        let _ = writeln!(
            md,
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        );
        let _ = writeln!(
            md,
            "| {} | {:.0} | {:.0} | {:.0}% | {} | {} | {} | {} |\n",
            d.events,
            d.rate,
            d.ceiling_rate,
            d.of_ceiling() * 100.0,
            ms(d.lag.p50_ms),
            ms(d.lag.p90_ms),
            ms(d.lag.p99_ms),
            ms(d.lag.max_ms)
        );
    }

    let _ = writeln!(md, "### 5. Memory: peak RSS per phase (MB)\n");
    let scrape = if r.options.scrape_secs > 0 {
        format!(
            "The load generator reads each service's `/metrics` every {} s, as Prometheus would: the \
             recorder keeps histogram samples until they are read.",
            r.options.scrape_secs
        )
    } else {
        "Nothing read the services' `/metrics` in this run, so their histogram samples piled up."
            .to_string()
    };
    let _ = writeln!(md, "Peak resident set (`VmHWM`, reset through `/proc/PID/clear_refs` at the start of each phase; \
        memory a service keeps after a phase shows again in the next). 1 MB = 10^6 bytes. {scrape}\n");
    let _ = writeln!(
        md,
        "| phase | webhook-ingest | subscription-worker | checkout | event-dispatcher | cryptocloud-sandbox |"
    );
    let _ = writeln!(md, "| --- | ---: | ---: | ---: | ---: | ---: |");
    let mb = |u: &Usage, s: &str| {
        u.peak_rss_mib
            .get(s)
            .map(|m| format!("{:.1}", m * 1.048_576))
            .unwrap_or_else(|| "stopped".into())
    };
    let mut rows = vec![("idle (after start-up)".to_string(), r.idle.clone())];
    rows.extend(r.phases.iter().cloned());
    for (phase, u) in &rows {
        let _ = writeln!(
            md,
            "| {phase} | {} | {} | {} | {} | {} |",
            mb(u, SERVICES[0]),
            mb(u, SERVICES[1]),
            mb(u, SERVICES[2]),
            mb(u, SERVICES[3]),
            mb(u, SERVICES[4])
        );
    }
    md.push('\n');

    let _ = writeln!(
        md,
        "### 6. CPU per phase (share of the {} cores)\n",
        m.cores
    );
    let _ = writeln!(md, "CPU time (user + system, from `/proc`) each process used during the phase, divided by the phase's wall time and the cores.\n");
    let _ = writeln!(md, "| phase | wall s | webhook-ingest | subscription-worker | checkout | event-dispatcher | sandbox | PostgreSQL | RabbitMQ | loadgen | bare HTTP |");
    let _ = writeln!(
        md,
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for (phase, u) in &r.phases {
        let share = |k: &str| {
            u.cpu_s
                .get(k)
                .map(|s| format!("{:.0}%", 100.0 * s / (u.wall_s.max(1e-9) * m.cores as f64)))
                .unwrap_or_else(|| "".into())
        };
        let _ = writeln!(
            md,
            "| {phase} | {:.1} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            u.wall_s,
            share("webhook-ingest"),
            share("subscription-worker"),
            share("checkout"),
            share("event-dispatcher"),
            share("cryptocloud-sandbox"),
            share("postgresql"),
            share("rabbitmq"),
            share("loadgen"),
            share("bare-http")
        );
    }
    md
}

/// Replaces the generated section of `path` (creating the file if needed).
pub fn write_markdown(path: &Path, generated: &str) -> anyhow::Result<()> {
    let existing = std::fs::read_to_string(path).unwrap_or_default();
    let section = format!("{START}\n{generated}{END}");
    let text = match (existing.find(START), existing.find(END)) {
        (Some(a), Some(b)) if a < b => {
            format!("{}{section}{}", &existing[..a], &existing[b + END.len()..])
        }
        _ => format!("# Benchmarks\n\nRegenerate with `scripts/bench.sh`.\n\n{section}\n"),
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, text)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_generated_section_is_replaced() {
        let dir = std::env::temp_dir().join(format!("loadgen-{}", uuid::Uuid::new_v4()));
        let path = dir.join("b.md");
        write_markdown(&path, "first\n").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let edited = text.replace("# Benchmarks", "# Benchmarks\n\nHand-written analysis.");
        std::fs::write(&path, edited).unwrap();
        write_markdown(&path, "second\n").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("Hand-written analysis."), "{text}");
        assert!(text.contains("second") && !text.contains("first"), "{text}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
