//! A devp2p node. With no flags it runs a devnet: [`DEFAULT_NODES`] nodes
//! in this process on 127.0.0.1 that find each other through discovery v4
//! and v5, speak eth on a small generated chain and fetch the blocks they
//! lack from each other, with a live table of what each node does.
//!
//! `--network mainnet|sepolia|hoodi` joins a public network instead (its
//! bootnodes, DNS tree, genesis and fork schedule, from go-ethereum), and
//! `--genesis genesis.json` a private one. The node key and the nodes
//! discovery learned are kept in the data directory (by default the
//! platform's, e.g. `~/.local/share/devp2p-rs/<network>`). A TOML file can
//! set everything the server's [`Config`] holds.
//!
//! ```text
//! cargo run --release -p examples --bin node -- --help
//! ```
//!
//! [`DEFAULT_NODES`]: examples::node::devnet::DEFAULT_NODES

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use examples::node::admin_api::{self, AdminApi};
use examples::node::devnet::{self, Devnet, DevnetSettings};
use examples::node::status::Bytes;
use examples::node::web::{self, WebServer};
use examples::node::{ChainSetup, DiscoverySettings, NodeHandle, NodeSettings, RunningNode};
use p2p_core::config::Config;
use p2p_core::{keyfile, Enode, NodeUrl, PeerEvent};
use p2p_discovery::dns::tree::TreeUrl;
use p2p_discovery::v5::Enr;
use p2p_protocols::eth::genesis::Genesis;
use p2p_protocols::eth::networks::{self, Network};
use p2p_protocols::eth::protocol::EthEvent;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tracing::{info, warn};

/// jemalloc by default: with its background thread it hands back what a
/// wave of peers freed (about 90 % of it within a minute of 10,000 peers
/// leaving, against 80 % for glibc trimmed every 10 s and nothing for glibc
/// or mimalloc left alone), at the same CPU per handshake. RELIABILITY.md
/// has the figures.
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options: a background thread returns freed pages after the
/// default decay (10 s) even when no thread allocates; without it, pages
/// are returned only as a side effect of later allocations, so an idle node
/// keeps its high-water mark.
#[cfg(feature = "jemalloc")]
#[export_name = "_rjem_malloc_conf"]
pub static JEMALLOC_OPTIONS: &u8 = &b"background_thread:true\0"[0];

