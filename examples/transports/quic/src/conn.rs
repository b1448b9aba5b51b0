//! The message connection over one QUIC stream: every message, base
//! protocol and capabilities alike, in order on one bidirectional stream,
//! as RLPx carries them on its TCP connection.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::{Sink, Stream};
use p2p_core::{DisconnectReason, Msg, MsgConn, PeerId};
use tokio::io::Join;
use tokio_util::codec::Framed;

use crate::error::QuicError;
use crate::frame::MessageCodec;

/// How long a closed connection waits for the peer to take the last
/// messages (a Disconnect, say) before QUIC's close discards what is still
/// unacknowledged. Dropping a QUIC connection closes it at once, losing data
/// in flight; TCP would have delivered it after the close.
pub const CLOSE_LINGER: Duration = Duration::from_secs(3);

type MessageStream = Framed<Join<quinn::RecvStream, quinn::SendStream>, MessageCodec>;

/// A [`MsgConn`] on one bidirectional QUIC stream.
pub struct QuicConn {
    /// Taken only when the connection is dropped, to linger.
    stream: Option<MessageStream>,
    connection: quinn::Connection,
    remote_id: PeerId,
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
    ) -> Self {
        let stream = Framed::new(tokio::io::join(recv, send), MessageCodec::new(max_message));
        QuicConn {
            stream: Some(stream),
            connection,
            remote_id,
        }
    }

    /// The QUIC connection under the stream: its statistics, its RTT.
    pub fn connection(&self) -> &quinn::Connection {
        &self.connection
    }

    fn stream(&mut self) -> Pin<&mut MessageStream> {
        Pin::new(self.stream.as_mut().expect("taken only on drop"))
    }
}

impl Stream for QuicConn {
    type Item = Result<Msg, QuicError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.stream().poll_next(cx)
    }
}

impl Sink<Msg> for QuicConn {
    type Error = QuicError;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), QuicError>> {
        self.stream().poll_ready(cx)
    }

    fn start_send(mut self: Pin<&mut Self>, msg: Msg) -> Result<(), QuicError> {
        self.stream().start_send(msg)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), QuicError>> {
        self.stream().poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), QuicError>> {
        self.stream().poll_close(cx)
    }
}

impl MsgConn for QuicConn {
    type ConnError = QuicError;

    fn set_snappy(&mut self, enabled: bool) {
        self.stream().codec_mut().set_snappy(enabled);
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
