//! The RLPx frame codec (`rlpx.md`, "Framing"): every message travels as
//!
//! ```text
//! header-ciphertext (16) || header-mac (16) || frame-ciphertext (padded to 16) || frame-mac (16)
//! ```
//!
//! with AES-256-CTR over header and body as one continuous key stream per
//! direction, and the running keccak MACs of [`MacState`]. The frame body is
//! `rlp(code) || data`, the data snappy-compressed once both Hellos allow it.
//!
//! Sizes a peer announces are checked before anything is allocated for them:
//! the 24-bit frame size against [`FrameCodec::max_frame_size`], and the length
//! a snappy block declares against [`MAX_MESSAGE_SIZE`].

use aes::cipher::{KeyIvInit, StreamCipher};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use p2p_core::base::{DISCONNECT, HELLO};
use p2p_core::Msg;
use tokio_util::codec::{Decoder, Encoder};

use crate::error::RlpxError;
use crate::handshake::Secrets;
use crate::mac::{macs_equal, MacState};

/// The largest frame the 24-bit size field can announce: 16 MiB − 1.
pub const MAX_FRAME_SIZE: usize = 0xff_ffff;
/// The largest message data accepted after snappy decompression (16 MiB), as
/// go-ethereum sets it.
pub const MAX_MESSAGE_SIZE: usize = 16 * 1024 * 1024;

const HEADER_LEN: usize = 16;
const MAC_LEN: usize = 16;
/// `rlp([0, 0])`: capability id and context id, which no client uses.
const HEADER_DATA: [u8; 3] = [0xc2, 0x80, 0x80];

type Aes256Ctr = ctr::Ctr64BE<aes::Aes256>;

fn padded(len: usize) -> usize {
    (len + 15) & !15
}

/// Decoding state: waiting for a header, or for the body it announced.
#[derive(Clone, Copy, Debug)]
enum ReadState {
    Header,
    Body { frame_size: usize },
}

/// Encrypts, authenticates and frames [`Msg`]s in both directions.
///
/// Use it with `tokio_util::codec::Framed`, as [`crate::RlpxStream`] does, or
/// directly on buffers.
pub struct FrameCodec {
    egress_aes: Aes256Ctr,
    ingress_aes: Aes256Ctr,
    egress_mac: MacState,
    ingress_mac: MacState,
    snappy: bool,
    max_frame_size: usize,
    state: ReadState,
    decompressor: snap::raw::Decoder,
}

thread_local! {
    /// The snappy compressor of every connection that runs on this thread.
    ///
    /// Its hash table is 2 KiB, which a per-connection compressor would keep
    /// for every idle peer; a compressor holds no state between messages,
    /// so one per thread serves all of them.
    static COMPRESSOR: std::cell::RefCell<snap::raw::Encoder> =
        std::cell::RefCell::new(snap::raw::Encoder::new());
}

impl FrameCodec {
    /// A codec keyed by the handshake's secrets.
    pub fn new(secrets: Secrets) -> Self {
        // Both directions use the same key with a zero IV; each keeps its own
        // counter, which is what keeps them apart.
        let iv = [0u8; 16];
        FrameCodec {
            egress_aes: Aes256Ctr::new(&secrets.aes_secret.into(), &iv.into()),
            ingress_aes: Aes256Ctr::new(&secrets.aes_secret.into(), &iv.into()),
            egress_mac: secrets.egress_mac,
            ingress_mac: secrets.ingress_mac,
            snappy: false,
            max_frame_size: MAX_FRAME_SIZE,
            state: ReadState::Header,
            decompressor: snap::raw::Decoder::new(),
        }
    }

    /// Whether a frame's header has been read and its body not yet: the
    /// connection is in the middle of a frame.
    pub fn mid_frame(&self) -> bool {
        matches!(self.state, ReadState::Body { .. })
    }

    /// Turns snappy compression of message data on or off.
    pub fn set_snappy(&mut self, enabled: bool) {
        self.snappy = enabled;
    }

    /// Whether snappy is on.
    pub fn snappy(&self) -> bool {
        self.snappy
    }

    /// Lowers the largest frame accepted and sent (it cannot exceed
    /// [`MAX_FRAME_SIZE`]), to bound what one peer can make us buffer.
    pub fn set_max_frame_size(&mut self, max: usize) {
        self.max_frame_size = max.min(MAX_FRAME_SIZE);
    }

    /// The largest frame accepted and sent.
    pub fn max_frame_size(&self) -> usize {
        self.max_frame_size
    }

