//! The results of one run, as JSON (kept as the "before" of later runs) and as the
//! generated section of docs/benchmarks.md.

use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::bench::SERVICES;
use crate::checkout::{self, CheckoutRep, CheckoutRun};
use crate::cli::Options;
use crate::ingest::IngestResult;
use crate::procs::Usage;
use crate::ratio::{CpuPerUnit, Spread};
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
    /// Checkout interleaved with its ceiling; absent in reports written before it existed.
    #[serde(default)]
    pub checkout_reps: Vec<CheckoutRep>,
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

/// `c=16 76% (70–80%, 3 runs); c=64 …` and whether every level meets `ok`.
fn per_level(
    r: &Report,
    spread: impl Fn(&crate::ingest::Level) -> Option<Spread>,
    show: impl Fn(&Spread) -> String,
    ok: impl Fn(f64) -> bool,
) -> (Option<String>, Option<bool>) {
    let Some(ingest) = &r.ingest else {
        return (None, None);
    };
    let figures: Vec<(usize, Spread)> = ingest
        .levels
        .iter()
        .filter_map(|l| Some((l.concurrency, spread(l)?)))
        .collect();
    if figures.is_empty() {
        return (None, None);
    }
    let text = figures
        .iter()
        .map(|(c, s)| format!("c={c}: {}", show(s)))
        .collect::<Vec<_>>()
        .join("; ");
    let met = figures.len() == ingest.levels.len() && figures.iter().all(|(_, s)| ok(s.median));
    (Some(text), Some(met))
}

fn targets(r: &Report) -> Vec<Target> {
    let mut out = Vec::new();
    let all_confirmed = r
        .ingest
        .as_ref()
        .is_some_and(|i| i.levels.iter().all(|l| l.all_confirmed()));
    let (figure, met) = per_level(r, |l| l.broker_ratio(), Spread::percent, |m| m >= 0.70);
    out.push(Target {
        name: "ingest ≥ 70% of the broker ceiling at every concurrency, every 200 confirmed",
        figure: figure.map(|f| {
            let confirmed = if all_confirmed {
                "all confirmed"
            } else {
                "NOT all confirmed"
            };
            format!("{f}; {confirmed}")
        }),
        met: met.map(|m| m && all_confirmed),
    });
    let (figure, met) = per_level(r, |l| l.cpu_vs_bare(), Spread::times, |m| m <= 2.5);
    out.push(Target {
        name: "ingest CPU per confirmed postback ≤ 2.5× the bare handler's per request",
        figure,
        met,
    });
    let (figure, met) = per_level(r, |l| l.rabbitmq_vs_ceiling(), Spread::times, |m| m <= 1.2);
    out.push(Target {
        name: "RabbitMQ CPU per message on the ingest path ≤ 1.2× in the broker ceiling",
        figure,
        met,
    });
    let worker = r.worker.as_ref();
    let one = worker.and_then(|w| w.ratio(1));
    out.push(Target {
        name: "worker ≥ 150% of the one-transaction-per-payment ceiling",
        figure: one.map(|s| {
            let batched = crate::worker::CEILING_GROUPS[1..]
                .iter()
                .filter_map(|&k| {
                    Some(format!(
                        "{} of the {k}-per-transaction ceiling",
                        worker?.ratio(k)?.percent()
                    ))
                })
                .collect::<Vec<_>>();
            if batched.is_empty() {
                s.percent()
            } else {
                format!("{}; {}", s.percent(), batched.join(", "))
            }
        }),
        met: one.map(|s| s.median >= 1.5),
    });
    let tail = worker.map(|w| w.fixed_latency.p99_ms / w.fixed_latency.p50_ms.max(1e-9));
    out.push(Target {
        name: "postback → upgraded p99 ≤ 5× its p50 at half the worker's maximum rate",
        figure: worker.zip(tail).map(|(w, t)| {
            format!(
                "{t:.1}× (p50 {} ms, p99 {} ms at {:.0}/s)",
                ms(w.fixed_latency.p50_ms),
                ms(w.fixed_latency.p99_ms),
                w.fixed_rate
            )
        }),
        met: tail.map(|t| t <= 5.0),
    });
    let reps = &r.checkout_reps;
    let ratio = checkout::ratio(reps);
    let clean = reps.iter().all(|c| c.checkout.error_count() == 0);
    out.push(Target {
        name: "checkout ≥ 60% of its ceiling (the same SQL and sandbox call, no HTTP)",
        figure: ratio.map(|s| s.percent()),
        met: ratio.map(|s| s.median >= 0.60 && clean),
    });
    let pg = checkout::postgres_per_checkout(reps);
    out.push(Target {
        name: "PostgreSQL CPU per checkout ≤ 0.4 ms",
        figure: pg.map(|s| {
            let vs = checkout::postgres_vs_ceiling(reps)
                .map(|v| format!("; {} the ceiling's", v.times()))
                .unwrap_or_default();
            format!("{} µs ({:.0}–{:.0}){vs}", s.median.round(), s.min, s.max)
        }),
        met: pg.map(|s| s.median <= 400.0),
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
        name: "each service under 30 MB RSS, 256 connections included (largest peak)",
        figure: peak.map(|(s, m)| format!("{:.1} MB ({s})", m * 1.048_576)),
        met: peak.map(|(_, m)| m * 1.048_576 < 30.0),
    });
    out
}

