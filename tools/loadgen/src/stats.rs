//! Latency histograms (HDR, microsecond resolution) and the summary a run reports.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Latencies of one run, in microseconds, 1 µs to 10 min at 3 significant digits.
pub struct Latencies(Histogram<u64>);

impl Default for Latencies {
    fn default() -> Self {
        Self(Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds"))
    }
}

impl Latencies {
    pub fn record(&mut self, latency: Duration) {
        let micros = (latency.as_micros() as u64).clamp(1, 600_000_000);
        self.0.saturating_record(micros);
    }

    pub fn merge(&mut self, other: &Latencies) {
        // Same bounds on both sides: adding cannot fail.
        let _ = self.0.add(&other.0);
    }

    fn ms_at(&self, quantile: f64) -> f64 {
        self.0.value_at_quantile(quantile) as f64 / 1000.0
    }

    pub fn summary(&self) -> Percentiles {
        Percentiles {
            p50_ms: self.ms_at(0.50),
            p90_ms: self.ms_at(0.90),
            p99_ms: self.ms_at(0.99),
            max_ms: self.0.max() as f64 / 1000.0,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Percentiles {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// What one load run came to.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunStats {
    /// Answers with the expected status (or confirmed publishes).
    pub ok: u64,
    /// Everything else, by what happened (`status 503`, `connect: ...`).
    pub errors: BTreeMap<String, u64>,
    pub elapsed_s: f64,
    /// `ok` per second of `elapsed_s`.
    pub rate: f64,
    /// Latency of the `ok` ones.
    pub latency: Percentiles,
}

impl RunStats {
    pub fn new(
        ok: u64,
        errors: BTreeMap<String, u64>,
        elapsed: Duration,
        latency: &Latencies,
    ) -> Self {
        let elapsed_s = elapsed.as_secs_f64().max(1e-9);
        Self {
            ok,
            errors,
            elapsed_s,
            rate: ok as f64 / elapsed_s,
            latency: latency.summary(),
        }
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// One run's figures from the `(ok, failed, latencies)` of the tasks that made it, the
    /// failed ones counted under `failure`.
    pub async fn gather(
        tasks: Vec<tokio::task::JoinHandle<(u64, u64, Latencies)>>,
        failure: &str,
        started: tokio::time::Instant,
    ) -> anyhow::Result<Self> {
        let (mut ok, mut failed) = (0, 0);
        let mut latencies = Latencies::default();
        for task in futures::future::join_all(tasks).await {
            let (o, f, l) = task?;
            ok += o;
            failed += f;
            latencies.merge(&l);
        }
        let mut errors = BTreeMap::new();
        if failed > 0 {
            errors.insert(failure.to_string(), failed);
        }
        Ok(Self::new(ok, errors, started.elapsed(), &latencies))
    }
}

/// Percentiles of plain millisecond values (timestamps the system recorded).
pub fn percentiles_of_ms(values: &[f64]) -> Percentiles {
    let mut latencies = Latencies::default();
    for v in values {
        latencies.record(Duration::from_secs_f64(v.max(0.0) / 1000.0));
    }
    latencies.summary()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_the_recorded_values() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        let p = percentiles_of_ms(&values);
        assert!((p.p50_ms - 50.0).abs() < 0.1, "{p:?}");
        assert!((p.p99_ms - 99.0).abs() < 0.1, "{p:?}");
        assert!((p.max_ms - 100.0).abs() < 0.1, "{p:?}");
    }

    #[test]
    fn the_rate_is_successes_per_second() {
        let s = RunStats::new(
            500,
            BTreeMap::new(),
            Duration::from_secs(2),
            &Latencies::default(),
        );
        assert_eq!(s.rate, 250.0);
        assert_eq!(s.error_count(), 0);
    }
}
