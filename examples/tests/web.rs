//! The node's web server as its users meet it: Prometheus' own `promtool`
//! accepts the metrics page, which carries go-ethereum's metric names, and
//! a real headless browser (Debian's `chromium`) draws the dashboard of a
//! running devnet, whose screenshot the test writes.
//!
//! Needs `promtool` (Debian package `prometheus`) and `chromium`; `.ci/run`
//! installs both.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use examples::node::devnet::{Devnet, DevnetSettings};
use examples::node::web::WebServer;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Command;
use tokio::time::{timeout, Instant};

/// Bounds every wait: the devnet connecting, a page load, a tool's run.
const BOUND: Duration = Duration::from_secs(60);

/// The process-wide recorder, installed once for the tests of this binary.
fn recorder() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| examples::metrics_endpoint::install().unwrap())
        .clone()
}

/// A devnet of `nodes` whose every node has a peer, and its web server.
async fn devnet_with_web(nodes: usize) -> (Devnet, WebServer) {
    let devnet = Devnet::start(DevnetSettings {
        nodes,
        ..DevnetSettings::default()
    })
    .await
    .unwrap();
    let handles = devnet.nodes.iter().map(|n| n.handle()).collect();
    let web = WebServer::serve(
        "127.0.0.1:0".parse().unwrap(),
        "devnet".into(),
        handles,
        recorder(),
    )
    .await
    .unwrap();
    let deadline = Instant::now() + BOUND;
    while !devnet
        .statuses()
        .await
        .iter()
        .all(|s| s.peers() > 0 && s.traffic.ingress_bytes > 0)
    {
        assert!(Instant::now() < deadline, "the devnet did not connect");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    (devnet, web)
}

/// The body of `GET path` from `addr`.
async fn get(addr: SocketAddr, path: &str) -> String {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    timeout(BOUND, tcp.read_to_string(&mut response))
        .await
        .unwrap()
        .unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_owned()
}

/// A tool `.ci/run` installs, with a clear failure if it is missing.
fn tool(name: &str, package: &str) -> Command {
    let found = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).any(|dir| dir.join(name).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "{name} is not installed: apt-get install {package} (.ci/run does)"
    );
    let mut command = Command::new(name);
    command.kill_on_drop(true);
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promtool_accepts_the_metrics_page_with_go_ethereums_names() {
    let (devnet, web) = devnet_with_web(4).await;
    // go-ethereum's names are written every second.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let page = get(web.local_addr(), "/metrics").await;
    let mut check = tool("promtool", "prometheus")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = check.stdin.take().unwrap();
    stdin.write_all(page.as_bytes()).await.unwrap();
    drop(stdin);
    let out = timeout(BOUND, check.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // go-ethereum's names, with values a connected devnet must have.
    let value = |name: &str| -> f64 {
        page.lines()
            .filter(|line| line.starts_with(&format!("{name}{{")))
            .map(|line| line.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
            .sum()
    };
    assert!(value("p2p_dials_success") > 0.0, "{page}");
    assert!(value("p2p_serves_success") > 0.0);
    assert!(value("p2p_ingress") > 0.0);
    assert!(value("p2p_egress") > 0.0);
    assert!(value("p2p_ingress_eth_71_0x00") > 0.0, "Status received");
    // And the library's own.
    assert!(page.contains("p2p_handshake_duration_seconds"));
    assert!(page.contains("process_open_fds"));
    web.stop().await;
    devnet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_headless_browser_draws_the_devnet_dashboard() {
    let (devnet, web) = devnet_with_web(5).await;
    let url = format!("http://{}/", web.local_addr());
    let chromium = || {
        let mut command = tool("chromium", "chromium");
        command.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            // Time for the page's first fetch of the state and its drawing.
            "--virtual-time-budget=5000",
        ]);
        command
    };
    // The DOM after the page's script ran: a row per node, a row per peer of
    // the first node, the topology drawn.
    let dom = timeout(
        BOUND,
        chromium()
            .args(["--dump-dom", &url])
            .stderr(Stdio::null())
            .output(),
    )
    .await
    .unwrap()
    .unwrap();
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(dom.contains(r#"data-loaded="yes""#), "{dom}");
    let first_peers = devnet.nodes[0].server.peer_count().await;
    assert!(first_peers > 0);
    let peer_rows = dom.matches(r#"<tr class="peer">"#).count();
    // Peers may come and go between the two reads; at least one is drawn.
    assert!(peer_rows > 0, "no peer rows in {dom}");
    assert_eq!(dom.matches("<circle").count(), 5, "one dot per node");
    assert!(dom.contains("<line"), "no connections drawn");
    assert!(
        dom.contains("devp2p-rs-devnet/node-"),
        "no peer client names"
    );

    let screenshot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    let _ = std::fs::remove_file(&screenshot);
    let out = timeout(
        BOUND,
        chromium()
            .arg("--window-size=1200,1500")
            .arg(format!("--screenshot={}", screenshot.display()))
            .arg(&url)
            .stderr(Stdio::null())
            .output(),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(out.status.success());
    let png = std::fs::read(&screenshot).unwrap();
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    assert!(png.len() > 20_000, "a near-empty page: {} bytes", png.len());
    println!("dashboard screenshot: {}", screenshot.display());
    web.stop().await;
    devnet.stop().await;
}
