//! Shared set-up of the fuzz targets: fixed keys and frame secrets derived
//! deterministically, without I/O, from a real auth/ack exchange.

use std::sync::OnceLock;

use aes::cipher::{KeyIvInit, StreamCipher};
use p2p_core::NodeKey;
use p2p_rlpx::handshake::{
    decode_ack, decode_auth, encode_ack, encode_auth, HandshakeTranscript, Role,
};
use p2p_rlpx::mac::MacState;
use p2p_rlpx::{FrameCodec, Secrets};
use rand::rngs::StdRng;
use rand::SeedableRng;
use secp256k1::SecretKey;

/// EIP-8 test vector `static_key_a` (the initiator).
pub const STATIC_KEY_A: &str = "49a7b37aa6f6645917e7b807e9d1c00d4fa71f18343b0d4122a4d2df64dd6fee";
/// EIP-8 test vector `static_key_b` (the recipient; auth and ack are sealed to it in `auth_ack`).
pub const STATIC_KEY_B: &str = "b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291";
const EPHEMERAL_KEY_A: &str = "869d6ecf5211f1cc60418a13b9d870b22959d0c16f02bec714c960dd2298a32d";
const EPHEMERAL_KEY_B: &str = "e238eb8e04fee6511ab04c6dd3c89ce097b11f25d584863ac2b6d5b35b1847e4";
const NONCE_A: &str = "7e968bba13b6c50e2c4cd7f241cc0d64d1ac25c7f5952df231ac6a2bda8ee5d6";
const NONCE_B: &str = "559aead08264d5795d3909718cdd05abd49572e84fe55590eef31a88a08fdffd";

fn bytes32(hex_str: &str) -> [u8; 32] {
    hex::decode(hex_str).unwrap().try_into().unwrap()
}

/// A node key from 32 hex-encoded secret bytes.
pub fn node_key(hex_str: &str) -> NodeKey {
    NodeKey::from_bytes(bytes32(hex_str)).unwrap()
}

/// A secret key from 32 hex-encoded bytes.
pub fn secret_key(hex_str: &str) -> SecretKey {
    SecretKey::from_secret_bytes(bytes32(hex_str)).unwrap()
}

/// A field-by-field copy ([`Secrets`] is not `Clone`).
pub fn copy_secrets(s: &Secrets) -> Secrets {
    Secrets {
        aes_secret: s.aes_secret,
        mac_secret: s.mac_secret,
        egress_mac: s.egress_mac.clone(),
        ingress_mac: s.ingress_mac.clone(),
        remote_id: s.remote_id,
    }
}

/// The initiator's and the recipient's secrets of one deterministic handshake.
pub fn session() -> &'static (Secrets, Secrets) {
    static SESSION: OnceLock<(Secrets, Secrets)> = OnceLock::new();
    SESSION.get_or_init(|| {
        let key_a = node_key(STATIC_KEY_A);
        let key_b = node_key(STATIC_KEY_B);
        let eph_a = secret_key(EPHEMERAL_KEY_A);
        let eph_b = secret_key(EPHEMERAL_KEY_B);
        let (nonce_a, nonce_b) = (bytes32(NONCE_A), bytes32(NONCE_B));
        let mut rng = StdRng::seed_from_u64(0x5eed);
        let auth = encode_auth(&key_a, key_b.public(), &eph_a, &nonce_a, &mut rng);
        let auth_seen = decode_auth(&key_b, &auth).unwrap();
        let ack = encode_ack(&auth_seen.initiator, &eph_b, &nonce_b, true, &mut rng);
        let ack_seen = decode_ack(&key_a, &ack).unwrap();
        let initiator = HandshakeTranscript {
            role: Role::Initiator,
            ephemeral: &eph_a,
            remote_ephemeral: &ack_seen.recipient_ephemeral,
            initiator_nonce: &nonce_a,
            recipient_nonce: &ack_seen.nonce,
            auth: &auth,
            ack: &ack,
            remote_id: key_b.id(),
        }
        .secrets();
        let recipient = HandshakeTranscript {
            role: Role::Recipient,
            ephemeral: &eph_b,
            remote_ephemeral: &auth_seen.initiator_ephemeral,
            initiator_nonce: &auth_seen.nonce,
            recipient_nonce: &nonce_b,
            auth: &auth,
            ack: &ack,
            remote_id: key_a.id(),
        }
        .secrets();
        (initiator, recipient)
    })
}

/// A fresh (sender, receiver) pair of codecs on the same session: what the
/// sender encodes, the receiver decodes.
pub fn codecs() -> (FrameCodec, FrameCodec) {
    let (initiator, recipient) = session();
    (
        FrameCodec::new(copy_secrets(initiator)),
        FrameCodec::new(copy_secrets(recipient)),
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
