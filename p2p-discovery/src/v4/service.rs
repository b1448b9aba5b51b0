//! The discovery v4 UDP endpoint: answers Ping, FindNode and ENRRequest and
//! bonds with other nodes (the "endpoint proof" of `discv4.md`).
//!
//! One task owns the socket, the routing [`Table`] and the bond state; the
//! [`Discv4`] handle talks to it over an mpsc channel with oneshot replies, so
//! nothing is shared and nothing needs a lock.
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
//!   source addresses would make us a traffic amplifier.
//!
//! Lookups, revalidation and the node database are not part of this module
//! yet; unsolicited Neighbors and ENRResponse packets are dropped.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use p2p_core::record::{self, LocalRecord};
use p2p_core::{NodeId, NodeKey, PeerId};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, trace};

use super::table::{Table, BUCKET_SIZE};
use super::wire::{
    self, Endpoint, EnrResponse, NodeRecordV4, Packet, Ping, Pong, MAX_PACKET_SIZE, PING_VERSION,
};

/// How long sent packets stay valid, in seconds (go-ethereum's `expiration`).
const PACKET_EXPIRATION_SECS: u64 = 20;

/// Settings of a [`Discv4`] endpoint.
#[derive(Debug, Clone)]
pub struct Discv4Config {
    /// How long to wait for the Pong answering one of our pings.
    /// go-ethereum's `respTimeout` is 500 ms.
    pub ping_timeout: Duration,
    /// How long a Pong from a node counts as its endpoint proof.
    /// go-ethereum's `bondExpiration` is 24 h in the code, 12 h in
    /// `discv4.md`; the shorter one is the safe choice.
    pub bond_expiration: Duration,
    /// The TCP (RLPx) port we advertise in Pings and in our record;
    /// 0 if we do not accept connections.
    pub tcp_port: u16,
    /// The sequence number our node record starts at (keep the last one
    /// across restarts so that it keeps rising).
    pub enr_seq: u64,
}

impl Default for Discv4Config {
    fn default() -> Self {
        Discv4Config {
            ping_timeout: Duration::from_millis(500),
            bond_expiration: Duration::from_secs(12 * 60 * 60),
            tcp_port: 0,
            enr_seq: 1,
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

type PingReply = oneshot::Sender<Result<PongInfo, Discv4Error>>;

/// Requests from the handle to the task.
enum Command {
    Ping {
        node: NodeRecordV4,
        reply: PingReply,
    },
    TableLen(oneshot::Sender<usize>),
    Closest {
        target: NodeId,
        n: usize,
        reply: oneshot::Sender<Vec<NodeRecordV4>>,
    },
    Shutdown,
}

/// A running discovery v4 endpoint. Dropping the handle also stops the task
/// (its command channel closes); [`Discv4::shutdown`] additionally waits
/// for it to finish.
pub struct Discv4 {
    commands: mpsc::Sender<Command>,
    local_addr: SocketAddr,
    local_id: PeerId,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for Discv4 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Discv4")
            .field("local_addr", &self.local_addr)
            .field("local_id", &self.local_id)
            .finish_non_exhaustive()
    }
}

impl Discv4 {
    /// Binds a UDP socket at `addr` and starts the endpoint task. Must be
    /// called inside a tokio runtime.
    pub async fn bind(
        key: NodeKey,
        addr: SocketAddr,
        config: Discv4Config,
    ) -> Result<Discv4, Discv4Error> {
        let socket = UdpSocket::bind(addr).await?;
        let local_addr = socket.local_addr()?;
        let local_id = key.id();
        let advertised = record::Endpoint {
            ip: Some(local_addr.ip()),
            tcp: (config.tcp_port != 0).then_some(config.tcp_port),
            udp: Some(local_addr.port()),
        };
        let local_record = LocalRecord::new(key.clone(), advertised, config.enr_seq)
            .map_err(|e| Discv4Error::Record(e.to_string()))?;
        let record_rlp = record_rlp(&local_record)?;
        let (commands, rx) = mpsc::channel(64);
        let state = State {
            socket,
            key,
            local_endpoint: Endpoint::new(local_addr.ip(), local_addr.port(), config.tcp_port),
            enr_seq: local_record.seq(),
            record_rlp,
            table: Table::new(local_id.node_id()),
            bonds: HashMap::new(),
            pending: HashMap::new(),
            config,
        };
        let task = tokio::spawn(state.run(rx));
        Ok(Discv4 {
            commands,
            local_addr,
            local_id,
            task,
        })
    }

    /// The address the socket is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Our public key.
    pub fn local_id(&self) -> PeerId {
        self.local_id
    }

    /// Our UDP endpoint as a node record (for tests and bootnode lists).
    pub fn local_node(&self) -> NodeRecordV4 {
        NodeRecordV4 {
            endpoint: Endpoint::new(self.local_addr.ip(), self.local_addr.port(), 0),
            id: self.local_id,
        }
    }

    /// Pings `node` and waits for its Pong, at most the configured ping
    /// timeout. A Pong bonds the node: it gets an endpoint proof and is
    /// added to the table as verified.
    pub async fn ping(&self, node: NodeRecordV4) -> Result<PongInfo, Discv4Error> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Ping { node, reply }).await?;
        // The task always answers by the deadline; a dropped sender means it
        // ended.
        rx.await.map_err(|_| Discv4Error::Closed)?
    }

