//! The dial scheduler: which nodes to dial when, as pure state.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::DialConfig;
use crate::identity::PeerId;
use crate::node_addr::NodeAddr;
use crate::pipeline::Direction;

/// Why a node is dialed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DialKind {
    /// The node is in the static set: kept connected whatever the peer count.
    Static,
    /// The node is a candidate from discovery, dialed to fill a slot.
    Dynamic,
}

/// A dial that [`DialScheduler::poll_dials`] started and that has not been
/// reported finished.
#[derive(Clone, Debug)]
struct ActiveDial {
    node: NodeAddr,
    kind: DialKind,
    started: Instant,
}

/// What the scheduler remembers of a static node.
#[derive(Clone, Debug)]
struct StaticNode {
    node: NodeAddr,
    /// Order of addition, the tie-break between nodes never dialed, so that
    /// the order of dials does not depend on hashing.
    seq: u64,
    /// The wait to apply after the next failure.
    backoff: Duration,
    /// Not dialed before this instant (`None`: no wait).
    retry_at: Option<Instant>,
    /// When the last dial of the node started.
    last_dial: Option<Instant>,
}

/// What to do with a queued candidate.
enum CandidateState {
    /// Dial it now.
    Ready,
    /// Keep it: it was dialed recently and waits for its history entry to
    /// expire.
    Waiting,
    /// Drop it: it is ourselves, static (handled by the static rules),
    /// connected or being dialed.
    Useless,
}

/// The dial scheduler: pure state that decides which nodes to dial, and when.
/// See the [module documentation](crate::dial) for the rules and the driving loop.
#[derive(Debug)]
pub struct DialScheduler {
    config: DialConfig,
    statics: HashMap<PeerId, StaticNode>,
    next_seq: u64,
    /// Dynamic candidates, oldest first. Ids are unique.
    candidates: VecDeque<NodeAddr>,
    /// When each recently dialed dynamic node may be dialed again.
    history: HashMap<PeerId, Instant>,
    /// The entries of `history` in insertion order, which is expiry order as
    /// long as time does not run backwards, so that expired entries are
    /// found without a scan.
    history_order: VecDeque<(Instant, PeerId)>,
    active: HashMap<PeerId, ActiveDial>,
    connected: HashMap<PeerId, Direction>,
}

