//! Who is on the other end: the node key bound to the TLS certificate.
//!
//! QUIC's handshake is TLS 1.3, and TLS authenticates certificates, not
//! devp2p node keys (secp256k1, which TLS does not offer as a signature
//! scheme). Each side therefore presents a self-signed certificate for a
//! fresh P-256 key, carrying one extension: its node public key and a
//! signature by the node key over the certificate's public key. TLS proves
//! that the peer holds the certificate's key; the extension proves that the
//! node key vouched for that certificate key. No certificate authority is
//! involved, and the remote [`PeerId`] comes out of the handshake as it does
//! from RLPx's.
//!
//! The format is the one of libp2p's TLS handshake (the `tls/tls.md`
//! specification of libp2p/specs) for a secp256k1 key, unchanged: the
//! extension `1.3.6.1.4.1.53594.1.1` holds the DER of `SignedKey ::=
//! SEQUENCE { publicKey OCTET STRING, signature OCTET STRING }`, where
//! `publicKey` is libp2p's protobuf `PublicKey { Type = Secp256k1, Data =
//! compressed key }` and `signature` the DER-encoded ECDSA signature over
//! SHA-256 of `"libp2p-tls-handshake:"` followed by the certificate's
//! `SubjectPublicKeyInfo`. Reusing a published scheme rather than inventing
//! one means its analysis applies here, and a certificate made by a libp2p
//! implementation for a secp256k1 key is understood (the ALPN, `devp2p`, keeps
//! the two protocols from mistaking each other past the handshake).

use p2p_core::{NodeKey, PeerId};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use secp256k1::{ecdsa, ecdsa::Signature, Message, PublicKey};
use sha2::{Digest, Sha256};
use x509_parser::prelude::{FromDer, X509Certificate};

/// The arcs of the extension's object identifier (libp2p's).
pub const EXTENSION_OID: &[u64] = &[1, 3, 6, 1, 4, 1, 53594, 1, 1];

/// What the node key signs, before the certificate's public key: a context
/// string, so that the signature cannot be taken for one made for another
/// purpose.
const SIGNATURE_PREFIX: &[u8] = b"libp2p-tls-handshake:";

/// libp2p's protobuf `KeyType` of a secp256k1 key.
const KEY_TYPE_SECP256K1: u64 = 2;

/// The longest `SignedKey` accepted, in bytes: a compressed or uncompressed
/// key in its protobuf wrapper and a DER signature fit in well under this,
/// and nothing a peer sent is parsed past it.
const MAX_SIGNED_KEY: usize = 1024;

/// Why a certificate does not identify a node.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// The certificate is not DER, or has bytes after it.
    #[error("not a DER certificate")]
    Malformed,
    /// The certificate is outside its validity period.
    #[error("certificate outside its validity period")]
    Expired,
    /// The certificate's own signature does not verify with its key.
    #[error("certificate is not self-signed by its key")]
    SelfSignature,
    /// The node key extension is missing or present more than once.
    #[error("certificate carries no node key extension")]
    NoNodeKey,
    /// The extension's content could not be read.
    #[error("malformed node key extension: {0}")]
    Extension(&'static str),
    /// The key is not a secp256k1 key, or not a valid one.
    #[error("node key is not a valid secp256k1 key")]
    KeyType,
    /// The node key's signature over the certificate's key does not verify.
    #[error("node key signature does not verify")]
    Signature,
}

/// A self-signed certificate vouched for by a node key, and the private key
/// of the certificate, as TLS takes them.
#[derive(Debug)]
pub struct NodeCertificate {
    /// The certificate (DER).
    pub cert: CertificateDer<'static>,
    /// The certificate's private key (PKCS #8).
    pub key: PrivateKeyDer<'static>,
}

