//! Predicting our external address from what other nodes report.
//!
//! A node behind NAT, or bound to `0.0.0.0`, does not know the address others
//! reach it at. Every Pong tells us how its sender saw our Ping arrive (its
//! `to` field); [`EndpointPredictor`] collects those statements and, once
//! enough distinct nodes agree within a time window, predicts the address by
//! majority. One vote per reporting node (its latest), so one node repeating
//! itself, or a few lying, cannot move the prediction.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use p2p_core::NodeId;

/// Default of [`EndpointPredictor::new`]'s window: statements older than this
/// are forgotten (go-ethereum's `iptrackWindow`, 5 minutes).
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(5 * 60);
/// Default least number of agreeing nodes for a prediction (go-ethereum's
/// `iptrackMinStatements`, 10).
pub const DEFAULT_MIN_STATEMENTS: usize = 10;
/// Most reporters remembered; beyond it the oldest statement is dropped, so a
/// flood of keys costs bounded memory.
const MAX_STATEMENTS: usize = 1_000;

/// Majority vote over recent address statements; see the module docs. Pure
/// state: the caller passes the time.
#[derive(Debug, Clone)]
pub struct EndpointPredictor {
    window: Duration,
    min_statements: usize,
    statements: HashMap<NodeId, (SocketAddr, Instant)>,
}

impl EndpointPredictor {
    /// A predictor forgetting statements after `window` and predicting once
    /// `min_statements` distinct nodes agree (at least 1).
    pub fn new(window: Duration, min_statements: usize) -> Self {
        EndpointPredictor {
            window,
            min_statements: min_statements.max(1),
            statements: HashMap::new(),
        }
    }

    /// Records that `reporter` saw us at `addr` at `now`, replacing its
    /// earlier statement.
    pub fn add_statement(&mut self, reporter: NodeId, addr: SocketAddr, now: Instant) {
        if !self.statements.contains_key(&reporter) && self.statements.len() >= MAX_STATEMENTS {
            self.expire(now);
            if self.statements.len() >= MAX_STATEMENTS {
                let oldest = self
                    .statements
                    .iter()
                    .min_by_key(|(_, (_, at))| *at)
                    .map(|(id, _)| *id);
                if let Some(oldest) = oldest {
                    self.statements.remove(&oldest);
                }
            }
        }
        self.statements.insert(reporter, (addr, now));
    }

    fn expire(&mut self, now: Instant) {
        let window = self.window;
        self.statements
            .retain(|_, (_, at)| now.saturating_duration_since(*at) < window);
    }

    /// The address most recent statements agree on, if at least the minimum
    /// number of nodes stated it. Ties go to the smaller address, so the
    /// answer does not flap between equals.
    pub fn predict(&mut self, now: Instant) -> Option<SocketAddr> {
        self.expire(now);
        let mut votes: HashMap<SocketAddr, usize> = HashMap::new();
        for (addr, _) in self.statements.values() {
            *votes.entry(*addr).or_default() += 1;
        }
        votes
            .into_iter()
            .filter(|(_, n)| *n >= self.min_statements)
            .max_by(|(a, na), (b, nb)| na.cmp(nb).then(b.cmp(a)))
            .map(|(addr, _)| addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> NodeId {
        NodeId([n; 32])
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn needs_enough_distinct_reporters() {
        let t0 = Instant::now();
        let mut p = EndpointPredictor::new(DEFAULT_WINDOW, 3);
        // One node saying it three times is one vote.
        for _ in 0..3 {
            p.add_statement(id(1), addr("1.2.3.4:30303"), t0);
        }
        assert_eq!(p.predict(t0), None);
        p.add_statement(id(2), addr("1.2.3.4:30303"), t0);
        assert_eq!(p.predict(t0), None);
        p.add_statement(id(3), addr("1.2.3.4:30303"), t0);
        assert_eq!(p.predict(t0), Some(addr("1.2.3.4:30303")));
    }

    #[test]
    fn majority_wins_and_a_reporter_can_change_its_mind() {
        let t0 = Instant::now();
        let mut p = EndpointPredictor::new(DEFAULT_WINDOW, 2);
        for n in 1..=3 {
            p.add_statement(id(n), addr("1.2.3.4:1000"), t0);
        }
        for n in 4..=5 {
            p.add_statement(id(n), addr("5.6.7.8:2000"), t0);
        }
        assert_eq!(p.predict(t0), Some(addr("1.2.3.4:1000")));
        // Two of the majority now see the other address (our NAT remapped).
        p.add_statement(id(1), addr("5.6.7.8:2000"), t0);
        p.add_statement(id(2), addr("5.6.7.8:2000"), t0);
        assert_eq!(p.predict(t0), Some(addr("5.6.7.8:2000")));
    }

    #[test]
    fn old_statements_expire() {
        let t0 = Instant::now();
        let mut p = EndpointPredictor::new(Duration::from_secs(60), 2);
        p.add_statement(id(1), addr("1.2.3.4:1000"), t0);
        p.add_statement(id(2), addr("1.2.3.4:1000"), t0 + Duration::from_secs(30));
        assert!(p.predict(t0 + Duration::from_secs(59)).is_some());
        assert_eq!(p.predict(t0 + Duration::from_secs(61)), None);
    }

    #[test]
    fn memory_is_bounded() {
        let t0 = Instant::now();
        let mut p = EndpointPredictor::new(DEFAULT_WINDOW, 1);
        for n in 0..(MAX_STATEMENTS as u32 + 500) {
            let mut raw = [0u8; 32];
            raw[..4].copy_from_slice(&n.to_be_bytes());
            p.add_statement(
                NodeId(raw),
                addr("1.2.3.4:1000"),
                t0 + Duration::from_millis(n.into()),
            );
        }
        assert_eq!(p.statements.len(), MAX_STATEMENTS);
    }
}
