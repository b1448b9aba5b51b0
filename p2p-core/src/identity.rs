//! Node identities: the secp256k1 key pair, the 64-byte peer id carried by RLPx and
//! Hello, and the 32-byte node id that discovery measures distances with.

use std::fmt;
use std::str::FromStr;

use secp256k1::{PublicKey, SecretKey};
use sha3::{Digest, Keccak256};

/// Keccak-256 of `data`, the hash every devp2p layer uses.
pub fn keccak256(data: &[u8]) -> [u8; 32] {
    Keccak256::digest(data).into()
}

/// Errors from decoding an identity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// The text was not hexadecimal or had the wrong length.
    #[error("expected {expected} hex characters, got {got}")]
    HexLength {
        /// Number of hex characters expected.
        expected: usize,
        /// Number of characters found.
        got: usize,
    },
    /// The text contained a character that is not a hex digit.
    #[error("invalid hex character")]
    Hex,
    /// The 64 bytes are not the coordinates of a point on secp256k1.
    #[error("not a point on the secp256k1 curve")]
    NotOnCurve,
    /// The 32 bytes are zero or not below the curve order.
    #[error("not a valid secp256k1 secret key")]
    InvalidSecretKey,
}

/// A peer's public key in the 64-byte form devp2p sends on the wire (the
/// uncompressed point without its `0x04` prefix).
///
/// This is what `enode://` URLs, the RLPx handshake and the Hello message carry.
/// A `PeerId` received from the network is only bytes until [`PeerId::public_key`]
/// proves it is a point on the curve.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub [u8; 64]);

impl PeerId {
    /// The id of a public key.
    pub fn from_public_key(key: &PublicKey) -> Self {
        let full = key.serialize_uncompressed();
        let mut id = [0u8; 64];
        id.copy_from_slice(&full[1..]);
        PeerId(id)
    }

    /// The id belonging to a secret key (one scalar multiplication: cache it).
    pub fn from_secret_key(key: &SecretKey) -> Self {
        Self::from_public_key(&PublicKey::from_secret_key(key))
    }

    /// Takes the id from a 64-byte slice.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        Some(PeerId(bytes.try_into().ok()?))
    }

    /// The public key, if these bytes are a point on the curve.
    pub fn public_key(&self) -> Result<PublicKey, IdentityError> {
        let mut full = [4u8; 65];
        full[1..].copy_from_slice(&self.0);
        PublicKey::from_byte_array_uncompressed(full).map_err(|_| IdentityError::NotOnCurve)
    }

    /// The discovery node id: keccak256 of the 64 bytes.
    pub fn node_id(&self) -> NodeId {
        NodeId(keccak256(&self.0))
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 64] {
        &self.0
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Eight bytes are enough to tell peers apart in logs.
        write!(f, "PeerId({}..)", hex::encode(&self.0[..8]))
    }
}

impl FromStr for PeerId {
    type Err = IdentityError;

    /// Parses 128 hex characters, with or without a `0x` prefix. The point is not
    /// checked here; use [`PeerId::public_key`] for that.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(PeerId(decode_hex_array(s)?))
    }
}

/// The 32-byte node id of discovery: keccak256 of the [`PeerId`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub [u8; 32]);

impl NodeId {
    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({}..)", hex::encode(&self.0[..8]))
    }
}

impl FromStr for NodeId {
    type Err = IdentityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(NodeId(decode_hex_array(s)?))
    }
}

/// A node's own key pair, with the public half computed once.
///
/// Deriving the public key is a full scalar multiplication; a server that did it
/// per connection would pay about a fifth of a handshake for nothing.
#[derive(Clone)]
pub struct NodeKey {
    secret: SecretKey,
    public: PublicKey,
    id: PeerId,
}

impl NodeKey {
    /// A fresh random key.
    pub fn random() -> Self {
        Self::from_secret(SecretKey::new(&mut rand::rng()))
    }

    /// Wraps an existing secret key.
    pub fn from_secret(secret: SecretKey) -> Self {
        let public = PublicKey::from_secret_key(&secret);
        NodeKey {
            secret,
            public,
            id: PeerId::from_public_key(&public),
        }
    }

    /// Parses 32 bytes of secret key.
    pub fn from_bytes(bytes: [u8; 32]) -> Result<Self, IdentityError> {
        let secret =
            SecretKey::from_secret_bytes(bytes).map_err(|_| IdentityError::InvalidSecretKey)?;
        Ok(Self::from_secret(secret))
    }

    /// The secret key.
    pub fn secret(&self) -> &SecretKey {
        &self.secret
    }

    /// The public key.
    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    /// The 64-byte peer id.
    pub fn id(&self) -> PeerId {
        self.id
    }

    /// The 32 secret bytes.
    pub fn secret_bytes(&self) -> [u8; 32] {
        self.secret.to_secret_bytes()
    }
}

impl fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the secret.
        f.debug_struct("NodeKey").field("id", &self.id).finish()
    }
}

impl FromStr for NodeKey {
    type Err = IdentityError;

    /// Parses 64 hex characters (an optional `0x` prefix and surrounding white
    /// space are accepted, as go-ethereum writes and reads them).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NodeKey::from_bytes(decode_hex_array(s.trim())?)
    }
}

/// Decodes exactly `N` bytes of hex, with an optional `0x` prefix.
pub(crate) fn decode_hex_array<const N: usize>(s: &str) -> Result<[u8; N], IdentityError> {
    let s = s.strip_prefix("0x").unwrap_or(s);
    if s.len() != N * 2 {
        return Err(IdentityError::HexLength {
            expected: N * 2,
            got: s.len(),
        });
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(s, &mut out).map_err(|_| IdentityError::Hex)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    // EIP-778 example: this key's node id is a448f24c...
    const KEY: &str = "b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291";

    #[test]
    fn node_id_matches_eip778_example() {
        let key: NodeKey = KEY.parse().unwrap();
        assert_eq!(
            key.id().node_id().to_string(),
            "a448f24c6d18e575453db13171562b71999873db5b286df957af199ec94617f7"
        );
    }

    #[test]
    fn peer_id_round_trips_through_text_and_key() {
        let key = NodeKey::random();
        let text = key.id().to_string();
        assert_eq!(text.len(), 128);
        let parsed: PeerId = text.parse().unwrap();
        assert_eq!(parsed, key.id());
        assert_eq!(parsed.public_key().unwrap(), *key.public());
    }

    #[test]
    fn bad_identities_are_refused() {
        assert!(matches!(
            "abcd".parse::<PeerId>(),
            Err(IdentityError::HexLength {
                expected: 128,
                got: 4
            })
        ));
        assert_eq!("zz".repeat(64).parse::<PeerId>(), Err(IdentityError::Hex));
        // x = 0, y = 0 is not on the curve.
        assert_eq!(PeerId([0; 64]).public_key(), Err(IdentityError::NotOnCurve));
        assert_eq!(
            "00".repeat(32).parse::<NodeKey>().unwrap_err(),
            IdentityError::InvalidSecretKey
        );
        assert_eq!(
            format!("0x{KEY}\n")
                .parse::<NodeKey>()
                .unwrap()
                .secret_bytes(),
            <[u8; 32]>::try_from(hex::decode(KEY).unwrap()).unwrap()
        );
    }
}