    /// Establishes a bond with `node`: pings it and waits for the Pong.
    /// The node then answers our FindNode once it has our Pong to its
    /// ping-back, which happens concurrently.
    pub async fn bond(&self, node: NodeRecordV4) -> Result<(), Discv4Error> {
        self.ping(node).await.map(|_| ())
    }

    /// The number of live entries in the routing table.
    pub async fn table_len(&self) -> Result<usize, Discv4Error> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::TableLen(reply)).await?;
        rx.await.map_err(|_| Discv4Error::Closed)
    }

    /// Up to `n` table entries closest to `target`, closest first.
    pub async fn closest(
        &self,
        target: NodeId,
        n: usize,
    ) -> Result<Vec<NodeRecordV4>, Discv4Error> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Closest { target, n, reply }).await?;
        rx.await.map_err(|_| Discv4Error::Closed)
    }

    /// Stops the task and waits until it has ended (the socket is closed
    /// and pending pings fail with [`Discv4Error::Closed`]).
    pub async fn shutdown(self) {
        // If the task is already gone the send fails; awaiting it is still
        // right.
        let _ = self.commands.send(Command::Shutdown).await;
        if let Err(e) = self.task.await {
            debug!(target: "discv4", "service task ended abnormally: {e}");
        }
    }

    async fn send(&self, cmd: Command) -> Result<(), Discv4Error> {
        self.commands
            .send(cmd)
            .await
            .map_err(|_| Discv4Error::Closed)
    }
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
}

/// A ping we sent and await the Pong for.
struct PendingPing {
    /// Who we pinged; the Pong must be signed by this key.
    node: NodeRecordV4,
    deadline: Instant,
    /// The caller of [`Discv4::ping`]; `None` for our own ping-backs.
    reply: Option<PingReply>,
}

