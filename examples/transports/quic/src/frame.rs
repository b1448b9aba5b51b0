//! Messages on a QUIC stream: each a 4-byte big-endian length and a body,
//! the body being the message code (an RLP integer) and the payload, as in
//! an RLPx frame. QUIC already encrypts, authenticates and orders the
//! stream, so nothing else is needed: no MAC, no padding, no frame header.
//! After a Hello of version 5 on both sides the payload is snappy
//! compressed, as over RLPx, so that the two transports carry the same
//! bytes.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use p2p_core::Msg;
use tokio_util::codec::{Decoder, Encoder};

use crate::error::QuicError;

/// Bytes of the length before each message.
const LENGTH_PREFIX: usize = 4;

/// Reads and writes messages on one stream.
#[derive(Debug)]
pub struct MessageCodec {
    /// Longest body and longest decompressed payload accepted.
    max_message: usize,
    snappy: bool,
}

impl MessageCodec {
    /// A codec refusing bodies and decompressed payloads over `max_message`
    /// bytes.
    pub fn new(max_message: usize) -> Self {
        MessageCodec {
            max_message,
            snappy: false,
        }
    }

    /// A codec as [`new`](Self::new), with snappy on or off from the start.
    pub fn with_snappy(max_message: usize, snappy: bool) -> Self {
        MessageCodec {
            max_message,
            snappy,
        }
    }

    /// Turns snappy compression of payloads on or off.
    pub fn set_snappy(&mut self, enabled: bool) {
        self.snappy = enabled;
    }

    fn too_large(&self, size: usize) -> QuicError {
        QuicError::MessageTooLarge {
            size,
            limit: self.max_message,
        }
    }
}

impl Decoder for MessageCodec {
    type Item = Msg;
    type Error = QuicError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Msg>, QuicError> {
        if src.len() < LENGTH_PREFIX {
            return Ok(None);
        }
        let len = u32::from_be_bytes(src[..LENGTH_PREFIX].try_into().expect("4 bytes")) as usize;
        // Checked before waiting for the body, so that a peer announcing a
        // huge message cannot make us buffer it.
        if len > self.max_message {
            return Err(self.too_large(len));
        }
        if src.len() < LENGTH_PREFIX + len {
            src.reserve(LENGTH_PREFIX + len - src.len());
            return Ok(None);
        }
        src.advance(LENGTH_PREFIX);
        let mut body = src.split_to(len).freeze();
        let code: u64 = {
            let rlp = rlp_head(&body)?;
            let code = p2p_core::rlp::decode(&body[..rlp])
                .map_err(|_| QuicError::Malformed("message code"))?;
            body.advance(rlp);
            code
        };
        let payload = if self.snappy {
            self.decompress(&body)?
        } else {
            body
        };
        Ok(Some(Msg::new(code, payload)))
    }
}

impl MessageCodec {
    fn decompress(&self, data: &[u8]) -> Result<Bytes, QuicError> {
        let size = snap::raw::decompress_len(data).map_err(|_| QuicError::Malformed("snappy"))?;
        if size > self.max_message {
            return Err(self.too_large(size));
        }
        let mut out = vec![0; size];
        snap::raw::Decoder::new()
            .decompress(data, &mut out)
            .map_err(|_| QuicError::Malformed("snappy"))?;
        Ok(out.into())
    }
}

/// The length of the RLP item at the start of `body`: the code, an RLP
/// integer of at most 8 bytes.
fn rlp_head(body: &[u8]) -> Result<usize, QuicError> {
    match body.first() {
        None => Err(QuicError::Malformed("empty message")),
        Some(&b) if b < 0x80 => Ok(1),
        Some(&b) if b <= 0x88 && body.len() > usize::from(b - 0x80) => {
            Ok(1 + usize::from(b - 0x80))
        }
        Some(_) => Err(QuicError::Malformed("message code")),
    }
}

impl Encoder<Msg> for MessageCodec {
    type Error = QuicError;

    fn encode(&mut self, msg: Msg, dst: &mut BytesMut) -> Result<(), QuicError> {
        let code = p2p_core::rlp::encode(&msg.code);
        let payload: Bytes = if self.snappy {
            snap::raw::Encoder::new()
                .compress_vec(&msg.payload)
                .map_err(|_| self.too_large(msg.payload.len()))?
                .into()
        } else {
            msg.payload
        };
        let len = code.len() + payload.len();
        // Our own limit applies to what we send too: the peer would refuse it.
        if len > self.max_message {
            return Err(self.too_large(len));
        }
        dst.reserve(LENGTH_PREFIX + len);
        dst.put_u32(len as u32);
        dst.put_slice(&code);
        dst.put_slice(&payload);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(snappy: bool, msg: Msg) -> Msg {
        let mut codec = MessageCodec::new(1 << 20);
        codec.set_snappy(snappy);
        let mut buf = BytesMut::new();
        codec.encode(msg, &mut buf).unwrap();
        // Fed byte by byte: a message split anywhere is read whole.
        let mut input = BytesMut::new();
        let mut out = None;
        for byte in buf {
            input.put_u8(byte);
            if let Some(msg) = codec.decode(&mut input).unwrap() {
                out = Some(msg);
            }
        }
        assert!(input.is_empty());
        out.expect("one message")
    }

    #[test]
    fn messages_round_trip_with_and_without_snappy() {
        for snappy in [false, true] {
            for code in [0, 0x10, 0x7f, 0x80, 0x1234, u64::MAX] {
                let msg = Msg::new(code, Bytes::from(vec![0xc0; 300]));
                assert_eq!(roundtrip(snappy, msg.clone()), msg);
            }
        }
    }

    #[test]
    fn an_announced_length_over_the_limit_fails_before_the_body() {
        let mut codec = MessageCodec::new(1024);
        let mut input = BytesMut::from(&[0, 0, 4, 1][..]);
        assert!(matches!(
            codec.decode(&mut input),
            Err(QuicError::MessageTooLarge {
                size: 1025,
                limit: 1024
            })
        ));
    }

    #[test]
    fn a_decompressed_size_over_the_limit_is_refused() {
        let big = snap::raw::Encoder::new()
            .compress_vec(&vec![0; 4096])
            .unwrap();
        let mut input = BytesMut::new();
        input.put_u32(1 + big.len() as u32);
        input.put_u8(0x10);
        input.put_slice(&big);
        let mut codec = MessageCodec::new(1024);
        codec.set_snappy(true);
        assert!(matches!(
            codec.decode(&mut input),
            Err(QuicError::MessageTooLarge { size: 4096, .. })
        ));
    }

    #[test]
    fn malformed_codes_are_refused() {
        for body in [
            &[][..],
            &[0x89, 1, 2, 3, 4, 5, 6, 7, 8, 9][..],
            &[0x82, 1][..],
        ] {
            let mut input = BytesMut::new();
            input.put_u32(body.len() as u32);
            input.put_slice(body);
            assert!(matches!(
                MessageCodec::new(1024).decode(&mut input),
                Err(QuicError::Malformed(_))
            ));
        }
    }
}
