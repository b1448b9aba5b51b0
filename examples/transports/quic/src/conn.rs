//! The message connection over one QUIC stream: every message, base
//! protocol and capabilities alike, in order on one bidirectional stream,
//! as RLPx carries them on its TCP connection.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::{ready, Sink, Stream};
use p2p_core::capability::CapabilityTable;
use p2p_core::{DisconnectReason, Msg, MsgConn, PeerId};
use tokio::io::Join;
use tokio_util::codec::Framed;

use crate::config::StreamMode;
use crate::error::QuicError;
use crate::frame::MessageCodec;
use crate::lanes::Lanes;

/// How long a closed connection waits for the peer to take the last
/// messages (a Disconnect, say) before QUIC's close discards what is still
/// unacknowledged. Dropping a QUIC connection closes it at once, losing data
/// in flight; TCP would have delivered it after the close.
pub const CLOSE_LINGER: Duration = Duration::from_secs(3);

type MessageStream = Framed<Join<quinn::RecvStream, quinn::SendStream>, MessageCodec>;

/// A [`MsgConn`] over QUIC: every message on one bidirectional stream, or
/// in the per-capability mode the base protocol there and each capability
/// on streams of its own ([`StreamMode::PerCapability`](crate::StreamMode::PerCapability)).
pub struct QuicConn {
    /// Taken only when the connection is dropped, to linger.
    stream: Option<MessageStream>,
    connection: quinn::Connection,
    remote_id: PeerId,
    /// The capability streams, in the per-capability mode.
    lanes: Option<Lanes>,
    /// Whether the message stream is read next (else the lanes): the two
    /// are read in turn, so neither starves the other.
    stream_first: bool,
}

impl std::fmt::Debug for QuicConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuicConn")
            .field("remote_id", &self.remote_id)
            .field("remote_addr", &self.connection.remote_address())
            .finish()
    }
}

impl QuicConn {
    pub(crate) fn new(
        connection: quinn::Connection,
        send: quinn::SendStream,
        recv: quinn::RecvStream,
        remote_id: PeerId,
        max_message: usize,
        mode: StreamMode,
    ) -> Self {
        let stream = Framed::new(tokio::io::join(recv, send), MessageCodec::new(max_message));
        let lanes = (mode == StreamMode::PerCapability)
            .then(|| Lanes::new(connection.clone(), max_message));
        QuicConn {
            stream: Some(stream),
            connection,
            remote_id,
            lanes,
            stream_first: true,
        }
    }

    /// The QUIC connection under the stream: its statistics, its RTT.
    pub fn connection(&self) -> &quinn::Connection {
        &self.connection
    }

    /// Hands a message waiting for its capability stream over, if any.
    fn poll_lanes(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), QuicError>> {
        match self.lanes.as_mut() {
            Some(lanes) => lanes.poll_pending(cx),
            None => Poll::Ready(Ok(())),
        }
    }

    fn stream(&mut self) -> Pin<&mut MessageStream> {
        Pin::new(self.stream.as_mut().expect("taken only on drop"))
    }
}

impl Stream for QuicConn {
    type Item = Result<Msg, QuicError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.lanes.is_none() {
            return self.stream().poll_next(cx);
        }
        self.stream_first = !self.stream_first;
        for from_stream in [self.stream_first, !self.stream_first] {
            if from_stream {
                // The message stream ending ends the connection.
                if let Poll::Ready(read) = self.stream().poll_next(cx) {
                    return Poll::Ready(read);
                }
            } else if let Some(lanes) = self.lanes.as_mut() {
                // All lane tasks gone is no end: the message stream says when.
                if let Poll::Ready(Some(read)) = lanes.poll_incoming(cx) {
                    return Poll::Ready(Some(read));
                }
            }
        }
        Poll::Pending
    }
}

impl Sink<Msg> for QuicConn {
    type Error = QuicError;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), QuicError>> {
        ready!(self.poll_lanes(cx))?;
        self.stream().poll_ready(cx)
    }

    fn start_send(mut self: Pin<&mut Self>, msg: Msg) -> Result<(), QuicError> {
        if let Some(lanes) = self.lanes.as_mut() {
            if let Some(lane) = lanes.lane_of(&msg) {
                lanes.pending = Some((lane, msg));
                return Ok(());
            }
        }
        self.stream().start_send(msg)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), QuicError>> {
        ready!(self.poll_lanes(cx))?;
        self.stream().poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), QuicError>> {
        ready!(self.poll_lanes(cx))?;
        if let Some(lanes) = self.lanes.as_mut() {
            lanes.close();
        }
        self.stream().poll_close(cx)
    }
}

impl MsgConn for QuicConn {
    type ConnError = QuicError;

    fn set_snappy(&mut self, enabled: bool) {
        self.stream().codec_mut().set_snappy(enabled);
        if let Some(lanes) = self.lanes.as_mut() {
            lanes.set_snappy(enabled);
        }
    }

    /// In the per-capability mode this starts a writer task per capability,
    /// so it must run inside the tokio runtime (as the Hello stage does).
    fn set_capabilities(&mut self, table: &CapabilityTable) {
        if let Some(lanes) = self.lanes.as_mut() {
            lanes.set_capabilities(table);
        }
    }

    fn remote_id(&self) -> PeerId {
        self.remote_id
    }

    fn disconnect_reason_for(err: &QuicError) -> Option<DisconnectReason> {
        err.disconnect_reason()
    }
}

impl Drop for QuicConn {
    fn drop(&mut self) {
        let Some(stream) = self.stream.take() else {
            return;
        };
        let (_recv, send) = stream.into_inner().into_inner();
        linger(self.connection.clone(), send);
    }
}

/// Finishes `send` and closes `connection` once the peer has taken what was
/// sent on it, or after [`CLOSE_LINGER`].
pub(crate) fn linger(connection: quinn::Connection, mut send: quinn::SendStream) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    runtime.spawn(async move {
        // Already finished when the session closed the sink; then this is a
        // no-op error.
        let _ = send.finish();
        let _ = tokio::time::timeout(CLOSE_LINGER, send.stopped()).await;
        connection.close(0u32.into(), b"");
    });
}
