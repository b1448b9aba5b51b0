//! The discovery v4 service: the UDP endpoint that answers and bonds, the
//! requests we send (Ping, FindNode, ENRRequest) matched to their replies,
//! iterative lookups, and the upkeep of the table (bootnodes, revalidation,
//! refresh, the node database).
//!
//! One task owns the socket, the routing [`Table`] and the bond state; the
//! [`Discv4Handle`] talks to it over an mpsc channel with oneshot replies, so
//! nothing is shared and nothing needs a lock. Lookups and upkeep run outside
//! that task, as clients of the handle: a lookup waiting for answers never
//! holds up packet processing.
//!
//! Bonding follows go-ethereum (`p2p/discover/v4_udp.go`):
//!
//! * a Ping is always answered with a Pong to the datagram's source address;
//!   if the sender has not answered one of our pings recently (no endpoint
//!   proof), we ping it back so that it can prove its endpoint;
//! * a Pong is accepted only if it answers a ping we sent (same hash, same
//!   signer) and arrives within [`Discv4Config::ping_timeout`]; it gives the
//!   sender an endpoint proof and a verified place in the table;
//! * FindNode and ENRRequest are answered only for senders with an endpoint
//!   proof younger than [`Discv4Config::bond_expiration`]: answering spoofed
//!   source addresses would make us a traffic amplifier;
//! * before we send a FindNode, we make sure the other side will answer it:
//!   unless it pinged us recently, we ping it and wait for its ping-back,
//!   whose Pong gives it our endpoint proof.
//!
//! Replies are matched to requests: a Pong by the hash of our Ping and its
//! signer, Neighbors by sender id and IP to an outstanding FindNode, an
//! ENRResponse by the hash of our ENRRequest and its signer. Anything else is
//! unsolicited and dropped.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::ops::Deref;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::stream::{FuturesUnordered, Stream, StreamExt};
use p2p_core::record::{self, LocalRecord, NodeRecord};
use p2p_core::{Enode, NodeAddr, NodeId, NodeKey, PeerId};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, trace, warn};

use super::lookup::Lookup;
use super::table::{Node, Revalidation, Table, BUCKET_SIZE};
use super::wire::{
    self, Endpoint, EnrRequest, EnrResponse, FindNode, NodeRecordV4, Packet, Ping, Pong,
    MAX_NEIGHBORS, MAX_PACKET_SIZE, PING_VERSION,
};
use crate::endpoint::EndpointPredictor;
use crate::netutil::check_relay_ip;
use crate::nodedb::{NodeDb, Observation};
use crate::socket::DatagramSocket;

/// How long sent packets stay valid, in seconds (go-ethereum's `expiration`).
const PACKET_EXPIRATION_SECS: u64 = 20;
/// Find-node failures in a row after which a node leaves the table
/// (go-ethereum's `maxFindnodeFailures`).
const MAX_FIND_NODE_FAILURES: u32 = 5;
/// Most nodes the database seeds the table with at startup
/// (go-ethereum's `seedCount`).
const SEED_COUNT: usize = 30;
/// Oldest last pong for a database node to seed the table
/// (go-ethereum's `seedMaxAge`).
const SEED_MAX_AGE: Duration = Duration::from_secs(5 * 24 * 60 * 60);
/// Lowest UDP port a relayed node may use: below it live well-known
/// services that discovery must not be used to send datagrams to.
const MIN_RELAYED_PORT: u16 = 1025;

/// Settings of a [`Discv4`] service.
#[derive(Debug, Clone)]
pub struct Discv4Config {
    /// How long to wait for the Pong answering one of our pings.
    /// go-ethereum's `respTimeout` is 500 ms.
    pub ping_timeout: Duration,
    /// How long to wait for the Neighbors answering a FindNode, and for an
    /// ENRResponse.
    pub request_timeout: Duration,
    /// How long a Pong from a node counts as its endpoint proof.
    /// go-ethereum's `bondExpiration` is 24 h in the code, 12 h in
    /// `discv4.md`; the shorter one is the safe choice.
    pub bond_expiration: Duration,
    /// The TCP (RLPx) port we advertise in Pings and in our record;
    /// 0 if we do not accept connections.
    pub tcp_port: u16,
    /// The QUIC port we advertise in our record (the `quic` / `quic6` key),
    /// if we also speak devp2p over QUIC. Pings carry no such field.
    pub quic_port: Option<u16>,
    /// The IP address we advertise; `None` advertises the socket's address,
    /// or, if the socket is bound to the unspecified address (`0.0.0.0`,
    /// `::`), the address other nodes report seeing us at (see
    /// [`crate::endpoint`]) once enough of them agree.
    pub advertised_ip: Option<IpAddr>,
    /// How many distinct nodes must report the same external address before
    /// we advertise it (go-ethereum: 10).
    pub endpoint_statements: usize,
    /// The sequence number our node record starts at (keep the last one
    /// across restarts so that it keeps rising). With a node database the
    /// higher of this and the stored one plus one is used.
    pub enr_seq: u64,
    /// Nodes to start from, and to fall back to when the table empties.
    pub bootnodes: Vec<NodeRecordV4>,
    /// How often a lookup asks a node in all before giving up on it. One
    /// lost datagram should not cost a lookup its best node, so the default
    /// is 2.
    pub lookup_attempts: u32,
    /// The mean time between liveness checks of table entries (each check
    /// pings one entry). 0 turns revalidation off.
    pub revalidate_interval: Duration,
    /// How long after its last check an entry becomes due for another
    /// ([`super::table::MIN_REVALIDATION_AGE`] by default).
    pub revalidate_min_age: Duration,
    /// How often the table is refreshed by lookups for our own id and three
    /// random ids (go-ethereum: 30 minutes). 0 turns periodic refresh off;
    /// the refresh at startup still happens.
    pub refresh_interval: Duration,
    /// The EIP-2124 fork id our record advertises in its `eth` entry, if
    /// we offer eth: go-ethereum's eth dialer skips discovered nodes whose
    /// record has none. [`Discv4Handle::set_fork_id`] changes it later.
    pub fork_id: Option<record::ForkId>,
    /// Where nodes are kept across restarts. `None` keeps nothing.
    pub node_db: Option<Arc<NodeDb>>,
    /// How often the table's nodes are written to the node database.
    pub db_flush_interval: Duration,
}

impl Default for Discv4Config {
    fn default() -> Self {
        Discv4Config {
            ping_timeout: Duration::from_millis(500),
            request_timeout: Duration::from_millis(500),
            bond_expiration: Duration::from_secs(12 * 60 * 60),
            tcp_port: 0,
            quic_port: None,
            advertised_ip: None,
            endpoint_statements: crate::endpoint::DEFAULT_MIN_STATEMENTS,
            enr_seq: 1,
            bootnodes: Vec::new(),
            lookup_attempts: 2,
            revalidate_interval: Duration::from_secs(10),
            revalidate_min_age: super::table::MIN_REVALIDATION_AGE,
            refresh_interval: Duration::from_secs(30 * 60),
            fork_id: None,
            node_db: None,
            db_flush_interval: Duration::from_secs(5 * 60),
        }
    }
}

