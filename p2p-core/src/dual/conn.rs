//! A connection of one of two transports, as one type.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::{Sink, Stream};

use crate::base::DisconnectReason;
use crate::identity::PeerId;
use crate::msg::Msg;
use crate::pipeline::MsgConn;

/// A message connection over the first or the second transport of a
/// [`DualNetwork`](super::DualNetwork).
#[derive(Debug)]
pub enum EitherConn<A, B> {
    /// Over the first transport.
    First(A),
    /// Over the second transport.
    Second(B),
}

/// The error of an [`EitherConn`]: its transport's own, as the source.
#[derive(Debug, thiserror::Error)]
pub enum EitherError<A, B> {
    /// The first transport's error.
    #[error("first transport")]
    First(#[source] A),
    /// The second transport's error.
    #[error("second transport")]
    Second(#[source] B),
}

impl<A: MsgConn, B: MsgConn> Stream for EitherConn<A, B> {
    type Item = Result<Msg, EitherError<A::ConnError, B::ConnError>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.get_mut() {
            EitherConn::First(conn) => Pin::new(conn)
                .poll_next(cx)
                .map(|item| item.map(|r| r.map_err(EitherError::First))),
            EitherConn::Second(conn) => Pin::new(conn)
                .poll_next(cx)
                .map(|item| item.map(|r| r.map_err(EitherError::Second))),
        }
    }
}

/// Runs the same `Sink` method on whichever connection it is.
macro_rules! both {
    ($self:ident, $conn:ident => $call:expr) => {
        match $self.get_mut() {
            EitherConn::First($conn) => $call.map_err(EitherError::First),
            EitherConn::Second($conn) => $call.map_err(EitherError::Second),
        }
    };
}

impl<A: MsgConn, B: MsgConn> Sink<Msg> for EitherConn<A, B> {
    type Error = EitherError<A::ConnError, B::ConnError>;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        both!(self, conn => Pin::new(conn).poll_ready(cx))
    }

    fn start_send(self: Pin<&mut Self>, msg: Msg) -> Result<(), Self::Error> {
        both!(self, conn => Pin::new(conn).start_send(msg))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        both!(self, conn => Pin::new(conn).poll_flush(cx))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        both!(self, conn => Pin::new(conn).poll_close(cx))
    }
}

impl<A: MsgConn, B: MsgConn> MsgConn for EitherConn<A, B> {
    type ConnError = EitherError<A::ConnError, B::ConnError>;

    fn set_snappy(&mut self, enabled: bool) {
        match self {
            EitherConn::First(conn) => conn.set_snappy(enabled),
            EitherConn::Second(conn) => conn.set_snappy(enabled),
        }
    }

    fn set_capabilities(&mut self, table: &crate::capability::CapabilityTable) {
        match self {
            EitherConn::First(conn) => conn.set_capabilities(table),
            EitherConn::Second(conn) => conn.set_capabilities(table),
        }
    }

    fn remote_id(&self) -> PeerId {
        match self {
            EitherConn::First(conn) => conn.remote_id(),
            EitherConn::Second(conn) => conn.remote_id(),
        }
    }

    fn disconnect_reason_for(err: &Self::ConnError) -> Option<DisconnectReason> {
        match err {
            EitherError::First(err) => A::disconnect_reason_for(err),
            EitherError::Second(err) => B::disconnect_reason_for(err),
        }
    }
}
