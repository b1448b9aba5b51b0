//! What the stack knows about a connected peer, and the handle capability
//! plugins hold on it.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::base::{Capability, DisconnectReason, Hello};
use crate::capability::CapabilityTable;
use crate::identity::PeerId;
use crate::pipeline::{ConnectionEnd, Direction};

/// A connected peer as the handshakes revealed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerInfo {
    /// The authenticated identity.
    pub id: PeerId,
    /// The remote socket address.
    pub remote_addr: SocketAddr,
    /// Who opened the connection.
    pub direction: Direction,
    /// The client name from its Hello.
    pub client_id: String,
    /// Every capability it announced.
    pub capabilities: Vec<Capability>,
    /// The capabilities this connection runs, with their code ranges, as the
    /// Hello stage matched them.
    pub shared: CapabilityTable,
    /// The TCP port it says it listens on (0 if none).
    pub listen_port: u16,
    /// Whether it is a trusted peer (admitted above the peer limit).
    pub trusted: bool,
}

impl PeerInfo {
    /// The info of a peer from its Hello and the connection it came on.
    pub fn new(
        hello: &Hello,
        remote_addr: SocketAddr,
        direction: Direction,
        shared: CapabilityTable,
    ) -> Self {
        PeerInfo {
            id: hello.id,
            remote_addr,
            direction,
            client_id: hello.client_id.clone(),
            capabilities: hello.capabilities.clone(),
            shared,
            listen_port: hello.listen_port,
            trusted: false,
        }
    }
}

/// A handle on a connected peer, as capability plugins get it.
///
/// Cheap to clone. [`Peer::disconnect`] asks the session to send the reason and
/// end; the first request wins.
#[derive(Clone, Debug)]
pub struct Peer {
    info: Arc<PeerInfo>,
    disconnect: mpsc::Sender<DisconnectReason>,
}

impl Peer {
    /// A handle whose disconnect requests go to `disconnect`.
    pub fn new(info: Arc<PeerInfo>, disconnect: mpsc::Sender<DisconnectReason>) -> Self {
        Peer { info, disconnect }
    }

    /// The peer's identity.
    pub fn id(&self) -> PeerId {
        self.info.id
    }

    /// The client name from its Hello.
    pub fn name(&self) -> &str {
        &self.info.client_id
    }

    /// The capabilities it announced.
    pub fn capabilities(&self) -> &[Capability] {
        &self.info.capabilities
    }

    /// The remote socket address.
    pub fn remote_addr(&self) -> SocketAddr {
        self.info.remote_addr
    }

    /// Who opened the connection.
    pub fn direction(&self) -> Direction {
        self.info.direction
    }

    /// Everything known about the peer.
    pub fn info(&self) -> &PeerInfo {
        &self.info
    }

    /// Asks the session to disconnect the peer with `reason`. Returns at once;
    /// the session sends the Disconnect and ends every capability's stream.
    pub fn disconnect(&self, reason: DisconnectReason) {
        // Capacity one: a later request while one is pending changes nothing.
        let _ = self.disconnect.try_send(reason);
    }
}

/// Something that happened to a peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerEvent {
    /// A peer passed the checkpoint and its session started.
    Added(Arc<PeerInfo>),
    /// A peer's session ended.
    Dropped {
        /// The peer.
        id: PeerId,
        /// How: the side, the Disconnect reason sent or received, and the
        /// error behind it.
        end: ConnectionEnd,
    },
    /// A capability message was received or sent (only when message events
    /// are enabled in the config).
    Message {
        /// The peer.
        id: PeerId,
        /// The capability it belongs to.
        capability: Capability,
        /// Its code, relative to the capability.
        code: u64,
        /// Its payload size in bytes (uncompressed).
        size: usize,
        /// Whether it came from the peer (else we sent it).
        inbound: bool,
    },
}
