//! The iterative Kademlia lookup, as pure state.
//!
//! A lookup for a target id keeps every node it has heard of sorted by
//! distance to the target. It asks the closest ones it has not asked yet,
//! at most [`ALPHA`] at a time, for their neighbours of the target, and adds
//! what they answer. It ends when the [`BUCKET_SIZE`] closest nodes that have
//! not failed have all answered: nobody closer is left to ask. The result is
//! those nodes, each of which has just proved it is alive.
//!
//! The state does no I/O: the driver ([`super::service::Discv4Handle::lookup`])
//! takes queries from [`Lookup::next_query`], runs them, and reports each
//! outcome with [`Lookup::on_answer`] or [`Lookup::on_failure`]. A node that
//! fails is tried again up to `attempts` times in all, so that one lost
//! datagram does not cost the lookup its best node.

use std::collections::HashSet;

use p2p_core::NodeId;

use super::table::{distance_cmp, BUCKET_SIZE};
use super::wire::NodeRecordV4;

/// Queries in flight at once (Kademlia's α).
pub const ALPHA: usize = 3;

/// Most nodes a lookup remembers. Only the closest [`BUCKET_SIZE`] can be
/// asked, so keeping many more buys nothing, and the bound keeps a lookup's
/// memory independent of what peers send.
const MAX_CANDIDATES: usize = 8 * BUCKET_SIZE;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    NotAsked,
    Asking,
    Answered,
    /// The last query failed; see `Candidate::failures`.
    Failed,
}

#[derive(Debug, Clone)]
struct Candidate {
    record: NodeRecordV4,
    id: NodeId,
    state: State,
    failures: u32,
}

/// One iterative lookup; see the module documentation.
#[derive(Debug, Clone)]
pub struct Lookup {
    target: NodeId,
    local: NodeId,
    attempts: u32,
    /// Sorted by distance to the target, closest first.
    candidates: Vec<Candidate>,
    /// Every id ever seen, so that a node dropped from `candidates` for being
    /// far is not added back.
    seen: HashSet<NodeId>,
    in_flight: usize,
    queries: usize,
}

impl Lookup {
    /// A lookup for `target` run by the node `local` (never a candidate),
    /// starting from `seeds` (usually the closest table entries). Each node is
    /// asked at most `attempts` times (at least once).
    pub fn new(
        target: NodeId,
        local: NodeId,
        seeds: impl IntoIterator<Item = NodeRecordV4>,
        attempts: u32,
    ) -> Self {
        let mut lookup = Lookup {
            target,
            local,
            attempts: attempts.max(1),
            candidates: Vec::new(),
            seen: HashSet::new(),
            in_flight: 0,
            queries: 0,
        };
        lookup.add(seeds);
        lookup
    }

    /// The lookup's target.
    pub fn target(&self) -> &NodeId {
        &self.target
    }

    /// Queries started so far.
    pub fn queries(&self) -> usize {
        self.queries
    }

