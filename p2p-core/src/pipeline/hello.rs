//! The Hello stage: the base protocol's Hello exchange as a tower service,
//! turning an [`Authenticated`] connection into a [`Negotiated`] one.
//!
//! The stage sends our Hello, reads the remote's, checks that it names the
//! key the encryption stage authenticated, turns snappy on when both sides
//! speak base protocol 5, and matches capabilities: the table it computes
//! ([`CapabilityTable`](crate::capability::CapabilityTable)) is carried in [`Negotiated`] (and then in
//! [`PeerInfo::shared`]) to every later stage, which reads it instead of
//! matching again.
//!
//! It is a service of its own so that a server can wrap it in layers (an
//! extra admission rule on the remote's Hello, a log of client names) or
//! replace it, without touching the encryption stage before it or the
//! session after it. A stage that refuses a peer after the exchange sends
//! the Disconnect itself with [`Negotiated::refuse`].

use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use futures::{SinkExt, StreamExt};
use tower::Service;

use crate::base::{DisconnectReason, Hello, DISCONNECT, HELLO};
use crate::capability::OfferedProtocols;
use crate::identity::PeerId;
use crate::peer::PeerInfo;
use crate::pipeline::conn::{send_disconnect, MsgConn};
use crate::pipeline::connecting::{Authenticated, ConnGuards};
use crate::protocol::Protocol;
use crate::service::Disconnect;

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
/// protocol error, or a read error the transport gives a reason for
/// ([`MsgConn::disconnect_reason_for`]), the matching Disconnect is sent
/// (best effort) before returning.
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
            // A transport breach (an oversized or corrupt frame) deserves the
            // reason the transport names, as it does in the session.
            let reason = match &err {
                HelloError::Transport(transport) => C::disconnect_reason_for(transport),
                other => other.disconnect_reason(),
            };
            if let Some(reason) = reason {
                tracing::debug!(%reason, error = %err, "hello exchange failed");
                send_disconnect(conn, reason).await;
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

/// A connection whose Hello exchange succeeded: what the Hello stage yields
/// and the second checkpoint and the session take.
pub struct Negotiated<C> {
    /// The message connection, snappy already switched as agreed.
    pub conn: C,
    /// The peer as its Hello showed it, with the matched
    /// capability table in [`PeerInfo::shared`].
    pub info: PeerInfo,
    /// The protocol running each entry of `info.shared`, in the same order.
    pub protocols: Vec<Arc<dyn Protocol>>,
    /// What the pipeline's layers hold for this connection.
    pub guards: ConnGuards,
}

impl<C: MsgConn> Negotiated<C> {
    /// Sends the peer a Disconnect with `reason` (best effort, bounded in
    /// time) and closes the connection: how a stage after the Hello exchange
    /// refuses a peer. The returned [`Disconnect`] is the error to fail
    /// with; the server reads the reason from it.
    pub async fn refuse(mut self, reason: DisconnectReason) -> Disconnect {
        send_disconnect(&mut self.conn, reason).await;
        Disconnect(reason)
    }
}

impl<C> std::fmt::Debug for Negotiated<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Negotiated")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// The built-in Hello stage; see the [module documentation](self).
///
/// Cheap to clone: the Hello and the offered protocols are shared.
#[derive(Clone, Debug)]
pub struct HelloStage {
    ours: Arc<Hello>,
    offered: Arc<OfferedProtocols>,
}

impl HelloStage {
    /// A stage that sends `ours` and matches the remote's capabilities
    /// against `offered`.
    pub fn new(ours: Hello, offered: OfferedProtocols) -> Self {
        HelloStage {
            ours: Arc::new(ours),
            offered: Arc::new(offered),
        }
    }

    /// The Hello this stage sends.
    pub fn hello(&self) -> &Hello {
        &self.ours
    }

    /// The protocols this stage matches against.
    pub fn offered(&self) -> &OfferedProtocols {
        &self.offered
    }
}

impl<C: MsgConn + 'static> Service<Authenticated<C>> for HelloStage {
    type Response = Negotiated<C>;
    type Error = HelloError<C::ConnError>;
    type Future = BoxFuture<'static, Result<Negotiated<C>, Self::Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, authenticated: Authenticated<C>) -> Self::Future {
        let (ours, offered) = (self.ours.clone(), self.offered.clone());
        Box::pin(async move {
            let Authenticated {
                mut conn,
                remote_addr,
                direction,
                guards,
            } = authenticated;
            let theirs = exchange_hello(&mut conn, &ours).await?;
            let (table, protocols) = offered.negotiate(&theirs.capabilities);
            conn.set_capabilities(&table);
            Ok(Negotiated {
                conn,
                info: PeerInfo::new(&theirs, remote_addr, direction, table),
                protocols,
                guards,
            })
        })
    }
}