/// Why a [`Discv4`] operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Discv4Error {
    /// Binding or using the UDP socket failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// Our node record could not be built.
    #[error("cannot build the local node record: {0}")]
    Record(String),
    /// A packet could not be encoded.
    #[error("cannot encode packet: {0}")]
    Wire(#[from] wire::WireError),
    /// The node did not answer in time.
    #[error("request timed out")]
    Timeout,
    /// The node answered with a record that is not its own or not valid.
    #[error("invalid record in ENRResponse: {0}")]
    InvalidRecord(String),
    /// The node database failed.
    #[error(transparent)]
    Db(#[from] crate::nodedb::NodeDbError),
    /// The service has shut down.
    #[error("discovery service is shut down")]
    Closed,
}

/// What a node told us in the Pong answering our ping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PongInfo {
    /// The node that answered.
    pub id: PeerId,
    /// The address the Pong came from.
    pub addr: SocketAddr,
    /// Our endpoint as the node sees it (the Pong's `to`).
    pub to: Endpoint,
    /// The node's record sequence number, if it sent one.
    pub enr_seq: Option<u64>,
}

type Reply<T> = oneshot::Sender<Result<T, Discv4Error>>;

/// Requests from the handle to the task.
enum Command {
    Ping {
        node: NodeRecordV4,
        reply: Reply<PongInfo>,
    },
    FindNode {
        node: NodeRecordV4,
        target: PeerId,
        reply: Reply<Vec<NodeRecordV4>>,
    },
    RequestEnr {
        node: NodeRecordV4,
        reply: Reply<NodeRecord>,
    },
    /// Answers `true` once the node has pinged us within the bond
    /// expiration (at once if it already has), `false` if no Ping comes
    /// within the ping timeout.
    AwaitPingFrom {
        id: NodeId,
        reply: oneshot::Sender<bool>,
    },
    PingedUsRecently {
        id: NodeId,
        reply: oneshot::Sender<bool>,
    },
    /// The outcome of a FindNode a lookup sent: failures are counted (and
    /// the bond forgotten, so that the next request re-bonds), found nodes
    /// are added to the table as seen.
    TrackFindNode {
        node: NodeRecordV4,
        ok: bool,
        found: Vec<NodeRecordV4>,
    },
    AddSeen(Vec<NodeRecordV4>),
    Remove {
        id: NodeId,
        reply: oneshot::Sender<bool>,
    },
    TableLen(oneshot::Sender<usize>),
    Closest {
        target: NodeId,
        n: usize,
        reply: oneshot::Sender<Vec<NodeRecordV4>>,
    },
    NodeToRevalidate {
        random: u64,
        reply: oneshot::Sender<Option<Node>>,
    },
    Revalidated {
        id: NodeId,
        ok: bool,
        reply: oneshot::Sender<Revalidation>,
    },
    Snapshot(oneshot::Sender<Vec<Observation>>),
    LocalRecord(oneshot::Sender<NodeRecord>),
    SetForkId(record::ForkId, oneshot::Sender<Result<bool, String>>),
    Shutdown,
}

/// A running discovery v4 service. Dropping it stops its tasks;
/// [`Discv4::shutdown`] also saves the table to the node database and waits
/// for the tasks to end. The methods are those of [`Discv4Handle`].
pub struct Discv4 {
    handle: Discv4Handle,
    task: Option<JoinHandle<()>>,
    upkeep: Option<JoinHandle<()>>,
}

/// A cheap, cloneable handle to a running [`Discv4`] service: what lookups,
/// candidate streams and other tasks use. Its calls fail with
/// [`Discv4Error::Closed`] once the service has stopped.
#[derive(Clone)]
pub struct Discv4Handle {
    commands: mpsc::Sender<Command>,
    local_addr: SocketAddr,
    local_id: PeerId,
    local_node_id: NodeId,
    tcp_port: u16,
    config: Arc<Discv4Config>,
}

impl std::fmt::Debug for Discv4Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Discv4Handle")
            .field("local_addr", &self.local_addr)
            .field("local_id", &self.local_id)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Discv4 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Discv4")
            .field("handle", &self.handle)
            .finish_non_exhaustive()
    }
}

impl Deref for Discv4 {
    type Target = Discv4Handle;

    fn deref(&self) -> &Discv4Handle {
        &self.handle
    }
}

impl Drop for Discv4 {
    fn drop(&mut self) {
        for task in [self.task.take(), self.upkeep.take()].into_iter().flatten() {
            task.abort();
        }
    }
}

impl Discv4 {
    /// Binds a UDP socket at `addr` and starts the service. Must be called
    /// inside a tokio runtime.
    pub async fn bind(
        key: NodeKey,
        addr: SocketAddr,
        config: Discv4Config,
    ) -> Result<Discv4, Discv4Error> {
        let socket = UdpSocket::bind(addr).await?;
        Self::with_socket(key, socket, config).await
    }

    /// Starts the service on a socket the caller made (a wrapped one in
    /// tests, or one configured beyond what [`Discv4::bind`] does).
    pub async fn with_socket<S: DatagramSocket>(
        key: NodeKey,
        socket: S,
        mut config: Discv4Config,
    ) -> Result<Discv4, Discv4Error> {
        let local_addr = socket.local_addr()?;
        let local_id = key.id();
        let mut seeds = Vec::new();
        if let Some(db) = config.node_db.clone() {
            let (stored_seq, stored) = tokio::task::spawn_blocking(move || {
                let now = SystemTime::now();
                db.expire(now)?;
                Ok::<_, Discv4Error>((db.local_seq()?, db.seeds(SEED_COUNT, SEED_MAX_AGE, now)?))
            })
            .await
            .map_err(|e| Discv4Error::Io(std::io::Error::other(e)))??;
            if let Some(seq) = stored_seq {
                config.enr_seq = config.enr_seq.max(seq + 1);
            }
            seeds = stored
                .into_iter()
                .map(|n| NodeRecordV4 {
                    endpoint: Endpoint::new(n.enode.ip, n.enode.udp, n.enode.tcp),
                    id: n.enode.id,
                })
                .collect();
        }
        let ip = config.advertised_ip.unwrap_or(local_addr.ip());
        let advertised = record::Endpoint {
            ip: (!ip.is_unspecified()).then_some(ip),
            tcp: (config.tcp_port != 0).then_some(config.tcp_port),
            udp: Some(local_addr.port()),
            quic: config.quic_port,
        };
        let mut local_record = LocalRecord::new(key.clone(), advertised, config.enr_seq)
            .map_err(|e| Discv4Error::Record(e.to_string()))?;
        if let Some(fork_id) = config.fork_id {
            local_record
                .set_fork_id(fork_id)
                .map_err(|e| Discv4Error::Record(e.to_string()))?;
        }
        if let Some(db) = config.node_db.clone() {
            let seq = local_record.seq();
            tokio::task::spawn_blocking(move || db.set_local_seq(seq))
                .await
                .map_err(|e| Discv4Error::Io(std::io::Error::other(e)))??;
        }
        let record_rlp = record_rlp(&local_record)?;
        // Only a node that does not know its own address learns it from others.
        let predictor =
            (config.advertised_ip.is_none() && local_addr.ip().is_unspecified()).then(|| {
                EndpointPredictor::new(crate::endpoint::DEFAULT_WINDOW, config.endpoint_statements)
            });
        let (commands, rx) = mpsc::channel(256);
        let now = Instant::now();
        let mut table = Table::new(local_id.node_id());
        table.set_min_revalidation_age(config.revalidate_min_age);
        for seed in seeds.iter().chain(&config.bootnodes) {
            table.add_seen(*seed, now.into_std());
        }
        let config = Arc::new(config);
        let state = State {
            socket,
            key,
            local_endpoint: Endpoint::new(ip, local_addr.port(), config.tcp_port),
            record_rlp,
            local_record,
            predictor,
            table,
            bonds: HashMap::new(),
            pings: HashMap::new(),
            finds: HashMap::new(),
            enr_requests: HashMap::new(),
            ping_waiters: HashMap::new(),
            config: config.clone(),
        };
        let task = tokio::spawn(state.run(rx));
        let handle = Discv4Handle {
            commands,
            local_addr,
            local_id,
            local_node_id: local_id.node_id(),
            tcp_port: config.tcp_port,
            config,
        };
        let upkeep = tokio::spawn(upkeep(handle.clone()));
        Ok(Discv4 {
            handle,
            task: Some(task),
            upkeep: Some(upkeep),
        })
    }

