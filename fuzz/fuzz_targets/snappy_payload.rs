//! The receiver's snappy decompression and its 16 MiB declared-length check.
//!
//! Snappy is on at the receiver but off at the sender, so the fuzz bytes go
//! into a valid frame uncompressed and the receiver decompresses them as a
//! peer's snappy block. The first input byte is the message code (0, Hello, is
//! never compressed; 1, Disconnect, falls back to the raw data).
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use p2p_core::Msg;
use p2p_rlpx::{RlpxError, MAX_MESSAGE_SIZE};
use tokio_util::codec::{Decoder, Encoder};

fuzz_target!(|data: &[u8]| {
    let Some((&code, block)) = data.split_first() else {
        return;
    };
    let code = code as u64;
    let (mut tx, mut rx) = p2p_fuzz::codecs();
    tx.set_snappy(false);
    rx.set_snappy(true);
    let mut wire = BytesMut::new();
    tx.encode(Msg::new(code, block.to_vec()), &mut wire)
        .expect("small message encodes");

    let result = rx.decode(&mut wire);
    // What the snappy crate itself makes of the block, for comparison.
    let declared = snap::raw::decompress_len(block);
    // (Only within the limit: the reference would allocate what a block declares.)
    let reference = match declared {
        Ok(n) if n <= MAX_MESSAGE_SIZE => snap::raw::Decoder::new().decompress_vec(block),
        Ok(n) => Err(snap::Error::TooBig {
            given: n as u64,
            max: MAX_MESSAGE_SIZE as u64,
        }),
        Err(ref e) => Err(e.clone()),
    };
    match result {
        Ok(Some(msg)) => {
            assert_eq!(msg.code, code);
            match code {
                0 => assert_eq!(&msg.payload[..], block, "Hello is never decompressed"),
                1 if reference.is_err() => assert_eq!(&msg.payload[..], block),
                _ => {
                    let reference = reference.expect("decoded a block snappy rejects");
                    assert!(
                        reference.len() <= MAX_MESSAGE_SIZE,
                        "{} bytes",
                        reference.len()
                    );
                    assert_eq!(&msg.payload[..], &reference[..], "decompressed differently");
                }
            }
            assert!(wire.is_empty());
        }
        Ok(None) => panic!("complete frame not decoded"),
        Err(RlpxError::DecompressedTooLarge { declared: d, .. }) => {
            assert!(code > 1, "code {code}");
            assert_eq!(declared.ok(), Some(d));
            assert!(d > MAX_MESSAGE_SIZE);
        }
        Err(RlpxError::Snappy(_)) => {
            assert!(code > 1, "code {code}");
            assert!(
                reference.is_err(),
                "receiver rejected a block snappy accepts"
            );
        }
        Err(other) => panic!("unexpected error {other:?}"),
    }
});
