//! The frame codec's receiving side against hostile bytes.
//!
//! The first input byte picks a mode:
//! - 0 `raw`: the rest goes straight to the receiver's decoder, which must
//!   return an error or `None` (no forged message), never panic;
//! - 1 `tamper`: the sender encodes a message with a fuzz-chosen code, payload
//!   and snappy flag; the wire bytes are left alone, or one byte is flipped,
//!   or they are truncated, or both; the receiver then decodes. Intact bytes
//!   must give back the message; flipped bytes an error; a strict prefix
//!   `None` (needs more); never the original message from modified bytes;
//! - 2 `sealed`: a frame with a fuzz-chosen header (size and header-data) and
//!   body, encrypted and MACed with the session keys, so the receiver's
//!   parsing behind the MACs (message code RLP, empty frames, snappy) is
//!   reached with content the real encoder never writes. With flag bit 2 the
//!   header declares a fuzz-chosen size instead of the body's: a frame
//!   declaring more than was sent must wait for more bytes (or be refused as
//!   too large), one declaring fewer padded blocks must fail its frame MAC,
//!   never decode.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use p2p_core::Msg;
use p2p_rlpx::{FrameCodec, RlpxError};
use tokio_util::codec::{Decoder, Encoder};

/// Reads fixed-size fields off the front of the input, zeros when it runs out.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        let n = N.min(self.0.len());
        out[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        out
    }
}

/// Decodes until the decoder wants more or fails; returns every result.
fn drain(codec: &mut FrameCodec, buf: &mut BytesMut) -> Vec<Result<Option<Msg>, RlpxError>> {
    let mut results = Vec::new();
    loop {
        let r = codec.decode(buf);
        let stop = !matches!(r, Ok(Some(_)));
        results.push(r);
        if stop {
            return results;
        }
    }
}

fn raw(rest: &[u8]) {
    let (_, mut rx) = p2p_fuzz::codecs();
    let mut buf = BytesMut::from(rest);
    for r in drain(&mut rx, &mut buf) {
        assert!(
            !matches!(r, Ok(Some(_))),
            "random bytes decoded to a message: {r:?}"
        );
    }
}

fn tamper(rest: &[u8]) {
    let mut input = Input(rest);
    let [flags] = input.take::<1>();
    let code_bytes = input.take::<8>();
    let pos = u32::from_le_bytes(input.take::<4>()) as usize;
    let cut = u32::from_le_bytes(input.take::<4>()) as usize;
    let [mask] = input.take::<1>();
    let payload = input.0;

    let snappy = flags & 1 != 0;
    let flip = flags & 2 != 0;
    let truncate = flags & 4 != 0;
    let warm_up = flags & 8 != 0;
    // Shift so that short codes (the common case) are as likely as long ones.
    let code = u64::from_le_bytes(code_bytes) >> (8 * ((flags >> 4) & 7));
    let msg = Msg::new(code, payload.to_vec());

    let (mut tx, mut rx) = p2p_fuzz::codecs();
    tx.set_snappy(snappy);
    rx.set_snappy(snappy);
    if warm_up {
        // Move both sides off their initial CTR/MAC state first.
        let ping = p2p_core::base::ping_msg();
        let mut wire = BytesMut::new();
        tx.encode(ping.clone(), &mut wire).expect("encode ping");
        assert_eq!(rx.decode(&mut wire).expect("decode ping"), Some(ping));
    }

    let mut wire = BytesMut::new();
    if tx.encode(msg.clone(), &mut wire).is_err() {
        return;
    }
    let len = wire.len();
    if truncate {
        wire.truncate(cut % len);
    }
    if flip && !wire.is_empty() {
        let at = pos % wire.len();
        wire[at] ^= if mask == 0 { 0x01 } else { mask };
    }

    let results = drain(&mut rx, &mut wire);
    match (flip, truncate) {
        (false, false) => {
            assert_eq!(results.len(), 2, "{results:?}");
            assert_eq!(
                results[0].as_ref().unwrap(),
                &Some(msg.clone()),
                "round trip"
            );
            assert!(matches!(results[1], Ok(None)), "{results:?}");
            assert!(wire.is_empty(), "{} bytes left", wire.len());
        }
        (true, false) => {
            assert!(
                results.len() == 1 && results[0].is_err(),
                "flipped byte accepted: {results:?}"
            );
        }
        (false, true) => {
            assert!(
                matches!(results[..], [Ok(None)]),
                "truncated frame: {results:?}"
            );
        }
        (true, true) => {
            for r in &results {
                assert!(!matches!(r, Ok(Some(_))), "modified frame accepted: {r:?}");
            }
        }
    }
    for r in &results {
        if let Ok(Some(got)) = r {
            assert!(
                !(flip || truncate) || got != &msg,
                "modified bytes gave the original message"
            );
        }
    }
}

fn sealed(rest: &[u8]) {
    let mut input = Input(rest);
    let [flags] = input.take::<1>();
    let header_data = input.take::<13>();
    let body = input.0;

    let (_, mut rx) = p2p_fuzz::codecs();
    rx.set_snappy(flags & 1 != 0);
    let mut header = [0u8; 16];
    let actual = body.len().min(0xff_ffff) as u32;
    let mis_sized = flags & 2 != 0;
    let size = if mis_sized {
        u32::from_be_bytes([0, header_data[10], header_data[11], header_data[12]])
    } else {
        actual
    };
    header[..3].copy_from_slice(&size.to_be_bytes()[1..]);
    header[3..].copy_from_slice(&header_data);
    let mut wire = Vec::new();
    p2p_fuzz::RawSealer::new().seal(header, body, &mut wire);

    let mut buf = BytesMut::from(&wire[..]);
    let results = drain(&mut rx, &mut buf);
    let blocks = |n: u32| n.div_ceil(16);
    if blocks(size) == blocks(actual) {
        // The frame is complete: the first result is a message or an error.
        assert!(
            !matches!(results[0], Ok(None)),
            "complete frame not decoded: {results:?}"
        );
    } else if blocks(size) > blocks(actual) {
        // Declares more than was sent: wait for it, or refuse the size.
        assert!(
            matches!(results[..], [Ok(None)] | [Err(_)]),
            "frame declaring {size} bytes with {actual} sent: {results:?}"
        );
    } else {
        // Declares fewer blocks: the frame MAC is read from the body's bytes.
        assert!(
            matches!(results[..], [Err(_)]),
            "frame declaring {size} bytes with {actual} sent: {results:?}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => raw(rest),
        1 => tamper(rest),
        _ => sealed(rest),
    }
});
