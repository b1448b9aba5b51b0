//! The netrestrict list: the networks peers must be in.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// A list of networks outside which no peer is admitted (go-ethereum's
/// `--netrestrict`).
///
/// The empty list means "no restriction", as an unset netrestrict does in
/// go-ethereum: it is what the default configuration holds, and a node that
/// wants no peers at all is better served by not listening or dialing. IPv4
/// networks must be written in IPv4 notation; an IPv4-mapped IPv6 remote is
/// matched as the IPv4 address it carries.
///
/// Serialized as a list of CIDR strings; parsed from a comma-separated list
/// (`"10.0.0.0/8, 192.168.0.0/16"`, whitespace and empty items ignored).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NetRestrict(Vec<IpNet>);

impl NetRestrict {
    /// A restriction to `nets`; an empty list restricts nothing.
    pub fn new(nets: impl IntoIterator<Item = IpNet>) -> Self {
        nets.into_iter().collect()
    }

    /// The admitted networks.
    pub fn nets(&self) -> &[IpNet] {
        &self.0
    }

    /// Whether no restriction is configured (every address is admitted).
    pub fn is_unrestricted(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `ip` may connect: always when the list is empty, otherwise
    /// when a listed network contains it.
    pub fn allows(&self, ip: IpAddr) -> bool {
        if self.0.is_empty() {
            return true;
        }
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }
}

impl FromIterator<IpNet> for NetRestrict {
    fn from_iter<I: IntoIterator<Item = IpNet>>(iter: I) -> Self {
        NetRestrict(iter.into_iter().collect())
    }
}

impl FromStr for NetRestrict {
    type Err = ipnet::AddrParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::parse::<IpNet>)
            .collect()
    }
}

impl fmt::Display for NetRestrict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, net) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{net}")?;
        }
        Ok(())
    }
}
