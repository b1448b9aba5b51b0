//! The running MACs of RLPx frames (`rlpx.md`, "MAC"): a Keccak-256 state that
//! absorbs every ciphertext of one direction, and AES-256 of the mac-secret to
//! mix its digest with the header or a seed.

use aes::cipher::{BlockCipherEncrypt, KeyInit};
use aes::Aes256;

/// The Keccak-256 used for the MAC states, picked by measurement
/// (`BENCHMARKS.md`): assembly when the `asm-keccak` feature is on.
#[cfg(feature = "asm-keccak")]
pub(crate) type MacKeccak = keccak_asm::Keccak256;
/// The Keccak-256 used for the MAC states (portable `sha3` build).
#[cfg(not(feature = "asm-keccak"))]
pub(crate) type MacKeccak = sha3::Keccak256;

#[cfg(feature = "asm-keccak")]
use keccak_asm::Digest as _;
#[cfg(not(feature = "asm-keccak"))]
use sha3::Digest as _;

/// One direction's MAC: the keccak state and the AES key that seeds it.
#[derive(Clone)]
pub struct MacState {
    hasher: MacKeccak,
    cipher: Aes256,
    /// The first 16 bytes of the digest of the state as it is now, when known.
    /// A frame MAC is such a digest, and the next header MAC starts from the
    /// digest of the same, unchanged state: remembering it saves one keccak
    /// permutation of the four per frame.
    digest_now: Option<[u8; 16]>,
}

impl MacState {
    /// A MAC keyed with `mac_secret` whose keccak state has absorbed `init`
    /// pieces in order (`(mac-secret ^ nonce) || auth-or-ack`).
    pub fn new(mac_secret: &[u8; 32], init: &[&[u8]]) -> Self {
        let mut hasher = MacKeccak::new();
        for piece in init {
            hasher.update(piece);
        }
        MacState {
            hasher,
            cipher: Aes256::new(mac_secret.into()),
            digest_now: None,
        }
    }

    /// Absorbs raw bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.digest_now = None;
        self.hasher.update(data);
    }

    /// The full 32-byte digest of the state so far, leaving it unchanged.
    pub fn digest(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(&self.hasher.clone().finalize());
        out
    }

    fn digest16(&self) -> [u8; 16] {
        let d = self.digest();
        let mut out = [0u8; 16];
        out.copy_from_slice(&d[..16]);
        out
    }

    fn aes(&self, block: [u8; 16]) -> [u8; 16] {
        let mut b = block.into();
        self.cipher.encrypt_block(&mut b);
        b.into()
    }

    /// Absorbs a header ciphertext and returns the header MAC:
    /// `seed = aes(digest[..16]) ^ header; update(seed); digest[..16]`.
    pub fn header_mac(&mut self, header_ciphertext: &[u8; 16]) -> [u8; 16] {
        let current = match self.digest_now {
            Some(digest) => digest,
            None => self.digest16(),
        };
        let mut seed = self.aes(current);
        xor_in_place(&mut seed, header_ciphertext);
        self.update(&seed);
        self.digest16()
    }

    /// Absorbs a frame ciphertext and returns the frame MAC:
    /// `update(frame); seed = aes(digest[..16]) ^ digest[..16]; update(seed); digest[..16]`.
    pub fn frame_mac(&mut self, frame_ciphertext: &[u8]) -> [u8; 16] {
        self.update(frame_ciphertext);
        let prev = self.digest16();
        let mut seed = self.aes(prev);
        xor_in_place(&mut seed, &prev);
        self.update(&seed);
        let mac = self.digest16();
        self.digest_now = Some(mac);
        mac
    }
}

fn xor_in_place(a: &mut [u8; 16], b: &[u8; 16]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x ^= y;
    }
}

/// Constant-time equality of two MACs: a peer must not learn from timing how
/// many bytes of a forged MAC were right.
pub fn macs_equal(a: &[u8; 16], b: &[u8]) -> bool {
    if b.len() != 16 {
        return false;
    }
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembered_digest_gives_the_same_macs_as_recomputing() {
        let mut cached = MacState::new(&[7; 32], &[b"init"]);
        let mut fresh = cached.clone();
        for i in 0..5u8 {
            let header = [i; 16];
            let body = vec![i.wrapping_mul(13); 16 * (i as usize + 1)];
            // Absorbing nothing leaves the keccak state as it is but forgets
            // the remembered digest, forcing the recomputation.
            fresh.update(&[]);
            assert_eq!(cached.header_mac(&header), fresh.header_mac(&header), "{i}");
            assert_eq!(cached.frame_mac(&body), fresh.frame_mac(&body), "{i}");
            assert_eq!(cached.digest(), fresh.digest());
        }
    }

    #[test]
    fn mac_comparison_needs_every_byte() {
        let mac = [5u8; 16];
        assert!(macs_equal(&mac, &[5; 16]));
        for i in 0..16 {
            let mut other = [5u8; 16];
            other[i] ^= 1;
            assert!(!macs_equal(&mac, &other));
        }
        assert!(!macs_equal(&mac, &[5; 15]));
    }
}