/// Figures the issue sets no target for, as ratios of the same run.
fn other_ratios(r: &Report) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(i) = &r.ingest {
        let h = &i.at_half_rate.latency;
        out.push((
            "ingest p99 / p50 at half its maximum rate".to_string(),
            format!(
                "{:.1}× (p50 {} ms, p99 {} ms at {:.0}/s)",
                h.p99_ms / h.p50_ms.max(1e-9),
                ms(h.p50_ms),
                ms(h.p99_ms),
                i.half_rate
            ),
        ));
        for l in &i.levels {
            if let Some(s) = Spread::of(
                l.reps
                    .iter()
                    .map(|r| r.ingest.rate / r.http_ceiling.rate.max(1e-9)),
            ) {
                out.push((
                    format!("ingest / HTTP ceiling, c={}", l.concurrency),
                    s.percent(),
                ));
            }
        }
    }
    if let Some(slow) = r
        .checkout
        .as_deref()
        .and_then(|c| c.iter().find(|c| c.sandbox_latency_ms > 0))
    {
        // One sandbox call per checkout: with each delayed, in flight ÷ delay is the most
        // any server answers.
        let bound = slow.concurrency as f64 * 1000.0 / slow.sandbox_latency_ms as f64;
        out.push((
            format!(
                "checkout with the sandbox answering after {} ms / the latency bound ({} in flight ÷ {} ms = {bound:.0}/s)",
                slow.sandbox_latency_ms, slow.concurrency, slow.sandbox_latency_ms
            ),
            format!("{:.0}% ({:.0}/s)", 100.0 * slow.stats.rate / bound, slow.stats.rate),
        ));
    }
    if let Some(d) = &r.dispatch {
        out.push((
            "event dispatcher / its ceiling (signed POSTs straight to the receiver)".to_string(),
            format!("{:.0}% ({:.0}/s)", d.of_ceiling() * 100.0, d.rate),
        ));
    }
    out
}

/// One row of the CPU-per-unit table: the median over runs of each group's µs per unit.
fn cpu_row(md: &mut String, work: &str, unit: &str, runs: &[&CpuPerUnit]) {
    if runs.is_empty() {
        return;
    }
    let cell = |who: &str| {
        Spread::of(runs.iter().filter_map(|r| r.get(who).copied()))
            .filter(|s| s.median >= 0.5)
            .map(|s| format!("{:.0}", s.median))
            .unwrap_or_default()
    };
    let _ = writeln!(
        md,
        "| {work} | {unit} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        cell("webhook-ingest"),
        cell("bare-http"),
        cell("checkout"),
        cell("subscription-worker"),
        cell("event-dispatcher"),
        cell("cryptocloud-sandbox"),
        cell("postgresql"),
        cell("rabbitmq"),
        cell("loadgen")
    );
}

/// `3 runs`, `1 run`.
fn runs(r: &Report) -> String {
    match r.options.reps.max(1) {
        1 => "1 run".to_string(),
        n => format!("{n} runs"),
    }
}

