//! The RLPx encryption handshake (`rlpx.md`, "Initial Handshake"; EIP-8).
//!
//! The initiator sends `auth`, the recipient answers `ack`; both then derive the
//! frame secrets from an ephemeral ECDH and the two nonces. Messages are written
//! in the EIP-8 format (RLP body, random padding, 2-byte size prefix
//! authenticated by ECIES) and read in both the EIP-8 and the legacy
//! fixed-size format.
//!
//! The message functions here do no I/O, so the test vectors, the fuzzers and
//! the async drivers ([`initiate`], [`respond`]) share one implementation.

use bytes::BytesMut;
use p2p_core::{NodeKey, PeerId};
use rand::{Rng, RngCore};
use rlp::{Rlp, RlpStream};
use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
use secp256k1::{Message, PublicKey, SecretKey};
use sha3::{Digest, Keccak256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::ecies::{self, ecdh_x, ECIES_OVERHEAD};
use crate::error::RlpxError;
use crate::mac::MacState;

/// The handshake version we announce in auth and ack.
pub const HANDSHAKE_VERSION: u64 = 4;
/// Length of a legacy (pre-EIP-8) auth message on the wire.
pub const LEGACY_AUTH_LEN: usize = 65 + 32 + 64 + 32 + 1 + ECIES_OVERHEAD;
/// Length of a legacy (pre-EIP-8) ack message on the wire.
pub const LEGACY_ACK_LEN: usize = 64 + 32 + 1 + ECIES_OVERHEAD;
/// Fewest bytes of random padding we append to an EIP-8 message. Padding makes
/// EIP-8 messages distinguishable from legacy ones by size and hides the body
/// length.
pub const MIN_PADDING: usize = 100;
/// Most bytes of random padding we append.
pub const MAX_PADDING: usize = 300;

fn keccak(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Keccak256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

fn xor32(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for i in 0..32 {
        out[i] = a[i] ^ b[i];
    }
    out
}

fn public_from_id(bytes: &[u8]) -> Result<PublicKey, RlpxError> {
    PeerId::from_slice(bytes)
        .ok_or(RlpxError::InvalidHandshake("public key is not 64 bytes"))?
        .public_key()
        .map_err(|_| RlpxError::InvalidHandshake("public key is not on the curve"))
}

/// A decoded auth message, as the recipient sees it.
#[derive(Debug, Clone)]
pub struct Auth {
    /// The initiator's static public key (its peer id).
    pub initiator: PublicKey,
    /// The initiator's ephemeral public key, recovered from the signature.
    pub initiator_ephemeral: PublicKey,
    /// The initiator's nonce.
    pub nonce: [u8; 32],
    /// The version the initiator announced.
    pub version: u64,
    /// Whether it came in the EIP-8 format (the ack then uses it too).
    pub eip8: bool,
}

/// A decoded ack message, as the initiator sees it.
#[derive(Debug, Clone)]
pub struct Ack {
    /// The recipient's ephemeral public key.
    pub recipient_ephemeral: PublicKey,
    /// The recipient's nonce.
    pub nonce: [u8; 32],
    /// The version the recipient announced.
    pub version: u64,
    /// Whether it came in the EIP-8 format.
    pub eip8: bool,
}

/// Decrypts a whole handshake message (`wire` as received): the legacy format
/// when it has exactly the legacy length and decrypts as such, else EIP-8.
fn open(key: &NodeKey, wire: &[u8], legacy_len: usize) -> Result<(Vec<u8>, bool), RlpxError> {
    if wire.len() == legacy_len && wire[0] == 0x04 {
        if let Ok(plain) = ecies::decrypt(key.secret(), wire, &[]) {
            return Ok((plain, false));
        }
    }
    if wire.len() < 2 {
        return Err(RlpxError::InvalidHandshake("message too short"));
    }
    let (prefix, body) = wire.split_at(2);
    if u16::from_be_bytes([prefix[0], prefix[1]]) as usize != body.len() {
        return Err(RlpxError::InvalidHandshake(
            "size prefix disagrees with length",
        ));
    }
    Ok((ecies::decrypt(key.secret(), body, prefix)?, true))
}

/// The first RLP item of an EIP-8 body (the padding after it is ignored).
fn first_list(plain: &[u8]) -> Result<Rlp<'_>, RlpxError> {
    let rlp = Rlp::new(plain);
    let info = rlp
        .payload_info()
        .map_err(|_| RlpxError::InvalidHandshake("body is not RLP"))?;
    let end = info.header_len + info.value_len;
    if end > plain.len() {
        return Err(RlpxError::InvalidHandshake("body is truncated"));
    }
    let rlp = Rlp::new(&plain[..end]);
    if !rlp.is_list() {
        return Err(RlpxError::InvalidHandshake("body is not a list"));
    }
    Ok(rlp)
}

fn bytes_at<'a>(rlp: &Rlp<'a>, i: usize, len: usize) -> Result<&'a [u8], RlpxError> {
    let data = rlp
        .at(i)
        .and_then(|item| item.data())
        .map_err(|_| RlpxError::InvalidHandshake("missing element"))?;
    if data.len() != len {
        return Err(RlpxError::InvalidHandshake("element has the wrong length"));
    }
    Ok(data)
}

