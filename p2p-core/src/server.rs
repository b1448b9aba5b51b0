//! The server: what go-ethereum's `p2p.Server` does, as one supervisor task
//! that owns all peer state and talks to everything else through channels.
//!
//! ```text
//!  listener ──accepted──▶ ┌────────────┐ ◀──commands── Server handle
//!  dial tasks ◀──dial──── │ supervisor │ ──events───▶ subscribers
//!  connection tasks ──checkpoint / ended──▶ └────────────┘
//! ```
//!
//! A connection task runs the setup pipeline (the injected transport stack,
//! then the Hello exchange), asks the supervisor at the checkpoint whether the
//! peer may join, and then runs the session. No lock guards peer state: only
//! the supervisor touches it.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use futures::future::BoxFuture;
use futures::StreamExt;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinSet;
use tower::limit::ConcurrencyLimitLayer;
use tower::{Service, ServiceExt};
use tracing::{debug, info, Instrument};

use crate::base::{Capability, DisconnectReason, Hello, BASE_PROTOCOL_VERSION};
use crate::candidates::{FairMix, FairMixAdder};
use crate::capability::match_capabilities;
use crate::config::{Config, ConfigError};
use crate::dial::{DialConfig, DialScheduler};
use crate::enode::Enode;
use crate::identity::PeerId;
use crate::layers::filter::{NetRestrict, PeerFilterConfig, PeerFilterLayer};
use crate::layers::throttle::InboundThrottleLayer;
use crate::network::{NetListener, Network, TcpNetwork};
use crate::peer::{PeerEvent, PeerInfo};
use crate::protocol::Protocol;
use crate::session::{Established, SessionConfig, SessionEnd, SessionService};
use crate::transport::{exchange_hello, Authenticated, Connecting, Direction, MsgConn};

/// Commands queued to the supervisor before senders wait.
const COMMAND_QUEUE: usize = 256;
/// Events buffered per subscriber; a subscriber that falls further behind
/// misses events (and is told so by the broadcast channel).
const EVENT_BUFFER: usize = 1024;

