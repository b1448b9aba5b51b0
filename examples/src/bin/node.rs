//! A devp2p node: a [`Server`] over RLPx offering `eth/68` to `eth/71` (on
//! Ethereum mainnet, as a node that has not synced yet: its chain is the
//! genesis block) and the `pingpong/1` demo capability, logging its peers as
//! they come and go.
//!
//! Runs with no flags: the node key lives in the data directory (created on
//! first start), the node listens on 0.0.0.0:30303 (TCP for RLPx, UDP for
//! discovery v4) and dials the nodes discovery finds, starting from the
//! bootnodes given with `--bootnode` or in the configuration. Known nodes are
//! kept in `nodes.redb` in the data directory, so a restart needs no
//! bootnode. A TOML file can set everything the server's [`Config`] holds.
//!
//! With `--genesis` (and `--import`), the node serves another chain instead:
//! a private or test network given by its genesis file and a chain export.
//!
//! ```text
//! cargo run --release -p examples --bin node -- --help
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Parser;
use p2p_core::config::Config;
use p2p_core::dual::{DualNetwork, DualStage};
use p2p_core::network::TcpNetwork;
use p2p_core::{keyfile, Enode, NodeKey, PeerEvent, Protocol, Server};
use p2p_discovery::dns::client::{DnsConfig, DnsDiscovery};
use p2p_discovery::dns::tree::TreeUrl;
use p2p_discovery::nodedb::NodeDb;
use p2p_discovery::v4::service::{Discv4, Discv4Config};
use p2p_discovery::v4::wire::NodeRecordV4;
use p2p_discovery::v5::{Discv5Config, Discv5Service, Enr};
use p2p_protocols::eth::genesis::Genesis;
use p2p_protocols::eth::handler::EthHandler;
use p2p_protocols::eth::protocol::EthEvent;
use p2p_rlpx::RlpxTransport;
use quic_transport::QuicConfig;
use tracing::info;

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
    about = "A devp2p node speaking RLPx",
    version,
    after_help = "Logging: --verbosity sets the level of every line; RUST_LOG, when set, \
                  takes precedence with per-module filters (for example \
                  RUST_LOG=info,p2p=debug)."
)]
struct Args {
    /// How much to log: error, warn, info, debug or trace.
    #[arg(long, default_value = "info", value_name = "LEVEL")]
    verbosity: tracing::Level,
    /// Directory holding the node key (`nodekey`, hex, as go-ethereum writes it).
    #[arg(long, default_value = "devp2p-data")]
    datadir: PathBuf,
    /// A TOML file with the server configuration; flags given override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// TCP address to listen on (default 0.0.0.0:30303).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Static peers to keep connected, as `enode://` URLs (repeatable).
    #[arg(long = "peer")]
    peers: Vec<Enode>,
    /// Most peers at once (default 50).
    #[arg(long)]
    max_peers: Option<usize>,
    /// Nodes to join the network through, as `enode://` URLs (repeatable);
    /// added to the configuration's bootnodes.
    #[arg(long = "bootnode")]
    bootnodes: Vec<Enode>,
    /// Run without discovery: only static peers and inbound connections.
    #[arg(long)]
    no_discovery: bool,
    /// Also run discovery v5 on this UDP port (on the listen address).
    #[arg(long)]
    discv5_port: Option<u16>,
    /// Discovery v5 bootnodes, as `enr:` records (repeatable). Needs
    /// `--discv5-port`.
    #[arg(long = "discv5-bootnode", requires = "discv5_port")]
    discv5_bootnodes: Vec<Enr>,
    /// EIP-1459 node lists to take dial candidates from, as
    /// `enrtree://<key>@<domain>` URLs (repeatable).
    #[arg(long = "dns-tree", conflicts_with = "no_discovery")]
    dns_trees: Vec<TreeUrl>,
    /// Serve the chain of this genesis file (the JSON `geth init` takes)
    /// instead of mainnet; the network id is its chain id.
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
    /// Serve Prometheus metrics at `http://<ADDR>/metrics` (for example
    /// 127.0.0.1:6060): handshake failures and early ends by reason, and the
    /// process's memory, descriptors and runtime tasks.
    #[arg(long, value_name = "ADDR")]
    metrics_addr: Option<SocketAddr>,
}

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

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| args.verbosity.as_str().to_lowercase().into()),
        )
        .init();
    examples::raise_fd_limit();
    if let Some(addr) = args.metrics_addr {
        examples::metrics_endpoint::serve(addr)?;
        info!(%addr, "serving metrics at /metrics");
    }

    let mut config = match &args.config {
        Some(path) => Config::from_toml_file(path)?,
        None => Config::default(),
    };
    if config.private_key.is_none() {
        config.private_key = Some(keyfile::load_or_generate(&args.datadir.join("nodekey"))?);
    }
    if let Some(listen) = args.listen {
        config.listen_addr = Some(listen);
    }
    if let Some(max_peers) = args.max_peers {
        config.max_peers = max_peers;
    }
    config.static_nodes.extend(args.peers);
    config.bootnodes.extend(args.bootnodes);
    config.validate()?;

    let key = config.key()?.clone();
    let bootnodes = config.bootnodes.clone();
    let mut protocols: Vec<Arc<dyn Protocol>> = examples::default_protocols();
    let (eth, chain) = match &args.genesis {
        Some(path) => {
            let read = |flag: &str, path: &Path| {
                std::fs::read(path).map_err(|e| format!("{flag} {}: {e}", path.display()))
            };
            let genesis = Genesis::from_json(&read("--genesis", path)?)
                .map_err(|e| format!("--genesis {}: {e}", path.display()))?;
            let export = args
                .import
                .as_deref()
                .map(|path| read("--import", path))
                .transpose()?;
            examples::genesis_eth(&genesis, export.as_deref())?
        }
        None => examples::mainnet_eth(),
    };
    let head = chain.head();
    info!(number = head.number, hash = ?head.hash, genesis = ?chain.genesis_hash(), "serving chain");
    protocols.extend(eth.protocols());
    let mut eth_events = eth.subscribe();
    let builder = Server::builder(key.clone())
        .config(config)
        .protocols(protocols);
    // Where QUIC listens, for the node records discovery announces.
    let mut quic_listen = None;
    let server = match args.quic_port {
        None => builder.encryption(RlpxTransport::new).start().await?,
        Some(port) => {
            let quic = quic_transport::transport(QuicConfig::default())?;
            let quic_addr = Arc::new(std::sync::Mutex::new(None));
            let kept = quic_addr.clone();
            let server = builder
                .transport(move |key| {
                    let (quic_network, quic_stage) = quic(key.clone());
                    // QUIC for the nodes whose records offer it, RLPx over
                    // TCP for the others.
                    let network = DualNetwork::new(TcpNetwork::new(), quic_network)
                        .second_port(Some(port))
                        .prefer_second(true);
                    *kept
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(network.clone());
                    (network, DualStage::new(RlpxTransport::new(key), quic_stage))
                })
                .start()
                .await?;
            let network = quic_addr
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take();
            quic_listen = network.and_then(|n| n.second_listen_addr());
            if let Some(quic) = quic_listen {
                info!(%quic, "listening for QUIC");
            }
            server
        }
    };
    // Subscribed before discovery or any dial can add a peer, so the first
    // peer's line is not lost.
    let mut events = server.subscribe_events();
    if let Some(enode) = server.local_enode() {
        info!(%enode, "listening");
    }
    let discovery = match server.node_info().listen_addr {
        Some(listen) if !args.no_discovery => {
            let quic_port = quic_listen.map(|addr| addr.port());
            let discovery =
                start_discovery(&key, listen, quic_port, bootnodes, &args.datadir).await?;
            info!(udp = %discovery.local_addr(), "discovery v4 running");
            server.add_candidate_source(discovery.random_nodes());
            Some(discovery)
        }
        _ => None,
    };
    let discovery_v5 = match (server.node_info().listen_addr, args.discv5_port) {
        (Some(listen), Some(port)) if !args.no_discovery => {
            let bootnodes = args.discv5_bootnodes.clone();
            let config = Discv5Config {
                listen: SocketAddr::new(listen.ip(), port),
                tcp_port: listen.port(),
                quic_port: quic_listen.map(|addr| addr.port()),
                bootnodes,
                ..Discv5Config::default()
            };
            let v5 = Discv5Service::start(&key, config).await?;
            info!(udp = %v5.local_addr(), enr = %v5.local_enr().to_base64(), "discovery v5 running");
            server.add_candidate_source(v5.random_nodes());
            Some(v5)
        }
        _ => None,
    };
    if !args.dns_trees.is_empty() && !args.no_discovery {
        let dns = DnsDiscovery::new(args.dns_trees.clone(), DnsConfig::default())?;
        info!(trees = args.dns_trees.len(), "DNS discovery running");
        server.add_candidate_source(dns.random_nodes());
    }

    examples::return_freed_memory();
    // Ctrl-C or SIGTERM (what service managers send) stop the node gracefully.
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Ok(PeerEvent::Added(peer)) => info!(id = %peer.id, client = %peer.client_id, caps = ?peer.shared.iter().map(|s| s.capability.to_string()).collect::<Vec<_>>(), "peer connected"),
                Ok(PeerEvent::Dropped { id, end }) => info!(%id, %end, "peer disconnected"),
                Ok(PeerEvent::Message { id, capability, code, size, inbound }) => tracing::debug!(%id, %capability, code, size, inbound, "message"),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => info!(missed = n, "events missed"),
                Err(_) => break,
            },
            event = eth_events.recv() => match event {
                Ok(EthEvent::Ready(peer)) => info!(id = %peer.id(), version = peer.version().number(), "eth peer ready"),
                Ok(EthEvent::HandshakeFailed { peer, error }) => info!(id = %peer, %error, "eth handshake failed"),
                Ok(EthEvent::Gone { peer, reason }) => tracing::debug!(id = %peer, ?reason, "eth peer gone"),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => info!(missed = n, "eth events missed"),
                Err(_) => break,
            },
            _ = &mut ctrl_c => break,
            _ = terminate.recv() => break,
        }
    }
    info!("stopping");
    server.stop().await;
    if let Some(discovery) = discovery {
        discovery.shutdown().await;
    }
    if let Some(v5) = discovery_v5 {
        v5.shutdown();
    }
    Ok(())
}

/// Discovery v4 on the UDP port of the same address as RLPx, as other clients
/// run it, with the node database in the data directory.
async fn start_discovery(
    key: &NodeKey,
    listen: SocketAddr,
    quic_port: Option<u16>,
    bootnodes: Vec<Enode>,
    datadir: &Path,
) -> Result<Discv4, Box<dyn std::error::Error>> {
    std::fs::create_dir_all(datadir)?;
    let db = NodeDb::open(datadir.join("nodes.redb"))?;
    let config = Discv4Config {
        tcp_port: listen.port(),
        quic_port,
        bootnodes: bootnodes.into_iter().map(NodeRecordV4::from).collect(),
        node_db: Some(Arc::new(db)),
        ..Discv4Config::default()
    };
    Ok(Discv4::bind(key.clone(), listen, config).await?)
}
