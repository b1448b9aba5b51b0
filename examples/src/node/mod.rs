//! The node program's parts, as a library: one node ([`RunningNode`]: a
//! [`Server`] with eth and the demo capability, discovery v4 and v5, DNS
//! discovery, records that follow the head's fork id), the chain it serves
//! ([`chain`]), its status ([`status`]) and the devnet of many such nodes in
//! one process ([`devnet`]). The `node` binary parses flags into
//! [`NodeSettings`] and runs one node or a devnet.

pub mod admin_api;
pub mod chain;
pub mod devnet;
mod fork_record;
pub mod geth_metrics;
pub mod resolve;
pub mod status;
pub mod web;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use p2p_core::config::Config;
use p2p_core::dual::{DualNetwork, DualStage};
use p2p_core::layers::metrics::{instance_label, MetricsLayer};
use p2p_core::layers::traffic::TrafficLayer;
use p2p_core::network::TcpNetwork;
use p2p_core::pipeline::Direction;
use p2p_core::PeerEvent;
use p2p_core::{Enode, NodeKey, Protocol, Server};
use p2p_discovery::dns::client::{DnsConfig, DnsDiscovery};
use p2p_discovery::dns::tree::TreeUrl;
use p2p_discovery::nodedb::NodeDb;
use p2p_discovery::v4::service::{Discv4, Discv4Config, Discv4Handle};
use p2p_discovery::v4::wire::NodeRecordV4;
use p2p_discovery::v5::{Discv5Config, Discv5Service, Enr};
use p2p_protocols::eth::protocol::Eth;
use p2p_protocols::eth::protocol::EthEvent;
use p2p_rlpx::RlpxTransport;
use ping_pong_plugin::RttTable;
use quic_transport::QuicConfig;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

pub use chain::ChainSetup;
pub use status::NodeStatus;

/// A subscription to a node's peer events and eth events.
pub type Events = (
    broadcast::Receiver<PeerEvent>,
    broadcast::Receiver<EthEvent>,
);

/// Why a node could not start, in words naming what is at fault.
pub type NodeError = Box<dyn std::error::Error + Send + Sync>;

/// Which discovery mechanisms a node runs.
#[derive(Clone, Debug, Default)]
pub struct DiscoverySettings {
    /// Discovery v4 on the UDP port of the RLPx listen address, starting
    /// from the configuration's bootnodes.
    pub v4: bool,
    /// Discovery v5 on this UDP port of the listen address (0: any free
    /// port).
    pub v5_port: Option<u16>,
    /// Discovery v5's bootnodes.
    pub v5_bootnodes: Vec<Enr>,
    /// EIP-1459 trees to take dial candidates from.
    pub dns_trees: Vec<TreeUrl>,
    /// Where discovery v4 keeps the nodes it knows across restarts.
    pub node_db: Option<PathBuf>,
}

/// Everything a node is started from.
pub struct NodeSettings {
    /// The node key.
    pub key: NodeKey,
    /// The server's configuration (listen address, peer limits, static,
    /// trusted and boot nodes, ...).
    pub config: Config,
    /// The chain served over eth.
    pub chain: ChainSetup,
    /// Discovery.
    pub discovery: DiscoverySettings,
    /// Also speak devp2p over QUIC on this UDP port (0: any free port).
    pub quic_port: Option<u16>,
    /// Capabilities offered beside eth.
    pub protocols: Vec<Arc<dyn Protocol>>,
    /// Round-trip times by peer, if one of the capabilities measures them
    /// (`pingpong/1` does: [`crate::ping_pong`]).
    pub rtts: Option<watch::Receiver<RttTable>>,
}

/// A started node; [`stop`](Self::stop) ends it. Derefs to its
/// [`NodeHandle`], which other tasks (an admin API, a dashboard) hold.
pub struct RunningNode {
    handle: NodeHandle,
    discv4: Option<Discv4>,
    fork_record: JoinHandle<()>,
}

/// What the rest of a program uses of a running node; cheap to clone.
#[derive(Clone)]
pub struct NodeHandle {
    /// The server.
    pub server: Server,
    /// The eth capability: its peers, their requests, its events.
    pub eth: Eth,
    /// The chain served.
    pub chain: ChainSetup,
    /// Each peer's traffic, and the totals.
    pub traffic: TrafficLayer,
    /// Where QUIC listens, if it does.
    pub quic_listen: Option<SocketAddr>,
    /// Round-trip times by peer, if measured.
    pub rtts: Option<watch::Receiver<RttTable>>,
    key: NodeKey,
    /// Subscriptions taken before any peer could connect, for the first
    /// caller of [`events`](Self::events).
    first_events: Arc<std::sync::Mutex<Option<Events>>>,
    discv4: Option<Discv4Handle>,
    discv5: Option<Arc<Discv5Service>>,
    /// The peers kept connected: the configuration's static nodes and
    /// those added since (the admin API's `static` flag).
    static_peers: Arc<std::sync::Mutex<std::collections::HashSet<p2p_core::PeerId>>>,
}

