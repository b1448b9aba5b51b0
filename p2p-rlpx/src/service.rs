//! The encryption stage of the connection pipeline, as a tower [`Service`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use p2p_core::{Authenticated, Connecting, Direction, NodeKey};
use tokio::io::{AsyncRead, AsyncWrite};
use tower::Service;

use crate::error::RlpxError;
use crate::handshake;
use crate::stream::RlpxStream;

/// How long the encryption handshake may take (go-ethereum uses 5 s for the
/// whole setup; the ECIES exchange is one round trip of it).
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Turns a raw byte stream into an authenticated [`RlpxStream`]: ECIES auth
/// and ack as initiator or recipient, by the connection's direction, within a
/// deadline.
///
/// Clones share the node key; the service is always ready, so bound
/// concurrency with a layer: a server's built-in
/// `p2p_core::layers::pending::PendingLimitLayer`, say.
#[derive(Clone, Debug)]
pub struct RlpxTransport {
    key: Arc<NodeKey>,
    handshake_timeout: Duration,
}

impl RlpxTransport {
    /// A transport authenticating as `key`, with the default deadline.
    pub fn new(key: Arc<NodeKey>) -> Self {
        RlpxTransport {
            key,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }

    /// Sets the handshake deadline.
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Runs the handshake for one connection.
    pub async fn establish<Io>(
        key: &NodeKey,
        conn: Connecting<Io>,
        timeout: Duration,
    ) -> Result<Authenticated<RlpxStream<Io>>, RlpxError>
    where
        Io: AsyncRead + AsyncWrite + Unpin,
    {
        let Connecting {
            mut io,
            remote_addr,
            direction,
            expected,
            guards,
            start,
        } = conn;
        let handshake = async {
            match (direction, expected) {
                (Direction::Outbound, Some(remote)) => {
                    start.started();
                    RlpxStream::connect(io, key, remote).await
                }
                (Direction::Outbound, None) => Err(RlpxError::InvalidHandshake(
                    "an outbound connection needs the remote's id",
                )),
                (Direction::Inbound, _) => {
                    // Work starts with a complete auth message, not with
                    // its first byte: a peer trickling it costs a buffer.
                    let outcome = handshake::respond_with(&mut io, key, || start.started()).await?;
                    Ok(RlpxStream::from_handshake(io, outcome))
                }
            }
        };
        let conn = tokio::time::timeout(timeout, handshake)
            .await
            .map_err(|_| RlpxError::HandshakeTimeout)??;
        Ok(Authenticated {
            conn,
            remote_addr,
            direction,
            guards,
        })
    }
}

impl<Io> Service<Connecting<Io>> for RlpxTransport
where
    Io: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    type Response = Authenticated<RlpxStream<Io>>;
    type Error = RlpxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, RlpxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), RlpxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, conn: Connecting<Io>) -> Self::Future {
        // This stage says when its work starts (see `establish`).
        conn.start.defer();
        let key = self.key.clone();
        let timeout = self.handshake_timeout;
        Box::pin(async move { Self::establish(&key, conn, timeout).await })
    }
}