    /// Queries started and not yet reported.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    fn add(&mut self, nodes: impl IntoIterator<Item = NodeRecordV4>) {
        for record in nodes {
            let id = record.id.node_id();
            if id == self.local || !self.seen.insert(id) {
                continue;
            }
            let pos = self
                .candidates
                .binary_search_by(|c| distance_cmp(&self.target, &c.id, &id))
                .unwrap_or_else(|p| p);
            if pos >= MAX_CANDIDATES {
                continue;
            }
            self.candidates.insert(
                pos,
                Candidate {
                    record,
                    id,
                    state: State::NotAsked,
                    failures: 0,
                },
            );
            self.candidates.truncate(MAX_CANDIDATES);
        }
    }

    /// Whether `c` still counts: it has not failed for good.
    fn is_live(&self, c: &Candidate) -> bool {
        c.failures < self.attempts
    }

    /// The next node to ask, if a query may start now: the closest node among
    /// the [`BUCKET_SIZE`] closest live ones that has not answered and is not
    /// being asked, while fewer than [`ALPHA`] queries are in flight.
    pub fn next_query(&mut self) -> Option<NodeRecordV4> {
        if self.in_flight >= ALPHA {
            return None;
        }
        let attempts = self.attempts;
        let candidate = self
            .candidates
            .iter_mut()
            .filter(|c| c.failures < attempts)
            .take(BUCKET_SIZE)
            .find(|c| matches!(c.state, State::NotAsked | State::Failed))?;
        candidate.state = State::Asking;
        self.in_flight += 1;
        self.queries += 1;
        Some(candidate.record)
    }

    /// Records that `node` answered with `nodes`.
    pub fn on_answer(&mut self, node: &NodeId, nodes: impl IntoIterator<Item = NodeRecordV4>) {
        if let Some(c) = self.candidates.iter_mut().find(|c| c.id == *node) {
            if c.state == State::Asking {
                self.in_flight -= 1;
            }
            c.state = State::Answered;
        }
        self.add(nodes);
    }

    /// Records that asking `node` failed; it is asked again later unless it
    /// has used up its attempts.
    pub fn on_failure(&mut self, node: &NodeId) {
        if let Some(c) = self.candidates.iter_mut().find(|c| c.id == *node) {
            if c.state == State::Asking {
                self.in_flight -= 1;
            }
            c.state = State::Failed;
            c.failures += 1;
        }
    }

    /// Whether the lookup is over: nothing in flight and nothing left to ask.
    pub fn is_done(&self) -> bool {
        self.in_flight == 0
            && !self
                .candidates
                .iter()
                .filter(|c| self.is_live(c))
                .take(BUCKET_SIZE)
                .any(|c| matches!(c.state, State::NotAsked | State::Failed))
    }

    /// The nodes that answered, closest first, at most [`BUCKET_SIZE`].
    pub fn result(&self) -> Vec<NodeRecordV4> {
        self.candidates
            .iter()
            .filter(|c| c.state == State::Answered)
            .take(BUCKET_SIZE)
            .map(|c| c.record)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v4::wire::Endpoint;
    use p2p_core::PeerId;
    use std::collections::HashMap;
    use std::net::Ipv4Addr;

    fn record(n: u32) -> NodeRecordV4 {
        let mut id = [0u8; 64];
        id[..4].copy_from_slice(&n.to_be_bytes());
        // Spread the ids: keccak of the key decides the node id anyway.
        id[4] = 1;
        NodeRecordV4 {
            endpoint: Endpoint::new(Ipv4Addr::LOCALHOST, 30303, 30303),
            id: PeerId(id),
        }
    }

    fn closest(all: &[NodeRecordV4], target: &NodeId, n: usize) -> Vec<NodeRecordV4> {
        let mut v = all.to_vec();
        v.sort_by(|a, b| distance_cmp(target, &a.id.node_id(), &b.id.node_id()));
        v.truncate(n);
        v
    }

    /// Runs `lookup` to the end against a simulated network where every node
    /// answers with the true closest nodes it knows (all of `all`), except
    /// that `fails` says how many times a node fails before answering.
    fn run(
        lookup: &mut Lookup,
        all: &[NodeRecordV4],
        fails: &mut HashMap<NodeId, u32>,
    ) -> Vec<NodeRecordV4> {
        let mut guard = 0;
        while !lookup.is_done() {
            guard += 1;
            assert!(guard < 10_000, "lookup does not end");
            let mut batch = Vec::new();
            while let Some(node) = lookup.next_query() {
                batch.push(node);
            }
            assert!(batch.len() <= ALPHA);
            assert!(
                !batch.is_empty(),
                "nothing in flight and nothing to ask, yet not done"
            );
            for node in batch {
                let id = node.id.node_id();
                match fails.get_mut(&id) {
                    Some(n) if *n > 0 => {
                        *n -= 1;
                        lookup.on_failure(&id);
                    }
                    _ => lookup.on_answer(&id, closest(all, lookup.target(), BUCKET_SIZE)),
                }
            }
        }
        lookup.result()
    }

    #[test]
    fn finds_the_closest_nodes_from_one_seed() {
        let all: Vec<_> = (0..500).map(record).collect();
        let local = record(10_000).id.node_id();
        let target = record(20_000).id.node_id();
        let mut lookup = Lookup::new(target, local, [all[7]], 1);
        let found = run(&mut lookup, &all, &mut HashMap::new());
        assert_eq!(found, closest(&all, &target, BUCKET_SIZE));
        // It asked the seed and each of the closest once, nothing more.
        assert_eq!(lookup.queries(), BUCKET_SIZE + 1);
    }

    #[test]
    fn dead_nodes_are_skipped_and_never_returned() {
        let all: Vec<_> = (0..300).map(record).collect();
        let local = record(10_000).id.node_id();
        let target = record(30_000).id.node_id();
        let true_closest = closest(&all, &target, BUCKET_SIZE);
        // The three closest never answer.
        let mut fails: HashMap<NodeId, u32> = true_closest[..3]
            .iter()
            .map(|n| (n.id.node_id(), u32::MAX))
            .collect();
        let mut lookup = Lookup::new(target, local, all[..5].iter().copied(), 2);
        let found = run(&mut lookup, &all, &mut fails);
        // The answers still name the dead nodes (nobody evicted them yet), so
        // the lookup learns no live node beyond the closest sixteen; it
        // returns every live one among those, and no dead one.
        assert!(found.iter().all(|n| !true_closest[..3].contains(n)));
        for live in &true_closest[3..] {
            assert!(found.contains(live));
        }
        let mut sorted = found.clone();
        sorted.sort_by(|a, b| distance_cmp(&target, &a.id.node_id(), &b.id.node_id()));
        assert_eq!(found, sorted);
    }

    #[test]
    fn a_node_that_fails_once_is_asked_again_when_attempts_allow() {
        let all: Vec<_> = (0..100).map(record).collect();
        let local = record(10_000).id.node_id();
        let target = record(40_000).id.node_id();
        let best = closest(&all, &target, 1)[0];
        for (attempts, expect_best) in [(1, false), (2, true)] {
            let mut fails = HashMap::from([(best.id.node_id(), 1)]);
            let mut lookup = Lookup::new(target, local, all.iter().copied(), attempts);
            let found = run(&mut lookup, &all, &mut fails);
            assert_eq!(found.contains(&best), expect_best, "attempts {attempts}");
        }
    }

    #[test]
    fn the_local_node_and_duplicates_are_not_candidates() {
        let all: Vec<_> = (0..40).map(record).collect();
        let local = all[0].id.node_id();
        let target = record(50_000).id.node_id();
        let seeds = all.iter().chain(all.iter()).copied();
        let mut lookup = Lookup::new(target, local, seeds, 1);
        let found = run(&mut lookup, &all, &mut HashMap::new());
        assert!(found.iter().all(|n| n.id.node_id() != local));
        let others: Vec<_> = all[1..].to_vec();
        assert_eq!(found, closest(&others, &target, BUCKET_SIZE));
    }
}