#[cfg(all(feature = "mimalloc", not(feature = "jemalloc")))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(
    name = "node",
    about = "A devp2p node speaking RLPx. With no flags: a devnet of nodes on 127.0.0.1.",
    version,
    after_help = "Logging: --verbosity sets the level of every line; RUST_LOG, when set, \
                  takes precedence with per-module filters (for example \
                  RUST_LOG=info,p2p=debug)."
)]
struct Args {
    /// How much to log: error, warn, info, debug or trace.
    #[arg(long, default_value = "info", value_name = "LEVEL")]
    verbosity: tracing::Level,
    /// The public network to join: mainnet, sepolia or hoodi. Without it
    /// (and without --genesis) the node runs a local devnet.
    #[arg(long, value_name = "NAME", value_parser = network_name, conflicts_with = "genesis")]
    network: Option<&'static str>,
    /// How many nodes the devnet runs.
    #[arg(long, default_value_t = devnet::DEFAULT_NODES, value_name = "N")]
    nodes: usize,
    /// Directory holding the node key (`nodekey`, hex, as go-ethereum
    /// writes it) and the nodes discovery learned (`nodes.redb`). Default:
    /// `devp2p-rs/<network>` in the platform's data directory.
    #[arg(long)]
    datadir: Option<PathBuf>,
    /// A TOML file with the server configuration; flags given override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// TCP address to listen on (default 0.0.0.0:30303).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Static peers to keep connected, as `enode://` URLs whose host may be
    /// a DNS name, resolved again every minute (repeatable).
    #[arg(long = "peer")]
    peers: Vec<NodeUrl>,
    /// Most peers at once (default 50; 8 per devnet node).
    #[arg(long)]
    max_peers: Option<usize>,
    /// Nodes to join the network through, as `enode://` URLs (the host may
    /// be a DNS name) or `enr:` records (repeatable); they replace the
    /// network's own.
    #[arg(long = "bootnode", value_parser = bootnode)]
    bootnodes: Vec<NodeUrl>,
    /// Run without discovery: only static peers and inbound connections.
    #[arg(long)]
    no_discovery: bool,
    /// Also run discovery v5 on this UDP port (on the listen address).
    #[arg(long)]
    discv5_port: Option<u16>,
    /// Discovery v5 bootnodes, as `enr:` records (repeatable); they replace
    /// the default ones. Needs `--discv5-port`.
    #[arg(long = "discv5-bootnode", requires = "discv5_port")]
    discv5_bootnodes: Vec<Enr>,
    /// EIP-1459 node lists to take dial candidates from, as
    /// `enrtree://<key>@<domain>` URLs (repeatable); they replace the
    /// network's own.
    #[arg(long = "dns-tree", conflicts_with = "no_discovery")]
    dns_trees: Vec<TreeUrl>,
    /// Serve the chain of this genesis file (the JSON `geth init` takes);
    /// the network id is its chain id.
    #[arg(long)]
    genesis: Option<PathBuf>,
    /// Blocks to serve after the genesis, as `geth export` writes them (RLP
    /// blocks in a row). Needs `--genesis`.
    #[arg(long, requires = "genesis")]
    import: Option<PathBuf>,
    /// Also speak devp2p over QUIC, listening on this UDP port beside RLPx
    /// over TCP (0: any free port). Peers are dialed over QUIC when their
    /// record announces a `quic` port, else over TCP; one peer set holds
    /// both.
    #[arg(long)]
    quic_port: Option<u16>,
    /// Where go-ethereum's admin API (admin, net, web3) listens, for HTTP
    /// and WebSocket alike; loopback by default, as it can add and remove
    /// peers. In a devnet, the first node's.
    #[arg(long, default_value = admin_api::DEFAULT_ADDR, value_name = "ADDR")]
    rpc_addr: SocketAddr,
    /// Serve no admin API.
    #[arg(long, conflicts_with = "rpc_addr")]
    no_rpc: bool,
    /// How often the status is written: a node's one-line status, or the
    /// devnet's table when the output is not a terminal (on a terminal the
    /// table is redrawn every 2 s).
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    status_interval: Duration,
    /// Where the web server listens: the dashboard at `http://<ADDR>/`
    /// (peers, discovery, refusals; a devnet's topology) and Prometheus
    /// metrics at `/metrics` (go-ethereum's p2p names, handshake failures
    /// and early ends by reason, the process's memory, descriptors and
    /// tasks).
    #[arg(long, alias = "metrics-addr", default_value = web::DEFAULT_ADDR, value_name = "ADDR")]
    http_addr: SocketAddr,
    /// Serve no dashboard and no metrics.
    #[arg(long, conflicts_with = "http_addr")]
    no_http: bool,
}

/// `--network`'s values.
fn network_name(name: &str) -> Result<&'static str, String> {
    networks::NAMES
        .iter()
        .find(|known| **known == name)
        .copied()
        .ok_or_else(|| format!("unknown network; known: {}", networks::NAMES.join(", ")))
}

/// A bootnode as an `enode://` URL or an `enr:` record.
fn bootnode(text: &str) -> Result<NodeUrl, String> {
    if text.starts_with("enr:") {
        p2p_core::record::enode_from_text(text).map(NodeUrl::from)
    } else {
        text.parse().map_err(|e| format!("{e}"))
    }
}

/// `urls` resolved, naming `flag` and the URL when one cannot be.
async fn resolve_all(flag: &str, urls: &[NodeUrl]) -> Result<Vec<Enode>, String> {
    let mut enodes = Vec::with_capacity(urls.len());
    for url in urls {
        enodes.push(
            url.resolve()
                .await
                .map_err(|e| format!("{flag} {url}: {e}"))?,
        );
    }
    Ok(enodes)
}

/// How often the devnet's table is redrawn on a terminal (elsewhere, as in
/// a log file, it is written every `--status-interval`).
const TABLE_INTERVAL: Duration = Duration::from_secs(2);

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // What went wrong, in words, naming the flag or file at fault
            // where there is one; not the error's debug structure.
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

async fn run() -> Result<(), BoxError> {
    let args = Args::parse();
    let stop = StopSignal::install()?;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default_log_filter(args.verbosity).into()),
        )
        .init();
    examples::raise_fd_limit();
    examples::return_freed_memory();
    if args.network.is_none() && args.genesis.is_none() {
        return run_devnet(&args, stop).await;
    }
    run_node(&args, stop).await
}

/// The log filter for `--verbosity level`: that level everywhere, except
/// that the discv5 crate's own lines (a start and stop line per service,
/// and warnings about single lost or late packets, which are routine on a
/// busy network and a screenful in a devnet) show only from debug up, or
/// with `RUST_LOG=discv5=warn`. Our discovery v5 service logs what matters.
fn default_log_filter(level: tracing::Level) -> String {
    let level = level.as_str().to_lowercase();
    if matches!(level.as_str(), "debug" | "trace") {
        level
    } else {
        format!("{level},discv5=error")
    }
}

