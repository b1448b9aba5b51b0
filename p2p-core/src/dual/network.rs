//! Listening and dialing on two networks at once.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use futures::future::Either;

use crate::network::{NetListener, Network};
use crate::node_addr::NodeAddr;

/// Two networks as one; see the [module documentation](crate::dual).
#[derive(Clone, Debug)]
pub struct DualNetwork<A, B> {
    first: A,
    second: B,
    /// The second listener's port; `None`: the first's + 1 (0 stays 0).
    second_port: Option<u16>,
    /// Where the second network listens, once bound (for the node record).
    second_addr: Arc<Mutex<Option<SocketAddr>>>,
    /// Whether a node both networks can reach is dialed over the second.
    prefer_second: bool,
}

impl<A, B> DualNetwork<A, B> {
    /// `first` and `second` side by side. The first is the node's main
    /// listener: its address is the one the server reports (and an
    /// `enode://` URL names). Dials prefer `first` unless
    /// [`prefer_second`](Self::prefer_second) says otherwise.
    pub fn new(first: A, second: B) -> Self {
        DualNetwork {
            first,
            second,
            second_port: None,
            second_addr: Arc::default(),
            prefer_second: false,
        }
    }

    /// Dials a node over the second network whenever its record offers
    /// that, and over the first only when it does not: for QUIC beside
    /// TCP, QUIC for the nodes that announce it.
    pub fn prefer_second(mut self, prefer: bool) -> Self {
        self.prefer_second = prefer;
        self
    }

    /// The port the second network listens on. By default the first one's
    /// plus one, as consensus clients put QUIC beside TCP: the same number
    /// would collide with discovery, which uses the TCP port's number on
    /// UDP. With port 0 for the first, the second takes any free port too.
    pub fn second_port(mut self, port: Option<u16>) -> Self {
        self.second_port = port;
        self
    }

    /// Where the second network listens, once the server has bound it: the
    /// port to announce in the node record.
    pub fn second_listen_addr(&self) -> Option<SocketAddr> {
        *self
            .second_addr
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn second_bind_addr(&self, first: SocketAddr) -> SocketAddr {
        let port = self.second_port.unwrap_or(match first.port() {
            0 => 0,
            port => port.wrapping_add(1),
        });
        SocketAddr::new(first.ip(), port)
    }
}

impl<A: Network, B: Network> Network for DualNetwork<A, B> {
    type Io = Either<A::Io, B::Io>;
    type Listener = DualListener<A::Listener, B::Listener>;

    async fn bind(&self, addr: SocketAddr) -> io::Result<Self::Listener> {
        let first = self.first.bind(addr).await?;
        let second = self.second.bind(self.second_bind_addr(addr)).await?;
        *self
            .second_addr
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = second.local_addr().ok();
        Ok(DualListener { first, second })
    }

    fn dial_addr(&self, node: &NodeAddr) -> Option<SocketAddr> {
        self.choose(node).map(|(addr, _)| addr)
    }

    async fn connect(&self, node: &NodeAddr, addr: SocketAddr) -> io::Result<Self::Io> {
        // The address came from `dial_addr`, so the same choice names its
        // network.
        match self.choose(node) {
            Some((chosen, Which::First)) if chosen == addr => {
                self.first.connect(node, addr).await.map(Either::Left)
            }
            _ => self.second.connect(node, addr).await.map(Either::Right),
        }
    }
}

/// Which network a dial goes through.
enum Which {
    First,
    Second,
}

impl<A: Network, B: Network> DualNetwork<A, B> {
    /// The address and network a dial of `node` takes.
    fn choose(&self, node: &NodeAddr) -> Option<(SocketAddr, Which)> {
        let first = || self.first.dial_addr(node).map(|addr| (addr, Which::First));
        let second = || {
            self.second
                .dial_addr(node)
                .map(|addr| (addr, Which::Second))
        };
        if self.prefer_second {
            second().or_else(first)
        } else {
            first().or_else(second)
        }
    }
}

/// The listeners of a [`DualNetwork`]: accepts from either.
#[derive(Debug)]
pub struct DualListener<A, B> {
    first: A,
    second: B,
}

impl<A: NetListener, B: NetListener> NetListener for DualListener<A, B>
where
    A::Io: Send,
    B::Io: Send,
{
    type Io = Either<A::Io, B::Io>;

    /// The first listener's address: the one a node's `enode://` URL gives.
    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.first.local_addr()
    }

    async fn accept(&mut self) -> io::Result<(Self::Io, SocketAddr)> {
        // Both accept futures are cancel-safe for the listeners here (TCP's,
        // the in-memory one's, quinn's): the one not taken loses nothing.
        tokio::select! {
            accepted = self.first.accept() => accepted.map(|(io, addr)| (Either::Left(io), addr)),
            accepted = self.second.accept() => accepted.map(|(io, addr)| (Either::Right(io), addr)),
        }
    }
}