impl std::ops::Deref for RunningNode {
    type Target = NodeHandle;

    fn deref(&self) -> &NodeHandle {
        &self.handle
    }
}

impl RunningNode {
    /// Starts the server, then discovery (so that the first peers it finds
    /// have somewhere to go).
    pub async fn start(settings: NodeSettings) -> Result<RunningNode, NodeError> {
        let NodeSettings {
            key,
            config,
            chain,
            discovery,
            quic_port,
            mut protocols,
            rtts,
        } = settings;
        let bootnodes = config.bootnodes.clone();
        let static_peers = config.static_nodes.iter().map(|n| n.id).collect();
        let eth = chain.eth();
        let eth_events = eth.subscribe();
        protocols.extend(eth.protocols());
        let metrics = MetricsLayer::new(instance_label(&key.id()));
        let traffic = TrafficLayer::new();
        let builder = Server::builder(key.clone())
            .config(config)
            .protocols(protocols)
            .setup_layer(metrics.clone())
            .session_layer(metrics)
            .session_layer(traffic.clone());
        let (server, quic_listen) = match quic_port {
            None => (builder.encryption(RlpxTransport::new).start().await?, None),
            Some(port) => {
                let quic = quic_transport::transport(QuicConfig::default())?;
                let kept = Arc::new(std::sync::Mutex::new(None));
                let network_slot = kept.clone();
                let server = builder
                    .transport(move |key| {
                        let (quic_network, quic_stage) = quic(key.clone());
                        // QUIC for the nodes whose records offer it, RLPx
                        // over TCP for the others.
                        let network = DualNetwork::new(TcpNetwork::new(), quic_network)
                            .second_port(Some(port))
                            .prefer_second(true);
                        *network_slot
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner) =
                            Some(network.clone());
                        (network, DualStage::new(RlpxTransport::new(key), quic_stage))
                    })
                    .start()
                    .await?;
                let network = kept
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .take();
                (server, network.and_then(|n| n.second_listen_addr()))
            }
        };
        // Before discovery can find anyone, and before anything else is
        // awaited: no peer has connected yet.
        let first_events = Arc::new(std::sync::Mutex::new(Some((
            server.subscribe_events(),
            eth_events,
        ))));
        let fork_id = fork_record::head_fork_id(&chain.spec, &chain.chain);
        let listen = server.node_info().listen_addr;
        let quic_port = quic_listen.map(|addr| addr.port());
        let discv4 = match listen {
            Some(listen) if discovery.v4 => {
                let node_db = match &discovery.node_db {
                    Some(path) => Some(Arc::new(open_node_db(path)?)),
                    None => None,
                };
                let config = Discv4Config {
                    tcp_port: listen.port(),
                    quic_port,
                    fork_id: Some(fork_id),
                    bootnodes: bootnodes.into_iter().map(NodeRecordV4::from).collect(),
                    node_db,
                    ..Discv4Config::default()
                };
                let v4 = Discv4::bind(key.clone(), listen, config)
                    .await
                    .map_err(|e| format!("discovery v4 on udp {listen}: {e}"))?;
                server.add_candidate_source(v4.random_nodes());
                Some(v4)
            }
            _ => None,
        };
        let discv5 = match (listen, discovery.v5_port) {
            (Some(listen), Some(port)) => {
                let config = Discv5Config {
                    listen: SocketAddr::new(listen.ip(), port),
                    tcp_port: listen.port(),
                    quic_port,
                    fork_id: Some(fork_id),
                    bootnodes: discovery.v5_bootnodes,
                    ..Discv5Config::default()
                };
                let v5 = Discv5Service::start(&key, config)
                    .await
                    .map_err(|e| format!("discovery v5 on udp {}:{port}: {e}", listen.ip()))?;
                server.add_candidate_source(v5.random_nodes());
                Some(Arc::new(v5))
            }
            _ => None,
        };
        if !discovery.dns_trees.is_empty() {
            let dns = DnsDiscovery::new(discovery.dns_trees, DnsConfig::default())?;
            server.add_candidate_source(dns.random_nodes());
        }
        let fork_record = tokio::spawn(fork_record::follow_head(
            chain.spec.clone(),
            chain.chain.clone(),
            discv4.as_ref().map(|v4| v4.handle()),
            discv5.clone(),
            fork_id,
        ));
        Ok(RunningNode {
            handle: NodeHandle {
                server,
                eth,
                chain,
                traffic,
                quic_listen,
                rtts,
                key,
                first_events,
                discv4: discv4.as_ref().map(|v4| v4.handle()),
                discv5,
                static_peers: Arc::new(std::sync::Mutex::new(static_peers)),
            },
            discv4,
            fork_record,
        })
    }

    /// A handle on the node for other tasks.
    pub fn handle(&self) -> NodeHandle {
        self.handle.clone()
    }

    /// Stops the node: every peer is told the client is quitting, discovery
    /// saves its table and closes its sockets.
    pub async fn stop(self) {
        self.fork_record.abort();
        self.handle.server.stop().await;
        if let Some(v4) = self.discv4 {
            v4.shutdown().await;
        }
        if let Some(v5) = &self.handle.discv5 {
            v5.shutdown();
        }
    }
}