impl NodeCertificate {
    /// A fresh certificate key, and a certificate for it signed by
    /// `node_key`.
    pub fn generate(node_key: &NodeKey) -> Result<Self, rcgen::Error> {
        let keypair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let spki = keypair.public_key_der();
        let signed_key = signed_key(node_key, &spki);
        Self::build(keypair, signed_key)
    }

    /// A certificate carrying `signed_key` as its extension's content
    /// (`None`: no extension), for tests of what a verifier refuses.
    #[doc(hidden)]
    pub fn with_extension(signed_key: Option<Vec<u8>>) -> Result<Self, rcgen::Error> {
        let keypair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        match signed_key {
            Some(content) => Self::build(keypair, content),
            None => Self::self_signed(keypair, Vec::new()),
        }
    }

    fn build(keypair: rcgen::KeyPair, signed_key: Vec<u8>) -> Result<Self, rcgen::Error> {
        let mut extension = rcgen::CustomExtension::from_oid_content(EXTENSION_OID, signed_key);
        extension.set_criticality(true);
        Self::self_signed(keypair, vec![extension])
    }

    fn self_signed(
        keypair: rcgen::KeyPair,
        extensions: Vec<rcgen::CustomExtension>,
    ) -> Result<Self, rcgen::Error> {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
        // The certificate lives as long as the process and proves nothing by
        // its dates; a wide validity keeps clock skew from failing a
        // handshake.
        params.not_before = rcgen::date_time_ymd(1975, 1, 1);
        params.not_after = rcgen::date_time_ymd(4096, 1, 1);
        params.custom_extensions = extensions;
        let cert = params.self_signed(&keypair)?;
        Ok(NodeCertificate {
            cert: cert.der().clone(),
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(keypair.serialize_der())),
        })
    }
}

/// The extension's content for a certificate whose `SubjectPublicKeyInfo`
/// is `spki`: the DER of `SignedKey`.
pub fn signed_key(node_key: &NodeKey, spki: &[u8]) -> Vec<u8> {
    let digest = signed_digest(spki);
    let signature = ecdsa::sign(Message::from_digest(digest), node_key.secret());
    let public_key = public_key_protobuf(&node_key.public().serialize());
    let signature = signature.serialize_der();
    yasna::construct_der(|writer| {
        writer.write_sequence(|seq| {
            seq.next().write_bytes(&public_key);
            seq.next().write_bytes(&signature);
        })
    })
}

/// The node that `cert` (DER) identifies, after every check: the
/// certificate is well formed, valid now and self-signed, carries exactly one
/// node key extension, and the node key's signature over the certificate's
/// public key verifies.
pub fn peer_id(cert: &[u8]) -> Result<PeerId, CertError> {
    let (rest, cert) = X509Certificate::from_der(cert).map_err(|_| CertError::Malformed)?;
    if !rest.is_empty() {
        return Err(CertError::Malformed);
    }
    if !cert.validity().is_valid() {
        return Err(CertError::Expired);
    }
    cert.verify_signature(None)
        .map_err(|_| CertError::SelfSignature)?;
    let oid =
        x509_parser::der_parser::oid::Oid::from(EXTENSION_OID).map_err(|_| CertError::NoNodeKey)?;
    let mut ours = cert.extensions().iter().filter(|ext| ext.oid == oid);
    let (Some(extension), None) = (ours.next(), ours.next()) else {
        return Err(CertError::NoNodeKey);
    };
    let (public_key, signature) = parse_signed_key(extension.value)?;
    let key = PublicKey::from_slice(parse_public_key_protobuf(&public_key)?)
        .map_err(|_| CertError::KeyType)?;
    let mut signature = Signature::from_der_lax(&signature).map_err(|_| CertError::Signature)?;
    // libp2p does not require the low-S form; accept either.
    signature.normalize_s();
    let digest = signed_digest(cert.public_key().raw);
    ecdsa::verify(&signature, Message::from_digest(digest), &key)
        .map_err(|_| CertError::Signature)?;
    Ok(PeerId::from_public_key(&key))
}