    /// A handle to the service, for other tasks.
    pub fn handle(&self) -> Discv4Handle {
        self.handle.clone()
    }

    /// Saves the table to the node database (if there is one), stops the
    /// tasks and waits until they have ended (the socket is closed and
    /// pending requests fail with [`Discv4Error::Closed`]).
    pub async fn shutdown(mut self) {
        if let Some(upkeep) = self.upkeep.take() {
            upkeep.abort();
            let _ = upkeep.await;
        }
        if let Err(e) = self.handle.flush_to_db().await {
            warn!(target: "discv4", "saving nodes at shutdown failed: {e}");
        }
        // If the task is already gone the send fails; awaiting it is still
        // right.
        let _ = self.handle.commands.send(Command::Shutdown).await;
        if let Some(task) = self.task.take() {
            if let Err(e) = task.await {
                debug!(target: "discv4", "service task ended abnormally: {e}");
            }
        }
    }
}

impl Discv4Handle {
    /// The address the socket is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Our public key.
    pub fn local_id(&self) -> PeerId {
        self.local_id
    }

    /// Our endpoint as a discovery node (for tests and bootnode lists).
    pub fn local_node(&self) -> NodeRecordV4 {
        NodeRecordV4 {
            endpoint: Endpoint::new(self.local_addr.ip(), self.local_addr.port(), self.tcp_port),
            id: self.local_id,
        }
    }

    /// Pings `node` and waits for its Pong, at most the configured ping
    /// timeout. A Pong bonds the node: it gets an endpoint proof and is
    /// added to the table as verified.
    pub async fn ping(&self, node: NodeRecordV4) -> Result<PongInfo, Discv4Error> {
        self.request(|reply| Command::Ping { node, reply }).await
    }

    /// Establishes a bond with `node` in both directions, unless it pinged
    /// us recently: pings it (which bonds it on our side) and waits for its
    /// ping-back, whose Pong gives it our endpoint proof. Afterwards it
    /// answers our FindNode.
    ///
    /// A bond takes four datagrams, so on a lossy path each step is retried:
    /// up to [`Discv4Config::lookup_attempts`] pings, until one is answered
    /// and followed by the node's ping-back (a node without our proof pings
    /// back at every ping). Fails only if no ping was answered at all.
    pub async fn ensure_bond(&self, node: NodeRecordV4) -> Result<(), Discv4Error> {
        let id = node.id.node_id();
        if self
            .query(|reply| Command::PingedUsRecently { id, reply })
            .await?
        {
            return Ok(());
        }
        let mut answered = false;
        let mut last_error = Discv4Error::Timeout;
        for _ in 0..self.config.lookup_attempts.max(1) {
            match self.ping(node).await {
                Ok(_) => answered = true,
                Err(Discv4Error::Closed) => return Err(Discv4Error::Closed),
                Err(e) => {
                    last_error = e;
                    continue;
                }
            }
            if self
                .query(|reply| Command::AwaitPingFrom { id, reply })
                .await?
            {
                return Ok(());
            }
        }
        // Answered but never pinged back: the node may hold our proof from
        // before and simply not need to; a FindNode will tell.
        if answered {
            Ok(())
        } else {
            Err(last_error)
        }
    }

    /// Asks `node` for its neighbours of `target`, bonding first if needed.
    /// Returns the nodes it sent (at most [`BUCKET_SIZE`]), which are checked
    /// for usable addresses but not contacted.
    pub async fn find_node(
        &self,
        node: NodeRecordV4,
        target: PeerId,
    ) -> Result<Vec<NodeRecordV4>, Discv4Error> {
        self.ensure_bond(node).await?;
        self.request(|reply| Command::FindNode {
            node,
            target,
            reply,
        })
        .await
    }

    /// Asks `node` for its signed record (EIP-868), bonding first if needed.
    /// The record must be signed by the node's own key.
    pub async fn request_enr(&self, node: NodeRecordV4) -> Result<NodeRecord, Discv4Error> {
        self.ensure_bond(node).await?;
        self.request(|reply| Command::RequestEnr { node, reply })
            .await
    }

    /// Finds the (at most [`BUCKET_SIZE`]) live nodes closest to `target`
    /// by iterative lookup; see [`super::lookup`]. Every node in the result
    /// answered a FindNode during the lookup. An empty table is re-seeded
    /// with the bootnodes first.
    pub async fn lookup(&self, target: PeerId) -> Result<Vec<NodeRecordV4>, Discv4Error> {
        Ok(self.lookup_with_stats(target).await?.0)
    }

