//! Where the load's connections come from: distinct addresses over
//! 127.0.0.0/8, so that thousands of connections neither run out of
//! ephemeral ports nor look like one host to a target's per-address limits.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};

use tokio::net::{TcpSocket, TcpStream};

/// A range of source addresses handed out in turn: `127.<first>.0.1` up to
/// `127.<last>.255.254`, skipping the `.0` and `.255` of every /24.
///
/// Honest peers and attackers get disjoint ranges, so a target's per-subnet
/// limits see them as different hosts, as they would be on the Internet.
pub struct Sources {
    first: u8,
    span: u32,
    next: AtomicU32,
}

/// Usable host addresses in one /24 (`.1` to `.254`).
const HOSTS_PER_SUBNET: u32 = 254;

impl Sources {
    /// Addresses `127.<first>.*.*` to `127.<last>.*.*`.
    pub const fn new(first: u8, last: u8) -> Self {
        let subnets = (last as u32 - first as u32 + 1) * 256;
        Sources {
            first,
            span: subnets * HOSTS_PER_SUBNET,
            next: AtomicU32::new(0),
        }
    }

    /// The next address; after the last one, the first again.
    pub fn next(&self) -> Ipv4Addr {
        self.nth(self.next.fetch_add(1, Ordering::Relaxed))
    }

    /// The `n`-th address of the range (wrapping around).
    pub fn nth(&self, n: u32) -> Ipv4Addr {
        let n = n % self.span;
        let (subnet, host) = (n / HOSTS_PER_SUBNET, n % HOSTS_PER_SUBNET + 1);
        let second = self.first as u32 + subnet / 256;
        Ipv4Addr::new(127, second as u8, (subnet % 256) as u8, host as u8)
    }
}

/// Honest peers: `127.1.*.*` to `127.49.*.*`.
pub static HONEST: Sources = Sources::new(1, 49);
/// Peers that connect and leave at a high rate: `127.50.*.*` to `127.99.*.*`.
pub static CHURN: Sources = Sources::new(50, 99);
/// Hostile connections: `127.100.*.*` to `127.254.*.*`.
pub static HOSTILE: Sources = Sources::new(100, 254);

/// Opens a TCP connection to `target` from `source` (any port).
pub async fn connect(source: Ipv4Addr, target: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((source, 0)))?;
    let stream = socket.connect(target).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_stay_in_range_and_skip_network_and_broadcast() {
        let sources = Sources::new(7, 8);
        let first = sources.next();
        assert_eq!(first, Ipv4Addr::new(127, 7, 0, 1));
        let mut last = first;
        for _ in 1..(2 * 256 * 254) {
            last = sources.next();
            let [a, b, _, d] = last.octets();
            assert_eq!(a, 127);
            assert!((7..=8).contains(&b));
            assert!(d != 0 && d != 255);
        }
        assert_eq!(last, Ipv4Addr::new(127, 8, 255, 254));
        assert_eq!(sources.next(), first);
    }
}
