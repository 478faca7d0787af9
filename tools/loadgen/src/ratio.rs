//! Figures that survive a noisy machine: each scenario runs interleaved with its ceiling
//! (A, ceiling, A, ceiling, …), and what is reported is the median of the per-pair ratios
//! with their range; and CPU per unit of work (µs of CPU per request, message or payment),
//! which barely depends on how busy the machine is.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::procs::Usage;

/// µs of CPU per unit of work, per process group (`postgresql`, `rabbitmq`, a service).
pub type CpuPerUnit = BTreeMap<String, f64>;

/// CPU per unit of a phase that did `units` of work.
pub fn cpu_per_unit(usage: &Usage, units: u64) -> CpuPerUnit {
    let units = units.max(1) as f64;
    usage
        .cpu_s
        .iter()
        .map(|(who, secs)| (who.clone(), secs * 1e6 / units))
        .collect()
}

/// The median of several runs' values with the smallest and largest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub runs: usize,
}

impl Spread {
    /// `None` without values. The median of an even count is the mean of the middle two.
    pub fn of(values: impl IntoIterator<Item = f64>) -> Option<Self> {
        let mut v: Vec<f64> = values.into_iter().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Self {
            median,
            min: v[0],
            max: v[n - 1],
            runs: n,
        })
    }

    /// `62 % (58–66 %, 3 runs)`.
    pub fn percent(&self) -> String {
        self.show(100.0, "%")
    }

    /// `2.1× (1.9–2.4×, 3 runs)`.
    pub fn times(&self) -> String {
        self.show(1.0, "×")
    }

    fn show(&self, scale: f64, unit: &str) -> String {
        let digits = |x: f64| if x * scale >= 10.0 { 0 } else { 1 };
        let d = digits(self.median);
        if self.runs <= 1 {
            return format!("{:.d$}{unit}", self.median * scale);
        }
        format!(
            "{:.d$}{unit} ({:.d$}–{:.d$}{unit}, {} runs)",
            self.median * scale,
            self.min * scale,
            self.max * scale,
            self.runs
        )
    }
}

/// The index of the run whose value is the median (the lower middle of an even count): the
/// run whose full figures a table shows.
pub fn median_index(values: &[f64]) -> usize {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    order
        .get(values.len().saturating_sub(1) / 2)
        .copied()
        .unwrap_or(0)
}

/// `a / b`, the ratio of one group's CPU per unit in two runs.
pub fn cpu_ratio(a: &CpuPerUnit, a_who: &str, b: &CpuPerUnit, b_who: &str) -> Option<f64> {
    let (x, y) = (a.get(a_who)?, b.get(b_who)?);
    (*y > 0.0).then(|| x / y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_and_range_of_runs() {
        let s = Spread::of([0.9, 0.5, 0.7]).unwrap();
        assert_eq!((s.median, s.min, s.max, s.runs), (0.7, 0.5, 0.9, 3));
        assert_eq!(s.percent(), "70% (50–90%, 3 runs)");
        assert_eq!(Spread::of([1.0, 2.0]).unwrap().median, 1.5);
        assert_eq!(Spread::of([2.26]).unwrap().times(), "2.3×");
        assert!(Spread::of(Vec::<f64>::new()).is_none());
        assert_eq!(median_index(&[3.0, 1.0, 2.0]), 2);
        assert_eq!(median_index(&[4.0, 1.0, 2.0, 3.0]), 2);
    }

    #[test]
    fn cpu_per_unit_is_microseconds_per_unit() {
        let usage = Usage {
            wall_s: 10.0,
            cpu_s: BTreeMap::from([("postgresql".to_string(), 2.0)]),
            ..Usage::default()
        };
        let per = cpu_per_unit(&usage, 4_000);
        assert_eq!(per["postgresql"], 500.0);
        let other = BTreeMap::from([("postgresql".to_string(), 250.0)]);
        assert_eq!(
            cpu_ratio(&per, "postgresql", &other, "postgresql"),
            Some(2.0)
        );
    }
}