    /// [`Discv4Handle::lookup`], also returning how many FindNode queries it
    /// sent.
    pub async fn lookup_with_stats(
        &self,
        target: PeerId,
    ) -> Result<(Vec<NodeRecordV4>, usize), Discv4Error> {
        let target_id = target.node_id();
        let mut seeds = self.closest(target_id, BUCKET_SIZE).await?;
        if seeds.is_empty() && !self.config.bootnodes.is_empty() {
            // The table emptied (every node failed its checks): start over
            // from the bootnodes rather than wait for the next refresh.
            self.add_nodes(self.config.bootnodes.clone()).await?;
            seeds = self.closest(target_id, BUCKET_SIZE).await?;
        }
        let mut lookup = Lookup::new(
            target_id,
            self.local_node_id,
            seeds,
            self.config.lookup_attempts,
        );
        let mut queries = FuturesUnordered::new();
        loop {
            while let Some(node) = lookup.next_query() {
                let handle = self.clone();
                queries.push(async move { (node, handle.find_node(node, target).await) });
            }
            let Some((node, result)) = queries.next().await else {
                break;
            };
            let id = node.id.node_id();
            match result {
                Ok(found) => {
                    self.send(Command::TrackFindNode {
                        node,
                        ok: true,
                        found: found.clone(),
                    })
                    .await?;
                    lookup.on_answer(&id, found);
                }
                Err(Discv4Error::Closed) => return Err(Discv4Error::Closed),
                Err(e) => {
                    trace!(target: "discv4", "FindNode to {} failed: {e}", node.id);
                    self.send(Command::TrackFindNode {
                        node,
                        ok: false,
                        found: Vec::new(),
                    })
                    .await?;
                    lookup.on_failure(&id);
                }
            }
        }
        Ok((lookup.result(), lookup.queries()))
    }

    /// An endless stream of dial candidates found by lookups for random
    /// targets (see [`crate::walk::random_walk`]): nodes with a TCP port, not
    /// ourselves. The stream does its work only while polled, so a consumer
    /// that stops asking stops the lookups. It ends when the service stops.
    pub fn random_nodes(&self) -> impl Stream<Item = NodeAddr> + Send + 'static {
        let handle = self.clone();
        crate::walk::random_walk(move || {
            let handle = handle.clone();
            async move {
                match handle.lookup(PeerId(rand::random())).await {
                    Ok(found) => Some(
                        found
                            .iter()
                            .filter_map(NodeRecordV4::to_enode)
                            .map(NodeAddr::from)
                            .collect(),
                    ),
                    Err(Discv4Error::Closed) => None,
                    Err(e) => {
                        debug!(target: "discv4", "random lookup failed: {e}");
                        Some(Vec::new())
                    }
                }
            }
        })
    }

    /// Our current node record, as ENRRequest answers it.
    pub async fn local_record(&self) -> Result<NodeRecord, Discv4Error> {
        self.query(Command::LocalRecord).await
    }

    /// Advertises `fork_id` in our record's `eth` entry, as a node does when
    /// its head crosses a fork. Returns whether the record changed (its
    /// sequence number then rises, and peers that ping us fetch it anew).
    pub async fn set_fork_id(&self, fork_id: record::ForkId) -> Result<bool, Discv4Error> {
        self.query(|reply| Command::SetForkId(fork_id, reply))
            .await?
            .map_err(Discv4Error::Record)
    }

    /// Adds nodes we heard of to the table, unverified (revalidation checks
    /// them), e.g. bootnodes learned after startup.
    pub async fn add_nodes(&self, nodes: Vec<NodeRecordV4>) -> Result<(), Discv4Error> {
        self.send(Command::AddSeen(nodes)).await
    }

    /// Removes a node from the table (a replacement takes its place), e.g.
    /// one the application found useless. Returns whether it was there.
    pub async fn remove_node(&self, id: NodeId) -> Result<bool, Discv4Error> {
        self.query(|reply| Command::Remove { id, reply }).await
    }

    /// The number of live entries in the routing table.
    pub async fn table_len(&self) -> Result<usize, Discv4Error> {
        self.query(Command::TableLen).await
    }

    /// Up to `n` table entries closest to `target`, closest first.
    pub async fn closest(
        &self,
        target: NodeId,
        n: usize,
    ) -> Result<Vec<NodeRecordV4>, Discv4Error> {
        self.query(|reply| Command::Closest { target, n, reply })
            .await
    }

    /// Refreshes the table: re-adds the bootnodes if it is empty, then looks
    /// up our own id (which fills the near buckets and makes us known to our
    /// neighbours) and three random ids.
    pub async fn refresh(&self) -> Result<(), Discv4Error> {
        if self.table_len().await? == 0 {
            self.add_nodes(self.config.bootnodes.clone()).await?;
        }
        self.lookup(self.local_id).await?;
        for _ in 0..3 {
            self.lookup(PeerId(rand::random())).await?;
        }
        Ok(())
    }

    /// Pings one table entry due for a liveness check, if any: an answer
    /// moves it to the front of its bucket, silence removes it (a
    /// replacement takes its place and is checked too).
    pub async fn revalidate_one(&self) -> Result<(), Discv4Error> {
        let random = rand::random();
        let Some(node) = self
            .query(|reply| Command::NodeToRevalidate { random, reply })
            .await?
        else {
            return Ok(());
        };
        let mut next = Some(node);
        // A dead entry's replacement is pinged right away; the chain ends at
        // the first live node or when the bucket runs out of replacements.
        while let Some(node) = next.take() {
            let ok = match self.ping(node.record).await {
                Ok(_) => true,
                Err(Discv4Error::Closed) => return Err(Discv4Error::Closed),
                Err(_) => false,
            };
            let id = node.id;
            let outcome = self
                .query(|reply| Command::Revalidated { id, ok, reply })
                .await?;
            trace!(target: "discv4", "revalidated {}: {outcome:?}", node.record.id);
            if let Revalidation::Removed { replacement } = outcome {
                next = replacement;
            }
        }
        Ok(())
    }

    /// Writes the table's verified nodes to the node database and expires
    /// old entries; does nothing without a database.
    pub async fn flush_to_db(&self) -> Result<(), Discv4Error> {
        let Some(db) = self.config.node_db.clone() else {
            return Ok(());
        };
        let observations = self.query(Command::Snapshot).await?;
        tokio::task::spawn_blocking(move || {
            db.store_observations(&observations)?;
            db.expire(SystemTime::now())?;
            Ok(())
        })
        .await
        .map_err(|e| Discv4Error::Io(std::io::Error::other(e)))?
    }

    async fn send(&self, cmd: Command) -> Result<(), Discv4Error> {
        self.commands
            .send(cmd)
            .await
            .map_err(|_| Discv4Error::Closed)
    }

    /// Sends a command carrying a plain reply channel and awaits the answer.
    async fn query<T>(
        &self,
        cmd: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, Discv4Error> {
        let (reply, rx) = oneshot::channel();
        self.send(cmd(reply)).await?;
        rx.await.map_err(|_| Discv4Error::Closed)
    }

    /// Sends a command whose reply may be an error and awaits it. The task
    /// always answers by the request's deadline; a dropped sender means it
    /// ended.
    async fn request<T>(&self, cmd: impl FnOnce(Reply<T>) -> Command) -> Result<T, Discv4Error> {
        self.query(cmd).await?
    }
}

