//! Property tests of what users of the transport rely on: frames round-trip in
//! any chunking with the CTR/MAC state in sync, tampering and truncation are
//! never mistaken for a message, ECIES round-trips and authenticates, and the
//! EIP-8 handshake messages round-trip into matching secrets.
//!
//! Secrets are derived without I/O from `encode_auth`/`encode_ack` with a
//! seeded RNG, as the async drivers would derive them.

use std::sync::OnceLock;

use bytes::BytesMut;
use p2p_core::{Msg, NodeKey, PeerId};
use p2p_rlpx::ecies::{decrypt, encrypt_into, ECIES_OVERHEAD};
use p2p_rlpx::handshake::{
    self, decode_ack, decode_auth, encode_ack, encode_auth, HandshakeTranscript, Role,
    HANDSHAKE_VERSION, MAX_PADDING, MIN_PADDING,
};
use p2p_rlpx::{FrameCodec, RlpxError, Secrets};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;
use secp256k1::{PublicKey, SecretKey};
use tokio_util::codec::{Decoder, Encoder};

/// One handshake run in memory: both ends' secrets and what went over the wire.
struct Handshake {
    initiator: Secrets,
    recipient: Secrets,
    key_a: NodeKey,
    key_b: NodeKey,
}

/// Runs auth → ack in memory between two keys drawn from `seed`, the ack in
/// EIP-8 or the legacy format, and derives both ends' secrets.
fn handshake(seed: u64, eip8_ack: bool) -> Handshake {
    let mut rng = StdRng::seed_from_u64(seed);
    let key_a = NodeKey::from_secret(SecretKey::new(&mut rng));
    let key_b = NodeKey::from_secret(SecretKey::new(&mut rng));
    let (initiator, recipient) =
        handshake::in_memory(&key_a, &key_b, eip8_ack, &mut rng).expect("own handshake");
    Handshake {
        initiator,
        recipient,
        key_a,
        key_b,
    }
}

/// A fresh (initiator, recipient) codec pair on one fixed session.
fn codecs(snappy: bool) -> (FrameCodec, FrameCodec) {
    static SESSION: OnceLock<Handshake> = OnceLock::new();
    let h = SESSION.get_or_init(|| handshake(7, true));
    let mut a = FrameCodec::new(h.initiator.clone());
    let mut b = FrameCodec::new(h.recipient.clone());
    a.set_snappy(snappy);
    b.set_snappy(snappy);
    (a, b)
}

/// Encodes each message separately; returns the frames.
fn encode_all(tx: &mut FrameCodec, msgs: &[Msg]) -> Vec<Vec<u8>> {
    msgs.iter()
        .map(|m| {
            let mut buf = BytesMut::new();
            tx.encode(m.clone(), &mut buf).expect("encode");
            buf.to_vec()
        })
        .collect()
}

/// Feeds `wire` to `rx` through `buf` in chunks of the given sizes (cycled),
/// decoding after each chunk until the decoder wants more. Returns the
/// messages, or the first error with the number of messages decoded before it.
fn feed_into(
    rx: &mut FrameCodec,
    buf: &mut BytesMut,
    wire: &[u8],
    chunks: &[usize],
) -> Result<Vec<Msg>, (usize, RlpxError)> {
    let mut out = Vec::new();
    let mut at = 0;
    let mut sizes = chunks.iter().cycle();
    while at < wire.len() {
        let n = (*sizes.next().unwrap()).clamp(1, wire.len() - at);
        buf.extend_from_slice(&wire[at..at + n]);
        at += n;
        loop {
            match rx.decode(buf) {
                Ok(Some(m)) => out.push(m),
                Ok(None) => break,
                Err(e) => return Err((out.len(), e)),
            }
        }
    }
    Ok(out)
}

