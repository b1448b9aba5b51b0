//! Node records (EIP-778, "ENR"), through the well-kept `enr` crate with its
//! `secp256k1` backend, the same secp256k1 the rest of the stack uses, so the
//! lock file holds one version.
//!
//! What this module adds: the record of the local node, whose sequence number
//! rises exactly when its content changes; the `eth` entry carrying an EIP-2124
//! fork id; and the way from a record to an [`Enode`].

use std::net::IpAddr;

use rlp::{Rlp, RlpStream};

use crate::enode::Enode;
use crate::identity::{NodeKey, PeerId};

/// A signed node record with the "v4" identity scheme.
pub type NodeRecord = enr::Enr<secp256k1::SecretKey>;
/// Why a record could not be built, changed or read.
pub type RecordError = enr::Error;

/// The largest encoded record EIP-778 allows.
pub const MAX_RECORD_SIZE: usize = 300;
/// The key of the `eth` entry (EIP-2124 fork id, as go-ethereum writes it).
pub const ETH_KEY: &str = "eth";

/// A record from its raw RLP, as discovery carries it (v4's ENRResponse, v5's
/// NODES): refused past [`MAX_RECORD_SIZE`], else read through the `enr:`
/// text form, which is what the `enr` crate reads (it speaks another RLP
/// library). The error is the crate's, in words.
pub fn from_rlp(raw: &[u8]) -> Result<NodeRecord, String> {
    if raw.len() > MAX_RECORD_SIZE {
        return Err(format!("{} bytes, more than {MAX_RECORD_SIZE}", raw.len()));
    }
    format!("enr:{}", data_encoding::BASE64URL_NOPAD.encode(raw)).parse()
}

/// An EIP-2124 fork identifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ForkId {
    /// CRC32 of the genesis hash and the fork blocks/times passed.
    pub hash: [u8; 4],
    /// The next fork's block number or time, 0 if none is known.
    pub next: u64,
}

impl rlp::Encodable for ForkId {
    fn rlp_append(&self, s: &mut RlpStream) {
        s.begin_list(2);
        s.append(&self.hash.as_slice());
        s.append(&self.next);
    }
}

impl rlp::Decodable for ForkId {
    fn decode(rlp: &Rlp<'_>) -> Result<Self, rlp::DecoderError> {
        let hash: Vec<u8> = rlp.val_at(0)?;
        Ok(ForkId {
            hash: hash
                .try_into()
                .map_err(|_| rlp::DecoderError::Custom("fork hash is not 4 bytes"))?,
            next: rlp.val_at(1)?,
        })
    }
}

/// The `eth` entry of a record: `[[fork-hash, fork-next], ...]`, of which the
/// first element is the fork id (later elements are ignored, as EIP-2124's
/// forward compatibility asks). `None` when absent or malformed.
pub fn eth_fork_id(record: &NodeRecord) -> Option<ForkId> {
    let raw = record.get_raw_rlp(ETH_KEY)?;
    let entry = Rlp::new(raw);
    entry.val_at(0).ok()
}

/// The value of the `eth` entry for `fork_id`, as go-ethereum writes it:
/// `[[fork_hash, fork_next]]` (a list, so that later fields can follow).
pub fn eth_entry(fork_id: &ForkId) -> bytes::Bytes {
    let mut entry = RlpStream::new_list(1);
    entry.append(fork_id);
    entry.out().freeze()
}

/// The record's identity as a peer id.
pub fn peer_id(record: &NodeRecord) -> PeerId {
    let public = record.public_key();
    PeerId::from_public_key(&public)
}

/// The `enode://` form of a record: its IPv4 endpoint if it has one, else its
/// IPv6 one (ports from `tcp6`/`udp6`, else `tcp`/`udp`). `None` when the
/// record has no IP address.
pub fn enode(record: &NodeRecord) -> Option<Enode> {
    let id = peer_id(record);
    if let Some(ip) = record.ip4() {
        let tcp = record.tcp4().unwrap_or(0);
        let udp = record.udp4().unwrap_or(tcp);
        return Some(Enode::new(id, ip.into(), tcp, udp));
    }
    let ip = record.ip6()?;
    // A record with only an IPv6 address may keep its ports under `tcp`
    // and `udp` (go-ethereum's tools write it so); go-ethereum reads them
    // when `tcp6` and `udp6` are absent, and so do we.
    let tcp = record.tcp6().or_else(|| record.tcp4()).unwrap_or(0);
    let udp = record.udp6().or_else(|| record.udp4()).unwrap_or(tcp);
    Some(Enode::new(id, ip.into(), tcp, udp))
}