/// The background upkeep of a service: the startup refresh, then periodic
/// refresh, revalidation and database flushes, each in its own loop so that
/// a slow lookup never delays a liveness check. Runs until the service stops.
async fn upkeep(handle: Discv4Handle) {
    let config = handle.config.clone();
    let refresh = async {
        loop {
            match handle.refresh().await {
                Err(Discv4Error::Closed) => return,
                Err(e) => debug!(target: "discv4", "refresh failed: {e}"),
                Ok(()) => {}
            }
            if config.refresh_interval.is_zero() {
                return;
            }
            tokio::time::sleep(config.refresh_interval).await;
        }
    };
    let revalidate = async {
        if config.revalidate_interval.is_zero() {
            return;
        }
        loop {
            tokio::time::sleep(jitter(config.revalidate_interval)).await;
            if let Err(Discv4Error::Closed) = handle.revalidate_one().await {
                return;
            }
        }
    };
    let flush = async {
        if config.node_db.is_none() || config.db_flush_interval.is_zero() {
            return;
        }
        loop {
            tokio::time::sleep(config.db_flush_interval).await;
            match handle.flush_to_db().await {
                Err(Discv4Error::Closed) => return,
                Err(e) => warn!(target: "discv4", "saving nodes failed: {e}"),
                Ok(()) => {}
            }
        }
    };
    tokio::join!(refresh, revalidate, flush);
}

/// A random duration between 0 and twice `mean` (so `mean` on average):
/// spreads checks out so that many nodes started together do not ping in
/// lockstep.
fn jitter(mean: Duration) -> Duration {
    mean.mul_f64(rand::random::<f64>() * 2.0)
}

/// The raw RLP of our record, which ENRResponse carries. The `enr` crate
/// exposes it as base64 text (the body of `enr:`), decoded here.
fn record_rlp(local: &LocalRecord) -> Result<Bytes, Discv4Error> {
    let text = local.record().to_base64();
    let body = text.strip_prefix("enr:").unwrap_or(&text);
    data_encoding::BASE64URL_NOPAD
        .decode(body.as_bytes())
        .map(Bytes::from)
        .map_err(|e| Discv4Error::Record(e.to_string()))
}

/// Most nodes whose bond state we keep. Any packet from a new key adds one,
/// so the map must be bounded: when full, expired bonds go first, then the
/// least recently active half.
pub const MAX_BONDS: usize = 10_000;
/// Most ping-backs (pings we send to nodes that pinged us) awaiting a Pong at
/// once; beyond it a new node is answered but not pinged back until some
/// expire (each lives at most `ping_timeout`).
pub const MAX_PING_BACKS: usize = 1_024;

/// What we know about a node's half of the bond.
#[derive(Debug, Default, Clone, Copy)]
struct Bond {
    /// When the node last pinged us.
    last_ping: Option<Instant>,
    /// When the node last answered our ping: its endpoint proof.
    last_pong: Option<Instant>,
    /// The IP that Pong came from: the proof holds for that address only,
    /// so a packet claiming the node's id from elsewhere is not answered
    /// (or the bond would make us an amplifier towards any address).
    pong_ip: Option<IpAddr>,
    /// When we last pinged it.
    last_ping_sent: Option<Instant>,
    /// FindNode requests to it that failed in a row.
    find_fails: u32,
}

/// A ping we sent and await the Pong for.
struct PendingPing {
    /// Who we pinged; the Pong must be signed by this key.
    node: NodeRecordV4,
    deadline: Instant,
    /// The callers of [`Discv4Handle::ping`] waiting for this Pong; empty
    /// for our own ping-backs.
    replies: Vec<Reply<PongInfo>>,
}

/// A FindNode we sent; Neighbors from the node's id and IP fill it.
struct PendingFind {
    ip: IpAddr,
    deadline: Instant,
    nodes: Vec<NodeRecordV4>,
    /// Whether any Neighbors packet arrived (then a timeout is a success with
    /// what came).
    answered: bool,
    reply: Reply<Vec<NodeRecordV4>>,
}

/// An ENRRequest we sent, keyed by its hash.
struct PendingEnr {
    deadline: Instant,
    /// Everyone waiting for this answer: a request repeated within the
    /// same second is the same packet, so one answer serves them all.
    replies: Vec<Reply<NodeRecord>>,
}

