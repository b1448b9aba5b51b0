//! The server: what go-ethereum's `p2p.Server` does, as one supervisor task
//! that owns all peer state and talks to everything else through channels.
//!
//! ```text
//!  listener ──accepted──▶ ┌────────────┐ ◀──commands── Server handle
//!  dial tasks ◀──dial──── │ supervisor │ ──events───▶ subscribers
//!  connection tasks ──checkpoints / left──▶ └────────────┘
//! ```
//!
//! A connection task drives one connection through the stages of the
//! [pipeline](crate::pipeline): the setup stack (built-in layers around the
//! encryption stage), the first checkpoint, the Hello stage, the second
//! checkpoint and the session stage. At each checkpoint it asks the
//! supervisor, which alone reads and changes the peer set; no
//! lock guards peer state. [`Server::builder`] composes the stages.

mod builder;
mod connection;
mod early_end;
mod peers;
mod stats;
mod supervisor;

use std::net::SocketAddr;
use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::sync::{broadcast, mpsc, oneshot};
use tower::{BoxError, Service};

pub use builder::{NoEncryption, ServerBuilder};
pub use stats::{EndedEarly, ServerStats};

use crate::base::{Capability, DisconnectReason};
use crate::candidates::FairMixAdder;
use crate::config::ConfigError;
use crate::enode::Enode;
use crate::identity::{NodeKey, PeerId};
use crate::node_addr::NodeAddr;
use crate::peer::{PeerEvent, PeerInfo};
use crate::pipeline::{
    Authenticated, Connecting, ConnectionEnd, Direction, Established, Negotiated,
};

/// Commands queued to the supervisor before senders wait.
const COMMAND_QUEUE: usize = 256;
/// Events buffered per subscriber; a subscriber that falls further behind
/// misses events (and is told so by the broadcast channel).
const EVENT_BUFFER: usize = 1024;

/// Errors starting a server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The configuration is unusable.
    #[error("config: {0}")]
    Config(#[from] ConfigError),
    /// The configuration names a private key other than the one given to
    /// [`Server::builder`].
    #[error(
        "the config's private key (node id {config}) is not the one the server was built with"
    )]
    KeyMismatch {
        /// The id of the key in the configuration.
        config: PeerId,
    },
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

/// What connection tasks, the listener and the handle ask the supervisor.
enum Command {
    /// A connection task to run (an accepted connection), owned by the
    /// supervisor so that stop waits for it.
    Spawn(BoxFuture<'static, ()>),
    /// The first checkpoint: may `id` take a slot? The reply is the
    /// reservation's serial.
    Reserve {
        id: PeerId,
        direction: Direction,
        reply: oneshot::Sender<Result<u64, DisconnectReason>>,
    },
    /// The second checkpoint: may the reserved connection `serial` become a
    /// peer?
    Admit {
        serial: u64,
        info: Box<PeerInfo>,
        reply: oneshot::Sender<Result<peers::Admitted, DisconnectReason>>,
    },
    /// A connection that passed the first checkpoint ended.
    Left {
        id: PeerId,
        serial: u64,
        end: ConnectionEnd,
    },
    DialDone(PeerId, bool),
    AddPeer(NodeAddr),
    RemovePeer(PeerId),
    AddTrusted(PeerId),
    RemoveTrusted(PeerId),
    Peers(oneshot::Sender<Vec<Arc<PeerInfo>>>),
    Stop(oneshot::Sender<()>),
}

/// A handle on a running server; cheap to clone.
#[derive(Clone)]
pub struct Server {
    commands: mpsc::Sender<Command>,
    candidate_sources: FairMixAdder<NodeAddr>,
    events: broadcast::Sender<PeerEvent>,
    node_info: Arc<NodeInfo>,
    stats: Arc<stats::StatsCounters>,
}

/// The setup stack: the stage that turns a raw connection over `Io` into an
/// authenticated message connection `C`, with the layers around it.
pub trait SetupStack<Io, C>:
    Service<Connecting<Io>, Response = Authenticated<C>, Error: Into<BoxError> + Send, Future: Send>
    + Clone
    + Send
    + 'static
{
}

impl<T, Io, C> SetupStack<Io, C> for T where
    T: Service<
            Connecting<Io>,
            Response = Authenticated<C>,
            Error: Into<BoxError> + Send,
            Future: Send,
        > + Clone
        + Send
        + 'static
{
}

/// The Hello stack: [`HelloStage`](crate::pipeline::HelloStage) or a
/// replacement, with the layers around it.
pub trait HelloStack<C>:
    Service<Authenticated<C>, Response = Negotiated<C>, Error: Into<BoxError> + Send, Future: Send>
    + Clone
    + Send
    + 'static
{
}

impl<T, C> HelloStack<C> for T where
    T: Service<
            Authenticated<C>,
            Response = Negotiated<C>,
            Error: Into<BoxError> + Send,
            Future: Send,
        > + Clone
        + Send
        + 'static
{
}

/// The session stack: [`SessionService`](crate::session::SessionService) or
/// a replacement, with the layers around it. Its future lasts as long as the
/// peer.
pub trait SessionStack<C>:
    Service<Established<C>, Response = ConnectionEnd, Error: Into<BoxError> + Send, Future: Send>
    + Clone
    + Send
    + 'static
{
}

impl<T, C> SessionStack<C> for T where
    T: Service<
            Established<C>,
            Response = ConnectionEnd,
            Error: Into<BoxError> + Send,
            Future: Send,
        > + Clone
        + Send
        + 'static
{
}

impl Server {
    /// A builder for a server with the node key `key`; see [`ServerBuilder`]
    /// for the stages it composes and the order of their layers.
    pub fn builder(key: NodeKey) -> ServerBuilder {
        ServerBuilder::new(key)
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
    /// An [`Enode`] names its TCP endpoint; a [`NodeAddr`] made from its
    /// record lets every transport find its own.
    pub async fn add_peer(&self, node: impl Into<NodeAddr>) {
        let _ = self.commands.send(Command::AddPeer(node.into())).await;
    }

    /// Feeds the dial scheduler with candidate nodes from `source` (a
    /// discovery mechanism, a DNS tree, a list): each is dialed when an
    /// outbound slot is free and it was not tried in the last 35 s.
    ///
    /// Several sources may be added; they are mixed fairly (see
    /// [`FairMix`](crate::candidates::FairMix)), so a source that always has nodes ready cannot crowd
    /// out a slow one. Sources are read only while the scheduler has free
    /// outbound slots and room in its candidate queue, so a source that
    /// does work per item (a lookup) pauses when its nodes are not needed.
    /// Sources are dropped when the server stops.
    pub fn add_candidate_source<S>(&self, source: S)
    where
        S: futures::Stream + Send + 'static,
        S::Item: Into<NodeAddr>,
    {
        use futures::StreamExt;
        // Fails only when the server has stopped, and then nothing is lost.
        let _ = self.candidate_sources.add(source.map(Into::into));
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

    /// What the server has done since it started: dials, accepted
    /// connections, how many became peers, and why the others ended.
    pub fn stats(&self) -> ServerStats {
        self.stats.read()
    }

    /// The local `enode://` URL, if the server listens.
    pub fn local_enode(&self) -> Option<Enode> {
        self.node_info.enode
    }
}