/// Errors starting a server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The configuration is unusable (for example, no private key).
    #[error("config: {0}")]
    Config(#[from] ConfigError),
    /// The listening socket could not be opened.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// What the local node looks like to others.
#[derive(Clone, Debug)]
pub struct NodeInfo {
    /// Our identity.
    pub id: PeerId,
    /// Our client id.
    pub client_id: String,
    /// The address we listen on, if any.
    pub listen_addr: Option<SocketAddr>,
    /// The capabilities we offer.
    pub capabilities: Vec<Capability>,
    /// Our `enode://` URL (127.0.0.1 when listening on all interfaces).
    pub enode: Option<Enode>,
}

enum Command {
    /// A connection task to run (an accepted connection), owned by the
    /// supervisor so that stop waits for it.
    Spawn(BoxFuture<'static, ()>),
    Checkpoint(
        Box<PeerInfo>,
        oneshot::Sender<Result<Admission, DisconnectReason>>,
    ),
    Ended(PeerId, u64, SessionEnd),
    DialDone(PeerId, bool),
    AddPeer(Enode),
    RemovePeer(PeerId),
    AddTrusted(PeerId),
    RemoveTrusted(PeerId),
    Peers(oneshot::Sender<Vec<Arc<PeerInfo>>>),
    Stop(oneshot::Sender<()>),
}

/// What the supervisor gives an admitted peer: its info (with the trusted
/// flag set) and the switch that ends its session.
struct Admission {
    info: Arc<PeerInfo>,
    stop: oneshot::Receiver<DisconnectReason>,
    /// Tells this session's end from that of an earlier session with the
    /// same peer that it replaced.
    serial: u64,
}

/// A handle on a running server; cheap to clone.
#[derive(Clone)]
pub struct Server {
    commands: mpsc::Sender<Command>,
    candidate_sources: FairMixAdder<Enode>,
    events: broadcast::Sender<PeerEvent>,
    node_info: Arc<NodeInfo>,
}

/// The setup pipeline a server runs for each connection over `Io`: the
/// transport stack (filters, throttles, the encryption stage) as one tower
/// service.
pub trait Transport<Io, C>:
    Service<
        Connecting<Io>,
        Response = Authenticated<C>,
        Future: Send,
        Error: std::fmt::Display + Send,
    > + Clone
    + Send
    + 'static
{
}

/// The session stack a server runs for each admitted peer:
/// [`SessionService`] and whatever layers wrap it.
pub trait Session<C>:
    Service<Established<C>, Response = SessionEnd, Future: Send, Error: std::fmt::Display + Send>
    + Clone
    + Send
    + 'static
{
}

impl<S, C> Session<C> for S where
    S: Service<
            Established<C>,
            Response = SessionEnd,
            Future: Send,
            Error: std::fmt::Display + Send,
        > + Clone
        + Send
        + 'static
{
}

impl<T, Io, C> Transport<Io, C> for T where
    T: Service<
            Connecting<Io>,
            Response = Authenticated<C>,
            Future: Send,
            Error: std::fmt::Display + Send,
        > + Clone
        + Send
        + 'static
{
}

impl Server {
    /// Starts a server with `config`, offering `protocols`, setting up each
    /// connection through `transport` (for RLPx: `p2p_rlpx::RlpxTransport`,
    /// wrapped in whatever layers you like).
    ///
    /// Around `transport` the server always puts the peer filter (the
    /// config's netrestrict and subnet limits), the inbound throttle (the
    /// config's) and a concurrency limit of `max_pending_peers` handshakes.
    ///
    /// Fails when the config has no private key or the listen address cannot
    /// be bound.
    pub async fn start<T, C>(
        config: Config,
        protocols: Vec<Arc<dyn Protocol>>,
        transport: T,
    ) -> Result<Server, ServerError>
    where
        T: Transport<tokio::net::TcpStream, C>,
        C: MsgConn + 'static,
    {
        Self::start_on(TcpNetwork, config, protocols, transport).await
    }

    /// Starts a server that listens and dials through `network` instead of
    /// TCP: a [`MemNetwork`](crate::network::MemNetwork) runs many servers in
    /// one process.
    pub async fn start_on<N, T, C>(
        network: N,
        config: Config,
        protocols: Vec<Arc<dyn Protocol>>,
        transport: T,
    ) -> Result<Server, ServerError>
    where
        N: Network,
        T: Transport<N::Io, C>,
        C: MsgConn + 'static,
    {
        Self::start_with(
            network,
            config,
            protocols,
            transport,
            tower::layer::util::Identity::new(),
        )
        .await
    }

    /// Starts a server whose sessions run through `session_layer` wrapped
    /// around the [`SessionService`]: the second stack of the pipeline, which
    /// sees each admitted peer for its whole lifetime.
    pub async fn start_with<N, T, C, L>(
        network: N,
        config: Config,
        protocols: Vec<Arc<dyn Protocol>>,
        transport: T,
        session_layer: L,
    ) -> Result<Server, ServerError>
    where
        N: Network,
        T: Transport<N::Io, C>,
        C: MsgConn + 'static,
        L: tower::Layer<SessionService>,
        L::Service: Session<C>,
    {
        config.validate()?;
        let key = config.key()?.clone();
        let listener = match config.listen_addr {
            Some(addr) => Some(
                network
                    .bind(addr)
                    .await
                    .map_err(|source| ServerError::Listen { addr, source })?,
            ),
            None => None,
        };
        let listen_addr = listener.as_ref().and_then(|l| l.local_addr().ok());
        let capabilities: Vec<Capability> = protocols.iter().map(|p| p.capability()).collect();
        let enode = listen_addr.map(|addr| {
            let ip = if addr.ip().is_unspecified() {
                std::net::Ipv4Addr::LOCALHOST.into()
            } else {
                addr.ip()
            };
            Enode::new(key.id(), ip, addr.port(), addr.port())
        });
        let node_info = Arc::new(NodeInfo {
            id: key.id(),
            client_id: config.client_id.clone(),
            listen_addr,
            capabilities: capabilities.clone(),
            enode,
        });
        let hello = Hello {
            protocol_version: BASE_PROTOCOL_VERSION,
            client_id: config.client_id.clone(),
            capabilities,
            listen_port: listen_addr.map_or(0, |a| a.port()),
            id: key.id(),
        };
        let (commands, command_rx) = mpsc::channel(COMMAND_QUEUE);
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let (closing_tx, closing) = watch::channel(false);
        let (candidates, candidate_sources) = FairMix::new();
        let shared = Arc::new(Shared {
            hello,
            offered: protocols
                .iter()
                .map(|p| (p.capability(), p.message_count()))
                .collect(),
            protocols,
            commands: commands.clone(),
            handshake_timeout: config.handshake_timeout,
            closing,
        });
        let mut dial = DialScheduler::new(
            DialConfig::from_peers(config.max_peers, config.dial_ratio).with_self_id(key.id()),
        );
        for node in &config.static_nodes {
            dial.add_static(*node);
        }
        // The built-in setup layers, outermost first: netrestrict and subnet
        // caps, then go-ethereum's inbound throttle, then MaxPendingPeers (the
        // handshakes in progress at once); the caller's stack runs inside.
        let transport = tower::ServiceBuilder::new()
            .layer(PeerFilterLayer::new(PeerFilterConfig {
                netrestrict: NetRestrict::new(config.net_restrict.iter().copied()),
                subnets: config.subnet_limits,
            }))
            .layer(InboundThrottleLayer::new(config.inbound_throttle))
            .layer(ConcurrencyLimitLayer::new(config.max_pending_peers.max(1)))
            .service(transport);
        let session = session_layer.layer(SessionService::new(SessionConfig {
            msg_events: config.enable_msg_events.then(|| events.clone()),
            ping_interval: config.ping_interval,
            read_timeout: config.frame_read_timeout,
            write_timeout: config.frame_write_timeout,
            ..SessionConfig::default()
        }));
        let supervisor = Supervisor {
            metrics_instance: crate::layers::metrics::instance_label(&key.id()),
            session,
            network,
            trusted: config.trusted_nodes.iter().map(|n| n.id).collect(),
            config,
            local_id: key.id(),
            shared,
            transport,
            peers: HashMap::new(),
            counts: PeerCounts::default(),
            dial,
            events: events.clone(),
            tasks: JoinSet::new(),
            commands: command_rx,
            closing: closing_tx,
            candidates,
            next_serial: 0,
        };
        tokio::spawn(
            supervisor
                .run(listener)
                .instrument(tracing::info_span!("p2p")),
        );
        Ok(Server {
            commands,
            candidate_sources,
            events,
            node_info,
        })
    }

    /// Stops the server: no more connections are accepted or dialed, every
    /// peer is disconnected with [`DisconnectReason::ClientQuitting`], and
    /// this returns when every task the server spawned has ended.
    pub async fn stop(&self) {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Stop(tx)).await.is_ok() {
            let _ = rx.await;
        }
        // The supervisor drops its queue as it returns.
        self.commands.closed().await;
    }

    /// The connected peers.
    pub async fn peers(&self) -> Vec<Arc<PeerInfo>> {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Peers(tx)).await.is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }

    /// How many peers are connected.
    pub async fn peer_count(&self) -> usize {
        self.peers().await.len()
    }

    /// Adds a static peer: dialed now and redialed whenever it disconnects.
    pub async fn add_peer(&self, node: Enode) {
        let _ = self.commands.send(Command::AddPeer(node)).await;
    }

    /// Feeds the dial scheduler with candidate nodes from `source` (a
    /// discovery mechanism, a DNS tree, a list): each is dialed when an
    /// outbound slot is free and it was not tried in the last 35 s.
    ///
    /// Several sources may be added; they are mixed fairly (see
    /// [`FairMix`]), so a source that always has nodes ready cannot crowd
    /// out a slow one. Sources are read only while the scheduler has free
    /// outbound slots and room in its candidate queue, so a source that
    /// does work per item (a lookup) pauses when its nodes are not needed.
    /// Sources are dropped when the server stops.
    pub fn add_candidate_source<S>(&self, source: S)
    where
        S: futures::Stream<Item = Enode> + Send + 'static,
    {
        // Fails only when the server has stopped, and then nothing is lost.
        let _ = self.candidate_sources.add(source);
    }

    /// Removes a static peer and disconnects it if connected.
    pub async fn remove_peer(&self, id: PeerId) {
        let _ = self.commands.send(Command::RemovePeer(id)).await;
    }

    /// Marks a node as trusted: it is admitted even when the server is full.
    pub async fn add_trusted_peer(&self, id: PeerId) {
        let _ = self.commands.send(Command::AddTrusted(id)).await;
    }

    /// Removes a node from the trusted set.
    pub async fn remove_trusted_peer(&self, id: PeerId) {
        let _ = self.commands.send(Command::RemoveTrusted(id)).await;
    }

    /// Peer events from now on.
    pub fn subscribe_events(&self) -> broadcast::Receiver<PeerEvent> {
        self.events.subscribe()
    }

    /// What the local node looks like to others.
    pub fn node_info(&self) -> &NodeInfo {
        &self.node_info
    }

    /// The local `enode://` URL, if the server listens.
    pub fn local_enode(&self) -> Option<Enode> {
        self.node_info.enode
    }
}