fn signed_digest(spki: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(SIGNATURE_PREFIX);
    hasher.update(spki);
    hasher.finalize().into()
}

fn parse_signed_key(der: &[u8]) -> Result<(Vec<u8>, Vec<u8>), CertError> {
    if der.len() > MAX_SIGNED_KEY {
        return Err(CertError::Extension("too long"));
    }
    yasna::parse_der(der, |reader| {
        reader.read_sequence(|seq| {
            let public_key = seq.next().read_bytes()?;
            let signature = seq.next().read_bytes()?;
            Ok((public_key, signature))
        })
    })
    .map_err(|_| CertError::Extension("not a DER SignedKey"))
}

/// libp2p's protobuf `PublicKey { Type = 1: varint, Data = 2: bytes }` for a
/// secp256k1 key (`data`: its 33-byte compressed form).
fn public_key_protobuf(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x08, KEY_TYPE_SECP256K1 as u8, 0x12, data.len() as u8];
    out.extend_from_slice(data);
    out
}

/// The key bytes of a protobuf `PublicKey`, which must be of type
/// secp256k1. Fields may come in any order, each once.
fn parse_public_key_protobuf(mut bytes: &[u8]) -> Result<&[u8], CertError> {
    let (mut key_type, mut data) = (None, None);
    while !bytes.is_empty() {
        let tag = read_varint(&mut bytes)?;
        match tag {
            0x08 if key_type.is_none() => key_type = Some(read_varint(&mut bytes)?),
            0x12 if data.is_none() => {
                let len = usize::try_from(read_varint(&mut bytes)?)
                    .map_err(|_| CertError::Extension("key length"))?;
                if len > bytes.len() {
                    return Err(CertError::Extension("key length"));
                }
                let (key, rest) = bytes.split_at(len);
                data = Some(key);
                bytes = rest;
            }
            _ => return Err(CertError::Extension("unexpected protobuf field")),
        }
    }
    match (key_type, data) {
        (Some(KEY_TYPE_SECP256K1), Some(data)) => Ok(data),
        (Some(_), Some(_)) => Err(CertError::KeyType),
        _ => Err(CertError::Extension("incomplete public key")),
    }
}

/// A protobuf varint of at most 64 bits.
fn read_varint(bytes: &mut &[u8]) -> Result<u64, CertError> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = bytes
            .split_first()
            .ok_or(CertError::Extension("truncated varint"))?;
        *bytes = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(CertError::Extension("varint too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_names_its_node() {
        let key = NodeKey::random();
        let cert = NodeCertificate::generate(&key).unwrap();
        assert_eq!(peer_id(&cert.cert).unwrap(), key.id());
    }

    #[test]
    fn protobuf_fields_in_either_order() {
        let key = NodeKey::random().public().serialize();
        let mut swapped = vec![0x12, 33];
        swapped.extend_from_slice(&key);
        swapped.extend_from_slice(&[0x08, 2]);
        assert_eq!(parse_public_key_protobuf(&swapped).unwrap(), &key[..]);
        assert_eq!(
            parse_public_key_protobuf(&public_key_protobuf(&key)).unwrap(),
            &key[..]
        );
    }

    #[test]
    fn malformed_protobuf_is_refused() {
        // An Ed25519 key (type 1).
        let mut ed = vec![0x08, 1, 0x12, 32];
        ed.extend_from_slice(&[7; 32]);
        assert!(matches!(
            parse_public_key_protobuf(&ed),
            Err(CertError::KeyType)
        ));
        // A length past the end, a truncated varint, a repeated field.
        for bad in [
            &[0x08, 2, 0x12, 40, 1][..],
            &[0x08, 0x80][..],
            &[0x08, 2, 0x08, 2][..],
        ] {
            assert!(matches!(
                parse_public_key_protobuf(bad),
                Err(CertError::Extension(_))
            ));
        }
    }
}
