//! The requests of the first stages: a raw connection entering the pipeline
//! ([`Connecting`]) and what the encryption stage makes of it
//! ([`Authenticated`]).

use std::net::SocketAddr;

use super::start::StartSignal;

use crate::identity::PeerId;

/// Which side opened the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Direction {
    /// The remote dialed us.
    Inbound,
    /// We dialed the remote.
    Outbound,
}

/// Values that live as long as a connection: what a layer of the setup
/// pipeline reserves for it (a slot in a subnet count, say) is released when
/// the connection ends, by dropping its guard. Guards travel with the
/// connection from [`Connecting`] to [`Authenticated`] and on to the session.
#[derive(Default)]
pub struct ConnGuards(Vec<Box<dyn std::any::Any + Send + Sync>>);

impl ConnGuards {
    /// Keeps `guard` alive until the connection ends.
    pub fn push(&mut self, guard: impl std::any::Any + Send + Sync) {
        self.0.push(Box::new(guard));
    }

    /// How many guards the connection holds.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the connection holds no guard.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for ConnGuards {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ConnGuards({})", self.0.len())
    }
}

/// A raw connection entering the setup pipeline, before a byte has been read.
#[derive(Debug)]
pub struct Connecting<Io> {
    /// The byte stream (a `TcpStream`, an in-memory duplex, ...).
    pub io: Io,
    /// The remote socket address.
    pub remote_addr: SocketAddr,
    /// Who opened the connection.
    pub direction: Direction,
    /// When dialing, the identity the remote must prove; `None` for inbound
    /// connections, whose identity the handshake reveals.
    pub expected: Option<PeerId>,
    /// What the pipeline's layers hold for this connection.
    pub guards: ConnGuards,
    /// How the encryption stage tells the layers before it that the
    /// handshake's work has begun (see [`StartSignal`]).
    pub start: StartSignal,
}

impl<Io> Connecting<Io> {
    /// An inbound connection accepted from `remote_addr`.
    pub fn inbound(io: Io, remote_addr: SocketAddr) -> Self {
        Connecting {
            io,
            remote_addr,
            direction: Direction::Inbound,
            expected: None,
            guards: ConnGuards::default(),
            start: StartSignal::default(),
        }
    }

    /// An outbound connection to the node `expected` at `remote_addr`.
    pub fn outbound(io: Io, remote_addr: SocketAddr, expected: PeerId) -> Self {
        Connecting {
            io,
            remote_addr,
            direction: Direction::Outbound,
            expected: Some(expected),
            guards: ConnGuards::default(),
            start: StartSignal::default(),
        }
    }
}

impl<Io> Connecting<Io> {
    /// Swaps the raw connection for `io`, keeping everything else: how a
    /// stage that dispatches to other stages (one per transport) unwraps
    /// the connection it was given.
    pub fn swap_io<J>(self, io: J) -> (Io, Connecting<J>) {
        let Connecting {
            io: old,
            remote_addr,
            direction,
            expected,
            guards,
            start,
        } = self;
        let swapped = Connecting {
            io,
            remote_addr,
            direction,
            expected,
            guards,
            start,
        };
        (old, swapped)
    }
}

/// A connection whose transport handshake succeeded: the message connection
/// and what the pipeline knew of it before.
#[derive(Debug)]
pub struct Authenticated<C> {
    /// The message connection; [`MsgConn::remote_id`](crate::MsgConn::remote_id) is the proven identity.
    pub conn: C,
    /// The remote socket address.
    pub remote_addr: SocketAddr,
    /// Who opened the connection.
    pub direction: Direction,
    /// What the pipeline's layers hold for this connection.
    pub guards: ConnGuards,
}

impl<C> Authenticated<C> {
    /// The same connection with its message connection wrapped by `wrap`
    /// (a layer's connection type, or one transport's among several).
    pub fn map_conn<D>(self, wrap: impl FnOnce(C) -> D) -> Authenticated<D> {
        Authenticated {
            conn: wrap(self.conn),
            remote_addr: self.remote_addr,
            direction: self.direction,
            guards: self.guards,
        }
    }
}
