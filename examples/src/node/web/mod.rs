//! The node's web server, on loopback by default: the dashboard (`/`), the
//! state it draws (`/api/state`, JSON) and the Prometheus metrics
//! (`/metrics`). One address for all three, so that a person and a scraper
//! find everything at the same place.

mod state;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::task::JoinHandle;

use super::NodeHandle;

pub use state::state;

/// Where the web server listens unless told otherwise: loopback only, the
/// port Go's profilers and many exporters use.
pub const DEFAULT_ADDR: &str = "127.0.0.1:6060";
/// How often go-ethereum's metric names are brought up to date
/// ([`super::geth_metrics`]).
const GETH_METRICS_INTERVAL: Duration = Duration::from_secs(1);
/// The dashboard: one page, no external resources.
const DASHBOARD: &str = include_str!("dashboard.html");

/// What the web server shows.
struct View {
    network: String,
    nodes: Vec<NodeHandle>,
    metrics: PrometheusHandle,
}

/// A running web server; [`stop`](Self::stop) ends it.
pub struct WebServer {
    local_addr: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
}

impl WebServer {
    /// Serves the dashboard of `nodes` (one node, or a devnet's) on
    /// `network`, and the metrics `metrics` renders, at `addr`.
    pub async fn serve(
        addr: SocketAddr,
        network: String,
        nodes: Vec<NodeHandle>,
        metrics: PrometheusHandle,
    ) -> Result<WebServer, String> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| format!("web server on {addr}: {e}"))?;
        let local_addr = listener
            .local_addr()
            .map_err(|e| format!("web server on {addr}: {e}"))?;
        let view = Arc::new(View {
            network,
            nodes,
            metrics,
        });
        let geth_names = view.clone();
        let record = tokio::spawn(async move {
            let mut tick = tokio::time::interval(GETH_METRICS_INTERVAL);
            loop {
                tick.tick().await;
                for node in &geth_names.nodes {
                    super::geth_metrics::record(node).await;
                }
            }
        });
        let app = Router::new()
            .route("/", get(|| async { Html(DASHBOARD) }))
            .route("/api/state", get(api_state))
            .route("/metrics", get(prometheus))
            .with_state(view);
        let serve = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!("web server stopped: {e}");
            }
        });
        Ok(WebServer {
            local_addr,
            tasks: vec![record, serve],
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops serving.
    pub async fn stop(self) {
        for task in self.tasks {
            task.abort();
            let _ = task.await;
        }
    }
}

async fn api_state(State(view): State<Arc<View>>) -> impl IntoResponse {
    Json(state(&view.network, &view.nodes).await)
}

async fn prometheus(State(view): State<Arc<View>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        view.metrics.render(),
    )
}