fn cpu_table(md: &mut String, r: &Report) {
    let _ = writeln!(md, "### CPU per unit of work (µs)\n");
    let _ = writeln!(
        md,
        "CPU time (user + system) of each process during a run divided by the units the run \
         completed (confirmed postbacks, bare requests, confirmed publishes, checkouts, \
         applied payments), median over {} interleaved. In the ceilings the load \
         generator does the service's work itself, so its column is the service's there.\n",
        runs(r)
    );
    let _ = writeln!(md, "| work | per | webhook-ingest | bare HTTP | checkout | subscription-worker | event-dispatcher | sandbox | PostgreSQL | RabbitMQ | loadgen |");
    let _ = writeln!(
        md,
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    if let Some(i) = &r.ingest {
        for l in &i.levels {
            let c = l.concurrency;
            let reps = &l.reps;
            cpu_row(
                md,
                &format!("ingest, c={c}"),
                "confirmed postback",
                &reps.iter().map(|r| &r.ingest_cpu).collect::<Vec<_>>(),
            );
            cpu_row(
                md,
                &format!("bare handler, c={c}"),
                "request",
                &reps.iter().map(|r| &r.http_cpu).collect::<Vec<_>>(),
            );
            cpu_row(
                md,
                &format!("broker ceiling, c={c}"),
                "confirmed publish",
                &reps.iter().map(|r| &r.broker_cpu).collect::<Vec<_>>(),
            );
        }
    }
    let reps = &r.checkout_reps;
    cpu_row(
        md,
        "checkout",
        "checkout (201)",
        &reps.iter().map(|r| &r.checkout_cpu).collect::<Vec<_>>(),
    );
    cpu_row(
        md,
        "checkout ceiling",
        "payment opened",
        &reps.iter().map(|r| &r.ceiling_cpu).collect::<Vec<_>>(),
    );
    if let Some(w) = &r.worker {
        cpu_row(
            md,
            "worker drain",
            "applied payment",
            &w.reps.iter().map(|r| &r.drain_cpu).collect::<Vec<_>>(),
        );
        for k in crate::worker::CEILING_GROUPS {
            let runs: Vec<&CpuPerUnit> = w
                .reps
                .iter()
                .flat_map(|r| r.ceilings.iter().filter(|c| c.per_tx == k).map(|c| &c.cpu))
                .collect();
            cpu_row(
                md,
                &format!("worker ceiling, {k} per transaction"),
                "applied payment",
                &runs,
            );
        }
    }
    md.push('\n');
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
    let _ = writeln!(
        md,
        "Each ratio is the median over {} of the scenario interleaved with its ceiling \
         (scenario, ceiling, scenario, ceiling, …), with the range of the runs.\n",
        runs(r)
    );
    let others = other_ratios(r);
    if !others.is_empty() {
        let _ = writeln!(md, "| other ratio (no target) | figure |");
        let _ = writeln!(md, "| --- | --- |");
        for (name, figure) in others {
            let _ = writeln!(md, "| {name} | {figure} |");
        }
        md.push('\n');
    }
    cpu_table(&mut md, r);

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
             Ceilings: the worker's own apply transaction (`subscription_worker::apply::apply`: inbox row, \
             payment lock and update, plan extension, two outbox events) called directly, {} at a time on a pool of {} \
             (the worker's `WORKER_DB_POOL_SIZE`), with 1, 10 and 100 payments per transaction, no broker and no \
             CryptoCloud call; their events are marked sent afterwards so they do not load the drain. Each run is \
             the three ceilings and then the drain; the median run (by worker / one-transaction ceiling) gives \
             the latencies.\n",
            w.payments, w.filled.rate, errors(&w.filled), w.pool_size, w.pool_size
        );
        let _ = writeln!(md, "| run | worker applied/s | ceiling 1/tx | 10/tx | 100/tx | worker / 1/tx | / 10/tx | / 100/tx |");
        let _ = writeln!(
            md,
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        );
        for (n, rep) in w.reps.iter().enumerate() {
            let rate = |k: usize| {
                rep.ceilings
                    .iter()
                    .find(|c| c.per_tx == k)
                    .map_or(0.0, |c| c.stats.rate)
            };
            let [a, b, c] = crate::worker::CEILING_GROUPS.map(rate);
            let pct = |x: f64| format!("{:.0}%", 100.0 * rep.drain_rate / x.max(1e-9));
            let _ = writeln!(
                md,
                "| {} | {:.0} | {a:.0} | {b:.0} | {c:.0} | {} | {} | {} |",
                n + 1,
                rep.drain_rate,
                pct(a),
                pct(b),
                pct(c)
            );
        }
        let _ = writeln!(
            md,
            "\nMedian run: backlog received → applied p50 {} ms, p99 {} ms; one-transaction ceiling p99 {} ms per transaction.",
            ms(w.drain_latency.p50_ms),
            ms(w.drain_latency.p99_ms),
            ms(w.ceiling.latency.p99_ms)
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
             answered 201 after the payment row, the sandbox's invoice and the pending update; {} s per run. \
             Ceiling: `payments::creation::open` (the same statements and sandbox call) called directly by the \
             load generator with the same users, plan, concurrency and a pool of checkout's default size, \
             interleaved with the HTTP runs; the first row below is the median run.\n",
            r.options.duration_secs
        );
        if !r.checkout_reps.is_empty() {
            let _ = writeln!(md, "| run | checkout/s | ceiling/s | checkout / ceiling | checkout p99 ms | ceiling p99 ms |");
            let _ = writeln!(md, "| ---: | ---: | ---: | ---: | ---: | ---: |");
            for (n, rep) in r.checkout_reps.iter().enumerate() {
                let _ = writeln!(
                    md,
                    "| {} | {:.0} | {:.0} | {:.0}% | {} | {} |",
                    n + 1,
                    rep.checkout.rate,
                    rep.ceiling.rate,
                    100.0 * rep.checkout.rate / rep.ceiling.rate.max(1e-9),
                    ms(rep.checkout.latency.p99_ms),
                    ms(rep.ceiling.latency.p99_ms)
                );
            }
            md.push('\n');
        }
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