/// Everything the task owns.
struct State {
    socket: UdpSocket,
    key: NodeKey,
    local_endpoint: Endpoint,
    enr_seq: u64,
    record_rlp: Bytes,
    table: Table,
    bonds: HashMap<NodeId, Bond>,
    /// Pings awaiting a Pong, by ping hash.
    pending: HashMap<[u8; 32], PendingPing>,
    config: Discv4Config,
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

impl State {
    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        // One byte more than the limit, so that an oversized datagram shows up
        // as such (the kernel truncates it) instead of as a corrupt one.
        let mut buf = vec![0u8; MAX_PACKET_SIZE + 1];
        loop {
            let next_deadline = self.pending.values().map(|p| p.deadline).min();
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
                () = sleep_until(next_deadline) => self.expire_pings(),
            }
        }
        // Pending callers learn we are gone when their senders drop here.
        for (_, p) in self.pending.drain() {
            if let Some(reply) = p.reply {
                let _ = reply.send(Err(Discv4Error::Closed));
            }
        }
    }

    async fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Ping { node, reply } => self.send_ping(node, Some(reply)).await,
            Command::TableLen(reply) => {
                let _ = reply.send(self.table.len());
            }
            Command::Closest { target, n, reply } => {
                let nodes = self.table.closest(&target, n);
                let _ = reply.send(nodes.into_iter().map(|n| n.record).collect());
            }
            Command::Shutdown => {}
        }
    }

    fn expire_pings(&mut self) {
        let now = Instant::now();
        self.pending.retain(|_, p| {
            if p.deadline > now {
                return true;
            }
            trace!(target: "discv4", "ping to {} timed out", p.node.id);
            if let Some(reply) = p.reply.take() {
                let _ = reply.send(Err(Discv4Error::Timeout));
            }
            false
        });
    }

    /// Sends a Ping to `node` and registers it as pending; the Pong or the
    /// timeout answers `reply`. On failure `reply` gets the error at once.
    async fn send_ping(&mut self, node: NodeRecordV4, reply: Option<PingReply>) {
        let result = match udp_addr(&node.endpoint) {
            Some(addr) => {
                let ping = Packet::Ping(Ping {
                    version: PING_VERSION,
                    from: self.local_endpoint,
                    to: node.endpoint,
                    expiration: expiration(),
                    enr_seq: Some(self.enr_seq),
                });
                self.send_to(&ping, addr).await
            }
            None => Err(Discv4Error::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "endpoint has no usable address",
            ))),
        };
        match result {
            Ok(hash) => {
                let deadline = Instant::now() + self.config.ping_timeout;
                self.pending.insert(
                    hash,
                    PendingPing {
                        node,
                        deadline,
                        reply,
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
            let latest = |b: &Bond| b.last_ping.max(b.last_pong);
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

    /// Whether `id` answered one of our pings within the bond expiration.
    fn has_endpoint_proof(&self, id: &NodeId) -> bool {
        self.bonds
            .get(id)
            .and_then(|b| b.last_pong)
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
                if !self.has_endpoint_proof(&sender.node_id()) {
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
                if !self.has_endpoint_proof(&sender.node_id()) {
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
            // No lookups or ENR requests of our own yet: any such answer is
            // unsolicited.
            Packet::Neighbors(_) | Packet::EnrResponse(_) => {
                debug!(target: "discv4", "dropping unsolicited packet from {from}");
            }
        }
    }

    async fn on_ping(&mut self, ping: Ping, sender: PeerId, hash: [u8; 32], from: SocketAddr) {
        // The Pong goes to where the datagram came from, not to the claimed
        // `from` endpoint, which may be wrong behind NAT (or a lie).
        let pong = Packet::Pong(Pong {
            to: Endpoint::new(from.ip(), from.port(), ping.from.tcp_port),
            ping_hash: hash,
            expiration: expiration(),
            enr_seq: Some(self.enr_seq),
        });
        if let Err(e) = self.send_to(&pong, from).await {
            debug!(target: "discv4", "sending Pong to {from} failed: {e}");
            return;
        }
        let id = sender.node_id();
        let now = Instant::now();
        self.bond_mut(id, now).last_ping = Some(now);
        let node = NodeRecordV4 {
            endpoint: Endpoint::new(from.ip(), from.port(), ping.from.tcp_port),
            id: sender,
        };
        if self.has_endpoint_proof(&id) {
            self.table.add_verified(node, now.into_std());
        } else if self.pending.len() < MAX_PING_BACKS
            && !self.pending.values().any(|p| p.node.id == sender)
        {
            // Let the node prove its endpoint; its Pong bonds it. Skipped if
            // a ping to it is already on the way.
            self.send_ping(node, None).await;
        }
    }

    fn on_pong(&mut self, pong: Pong, sender: PeerId, from: SocketAddr) {
        let matches = self
            .pending
            .get(&pong.ping_hash)
            .is_some_and(|p| p.node.id == sender);
        if !matches {
            debug!(target: "discv4", "dropping unsolicited Pong from {from}");
            return;
        }
        let Some(pending) = self.pending.remove(&pong.ping_hash) else {
            return;
        };
        let now = Instant::now();
        if pending.deadline < now {
            // The timer has not fired yet, but the answer is late all the same.
            if let Some(reply) = pending.reply {
                let _ = reply.send(Err(Discv4Error::Timeout));
            }
            return;
        }
        self.bond_mut(sender.node_id(), now).last_pong = Some(now);
        let node = NodeRecordV4 {
            endpoint: Endpoint::new(from.ip(), from.port(), pending.node.endpoint.tcp_port),
            id: sender,
        };
        let outcome = self.table.add_verified(node, now.into_std());
        trace!(target: "discv4", "bonded with {from}: {outcome:?}");
        if let Some(reply) = pending.reply {
            let _ = reply.send(Ok(PongInfo {
                id: sender,
                addr: from,
                to: pong.to,
                enr_seq: pong.enr_seq,
            }));
        }
    }
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