/// What every connection task needs, shared read-only.
struct Shared {
    hello: Hello,
    offered: Vec<(Capability, u64)>,
    protocols: Vec<Arc<dyn Protocol>>,
    commands: mpsc::Sender<Command>,
    handshake_timeout: std::time::Duration,
    /// Turns true when the server stops: handshakes in progress give up.
    closing: watch::Receiver<bool>,
}

/// Peers by direction, kept as the peer set changes so that neither the
/// checkpoint nor the metrics scan the peer set.
#[derive(Default)]
struct PeerCounts {
    /// All peers, by direction: `[inbound, outbound]`.
    all: [usize; 2],
    /// Peers that are not trusted, by direction: what the limits count.
    untrusted: [usize; 2],
}

impl PeerCounts {
    fn slot(direction: Direction) -> usize {
        match direction {
            Direction::Inbound => 0,
            Direction::Outbound => 1,
        }
    }

    fn add(&mut self, info: &PeerInfo) {
        let slot = Self::slot(info.direction);
        self.all[slot] += 1;
        if !info.trusted {
            self.untrusted[slot] += 1;
        }
    }

    fn remove(&mut self, info: &PeerInfo) {
        let slot = Self::slot(info.direction);
        self.all[slot] -= 1;
        if !info.trusted {
            self.untrusted[slot] -= 1;
        }
    }
}