/// A node given in either text form go-ethereum takes: an `enode://` URL
/// (with an IP address) or an `enr:` record, read for its endpoint.
pub fn enode_from_text(text: &str) -> Result<Enode, String> {
    if text.starts_with("enr:") {
        let record: NodeRecord = text.parse()?;
        enode(&record).ok_or_else(|| "the record has no IP address".to_owned())
    } else {
        text.parse().map_err(|e| format!("{e}"))
    }
}

/// The record key of a node's QUIC port beside its IPv4 address.
pub const QUIC_KEY: &[u8] = b"quic";
/// The record key of a node's QUIC port beside its IPv6 address.
pub const QUIC6_KEY: &[u8] = b"quic6";

/// The endpoint a local record advertises.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Endpoint {
    /// The IP address others should reach us at.
    pub ip: Option<IpAddr>,
    /// The RLPx (TCP) port.
    pub tcp: Option<u16>,
    /// The discovery (UDP) port.
    pub udp: Option<u16>,
    /// The QUIC (UDP) port of a node that also speaks devp2p over QUIC,
    /// announced under the `quic` (or `quic6`) key as consensus clients do.
    pub quic: Option<u16>,
}

impl Endpoint {
    /// An endpoint with one port for RLPx and discovery alike, as most nodes
    /// run, and no QUIC.
    pub fn new(ip: impl Into<IpAddr>, port: u16) -> Self {
        Endpoint {
            ip: Some(ip.into()),
            tcp: Some(port),
            udp: Some(port),
            quic: None,
        }
    }
}

/// The local node's record: rebuilt and re-signed only when its content
/// changes, its sequence number rising by one each time (peers keep the
/// record with the highest sequence number).
pub struct LocalRecord {
    key: NodeKey,
    record: NodeRecord,
    endpoint: Endpoint,
    fork_id: Option<ForkId>,
}

impl LocalRecord {
    /// A record for `key` advertising `endpoint`, starting at sequence
    /// number `seq` (keep the last one across restarts so it keeps rising).
    pub fn new(key: NodeKey, endpoint: Endpoint, seq: u64) -> Result<Self, RecordError> {
        let record = build(&key, &endpoint, None, seq)?;
        Ok(LocalRecord {
            key,
            record,
            endpoint,
            fork_id: None,
        })
    }

    /// The current record.
    pub fn record(&self) -> &NodeRecord {
        &self.record
    }

    /// The current sequence number.
    pub fn seq(&self) -> u64 {
        self.record.seq()
    }

    /// Advertises `endpoint`; the sequence number rises if it differs from
    /// the current one. Returns whether the record changed.
    pub fn set_endpoint(&mut self, endpoint: Endpoint) -> Result<bool, RecordError> {
        if endpoint == self.endpoint {
            return Ok(false);
        }
        self.record = build(&self.key, &endpoint, self.fork_id, self.seq() + 1)?;
        self.endpoint = endpoint;
        Ok(true)
    }

    /// Advertises `fork_id` in the `eth` entry; the sequence number rises if
    /// it changed. Returns whether the record changed.
    pub fn set_fork_id(&mut self, fork_id: ForkId) -> Result<bool, RecordError> {
        if self.fork_id == Some(fork_id) {
            return Ok(false);
        }
        self.record = build(&self.key, &self.endpoint, Some(fork_id), self.seq() + 1)?;
        self.fork_id = Some(fork_id);
        Ok(true)
    }
}

