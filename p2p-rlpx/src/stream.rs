//! An established RLPx connection as a `Stream` and `Sink` of [`Msg`]s.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::{Sink, Stream};
use p2p_core::{Msg, MsgConn, NodeKey, PeerId};
use pin_project::pin_project;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::{Framed, FramedParts};

use crate::codec::FrameCodec;
use crate::error::RlpxError;
use crate::handshake::{self, Outcome, Secrets};

/// A framed, encrypted, authenticated RLPx connection over `Io`.
///
/// Reading yields decrypted, decompressed messages; a MAC failure or an
/// oversized frame yields an error, after which the stream must be dropped.
#[pin_project]
pub struct RlpxStream<Io> {
    #[pin]
    inner: Framed<Io, FrameCodec>,
    remote_id: PeerId,
}

impl<Io: AsyncRead + AsyncWrite> RlpxStream<Io> {
    /// Wraps `io` whose handshake produced `secrets`.
    pub fn new(io: Io, secrets: Secrets) -> Self {
        let remote_id = secrets.remote_id;
        RlpxStream {
            inner: Framed::new(io, FrameCodec::new(secrets)),
            remote_id,
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
        self.project().inner.poll_next(cx)
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
