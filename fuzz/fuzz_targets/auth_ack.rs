//! Arbitrary bytes into `decode_auth` / `decode_ack` for a fixed node key.
//!
//! Random bytes almost never pass the ECIES tag, so the first input byte picks
//! a mode:
//! - 0 `raw`: the rest goes to the decoders as it is;
//! - 1 `sealed`: the rest is the plaintext body of an EIP-8 message, sealed to
//!   the key with `ecies::encrypt_into` and the 2-byte size prefix as shared
//!   MAC data (as `handshake.rs` does), so the RLP parsing behind the tag is
//!   reached;
//! - 2 `legacy`: the rest, cut or zero-padded to the legacy body size, sealed
//!   without shared MAC data at exactly the legacy wire length.
//!
//! Decoding may fail; it must never panic.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use p2p_core::NodeKey;
use p2p_rlpx::ecies::{encrypt_into, ECIES_OVERHEAD};
use p2p_rlpx::handshake::{decode_ack, decode_auth, LEGACY_ACK_LEN, LEGACY_AUTH_LEN};
use secp256k1::SecretKey;

fn key() -> &'static NodeKey {
    static KEY: OnceLock<NodeKey> = OnceLock::new();
    KEY.get_or_init(|| p2p_fuzz::node_key(p2p_fuzz::STATIC_KEY_B))
}

fn ephemeral() -> &'static SecretKey {
    static EPH: OnceLock<SecretKey> = OnceLock::new();
    EPH.get_or_init(|| SecretKey::from_secret_bytes([0x42; 32]).unwrap())
}

fn seal_eip8(plain: &[u8]) -> Vec<u8> {
    let plain = &plain[..plain.len().min(u16::MAX as usize - ECIES_OVERHEAD)];
    let size = ((plain.len() + ECIES_OVERHEAD) as u16).to_be_bytes();
    let mut wire = size.to_vec();
    encrypt_into(
        key().public(),
        ephemeral(),
        [7; 16],
        plain,
        &size,
        &mut wire,
    );
    wire
}

fn seal_legacy(plain: &[u8], wire_len: usize) -> Vec<u8> {
    let mut body = plain.to_vec();
    body.resize(wire_len - ECIES_OVERHEAD, 0);
    let mut wire = Vec::new();
    encrypt_into(key().public(), ephemeral(), [7; 16], &body, &[], &mut wire);
    assert_eq!(wire.len(), wire_len);
    wire
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => {
            let _ = decode_auth(key(), rest);
            let _ = decode_ack(key(), rest);
        }
        1 => {
            let wire = seal_eip8(rest);
            let _ = decode_auth(key(), &wire);
            let _ = decode_ack(key(), &wire);
        }
        _ => {
            let _ = decode_auth(key(), &seal_legacy(rest, LEGACY_AUTH_LEN));
            let _ = decode_ack(key(), &seal_legacy(rest, LEGACY_ACK_LEN));
        }
    }
});
