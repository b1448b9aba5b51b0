//! What can go wrong on a QUIC connection, typed so that the session can
//! tell a peer's breach (answered with a Disconnect) from a lost connection.

use p2p_core::{DisconnectReason, PeerId};

use crate::identity::CertError;

/// An error of the QUIC transport.
#[derive(Debug, thiserror::Error)]
pub enum QuicError {
    /// The QUIC connection failed or was closed: in the handshake (a
    /// certificate refused by either side ends up here) or later.
    #[error("connection: {0}")]
    Connection(#[from] quinn::ConnectionError),
    /// A stream failed (reset by the peer, or the connection under it lost).
    #[error("stream: {0}")]
    Stream(#[from] std::io::Error),
    /// The peer's certificate does not identify a node.
    #[error("peer certificate: {0}")]
    Certificate(#[from] CertError),
    /// The dialed node proved another identity.
    #[error("{0}")]
    UnexpectedIdentity(Box<IdentityMismatch>),
    /// The peer did not open the stream it had to within the handshake.
    #[error("the peer opened no message stream")]
    NoStream,
    /// A stream began with a header that names no stream of ours.
    #[error("unknown stream header {0:#04x}")]
    StreamHeader(u8),
    /// The peer opened more streams than the connection has capabilities.
    #[error("stream limit exceeded")]
    TooManyStreams,
    /// A message (or its decompressed data) is over the limit.
    #[error("message of {size} bytes over the limit of {limit}")]
    MessageTooLarge {
        /// The size announced or found.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A message whose code could not be read, or whose snappy data is
    /// corrupt.
    #[error("malformed message: {0}")]
    Malformed(&'static str),
}

impl QuicError {
    /// The reason to send when this error ends a connection that can still
    /// carry a Disconnect: the peer's breaches. A lost connection or stream
    /// has none.
    pub fn disconnect_reason(&self) -> Option<DisconnectReason> {
        match self {
            QuicError::Connection(_)
            | QuicError::Stream(_)
            | QuicError::Certificate(_)
            | QuicError::UnexpectedIdentity(_)
            | QuicError::NoStream => None,
            QuicError::StreamHeader(_)
            | QuicError::TooManyStreams
            | QuicError::MessageTooLarge { .. }
            | QuicError::Malformed(_) => Some(DisconnectReason::ProtocolError),
        }
    }
}

/// Whom a dial meant to reach and who answered.
#[derive(Debug, thiserror::Error)]
#[error("expected node {expected}, reached {actual}")]
pub struct IdentityMismatch {
    /// Whom we dialed.
    pub expected: PeerId,
    /// Who answered.
    pub actual: PeerId,
}