    fn decode_header(&mut self, src: &mut BytesMut) -> Result<usize, RlpxError> {
        let mut header: [u8; HEADER_LEN] = src[..HEADER_LEN].try_into().expect("checked");
        let expected = self.ingress_mac.header_mac(&header);
        if !macs_equal(&expected, &src[HEADER_LEN..HEADER_LEN + MAC_LEN]) {
            return Err(RlpxError::HeaderMac);
        }
        self.ingress_aes.apply_keystream(&mut header);
        let frame_size = u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
        if frame_size > self.max_frame_size {
            return Err(RlpxError::FrameTooLarge {
                size: frame_size,
                max: self.max_frame_size,
            });
        }
        if frame_size == 0 {
            return Err(RlpxError::MalformedFrame("empty frame"));
        }
        src.advance(HEADER_LEN + MAC_LEN);
        Ok(frame_size)
    }

    fn decode_body(&mut self, src: &mut BytesMut, frame_size: usize) -> Result<Msg, RlpxError> {
        let body_len = padded(frame_size);
        let expected = self.ingress_mac.frame_mac(&src[..body_len]);
        if !macs_equal(&expected, &src[body_len..body_len + MAC_LEN]) {
            return Err(RlpxError::FrameMac);
        }
        self.ingress_aes.apply_keystream(&mut src[..body_len]);
        let mut frame = src.split_to(body_len + MAC_LEN);
        frame.truncate(frame_size);
        let frame = frame.freeze();

        let (code, code_len) = decode_code(&frame)?;
        let data = frame.slice(code_len..);
        let payload = if self.snappy && code != HELLO {
            match self.decompress(&data) {
                Ok(plain) => plain,
                // Some clients send Disconnect uncompressed even after snappy
                // was agreed; read it as it came rather than fail the goodbye.
                Err(_) if code == DISCONNECT => data,
                Err(err) => return Err(err),
            }
        } else {
            data
        };
        Ok(Msg { code, payload })
    }

    fn decompress(&mut self, data: &[u8]) -> Result<Bytes, RlpxError> {
        let declared = snap::raw::decompress_len(data)?;
        if declared > MAX_MESSAGE_SIZE {
            return Err(RlpxError::DecompressedTooLarge {
                declared,
                max: MAX_MESSAGE_SIZE,
            });
        }
        let mut out = vec![0u8; declared];
        let n = self.decompressor.decompress(data, &mut out)?;
        out.truncate(n);
        Ok(out.into())
    }
}

/// Reads the message code, an RLP integer of at most 8 bytes, from the start of
/// a frame; returns it and its encoded length.
fn decode_code(frame: &[u8]) -> Result<(u64, usize), RlpxError> {
    let first = *frame
        .first()
        .ok_or(RlpxError::MalformedFrame("missing message code"))?;
    match first {
        // 0x00 is not canonical RLP for 0 (that is 0x80), but it cannot mean
        // anything else, and implementations that write the code as a raw byte
        // send it for Hello; accepting it costs nothing.
        0x00..=0x7f => Ok((first as u64, 1)),
        0x80 => Ok((0, 1)),
        0x81..=0x88 => {
            let len = (first - 0x80) as usize;
            let bytes = frame
                .get(1..1 + len)
                .ok_or(RlpxError::MalformedFrame("truncated message code"))?;
            if bytes[0] == 0 || (len == 1 && bytes[0] < 0x80) {
                return Err(RlpxError::MalformedFrame("non-canonical message code"));
            }
            let code = bytes.iter().fold(0u64, |acc, b| (acc << 8) | *b as u64);
            Ok((code, 1 + len))
        }
        _ => Err(RlpxError::MalformedFrame("message code is not an integer")),
    }
}

/// Writes the RLP encoding of `code` into `buf`, returning its length.
fn encode_code(code: u64, buf: &mut [u8; 9]) -> usize {
    if code == 0 {
        buf[0] = 0x80;
        return 1;
    }
    if code < 0x80 {
        buf[0] = code as u8;
        return 1;
    }
    let len = 8 - (code.leading_zeros() / 8) as usize;
    buf[0] = 0x80 + len as u8;
    buf[1..1 + len].copy_from_slice(&code.to_be_bytes()[8 - len..]);
    1 + len
}