/// Version numbers are informative only; a peer announcing a newer one is read
/// the same way (EIP-8), and an unreadable one counts as ours.
fn version_at(rlp: &Rlp<'_>, i: usize) -> u64 {
    rlp.val_at::<u64>(i).unwrap_or(HANDSHAKE_VERSION)
}

/// The message the initiator signs with its ephemeral key.
fn signed_message(key: &NodeKey, remote: &PublicKey, nonce: &[u8; 32]) -> Message {
    Message::from_digest(xor32(&ecdh_x(remote, key.secret()), nonce))
}

/// Decodes and authenticates an auth message addressed to `key`.
pub fn decode_auth(key: &NodeKey, wire: &[u8]) -> Result<Auth, RlpxError> {
    let (plain, eip8) = open(key, wire, LEGACY_AUTH_LEN)?;
    let (sig, initiator, nonce, version) = if eip8 {
        let rlp = first_list(&plain)?;
        (
            bytes_at(&rlp, 0, 65)?,
            bytes_at(&rlp, 1, 64)?,
            bytes_at(&rlp, 2, 32)?,
            version_at(&rlp, 3),
        )
    } else {
        // sig || keccak(ephemeral) || pubkey || nonce || 0x00
        (
            &plain[..65],
            &plain[97..161],
            &plain[161..193],
            HANDSHAKE_VERSION,
        )
    };
    let initiator = public_from_id(initiator)?;
    let nonce: [u8; 32] = nonce.try_into().expect("length checked");
    let recovery = RecoveryId::try_from(sig[64] as i32).map_err(|_| RlpxError::InvalidSignature)?;
    let sig = RecoverableSignature::from_compact(&sig[..64], recovery)
        .map_err(|_| RlpxError::InvalidSignature)?;
    let initiator_ephemeral = sig
        .recover_ecdsa(signed_message(key, &initiator, &nonce))
        .map_err(|_| RlpxError::InvalidSignature)?;
    Ok(Auth {
        initiator,
        initiator_ephemeral,
        nonce,
        version,
        eip8,
    })
}

/// Decodes an ack message addressed to `key`.
pub fn decode_ack(key: &NodeKey, wire: &[u8]) -> Result<Ack, RlpxError> {
    let (plain, eip8) = open(key, wire, LEGACY_ACK_LEN)?;
    let (ephemeral, nonce, version) = if eip8 {
        let rlp = first_list(&plain)?;
        (
            bytes_at(&rlp, 0, 64)?,
            bytes_at(&rlp, 1, 32)?,
            version_at(&rlp, 2),
        )
    } else {
        (&plain[..64], &plain[64..96], HANDSHAKE_VERSION)
    };
    Ok(Ack {
        recipient_ephemeral: public_from_id(ephemeral)?,
        nonce: nonce.try_into().expect("length checked"),
        version,
        eip8,
    })
}

