//! An established RLPx connection as a `Stream` and `Sink` of [`Msg`]s.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use futures::{ready, Sink, Stream};
use p2p_core::{Msg, MsgConn, NodeKey, PeerId};
use pin_project::pin_project;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;
use tokio_util::codec::{Decoder, Encoder};

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

/// Bytes read at a time when the read buffer has no room: what one read
/// of a busy connection usually brings.
const READ_CHUNK: usize = 8 * 1024;

/// Encoded bytes past which sending waits for a flush first: small enough
/// that the reader gets its first frames while later ones are encrypted
/// (64 KiB here cut 1 KiB message throughput by 40 %).
const WRITE_HIGH_WATER: usize = 8 * 1024;

/// A framed, encrypted, authenticated RLPx connection over `Io`.
///
/// Reading yields decrypted, decompressed messages; a MAC failure, an
/// oversized frame or a frame stalled for [`FRAME_STALL_TIMEOUT`] yields an
/// error, after which the stream yields nothing more and must be dropped.
///
/// An idle connection holds no buffers: the read buffer is released when
/// the stream waits on an empty one (the next read lands on the stack
/// first) and the write buffer once everything in it is written. A node
/// holding thousands of quiet peers pays for their keys and cipher states,
/// not for 16 KiB of buffers each.
#[pin_project]
pub struct RlpxStream<Io> {
    #[pin]
    io: Io,
    codec: FrameCodec,
    read_buf: BytesMut,
    write_buf: BytesMut,
    /// Set once reading failed or reached the end: nothing more is read.
    read_done: bool,
    remote_id: PeerId,
    /// The stall clock of a frame in progress, and the bytes buffered when
    /// it was last set.
    stall: Option<(Pin<Box<Sleep>>, usize)>,
}

impl<Io: AsyncRead + AsyncWrite> RlpxStream<Io> {
    /// Wraps `io` whose handshake produced `secrets`.
    pub fn new(io: Io, secrets: Secrets) -> Self {
        Self::with_read_ahead(io, secrets, BytesMut::new())
    }

    /// Wraps `io` after a handshake driver, keeping the bytes it read past the
    /// handshake (the start of the first frame).
    pub fn from_handshake(io: Io, outcome: Outcome) -> Self {
        Self::with_read_ahead(io, outcome.secrets, outcome.read_ahead)
    }