impl Decoder for FrameCodec {
    type Item = Msg;
    type Error = RlpxError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Msg>, RlpxError> {
        if let ReadState::Header = self.state {
            if src.len() < HEADER_LEN + MAC_LEN {
                return Ok(None);
            }
            let frame_size = self.decode_header(src)?;
            self.state = ReadState::Body { frame_size };
        }
        let ReadState::Body { frame_size } = self.state else {
            unreachable!("header state handled above")
        };
        let needed = padded(frame_size) + MAC_LEN;
        if src.len() < needed {
            // Room grows with what arrives, not with what the header
            // announced: a peer that sends a header and stalls costs what
            // it sent.
            return Ok(None);
        }
        self.state = ReadState::Header;
        self.decode_body(src, frame_size).map(Some)
    }
}

impl Encoder<Msg> for FrameCodec {
    type Error = RlpxError;

    fn encode(&mut self, msg: Msg, dst: &mut BytesMut) -> Result<(), RlpxError> {
        let mut code = [0u8; 9];
        let code_len = encode_code(msg.code, &mut code);
        let plain_size = code_len + msg.payload.len();
        if plain_size > self.max_frame_size {
            return Err(RlpxError::MessageTooLarge {
                size: plain_size,
                max: self.max_frame_size,
            });
        }
        let compress = self.snappy && msg.code != HELLO;

        // Reserve the header, write the body, then fill the header in: with
        // snappy the frame size is known only after compressing.
        let header_at = dst.len();
        let body_at = header_at + HEADER_LEN + MAC_LEN;
        let max_data = if compress {
            snap::raw::max_compress_len(msg.payload.len())
        } else {
            msg.payload.len()
        };
        dst.reserve(HEADER_LEN + MAC_LEN + padded(code_len + max_data) + MAC_LEN);
        dst.put_bytes(0, HEADER_LEN + MAC_LEN);
        dst.extend_from_slice(&code[..code_len]);
        let data_at = dst.len();
        if compress {
            dst.resize(data_at + max_data, 0);
            let compressed = COMPRESSOR.with(|compressor| {
                compressor
                    .borrow_mut()
                    .compress(&msg.payload, &mut dst[data_at..])
            });
            let n = match compressed {
                Ok(n) => n,
                Err(err) => {
                    dst.truncate(header_at);
                    return Err(err.into());
                }
            };
            dst.truncate(data_at + n);
        } else {
            dst.extend_from_slice(&msg.payload);
        }
        let frame_size = dst.len() - body_at;
        if frame_size > self.max_frame_size {
            // Incompressible data can grow past the limit; nothing was
            // encrypted yet, so the stream stays intact.
            dst.truncate(header_at);
            return Err(RlpxError::MessageTooLarge {
                size: frame_size,
                max: self.max_frame_size,
            });
        }
        dst.resize(body_at + padded(frame_size), 0);

        let mut header = [0u8; HEADER_LEN];
        header[..3].copy_from_slice(&(frame_size as u32).to_be_bytes()[1..]);
        header[3..6].copy_from_slice(&HEADER_DATA);
        self.egress_aes.apply_keystream(&mut header);
        let header_mac = self.egress_mac.header_mac(&header);
        dst[header_at..header_at + HEADER_LEN].copy_from_slice(&header);
        dst[header_at + HEADER_LEN..body_at].copy_from_slice(&header_mac);

        self.egress_aes.apply_keystream(&mut dst[body_at..]);
        let frame_mac = self.egress_mac.frame_mac(&dst[body_at..]);
        dst.extend_from_slice(&frame_mac);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_codes_round_trip_as_canonical_rlp() {
        for code in [
            0u64,
            1,
            0x10,
            0x7f,
            0x80,
            0xff,
            0x100,
            0xffff_ffff,
            u64::MAX,
        ] {
            let mut buf = [0u8; 9];
            let n = encode_code(code, &mut buf);
            assert_eq!(&buf[..n], rlp::encode(&code).as_ref(), "{code}");
            assert_eq!(decode_code(&buf[..n]).unwrap(), (code, n));
        }
        assert!(decode_code(&[0x81, 0x05]).is_err(), "non-canonical");
        assert!(decode_code(&[0x82, 0x00, 0x80]).is_err(), "leading zero");
        assert!(decode_code(&[0x82, 0x01]).is_err(), "truncated");
        assert!(decode_code(&[0xc0]).is_err(), "list");
        assert!(
            decode_code(&[0x89, 1, 2, 3, 4, 5, 6, 7, 8, 9]).is_err(),
            "too long"
        );
    }
}
