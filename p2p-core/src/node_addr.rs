//! What the server dials: a node's identity and everything known of where it
//! can be reached.
//!
//! An `enode://` URL names one IP with a TCP and a UDP port, enough for RLPx
//! and discovery. A node record (EIP-778) can announce more: an IPv6 endpoint
//! beside the IPv4 one, and ports of other transports (the `quic` and `quic6`
//! keys consensus clients use). The dial path carries the record along, so
//! that each transport picks its own address from it
//! ([`Network::dial_addr`](crate::network::Network::dial_addr)) and the
//! server itself never assumes TCP.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use crate::enode::Enode;
use crate::identity::PeerId;
use crate::record::{self, NodeRecord};

/// A node to dial: its `enode://` form and, when known, its signed record.
#[derive(Clone, Debug)]
pub struct NodeAddr {
    enode: Enode,
    record: Option<Arc<NodeRecord>>,
}

impl NodeAddr {
    /// A node known from its record. `None` when the record announces no IP
    /// address (there is nowhere to dial it).
    pub fn from_record(record: NodeRecord) -> Option<Self> {
        let enode = record::enode(&record)?;
        Some(NodeAddr {
            enode,
            record: Some(Arc::new(record)),
        })
    }

    /// The node's identity.
    pub fn id(&self) -> PeerId {
        self.enode.id
    }

    /// The node as an `enode://` URL would name it: one IP (the record's
    /// IPv4 one when it has both), its TCP and UDP ports.
    pub fn enode(&self) -> &Enode {
        &self.enode
    }

    /// The node's record, when the node came from one.
    pub fn record(&self) -> Option<&NodeRecord> {
        self.record.as_deref()
    }

    /// Where to open an RLPx connection: the enode's TCP endpoint, `None`
    /// when its TCP port is 0 (go-ethereum writes 0 for a node without a
    /// listener).
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        (self.enode.tcp != 0).then(|| self.enode.tcp_addr())
    }

    /// The endpoint the record announces under the port key `key4` (with
    /// `ip`) or else `key6` (with `ip6`): for QUIC, `"quic"` and `"quic6"`.
    /// `None` without a record, or when the record has no such port or no IP
    /// beside it.
    pub fn record_endpoint(&self, key4: &[u8], key6: &[u8]) -> Option<SocketAddr> {
        let record = self.record()?;
        let port = |key: &[u8]| {
            record
                .get_decodable::<u16>(key)
                .and_then(Result::ok)
                .filter(|&port| port != 0)
        };
        if let (Some(ip), Some(port)) = (record.ip4(), port(key4)) {
            return Some(SocketAddr::new(IpAddr::V4(ip), port));
        }
        let (ip, port) = (record.ip6()?, port(key6)?);
        Some(SocketAddr::new(IpAddr::V6(ip), port))
    }

    /// The record's sequence number, 0 without a record.
    fn seq(&self) -> u64 {
        self.record.as_ref().map_or(0, |record| record.seq())
    }
}

impl From<Enode> for NodeAddr {
    fn from(enode: Enode) -> Self {
        NodeAddr {
            enode,
            record: None,
        }
    }
}

impl PartialEq for NodeAddr {
    /// Two descriptions of a node are the same when they name the same
    /// endpoints and carry the same version of its record (a record's
    /// sequence number rises with every change of its content).
    fn eq(&self, other: &Self) -> bool {
        self.enode == other.enode
            && self.record.is_some() == other.record.is_some()
            && self.seq() == other.seq()
    }
}

impl Eq for NodeAddr {}

impl fmt::Display for NodeAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.enode.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::NodeKey;
    use crate::record::{Endpoint, LocalRecord};

    fn record_with(quic: Option<u16>) -> NodeRecord {
        let key = NodeKey::random();
        let mut builder = enr::Enr::builder();
        builder.ip4("127.0.0.1".parse().unwrap()).tcp4(30303);
        if let Some(port) = quic {
            builder.add_value("quic", &port);
        }
        builder.build(key.secret()).unwrap()
    }

    #[test]
    fn a_record_announces_its_quic_port() {
        let node = NodeAddr::from_record(record_with(Some(9001))).unwrap();
        assert_eq!(
            node.record_endpoint(b"quic", b"quic6"),
            Some("127.0.0.1:9001".parse().unwrap())
        );
        assert_eq!(node.tcp_addr(), Some("127.0.0.1:30303".parse().unwrap()));
        let without = NodeAddr::from_record(record_with(None)).unwrap();
        assert_eq!(without.record_endpoint(b"quic", b"quic6"), None);
    }

    #[test]
    fn an_enode_has_no_record_endpoints_and_port_zero_is_no_tcp() {
        let key = NodeKey::random();
        let enode = Enode::new(key.id(), "127.0.0.1".parse().unwrap(), 0, 30303);
        let node = NodeAddr::from(enode);
        assert_eq!(node.tcp_addr(), None);
        assert_eq!(node.record_endpoint(b"quic", b"quic6"), None);
        assert_eq!(node.id(), key.id());
    }

    #[test]
    fn a_newer_record_is_a_different_address() {
        let key = NodeKey::random();
        let endpoint = Endpoint {
            ip: Some("127.0.0.1".parse().unwrap()),
            tcp: Some(30303),
            udp: Some(30303),
            quic: None,
        };
        let mut local = LocalRecord::new(key, endpoint, 1).unwrap();
        let old = NodeAddr::from_record(local.record().clone()).unwrap();
        assert_eq!(old, NodeAddr::from_record(local.record().clone()).unwrap());
        local
            .set_endpoint(Endpoint {
                udp: Some(30304),
                ..endpoint
            })
            .unwrap();
        let new = NodeAddr::from_record(local.record().clone()).unwrap();
        assert_ne!(old, new);
        assert_ne!(old, NodeAddr::from(*old.enode()));
    }
}