/// Seals an EIP-8 body: appends random padding, encrypts to `remote` with the
/// size prefix as shared MAC data, and returns `size || ciphertext`.
fn seal_eip8(remote: &PublicKey, mut body: Vec<u8>, rng: &mut impl RngCore) -> Vec<u8> {
    let padding = rng.random_range(MIN_PADDING..=MAX_PADDING);
    let start = body.len();
    body.resize(start + padding, 0);
    rng.fill_bytes(&mut body[start..]);

    let size = u16::try_from(body.len() + ECIES_OVERHEAD).expect("handshake bodies are small");
    let mut wire = Vec::with_capacity(2 + size as usize);
    wire.extend_from_slice(&size.to_be_bytes());
    let ephemeral = SecretKey::new(rng);
    let mut iv = [0u8; 16];
    rng.fill_bytes(&mut iv);
    ecies::encrypt_into(
        remote,
        &ephemeral,
        iv,
        &body,
        &size.to_be_bytes(),
        &mut wire,
    );
    wire
}

/// Builds an EIP-8 auth message from `key` to `remote`.
pub fn encode_auth(
    key: &NodeKey,
    remote: &PublicKey,
    ephemeral: &SecretKey,
    nonce: &[u8; 32],
    rng: &mut impl RngCore,
) -> Vec<u8> {
    let sig = crate::secp::sign_recoverable(&signed_message(key, remote, nonce), ephemeral);
    let (recovery, compact) = sig.serialize_compact();
    let mut sig_bytes = [0u8; 65];
    sig_bytes[..64].copy_from_slice(&compact);
    sig_bytes[64] = u8::from(recovery);

    let mut s = RlpStream::new_list(4);
    s.append(&sig_bytes.as_slice());
    s.append(&key.id().0.as_slice());
    s.append(&nonce.as_slice());
    s.append(&HANDSHAKE_VERSION);
    seal_eip8(remote, s.out().to_vec(), rng)
}

/// Builds an ack message to `remote` in the EIP-8 format, or in the legacy
/// format when the auth came in it (EIP-8 says to answer in kind).
pub fn encode_ack(
    remote: &PublicKey,
    ephemeral: &SecretKey,
    nonce: &[u8; 32],
    eip8: bool,
    rng: &mut impl RngCore,
) -> Vec<u8> {
    let ephemeral_id = PeerId::from_public_key(&crate::secp::public_key(ephemeral));
    if eip8 {
        let mut s = RlpStream::new_list(3);
        s.append(&ephemeral_id.0.as_slice());
        s.append(&nonce.as_slice());
        s.append(&HANDSHAKE_VERSION);
        seal_eip8(remote, s.out().to_vec(), rng)
    } else {
        let mut body = Vec::with_capacity(97);
        body.extend_from_slice(&ephemeral_id.0);
        body.extend_from_slice(nonce);
        body.push(0);
        let mut wire = Vec::with_capacity(LEGACY_ACK_LEN);
        let mut iv = [0u8; 16];
        rng.fill_bytes(&mut iv);
        ecies::encrypt_into(remote, &SecretKey::new(rng), iv, &body, &[], &mut wire);
        wire
    }
}

/// Which end of the handshake we are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// We sent auth.
    Initiator,
    /// We sent ack.
    Recipient,
}

/// What the handshake yields: the frame keys, both MAC states and the
/// authenticated remote identity.
#[derive(Clone)]
pub struct Secrets {
    /// The AES-256-CTR key of both frame directions.
    pub aes_secret: [u8; 32],
    /// The key of the MAC seeds.
    pub mac_secret: [u8; 32],
    /// The MAC of what we send.
    pub egress_mac: MacState,
    /// The MAC of what we receive.
    pub ingress_mac: MacState,
    /// The remote's static public key.
    pub remote_id: PeerId,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("remote_id", &self.remote_id)
            .finish_non_exhaustive()
    }
}