/// Everything the task owns.
struct State<S> {
    socket: S,
    key: NodeKey,
    local_endpoint: Endpoint,
    /// Our record's RLP, kept so that each ENRRequest is answered without
    /// encoding it again.
    record_rlp: Bytes,
    local_record: LocalRecord,
    /// Set when our external address is to be learned from Pongs.
    predictor: Option<EndpointPredictor>,
    table: Table,
    bonds: HashMap<NodeId, Bond>,
    /// Pings awaiting a Pong, by ping hash.
    pings: HashMap<[u8; 32], PendingPing>,
    /// FindNodes awaiting Neighbors, oldest first per node.
    finds: HashMap<NodeId, VecDeque<PendingFind>>,
    /// ENRRequests awaiting an ENRResponse, by request hash and node. The
    /// hash alone is not enough: a request carries only its expiry second
    /// and signatures are deterministic, so requests sent to several nodes
    /// in the same second are the same packet with the same hash.
    enr_requests: HashMap<([u8; 32], NodeId), PendingEnr>,
    /// Callers waiting for a node's next Ping.
    ping_waiters: HashMap<NodeId, Vec<(Instant, oneshot::Sender<bool>)>>,
    config: Arc<Discv4Config>,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn expiration() -> u64 {
    unix_now() + PACKET_EXPIRATION_SECS
}

/// The wall-clock time of a tokio instant, for the node database.
fn system_time(at: Instant) -> SystemTime {
    SystemTime::now()
        .checked_sub(Instant::now().saturating_duration_since(at))
        .unwrap_or(UNIX_EPOCH)
}

impl<S: DatagramSocket> State<S> {
    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        // One byte more than the limit, so that an oversized datagram shows up
        // as such (the kernel truncates it) instead of as a corrupt one.
        let mut buf = vec![0u8; MAX_PACKET_SIZE + 1];
        loop {
            let next_deadline = self.next_deadline();
            tokio::select! {
                received = self.socket.recv_from(&mut buf) => match received {
                    Ok((len, from)) => self.on_datagram(&buf[..len], from).await,
                    // ICMP errors from earlier sends (ECONNREFUSED on some
                    // systems) surface here; they do not break the socket.
                    Err(e) => debug!(target: "discv4", "recv error: {e}"),
                },
                cmd = commands.recv() => match cmd {
                    Some(Command::Shutdown) | None => break,
                    Some(cmd) => self.on_command(cmd).await,
                },
                () = sleep_until(next_deadline) => self.expire_requests(),
            }
        }
        // Pending callers learn we are gone when their senders drop here.
        for (_, p) in self.pings.drain() {
            for reply in p.replies {
                let _ = reply.send(Err(Discv4Error::Closed));
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let pings = self.pings.values().map(|p| p.deadline);
        let finds = self.finds.values().flatten().map(|p| p.deadline);
        let enrs = self.enr_requests.values().map(|p| p.deadline);
        let waits = self.ping_waiters.values().flatten().map(|(d, _)| *d);
        pings.chain(finds).chain(enrs).chain(waits).min()
    }

    async fn on_command(&mut self, cmd: Command) {
        let now = Instant::now();
        match cmd {
            Command::Ping { node, reply } => self.send_ping(node, Some(reply)).await,
            Command::FindNode {
                node,
                target,
                reply,
            } => self.send_find_node(node, target, reply).await,
            Command::RequestEnr { node, reply } => self.send_enr_request(node, reply).await,
            Command::AwaitPingFrom { id, reply } => {
                // The ping-back often arrives before this command does.
                if self.pinged_us_recently(&id) {
                    let _ = reply.send(true);
                    return;
                }
                let deadline = now + self.config.ping_timeout;
                self.ping_waiters
                    .entry(id)
                    .or_default()
                    .push((deadline, reply));
            }
            Command::PingedUsRecently { id, reply } => {
                let _ = reply.send(self.pinged_us_recently(&id));
            }
            Command::TrackFindNode { node, ok, found } => self.track_find_node(node, ok, found),
            Command::AddSeen(nodes) => {
                for node in nodes {
                    self.table.add_seen(node, now.into_std());
                }
            }
            Command::Remove { id, reply } => {
                let _ = reply.send(self.table.remove(&id).is_some());
            }
            Command::TableLen(reply) => {
                let _ = reply.send(self.table.len());
            }
            Command::Closest { target, n, reply } => {
                let nodes = self.table.closest(&target, n);
                let _ = reply.send(nodes.into_iter().map(|n| n.record).collect());
            }
            Command::NodeToRevalidate { random, reply } => {
                let _ = reply.send(self.table.node_to_revalidate(now.into_std(), random));
            }
            Command::Revalidated { id, ok, reply } => {
                let _ = reply.send(self.table.revalidated(&id, ok, now.into_std()));
            }
            Command::Snapshot(reply) => {
                let _ = reply.send(self.snapshot());
            }
            Command::LocalRecord(reply) => {
                let _ = reply.send(self.local_record.record().clone());
            }
            Command::SetForkId(fork_id, reply) => {
                let _ = reply.send(self.set_fork_id(fork_id));
            }
            Command::Shutdown => {}
        }
    }

    /// What the node database should keep: the table's entries that proved
    /// alive, with their times.
    fn snapshot(&self) -> Vec<Observation> {
        self.table
            .nodes()
            .filter_map(|n| {
                let bond = self.bonds.get(&n.id).copied().unwrap_or_default();
                let ip = n.record.endpoint.ip?;
                let last_pong = bond.last_pong.or(n.last_seen.map(Instant::from_std))?;
                Some(Observation {
                    enode: Enode::new(
                        n.record.id,
                        ip,
                        n.record.endpoint.tcp_port,
                        n.record.endpoint.udp_port,
                    ),
                    last_ping: bond.last_ping_sent.map(system_time),
                    last_pong: Some(system_time(last_pong)),
                    find_fails: bond.find_fails,
                })
            })
            .collect()
    }

    fn track_find_node(&mut self, node: NodeRecordV4, ok: bool, found: Vec<NodeRecordV4>) {
        let id = node.id.node_id();
        let now = Instant::now();
        let bond = self.bond_mut(id, now);
        if ok {
            bond.find_fails = 0;
        } else {
            bond.find_fails += 1;
            // The node may have lost our endpoint proof (or never got it):
            // make the next request bond again.
            bond.last_ping = None;
            if bond.find_fails >= MAX_FIND_NODE_FAILURES && self.table.remove(&id).is_some() {
                debug!(target: "discv4", "removed {} after repeated FindNode failures", node.id);
            }
        }
        for n in found {
            self.table.add_seen(n, now.into_std());
        }
    }

    fn expire_requests(&mut self) {
        let now = Instant::now();
        self.pings.retain(|_, p| {
            if p.deadline > now {
                return true;
            }
            trace!(target: "discv4", "ping to {} timed out", p.node.id);
            for reply in p.replies.drain(..) {
                let _ = reply.send(Err(Discv4Error::Timeout));
            }
            false
        });
        self.finds.retain(|_, queue| {
            while queue.front().is_some_and(|p| p.deadline <= now) {
                let p = queue.pop_front().expect("checked");
                let result = if p.answered {
                    Ok(p.nodes)
                } else {
                    Err(Discv4Error::Timeout)
                };
                let _ = p.reply.send(result);
            }
            !queue.is_empty()
        });
        self.enr_requests.retain(|_, p| {
            if p.deadline > now {
                return true;
            }
            for reply in p.replies.drain(..) {
                let _ = reply.send(Err(Discv4Error::Timeout));
            }
            false
        });
        self.ping_waiters.retain(|_, waiters| {
            let (expired, waiting): (Vec<_>, Vec<_>) =
                waiters.drain(..).partition(|(d, _)| *d <= now);
            for (_, reply) in expired {
                let _ = reply.send(false);
            }
            *waiters = waiting;
            !waiters.is_empty()
        });
    }

    /// Sends a Ping to `node` and registers it as pending; the Pong or the
    /// timeout answers `reply`. On failure `reply` gets the error at once.
    /// A ping to a node that already has one on the way is not sent again:
    /// the caller waits for the same Pong. (Two pings with equal contents
    /// within one second would even have the same hash, signatures being
    /// deterministic.)
    async fn send_ping(&mut self, node: NodeRecordV4, reply: Option<Reply<PongInfo>>) {
        if let Some(pending) = self
            .pings
            .values_mut()
            .find(|p| p.node.id == node.id && p.node.endpoint == node.endpoint)
        {
            pending.replies.extend(reply);
            return;
        }
        let result = match udp_addr(&node.endpoint) {
            Some(addr) => {
                let ping = Packet::Ping(Ping {
                    version: PING_VERSION,
                    from: self.local_endpoint,
                    to: node.endpoint,
                    expiration: expiration(),
                    enr_seq: Some(self.local_record.seq()),
                });
                self.send_to(&ping, addr).await
            }
            None => Err(no_address()),
        };
        match result {
            Ok(hash) => {
                let now = Instant::now();
                self.bond_mut(node.id.node_id(), now).last_ping_sent = Some(now);
                self.pings.insert(
                    hash,
                    PendingPing {
                        node,
                        deadline: now + self.config.ping_timeout,
                        replies: reply.into_iter().collect(),
                    },
                );
            }
            Err(e) => {
                debug!(target: "discv4", "ping to {} failed: {e}", node.id);
                if let Some(reply) = reply {
                    let _ = reply.send(Err(e));
                }
            }
        }
    }

    async fn send_find_node(
        &mut self,
        node: NodeRecordV4,
        target: PeerId,
        reply: Reply<Vec<NodeRecordV4>>,
    ) {
        let Some(addr) = udp_addr(&node.endpoint) else {
            let _ = reply.send(Err(no_address()));
            return;
        };
        let packet = Packet::FindNode(FindNode {
            target,
            expiration: expiration(),
        });
        if let Err(e) = self.send_to(&packet, addr).await {
            let _ = reply.send(Err(e));
            return;
        }
        self.finds
            .entry(node.id.node_id())
            .or_default()
            .push_back(PendingFind {
                ip: addr.ip(),
                deadline: Instant::now() + self.config.request_timeout,
                nodes: Vec::new(),
                answered: false,
                reply,
            });
    }

    async fn send_enr_request(&mut self, node: NodeRecordV4, reply: Reply<NodeRecord>) {
        let Some(addr) = udp_addr(&node.endpoint) else {
            let _ = reply.send(Err(no_address()));
            return;
        };
        let packet = Packet::EnrRequest(EnrRequest {
            expiration: expiration(),
        });
        match self.send_to(&packet, addr).await {
            Ok(hash) => {
                let deadline = Instant::now() + self.config.request_timeout;
                let pending = self
                    .enr_requests
                    .entry((hash, node.id.node_id()))
                    .or_insert_with(|| PendingEnr {
                        deadline,
                        replies: Vec::new(),
                    });
                pending.deadline = deadline;
                pending.replies.push(reply);
            }
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        }
    }

    async fn send_to(&self, packet: &Packet, addr: SocketAddr) -> Result<[u8; 32], Discv4Error> {
        let (datagram, hash) = wire::encode(&self.key, packet)?;
        self.socket.send_to(&datagram, addr).await?;
        trace!(target: "discv4", "sent {} to {addr}", packet.name());
        Ok(hash)
    }

    /// The bond entry of `id`, making room for it if the map is full.
    fn bond_mut(&mut self, id: NodeId, now: Instant) -> &mut Bond {
        if !self.bonds.contains_key(&id) && self.bonds.len() >= MAX_BONDS {
            let expiration = self.config.bond_expiration;
            let latest = |b: &Bond| b.last_ping.max(b.last_pong).max(b.last_ping_sent);
            self.bonds
                .retain(|_, b| latest(b).is_some_and(|t| now.duration_since(t) < expiration));
            if self.bonds.len() >= MAX_BONDS {
                let mut by_age: Vec<_> =
                    self.bonds.iter().map(|(id, b)| (latest(b), *id)).collect();
                by_age.sort_unstable_by_key(|(t, _)| *t);
                for (_, old) in by_age.into_iter().take(MAX_BONDS / 2) {
                    self.bonds.remove(&old);
                }
            }
        }
        self.bonds.entry(id).or_default()
    }

    /// Whether `id` answered one of our pings from `ip` within the bond
    /// expiration.
    fn has_endpoint_proof(&self, id: &NodeId, ip: IpAddr) -> bool {
        self.bonds.get(id).is_some_and(|b| {
            b.pong_ip == Some(ip)
                && b.last_pong
                    .is_some_and(|t| t.elapsed() < self.config.bond_expiration)
        })
    }

    /// Whether `id` pinged us within the bond expiration: then it has had
    /// our Pong, and (as go-ethereum assumes) holds our endpoint proof.
    fn pinged_us_recently(&self, id: &NodeId) -> bool {
        self.bonds
            .get(id)
            .and_then(|b| b.last_ping)
            .is_some_and(|t| t.elapsed() < self.config.bond_expiration)
    }

    async fn on_datagram(&mut self, datagram: &[u8], from: SocketAddr) {
        let decoded = match wire::decode(datagram) {
            Ok(d) => d,
            Err(e) => {
                debug!(target: "discv4", "dropping bad packet from {from}: {e}");
                return;
            }
        };
        let packet = decoded.packet;
        if let Some(exp) = packet.expiration() {
            if wire::is_expired(exp, unix_now()) {
                debug!(target: "discv4", "dropping expired {} from {from}", packet.name());
                return;
            }
        }
        trace!(target: "discv4", "received {} from {from}", packet.name());
        let sender = decoded.sender;
        match packet {
            Packet::Ping(ping) => self.on_ping(ping, sender, decoded.hash, from).await,
            Packet::Pong(pong) => self.on_pong(pong, sender, from),
            Packet::FindNode(find) => {
                if !self.has_endpoint_proof(&sender.node_id(), from.ip()) {
                    // Answering would send up to 1280-byte replies to an
                    // address nobody proved to own.
                    debug!(target: "discv4", "ignoring FindNode from unbonded {from}");
                    return;
                }
                let nodes: Vec<NodeRecordV4> = self
                    .table
                    .closest(&find.target.node_id(), BUCKET_SIZE)
                    .into_iter()
                    .map(|n| n.record)
                    .collect();
                for chunk in wire::neighbors_chunks(&nodes, expiration()) {
                    if let Err(e) = self.send_to(&chunk, from).await {
                        debug!(target: "discv4", "sending Neighbors to {from} failed: {e}");
                    }
                }
            }
            Packet::EnrRequest(_) => {
                if !self.has_endpoint_proof(&sender.node_id(), from.ip()) {
                    debug!(target: "discv4", "ignoring ENRRequest from unbonded {from}");
                    return;
                }
                let response = Packet::EnrResponse(EnrResponse {
                    request_hash: decoded.hash,
                    record: self.record_rlp.clone(),
                });
                if let Err(e) = self.send_to(&response, from).await {
                    debug!(target: "discv4", "sending ENRResponse to {from} failed: {e}");
                }
            }
            Packet::Neighbors(neighbors) => self.on_neighbors(neighbors.nodes, sender, from),
            Packet::EnrResponse(response) => self.on_enr_response(response, sender, from),
        }
    }

    fn on_neighbors(&mut self, nodes: Vec<NodeRecordV4>, sender: PeerId, from: SocketAddr) {
        let id = sender.node_id();
        let Some(queue) = self.finds.get_mut(&id) else {
            debug!(target: "discv4", "dropping unsolicited Neighbors from {from}");
            return;
        };
        let Some(pos) = queue.iter().position(|p| p.ip == from.ip()) else {
            debug!(target: "discv4", "dropping Neighbors from {from}: FindNode went elsewhere");
            return;
        };
        let last_packet = nodes.len() < MAX_NEIGHBORS;
        let pending = &mut queue[pos];
        pending.answered = true;
        let local = self.table.self_id();
        for node in nodes {
            if pending.nodes.len() >= BUCKET_SIZE {
                break;
            }
            let usable = match node.endpoint.ip {
                None => false,
                Some(ip) => {
                    let relay = check_relay_ip(from.ip(), ip);
                    if let Err(e) = relay {
                        trace!(target: "discv4", "skipping relayed node {ip} from {from}: {e}");
                    }
                    relay.is_ok() && node.endpoint.udp_port >= MIN_RELAYED_PORT
                }
            };
            if usable && node.id.node_id() != *local && !pending.nodes.contains(&node) {
                pending.nodes.push(node);
            }
        }
        // A full answer has BUCKET_SIZE nodes; one whose last packet is not
        // full cannot have more coming (senders fill packets in order), so it
        // need not wait for the timeout either.
        if pending.nodes.len() >= BUCKET_SIZE || last_packet {
            let done = queue.remove(pos).expect("position found");
            if queue.is_empty() {
                self.finds.remove(&id);
            }
            let _ = done.reply.send(Ok(done.nodes));
        }
    }

    fn on_enr_response(&mut self, response: EnrResponse, sender: PeerId, from: SocketAddr) {
        let Some(pending) = self
            .enr_requests
            .remove(&(response.request_hash, sender.node_id()))
        else {
            debug!(target: "discv4", "dropping unsolicited ENRResponse from {from}");
            return;
        };
        let result = record::from_rlp(&response.record).and_then(|record| {
            if record::peer_id(&record) == sender {
                Ok(record)
            } else {
                Err("signed by another key than the sender's".to_string())
            }
        });
        for reply in pending.replies {
            let _ = reply.send(result.clone().map_err(Discv4Error::InvalidRecord));
        }
    }

    async fn on_ping(&mut self, ping: Ping, sender: PeerId, hash: [u8; 32], from: SocketAddr) {
        // The Pong goes to where the datagram came from, not to the claimed
        // `from` endpoint, which may be wrong behind NAT (or a lie).
        let pong = Packet::Pong(Pong {
            to: Endpoint::new(from.ip(), from.port(), ping.from.tcp_port),
            ping_hash: hash,
            expiration: expiration(),
            enr_seq: Some(self.local_record.seq()),
        });
        if let Err(e) = self.send_to(&pong, from).await {
            debug!(target: "discv4", "sending Pong to {from} failed: {e}");
            return;
        }
        let id = sender.node_id();
        let now = Instant::now();
        self.bond_mut(id, now).last_ping = Some(now);
        // Our Pong is sent: whoever waits for this node's ping-back may now
        // send it requests.
        if let Some(waiters) = self.ping_waiters.remove(&id) {
            for (_, reply) in waiters {
                let _ = reply.send(true);
            }
        }
        let node = NodeRecordV4 {
            endpoint: Endpoint::new(from.ip(), from.port(), ping.from.tcp_port),
            id: sender,
        };
        if self.has_endpoint_proof(&id, from.ip()) {
            self.table.add_verified(node, now.into_std());
        } else if self.pings.len() < MAX_PING_BACKS
            && !self.pings.values().any(|p| p.node.id == sender)
        {
            // Let the node prove its endpoint; its Pong bonds it. Skipped if
            // a ping to it is already on the way.
            self.send_ping(node, None).await;
        }
    }

    fn on_pong(&mut self, pong: Pong, sender: PeerId, from: SocketAddr) {
        let matches = self
            .pings
            .get(&pong.ping_hash)
            .is_some_and(|p| p.node.id == sender);
        if !matches {
            debug!(target: "discv4", "dropping unsolicited Pong from {from}");
            return;
        }
        let Some(pending) = self.pings.remove(&pong.ping_hash) else {
            return;
        };
        let now = Instant::now();
        if pending.deadline < now {
            // The timer has not fired yet, but the answer is late all the same.
            for reply in pending.replies {
                let _ = reply.send(Err(Discv4Error::Timeout));
            }
            return;
        }
        let bond = self.bond_mut(sender.node_id(), now);
        bond.last_pong = Some(now);
        bond.pong_ip = Some(from.ip());
        let node = NodeRecordV4 {
            endpoint: Endpoint::new(from.ip(), from.port(), pending.node.endpoint.tcp_port),
            id: sender,
        };
        let outcome = self.table.add_verified(node, now.into_std());
        trace!(target: "discv4", "bonded with {from}: {outcome:?}");
        if let Some(ip) = pong.to.ip {
            self.learn_endpoint(sender, SocketAddr::new(ip, pong.to.udp_port), now);
        }
        let info = PongInfo {
            id: sender,
            addr: from,
            to: pong.to,
            enr_seq: pong.enr_seq,
        };
        for reply in pending.replies {
            let _ = reply.send(Ok(info.clone()));
        }
    }
}

impl<S> State<S> {
    /// Takes `reporter`'s statement that it saw us at `seen`; if the
    /// prediction it leads to differs from what we advertise, advertises it:
    /// Pings carry it from now on and the record is re-signed with the next
    /// sequence number (stored, so that it keeps rising across restarts).
    fn learn_endpoint(&mut self, reporter: PeerId, seen: SocketAddr, now: Instant) {
        let Some(predictor) = self.predictor.as_mut() else {
            return;
        };
        predictor.add_statement(reporter.node_id(), seen, now.into_std());
        let Some(predicted) = predictor.predict(now.into_std()) else {
            return;
        };
        let current = self
            .local_endpoint
            .ip
            .map(|ip| SocketAddr::new(ip, self.local_endpoint.udp_port));
        if current == Some(predicted) || predicted.ip().is_unspecified() {
            return;
        }
        let tcp = self.config.tcp_port;
        let endpoint = record::Endpoint {
            ip: Some(predicted.ip()),
            tcp: (tcp != 0).then_some(tcp),
            udp: Some(predicted.port()),
            quic: self.config.quic_port,
        };
        match self.local_record.set_endpoint(endpoint) {
            Ok(_) => {}
            Err(e) => {
                warn!(target: "discv4", "cannot advertise {predicted}: {e}");
                return;
            }
        }
        if self.record_changed().is_err() {
            return;
        }
        self.local_endpoint = Endpoint::new(predicted.ip(), predicted.port(), tcp);
        let seq = self.local_record.seq();
        tracing::info!(target: "discv4", addr = %predicted, seq, "external address learned from peers");
    }