    fn with_read_ahead(io: Io, secrets: Secrets, read_ahead: BytesMut) -> Self {
        let remote_id = secrets.remote_id;
        RlpxStream {
            io,
            codec: FrameCodec::new(secrets),
            read_buf: if read_ahead.is_empty() {
                BytesMut::new()
            } else {
                read_ahead
            },
            write_buf: BytesMut::new(),
            read_done: false,
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
        &mut self.codec
    }

    /// The underlying byte stream.
    pub fn get_ref(&self) -> &Io {
        &self.io
    }
}

/// Reads what `io` has into `buf`: straight into its spare room when it
/// holds a partial frame, else through the stack, so that a connection
/// waiting for its next message keeps no buffer. Returns the bytes read (0
/// at the end of the stream).
fn poll_fill<Io: AsyncRead>(
    io: Pin<&mut Io>,
    cx: &mut Context<'_>,
    buf: &mut BytesMut,
) -> Poll<std::io::Result<usize>> {
    if buf.is_empty() {
        // Uninitialised: zeroing 8 KiB on every wake-up of an idle
        // connection would cost more than the read.
        let mut chunk = [std::mem::MaybeUninit::<u8>::uninit(); READ_CHUNK];
        let mut read = ReadBuf::uninit(&mut chunk);
        ready!(io.poll_read(cx, &mut read))?;
        let filled = read.filled();
        if !filled.is_empty() {
            buf.reserve(READ_CHUNK.max(filled.len()));
            buf.extend_from_slice(filled);
        }
        return Poll::Ready(Ok(filled.len()));
    }
    if buf.capacity() - buf.len() < READ_CHUNK / 2 {
        buf.reserve(READ_CHUNK);
    }
    tokio_util::io::poll_read_buf(io, cx, buf)
}

impl<Io: AsyncRead + AsyncWrite> Stream for RlpxStream<Io> {
    type Item = Result<Msg, RlpxError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        if *this.read_done {
            return Poll::Ready(None);
        }
        loop {
            match this.codec.decode(this.read_buf) {
                Ok(Some(msg)) => {
                    *this.stall = None;
                    return Poll::Ready(Some(Ok(msg)));
                }
                Ok(None) => {}
                Err(err) => {
                    *this.read_done = true;
                    return Poll::Ready(Some(Err(err)));
                }
            }
            match poll_fill(this.io.as_mut(), cx, this.read_buf) {
                Poll::Ready(Ok(0)) => {
                    *this.read_done = true;
                    if this.read_buf.is_empty() && !this.codec.mid_frame() {
                        return Poll::Ready(None);
                    }
                    let eof = std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "connection closed in the middle of a frame",
                    );
                    return Poll::Ready(Some(Err(eof.into())));
                }
                Poll::Ready(Ok(_)) => continue,
                Poll::Ready(Err(err)) => {
                    *this.read_done = true;
                    return Poll::Ready(Some(Err(err.into())));
                }
                Poll::Pending => break,
            }
        }
        // Waiting: between frames, or in the middle of one.
        let buffered = this.read_buf.len();
        if buffered == 0 && !this.codec.mid_frame() {
            // Idle: give the buffer back; the next read goes through the
            // stack.
            *this.read_buf = BytesMut::new();
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
                *this.read_done = true;
                Poll::Ready(Some(Err(RlpxError::FrameStalled(FRAME_STALL_TIMEOUT))))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<Io: AsyncRead + AsyncWrite> Sink<Msg> for RlpxStream<Io> {
    type Error = RlpxError;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), RlpxError>> {
        if self.write_buf.len() >= WRITE_HIGH_WATER {
            return self.poll_flush(cx);
        }
        Poll::Ready(Ok(()))
    }

    fn start_send(self: Pin<&mut Self>, item: Msg) -> Result<(), RlpxError> {
        let this = self.project();
        this.codec.encode(item, this.write_buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), RlpxError>> {
        let mut this = self.project();
        while !this.write_buf.is_empty() {
            let written = ready!(this.io.as_mut().poll_write(cx, this.write_buf))?;
            if written == 0 {
                return Poll::Ready(Err(
                    std::io::Error::from(std::io::ErrorKind::WriteZero).into()
                ));
            }
            this.write_buf.advance(written);
        }
        // Everything is written: an idle connection keeps no write buffer.
        *this.write_buf = BytesMut::new();
        ready!(this.io.poll_flush(cx))?;
        Poll::Ready(Ok(()))
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), RlpxError>> {
        ready!(self.as_mut().poll_flush(cx))?;
        ready!(self.project().io.poll_shutdown(cx))?;
        Poll::Ready(Ok(()))
    }
}

impl<Io: AsyncRead + AsyncWrite + Send + Unpin> MsgConn for RlpxStream<Io> {
    type ConnError = RlpxError;

    fn set_snappy(&mut self, enabled: bool) {
        self.codec.set_snappy(enabled);
    }

    fn remote_id(&self) -> PeerId {
        self.remote_id
    }

    fn disconnect_reason_for(err: &RlpxError) -> Option<p2p_core::DisconnectReason> {
        err.disconnect_reason()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::{SinkExt, StreamExt};

    fn pair() -> (
        RlpxStream<tokio::io::DuplexStream>,
        RlpxStream<tokio::io::DuplexStream>,
    ) {
        let (a, b) = (NodeKey::random(), NodeKey::random());
        let (ours, theirs) = handshake::in_memory(&a, &b, true, &mut rand::rng()).unwrap();
        let (x, y) = tokio::io::duplex(1 << 20);
        (RlpxStream::new(x, ours), RlpxStream::new(y, theirs))
    }

    #[tokio::test]
    async fn an_idle_connection_holds_no_buffers() {
        let (mut a, mut b) = pair();
        let big = Msg::new(0x10, vec![7u8; 200_000]);
        a.send(big.clone()).await.unwrap();
        assert_eq!(a.write_buf.capacity(), 0, "write buffer kept after flush");
        assert_eq!(b.next().await.unwrap().unwrap(), big);
        // Nothing more to read: waiting releases the buffer.
        let waiting = tokio::time::timeout(std::time::Duration::from_millis(20), b.next()).await;
        assert!(waiting.is_err());
        assert_eq!(b.read_buf.capacity(), 0, "read buffer kept while idle");
        // And the connection still works both ways.
        b.send(Msg::new(0x11, vec![1, 2, 3])).await.unwrap();
        assert_eq!(
            a.next().await.unwrap().unwrap().payload.as_ref(),
            &[1, 2, 3]
        );
    }

    #[tokio::test]
    async fn messages_sent_back_to_back_arrive_in_order() {
        let (mut a, mut b) = pair();
        // 1.5 MB in all, more than the pipe holds: written while read.
        let writer = tokio::spawn(async move {
            for i in 0..100u8 {
                a.feed(Msg::new(0x10, vec![i; 1 + usize::from(i) * 300]))
                    .await
                    .unwrap();
            }
            a.flush().await.unwrap();
            a
        });
        for i in 0..100u8 {
            let msg = b.next().await.unwrap().unwrap();
            assert_eq!(msg.payload.len(), 1 + usize::from(i) * 300);
            assert!(msg.payload.iter().all(|&byte| byte == i));
        }
        writer.await.unwrap();
    }

    #[tokio::test]
    async fn a_close_mid_frame_is_an_error_and_a_clean_close_is_the_end() {
        let (mut a, mut b) = pair();
        a.send(Msg::new(0x10, vec![5u8; 100])).await.unwrap();
        a.close().await.unwrap();
        assert!(b.next().await.unwrap().is_ok());
        assert!(b.next().await.is_none());

        // A frame cut short: its header and half its body, then the end.
        let (a, mut b) = pair();
        let mut a = a;
        let mut wire = BytesMut::new();
        a.codec
            .encode(Msg::new(0x10, vec![9u8; 1000]), &mut wire)
            .unwrap();
        let mut raw = a.io;
        tokio::io::AsyncWriteExt::write_all(&mut raw, &wire[..wire.len() / 2])
            .await
            .unwrap();
        drop(raw);
        let err = b.next().await.unwrap().unwrap_err();
        assert!(matches!(err, RlpxError::Io(_)), "{err}");
        assert!(b.next().await.is_none(), "nothing after an error");
    }
}
