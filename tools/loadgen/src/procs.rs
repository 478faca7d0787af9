//! What each process used during a phase, read from `/proc`: peak resident memory (the
//! kernel's high-water mark, reset at the start of the phase through `clear_refs`) and CPU
//! time (user + system). A coarse profile of the whole machine: who burnt the two cores.

use std::collections::BTreeMap;
use std::fs;

use serde::{Deserialize, Serialize};

/// Kernel clock ticks per second (`getconf CLK_TCK`; 100 on Linux everywhere we run).
const TICKS_PER_SEC: f64 = 100.0;

/// A process group we account for: one pid (a service, this process) or every process
/// with a command name (`postgres`, RabbitMQ's `beam.smp`).
#[derive(Debug, Clone)]
pub enum Who {
    Pid(u32),
    Command(&'static str),
}

impl Who {
    fn pids(&self) -> Vec<u32> {
        match self {
            Who::Pid(pid) => vec![*pid],
            Who::Command(name) => all_pids()
                .into_iter()
                .filter(|pid| {
                    fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == *name)
                })
                .collect(),
        }
    }
}

fn all_pids() -> Vec<u32> {
    fs::read_dir("/proc")
        .map(|dir| {
            dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// CPU seconds (user + system) a process has used so far.
fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command (which may contain spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SEC)
}

/// A `kB` field of `/proc/PID/status` in MiB.
fn status_mib(pid: u32, field: &str) -> Option<f64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Resets the peak-RSS mark to the current RSS (Linux 4.0+).
fn reset_peak(pid: u32) {
    let _ = fs::write(format!("/proc/{pid}/clear_refs"), "5");
}

/// Accounting of one phase, started with [`Meter::start`].
pub struct Meter {
    groups: Vec<(String, Who)>,
    cpu_at_start: BTreeMap<u32, f64>,
    wall: std::time::Instant,
}

/// What a phase used: CPU per group (as a share of the machine's cores) and peak RSS of
/// the single-pid groups.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Usage {
    pub wall_s: f64,
    /// CPU seconds per group.
    pub cpu_s: BTreeMap<String, f64>,
    /// Peak resident set per single-process group, MiB.
    pub peak_rss_mib: BTreeMap<String, f64>,
}

impl Meter {
    pub fn start(groups: Vec<(String, Who)>) -> Self {
        let mut cpu_at_start = BTreeMap::new();
        for (_, who) in &groups {
            for pid in who.pids() {
                if let Who::Pid(_) = who {
                    reset_peak(pid);
                }
                if let Some(secs) = cpu_secs(pid) {
                    cpu_at_start.insert(pid, secs);
                }
            }
        }
        Self {
            groups,
            cpu_at_start,
            wall: std::time::Instant::now(),
        }
    }

    pub fn finish(self) -> Usage {
        let mut usage = Usage {
            wall_s: self.wall.elapsed().as_secs_f64(),
            ..Usage::default()
        };
        for (name, who) in &self.groups {
            let mut total = 0.0;
            for pid in who.pids() {
                if let Some(now) = cpu_secs(pid) {
                    // A process that started during the phase counts from zero.
                    total += now - self.cpu_at_start.get(&pid).copied().unwrap_or(0.0);
                }
            }
            usage.cpu_s.insert(name.clone(), total);
            if let Who::Pid(pid) = who {
                if let Some(peak) = status_mib(*pid, "VmHWM:") {
                    usage.peak_rss_mib.insert(name.clone(), peak);
                }
            }
        }
        usage
    }
}

/// Total memory of the machine, GiB.
pub fn mem_total_gib() -> f64 {
    fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))?
                .split_whitespace()
                .nth(1)?
                .parse::<f64>()
                .ok()
        })
        .map(|kb| kb / 1024.0 / 1024.0)
        .unwrap_or(0.0)
}

/// The 1-minute load average.
pub fn load_average() -> f64 {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

/// The CPU model, from `/proc/cpuinfo`.
pub fn cpu_model() -> String {
    fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_a_peak_rss_and_cpu_time() {
        let me = std::process::id();
        let meter = Meter::start(vec![("self".into(), Who::Pid(me))]);
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_add(i * i);
        }
        assert!(x > 0);
        let usage = meter.finish();
        assert!(usage.peak_rss_mib["self"] > 1.0, "{usage:?}");
        assert!(usage.cpu_s["self"] >= 0.0, "{usage:?}");
    }
}
