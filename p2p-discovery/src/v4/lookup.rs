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