impl NodeHandle {
    /// The node's peer events and eth events: the first call gets every
    /// event since the server started; later calls, those from then on.
    pub fn events(&self) -> Events {
        self.first_events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
            .unwrap_or_else(|| (self.server.subscribe_events(), self.eth.subscribe()))
    }

    /// The node's `enode://` URL, if it listens.
    pub fn enode(&self) -> Option<Enode> {
        self.server.local_enode()
    }

    /// The node's record in its `enr:` text form: discovery v4's if it runs,
    /// else discovery v5's, else one signed now for the listen address (what
    /// the node would announce), so that a node without discovery can still
    /// be given to others as a record.
    pub async fn enr(&self) -> Option<String> {
        if let Some(v4) = &self.discv4 {
            if let Ok(record) = v4.local_record().await {
                return Some(record.to_base64());
            }
        }
        if let Some(v5) = &self.discv5 {
            return Some(v5.local_enr().to_base64());
        }
        let enode = self.enode()?;
        let endpoint = p2p_core::record::Endpoint {
            ip: Some(enode.ip),
            tcp: Some(enode.tcp),
            udp: None,
            quic: self.quic_listen.map(|addr| addr.port()),
        };
        let mut record = p2p_core::record::LocalRecord::new(self.key.clone(), endpoint, 1).ok()?;
        record
            .set_fork_id(fork_record::head_fork_id(
                &self.chain.spec,
                &self.chain.chain,
            ))
            .ok()?;
        Some(record.record().to_base64())
    }

    /// Keeps `node` connected, as a static peer.
    pub async fn add_static_peer(&self, node: Enode) {
        self.static_peers().insert(node.id);
        self.server.add_peer(node).await;
    }

    /// Stops keeping `id` connected and disconnects it.
    pub async fn remove_peer(&self, id: p2p_core::PeerId) {
        self.static_peers().remove(&id);
        self.server.remove_peer(id).await;
    }

    /// Whether `id` is kept connected.
    pub fn is_static(&self, id: &p2p_core::PeerId) -> bool {
        self.static_peers().contains(id)
    }

    fn static_peers(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashSet<p2p_core::PeerId>> {
        self.static_peers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Discovery v4, if it runs.
    pub fn discv4(&self) -> Option<&Discv4Handle> {
        self.discv4.as_ref()
    }

    /// Discovery v5, if it runs.
    pub fn discv5(&self) -> Option<&Discv5Service> {
        self.discv5.as_deref()
    }

    /// What the node is doing now.
    pub async fn status(&self) -> NodeStatus {
        let peers = self.server.peers().await;
        let peers_in = peers
            .iter()
            .filter(|p| p.direction == Direction::Inbound)
            .count();
        let stats = self.server.stats();
        let table_v4 = match &self.discv4 {
            Some(v4) => v4.table_len().await.ok(),
            None => None,
        };
        NodeStatus {
            peers_in,
            peers_out: peers.len() - peers_in,
            dials: stats.dials,
            dialed_peers: stats.dialed_peers,
            table_v4,
            table_v5: self.discv5.as_ref().map(|v5| v5.table_entries().len()),
            traffic: self.traffic.total(),
            head: self.chain.chain.head_number(),
        }
    }
}

/// The node database at `path`, its directory created first.
fn open_node_db(path: &std::path::Path) -> Result<NodeDb, NodeError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    NodeDb::open(path).map_err(|e| format!("node database {}: {e}", path.display()).into())
}
