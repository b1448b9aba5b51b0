//! A node's state at one moment, as a status line, a table row, the admin
//! API and the dashboard show it.

use std::fmt;

use p2p_core::layers::traffic::TrafficStats;

/// What a node is doing, at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeStatus {
    /// Peers that dialed us.
    pub peers_in: usize,
    /// Peers we dialed.
    pub peers_out: usize,
    /// Dials started since the node started.
    pub dials: u64,
    /// Dials that became peers.
    pub dialed_peers: u64,
    /// Nodes in the discovery v4 table, if v4 runs.
    pub table_v4: Option<usize>,
    /// Nodes in the discovery v5 table, if v5 runs.
    pub table_v5: Option<usize>,
    /// Traffic with every peer since the node started.
    pub traffic: TrafficStats,
    /// The head block number.
    pub head: u64,
}

impl NodeStatus {
    /// Connected peers.
    pub fn peers(&self) -> usize {
        self.peers_in + self.peers_out
    }
}

/// The one-line status: `peers 3 (in 1, out 2) · dials 12 (3 became peers) ·
/// table v4 45 v5 12 · in 1.2 MiB out 300.0 KiB · head #64`.
impl fmt::Display for NodeStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "peers {} (in {}, out {}) · dials {} ({} became peers) · table",
            self.peers(),
            self.peers_in,
            self.peers_out,
            self.dials,
            self.dialed_peers
        )?;
        match (self.table_v4, self.table_v5) {
            (None, None) => write!(f, " off")?,
            (v4, v5) => {
                if let Some(n) = v4 {
                    write!(f, " v4 {n}")?;
                }
                if let Some(n) = v5 {
                    write!(f, " v5 {n}")?;
                }
            }
        }
        write!(
            f,
            " · in {} out {} · head #{}",
            Bytes(self.traffic.ingress_bytes),
            Bytes(self.traffic.egress_bytes),
            self.head
        )
    }
}

/// A byte count for people: `512 B`, `1.5 KiB`, `3.2 MiB`, `1.1 GiB`.
#[derive(Clone, Copy, Debug)]
pub struct Bytes(pub u64);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
        if self.0 < 1024 {
            return write!(f, "{} B", self.0);
        }
        let mut value = self.0 as f64 / 1024.0;
        let mut unit = 0;
        while value >= 1024.0 && unit + 1 < UNITS.len() {
            value /= 1024.0;
            unit += 1;
        }
        write!(f, "{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_line_reads_as_words_and_units() {
        let status = NodeStatus {
            peers_in: 1,
            peers_out: 2,
            dials: 12,
            dialed_peers: 3,
            table_v4: Some(45),
            table_v5: None,
            traffic: TrafficStats {
                ingress_bytes: 1_258_291,
                egress_bytes: 300 * 1024,
                ..TrafficStats::default()
            },
            head: 64,
        };
        assert_eq!(
            status.to_string(),
            "peers 3 (in 1, out 2) · dials 12 (3 became peers) · table v4 45 · in 1.2 MiB out 300.0 KiB · head #64"
        );
        let off = NodeStatus::default();
        assert!(off.to_string().contains("· table off ·"), "{off}");
        assert_eq!(Bytes(1023).to_string(), "1023 B");
        assert_eq!(Bytes(5 << 30).to_string(), "5.0 GiB");
    }
}
