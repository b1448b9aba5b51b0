//! Testing aids: an in-memory message connection, so sessions and whole
//! servers run in one process without sockets or cryptography.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::channel::mpsc;
use futures::{Sink, Stream};

use crate::identity::PeerId;
use crate::msg::Msg;
use crate::pipeline::MsgConn;

/// Messages one direction of a [`MemConn`] buffers before its sender waits.
pub const MEM_CONN_BUFFER: usize = 64;

/// The error of a [`MemConn`]: the other end is gone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("in-memory connection closed")]
pub struct MemConnClosed;

/// One end of an in-memory [`MsgConn`]; see [`mem_pair`].
///
/// Snappy is accepted and ignored: nothing is compressed in memory.
#[derive(Debug)]
pub struct MemConn {
    tx: mpsc::Sender<Msg>,
    rx: mpsc::Receiver<Msg>,
    remote: PeerId,
}

/// Two connected ends: what `a` sends `b` receives and the other way round.
/// `a` sees `b_id` as its remote, `b` sees `a_id`.
pub fn mem_pair(a_id: PeerId, b_id: PeerId) -> (MemConn, MemConn) {
    let (a_tx, b_rx) = mpsc::channel(MEM_CONN_BUFFER);
    let (b_tx, a_rx) = mpsc::channel(MEM_CONN_BUFFER);
    (
        MemConn {
            tx: a_tx,
            rx: a_rx,
            remote: b_id,
        },
        MemConn {
            tx: b_tx,
            rx: b_rx,
            remote: a_id,
        },
    )
}

impl Stream for MemConn {
    type Item = Result<Msg, MemConnClosed>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.rx).poll_next(cx).map(|m| m.map(Ok))
    }
}

impl Sink<Msg> for MemConn {
    type Error = MemConnClosed;

    fn poll_ready(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), MemConnClosed>> {
        Pin::new(&mut self.tx)
            .poll_ready(cx)
            .map_err(|_| MemConnClosed)
    }

    fn start_send(mut self: Pin<&mut Self>, msg: Msg) -> Result<(), MemConnClosed> {
        Pin::new(&mut self.tx)
            .start_send(msg)
            .map_err(|_| MemConnClosed)
    }

    fn poll_flush(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), MemConnClosed>> {
        Pin::new(&mut self.tx)
            .poll_flush(cx)
            .map_err(|_| MemConnClosed)
    }

    fn poll_close(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), MemConnClosed>> {
        Pin::new(&mut self.tx)
            .poll_close(cx)
            .map_err(|_| MemConnClosed)
    }
}

impl MsgConn for MemConn {
    type ConnError = MemConnClosed;

    fn set_snappy(&mut self, _enabled: bool) {}

    fn remote_id(&self) -> PeerId {
        self.remote
    }
}
