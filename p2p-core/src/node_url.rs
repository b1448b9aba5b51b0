//! [`NodeUrl`]: an `enode://` URL whose host may be a DNS name, as
//! go-ethereum accepts them for static, trusted and boot nodes
//! (`enode://<key>@node-1.example.org:30303`). An [`Enode`] always holds an
//! address; a `NodeUrl` is resolved into one when it is used, and resolved
//! again later so that a node whose address changes behind its name is
//! still reached.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use crate::enode::{Enode, EnodeError};
use crate::identity::PeerId;

/// A node's URL, with an IP address or a DNS name as its host.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NodeUrl {
    /// The node's public key.
    pub id: PeerId,
    /// Its host: an IP address or a DNS name.
    pub host: Host,
    /// The TCP port of RLPx.
    pub tcp: u16,
    /// The UDP port of discovery.
    pub udp: u16,
}

/// Where a [`NodeUrl`] points.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Host {
    /// An address.
    Ip(IpAddr),
    /// A name to resolve.
    Name(String),
}

/// Why a [`NodeUrl`]'s name could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The lookup failed.
    #[error("cannot resolve {host}: {source}")]
    Lookup {
        /// The name.
        host: String,
        /// Why.
        source: std::io::Error,
    },
    /// The name has no address.
    #[error("{0} has no address")]
    NoAddress(String),
}

impl NodeUrl {
    /// Whether the host is a name (and so worth resolving again later).
    pub fn has_name(&self) -> bool {
        matches!(self.host, Host::Name(_))
    }

    /// The node at the address its host names now: the host itself when it
    /// is an address, else the first IPv4 address the system resolver
    /// gives (go-ethereum prefers IPv4 too), else the first IPv6 one.
    pub async fn resolve(&self) -> Result<Enode, ResolveError> {
        let ip = match &self.host {
            Host::Ip(ip) => *ip,
            Host::Name(name) => {
                let addrs: Vec<_> = tokio::net::lookup_host((name.as_str(), self.tcp))
                    .await
                    .map_err(|source| ResolveError::Lookup {
                        host: name.clone(),
                        source,
                    })?
                    .map(|addr| addr.ip())
                    .collect();
                addrs
                    .iter()
                    .find(|ip| ip.is_ipv4())
                    .or(addrs.first())
                    .copied()
                    .ok_or_else(|| ResolveError::NoAddress(name.clone()))?
            }
        };
        Ok(Enode::new(self.id, ip, self.tcp, self.udp))
    }
}

impl From<Enode> for NodeUrl {
    fn from(enode: Enode) -> Self {
        NodeUrl {
            id: enode.id,
            host: Host::Ip(enode.ip),
            tcp: enode.tcp,
            udp: enode.udp,
        }
    }
}

impl FromStr for NodeUrl {
    type Err = EnodeError;

    /// Parses `enode://<key>@<host>:<tcp>[?discport=<udp>]`, `<host>` an IP
    /// address or a DNS name; otherwise as [`Enode`] parses.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.parse::<Enode>() {
            Ok(enode) => Ok(enode.into()),
            Err(EnodeError::Hostname(name)) => {
                // Everything but the host is read as an Enode reads it: the
                // name stands in for an address the parser accepts.
                let with_ip = s.replacen(&format!("@{name}:"), "@127.0.0.1:", 1);
                let enode: Enode = with_ip.parse()?;
                Ok(NodeUrl {
                    id: enode.id,
                    host: Host::Name(name),
                    tcp: enode.tcp,
                    udp: enode.udp,
                })
            }
            Err(e) => Err(e),
        }
    }
}

impl fmt::Display for NodeUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            Host::Ip(ip) => Enode::new(self.id, *ip, self.tcp, self.udp).fmt(f),
            Host::Name(name) => {
                write!(f, "enode://{}@{name}:{}", self.id, self.tcp)?;
                if self.udp != self.tcp {
                    write!(f, "?discport={}", self.udp)?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::NodeKey;

    #[test]
    fn names_and_addresses_both_read_and_print_back() {
        let id = NodeKey::random().id();
        let named: NodeUrl = format!("enode://{id}@node-1.example.org:30303?discport=30301")
            .parse()
            .unwrap();
        assert_eq!(named.host, Host::Name("node-1.example.org".into()));
        assert_eq!((named.tcp, named.udp), (30303, 30301));
        assert!(named.has_name());
        assert_eq!(
            named.to_string(),
            format!("enode://{id}@node-1.example.org:30303?discport=30301")
        );
        let addressed: NodeUrl = format!("enode://{id}@10.0.0.1:30303").parse().unwrap();
        assert_eq!(addressed.host, Host::Ip("10.0.0.1".parse().unwrap()));
        assert!(!addressed.has_name());
        // What an Enode refuses for other reasons, a NodeUrl refuses too.
        assert!("enode://00@localhost:1".parse::<NodeUrl>().is_err());
        assert!(format!("enode://{id}@localhost")
            .parse::<NodeUrl>()
            .is_err());
    }

    #[tokio::test]
    async fn localhost_resolves_to_loopback() {
        let id = NodeKey::random().id();
        let url: NodeUrl = format!("enode://{id}@localhost:30303").parse().unwrap();
        let enode = url.resolve().await.unwrap();
        assert!(enode.ip.is_loopback(), "{enode}");
        assert_eq!((enode.id, enode.tcp, enode.udp), (id, 30303, 30303));
    }
}
