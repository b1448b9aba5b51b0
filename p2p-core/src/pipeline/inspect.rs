//! [`InspectConn`]: a connection wrapper that shows every inbound message to
//! a check, the building block of message-level session layers (a log, a
//! budget, a filter) that need no stream plumbing of their own.
//!
//! A session layer wraps the connection of each [`Established`] peer with
//! [`Established::map_conn`]; the check it installs sees each message with
//! its connection-level code, which the peer's capability table
//! ([`PeerInfo::shared`](crate::peer::PeerInfo::shared)) maps to a capability.
//! A check that refuses a message ends the session with the reason it gives:
//! the session sends it as a Disconnect.
//!
//! [`Established`]: crate::pipeline::Established
//! [`Established::map_conn`]: crate::pipeline::Established::map_conn

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures::{Sink, Stream};
use pin_project::pin_project;

use crate::base::DisconnectReason;
use crate::identity::PeerId;
use crate::msg::Msg;
use crate::pipeline::MsgConn;

/// What an [`InspectConn`] asks of each inbound message. Closures
/// `FnMut(&Msg) -> Result<(), DisconnectReason>` are checks; a named type
/// implementing it can be named in a layer's service bounds.
pub trait MessageCheck: Send + Unpin {
    /// Lets `msg` through (`Ok`), or ends the session with the reason.
    fn check(&mut self, msg: &Msg) -> Result<(), DisconnectReason>;
}

impl<F> MessageCheck for F
where
    F: FnMut(&Msg) -> Result<(), DisconnectReason> + Send + Unpin,
{
    fn check(&mut self, msg: &Msg) -> Result<(), DisconnectReason> {
        self(msg)
    }
}

/// The error of an [`InspectConn`]: the transport's, or a refusal by the
/// check.
#[derive(Debug, thiserror::Error)]
pub enum InspectError<E> {
    /// The wrapped connection failed.
    #[error(transparent)]
    Transport(E),
    /// The check refused a message.
    #[error("message {code:#04x} refused: {reason}")]
    Refused {
        /// The message's connection-level code.
        code: u64,
        /// The reason the check gave.
        reason: DisconnectReason,
    },
}

/// A [`MsgConn`] that shows each inbound message to a [`MessageCheck`]; see
/// the [module documentation](self). Outbound messages pass untouched.
#[pin_project]
#[derive(Debug)]
pub struct InspectConn<C, K> {
    #[pin]
    inner: C,
    check: K,
}

impl<C, K> InspectConn<C, K> {
    /// Wraps `inner`, checking its inbound messages with `check`.
    pub fn new(inner: C, check: K) -> Self {
        InspectConn { inner, check }
    }

    /// The wrapped connection.
    pub fn get_ref(&self) -> &C {
        &self.inner
    }

    /// The check.
    pub fn check(&self) -> &K {
        &self.check
    }
}

impl<C: MsgConn, K: MessageCheck> Stream for InspectConn<C, K> {
    type Item = Result<Msg, InspectError<C::ConnError>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.project();
        let item = match ready!(this.inner.poll_next(cx)) {
            None => None,
            Some(Err(err)) => Some(Err(InspectError::Transport(err))),
            Some(Ok(msg)) => Some(match this.check.check(&msg) {
                Ok(()) => Ok(msg),
                Err(reason) => Err(InspectError::Refused {
                    code: msg.code,
                    reason,
                }),
            }),
        };
        Poll::Ready(item)
    }
}

impl<C: MsgConn, K: MessageCheck> Sink<Msg> for InspectConn<C, K> {
    type Error = InspectError<C::ConnError>;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.project()
            .inner
            .poll_ready(cx)
            .map_err(InspectError::Transport)
    }

    fn start_send(self: Pin<&mut Self>, msg: Msg) -> Result<(), Self::Error> {
        self.project()
            .inner
            .start_send(msg)
            .map_err(InspectError::Transport)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.project()
            .inner
            .poll_flush(cx)
            .map_err(InspectError::Transport)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.project()
            .inner
            .poll_close(cx)
            .map_err(InspectError::Transport)
    }
}

impl<C: MsgConn, K: MessageCheck> MsgConn for InspectConn<C, K> {
    type ConnError = InspectError<C::ConnError>;

    fn set_snappy(&mut self, enabled: bool) {
        self.inner.set_snappy(enabled);
    }

    fn set_capabilities(&mut self, table: &crate::capability::CapabilityTable) {
        self.inner.set_capabilities(table);
    }

    fn remote_id(&self) -> PeerId {
        self.inner.remote_id()
    }

    fn disconnect_reason_for(err: &Self::ConnError) -> Option<DisconnectReason> {
        match err {
            InspectError::Transport(err) => C::disconnect_reason_for(err),
            InspectError::Refused { reason, .. } => Some(*reason),
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::{SinkExt, StreamExt};

    use super::*;
    use crate::identity::NodeKey;
    use crate::testing::mem_pair;

    #[tokio::test]
    async fn refused_messages_end_the_stream_with_the_checks_reason() {
        let (ours, mut theirs) = mem_pair(NodeKey::random().id(), NodeKey::random().id());
        let mut seen = 0;
        let mut conn = InspectConn::new(ours, move |msg: &Msg| {
            seen += 1;
            if msg.code == 0x20 && seen > 1 {
                Err(DisconnectReason::TooManyPeers)
            } else {
                Ok(())
            }
        });
        theirs.send(Msg::new(0x20, vec![1])).await.unwrap();
        theirs.send(Msg::new(0x20, vec![2])).await.unwrap();
        assert_eq!(conn.next().await.unwrap().unwrap(), Msg::new(0x20, vec![1]));
        let err = conn.next().await.unwrap().unwrap_err();
        assert!(matches!(err, InspectError::Refused { code: 0x20, .. }));
        assert_eq!(
            <InspectConn<crate::testing::MemConn, fn(&Msg) -> Result<(), DisconnectReason>>>::disconnect_reason_for(&err),
            Some(DisconnectReason::TooManyPeers)
        );
        // Sending is untouched.
        conn.send(Msg::new(0x21, vec![])).await.unwrap();
        assert_eq!(theirs.next().await.unwrap().unwrap().code, 0x21);
    }
}
