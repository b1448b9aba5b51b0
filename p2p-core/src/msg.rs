//! The unit every devp2p layer exchanges: a message code and its RLP payload.

use bytes::Bytes;

/// One devp2p message: its code and its payload (the RLP-encoded message data,
/// uncompressed).
///
/// Codes below [`BASE_PROTOCOL_LENGTH`](crate::base::BASE_PROTOCOL_LENGTH) belong to
/// the base protocol; capabilities get theirs from an offset above it. The payload
/// is a [`Bytes`], so the frame codec hands a decrypted buffer to a handler
/// without copying it.
#[derive(Clone, PartialEq, Eq)]
pub struct Msg {
    /// The message code (an RLP integer on the wire).
    pub code: u64,
    /// The RLP-encoded message data.
    pub payload: Bytes,
}

impl Msg {
    /// A message from a code and an already encoded payload.
    pub fn new(code: u64, payload: impl Into<Bytes>) -> Self {
        Msg {
            code,
            payload: payload.into(),
        }
    }

    /// A message whose payload is the RLP encoding of `value`.
    pub fn encode<T: rlp::Encodable>(code: u64, value: &T) -> Self {
        Msg::new(code, rlp::encode(value).freeze())
    }

    /// Decodes the payload as exactly one `T`: bytes after it are an error
    /// (see [`decode_exact`](crate::message::decode_exact)).
    pub fn decode<T: rlp::Decodable>(&self) -> Result<T, rlp::DecoderError> {
        crate::message::decode_exact(&self.payload)
    }
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Msg")
            .field("code", &format_args!("{:#04x}", self.code))
            .field("len", &self.payload.len())
            .finish()
    }
}