/// Flags that set up one node and mean nothing to a devnet, whose nodes
/// take their addresses, keys and peers from the devnet itself.
fn single_node_flags(args: &Args) -> Vec<&'static str> {
    let given = [
        ("--datadir", args.datadir.is_some()),
        ("--config", args.config.is_some()),
        ("--listen", args.listen.is_some()),
        ("--peer", !args.peers.is_empty()),
        ("--bootnode", !args.bootnodes.is_empty()),
        ("--no-discovery", args.no_discovery),
        ("--discv5-port", args.discv5_port.is_some()),
        ("--dns-tree", !args.dns_trees.is_empty()),
        ("--quic-port", args.quic_port.is_some()),
    ];
    given
        .into_iter()
        .filter(|(_, given)| *given)
        .map(|(flag, _)| flag)
        .collect()
}

async fn run_devnet(args: &Args, mut stop: StopSignal) -> Result<(), BoxError> {
    let ignored = single_node_flags(args);
    if !ignored.is_empty() {
        return Err(format!(
            "{} set up a single node; the devnet (the default without --network or \
             --genesis) chooses its nodes' own",
            ignored.join(", ")
        )
        .into());
    }
    let settings = DevnetSettings {
        nodes: args.nodes,
        max_peers: args.max_peers.unwrap_or(devnet::DEFAULT_MAX_PEERS),
        ..DevnetSettings::default()
    };
    info!(
        nodes = settings.nodes,
        chain_id = devnet::CHAIN_ID,
        "starting a devnet on 127.0.0.1 (use --network to join a public network)"
    );
    let devnet = Devnet::start(settings).await?;
    let first = &devnet.nodes[0];
    if let Some(enode) = first.enode() {
        info!(%enode, "devnet bootnode");
    }
    if let Some(enr) = first.enr().await {
        info!(%enr, "devnet bootnode record");
    }
    let api = serve_admin_api(args, first.handle(), None).await?;
    let nodes = devnet.nodes.iter().map(|node| node.handle()).collect();
    let web = serve_web(args, "devnet", nodes).await?;
    let terminal = std::io::stdout().is_terminal();
    let mut tick = tokio::time::interval(if terminal {
        TABLE_INTERVAL
    } else {
        args.status_interval
    });
    loop {
        tokio::select! {
            _ = tick.tick() => print_table(&devnet, terminal).await,
            _ = stop.wait() => break,
        }
    }
    info!("stopping the devnet");
    if let Some(api) = api {
        api.stop().await;
    }
    if let Some(web) = web {
        web.stop().await;
    }
    devnet.stop().await;
    Ok(())
}

/// The devnet's table: one row per node.
async fn print_table(devnet: &Devnet, redraw: bool) {
    use std::fmt::Write;
    let statuses = devnet.statuses().await;
    let mut table = String::new();
    if redraw {
        // Clear the screen and go home, so the table updates in place.
        table.push_str("\x1b[2J\x1b[H");
    }
    let _ = writeln!(
        table,
        "{:>4}  {:<18} {:>5} {:>4} {:>4} {:>5} {:>5} {:>6} {:>9} {:>11} {:>11}",
        "node", "id", "peers", "in", "out", "v4", "v5", "head", "fetched", "received", "sent"
    );
    for (index, (node, status)) in devnet.nodes.iter().zip(&statuses).enumerate() {
        let id = node.server.node_info().id.to_string();
        let _ = writeln!(
            table,
            "{:>4}  {:<18} {:>5} {:>4} {:>4} {:>5} {:>5} {:>6} {:>9} {:>11} {:>11}",
            index,
            format!("{}…", &id[..16.min(id.len())]),
            status.peers(),
            status.peers_in,
            status.peers_out,
            status.table_v4.unwrap_or(0),
            status.table_v5.unwrap_or(0),
            status.head,
            devnet.imported(index),
            Bytes(status.traffic.ingress_bytes).to_string(),
            Bytes(status.traffic.egress_bytes).to_string(),
        );
    }
    let _ = writeln!(table, "Ctrl-C stops the devnet.");
    print!("{table}");
}

/// Ctrl-C (SIGINT) and SIGTERM (what service managers send), caught from
/// the start: a signal that arrives while the node is still starting stops
/// it cleanly once it has started, instead of killing it half-way.
struct StopSignal {
    interrupt: Signal,
    terminate: Signal,
}

