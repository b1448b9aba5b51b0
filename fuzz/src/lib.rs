//! Shared set-up of the fuzz targets: fixed keys and frame secrets derived
//! deterministically, without I/O, from a real auth/ack exchange.

use std::sync::OnceLock;

use aes::cipher::{KeyIvInit, StreamCipher};
use p2p_core::NodeKey;
use p2p_rlpx::handshake::in_memory;
use p2p_rlpx::mac::MacState;
use p2p_rlpx::{FrameCodec, Secrets};
use rand::rngs::StdRng;
use rand::SeedableRng;

/// EIP-8 test vector `static_key_a` (the initiator).
pub const STATIC_KEY_A: &str = "49a7b37aa6f6645917e7b807e9d1c00d4fa71f18343b0d4122a4d2df64dd6fee";
/// EIP-8 test vector `static_key_b` (the recipient; auth and ack are sealed to it in `auth_ack`).
pub const STATIC_KEY_B: &str = "b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291";

fn bytes32(hex_str: &str) -> [u8; 32] {
    hex::decode(hex_str).unwrap().try_into().unwrap()
}

/// A node key from 32 hex-encoded secret bytes.
pub fn node_key(hex_str: &str) -> NodeKey {
    NodeKey::from_bytes(bytes32(hex_str)).unwrap()
}

/// The initiator's and the recipient's secrets of one deterministic handshake.
pub fn session() -> &'static (Secrets, Secrets) {
    static SESSION: OnceLock<(Secrets, Secrets)> = OnceLock::new();
    SESSION.get_or_init(|| {
        let mut rng = StdRng::seed_from_u64(0x5eed);
        in_memory(
            &node_key(STATIC_KEY_A),
            &node_key(STATIC_KEY_B),
            true,
            &mut rng,
        )
        .expect("deterministic handshake")
    })
}

/// A fresh (sender, receiver) pair of codecs on the same session: what the
/// sender encodes, the receiver decodes.
pub fn codecs() -> (FrameCodec, FrameCodec) {
    let (initiator, recipient) = session();
    (
        FrameCodec::new(initiator.clone()),
        FrameCodec::new(recipient.clone()),
    )
}

/// A frame writer on the sender's keys that seals arbitrary header and body
/// plaintexts, so the receiver's parsing behind the MACs can be fuzzed with
/// content the real encoder never produces. Only valid for the first frames of
/// the session (it starts from the session's initial state).
pub struct RawSealer {
    aes: ctr::Ctr64BE<aes::Aes256>,
    mac: MacState,
}

impl RawSealer {
    /// A sealer in the state of a fresh sender codec.
    pub fn new() -> Self {
        let (initiator, _) = session();
        RawSealer {
            aes: ctr::Ctr64BE::<aes::Aes256>::new(&initiator.aes_secret.into(), &[0u8; 16].into()),
            mac: initiator.egress_mac.clone(),
        }
    }

    /// Appends `header || header-mac || body (zero-padded to 16) || frame-mac`.
    pub fn seal(&mut self, header: [u8; 16], body: &[u8], out: &mut Vec<u8>) {
        let mut header = header;
        self.aes.apply_keystream(&mut header);
        let header_mac = self.mac.header_mac(&header);
        out.extend_from_slice(&header);
        out.extend_from_slice(&header_mac);
        let mut body = body.to_vec();
        body.resize(body.len().div_ceil(16) * 16, 0);
        self.aes.apply_keystream(&mut body);
        let frame_mac = self.mac.frame_mac(&body);
        out.extend_from_slice(&body);
        out.extend_from_slice(&frame_mac);
    }
}

impl Default for RawSealer {
    fn default() -> Self {
        Self::new()
    }
}
