//! The discovery v4 wire format: packet encoding, signing, decoding and
//! verification.
//!
//! A datagram is
//!
//! ```text
//! packet      = packet-hash || signature || packet-type || packet-data
//! packet-hash = keccak256(signature || packet-type || packet-data)     (32 bytes)
//! signature   = sign(keccak256(packet-type || packet-data))            (65 bytes, r || s || v)
//! ```
//!
//! and is at most [`MAX_PACKET_SIZE`] bytes long. `packet-data` is an RLP list whose
//! layout depends on the packet type (see [`Packet`]).
//!
//! Decoding follows EIP-8: list elements beyond the known ones are ignored, data
//! after the RLP list is ignored and the Ping version is not checked. Expiration
//! times are not checked by [`decode`]; callers use [`is_expired`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytes::Bytes;
use p2p_core::{keccak256, Enode, NodeKey, PeerId};
use rlp::{DecoderError, Rlp, RlpStream};
use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
use secp256k1::Message;

/// The largest datagram discovery v4 sends or accepts, in bytes.
pub const MAX_PACKET_SIZE: usize = 1280;
/// Length of the packet hash at the start of a datagram.
pub const HASH_SIZE: usize = 32;
/// Length of the recoverable signature that follows the hash.
pub const SIGNATURE_SIZE: usize = 65;
/// Length of hash and signature together: the packet type byte is at this offset.
pub const HEAD_SIZE: usize = HASH_SIZE + SIGNATURE_SIZE;
/// The shortest datagram that can be valid: the head plus the packet type byte.
pub const MIN_PACKET_SIZE: usize = HEAD_SIZE + 1;

/// The protocol version this implementation sends in Ping packets.
pub const PING_VERSION: u64 = 4;

/// Packet type of [`Ping`].
pub const PING_TYPE: u8 = 0x01;
/// Packet type of [`Pong`].
pub const PONG_TYPE: u8 = 0x02;
/// Packet type of [`FindNode`].
pub const FIND_NODE_TYPE: u8 = 0x03;
/// Packet type of [`Neighbors`].
pub const NEIGHBORS_TYPE: u8 = 0x04;
/// Packet type of [`EnrRequest`].
pub const ENR_REQUEST_TYPE: u8 = 0x05;
/// Packet type of [`EnrResponse`].
pub const ENR_RESPONSE_TYPE: u8 = 0x06;

/// Worst-case encoded size of one Neighbors node entry: an IPv6 address, two
/// three-byte ports and the 64-byte id, under a two-byte list header.
const MAX_NODE_ENTRY_SIZE: usize = {
    let payload = (1 + 16) + 3 + 3 + (2 + 64);
    list_header_len(payload) + payload
};

/// Worst-case size of a Neighbors datagram without its node entries: head, type,
/// outer list header, node list header and a full eight-byte expiration.
const NEIGHBORS_OVERHEAD: usize = HEAD_SIZE + 1 + 3 + 3 + 9;

/// The most nodes one Neighbors packet carries, so that even IPv6 nodes with
/// maximal ports and expiration fit in [`MAX_PACKET_SIZE`] (12).
pub const MAX_NEIGHBORS: usize = (MAX_PACKET_SIZE - NEIGHBORS_OVERHEAD) / MAX_NODE_ENTRY_SIZE;

const fn list_header_len(payload: usize) -> usize {
    if payload <= 55 {
        1
    } else if payload <= 0xff {
        2
    } else {
        3
    }
}