impl DialScheduler {
    /// A scheduler with no static nodes, candidates or peers.
    pub fn new(config: DialConfig) -> Self {
        DialScheduler {
            config,
            statics: HashMap::new(),
            next_seq: 0,
            candidates: VecDeque::new(),
            history: HashMap::new(),
            history_order: VecDeque::new(),
            active: HashMap::new(),
            connected: HashMap::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &DialConfig {
        &self.config
    }

    /// Adds a static node: one that is kept connected, redialed whenever it
    /// is not. Returns whether the node was new.
    ///
    /// Adding a node that is already static with a new endpoint replaces the
    /// endpoint and clears its backoff, since the failures were those of the
    /// old address; re-adding it unchanged changes nothing. Our own id is
    /// refused.
    pub fn add_static(&mut self, node: impl Into<NodeAddr>) -> bool {
        let addr: NodeAddr = node.into();
        if addr.id() == self.config.self_id {
            tracing::debug!(id = %addr.id(), "not adding ourselves as a static node");
            return false;
        }
        if let Some(node) = self.statics.get_mut(&addr.id()) {
            if node.node != addr {
                node.node = addr;
                node.backoff = self.config.static_backoff;
                node.retry_at = None;
            }
            return false;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.statics.insert(
            addr.id(),
            StaticNode {
                node: addr,
                seq,
                backoff: self.config.static_backoff,
                retry_at: None,
                last_dial: None,
            },
        );
        true
    }

    /// Removes a static node, so that it is not dialed again. Returns whether
    /// it was static.
    ///
    /// A running dial of the node is left alone (the supervisor may cancel
    /// it), and a connection to it stays: the node just stops being
    /// redialed.
    pub fn remove_static(&mut self, id: &PeerId) -> bool {
        self.statics.remove(id).is_some()
    }

    /// Whether `id` is a static node.
    pub fn is_static(&self, id: &PeerId) -> bool {
        self.statics.contains_key(id)
    }

    /// The number of static nodes.
    pub fn static_count(&self) -> usize {
        self.statics.len()
    }

    /// The instant before which the static node `id` is not dialed, if it is
    /// waiting out a backoff or the history time after a disconnect.
    pub fn static_retry_at(&self, id: &PeerId) -> Option<Instant> {
        self.statics.get(id).and_then(|node| node.retry_at)
    }

    /// Queues a dynamic candidate from discovery. Returns whether it is
    /// queued.
    ///
    /// Ourselves, static nodes, connected peers and nodes being dialed are
    /// refused, as dialing them is pointless. A recently dialed node is
    /// queued and waits for its history entry to expire. A candidate that is
    /// already queued keeps its place and takes the new endpoint, which is
    /// the fresher one. When the queue is full, the oldest candidate is
    /// dropped: discovery keeps producing nodes, and newer ones are more
    /// likely to be online.
    pub fn add_candidate(&mut self, node: impl Into<NodeAddr>, now: Instant) -> bool {
        let node: NodeAddr = node.into();
        self.expire_history(now);
        if self.config.max_candidates == 0 || !self.is_dialable(&node.id()) {
            return false;
        }
        if let Some(queued) = self.candidates.iter_mut().find(|c| c.id() == node.id()) {
            *queued = node;
            return true;
        }
        if self.candidates.len() >= self.config.max_candidates {
            // Nodes that became connected or static since they were queued
            // are worth less than any real candidate: drop those first.
            self.drop_useless_candidates();
        }
        while self.candidates.len() >= self.config.max_candidates {
            if let Some(old) = self.candidates.pop_front() {
                tracing::trace!(id = %old.id(), "candidate queue full, dropping the oldest");
            }
        }
        self.candidates.push_back(node);
        true
    }

    /// Whether more dynamic candidates would be of use now: an outbound slot
    /// is free and the candidate queue is less than half full. The server
    /// reads its candidate sources only while this holds, so discovery does
    /// no work whose results would be dropped.
    pub fn wants_candidates(&self) -> bool {
        self.config.max_active_dials > 0
            && self.dynamic_slots() > 0
            && self.candidates.len() < self.config.max_candidates / 2
    }

    /// The number of queued dynamic candidates.
    pub fn candidate_count(&self) -> usize {
        self.candidates.len()
    }

    /// Records a new peer, dialed or not. Returns whether it was new.
    ///
    /// A connected node is not dialed. An inbound peer does not use a dialed
    /// slot. A static node's backoff is reset, since the node is evidently up.
    pub fn peer_added(&mut self, id: PeerId, direction: Direction, now: Instant) -> bool {
        self.expire_history(now);
        let new = self.connected.insert(id, direction).is_none();
        if let Some(node) = self.statics.get_mut(&id) {
            node.backoff = self.config.static_backoff;
            // When it disconnects, the node is redialed once the history time
            // since its last dial has passed: a peer that accepts and then
            // drops us (too many peers, say) is then not redialed in a loop.
            node.retry_at = node
                .last_dial
                .map(|t| after(t, self.config.history_expiration));
        }
        new
    }

    /// Records the end of a connection. Returns whether `id` was connected.
    ///
    /// A static node is redialed once the history time since its last dial
    /// has passed (at once if that is over, or if we never dialed it), as
    /// go-ethereum does.
    pub fn peer_removed(&mut self, id: &PeerId, now: Instant) -> bool {
        self.expire_history(now);
        // The static node's `retry_at` was set when it connected.
        self.connected.remove(id).is_some()
    }

    /// Whether `id` is a connected peer, in either direction.
    pub fn is_connected(&self, id: &PeerId) -> bool {
        self.connected.contains_key(id)
    }

    /// The number of connected peers.
    pub fn connected_count(&self) -> usize {
        self.connected.len()
    }

    /// The number of connected peers that we dialed.
    pub fn outbound_count(&self) -> usize {
        self.connected
            .values()
            .filter(|&&d| d == Direction::Outbound)
            .count()
    }

    /// The number of connected peers that dialed us.
    pub fn inbound_count(&self) -> usize {
        self.connected.len() - self.outbound_count()
    }

    /// Records the end of a dial that [`poll_dials`](Self::poll_dials)
    /// started. Returns whether it was running.
    ///
    /// `success` means a connection was established. For a static node,
    /// success resets the backoff; failure makes the node wait the backoff,
    /// which then doubles. A failure while the node is connected anyway (it
    /// dialed us at the same time) is no sign of trouble and does not count.
    /// A dynamic node stays in the history from the start of its dial
    /// either way.
    pub fn dial_finished(&mut self, id: &PeerId, success: bool, now: Instant) -> bool {
        self.expire_history(now);
        let Some(dial) = self.active.remove(id) else {
            return false;
        };
        tracing::trace!(id = %id, kind = ?dial.kind, success, "dial finished");
        // Whatever kind the dial was started as, what counts is whether the
        // node is static now.
        let connected = self.connected.contains_key(id);
        if let Some(node) = self.statics.get_mut(id) {
            if success {
                node.backoff = self.config.static_backoff;
                node.retry_at = Some(after(dial.started, self.config.history_expiration));
            } else if !connected {
                let wait = node.backoff.min(self.config.max_static_backoff);
                node.retry_at = Some(after(now, wait));
                node.backoff = wait.saturating_mul(2).min(self.config.max_static_backoff);
            }
        }
        true
    }

    /// The nodes being dialed.
    pub fn active_dials(&self) -> impl Iterator<Item = &NodeAddr> + '_ {
        self.active.values().map(|dial| &dial.node)
    }

    /// The number of dials running.
    pub fn active_dial_count(&self) -> usize {
        self.active.len()
    }

    /// Whether `id` is being dialed, and why.
    pub fn dial_kind(&self, id: &PeerId) -> Option<DialKind> {
        self.active.get(id).map(|dial| dial.kind)
    }

    /// Whether the dynamic candidate `id` was dialed within the history time
    /// before `now`.
    pub fn recently_dialed(&self, id: &PeerId, now: Instant) -> bool {
        self.history.get(id).is_some_and(|&until| now < until)
    }

    /// The dials to start now. Each is running until it is reported to
    /// [`dial_finished`](Self::dial_finished).
    ///
    /// Static nodes come first, those dialed longest ago (or never) before
    /// the others, so that a static set larger than the dial limit is served
    /// in turn. The queued candidates follow, oldest first.
    pub fn poll_dials(&mut self, now: Instant) -> Vec<NodeAddr> {
        self.expire_history(now);
        let mut budget = self
            .config
            .max_active_dials
            .saturating_sub(self.active.len());
        let mut dials = Vec::new();
        if budget == 0 {
            return dials;
        }

        let mut ready: Vec<(Option<Instant>, u64, PeerId)> = self
            .statics
            .values()
            .filter(|node| self.static_ready(node, now))
            .map(|node| (node.last_dial, node.seq, node.node.id()))
            .collect();
        ready.sort_unstable();
        for (_, _, id) in ready.into_iter().take(budget) {
            let node = self.statics.get_mut(&id).expect("collected from statics");
            node.last_dial = Some(now);
            let addr = node.node.clone();
            self.start(addr.clone(), DialKind::Static, now);
            dials.push(addr);
            budget -= 1;
        }

        let mut slots = self.dynamic_slots();
        let mut i = 0;
        while budget > 0 && slots > 0 && i < self.candidates.len() {
            let candidate = self.candidates[i].clone();
            match self.candidate_state(&candidate.id(), now) {
                CandidateState::Waiting => i += 1,
                CandidateState::Useless => {
                    self.candidates.remove(i);
                }
                CandidateState::Ready => {
                    self.candidates.remove(i);
                    let until = after(now, self.config.history_expiration);
                    self.history.insert(candidate.id(), until);
                    self.history_order.push_back((until, candidate.id()));
                    self.start(candidate.clone(), DialKind::Dynamic, now);
                    dials.push(candidate);
                    budget -= 1;
                    slots -= 1;
                }
            }
        }
        dials
    }

    /// The earliest instant at which [`poll_dials`](Self::poll_dials) could
    /// return a dial because a backoff or history entry expires; `None` when
    /// no such expiry would let a dial start.
    ///
    /// Only time is considered: an event that frees a slot (a finished dial,
    /// a lost peer) or brings a new node calls for a poll by itself. So when
    /// every dial slot is taken, or every outbound slot is (for candidates),
    /// no expiry matters and it is not reported. Right after
    /// `poll_dials(now)` the result is `None` or later than `now`, so a
    /// supervisor sleeping until it never spins.
    pub fn next_wakeup(&self) -> Option<Instant> {
        if self.active.len() >= self.config.max_active_dials {
            return None;
        }
        let statics = self
            .statics
            .values()
            .filter(|node| self.is_dialable(&node.node.id()))
            .filter_map(|node| node.retry_at);
        // Queued candidates only matter if a dynamic dial could start.
        let candidates_matter = self.dynamic_slots() > 0;
        let candidates = self
            .candidates
            .iter()
            .filter(|_| candidates_matter)
            .filter(|c| self.is_dialable(&c.id()) && !self.statics.contains_key(&c.id()))
            .filter_map(|c| self.history.get(&c.id()).copied());
        statics.chain(candidates).min()
    }

    /// Whether `id` is neither ourselves, nor connected, nor being dialed.
    fn is_dialable(&self, id: &PeerId) -> bool {
        *id != self.config.self_id
            && !self.connected.contains_key(id)
            && !self.active.contains_key(id)
    }

    fn static_ready(&self, node: &StaticNode, now: Instant) -> bool {
        self.is_dialable(&node.node.id()) && node.retry_at.is_none_or(|t| now >= t)
    }

    fn candidate_state(&self, id: &PeerId, now: Instant) -> CandidateState {
        if !self.is_dialable(id) || self.statics.contains_key(id) {
            CandidateState::Useless
        } else if self.recently_dialed(id, now) {
            CandidateState::Waiting
        } else {
            CandidateState::Ready
        }
    }

    /// Dynamic dials running to nodes not yet connected: with the outbound
    /// peers, what the outbound limit counts. A dial whose peer is already
    /// registered (the peer can be added before its dial is reported
    /// finished) is counted once, as a peer.
    pub fn dynamic_dial_count(&self) -> usize {
        self.active
            .values()
            .filter(|d| d.kind == DialKind::Dynamic && !self.connected.contains_key(&d.node.id()))
            .count()
    }

    /// How many more dynamic dials the outbound limit allows.
    fn dynamic_slots(&self) -> usize {
        self.config
            .max_outbound
            .saturating_sub(self.outbound_count() + self.dynamic_dial_count())
    }

    fn start(&mut self, node: NodeAddr, kind: DialKind, now: Instant) {
        tracing::trace!(%node, ?kind, "starting dial");
        self.active.insert(
            node.id(),
            ActiveDial {
                node,
                kind,
                started: now,
            },
        );
    }

    fn drop_useless_candidates(&mut self) {
        let statics = &self.statics;
        let connected = &self.connected;
        let active = &self.active;
        let self_id = self.config.self_id;
        self.candidates.retain(|c| {
            c.id() != self_id
                && !statics.contains_key(&c.id())
                && !connected.contains_key(&c.id())
                && !active.contains_key(&c.id())
        });
    }

    /// Forgets the history entries that have expired by `now`.
    fn expire_history(&mut self, now: Instant) {
        while let Some(&(until, id)) = self.history_order.front() {
            if until > now {
                break;
            }
            self.history_order.pop_front();
            // The entry may have been replaced by a later one, which stays.
            if self.history.get(&id) == Some(&until) {
                self.history.remove(&id);
            }
        }
    }
}

/// `t + d`, or the latest instant representable if that overflows, so that a
/// configured "forever" (`Duration::MAX`) means a very long wait, not a panic.
fn after(t: Instant, d: Duration) -> Instant {
    let mut d = d;
    loop {
        if let Some(later) = t.checked_add(d) {
            return later;
        }
        d /= 2;
    }
}