    /// Advertises `fork_id` in the record's `eth` entry.
    fn set_fork_id(&mut self, fork_id: record::ForkId) -> Result<bool, String> {
        if !self
            .local_record
            .set_fork_id(fork_id)
            .map_err(|e| e.to_string())?
        {
            return Ok(false);
        }
        self.record_changed().map_err(|e| e.to_string())?;
        debug!(target: "discv4", seq = self.local_record.seq(), ?fork_id, "record advertises a new fork id");
        Ok(true)
    }

    /// After the local record changed: the encoding ENRRequests are answered
    /// with, and the sequence number stored so that it keeps rising across
    /// restarts.
    fn record_changed(&mut self) -> Result<(), Discv4Error> {
        self.record_rlp = record_rlp(&self.local_record)?;
        let seq = self.local_record.seq();
        if let Some(db) = self.config.node_db.clone() {
            tokio::task::spawn_blocking(move || {
                if let Err(e) = db.set_local_seq(seq) {
                    warn!(target: "discv4", "storing the record sequence number failed: {e}");
                }
            });
        }
        Ok(())
    }
}

fn no_address() -> Discv4Error {
    Discv4Error::Io(std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        "endpoint has no usable address",
    ))
}

/// The UDP address of an endpoint, if it has a usable one.
fn udp_addr(endpoint: &Endpoint) -> Option<SocketAddr> {
    let ip = endpoint.ip.filter(|ip| !ip.is_unspecified())?;
    Some(SocketAddr::new(ip, endpoint.udp_port))
}

/// Sleeps until `deadline`, or forever if there is none.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
