//! What a transport hands to the rest of the stack, and the first step taken
//! over it: the Hello exchange.
//!
//! A transport (RLPx over TCP by default) turns a raw byte stream into a
//! [`MsgConn`]: an authenticated, framed stream of [`Msg`]s whose remote
//! identity is known. Everything above it is transport-agnostic.

use std::net::SocketAddr;

use futures::{Sink, SinkExt, Stream, StreamExt};

use crate::base::{DisconnectReason, Hello, DISCONNECT, HELLO};
use crate::identity::PeerId;
use crate::msg::Msg;

/// Which side opened the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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
        }
    }
}

/// An authenticated, framed message connection: what a transport yields.
///
/// Reading yields messages in order with their payload uncompressed; writing
/// takes messages and compresses them once [`MsgConn::set_snappy`] is on.
pub trait MsgConn:
    Stream<Item = Result<Msg, Self::ConnError>> + Sink<Msg, Error = Self::ConnError> + Unpin + Send
{
    /// The transport's error. A transport error ends the connection.
    type ConnError: std::error::Error + Send + Sync + 'static;

    /// Turns snappy compression of message data on or off in both directions.
    /// The Hello exchange turns it on when both sides speak base protocol 5.
    fn set_snappy(&mut self, enabled: bool);

    /// The authenticated identity of the remote.
    fn remote_id(&self) -> PeerId;

    /// The reason to send the peer when reading failed with `err`, when the
    /// connection can still carry a Disconnect (a MAC failure, a message over a
    /// limit); `None` when the failure is the connection itself (the default).
    fn disconnect_reason_for(err: &Self::ConnError) -> Option<DisconnectReason> {
        let _ = err;
        None
    }
}

/// Errors of the Hello exchange.
#[derive(Debug, thiserror::Error)]
pub enum HelloError<E: std::error::Error + 'static> {
    /// The transport failed.
    #[error("transport: {0}")]
    Transport(#[source] E),
    /// The connection closed before the remote's Hello arrived.
    #[error("connection closed before hello")]
    Closed,
    /// The remote sent Disconnect instead of Hello.
    #[error("remote disconnected: {0}")]
    Disconnected(DisconnectReason),
    /// The first message was neither Hello nor Disconnect.
    #[error("expected hello, got message code {0:#x}")]
    UnexpectedMessage(u64),
    /// The Hello did not decode.
    #[error("malformed hello: {0}")]
    Malformed(rlp::DecoderError),
    /// The Hello names a different key from the one the transport authenticated.
    #[error("hello id {hello} differs from the authenticated key {authenticated}")]
    IdentityMismatch {
        /// The id in the Hello.
        hello: PeerId,
        /// The id the transport proved.
        authenticated: PeerId,
    },
}

impl<E: std::error::Error + 'static> HelloError<E> {
    /// The reason to send the remote before closing, if a Disconnect still makes
    /// sense.
    pub fn disconnect_reason(&self) -> Option<DisconnectReason> {
        match self {
            HelloError::Transport(_) | HelloError::Closed | HelloError::Disconnected(_) => None,
            HelloError::UnexpectedMessage(_) | HelloError::Malformed(_) => {
                Some(DisconnectReason::ProtocolError)
            }
            HelloError::IdentityMismatch { .. } => Some(DisconnectReason::UnexpectedIdentity),
        }
    }
}

/// Sends our Hello, reads the remote's, checks it, and turns snappy on when both
/// sides allow it. Returns the remote's Hello.
///
/// Bound it with a deadline: a silent remote makes this wait forever. On a
/// protocol error the matching Disconnect is sent (best effort) before returning.
pub async fn exchange_hello<C: MsgConn>(
    conn: &mut C,
    ours: &Hello,
) -> Result<Hello, HelloError<C::ConnError>> {
    conn.send(ours.to_msg())
        .await
        .map_err(HelloError::Transport)?;
    let result = read_hello(conn).await;
    match result {
        Ok(theirs) => {
            conn.set_snappy(ours.snappy_with(&theirs));
            Ok(theirs)
        }
        Err(err) => {
            if let Some(reason) = err.disconnect_reason() {
                tracing::debug!(%reason, error = %err, "hello exchange failed");
                let _ = conn.send(reason.to_msg()).await;
            }
            Err(err)
        }
    }
}

async fn read_hello<C: MsgConn>(conn: &mut C) -> Result<Hello, HelloError<C::ConnError>> {
    let msg = match conn.next().await {
        None => return Err(HelloError::Closed),
        Some(Err(err)) => return Err(HelloError::Transport(err)),
        Some(Ok(msg)) => msg,
    };
    match msg.code {
        HELLO => {
            let hello = Hello::decode_payload(&msg.payload).map_err(HelloError::Malformed)?;
            let authenticated = conn.remote_id();
            if hello.id != authenticated {
                return Err(HelloError::IdentityMismatch {
                    hello: hello.id,
                    authenticated,
                });
            }
            Ok(hello)
        }
        DISCONNECT => Err(HelloError::Disconnected(
            DisconnectReason::decode_payload(&msg.payload)
                .unwrap_or(DisconnectReason::Unknown(0xff)),
        )),
        other => Err(HelloError::UnexpectedMessage(other)),
    }
}

/// A connection whose transport handshake succeeded: the message connection
/// and what the pipeline knew of it before.
#[derive(Debug)]
pub struct Authenticated<C> {
    /// The message connection; [`MsgConn::remote_id`] is the proven identity.
    pub conn: C,
    /// The remote socket address.
    pub remote_addr: SocketAddr,
    /// Who opened the connection.
    pub direction: Direction,
    /// What the pipeline's layers hold for this connection.
    pub guards: ConnGuards,
}