fn build(
    key: &NodeKey,
    endpoint: &Endpoint,
    fork_id: Option<ForkId>,
    seq: u64,
) -> Result<NodeRecord, RecordError> {
    let mut builder = enr::Enr::builder();
    builder.seq(seq);
    if let Some(ip) = endpoint.ip {
        builder.ip(ip);
        let v6 = ip.is_ipv6();
        if let Some(tcp) = endpoint.tcp {
            if v6 {
                builder.tcp6(tcp);
            } else {
                builder.tcp4(tcp);
            }
        }
        if let Some(udp) = endpoint.udp {
            if v6 {
                builder.udp6(udp);
            } else {
                builder.udp4(udp);
            }
        }
        if let Some(quic) = endpoint.quic {
            builder.add_value(if v6 { QUIC6_KEY } else { QUIC_KEY }, &quic);
        }
    }
    if let Some(fork_id) = fork_id {
        builder.add_value_rlp(ETH_KEY, eth_entry(&fork_id));
    }
    builder.build(key.secret())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn vector() -> Value {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/enr_dns.json");
        serde_json::from_str::<Value>(&std::fs::read_to_string(path).unwrap()).unwrap()["enr"]
            .clone()
    }

    #[test]
    fn raw_rlp_reads_as_the_text_form_up_to_the_size_limit() {
        let text = vector()["record"].as_str().unwrap().to_owned();
        let record: NodeRecord = text.parse().unwrap();
        let raw = data_encoding::BASE64URL_NOPAD
            .decode(&text.as_bytes()["enr:".len()..])
            .unwrap();
        assert_eq!(from_rlp(&raw).unwrap(), record);
        let mut oversized = raw.clone();
        oversized.resize(MAX_RECORD_SIZE + 1, 0);
        assert_eq!(
            from_rlp(&oversized).unwrap_err(),
            "301 bytes, more than 300"
        );
        assert!(from_rlp(&raw[..raw.len() - 1]).is_err());
    }

    #[test]
    fn eip778_example_record_reads_and_verifies() {
        let v = vector();
        let record: NodeRecord = v["record"].as_str().unwrap().parse().unwrap();
        assert!(record.verify());
        assert_eq!(record.seq(), 1);
        assert_eq!(record.ip4().unwrap().to_string(), v["ip"].as_str().unwrap());
        assert_eq!(record.udp4(), Some(30303));
        assert_eq!(record.id().as_deref(), Some("v4"));
        assert_eq!(
            hex::encode(record.signature()),
            v["signature"].as_str().unwrap()
        );
        let key: NodeKey = v["private_key"].as_str().unwrap().parse().unwrap();
        assert_eq!(peer_id(&record), key.id());
        assert_eq!(
            peer_id(&record).node_id().to_string(),
            v["node_id"].as_str().unwrap()
        );
        let enode = enode(&record).unwrap();
        assert_eq!((enode.id, enode.udp, enode.tcp), (key.id(), 30303, 0));
    }

    #[test]
    fn building_the_example_gives_the_same_content() {
        // The example's signature was not made with an RFC 6979 nonce, so the
        // signatures differ; everything they sign is the same.
        let v = vector();
        let key: NodeKey = v["private_key"].as_str().unwrap().parse().unwrap();
        let local = LocalRecord::new(
            key,
            Endpoint {
                ip: Some("127.0.0.1".parse().unwrap()),
                tcp: None,
                udp: Some(30303),
                quic: None,
            },
            1,
        )
        .unwrap();
        let example: NodeRecord = v["record"].as_str().unwrap().parse().unwrap();
        assert!(local.record().compare_content(&example));
        assert!(local.record().verify());
        assert_eq!(local.record().size(), example.size());
    }

    #[test]
    fn sequence_rises_exactly_when_the_content_changes() {
        let endpoint = Endpoint {
            ip: Some("10.0.0.1".parse().unwrap()),
            tcp: Some(30303),
            udp: Some(30303),
            quic: None,
        };
        let mut local = LocalRecord::new(NodeKey::random(), endpoint, 7).unwrap();
        assert_eq!(local.seq(), 7);
        assert!(!local.set_endpoint(endpoint).unwrap());
        assert_eq!(local.seq(), 7);
        let moved = Endpoint {
            ip: Some("2001:db8::1".parse().unwrap()),
            ..endpoint
        };
        assert!(local.set_endpoint(moved).unwrap());
        assert_eq!(local.seq(), 8);
        assert_eq!(local.record().ip6(), Some("2001:db8::1".parse().unwrap()));
        assert_eq!(local.record().tcp6(), Some(30303));
        assert!(local.record().verify());

        let fork = ForkId {
            hash: [0xfc, 0x64, 0xec, 0x04],
            next: 1_150_000,
        };
        assert!(local.set_fork_id(fork).unwrap());
        assert!(!local.set_fork_id(fork).unwrap());
        assert_eq!(local.seq(), 9);
        // A peer reading the text form sees the same fork id.
        let text = local.record().to_base64();
        let read: NodeRecord = text.parse().unwrap();
        assert_eq!(eth_fork_id(&read), Some(fork));
        assert_eq!(
            enode(&read).unwrap().ip,
            "2001:db8::1".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn records_over_300_bytes_are_refused() {
        let key = NodeKey::random();
        let mut builder = enr::Enr::builder();
        builder.add_value("big", &vec![0u8; 300].as_slice());
        assert!(builder.build(key.secret()).is_err());
    }

    #[test]
    fn tampered_records_are_refused() {
        let v = vector();
        let text = v["record"].as_str().unwrap();
        // Change every character of the content in turn (the signature sits
        // at the front, the key-value pairs after it).
        for i in 90..text.len() {
            let mut bytes = text.as_bytes().to_vec();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let tampered = String::from_utf8(bytes).unwrap();
            if let Ok(record) = tampered.parse::<NodeRecord>() {
                assert!(!record.verify(), "position {i} accepted");
            }
        }
    }
}
