//! The node's Prometheus metrics: the library's (handshake failures, early
//! ends by stage and reason, ...), go-ethereum's p2p names
//! ([`crate::node::geth_metrics`]) and the process's own, the ones an
//! operator, or a soak run, watches for leaks. [`install`] sets up the
//! recorder; the node's web server renders it at `/metrics`.

use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Live tasks on the node's runtime: back at its idle count once peers have
/// left, or a task leaked.
pub const RUNTIME_ALIVE_TASKS: &str = "process_runtime_alive_tasks";
/// Resident memory, bytes (Prometheus's standard process metric name).
pub const RESIDENT_MEMORY: &str = "process_resident_memory_bytes";
/// Open file descriptors (Prometheus's standard process metric name).
pub const OPEN_FDS: &str = "process_open_fds";
/// How often the process gauges are read: fine enough for a scrape every few
/// seconds, cheap (a few reads of `/proc`).
const REFRESH: Duration = Duration::from_secs(1);

/// Installs the process-wide Prometheus recorder and keeps the process
/// gauges current; the handle renders the page. Call it once, from within
/// the Tokio runtime.
pub fn install() -> Result<PrometheusHandle, String> {
    let handle = PrometheusBuilder::new()
        .install_recorder()
        .map_err(|e| format!("cannot install the metrics recorder: {e}"))?;
    p2p_core::layers::metrics::describe();
    metrics::describe_gauge!(
        RUNTIME_ALIVE_TASKS,
        "Tasks alive on the node's Tokio runtime"
    );
    metrics::describe_gauge!(
        RESIDENT_MEMORY,
        metrics::Unit::Bytes,
        "Resident memory of the process"
    );
    metrics::describe_gauge!(OPEN_FDS, "Open file descriptors of the process");
    let runtime = tokio::runtime::Handle::current();
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(REFRESH);
        loop {
            tick.tick().await;
            // Histograms are summarised here rather than on each scrape.
            upkeep.run_upkeep();
            metrics::gauge!(RUNTIME_ALIVE_TASKS).set(runtime.metrics().num_alive_tasks() as f64);
            if let Some(usage) = crate::process::usage(std::process::id()) {
                metrics::gauge!(RESIDENT_MEMORY).set(usage.rss as f64);
                metrics::gauge!(OPEN_FDS).set(usage.fds as f64);
            }
        }
    });
    Ok(handle)
}