struct PeerEntry {
    info: Arc<PeerInfo>,
    stop: Option<oneshot::Sender<DisconnectReason>>,
    serial: u64,
}

struct Supervisor<N, T, S> {
    /// The `instance` label of this server's metrics.
    metrics_instance: String,
    session: S,
    network: N,
    config: Config,
    local_id: PeerId,
    shared: Arc<Shared>,
    transport: T,
    peers: HashMap<PeerId, PeerEntry>,
    counts: PeerCounts,
    trusted: HashSet<PeerId>,
    dial: DialScheduler,
    events: broadcast::Sender<PeerEvent>,
    tasks: JoinSet<()>,
    commands: mpsc::Receiver<Command>,
    closing: watch::Sender<bool>,
    /// The serial of the last admitted session.
    next_serial: u64,
    /// The candidate sources, mixed. The supervisor reads them itself, and
    /// only while the dial scheduler wants candidates: discovery then does its
    /// work (lookups, DNS queries) only when its results will be used, as
    /// go-ethereum's dialer reads its node iterator only with free slots.
    candidates: FairMix<Enode>,
}

impl<N: Network, T, S> Supervisor<N, T, S> {
    async fn run<C>(mut self, listener: Option<N::Listener>)
    where
        N: Network,
        T: Transport<N::Io, C>,
        S: Session<C>,
        C: MsgConn + 'static,
    {
        if let Some(listener) = listener {
            let shared = self.shared.clone();
            let transport = self.transport.clone();
            let session = self.session.clone();
            let closing = self.shared.closing.clone();
            self.tasks.spawn(async move {
                tokio::select! {
                    _ = accept_loop(listener, shared, transport, session) => {}
                    _ = closed(closing) => {}
                }
            });
        }
        let stop_reply = loop {
            self.start_dials();
            let wants_candidates = self.dial.wants_candidates();
            let wakeup = self.dial.next_wakeup();
            let sleep = async {
                match wakeup {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            let command = tokio::select! {
                command = self.commands.recv() => command,
                _ = sleep => continue,
                Some(_) = self.tasks.join_next(), if !self.tasks.is_empty() => continue,
                Some(node) = self.candidates.next(), if wants_candidates => {
                    self.dial.add_candidate(node, Instant::now());
                    continue;
                }
            };
            match command {
                Some(Command::Stop(reply)) => break Some(reply),
                Some(command) => self.handle(command),
                None => break None,
            }
        };
        self.shutdown().await;
        if let Some(reply) = stop_reply {
            let _ = reply.send(());
        }
    }

    fn handle(&mut self, command: Command) {
        let now = Instant::now();
        match command {
            Command::Spawn(task) => {
                self.tasks.spawn(task);
            }
            Command::Checkpoint(info, reply) => {
                let verdict = self.checkpoint(*info, now);
                let _ = reply.send(verdict);
            }
            Command::Ended(id, serial, end) => {
                if self.remove_peer(&id, serial) {
                    self.dial.peer_removed(&id, now);
                    self.record_peers();
                    info!(%id, reason = %end.reason, by_remote = end.by_remote, "peer dropped");
                    let _ = self.events.send(PeerEvent::Dropped {
                        id,
                        reason: end.reason,
                        by_remote: end.by_remote,
                    });
                }
            }
            Command::DialDone(id, admitted) => {
                self.dial.dial_finished(&id, admitted, now);
            }
            Command::AddPeer(node) => {
                self.dial.add_static(node);
            }
            Command::RemovePeer(id) => {
                self.dial.remove_static(&id);
                if let Some(stop) = self.peers.get_mut(&id).and_then(|p| p.stop.take()) {
                    let _ = stop.send(DisconnectReason::Requested);
                }
            }
            Command::AddTrusted(id) => {
                self.trusted.insert(id);
            }
            Command::RemoveTrusted(id) => {
                self.trusted.remove(&id);
            }
            Command::Peers(reply) => {
                let _ = reply.send(self.peers.values().map(|p| p.info.clone()).collect());
            }
            Command::Stop(_) => unreachable!("handled by the loop"),
        }
    }

    /// The decisions go-ethereum's `postHandshakeChecks` and `addPeerChecks`
    /// make, in the same order.
    fn checkpoint(
        &mut self,
        mut info: PeerInfo,
        now: Instant,
    ) -> Result<Admission, DisconnectReason> {
        if info.id == self.local_id {
            return Err(DisconnectReason::ConnectedToSelf);
        }
        info.trusted = self.trusted.contains(&info.id);
        let replaces = match self.peers.get(&info.id) {
            Some(existing) => {
                if !self.wins_simultaneous_open(&existing.info, &info) {
                    return Err(DisconnectReason::AlreadyConnected);
                }
                true
            }
            None => false,
        };
        if replaces {
            // The peer keeps its slot; only the connection changes.
            let old = self.peers.remove(&info.id).expect("checked");
            self.counts.remove(&old.info);
            self.dial.peer_removed(&info.id, now);
            if let Some(stop) = old.stop {
                let _ = stop.send(DisconnectReason::AlreadyConnected);
            }
            debug!(id = %info.id, kept = ?info.direction, "simultaneous connections: keeping the one the lower id dialed");
            let _ = self.events.send(PeerEvent::Dropped {
                id: info.id,
                reason: DisconnectReason::AlreadyConnected,
                by_remote: false,
            });
        } else if !info.trusted {
            let (inbound, outbound) = self.counts();
            if inbound + outbound >= self.config.max_peers {
                return Err(DisconnectReason::TooManyPeers);
            }
            let is_static = self.dial.is_static(&info.id);
            match info.direction {
                Direction::Inbound if inbound >= self.config.max_inbound() => {
                    return Err(DisconnectReason::TooManyPeers)
                }
                Direction::Outbound if !is_static && outbound >= self.config.max_outbound() => {
                    return Err(DisconnectReason::TooManyPeers)
                }
                _ => {}
            }
        }
        if info.shared.is_empty() {
            return Err(DisconnectReason::UselessPeer);
        }
        let info = Arc::new(info);
        let (stop_tx, stop) = oneshot::channel();
        self.counts.add(&info);
        self.next_serial += 1;
        let serial = self.next_serial;
        self.peers.insert(
            info.id,
            PeerEntry {
                info: info.clone(),
                stop: Some(stop_tx),
                serial,
            },
        );
        self.dial.peer_added(info.id, info.direction, now);
        self.record_peers();
        info!(id = %info.id, addr = %info.remote_addr, dir = ?info.direction, client = %info.client_id, "peer added");
        let _ = self.events.send(PeerEvent::Added(info.clone()));
        Ok(Admission { info, stop, serial })
    }

    /// Whether `new`, a second connection to a connected peer, replaces the
    /// `existing` one. When two nodes dial each other at the same moment, each
    /// admits one connection and refuses the other as a duplicate; if each
    /// admits a different one, both end up refused and the nodes stay apart.
    /// So both sides follow one rule: the connection dialed by the node with
    /// the lower id is kept. A duplicate in the same direction as the existing
    /// connection is refused, as in go-ethereum.
    fn wins_simultaneous_open(&self, existing: &PeerInfo, new: &PeerInfo) -> bool {
        if existing.direction == new.direction {
            return false;
        }
        let dialed_by_us = new.direction == Direction::Outbound;
        let we_are_lower = self.local_id < new.id;
        dialed_by_us == we_are_lower
    }

    /// Forgets the peer whose session `serial` ended; false if that session
    /// is no longer in the set (it was replaced, or never admitted).
    fn remove_peer(&mut self, id: &PeerId, serial: u64) -> bool {
        if self.peers.get(id).is_none_or(|p| p.serial != serial) {
            return false;
        }
        match self.peers.remove(id) {
            Some(entry) => {
                self.counts.remove(&entry.info);
                true
            }
            None => false,
        }
    }

    /// Publishes the peer counts by direction (a no-op without a metrics
    /// recorder).
    fn record_peers(&self) {
        let [inbound, outbound] = self.counts.all;
        crate::layers::metrics::record_peers(&self.metrics_instance, inbound, outbound);
    }

    /// Untrusted peers by direction: what the limits count.
    fn counts(&self) -> (usize, usize) {
        let [inbound, outbound] = self.counts.untrusted;
        (inbound, outbound)
    }

    fn start_dials<C>(&mut self)
    where
        N: Network,
        T: Transport<N::Io, C>,
        S: Session<C>,
        C: MsgConn + 'static,
    {
        if self.config.no_dial {
            return;
        }
        for node in self.dial.poll_dials(Instant::now()) {
            if !self.config.allows_ip(node.ip) {
                self.dial.dial_finished(&node.id, false, Instant::now());
                continue;
            }
            let shared = self.shared.clone();
            let transport = self.transport.clone();
            let session = self.session.clone();
            let dial_timeout = self.config.dial_timeout;
            let closing = self.shared.closing.clone();
            let network = self.network.clone();
            self.tasks.spawn(async move {
                let addr = node.tcp_addr();
                let connect = tokio::time::timeout(dial_timeout, network.connect(addr));
                let connected = tokio::select! {
                    connected = connect => connected,
                    _ = closed(closing) => return,
                };
                match connected {
                    Ok(Ok(tcp)) => {
                        let conn = Connecting::outbound(tcp, addr, node.id);
                        connection(shared, transport, session, conn, Some(node.id)).await
                    }
                    Ok(Err(err)) => {
                        debug!(%addr, %err, "dial failed");
                        let _ = shared
                            .commands
                            .send(Command::DialDone(node.id, false))
                            .await;
                    }
                    Err(_) => {
                        debug!(%addr, "dial timed out");
                        let _ = shared
                            .commands
                            .send(Command::DialDone(node.id, false))
                            .await;
                    }
                }
            });
        }
    }

    /// Stops accepting and dialing, disconnects every peer, and waits for
    /// every task to end while still serving their last requests.
    async fn shutdown(&mut self) {
        info!(peers = self.peers.len(), "stopping");
        // Stops the accept loop, dials and handshakes in progress.
        let _ = self.closing.send(true);
        for peer in self.peers.values_mut() {
            if let Some(stop) = peer.stop.take() {
                let _ = stop.send(DisconnectReason::ClientQuitting);
            }
        }
        let deadline = tokio::time::sleep(crate::session::HANDLER_GRACE * 2);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                joined = self.tasks.join_next() => {
                    if joined.is_none() {
                        break;
                    }
                }
                Some(command) = self.commands.recv() => self.handle_while_stopping(command),
                _ = &mut deadline => {
                    // Only a task ignoring every signal gets here; cut it short.
                    self.tasks.abort_all();
                }
            }
        }
        // Tasks queue their last words (a session's end) before they finish:
        // every one of them is in the queue by now.
        while let Ok(command) = self.commands.try_recv() {
            self.handle_while_stopping(command);
        }
    }

