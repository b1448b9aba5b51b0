//! What a rate-limited connection fails with.

use crate::base::DisconnectReason;

/// The disconnect reason for a peer that exceeded its rate (see the module
/// documentation for why this one).
pub const RATE_EXCEEDED_REASON: DisconnectReason = DisconnectReason::SubprotocolError;

/// Which bucket ran dry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LimitKind {
    /// Messages per second.
    Messages,
    /// Bytes per second.
    Bytes,
}

impl std::fmt::Display for LimitKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LimitKind::Messages => "messages",
            LimitKind::Bytes => "bytes",
        })
    }
}

/// The error of a [`RateLimitedConn`](super::RateLimitedConn).
#[derive(Debug, thiserror::Error)]
pub enum RateLimitError<E> {
    /// The wrapped connection failed.
    #[error(transparent)]
    Conn(E),
    /// The peer sent faster than allowed under [`RateLimitPolicy::Disconnect`](super::RateLimitPolicy::Disconnect).
    /// The offending message was dropped; the stream ends after this.
    #[error("peer exceeded the inbound limit of {per_second} {kind}/s (burst {burst}) with message code {code:#x}")]
    RateExceeded {
        /// Which limit.
        kind: LimitKind,
        /// Its sustained rate.
        per_second: u64,
        /// Its burst.
        burst: u64,
        /// The code of the dropped message.
        code: u64,
    },
}

impl<E> RateLimitError<E> {
    /// The reason to send the peer before closing: [`RATE_EXCEEDED_REASON`]
    /// for an exceeded rate, `None` for a connection error (the wrapped
    /// transport's error says whether it has one).
    pub fn disconnect_reason(&self) -> Option<DisconnectReason> {
        match self {
            RateLimitError::Conn(_) => None,
            RateLimitError::RateExceeded { .. } => Some(RATE_EXCEEDED_REASON),
        }
    }

    /// The wrapped connection's error, if this is one.
    pub fn into_conn(self) -> Option<E> {
        match self {
            RateLimitError::Conn(err) => Some(err),
            RateLimitError::RateExceeded { .. } => None,
        }
    }
}
