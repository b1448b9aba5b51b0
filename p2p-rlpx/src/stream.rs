//! An established RLPx connection as a `Stream` and `Sink` of [`Msg`]s.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::{Sink, Stream};
use p2p_core::{Msg, MsgConn, NodeKey, PeerId};
use pin_project::pin_project;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Sleep;
use tokio_util::codec::{Framed, FramedParts};

use crate::codec::FrameCodec;
use crate::error::RlpxError;
use crate::handshake::{self, Outcome, Secrets};

/// How long a frame that has begun to arrive may go without a byte of it
/// arriving. The session's read timeout (30 s) bounds the wait between
/// messages, idle time included; a peer that sends a frame's first bytes
/// and stops is a stalled one, not an idle one, and is dropped sooner. The
/// clock restarts with every byte, so a large message on a slow link goes
/// on as long as it moves.
pub const FRAME_STALL_TIMEOUT: Duration = Duration::from_secs(10);

/// A framed, encrypted, authenticated RLPx connection over `Io`.
///
/// Reading yields decrypted, decompressed messages; a MAC failure, an
/// oversized frame or a frame stalled for [`FRAME_STALL_TIMEOUT`] yields an
/// error, after which the stream must be dropped.
#[pin_project]
pub struct RlpxStream<Io> {
    #[pin]
    inner: Framed<Io, FrameCodec>,
    remote_id: PeerId,
    /// The stall clock of a frame in progress, and the bytes buffered when
    /// it was last set.
    stall: Option<(Pin<Box<Sleep>>, usize)>,
}

impl<Io: AsyncRead + AsyncWrite> RlpxStream<Io> {
    /// Wraps `io` whose handshake produced `secrets`.
    pub fn new(io: Io, secrets: Secrets) -> Self {
        let remote_id = secrets.remote_id;
        RlpxStream {
            inner: Framed::new(io, FrameCodec::new(secrets)),
            remote_id,
            stall: None,
        }
    }

    /// Wraps `io` after a handshake driver, keeping the bytes it read past the
    /// handshake (the start of the first frame).
    pub fn from_handshake(io: Io, outcome: Outcome) -> Self {
        let remote_id = outcome.secrets.remote_id;
        let mut parts = FramedParts::new(io, FrameCodec::new(outcome.secrets));
        parts.read_buf = outcome.read_ahead;
        RlpxStream {
            inner: Framed::from_parts(parts),
            remote_id,
            stall: None,
        }
    }

    /// Performs the handshake as initiator, proving the remote holds the key
    /// of `remote`. No deadline: wrap it in one, or use [`crate::RlpxTransport`].
    pub async fn connect(mut io: Io, key: &NodeKey, remote: PeerId) -> Result<Self, RlpxError>
    where
        Io: Unpin,
    {
        let outcome = handshake::initiate(&mut io, key, remote).await?;
        Ok(Self::from_handshake(io, outcome))
    }

    /// Performs the handshake as recipient. No deadline: wrap it in one, or
    /// use [`crate::RlpxTransport`].
    pub async fn accept(mut io: Io, key: &NodeKey) -> Result<Self, RlpxError>
    where
        Io: Unpin,
    {
        let outcome = handshake::respond(&mut io, key).await?;
        Ok(Self::from_handshake(io, outcome))
    }

    /// The frame codec, to inspect or adjust its limits.
    pub fn codec_mut(&mut self) -> &mut FrameCodec {
        self.inner.codec_mut()
    }

    /// The underlying byte stream.
    pub fn get_ref(&self) -> &Io {
        self.inner.get_ref()
    }
}

impl<Io: AsyncRead + AsyncWrite> Stream for RlpxStream<Io> {
    type Item = Result<Msg, RlpxError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        if let Poll::Ready(item) = this.inner.as_mut().poll_next(cx) {
            *this.stall = None;
            return Poll::Ready(item);
        }
        // Waiting: between frames, or in the middle of one.
        let buffered = this.inner.read_buffer().len();
        if buffered == 0 && !this.inner.codec().mid_frame() {
            *this.stall = None;
            return Poll::Pending;
        }
        let moved = this.stall.as_ref().is_none_or(|(_, at)| *at != buffered);
        if moved {
            let clock = Box::pin(tokio::time::sleep(FRAME_STALL_TIMEOUT));
            *this.stall = Some((clock, buffered));
        }
        let (clock, _) = this.stall.as_mut().expect("set above");
        match clock.as_mut().poll(cx) {
            Poll::Ready(()) => {
                *this.stall = None;
                Poll::Ready(Some(Err(RlpxError::FrameStalled(FRAME_STALL_TIMEOUT))))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<Io: AsyncRead + AsyncWrite> Sink<Msg> for RlpxStream<Io> {
    type Error = RlpxError;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), RlpxError>> {
        self.project().inner.poll_ready(cx)
    }

    fn start_send(self: Pin<&mut Self>, item: Msg) -> Result<(), RlpxError> {
        self.project().inner.start_send(item)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), RlpxError>> {
        self.project().inner.poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), RlpxError>> {
        self.project().inner.poll_close(cx)
    }
}

impl<Io: AsyncRead + AsyncWrite + Send + Unpin> MsgConn for RlpxStream<Io> {
    type ConnError = RlpxError;

    fn set_snappy(&mut self, enabled: bool) {
        self.inner.codec_mut().set_snappy(enabled);
    }

    fn remote_id(&self) -> PeerId {
        self.remote_id
    }

    fn disconnect_reason_for(err: &RlpxError) -> Option<p2p_core::DisconnectReason> {
        err.disconnect_reason()
    }
}