    /// Serves what still arrives while stopping: sessions ending are reported,
    /// newcomers refused, queries answered.
    fn handle_while_stopping(&mut self, command: Command) {
        match command {
            Command::Checkpoint(_, reply) => {
                let _ = reply.send(Err(DisconnectReason::ClientQuitting));
            }
            Command::Ended(id, serial, end) if self.remove_peer(&id, serial) => {
                self.record_peers();
                let _ = self.events.send(PeerEvent::Dropped {
                    id,
                    reason: end.reason,
                    by_remote: end.by_remote,
                });
            }
            Command::Stop(reply) => {
                let _ = reply.send(());
            }
            Command::Peers(reply) => {
                let _ = reply.send(self.peers.values().map(|p| p.info.clone()).collect());
            }
            // Accepted connections are dropped unstarted: we are closing.
            _ => {}
        }
    }
}

/// Resolves when the server starts closing.
async fn closed(mut closing: watch::Receiver<bool>) {
    let _ = closing.wait_for(|closing| *closing).await;
}

/// Accepts inbound connections and hands their tasks to the supervisor.
async fn accept_loop<L, T, S, C>(mut listener: L, shared: Arc<Shared>, transport: T, session: S)
where
    L: NetListener,
    L::Io: Send + 'static,
    T: Transport<L::Io, C>,
    S: Session<C>,
    C: MsgConn + 'static,
{
    loop {
        match listener.accept().await {
            Ok((io, remote)) => {
                let conn = Connecting::inbound(io, remote);
                let task = connection(
                    shared.clone(),
                    transport.clone(),
                    session.clone(),
                    conn,
                    None,
                );
                if shared.commands.send(Command::Spawn(task)).await.is_err() {
                    return;
                }
            }
            Err(err) => {
                // Out of file descriptors and the like: back off a little
                // rather than spin.
                debug!(%err, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

/// One connection from its first byte to its end. For dials (`dialed` is the target), reports the outcome to
/// the supervisor's dial scheduler.
fn connection<Io, T, S, C>(
    shared: Arc<Shared>,
    mut transport: T,
    session: S,
    conn: Connecting<Io>,
    dialed: Option<PeerId>,
) -> BoxFuture<'static, ()>
where
    Io: Send + 'static,
    T: Transport<Io, C>,
    S: Session<C>,
    C: MsgConn + 'static,
{
    let span = tracing::info_span!("peer", addr = %conn.remote_addr, dir = ?conn.direction);
    Box::pin(
        async move {
            let admitted = run_connection(&shared, &mut transport, session, conn).await;
            if let Some(id) = dialed {
                let _ = shared.commands.send(Command::DialDone(id, admitted)).await;
            }
        }
        .instrument(span),
    )
}

async fn run_connection<Io, T, S, C>(
    shared: &Arc<Shared>,
    transport: &mut T,
    session: S,
    conn: Connecting<Io>,
) -> bool
where
    Io: Send + 'static,
    T: Transport<Io, C>,
    S: Session<C>,
    C: MsgConn + 'static,
{
    let setup = async {
        let authenticated = transport
            .ready()
            .await
            .map_err(|e| e.to_string())?
            .call(conn)
            .await
            .map_err(|e| e.to_string())?;
        let Authenticated {
            mut conn,
            remote_addr,
            direction,
            guards,
        } = authenticated;
        let theirs = exchange_hello(&mut conn, &shared.hello)
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>((conn, remote_addr, direction, guards, theirs))
    };
    let setup = tokio::time::timeout(shared.handshake_timeout, setup);
    let outcome = tokio::select! {
        outcome = setup => outcome,
        _ = closed(shared.closing.clone()) => return false,
    };
    let (mut conn, remote_addr, direction, guards, theirs) = match outcome {
        Ok(Ok(done)) => done,
        Ok(Err(err)) => {
            debug!(%err, "setup failed");
            return false;
        }
        Err(_) => {
            debug!("setup timed out");
            return false;
        }
    };
    let matched = match_capabilities(&shared.offered, &theirs.capabilities);
    let info = PeerInfo::new(&theirs, remote_addr, direction, matched);
    let (reply_tx, reply_rx) = oneshot::channel();
    if shared
        .commands
        .send(Command::Checkpoint(Box::new(info), reply_tx))
        .await
        .is_err()
    {
        return false;
    }
    let admission = match reply_rx.await {
        Ok(Ok(admission)) => admission,
        Ok(Err(reason)) => {
            debug!(%reason, "refused at the checkpoint");
            use futures::SinkExt;
            let _ = tokio::time::timeout(
                std::time::Duration::from_secs(1),
                conn.send(reason.to_msg()),
            )
            .await;
            return false;
        }
        Err(_) => return false,
    };
    let id = admission.info.id;
    let serial = admission.serial;
    let protocols = admission
        .info
        .shared
        .iter()
        .map(|s| {
            shared
                .protocols
                .iter()
                .find(|p| p.capability() == s.capability)
                .expect("matched from our own protocols")
                .clone()
        })
        .collect();
    let stop = admission.stop;
    let established = Established {
        conn,
        info: admission.info,
        protocols,
        stop: Box::pin(async move { stop.await.unwrap_or(DisconnectReason::ClientQuitting) }),
    };
    let end = match session.oneshot(established).await {
        Ok(end) => end,
        Err(err) => {
            // A session layer refused or failed the peer.
            debug!(%err, "session failed");
            SessionEnd {
                reason: DisconnectReason::SubprotocolError,
                by_remote: false,
            }
        }
    };
    drop(guards);
    let _ = shared.commands.send(Command::Ended(id, serial, end)).await;
    true
}