/// Why a packet could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The datagram (received or about to be sent) exceeds [`MAX_PACKET_SIZE`].
    /// Received datagrams are refused for this before any other work.
    #[error("packet of {0} bytes exceeds the 1280-byte limit")]
    TooLarge(usize),
    /// The datagram is shorter than hash, signature and type byte.
    #[error("packet of {0} bytes is too short")]
    TooShort(usize),
    /// The hash at the start of the datagram does not match its contents.
    #[error("packet hash mismatch")]
    HashMismatch,
    /// The signature is malformed or no public key can be recovered from it.
    #[error("invalid packet signature")]
    InvalidSignature,
    /// The packet type byte is not one discovery v4 defines.
    #[error("unknown packet type {0:#04x}")]
    UnknownPacketType(u8),
    /// The packet data is not valid RLP or a field has the wrong RLP shape
    /// (a list where a value was expected, an integer with leading zeros or too
    /// big for its field, ...).
    #[error("invalid RLP: {0}")]
    Rlp(DecoderError),
    /// The packet data list has fewer elements than the packet type requires.
    #[error("{packet} packet has {got} fields, needs at least {needed}")]
    MissingFields {
        /// The packet type's name.
        packet: &'static str,
        /// Number of elements required.
        needed: usize,
        /// Number of elements present.
        got: usize,
    },
    /// A fixed-size byte field (hash, node id, target) has the wrong length.
    #[error("{field} must be {expected} bytes, got {got}")]
    InvalidLength {
        /// The field's name.
        field: &'static str,
        /// The length the field must have.
        expected: usize,
        /// The length found.
        got: usize,
    },
    /// An endpoint IP address is neither empty, 4 nor 16 bytes long.
    #[error("IP address of {0} bytes")]
    InvalidIpLength(usize),
    /// The record of an ENRResponse is not a single RLP list.
    #[error("ENR is not a single RLP list")]
    InvalidEnr,
}

impl From<DecoderError> for WireError {
    fn from(e: DecoderError) -> Self {
        WireError::Rlp(e)
    }
}

/// A UDP/TCP endpoint as carried in Ping, Pong and (flattened) Neighbors.
///
/// RLP: `[ip, udp-port, tcp-port]`, where `ip` is 4 bytes (IPv4) or 16 bytes
/// (IPv6). Some implementations send an empty `ip`; go-ethereum accepts it, and so
/// does this decoder, as `ip: None` (which is also encoded as an empty string).
/// A 16-byte IPv4-mapped address stays an IPv6 address, so that decoding and
/// encoding round-trip byte for byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// The IP address, `None` when the sender left it empty.
    pub ip: Option<IpAddr>,
    /// The UDP (discovery) port.
    pub udp_port: u16,
    /// The TCP (RLPx) port; 0 if the node does not accept connections.
    pub tcp_port: u16,
}

impl Endpoint {
    /// An endpoint with the given address and ports.
    pub fn new(ip: impl Into<IpAddr>, udp_port: u16, tcp_port: u16) -> Self {
        Endpoint {
            ip: Some(ip.into()),
            udp_port,
            tcp_port,
        }
    }

    fn append_fields(&self, s: &mut RlpStream) {
        match self.ip {
            None => s.append_empty_data(),
            Some(IpAddr::V4(ip)) => s.append(&ip.octets().as_slice()),
            Some(IpAddr::V6(ip)) => s.append(&ip.octets().as_slice()),
        };
        s.append(&self.udp_port);
        s.append(&self.tcp_port);
    }

    /// Decodes the three endpoint fields starting at `first` in the list `rlp`.
    fn decode_fields(rlp: &Rlp<'_>, first: usize) -> Result<Self, WireError> {
        let ip_item = rlp.at(first)?;
        if ip_item.is_list() {
            return Err(DecoderError::RlpExpectedToBeData.into());
        }
        let ip_bytes = ip_item.data()?;
        let ip = match ip_bytes.len() {
            0 => None,
            4 => Some(IpAddr::V4(Ipv4Addr::from(
                <[u8; 4]>::try_from(ip_bytes).expect("length checked"),
            ))),
            16 => Some(IpAddr::V6(Ipv6Addr::from(
                <[u8; 16]>::try_from(ip_bytes).expect("length checked"),
            ))),
            n => return Err(WireError::InvalidIpLength(n)),
        };
        Ok(Endpoint {
            ip,
            udp_port: rlp.val_at(first + 1)?,
            tcp_port: rlp.val_at(first + 2)?,
        })
    }

    fn decode_list(rlp: &Rlp<'_>) -> Result<Self, WireError> {
        require_fields(rlp, "endpoint", 3)?;
        Self::decode_fields(rlp, 0)
    }
}

/// One node in a [`Neighbors`] packet: `[ip, udp-port, tcp-port, node-id]`.
///
/// The id is the node's 64-byte public key; it is not checked to be a curve point
/// here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NodeRecordV4 {
    /// Address and ports.
    pub endpoint: Endpoint,
    /// The node's public key.
    pub id: PeerId,
}

