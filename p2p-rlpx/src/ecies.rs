//! ECIES as RLPx uses it (`rlpx.md`, "ECIES Encryption"): an ephemeral ECDH on
//! secp256k1, the NIST SP 800-56 concatenation KDF over SHA-256, AES-128-CTR
//! and an HMAC-SHA256 tag that also covers the "shared MAC data" (the EIP-8
//! size prefix).
//!
//! Wire layout: `R (65 bytes, uncompressed point) || iv (16) || c || d (32)`.

use aes::cipher::{KeyIvInit, StreamCipher};
use hmac::{KeyInit, Mac};
use secp256k1::{PublicKey, SecretKey};
use sha2::{Digest, Sha256};

use crate::error::RlpxError;

type Aes128Ctr = ctr::Ctr64BE<aes::Aes128>;
type HmacSha256 = hmac::Hmac<Sha256>;

/// Bytes ECIES adds to a plaintext: the ephemeral key, the IV and the tag.
pub const ECIES_OVERHEAD: usize = 65 + 16 + 32;

/// The x coordinate of `secret * public`: the ECDH "shared secret" of RLPx,
/// which, unlike libsecp256k1's default, is not hashed.
pub fn ecdh_x(public: &PublicKey, secret: &SecretKey) -> [u8; 32] {
    let point = secp256k1::ecdh::shared_secret_point(public, secret);
    let mut x = [0u8; 32];
    x.copy_from_slice(&point[..32]);
    x
}

/// The concatenation KDF of NIST SP 800-56 with SHA-256 and no "other info",
/// for the 32 bytes RLPx needs: one block, counter 1.
fn kdf32(shared: &[u8; 32]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(1u32.to_be_bytes());
    hasher.update(shared);
    hasher.finalize().into()
}

/// Splits the KDF output into the AES key and the HMAC key (the latter is the
/// SHA-256 of the second half, as the spec says).
fn derive_keys(shared: &[u8; 32]) -> ([u8; 16], [u8; 32]) {
    let k = kdf32(shared);
    let mut enc_key = [0u8; 16];
    enc_key.copy_from_slice(&k[..16]);
    let mac_key: [u8; 32] = Sha256::digest(&k[16..]).into();
    (enc_key, mac_key)
}

fn tag(mac_key: &[u8; 32], iv_and_ciphertext: &[u8], shared_mac_data: &[u8]) -> [u8; 32] {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(mac_key).expect("any key size");
    mac.update(iv_and_ciphertext);
    mac.update(shared_mac_data);
    mac.finalize().into_bytes().into()
}

/// Encrypts `plaintext` to `remote`, appending `R || iv || c || d` to `out`.
///
/// `ephemeral` and `iv` are parameters so the handshake can reuse its random
/// source and tests can be deterministic.
pub fn encrypt_into(
    remote: &PublicKey,
    ephemeral: &SecretKey,
    iv: [u8; 16],
    plaintext: &[u8],
    shared_mac_data: &[u8],
    out: &mut Vec<u8>,
) {
    let shared = ecdh_x(remote, ephemeral);
    let (enc_key, mac_key) = derive_keys(&shared);
    let ephemeral_public = crate::secp::public_key(ephemeral);

    out.reserve(ECIES_OVERHEAD + plaintext.len());
    out.extend_from_slice(&ephemeral_public.serialize_uncompressed());
    let body_start = out.len();
    out.extend_from_slice(&iv);
    let ct_start = out.len();
    out.extend_from_slice(plaintext);
    Aes128Ctr::new(&enc_key.into(), &iv.into()).apply_keystream(&mut out[ct_start..]);
    let d = tag(&mac_key, &out[body_start..], shared_mac_data);
    out.extend_from_slice(&d);
}

/// Decrypts an ECIES message addressed to `secret`, checking the tag over
/// `shared_mac_data` before decrypting anything.
pub fn decrypt(
    secret: &SecretKey,
    message: &[u8],
    shared_mac_data: &[u8],
) -> Result<Vec<u8>, RlpxError> {
    if message.len() < ECIES_OVERHEAD {
        return Err(RlpxError::Ecies("message shorter than the ECIES overhead"));
    }
    if message[0] != 0x04 {
        return Err(RlpxError::Ecies(
            "ephemeral key is not an uncompressed point",
        ));
    }
    let ephemeral = PublicKey::from_slice(&message[..65])
        .map_err(|_| RlpxError::Ecies("ephemeral key is not on the curve"))?;
    let (iv_and_ct, d) = message[65..].split_at(message.len() - 65 - 32);
    let shared = ecdh_x(&ephemeral, secret);
    let (enc_key, mac_key) = derive_keys(&shared);

    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&mac_key).expect("any key size");
    mac.update(iv_and_ct);
    mac.update(shared_mac_data);
    // Constant-time comparison: the tag must not leak through timing.
    mac.verify_slice(d)
        .map_err(|_| RlpxError::Ecies("tag mismatch (wrong key or tampered message)"))?;

    let (iv, ct) = iv_and_ct.split_at(16);
    let mut plaintext = ct.to_vec();
    let iv: [u8; 16] = iv.try_into().expect("split at 16");
    Aes128Ctr::new(&enc_key.into(), &iv.into()).apply_keystream(&mut plaintext);
    Ok(plaintext)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SecretKey {
        SecretKey::from_secret_bytes([byte; 32]).unwrap()
    }

    #[test]
    fn round_trip_and_tamper_detection() {
        let recipient = key(1);
        let public = PublicKey::from_secret_key(&recipient);
        let mut out = Vec::new();
        encrypt_into(
            &public,
            &key(2),
            [9; 16],
            b"hello ecies",
            b"\x01\x02",
            &mut out,
        );
        assert_eq!(out.len(), ECIES_OVERHEAD + 11);
        assert_eq!(
            decrypt(&recipient, &out, b"\x01\x02").unwrap(),
            b"hello ecies"
        );

        // The shared MAC data is authenticated.
        assert!(decrypt(&recipient, &out, b"\x01\x03").is_err());
        // Another key cannot decrypt.
        assert!(decrypt(&key(3), &out, b"\x01\x02").is_err());
        // Every byte is covered, including the ephemeral key.
        for i in 0..out.len() {
            let mut bad = out.clone();
            bad[i] ^= 0x40;
            assert!(decrypt(&recipient, &bad, b"\x01\x02").is_err(), "byte {i}");
        }
        assert!(decrypt(&recipient, &out[..ECIES_OVERHEAD - 1], b"").is_err());
    }
}