/// The inputs of the secret derivation, named as in `rlpx.md`.
pub struct HandshakeTranscript<'a> {
    /// Our end.
    pub role: Role,
    /// Our ephemeral secret key.
    pub ephemeral: &'a SecretKey,
    /// The remote's ephemeral public key.
    pub remote_ephemeral: &'a PublicKey,
    /// The initiator's nonce.
    pub initiator_nonce: &'a [u8; 32],
    /// The recipient's nonce.
    pub recipient_nonce: &'a [u8; 32],
    /// The auth message as it went over the wire.
    pub auth: &'a [u8],
    /// The ack message as it went over the wire.
    pub ack: &'a [u8],
    /// The remote's static key.
    pub remote_id: PeerId,
}

impl HandshakeTranscript<'_> {
    /// Derives the frame secrets and MAC states.
    pub fn secrets(&self) -> Secrets {
        let ephemeral_key = ecdh_x(self.remote_ephemeral, self.ephemeral);
        let shared_secret = keccak(&[
            &ephemeral_key,
            &keccak(&[self.recipient_nonce, self.initiator_nonce]),
        ]);
        let aes_secret = keccak(&[&ephemeral_key, &shared_secret]);
        let mac_secret = keccak(&[&ephemeral_key, &aes_secret]);
        // The initiator's egress MAC starts from the recipient's nonce and auth.
        let with_auth = MacState::new(
            &mac_secret,
            &[&xor32(&mac_secret, self.recipient_nonce), self.auth],
        );
        let with_ack = MacState::new(
            &mac_secret,
            &[&xor32(&mac_secret, self.initiator_nonce), self.ack],
        );
        let (egress_mac, ingress_mac) = match self.role {
            Role::Initiator => (with_auth, with_ack),
            Role::Recipient => (with_ack, with_auth),
        };
        Secrets {
            aes_secret,
            mac_secret,
            egress_mac,
            ingress_mac,
            remote_id: self.remote_id,
        }
    }
}

/// Runs both ends of a handshake in memory, without I/O, through the same
/// message functions as [`initiate`] and [`respond`], and returns the
/// initiator's and the recipient's secrets. With `eip8_ack` false the ack is
/// written in the legacy format.
///
/// For tests, benchmarks, fuzzing and in-process simulations: a deterministic
/// `rng` gives a deterministic session.
pub fn in_memory(
    initiator: &NodeKey,
    recipient: &NodeKey,
    eip8_ack: bool,
    rng: &mut impl RngCore,
) -> Result<(Secrets, Secrets), RlpxError> {
    let initiator_ephemeral = SecretKey::new(rng);
    let recipient_ephemeral = SecretKey::new(rng);
    let initiator_nonce = random_nonce(rng);
    let recipient_nonce = random_nonce(rng);

    let auth = encode_auth(
        initiator,
        recipient.public(),
        &initiator_ephemeral,
        &initiator_nonce,
        rng,
    );
    let auth_seen = decode_auth(recipient, &auth)?;
    let ack = encode_ack(
        &auth_seen.initiator,
        &recipient_ephemeral,
        &recipient_nonce,
        eip8_ack,
        rng,
    );
    let ack_seen = decode_ack(initiator, &ack)?;
    let initiator_secrets = HandshakeTranscript {
        role: Role::Initiator,
        ephemeral: &initiator_ephemeral,
        remote_ephemeral: &ack_seen.recipient_ephemeral,
        initiator_nonce: &initiator_nonce,
        recipient_nonce: &ack_seen.nonce,
        auth: &auth,
        ack: &ack,
        remote_id: recipient.id(),
    }
    .secrets();
    let recipient_secrets = HandshakeTranscript {
        role: Role::Recipient,
        ephemeral: &recipient_ephemeral,
        remote_ephemeral: &auth_seen.initiator_ephemeral,
        initiator_nonce: &auth_seen.nonce,
        recipient_nonce: &recipient_nonce,
        auth: &auth,
        ack: &ack,
        remote_id: PeerId::from_public_key(&auth_seen.initiator),
    }
    .secrets();
    Ok((initiator_secrets, recipient_secrets))
}