impl From<Enode> for NodeRecordV4 {
    fn from(enode: Enode) -> Self {
        NodeRecordV4 {
            endpoint: Endpoint::new(enode.ip, enode.udp, enode.tcp),
            id: enode.id,
        }
    }
}

impl NodeRecordV4 {
    /// The node as an `enode://` URL, if it has an IP address.
    pub fn to_enode(&self) -> Option<Enode> {
        let ip = self.endpoint.ip?;
        Some(Enode::new(
            self.id,
            ip,
            self.endpoint.tcp_port,
            self.endpoint.udp_port,
        ))
    }
}

/// Ping (0x01): `[version, from, to, expiration, enr-seq?, ...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ping {
    /// Protocol version; [`PING_VERSION`] when sending, not checked when receiving.
    pub version: u64,
    /// The sender's endpoint.
    pub from: Endpoint,
    /// The recipient's endpoint as the sender sees it.
    pub to: Endpoint,
    /// Unix time (seconds) after which the packet is stale.
    pub expiration: u64,
    /// The sender's ENR sequence number (EIP-868). On decoding, a fifth element
    /// that is not an integer (EIP-8 vectors put a list there) is ignored as an
    /// unknown extra element and gives `None`.
    pub enr_seq: Option<u64>,
}

/// Pong (0x02): `[to, ping-hash, expiration, enr-seq?, ...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pong {
    /// The endpoint the Ping came from, as the responder saw it.
    pub to: Endpoint,
    /// Hash of the Ping packet being answered.
    pub ping_hash: [u8; 32],
    /// Unix time (seconds) after which the packet is stale.
    pub expiration: u64,
    /// The responder's ENR sequence number (EIP-868); non-integer fourth elements
    /// are ignored as for [`Ping::enr_seq`].
    pub enr_seq: Option<u64>,
}

/// FindNode (0x03): `[target, expiration, ...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindNode {
    /// The 64-byte public key whose neighbourhood is requested.
    pub target: PeerId,
    /// Unix time (seconds) after which the packet is stale.
    pub expiration: u64,
}

/// Neighbors (0x04): `[[node, ...], expiration, ...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neighbors {
    /// The nodes; see [`neighbors_chunks`] for splitting a long answer.
    pub nodes: Vec<NodeRecordV4>,
    /// Unix time (seconds) after which the packet is stale.
    pub expiration: u64,
}

/// ENRRequest (0x05, EIP-868): `[expiration, ...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrRequest {
    /// Unix time (seconds) after which the packet is stale.
    pub expiration: u64,
}

/// ENRResponse (0x06, EIP-868): `[request-hash, record, ...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrResponse {
    /// Hash of the ENRRequest packet being answered.
    pub request_hash: [u8; 32],
    /// The node record, kept as its raw RLP list encoding (parsing and signature
    /// checks belong to the ENR module).
    pub record: Bytes,
}

/// Any discovery v4 packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// See [`Ping`].
    Ping(Ping),
    /// See [`Pong`].
    Pong(Pong),
    /// See [`FindNode`].
    FindNode(FindNode),
    /// See [`Neighbors`].
    Neighbors(Neighbors),
    /// See [`EnrRequest`].
    EnrRequest(EnrRequest),
    /// See [`EnrResponse`].
    EnrResponse(EnrResponse),
}

impl Packet {
    /// The packet type byte.
    pub fn packet_type(&self) -> u8 {
        match self {
            Packet::Ping(_) => PING_TYPE,
            Packet::Pong(_) => PONG_TYPE,
            Packet::FindNode(_) => FIND_NODE_TYPE,
            Packet::Neighbors(_) => NEIGHBORS_TYPE,
            Packet::EnrRequest(_) => ENR_REQUEST_TYPE,
            Packet::EnrResponse(_) => ENR_RESPONSE_TYPE,
        }
    }

