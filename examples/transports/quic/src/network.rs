//! Where QUIC connections come from: one UDP endpoint per node, listening
//! and dialing from the same port.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};

use p2p_core::network::{FirstBytes, NetListener, Network};
use p2p_core::NodeAddr;

use crate::config::SERVER_NAME;

/// The node record keys of a node's QUIC port, as consensus clients
/// announce it: `quic` beside the record's IPv4 address, `quic6` beside its
/// IPv6 one.
pub const RECORD_KEYS: (&[u8], &[u8]) = (b"quic", b"quic6");

/// The QUIC network: a [`Network`] whose raw connections are QUIC
/// connections still in their TLS handshake, which [`QuicHandshake`]
/// completes.
///
/// Dials leave from the listening endpoint when there is one, so a peer
/// sees our QUIC port as the source of the connection (which also keeps a
/// NAT mapping made for the listener in use). A node that does not listen
/// dials from an endpoint on a free port.
///
/// [`QuicHandshake`]: crate::QuicHandshake
#[derive(Clone)]
pub struct QuicNetwork {
    shared: Arc<Shared>,
}

struct Shared {
    server: quinn::ServerConfig,
    client: quinn::ClientConfig,
    /// The listening endpoint once bound, else the dial-only one once made.
    endpoint: Mutex<Option<quinn::Endpoint>>,
}

impl std::fmt::Debug for QuicNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuicNetwork").finish_non_exhaustive()
    }
}

impl QuicNetwork {
    pub(crate) fn new(server: quinn::ServerConfig, client: quinn::ClientConfig) -> Self {
        QuicNetwork {
            shared: Arc::new(Shared {
                server,
                client,
                endpoint: Mutex::new(None),
            }),
        }
    }

    fn endpoint(&self) -> std::sync::MutexGuard<'_, Option<quinn::Endpoint>> {
        self.shared
            .endpoint
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The endpoint to dial `addr` from: the listening one if it can reach
    /// that address family, else a dial-only endpoint on a free port.
    fn dialing_endpoint(&self, addr: SocketAddr) -> io::Result<quinn::Endpoint> {
        let mut slot = self.endpoint();
        if let Some(endpoint) = slot.as_ref() {
            if endpoint.local_addr()?.is_ipv4() == addr.is_ipv4() {
                return Ok(endpoint.clone());
            }
            // Another family than the listener's: a dial-only endpoint, not
            // kept, as the listener stays the endpoint of record.
            return quinn::Endpoint::client(unspecified(addr));
        }
        let endpoint = quinn::Endpoint::client(unspecified(addr))?;
        *slot = Some(endpoint.clone());
        Ok(endpoint)
    }
}

fn unspecified(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    SocketAddr::new(ip, 0)
}

/// One QUIC connection before its handshake: accepted or dialed.
pub struct QuicIo(pub(crate) Pending);

pub(crate) enum Pending {
    /// A connection attempt a peer made, not yet answered.
    Incoming(Box<quinn::Incoming>),
    /// A dial whose handshake is under way.
    Dialing(quinn::Connecting),
}

impl std::fmt::Debug for QuicIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.0 {
            Pending::Incoming(_) => "incoming",
            Pending::Dialing(_) => "dialing",
        };
        f.debug_tuple("QuicIo").field(&kind).finish()
    }
}

impl FirstBytes for QuicIo {
    // An incoming connection exists because its peer sent an Initial
    // packet, and a dialed one because we did: there is nothing to wait for.
    async fn first_bytes(&self) {}
}

impl Network for QuicNetwork {
    type Io = QuicIo;
    type Listener = QuicListener;

    async fn bind(&self, addr: SocketAddr) -> io::Result<QuicListener> {
        let endpoint = quinn::Endpoint::server(self.shared.server.clone(), addr)?;
        // Replaces a dial-only endpoint made before the listener: its dials
        // go on, new ones leave from the listener.
        *self.endpoint() = Some(endpoint.clone());
        Ok(QuicListener { endpoint })
    }

    fn dial_addr(&self, node: &NodeAddr) -> Option<SocketAddr> {
        node.record_endpoint(RECORD_KEYS.0, RECORD_KEYS.1)
    }

    async fn connect(&self, _node: &NodeAddr, addr: SocketAddr) -> io::Result<QuicIo> {
        let endpoint = self.dialing_endpoint(addr)?;
        let connecting = endpoint
            .connect_with(self.shared.client.clone(), addr, SERVER_NAME)
            .map_err(io::Error::other)?;
        Ok(QuicIo(Pending::Dialing(connecting)))
    }
}

/// A listening QUIC endpoint.
#[derive(Debug)]
pub struct QuicListener {
    endpoint: quinn::Endpoint,
}

impl QuicListener {
    /// The endpoint, to close it or read its statistics.
    pub fn endpoint(&self) -> &quinn::Endpoint {
        &self.endpoint
    }
}

impl NetListener for QuicListener {
    type Io = QuicIo;

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.endpoint.local_addr()
    }

    async fn accept(&mut self) -> io::Result<(QuicIo, SocketAddr)> {
        let incoming = self
            .endpoint
            .accept()
            .await
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "endpoint closed"))?;
        let remote = incoming.remote_address();
        Ok((QuicIo(Pending::Incoming(Box::new(incoming))), remote))
    }
}