fn random_nonce(rng: &mut impl RngCore) -> [u8; 32] {
    let mut nonce = [0u8; 32];
    rng.fill_bytes(&mut nonce);
    nonce
}

/// What a handshake driver yields: the secrets, and whatever the remote sent
/// after its handshake message (the start of its first frame), which belongs
/// to the frame decoder.
pub struct Outcome {
    /// The frame secrets and the authenticated remote identity.
    pub secrets: Secrets,
    /// Bytes read past the handshake message.
    pub read_ahead: BytesMut,
}

/// Fills `buf` from `io` until it holds at least `len` bytes. A read may bring
/// more than asked (the start of the first frame); those bytes stay in `buf`.
async fn fill<Io: AsyncRead + Unpin>(
    io: &mut Io,
    buf: &mut BytesMut,
    len: usize,
) -> Result<(), RlpxError> {
    while buf.len() < len {
        // Room for what is missing (up to a step) plus a typical first
        // frame, so one read usually brings the whole message.
        buf.reserve((len - buf.len()).min(FILL_STEP) + READ_AHEAD);
        if io.read_buf(buf).await? == 0 {
            return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
        }
    }
    Ok(())
}

/// Most room made ahead of the bytes a peer has actually sent. The 16-bit
/// size prefix lets a peer announce 64 KiB and then stall; real auth and ack
/// messages are 200 to 600 bytes. Growing by steps makes a stalled
/// handshake cost what its peer sent, not what it announced.
const FILL_STEP: usize = 2048;

/// Room left for bytes past a handshake message, so that the remote's Hello
/// usually arrives in the same read as its ack.
const READ_AHEAD: usize = 512;

/// Reads one handshake message: the legacy fixed-size form when it starts like
/// one and decrypts as such, else the EIP-8 form with its 2-byte size prefix.
/// The message is split off `buf`; what follows it stays there. At most
/// 65,537 bytes plus the read-ahead room are ever buffered (the prefix is 16
/// bits).
async fn read_message<Io: AsyncRead + Unpin>(
    io: &mut Io,
    buf: &mut BytesMut,
    key: &NodeKey,
    legacy_len: usize,
) -> Result<BytesMut, RlpxError> {
    fill(io, buf, 2).await?;
    if buf[0] == 0x04 {
        // Either a legacy message (an uncompressed ephemeral key comes first) or
        // an EIP-8 one of 1,024 bytes or more: read the legacy length first.
        fill(io, buf, legacy_len).await?;
        if ecies::decrypt(key.secret(), &buf[..legacy_len], &[]).is_ok() {
            return Ok(buf.split_to(legacy_len));
        }
    }
    let total = 2 + u16::from_be_bytes([buf[0], buf[1]]) as usize;
    if total < 2 + ECIES_OVERHEAD || (buf[0] == 0x04 && total < legacy_len) {
        return Err(RlpxError::InvalidHandshake("size prefix too small"));
    }
    fill(io, buf, total).await?;
    Ok(buf.split_to(total))
}

