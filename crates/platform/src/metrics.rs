//! Prometheus metrics through the `metrics` facade. One recorder per process.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Installs the process-wide recorder on first use and returns its handle.
pub fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    let handle = HANDLE.get_or_init(|| {
        PrometheusBuilder::new()
            .set_buckets(&[
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ])
            .expect("static buckets are valid")
            .install_recorder()
            .expect("the metrics recorder is installed once")
    });
    // Histograms keep every sample until upkeep drains them into buckets: without a
    // scraper, memory would grow with every request. Every second, so under load one
    // second of samples is held, not five (about 1 MB of the ingest's peak at 256
    // connections, docs/benchmarks.md).
    static UPKEEP: OnceLock<()> = OnceLock::new();
    UPKEEP.get_or_init(|| {
        let upkeep = handle.clone();
        std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || loop {
                std::thread::sleep(std::time::Duration::from_secs(1));
                upkeep.run_upkeep();
            })
            .expect("the metrics upkeep thread starts");
    });
    handle.clone()
}