    /// A short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Packet::Ping(_) => "PING",
            Packet::Pong(_) => "PONG",
            Packet::FindNode(_) => "FINDNODE",
            Packet::Neighbors(_) => "NEIGHBORS",
            Packet::EnrRequest(_) => "ENRREQUEST",
            Packet::EnrResponse(_) => "ENRRESPONSE",
        }
    }

    /// The expiration time the packet carries, if its type has one.
    pub fn expiration(&self) -> Option<u64> {
        match self {
            Packet::Ping(p) => Some(p.expiration),
            Packet::Pong(p) => Some(p.expiration),
            Packet::FindNode(p) => Some(p.expiration),
            Packet::Neighbors(p) => Some(p.expiration),
            Packet::EnrRequest(p) => Some(p.expiration),
            Packet::EnrResponse(_) => None,
        }
    }

    /// The RLP `packet-data` of this packet (without type byte).
    pub fn encode_data(&self) -> Result<Vec<u8>, WireError> {
        let mut s = RlpStream::new();
        match self {
            Packet::Ping(p) => {
                s.begin_list(4 + usize::from(p.enr_seq.is_some()));
                s.append(&p.version);
                s.begin_list(3);
                p.from.append_fields(&mut s);
                s.begin_list(3);
                p.to.append_fields(&mut s);
                s.append(&p.expiration);
                if let Some(seq) = p.enr_seq {
                    s.append(&seq);
                }
            }
            Packet::Pong(p) => {
                s.begin_list(3 + usize::from(p.enr_seq.is_some()));
                s.begin_list(3);
                p.to.append_fields(&mut s);
                s.append(&p.ping_hash.as_slice());
                s.append(&p.expiration);
                if let Some(seq) = p.enr_seq {
                    s.append(&seq);
                }
            }
            Packet::FindNode(p) => {
                s.begin_list(2);
                s.append(&p.target.0.as_slice());
                s.append(&p.expiration);
            }
            Packet::Neighbors(p) => {
                s.begin_list(2);
                s.begin_list(p.nodes.len());
                for node in &p.nodes {
                    s.begin_list(4);
                    node.endpoint.append_fields(&mut s);
                    s.append(&node.id.0.as_slice());
                }
                s.append(&p.expiration);
            }
            Packet::EnrRequest(p) => {
                s.begin_list(1);
                s.append(&p.expiration);
            }
            Packet::EnrResponse(p) => {
                let record = Rlp::new(&p.record);
                let info = record.payload_info().map_err(|_| WireError::InvalidEnr)?;
                if !record.is_list() || info.total() != p.record.len() {
                    return Err(WireError::InvalidEnr);
                }
                s.begin_list(2);
                s.append(&p.request_hash.as_slice());
                s.append_raw(&p.record, 1);
            }
        }
        Ok(s.out().to_vec())
    }

    /// Decodes `packet-data` of the given type. Extra list elements and data after
    /// the list are ignored (EIP-8).
    pub fn decode_data(packet_type: u8, data: &[u8]) -> Result<Packet, WireError> {
        if !(PING_TYPE..=ENR_RESPONSE_TYPE).contains(&packet_type) {
            return Err(WireError::UnknownPacketType(packet_type));
        }
        // Only the first RLP item counts; anything after it is ignored.
        let info = Rlp::new(data).payload_info()?;
        let rlp = Rlp::new(&data[..info.total()]);
        if !rlp.is_list() {
            return Err(DecoderError::RlpExpectedToBeList.into());
        }
        let packet = match packet_type {
            PING_TYPE => {
                require_fields(&rlp, "PING", 4)?;
                Packet::Ping(Ping {
                    version: rlp.val_at(0)?,
                    from: Endpoint::decode_list(&rlp.at(1)?)?,
                    to: Endpoint::decode_list(&rlp.at(2)?)?,
                    expiration: rlp.val_at(3)?,
                    enr_seq: optional_u64(&rlp, 4),
                })
            }
            PONG_TYPE => {
                require_fields(&rlp, "PONG", 3)?;
                Packet::Pong(Pong {
                    to: Endpoint::decode_list(&rlp.at(0)?)?,
                    ping_hash: fixed_bytes(&rlp.at(1)?, "ping-hash")?,
                    expiration: rlp.val_at(2)?,
                    enr_seq: optional_u64(&rlp, 3),
                })
            }
            FIND_NODE_TYPE => {
                require_fields(&rlp, "FINDNODE", 2)?;
                Packet::FindNode(FindNode {
                    target: PeerId(fixed_bytes(&rlp.at(0)?, "target")?),
                    expiration: rlp.val_at(1)?,
                })
            }
            NEIGHBORS_TYPE => {
                require_fields(&rlp, "NEIGHBORS", 2)?;
                let list = rlp.at(0)?;
                if !list.is_list() {
                    return Err(DecoderError::RlpExpectedToBeList.into());
                }
                let count = list.item_count()?;
                let mut nodes = Vec::with_capacity(count.min(MAX_PACKET_SIZE / 8));
                for i in 0..count {
                    let node = list.at(i)?;
                    require_fields(&node, "node", 4)?;
                    nodes.push(NodeRecordV4 {
                        endpoint: Endpoint::decode_fields(&node, 0)?,
                        id: PeerId(fixed_bytes(&node.at(3)?, "node-id")?),
                    });
                }
                Packet::Neighbors(Neighbors {
                    nodes,
                    expiration: rlp.val_at(1)?,
                })
            }
            ENR_REQUEST_TYPE => {
                require_fields(&rlp, "ENRREQUEST", 1)?;
                Packet::EnrRequest(EnrRequest {
                    expiration: rlp.val_at(0)?,
                })
            }
            _ => {
                require_fields(&rlp, "ENRRESPONSE", 2)?;
                let record = rlp.at(1)?;
                if !record.is_list() {
                    return Err(WireError::InvalidEnr);
                }
                Packet::EnrResponse(EnrResponse {
                    request_hash: fixed_bytes(&rlp.at(0)?, "request-hash")?,
                    record: Bytes::copy_from_slice(record.as_raw()),
                })
            }
        };
        Ok(packet)
    }
}