/// [`feed_into`] a fresh buffer, which must be used up.
fn feed(
    rx: &mut FrameCodec,
    wire: &[u8],
    chunks: &[usize],
) -> Result<Vec<Msg>, (usize, RlpxError)> {
    let mut buf = BytesMut::new();
    let out = feed_into(rx, &mut buf, wire, chunks)?;
    assert!(buf.is_empty(), "{} bytes left undecoded", buf.len());
    Ok(out)
}

fn msg_strategy(max_payload: usize) -> impl Strategy<Value = Msg> {
    (
        prop_oneof![0u64..0x20, any::<u64>()],
        prop::collection::vec(any::<u8>(), 0..max_payload),
        any::<bool>(),
    )
        .prop_map(|(code, mut payload, repetitive)| {
            // Half the payloads compressible, so snappy really shrinks some.
            if repetitive {
                for (i, b) in payload.iter_mut().enumerate() {
                    *b = (i % 7) as u8;
                }
            }
            Msg::new(code, payload)
        })
}

fn secret_key() -> impl Strategy<Value = SecretKey> {
    any::<[u8; 32]>().prop_filter_map("not a valid scalar", |b| {
        SecretKey::from_secret_bytes(b).ok()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Messages in sequence, in both directions, split at arbitrary points:
    /// each comes out as it went in, and nothing is left over.
    #[test]
    fn frames_round_trip_in_any_chunking(
        msgs in prop::collection::vec(msg_strategy(4096), 1..6),
        snappy in any::<bool>(),
        chunks in prop::collection::vec(1usize..700, 1..8),
    ) {
        let (mut a, mut b) = codecs(snappy);
        let wire = encode_all(&mut a, &msgs).concat();
        prop_assert_eq!(feed(&mut b, &wire, &chunks).map_err(|e| e.1.to_string()), Ok(msgs.clone()));
        // The other direction, then the first again: each direction's state is
        // independent and stays in sync.
        let back = encode_all(&mut b, &msgs).concat();
        prop_assert_eq!(feed(&mut a, &back, &chunks).map_err(|e| e.1.to_string()), Ok(msgs.clone()));
        let again = encode_all(&mut a, &msgs[..1]).concat();
        prop_assert_eq!(feed(&mut b, &again, &chunks).map_err(|e| e.1.to_string()), Ok(msgs[..1].to_vec()));
    }

    /// One flipped bit anywhere in a stream of frames: the frames before the
    /// damaged one decode, the damaged one is an error, never a message (neither
    /// the original nor another one).
    #[test]
    fn single_bit_flips_are_rejected(
        msgs in prop::collection::vec(msg_strategy(600), 1..4),
        snappy in any::<bool>(),
        bit in any::<prop::sample::Index>(),
        chunks in prop::collection::vec(1usize..200, 1..4),
    ) {
        let (mut a, mut b) = codecs(snappy);
        let frames = encode_all(&mut a, &msgs);
        let mut wire = frames.concat();
        let bit = bit.index(wire.len() * 8);
        wire[bit / 8] ^= 1 << (bit % 8);
        // The frame the flipped bit lies in.
        let mut damaged = 0;
        let mut end = frames[0].len();
        while bit / 8 >= end {
            damaged += 1;
            end += frames[damaged].len();
        }
        match feed(&mut b, &wire, &chunks) {
            Ok(got) => prop_assert!(false, "flip in frame {} accepted: {:?}", damaged, got),
            Err((decoded, err)) => {
                prop_assert_eq!(decoded, damaged, "error at the wrong frame: {}", err);
                prop_assert!(
                    matches!(err, RlpxError::HeaderMac | RlpxError::FrameMac),
                    "not a MAC error: {}", err
                );
            }
        }
    }

    /// A stream cut anywhere: the complete frames decode, then the decoder asks
    /// for more (`None`) and reports no error, however the bytes arrive.
    #[test]
    fn truncated_streams_wait_for_more(
        msgs in prop::collection::vec(msg_strategy(600), 1..4),
        snappy in any::<bool>(),
        cut in any::<prop::sample::Index>(),
        chunks in prop::collection::vec(1usize..200, 1..4),
    ) {
        let (mut a, mut b) = codecs(snappy);
        let frames = encode_all(&mut a, &msgs);
        let wire = frames.concat();
        let cut = cut.index(wire.len()); // a strict prefix
        let complete = frames
            .iter()
            .scan(0, |end, f| { *end += f.len(); Some(*end) })
            .take_while(|&end| end <= cut)
            .count();
        let mut buf = BytesMut::new();
        let got = feed_into(&mut b, &mut buf, &wire[..cut], &chunks).map_err(|e| e.1.to_string());
        prop_assert_eq!(got, Ok(msgs[..complete].to_vec()));
        // Waiting, not failed: asking again changes nothing, and the rest of the
        // stream completes it.
        prop_assert!(matches!(b.decode(&mut buf), Ok(None)));
        let rest = feed_into(&mut b, &mut buf, &wire[cut..], &chunks).map_err(|e| e.1.to_string());
        prop_assert_eq!(rest, Ok(msgs[complete..].to_vec()));
        prop_assert!(buf.is_empty());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// ECIES decrypts what it encrypted, for any plaintext and shared MAC data,
    /// and rejects a flipped bit anywhere, other shared data, a cut message and
    /// another key.
    #[test]
    fn ecies_round_trips_and_authenticates(
        recipient in secret_key(),
        ephemeral in secret_key(),
        other in secret_key(),
        iv in any::<[u8; 16]>(),
        plaintext in prop::collection::vec(any::<u8>(), 0..2048),
        shared in prop::collection::vec(any::<u8>(), 0..64),
        bit in any::<prop::sample::Index>(),
        cut in any::<prop::sample::Index>(),
    ) {
        let public = PublicKey::from_secret_key(&recipient);
        let mut wire = Vec::new();
        encrypt_into(&public, &ephemeral, iv, &plaintext, &shared, &mut wire);
        prop_assert_eq!(wire.len(), ECIES_OVERHEAD + plaintext.len());
        prop_assert_eq!(decrypt(&recipient, &wire, &shared).ok(), Some(plaintext.clone()));

        let mut bad = wire.clone();
        let bit = bit.index(bad.len() * 8);
        bad[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(decrypt(&recipient, &bad, &shared).is_err(), "flipped bit {}", bit);

        let mut other_shared = shared.clone();
        match other_shared.first_mut() {
            Some(b) => *b ^= 1,
            None => other_shared.push(0),
        }
        prop_assert!(decrypt(&recipient, &wire, &other_shared).is_err());
        prop_assert!(decrypt(&recipient, &wire[..cut.index(wire.len())], &shared).is_err());
        if other != recipient {
            prop_assert!(decrypt(&other, &wire, &shared).is_err());
        }
    }

    /// EIP-8 auth and ack (and a legacy ack) decode to what was encoded, only
    /// for their addressee, and both ends derive matching frame secrets.
    #[test]
    fn handshake_messages_round_trip(
        key_a in secret_key(),
        key_b in secret_key(),
        eph_a in secret_key(),
        eph_b in secret_key(),
        nonce_a in any::<[u8; 32]>(),
        nonce_b in any::<[u8; 32]>(),
        eip8_ack in any::<bool>(),
        seed in any::<u64>(),
    ) {
        prop_assume!(key_a != key_b);
        let (key_a, key_b) = (NodeKey::from_secret(key_a), NodeKey::from_secret(key_b));
        let mut rng = StdRng::seed_from_u64(seed);

        let auth_wire = encode_auth(&key_a, key_b.public(), &eph_a, &nonce_a, &mut rng);
        let body_len = auth_wire.len() - 2 - ECIES_OVERHEAD;
        prop_assert!(
            (MIN_PADDING..=MAX_PADDING).contains(&(body_len - 169)),
            "auth body of {} bytes", body_len
        );
        let auth = decode_auth(&key_b, &auth_wire).unwrap();
        prop_assert_eq!(auth.initiator, *key_a.public());
        prop_assert_eq!(auth.initiator_ephemeral, PublicKey::from_secret_key(&eph_a));
        prop_assert_eq!(auth.nonce, nonce_a);
        prop_assert_eq!(auth.version, HANDSHAKE_VERSION);
        prop_assert!(auth.eip8);
        prop_assert!(decode_auth(&key_a, &auth_wire).is_err(), "read by the wrong key");

        let ack_wire = encode_ack(&auth.initiator, &eph_b, &nonce_b, eip8_ack, &mut rng);
        let ack = decode_ack(&key_a, &ack_wire).unwrap();
        prop_assert_eq!(ack.recipient_ephemeral, PublicKey::from_secret_key(&eph_b));
        prop_assert_eq!(ack.nonce, nonce_b);
        prop_assert_eq!(ack.version, HANDSHAKE_VERSION);
        prop_assert_eq!(ack.eip8, eip8_ack);
        prop_assert!(decode_ack(&key_b, &ack_wire).is_err(), "read by the wrong key");

        let initiator = HandshakeTranscript {
            role: Role::Initiator,
            ephemeral: &eph_a,
            remote_ephemeral: &ack.recipient_ephemeral,
            initiator_nonce: &nonce_a,
            recipient_nonce: &ack.nonce,
            auth: &auth_wire,
            ack: &ack_wire,
            remote_id: key_b.id(),
        }
        .secrets();
        let recipient = HandshakeTranscript {
            role: Role::Recipient,
            ephemeral: &eph_b,
            remote_ephemeral: &auth.initiator_ephemeral,
            initiator_nonce: &auth.nonce,
            recipient_nonce: &nonce_b,
            auth: &auth_wire,
            ack: &ack_wire,
            remote_id: PeerId::from_public_key(&auth.initiator),
        }
        .secrets();
        prop_assert_eq!(initiator.aes_secret, recipient.aes_secret);
        prop_assert_eq!(initiator.mac_secret, recipient.mac_secret);
        prop_assert_eq!(initiator.egress_mac.digest(), recipient.ingress_mac.digest());
        prop_assert_eq!(initiator.ingress_mac.digest(), recipient.egress_mac.digest());
        prop_assert_ne!(initiator.egress_mac.digest(), initiator.ingress_mac.digest());
        prop_assert_eq!(recipient.remote_id, key_a.id());

        // And the secrets carry a frame each way.
        let (mut a, mut b) = (FrameCodec::new(initiator), FrameCodec::new(recipient));
        let msg = Msg::new(0x10, nonce_a.to_vec());
        let wire = encode_all(&mut a, std::slice::from_ref(&msg)).concat();
        prop_assert_eq!(feed(&mut b, &wire, &[wire.len()]).map_err(|e| e.1.to_string()), Ok(vec![msg.clone()]));
        let wire = encode_all(&mut b, std::slice::from_ref(&msg)).concat();
        prop_assert_eq!(feed(&mut a, &wire, &[7]).map_err(|e| e.1.to_string()), Ok(vec![msg]));
    }
}

/// The seeded helper above is deterministic and its two ends agree (the frame
/// properties rest on it).
#[test]
fn seeded_handshake_is_deterministic() {
    for eip8 in [true, false] {
        let (x, y) = (handshake(42, eip8), handshake(42, eip8));
        assert_eq!(x.initiator.aes_secret, y.initiator.aes_secret);
        assert_eq!(x.initiator.aes_secret, x.recipient.aes_secret);
        assert_eq!(x.initiator.remote_id, x.key_b.id());
        assert_eq!(x.recipient.remote_id, x.key_a.id());
        assert_eq!(
            x.initiator.egress_mac.digest(),
            x.recipient.ingress_mac.digest()
        );
    }
}
