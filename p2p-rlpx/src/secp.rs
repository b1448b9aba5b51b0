//! The two secp256k1 operations of the handshake that need a signing context:
//! deriving a public key and signing, on a per-thread context.
//!
//! `secp256k1`'s global-context API re-randomizes its context after every
//! operation with a secret, which costs as much again as the operation itself
//! (measured: public key 48 µs with, 16 µs without). A handshake derives up to
//! two ephemeral public keys and makes one signature per side, so that would add
//! about a fifth to its cost. Here each thread's context is randomized once, when
//! it is created, as go-ethereum's is; the keys involved are ephemeral, used for
//! one handshake only.

use std::ptr;

use secp256k1::ecdsa::RecoverableSignature;
use secp256k1::ffi::{self, CPtr};
use secp256k1::{All, Message, PublicKey, Secp256k1, SecretKey};

thread_local! {
    /// Randomized at creation (the `rand` feature is on).
    static CONTEXT: Secp256k1<All> = Secp256k1::new();
}

/// The public key of `secret`.
pub fn public_key(secret: &SecretKey) -> PublicKey {
    CONTEXT.with(|ctx| {
        // SAFETY: the context is valid for signing and lives for the call; the
        // output is a writable PublicKey (zeroed by `new`, filled by the call);
        // the secret points to 32 bytes.
        let (ok, public) = unsafe {
            let mut public = ffi::PublicKey::new();
            let ok =
                ffi::secp256k1_ec_pubkey_create(ctx.ctx().as_ptr(), &mut public, secret.as_c_ptr());
            (ok, public)
        };
        // Cannot fail: a SecretKey is always in range.
        assert_eq!(ok, 1, "secret keys are always valid");
        PublicKey::from(public)
    })
}

/// A recoverable ECDSA signature (RFC 6979 nonce) of `message` by `secret`.
pub fn sign_recoverable(message: &Message, secret: &SecretKey) -> RecoverableSignature {
    CONTEXT.with(|ctx| {
        let mut sig = ffi::recovery::RecoverableSignature::new();
        // SAFETY: as above; the message points to 32 bytes; a null nonce
        // function selects the default RFC 6979 one.
        let ok = unsafe {
            ffi::recovery::secp256k1_ecdsa_sign_recoverable(
                ctx.ctx().as_ptr(),
                &mut sig,
                message.as_c_ptr(),
                secret.as_c_ptr(),
                None,
                ptr::null(),
            )
        };
        assert_eq!(ok, 1, "RFC 6979 signing cannot fail for a valid key");
        RecoverableSignature::from(sig)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_the_global_context_api() {
        for i in 1..=8u8 {
            let secret = SecretKey::from_secret_bytes([i; 32]).unwrap();
            assert_eq!(public_key(&secret), PublicKey::from_secret_key(&secret));
            let message = Message::from_digest([i.wrapping_mul(31); 32]);
            let sig = sign_recoverable(&message, &secret);
            // RFC 6979 is deterministic: the same signature either way.
            assert_eq!(
                sig,
                RecoverableSignature::sign_ecdsa_recoverable(message, &secret)
            );
            assert_eq!(sig.recover_ecdsa(message).unwrap(), public_key(&secret));
        }
    }
}