/// Checks that `rlp` is a list with at least `needed` elements.
fn require_fields(rlp: &Rlp<'_>, packet: &'static str, needed: usize) -> Result<(), WireError> {
    let got = rlp.item_count()?;
    if got < needed {
        return Err(WireError::MissingFields {
            packet,
            needed,
            got,
        });
    }
    Ok(())
}

/// A byte-string field of exactly `N` bytes.
fn fixed_bytes<const N: usize>(item: &Rlp<'_>, field: &'static str) -> Result<[u8; N], WireError> {
    if !item.is_data() {
        return Err(DecoderError::RlpExpectedToBeData.into());
    }
    let data = item.data()?;
    data.try_into().map_err(|_| WireError::InvalidLength {
        field,
        expected: N,
        got: data.len(),
    })
}

/// An optional trailing integer (EIP-868 `enr-seq`): absent or not an integer
/// gives `None`, the latter being an unknown EIP-8 extra element.
fn optional_u64(rlp: &Rlp<'_>, index: usize) -> Option<u64> {
    rlp.at(index).ok()?.as_val().ok()
}

/// A received packet after verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The packet.
    pub packet: Packet,
    /// The public key that signed it.
    pub sender: PeerId,
    /// The packet hash (the first 32 bytes of the datagram), which Pong and
    /// ENRResponse echo back.
    pub hash: [u8; 32],
}

/// Signs and frames `packet`, returning the datagram and its hash.
///
/// Fails with [`WireError::TooLarge`] if the datagram would exceed
/// [`MAX_PACKET_SIZE`] (use [`neighbors_chunks`] for long node lists), and with
/// [`WireError::InvalidEnr`] if an ENRResponse record is not one RLP list.
pub fn encode(key: &NodeKey, packet: &Packet) -> Result<(Bytes, [u8; 32]), WireError> {
    let data = packet.encode_data()?;
    seal(key, packet.packet_type(), &data)
}

