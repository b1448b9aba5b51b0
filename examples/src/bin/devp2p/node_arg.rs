//! A node named on the command line, in any form go-ethereum's tool takes:
//! an `enode://` URL, an `enr:` record, or a record as hex RLP.

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use p2p_core::record::{self, NodeRecord};
use p2p_core::Enode;

/// A node from the command line: a signed record when one was given, so
/// that commands that need one (discovery v5) have it.
#[derive(Clone, Debug)]
pub enum NodeArg {
    /// An `enode://` URL: an identity and endpoints, no record.
    Url(Enode),
    /// A signed node record.
    Record(Box<NodeRecord>),
}

impl NodeArg {
    /// The node's endpoints; a record without an IP address has none.
    pub fn enode(&self) -> Result<Enode, String> {
        match self {
            NodeArg::Url(enode) => Ok(*enode),
            NodeArg::Record(record) => {
                record::enode(record).ok_or_else(|| format!("{self}: the record has no IP address"))
            }
        }
    }
}

impl FromStr for NodeArg {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.starts_with("enode://") {
            return text
                .parse()
                .map(NodeArg::Url)
                .map_err(|e| format!("not a valid enode URL: {e}"));
        }
        let raw = record_bytes(text)?;
        record::from_rlp(&raw)
            .map(|r| NodeArg::Record(Box::new(r)))
            .map_err(|e| format!("not a valid node record: {e}"))
    }
}

impl fmt::Display for NodeArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeArg::Url(enode) => write!(f, "{enode}"),
            NodeArg::Record(record) => write!(f, "{}", record.to_base64()),
        }
    }
}

/// The RLP bytes of a record given as `enr:` text (the prefix optional) or
/// as hex (a `0x` prefix optional), as go-ethereum reads them.
pub fn record_bytes(text: &str) -> Result<Vec<u8>, String> {
    let text = text.trim();
    let hex_text = text.strip_prefix("0x").unwrap_or(text);
    if let Ok(bytes) = hex::decode(hex_text) {
        return Ok(bytes);
    }
    let base64_text = text.strip_prefix("enr:").unwrap_or(text);
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(base64_text)
        .map_err(|_| "neither an enode:// URL nor a node record (enr: text or hex)".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use p2p_core::record::{Endpoint, LocalRecord};
    use p2p_core::NodeKey;
    use std::net::Ipv4Addr;

    fn record() -> NodeRecord {
        let endpoint = Endpoint {
            ip: Some(Ipv4Addr::LOCALHOST.into()),
            tcp: Some(30303),
            udp: Some(30301),
            quic: None,
        };
        LocalRecord::new(NodeKey::random(), endpoint, 3)
            .unwrap()
            .record()
            .clone()
    }

    #[test]
    fn a_record_reads_as_enr_text_bare_base64_and_hex() {
        let record = record();
        let text = record.to_base64();
        let raw = hex::encode(rlp_bytes(&record));
        for form in [
            text.clone(),
            text.trim_start_matches("enr:").to_owned(),
            raw.clone(),
            format!("0x{raw}"),
        ] {
            let node: NodeArg = form.parse().unwrap();
            assert_eq!(node.to_string(), text, "{form}");
            let enode = node.enode().unwrap();
            assert_eq!((enode.tcp, enode.udp), (30303, 30301));
        }
    }

    #[test]
    fn an_enode_url_has_no_record() {
        let enode = record::enode(&record()).unwrap();
        let node: NodeArg = enode.to_string().parse().unwrap();
        assert!(matches!(node, NodeArg::Url(_)));
        assert_eq!(node.enode().unwrap(), enode);
    }

    #[test]
    fn garbage_is_named_as_such() {
        let err = "enode://nothex@1.2.3.4:1".parse::<NodeArg>().unwrap_err();
        assert!(err.contains("not a valid enode URL"), "{err}");
        let err = "enr:!!!".parse::<NodeArg>().unwrap_err();
        assert!(
            err.contains("neither an enode:// URL nor a node record"),
            "{err}"
        );
        let err = "enr:AAAA".parse::<NodeArg>().unwrap_err();
        assert!(err.contains("not a valid node record"), "{err}");
    }

    fn rlp_bytes(record: &NodeRecord) -> Vec<u8> {
        record_bytes(&record.to_base64()).unwrap()
    }
}