impl StopSignal {
    fn install() -> std::io::Result<StopSignal> {
        Ok(StopSignal {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// Resolves at the first of the two signals.
    async fn wait(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

/// Reads a file a flag names, saying which flag and file on failure.
fn read(flag: &str, path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{flag} {}: {e}", path.display()))
}

async fn run_node(args: &Args, stop: StopSignal) -> Result<(), BoxError> {
    let network = args.network.and_then(Network::by_name);
    let chain = match (&network, &args.genesis) {
        (Some(network), _) => ChainSetup::network(network),
        (None, Some(path)) => {
            let genesis = Genesis::from_json(&read("--genesis", path)?)
                .map_err(|e| format!("--genesis {}: {e}", path.display()))?;
            let chain = ChainSetup::genesis(&genesis)
                .map_err(|e| format!("--genesis {}: {e}", path.display()))?;
            if let Some(import) = &args.import {
                import_chain(&chain, import).await?;
            }
            chain
        }
        (None, None) => unreachable!("the devnet runs without either"),
    };
    let datadir = match &args.datadir {
        Some(dir) => dir.clone(),
        None => default_datadir(&chain.name)?,
    };
    let mut config = match &args.config {
        Some(path) => {
            Config::from_toml_file(path).map_err(|e| format!("--config {}: {e}", path.display()))?
        }
        None => Config::default(),
    };
    if config.private_key.is_none() {
        config.private_key = Some(keyfile::load_or_generate(&datadir.join("nodekey"))?);
    }
    if let Some(listen) = args.listen {
        config.listen_addr = Some(listen);
    }
    if let Some(max_peers) = args.max_peers {
        config.max_peers = max_peers;
    }
    config
        .static_nodes
        .extend(resolve_all("--peer", &args.peers).await?);
    let mut dns_trees = args.dns_trees.clone();
    let mut v5_bootnodes = args.discv5_bootnodes.clone();
    if !args.bootnodes.is_empty() {
        config.bootnodes = resolve_all("--bootnode", &args.bootnodes).await?;
    } else if let (Some(network), true) = (&network, config.bootnodes.is_empty()) {
        config.bootnodes = network.bootnode_enodes();
    }
    if let (Some(network), true) = (&network, dns_trees.is_empty()) {
        dns_trees.push(network.dns_tree.parse()?);
    }
    if v5_bootnodes.is_empty() && network.is_some() {
        v5_bootnodes = networks::V5_BOOTNODES
            .iter()
            .filter_map(|text| text.parse().ok())
            .collect();
    }
    config.validate()?;
    let discovery = DiscoverySettings {
        v4: !args.no_discovery,
        v5_port: args.discv5_port.filter(|_| !args.no_discovery),
        v5_bootnodes,
        dns_trees: if args.no_discovery {
            Vec::new()
        } else {
            dns_trees
        },
        node_db: Some(datadir.join("nodes.redb")),
    };
    let finds_nothing = discovery.dns_trees.is_empty()
        && (args.no_discovery || config.bootnodes.is_empty())
        && config.static_nodes.is_empty();
    let name = chain.name.clone();
    let head = chain.chain.head_number();
    let genesis = chain.spec.genesis();
    let key = config.key()?.clone();
    let (ping_pong, rtts) = examples::ping_pong();
    let node = RunningNode::start(NodeSettings {
        key,
        config,
        chain,
        discovery,
        quic_port: args.quic_port,
        protocols: vec![ping_pong],
        rtts: Some(rtts),
    })
    .await?;
    info!(network = %name, head, genesis = ?genesis, datadir = %datadir.display(), "serving the chain");
    if finds_nothing {
        warn!(
            network = %name,
            "no bootnodes, DNS trees or static peers: this node will find no peers; \
             it waits for others to dial it (give --bootnode, --dns-tree or --peer)"
        );
    }
    if let Some(enode) = node.enode() {
        info!(%enode, "listening");
    }
    if let Some(quic) = node.quic_listen {
        info!(%quic, "listening for QUIC");
    }
    if let Some(enr) = node.enr().await {
        info!(%enr, "node record");
    }
    let servers = async {
        let api = serve_admin_api(args, node.handle(), Some(datadir)).await?;
        let web = serve_web(args, &name, vec![node.handle()]).await?;
        Ok::<_, BoxError>((api, web))
    };
    let (api, web) = match servers.await {
        Ok(servers) => servers,
        Err(e) => {
            node.stop().await;
            return Err(e);
        }
    };
    let resolver = tokio::spawn(examples::node::resolve::keep_resolved(
        node.handle(),
        args.peers.clone(),
    ));
    let result = serve(&node, args.status_interval, stop).await;
    info!("stopping");
    resolver.abort();
    if let Some(api) = api {
        api.stop().await;
    }
    if let Some(web) = web {
        web.stop().await;
    }
    node.stop().await;
    result
}

/// The admin API for `node`, unless `--no-rpc`.
async fn serve_admin_api(
    args: &Args,
    node: NodeHandle,
    datadir: Option<PathBuf>,
) -> Result<Option<AdminApi>, BoxError> {
    if args.no_rpc {
        return Ok(None);
    }
    let api = AdminApi::serve(args.rpc_addr, node, datadir)
        .await
        .map_err(|e| format!("--rpc-addr: {e} (--no-rpc serves none)"))?;
    let addr = api.local_addr();
    info!("admin API at http://{addr} and ws://{addr} (geth attach http://{addr})");
    Ok(Some(api))
}

/// The dashboard and metrics of `nodes`, unless `--no-http`.
async fn serve_web(
    args: &Args,
    network: &str,
    nodes: Vec<NodeHandle>,
) -> Result<Option<WebServer>, BoxError> {
    if args.no_http {
        return Ok(None);
    }
    let metrics = examples::metrics_endpoint::install()?;
    let web = WebServer::serve(args.http_addr, network.to_owned(), nodes, metrics)
        .await
        .map_err(|e| format!("--http-addr: {e} (--no-http serves none)"))?;
    let addr = web.local_addr();
    info!("dashboard at http://{addr}/, metrics at http://{addr}/metrics");
    Ok(Some(web))
}

/// Logs the node's peers as they come and go and its status every
/// `every`, until Ctrl-C or SIGTERM.
async fn serve(node: &RunningNode, every: Duration, mut stop: StopSignal) -> Result<(), BoxError> {
    let (mut events, mut eth_events) = node.events();
    let mut status = tokio::time::interval(every);
    status.tick().await;
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Ok(PeerEvent::Added(peer)) => info!(id = %peer.id, client = %peer.client_id, caps = ?peer.shared.iter().map(|s| s.capability.to_string()).collect::<Vec<_>>(), "peer connected"),
                Ok(PeerEvent::Dropped { id, end }) => info!(%id, %end, "peer disconnected"),
                Ok(PeerEvent::Message { .. }) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => info!(missed = n, "events missed"),
                Err(_) => return Ok(()),
            },
            event = eth_events.recv() => match event {
                Ok(EthEvent::Ready(peer)) => info!(id = %peer.id(), version = peer.version().number(), "eth peer ready"),
                Ok(EthEvent::HandshakeFailed { peer, error }) => info!(id = %peer, %error, "eth handshake failed"),
                Ok(EthEvent::Gone { .. }) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => info!(missed = n, "eth events missed"),
                Err(_) => return Ok(()),
            },
            _ = status.tick() => info!("{}", node.status().await),
            _ = stop.wait() => return Ok(()),
        }
    }
}

/// Imports the chain export at `path` block by block (a file of any size,
/// in the memory of its largest block), with a progress bar on a terminal.
async fn import_chain(chain: &ChainSetup, path: &Path) -> Result<(), BoxError> {
    let named = |e: &dyn std::fmt::Display| format!("--import {}: {e}", path.display());
    let file = std::fs::File::open(path).map_err(|e| named(&e))?;
    let size = file.metadata().map_err(|e| named(&e))?.len();
    let bar = indicatif::ProgressBar::new(size).with_style(
        indicatif::ProgressStyle::with_template(
            "importing {bar:40} {bytes}/{total_bytes} · {msg} · {eta} left",
        )
        .expect("a valid template"),
    );
    let memory = chain.chain.clone();
    let shown = bar.clone();
    let imported = tokio::task::spawn_blocking(move || {
        memory.import_reader(std::io::BufReader::new(file), |blocks, read| {
            shown.set_position(read);
            shown.set_message(format!("{blocks} blocks"));
        })
    })
    .await?;
    bar.finish_and_clear();
    let count = imported.map_err(|e| named(&e))?;
    info!(blocks = count, head = chain.chain.head_number(), file = %path.display(), "chain imported");
    Ok(())
}

/// `devp2p-rs/<network>` in the platform's data directory
/// (`$XDG_DATA_HOME` or `~/.local/share` on Linux, `~/Library/Application
/// Support` on macOS).
fn default_datadir(network: &str) -> Result<PathBuf, String> {
    let base = dirs::data_dir()
        .ok_or("no data directory for this user (HOME unset?): give one with --datadir")?;
    Ok(base.join("devp2p-rs").join(network.replace(' ', "-")))
}