/// Frames arbitrary `packet-data` under `packet_type`: signs, hashes and
/// prepends both. The type and data are not checked (useful for tests and for
/// sending future packet types); the size limit is.
pub fn seal(key: &NodeKey, packet_type: u8, data: &[u8]) -> Result<(Bytes, [u8; 32]), WireError> {
    let len = HEAD_SIZE + 1 + data.len();
    if len > MAX_PACKET_SIZE {
        return Err(WireError::TooLarge(len));
    }
    let mut buf = vec![0u8; HEAD_SIZE];
    buf.reserve_exact(1 + data.len());
    buf.push(packet_type);
    buf.extend_from_slice(data);

    let digest = keccak256(&buf[HEAD_SIZE..]);
    let sig =
        RecoverableSignature::sign_ecdsa_recoverable(Message::from_digest(digest), key.secret());
    let (recid, compact) = sig.serialize_compact();
    buf[HASH_SIZE..HASH_SIZE + 64].copy_from_slice(&compact);
    buf[HASH_SIZE + 64] = u8::from(recid);

    let hash = keccak256(&buf[HASH_SIZE..]);
    buf[..HASH_SIZE].copy_from_slice(&hash);
    Ok((Bytes::from(buf), hash))
}

/// Verifies and decodes a received datagram.
///
/// Checks, in order: size at most [`MAX_PACKET_SIZE`] (before any other work),
/// size at least [`MIN_PACKET_SIZE`], the hash, the signature (recovering the
/// sender), the packet type and the RLP data. Expiration is not checked; see
/// [`is_expired`].
pub fn decode(datagram: &[u8]) -> Result<Decoded, WireError> {
    if datagram.len() > MAX_PACKET_SIZE {
        return Err(WireError::TooLarge(datagram.len()));
    }
    if datagram.len() < MIN_PACKET_SIZE {
        return Err(WireError::TooShort(datagram.len()));
    }
    let (hash, rest) = datagram.split_at(HASH_SIZE);
    let computed = keccak256(rest);
    if hash != computed {
        return Err(WireError::HashMismatch);
    }
    let (sig, signed) = rest.split_at(SIGNATURE_SIZE);
    let recid =
        RecoveryId::try_from(i32::from(sig[64])).map_err(|_| WireError::InvalidSignature)?;
    let sig = RecoverableSignature::from_compact(&sig[..64], recid)
        .map_err(|_| WireError::InvalidSignature)?;
    let public = sig
        .recover_ecdsa(Message::from_digest(keccak256(signed)))
        .map_err(|_| WireError::InvalidSignature)?;
    let packet = Packet::decode_data(signed[0], &signed[1..])?;
    Ok(Decoded {
        packet,
        sender: PeerId::from_public_key(&public),
        hash: computed,
    })
}

/// Whether a packet with `expiration` (Unix seconds) is stale at `now_unix`:
/// true once the expiration lies in the past.
///
/// The field is read as a signed number, as go-ethereum reads it: a value
/// of 2^63 or more is a negative time, long past. (go-ethereum's conformance
/// suite sends its "past" expiration as the two's complement of a time.)
pub fn is_expired(expiration: u64, now_unix: u64) -> bool {
    i64::try_from(expiration).is_err() || expiration < now_unix
}

/// Splits `nodes` into Neighbors packets of at most [`MAX_NEIGHBORS`] nodes, each
/// of which encodes within [`MAX_PACKET_SIZE`] whatever the addresses, ports and
/// expiration. An empty `nodes` gives one empty packet (a FindNode is always
/// answered).
pub fn neighbors_chunks(nodes: &[NodeRecordV4], expiration: u64) -> Vec<Packet> {
    if nodes.is_empty() {
        return vec![Packet::Neighbors(Neighbors {
            nodes: Vec::new(),
            expiration,
        })];
    }
    nodes
        .chunks(MAX_NEIGHBORS)
        .map(|chunk| {
            Packet::Neighbors(Neighbors {
                nodes: chunk.to_vec(),
                expiration,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_neighbors_is_twelve() {
        assert_eq!(MAX_NODE_ENTRY_SIZE, 91);
        assert_eq!(MAX_NEIGHBORS, 12);
    }

    #[test]
    fn expiry_is_strict() {
        assert!(!is_expired(100, 100));
        assert!(is_expired(99, 100));
        assert!(!is_expired(101, 100));
        // Read as signed, as go-ethereum does: the two's complement of a
        // time is long past, not far in the future.
        assert!(is_expired(100u64.wrapping_neg(), 100));
        assert!(is_expired(1u64 << 63, 100));
    }
}