/// Runs the handshake as initiator over `io`, proving that the remote holds
/// the key of `remote`.
pub async fn initiate<Io: AsyncRead + AsyncWrite + Unpin>(
    io: &mut Io,
    key: &NodeKey,
    remote: PeerId,
) -> Result<Outcome, RlpxError> {
    let remote_public = remote
        .public_key()
        .map_err(|_| RlpxError::InvalidHandshake("remote id is not on the curve"))?;
    let (ephemeral, nonce, auth) = {
        let mut rng = rand::rng();
        let ephemeral = SecretKey::new(&mut rng);
        let nonce = random_nonce(&mut rng);
        let auth = encode_auth(key, &remote_public, &ephemeral, &nonce, &mut rng);
        (ephemeral, nonce, auth)
    };
    io.write_all(&auth).await?;
    io.flush().await?;

    let mut read_ahead = BytesMut::new();
    let ack_wire = read_message(io, &mut read_ahead, key, LEGACY_ACK_LEN).await?;
    let ack = decode_ack(key, &ack_wire)?;
    let secrets = HandshakeTranscript {
        role: Role::Initiator,
        ephemeral: &ephemeral,
        remote_ephemeral: &ack.recipient_ephemeral,
        initiator_nonce: &nonce,
        recipient_nonce: &ack.nonce,
        auth: &auth,
        ack: &ack_wire,
        remote_id: remote,
    }
    .secrets();
    Ok(Outcome {
        secrets,
        read_ahead,
    })
}

/// Runs the handshake as recipient over `io`; the remote's identity is what
/// its auth message proves.
pub async fn respond<Io: AsyncRead + AsyncWrite + Unpin>(
    io: &mut Io,
    key: &NodeKey,
) -> Result<Outcome, RlpxError> {
    respond_with(io, key, || {}).await
}

/// [`respond`], calling `auth_complete` once the whole auth message is in
/// and before any work is done on it: the point from which the handshake
/// costs the node a key agreement, and no longer only a buffer.
pub async fn respond_with<Io: AsyncRead + AsyncWrite + Unpin>(
    io: &mut Io,
    key: &NodeKey,
    auth_complete: impl FnOnce(),
) -> Result<Outcome, RlpxError> {
    let mut read_ahead = BytesMut::new();
    let auth_wire = read_message(io, &mut read_ahead, key, LEGACY_AUTH_LEN).await?;
    auth_complete();
    let auth = decode_auth(key, &auth_wire)?;
    let (ephemeral, nonce, ack) = {
        let mut rng = rand::rng();
        let ephemeral = SecretKey::new(&mut rng);
        let nonce = random_nonce(&mut rng);
        let ack = encode_ack(&auth.initiator, &ephemeral, &nonce, auth.eip8, &mut rng);
        (ephemeral, nonce, ack)
    };
    io.write_all(&ack).await?;
    io.flush().await?;
    let secrets = HandshakeTranscript {
        role: Role::Recipient,
        ephemeral: &ephemeral,
        remote_ephemeral: &auth.initiator_ephemeral,
        initiator_nonce: &auth.nonce,
        recipient_nonce: &nonce,
        auth: &auth_wire,
        ack: &ack,
        remote_id: PeerId::from_public_key(&auth.initiator),
    }
    .secrets();
    Ok(Outcome {
        secrets,
        read_ahead,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_stalled_auth_costs_what_was_sent_not_what_was_announced() {
        // A size prefix announcing 65,535 bytes, ten of them, then silence.
        let (mut peer, mut ours) = tokio::io::duplex(1 << 17);
        let mut sent = vec![0xff, 0xff];
        sent.extend_from_slice(&[7; 10]);
        peer.write_all(&sent).await.unwrap();
        let key = NodeKey::random();
        let mut buf = BytesMut::new();
        let read = read_message(&mut ours, &mut buf, &key, LEGACY_AUTH_LEN);
        let stalled = tokio::time::timeout(std::time::Duration::from_millis(50), read).await;
        assert!(stalled.is_err(), "still waiting for the rest");
        assert_eq!(&buf[..], &sent[..]);
        assert!(
            buf.capacity() <= 2 * (FILL_STEP + READ_AHEAD),
            "{} bytes reserved for 12 received",
            buf.capacity()
        );
    }
}
