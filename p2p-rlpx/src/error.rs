//! The one error type of the RLPx transport.

use p2p_core::DisconnectReason;

/// Everything that can end an RLPx connection. Each error ends only the
/// connection it happened on.
#[derive(Debug, thiserror::Error)]
pub enum RlpxError {
    /// The socket failed or closed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The handshake did not finish within its deadline.
    #[error("handshake timed out")]
    HandshakeTimeout,
    /// An ECIES message did not decrypt: wrong key, tampering or garbage.
    #[error("ecies: {0}")]
    Ecies(&'static str),
    /// An auth or ack message decrypted but its content is invalid.
    #[error("invalid handshake message: {0}")]
    InvalidHandshake(&'static str),
    /// The auth signature does not recover to a key.
    #[error("invalid auth signature")]
    InvalidSignature,
    /// A frame had begun to arrive, then no byte of it came for this long
    /// (see [`FRAME_STALL_TIMEOUT`](crate::FRAME_STALL_TIMEOUT)).
    #[error("a frame stopped arriving: no byte of it for {0:?}")]
    FrameStalled(std::time::Duration),
    /// A frame header failed its MAC check.
    #[error("frame header MAC mismatch")]
    HeaderMac,
    /// A frame body failed its MAC check.
    #[error("frame MAC mismatch")]
    FrameMac,
    /// A frame announced more bytes than we accept.
    #[error("frame of {size} bytes exceeds the limit of {max}")]
    FrameTooLarge {
        /// The announced size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// A message to send does not fit in a frame.
    #[error("message of {size} bytes exceeds the frame limit of {max}")]
    MessageTooLarge {
        /// The encoded size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// A frame's content is not `rlp(code) || data`.
    #[error("malformed frame: {0}")]
    MalformedFrame(&'static str),
    /// Snappy-compressed data declared a size over the limit; nothing was
    /// decompressed.
    #[error("snappy data declares {declared} bytes, over the limit of {max}")]
    DecompressedTooLarge {
        /// The declared size.
        declared: usize,
        /// The limit.
        max: usize,
    },
    /// Snappy data did not decompress.
    #[error("snappy: {0}")]
    Snappy(#[from] snap::Error),
}

impl RlpxError {
    /// The Disconnect reason to send before closing, when the connection can
    /// still carry one.
    ///
    /// Handshake errors have none: no frame can be sent before the handshake
    /// completes. I/O errors have none: the socket is gone.
    pub fn disconnect_reason(&self) -> Option<DisconnectReason> {
        match self {
            RlpxError::Io(_)
            | RlpxError::HandshakeTimeout
            | RlpxError::Ecies(_)
            | RlpxError::InvalidHandshake(_)
            | RlpxError::InvalidSignature => None,
            RlpxError::HeaderMac
            | RlpxError::FrameMac
            | RlpxError::FrameTooLarge { .. }
            | RlpxError::MessageTooLarge { .. }
            | RlpxError::MalformedFrame(_)
            | RlpxError::DecompressedTooLarge { .. }
            | RlpxError::Snappy(_) => Some(DisconnectReason::ProtocolError),
            RlpxError::FrameStalled(_) => Some(DisconnectReason::PingTimeout),
        }
    }
}
