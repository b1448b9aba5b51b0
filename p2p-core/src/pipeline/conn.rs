//! [`MsgConn`]: what a transport hands to the rest of the stack.
//!
//! A transport (RLPx over TCP by default) turns a raw byte stream into an
//! authenticated, framed stream of [`Msg`]s whose remote identity is known.
//! Everything above it is transport-agnostic.

use futures::{Sink, Stream};

use crate::base::DisconnectReason;
use crate::capability::CapabilityTable;
use crate::identity::PeerId;
use crate::msg::Msg;

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

    /// Tells the transport which capabilities the Hello matched, with their
    /// code ranges. A transport that gives each capability a channel of its
    /// own (QUIC's streams) routes messages by them; a byte stream ignores
    /// it (the default). The Hello stage calls it once, after the Hello and
    /// before any capability message; a wrapper forwards it.
    fn set_capabilities(&mut self, table: &CapabilityTable) {
        let _ = table;
    }

    /// The reason to send the peer when reading failed with `err`, when the
    /// connection can still carry a Disconnect (a MAC failure, a message over a
    /// limit); `None` when the failure is the connection itself (the default).
    fn disconnect_reason_for(err: &Self::ConnError) -> Option<DisconnectReason> {
        let _ = err;
        None
    }
}

/// Longest the Disconnect of a refusal may take to write: a peer that does
/// not read must not hold the refusing task.
pub const DISCONNECT_WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// Sends `reason` as a Disconnect and closes `conn` (a [`MsgConn`] or its
/// sending half), best effort and within [`DISCONNECT_WRITE_TIMEOUT`]: what
/// every stage does when it ends a peer whose connection can still carry a
/// message.
pub async fn send_disconnect<C: Sink<Msg> + Unpin>(conn: &mut C, reason: DisconnectReason) {
    use futures::SinkExt;
    let goodbye = async {
        conn.send(reason.to_msg()).await?;
        conn.close().await
    };
    let _ = tokio::time::timeout(DISCONNECT_WRITE_TIMEOUT, goodbye).await;
}
