//! The dial scheduler: which nodes to dial, and when.
//!
//! [`DialScheduler`] is pure state. It does no I/O, spawns nothing and never
//! reads the clock: every method that depends on time takes the current
//! [`Instant`] as an argument. That keeps the rules below testable with a
//! fake clock, and leaves the mechanics (sockets, timers, cancellation) to
//! the supervisor task that owns the scheduler. The supervisor's loop is:
//!
//! 1. feed every event in ([`add_static`](DialScheduler::add_static),
//!    [`add_candidate`](DialScheduler::add_candidate),
//!    [`peer_added`](DialScheduler::peer_added),
//!    [`peer_removed`](DialScheduler::peer_removed),
//!    [`dial_finished`](DialScheduler::dial_finished), ...);
//! 2. call [`poll_dials`](DialScheduler::poll_dials) and start the dials it
//!    returns;
//! 3. sleep until the next event or [`next_wakeup`](DialScheduler::next_wakeup),
//!    whichever comes first, and go to 1.
//!
//! The rules follow go-ethereum's dial scheduler (`p2p/dial.go`):
//!
//! * at most [`DialConfig::max_active_dials`] dials run at once;
//! * static nodes come first, and are not limited by
//!   [`DialConfig::max_outbound`];
//! * dynamic candidates (from discovery) are dialed while the outbound peers
//!   plus the running dynamic dials stay below [`DialConfig::max_outbound`];
//! * nobody is dialed who is ourselves, already connected (in either
//!   direction) or already being dialed;
//! * a dynamic candidate is not dialed again within
//!   [`DialConfig::history_expiration`] of its last dial attempt;
//! * a static node whose dial failed waits a backoff that doubles with every
//!   failure, and a static node that disconnects is redialed once the history
//!   time since its last dial attempt has passed.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use p2p_core::dial::{DialConfig, DialScheduler};
//! use p2p_core::{Direction, Enode, NodeKey};
//!
//! let me = NodeKey::random();
//! let mut dialer = DialScheduler::new(DialConfig::from_peers(50, 3).with_self_id(me.id()));
//! let node = Enode::new(NodeKey::random().id(), "10.0.0.1".parse().unwrap(), 30303, 30303);
//!
//! let t0 = Instant::now();
//! dialer.add_static(node);
//! assert_eq!(dialer.poll_dials(t0), vec![node]);
//! // The dial fails: the node is retried after the initial backoff.
//! dialer.dial_finished(&node.id, false, t0);
//! assert!(dialer.poll_dials(t0).is_empty());
//! assert_eq!(dialer.next_wakeup(), Some(t0 + Duration::from_secs(1)));
//! assert_eq!(dialer.poll_dials(t0 + Duration::from_secs(1)), vec![node]);
//! // This time it works.
//! dialer.dial_finished(&node.id, true, t0 + Duration::from_secs(2));
//! dialer.peer_added(node.id, Direction::Outbound, t0 + Duration::from_secs(2));
//! assert!(dialer.is_connected(&node.id));
//! ```

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::enode::Enode;
use crate::identity::PeerId;
use crate::pipeline::Direction;

/// Default for [`DialConfig::max_active_dials`]: go-ethereum's
/// `maxActiveDialTasks`.
pub const DEFAULT_MAX_ACTIVE_DIALS: usize = 16;

/// The peer limit that [`DialConfig::default`] derives
/// [`DialConfig::max_outbound`] from: go-ethereum's default `MaxPeers`.
pub const DEFAULT_MAX_PEERS: usize = 50;

/// The share of the peer slots that is dialed, as `max_peers / ratio`:
/// go-ethereum's `defaultDialRatio`.
pub const DEFAULT_DIAL_RATIO: usize = 3;

/// Default for [`DialConfig::max_outbound`]: `DEFAULT_MAX_PEERS /
/// DEFAULT_DIAL_RATIO`.
pub const DEFAULT_MAX_OUTBOUND: usize = DEFAULT_MAX_PEERS / DEFAULT_DIAL_RATIO;

/// Default for [`DialConfig::history_expiration`]: go-ethereum's
/// `dialHistoryExpiration`.
///
/// go-ethereum refuses a second inbound connection from the same IP within
/// 30 s (`inboundThrottleTime`); a redial sooner than that would only be
/// turned away, so the history is that plus a 5 s margin.
pub const DEFAULT_HISTORY_EXPIRATION: Duration = Duration::from_secs(35);

/// Default for [`DialConfig::static_backoff`]: the wait after a static node's
/// first failed dial.
///
/// Short, because a static node was chosen by the operator and the first
/// failure is often transient (the node restarting, a dropped SYN). Dials of
/// unreachable nodes already take a connect timeout each, so retries after
/// 1, 2, 4, ... s do not hammer anyone.
pub const DEFAULT_STATIC_BACKOFF: Duration = Duration::from_secs(1);

/// Default for [`DialConfig::max_static_backoff`]: the cap of the doubling
/// backoff of static nodes.
///
/// Five minutes: a static node that comes back is found again within minutes,
/// while one that stays down costs one dial per five minutes.
pub const DEFAULT_MAX_STATIC_BACKOFF: Duration = Duration::from_secs(5 * 60);

/// Default for [`DialConfig::max_candidates`]: the queue of dynamic candidates
/// holds a few lookups' worth of results (a lookup returns up to 16 nodes)
/// without growing without bound when discovery outpaces dialing.
pub const DEFAULT_MAX_CANDIDATES: usize = 256;

/// The limits and timings of a [`DialScheduler`].
///
/// All fields are public; start from [`DialConfig::default`] or
/// [`DialConfig::from_peers`] and set [`self_id`](DialConfig::self_id) with
/// [`DialConfig::with_self_id`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DialConfig {
    /// The most dials, static and dynamic together, that run at once.
    /// 0 disables dialing.
    pub max_active_dials: usize,
    /// The number of peer slots filled by dialing: outbound peers plus running
    /// dynamic dials are kept below this. Static dials do not count, but a
    /// connected outbound static peer uses a slot, as in go-ethereum where
    /// every dialed peer counts against the dialed-peer limit.
    pub max_outbound: usize,
    /// How long after a dial attempt (counted from its start) the same
    /// dynamic candidate is not dialed again. It also spaces out the redials
    /// of a static node that keeps disconnecting.
    pub history_expiration: Duration,
    /// The wait after the first failed dial of a static node; every further
    /// failure doubles it, up to [`max_static_backoff`](Self::max_static_backoff).
    pub static_backoff: Duration,
    /// The longest wait between dials of a failing static node.
    pub max_static_backoff: Duration,
    /// The most dynamic candidates queued; when full, the oldest is dropped.
    pub max_candidates: usize,
    /// Our own id, which is never dialed. Discovery tables contain the local
    /// node, so candidates include it.
    pub self_id: PeerId,
}

impl Default for DialConfig {
    /// The defaults of the `DEFAULT_*` constants, with an all-zero
    /// [`self_id`](DialConfig::self_id). That id is no valid public key, so it
    /// excludes nobody: set the real one with [`DialConfig::with_self_id`].
    fn default() -> Self {
        DialConfig {
            max_active_dials: DEFAULT_MAX_ACTIVE_DIALS,
            max_outbound: DEFAULT_MAX_OUTBOUND,
            history_expiration: DEFAULT_HISTORY_EXPIRATION,
            static_backoff: DEFAULT_STATIC_BACKOFF,
            max_static_backoff: DEFAULT_MAX_STATIC_BACKOFF,
            max_candidates: DEFAULT_MAX_CANDIDATES,
            self_id: PeerId([0; 64]),
        }
    }
}

impl DialConfig {
    /// The defaults, with [`max_outbound`](Self::max_outbound) derived from a
    /// peer limit as go-ethereum does: `max_peers / dial_ratio`, where a
    /// `dial_ratio` of 0 means [`DEFAULT_DIAL_RATIO`].
    ///
    /// Like go-ethereum, a non-zero peer limit always leaves at least one
    /// dialed slot (a node with `max_peers` 2 would otherwise never dial),
    /// and a peer limit of 0 leaves none.
    pub fn from_peers(max_peers: usize, dial_ratio: usize) -> Self {
        let ratio = if dial_ratio == 0 {
            DEFAULT_DIAL_RATIO
        } else {
            dial_ratio
        };
        let max_outbound = if max_peers == 0 {
            0
        } else {
            (max_peers / ratio).max(1)
        };
        DialConfig {
            max_outbound,
            ..DialConfig::default()
        }
    }

    /// The same configuration with `self_id` as our own id.
    pub fn with_self_id(mut self, self_id: PeerId) -> Self {
        self.self_id = self_id;
        self
    }
}

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
#[derive(Clone, Copy, Debug)]
struct ActiveDial {
    enode: Enode,
    kind: DialKind,
    started: Instant,
}

/// What the scheduler remembers of a static node.
#[derive(Clone, Debug)]
struct StaticNode {
    enode: Enode,
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
/// See the [module documentation](self) for the rules and the driving loop.
#[derive(Debug)]
pub struct DialScheduler {
    config: DialConfig,
    statics: HashMap<PeerId, StaticNode>,
    next_seq: u64,
    /// Dynamic candidates, oldest first. Ids are unique.
    candidates: VecDeque<Enode>,
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
    pub fn add_static(&mut self, enode: Enode) -> bool {
        if enode.id == self.config.self_id {
            tracing::debug!(id = %enode.id, "not adding ourselves as a static node");
            return false;
        }
        if let Some(node) = self.statics.get_mut(&enode.id) {
            if node.enode != enode {
                node.enode = enode;
                node.backoff = self.config.static_backoff;
                node.retry_at = None;
            }
            return false;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.statics.insert(
            enode.id,
            StaticNode {
                enode,
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
    pub fn add_candidate(&mut self, enode: Enode, now: Instant) -> bool {
        self.expire_history(now);
        if self.config.max_candidates == 0 || !self.is_dialable(&enode.id) {
            return false;
        }
        if let Some(queued) = self.candidates.iter_mut().find(|c| c.id == enode.id) {
            *queued = enode;
            return true;
        }
        if self.candidates.len() >= self.config.max_candidates {
            // Nodes that became connected or static since they were queued
            // are worth less than any real candidate: drop those first.
            self.drop_useless_candidates();
        }
        while self.candidates.len() >= self.config.max_candidates {
            if let Some(old) = self.candidates.pop_front() {
                tracing::trace!(id = %old.id, "candidate queue full, dropping the oldest");
            }
        }
        self.candidates.push_back(enode);
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
    pub fn active_dials(&self) -> impl Iterator<Item = &Enode> + '_ {
        self.active.values().map(|dial| &dial.enode)
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
    pub fn poll_dials(&mut self, now: Instant) -> Vec<Enode> {
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
            .map(|node| (node.last_dial, node.seq, node.enode.id))
            .collect();
        ready.sort_unstable();
        for (_, _, id) in ready.into_iter().take(budget) {
            let node = self.statics.get_mut(&id).expect("collected from statics");
            node.last_dial = Some(now);
            let enode = node.enode;
            self.start(enode, DialKind::Static, now);
            dials.push(enode);
            budget -= 1;
        }

        let mut slots = self.dynamic_slots();
        let mut i = 0;
        while budget > 0 && slots > 0 && i < self.candidates.len() {
            let candidate = self.candidates[i];
            match self.candidate_state(&candidate.id, now) {
                CandidateState::Waiting => i += 1,
                CandidateState::Useless => {
                    self.candidates.remove(i);
                }
                CandidateState::Ready => {
                    self.candidates.remove(i);
                    let until = after(now, self.config.history_expiration);
                    self.history.insert(candidate.id, until);
                    self.history_order.push_back((until, candidate.id));
                    self.start(candidate, DialKind::Dynamic, now);
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
            .filter(|node| self.is_dialable(&node.enode.id))
            .filter_map(|node| node.retry_at);
        // Queued candidates only matter if a dynamic dial could start.
        let candidates_matter = self.dynamic_slots() > 0;
        let candidates = self
            .candidates
            .iter()
            .filter(|_| candidates_matter)
            .filter(|c| self.is_dialable(&c.id) && !self.statics.contains_key(&c.id))
            .filter_map(|c| self.history.get(&c.id).copied());
        statics.chain(candidates).min()
    }

    /// Whether `id` is neither ourselves, nor connected, nor being dialed.
    fn is_dialable(&self, id: &PeerId) -> bool {
        *id != self.config.self_id
            && !self.connected.contains_key(id)
            && !self.active.contains_key(id)
    }

    fn static_ready(&self, node: &StaticNode, now: Instant) -> bool {
        self.is_dialable(&node.enode.id) && node.retry_at.is_none_or(|t| now >= t)
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

    /// How many more dynamic dials the outbound limit allows.
    fn dynamic_slots(&self) -> usize {
        // A dial whose peer is already registered (the peer can be added
        // before its dial is reported finished) is counted once, as a peer.
        let dialing = self
            .active
            .values()
            .filter(|d| d.kind == DialKind::Dynamic && !self.connected.contains_key(&d.enode.id))
            .count();
        self.config
            .max_outbound
            .saturating_sub(self.outbound_count() + dialing)
    }

    fn start(&mut self, enode: Enode, kind: DialKind, now: Instant) {
        tracing::trace!(node = %enode, ?kind, "starting dial");
        self.active.insert(
            enode.id,
            ActiveDial {
                enode,
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
            c.id != self_id
                && !statics.contains_key(&c.id)
                && !connected.contains_key(&c.id)
                && !active.contains_key(&c.id)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    const SECOND: Duration = Duration::from_secs(1);

    fn id(n: u16) -> PeerId {
        let mut bytes = [0u8; 64];
        bytes[..2].copy_from_slice(&n.to_be_bytes());
        bytes[63] = 0xee;
        PeerId(bytes)
    }

    fn node(n: u16) -> Enode {
        let [a, b] = n.to_be_bytes();
        Enode::new(id(n), IpAddr::V4(Ipv4Addr::new(10, 0, a, b)), 30303, 30303)
    }

    /// Node 0 is ourselves.
    fn config() -> DialConfig {
        DialConfig::default().with_self_id(id(0))
    }

    fn ids(dials: &[Enode]) -> Vec<PeerId> {
        dials.iter().map(|e| e.id).collect()
    }

    fn sorted(mut v: Vec<PeerId>) -> Vec<PeerId> {
        v.sort();
        v
    }

    #[test]
    fn config_defaults_follow_go_ethereum() {
        let c = DialConfig::default();
        assert_eq!(c.max_active_dials, 16);
        assert_eq!(c.max_outbound, 16);
        assert_eq!(c.history_expiration, 35 * SECOND);
        assert_eq!(c.static_backoff, SECOND);
        assert_eq!(c.max_static_backoff, 300 * SECOND);
        assert_eq!(c.max_candidates, 256);
        assert_eq!(DialConfig::from_peers(50, 3), c);
        assert_eq!(DialConfig::from_peers(50, 0).max_outbound, 16);
        assert_eq!(DialConfig::from_peers(50, 2).max_outbound, 25);
        assert_eq!(DialConfig::from_peers(2, 3).max_outbound, 1);
        assert_eq!(DialConfig::from_peers(0, 3).max_outbound, 0);
        assert_eq!(
            DialConfig::from_peers(50, 3).with_self_id(id(7)).self_id,
            id(7)
        );
    }

    #[test]
    fn active_dials_are_limited() {
        let t0 = Instant::now();
        let mut d = DialScheduler::new(config());
        for n in 1..=40 {
            d.add_static(node(n));
        }
        let first = d.poll_dials(t0);
        assert_eq!(first.len(), 16);
        assert_eq!(d.active_dial_count(), 16);
        assert!(d.poll_dials(t0).is_empty());
        // Nothing time-based can help while every slot is taken.
        assert_eq!(d.next_wakeup(), None);

        assert!(d.dial_finished(&first[0].id, false, t0 + SECOND));
        let more = d.poll_dials(t0 + SECOND);
        assert_eq!(more.len(), 1);
        assert!(!ids(&first).contains(&more[0].id));
        assert_eq!(d.active_dial_count(), 16);
    }

    #[test]
    fn active_dial_limit_covers_dynamic_dials() {
        let t0 = Instant::now();
        let mut d = DialScheduler::new(DialConfig {
            max_active_dials: 3,
            ..config()
        });
        for n in 1..=10 {
            d.add_candidate(node(n), t0);
        }
        assert_eq!(ids(&d.poll_dials(t0)), vec![id(1), id(2), id(3)]);
        assert!(d.poll_dials(t0).is_empty());
        assert_eq!(d.candidate_count(), 7);
    }

    #[test]
    fn dynamic_dials_respect_outbound_cap() {
        let t0 = Instant::now();
        let mut d = DialScheduler::new(DialConfig {
            max_outbound: 4,
            ..config()
        });
        for n in 1..=10 {
            assert!(d.add_candidate(node(n), t0));
        }
        let dials = d.poll_dials(t0);
        assert_eq!(ids(&dials), vec![id(1), id(2), id(3), id(4)]);
        assert_eq!(d.dial_kind(&id(1)), Some(DialKind::Dynamic));

        // A successful dial turns into an outbound peer: still 4 slots used.
        d.peer_added(id(1), Direction::Outbound, t0 + SECOND);
        assert!(d.poll_dials(t0 + SECOND).is_empty());
        d.dial_finished(&id(1), true, t0 + SECOND);
        assert!(d.poll_dials(t0 + SECOND).is_empty());
        assert_eq!(d.outbound_count(), 1);

        // A failed dial frees its slot.
        d.dial_finished(&id(2), false, t0 + 2 * SECOND);
        assert_eq!(ids(&d.poll_dials(t0 + 2 * SECOND)), vec![id(5)]);

        // So does a lost outbound peer.
        d.peer_removed(&id(1), t0 + 3 * SECOND);
        assert_eq!(ids(&d.poll_dials(t0 + 3 * SECOND)), vec![id(6)]);
    }

    #[test]
    fn static_dials_ignore_outbound_cap() {
        let t0 = Instant::now();
        let mut d = DialScheduler::new(DialConfig {
            max_outbound: 1,
            ..config()
        });
        for n in 1..=3 {
            d.add_static(node(n));
        }
        d.add_candidate(node(10), t0);
        d.add_candidate(node(11), t0);
        let dials = d.poll_dials(t0);
        // All three statics, and one candidate for the single dynamic slot.
        assert_eq!(sorted(ids(&dials)), vec![id(1), id(2), id(3), id(10)]);
        assert_eq!(d.dial_kind(&id(2)), Some(DialKind::Static));
    }

    #[test]
    fn connected_static_peers_use_outbound_slots() {
        let t0 = Instant::now();
        let mut d = DialScheduler::new(DialConfig {
            max_outbound: 2,
            ..config()
        });
        d.add_static(node(1));
        d.add_static(node(2));
        assert_eq!(d.poll_dials(t0).len(), 2);
        for n in [1, 2] {
            d.dial_finished(&id(n), true, t0);
            d.peer_added(id(n), Direction::Outbound, t0);
        }
        d.add_candidate(node(10), t0);
        assert!(d.poll_dials(t0).is_empty());
        d.peer_removed(&id(2), t0 + SECOND);
        assert_eq!(ids(&d.poll_dials(t0 + SECOND)), vec![id(10)]);
    }

    #[test]
    fn static_nodes_come_first() {
        let t0 = Instant::now();
        let mut d = DialScheduler::new(DialConfig {
            max_active_dials: 2,
            ..config()
        });
        for n in 10..15 {
            d.add_candidate(node(n), t0);
        }
        for n in 1..=3 {
            d.add_static(node(n));
        }
        let dials = d.poll_dials(t0);
        assert_eq!(ids(&dials), vec![id(1), id(2)]);
        // The third static node gets the next free slot, before candidates.
        d.dial_finished(&id(1), true, t0);
        d.peer_added(id(1), Direction::Outbound, t0);
        assert_eq!(ids(&d.poll_dials(t0)), vec![id(3)]);
        d.dial_finished(&id(2), true, t0);
        d.peer_added(id(2), Direction::Outbound, t0);
        assert_eq!(ids(&d.poll_dials(t0)), vec![id(10)]);
    }

    #[test]
    fn static_nodes_take_turns() {
        let t0 = Instant::now();
        let mut d = DialScheduler::new(DialConfig {
            max_active_dials: 1,
            static_backoff: Duration::ZERO,
            ..config()
        });
        for n in 1..=3 {
            d.add_static(node(n));
        }
        // With no backoff and one slot, failing nodes are dialed in turn.
        let mut order = Vec::new();
        for step in 0..6 {
            let now = t0 + step * SECOND;
            let dials = d.poll_dials(now);
            assert_eq!(dials.len(), 1);
            order.push(dials[0].id);
            d.dial_finished(&dials[0].id, false, now);
        }
        assert_eq!(order, vec![id(1), id(2), id(3), id(1), id(2), id(3)]);
    }

    #[test]
    fn never_dials_self() {
        let t0 = Instant::now();
        let mut d = DialScheduler::new(config());
        assert!(!d.add_static(node(0)));
        assert!(!d.add_candidate(node(0), t0));
        assert_eq!(d.static_count(), 0);
        assert_eq!(d.candidate_count(), 0);
        assert!(d.poll_dials(t0).is_empty());
        assert_eq!(d.next_wakeup(), None);
    }

    #[test]
    fn never_dials_connected_peers() {
        let t0 = Instant::now();
        let mut d = DialScheduler::new(config());
        d.peer_added(id(1), Direction::Outbound, t0);
        assert!(!d.add_candidate(node(1), t0));

        // A candidate that connects (inbound) while queued is dropped.
        assert!(d.add_candidate(node(2), t0));
        d.peer_added(id(2), Direction::Inbound, t0);

        // A static node that is connected is not dialed.
        d.add_static(node(3));
        d.peer_added(id(3), Direction::Inbound, t0);

        assert!(d.poll_dials(t0).is_empty());
        assert_eq!(d.candidate_count(), 0);
        assert!(d.is_connected(&id(1)) && d.is_connected(&id(2)) && d.is_connected(&id(3)));
    }

    #[test]
    fn never_dials_twice_at_once() {
        let t0 = Instant::now();
        let mut d = DialScheduler::new(config());
        d.add_candidate(node(1), t0);
        assert_eq!(ids(&d.poll_dials(t0)), vec![id(1)]);
        // Rediscovered while the dial runs: refused.
        assert!(!d.add_candidate(node(1), t0));
        // Made static while the dynamic dial runs: not dialed a second time.
        d.add_static(node(1));
        assert!(d.poll_dials(t0).is_empty());
        assert_eq!(d.active_dials().copied().collect::<Vec<_>>(), vec![node(1)]);
    }

    #[test]
    fn dynamic_history_blocks_redial_for_35s() {
        let t0 = Instant::now();
        let mut d = DialScheduler::new(config());
        d.add_candidate(node(1), t0);
        assert_eq!(ids(&d.poll_dials(t0)), vec![id(1)]);
        d.dial_finished(&id(1), false, t0 + 2 * SECOND);
        assert!(d.recently_dialed(&id(1), t0 + 2 * SECOND));

        // Rediscovered: queued, but waits for the history to expire.
        assert!(d.add_candidate(node(1), t0 + 3 * SECOND));
        assert!(d.poll_dials(t0 + 3 * SECOND).is_empty());
        assert_eq!(d.next_wakeup(), Some(t0 + 35 * SECOND));
        assert!(d.poll_dials(t0 + 34 * SECOND).is_empty());
        assert!(d
            .poll_dials(t0 + 35 * SECOND - Duration::from_millis(1))
            .is_empty());
        assert_eq!(ids(&d.poll_dials(t0 + 35 * SECOND)), vec![id(1)]);
        // The new dial starts a new history entry.
        assert!(d.recently_dialed(&id(1), t0 + 69 * SECOND));
        assert!(!d.recently_dialed(&id(1), t0 + 70 * SECOND));
    }

    #[test]
    fn waiting_candidates_do_not_block_others() {
        let t0 = Instant::now();
        let mut d = DialScheduler::new(config());
        d.add_candidate(node(1), t0);
        d.poll_dials(t0);
        d.dial_finished(&id(1), false, t0);
        d.add_candidate(node(1), t0);
        d.add_candidate(node(2), t0);
        assert_eq!(ids(&d.poll_dials(t0 + SECOND)), vec![id(2)]);
        assert_eq!(d.candidate_count(), 1);
    }

    #[test]
    fn static_backoff_doubles_up_to_max_and_resets_on_success() {
        let t0 = Instant::now();
        let mut d = DialScheduler::new(DialConfig {
            static_backoff: SECOND,
            max_static_backoff: 8 * SECOND,
            ..config()
        });
        d.add_static(node(1));
        let mut now = t0;
        assert_eq!(d.poll_dials(now).len(), 1);
        // Waits after successive failures: 1, 2, 4, 8, then capped at 8.
        for wait in [1, 2, 4, 8, 8, 8] {
            d.dial_finished(&id(1), false, now);
            let due = now + wait * SECOND;
            assert_eq!(d.static_retry_at(&id(1)), Some(due));
            assert_eq!(d.next_wakeup(), Some(due));
            assert!(d.poll_dials(due - Duration::from_millis(1)).is_empty());
            now = due;
            assert_eq!(ids(&d.poll_dials(now)), vec![id(1)]);
        }
        // A success resets the backoff: the next failure waits 1 s again.
        d.dial_finished(&id(1), true, now);
        d.peer_added(id(1), Direction::Outbound, now);
        d.peer_removed(&id(1), now + 100 * SECOND);
        now += 100 * SECOND;
        assert_eq!(ids(&d.poll_dials(now)), vec![id(1)]);
        d.dial_finished(&id(1), false, now);
        assert_eq!(d.static_retry_at(&id(1)), Some(now + SECOND));
    }

    #[test]
    fn static_backoff_resets_when_node_dials_us() {
        let t0 = Instant::now();
        let mut d = DialScheduler::new(config());
        d.add_static(node(1));
        for step in 0..4 {
            let now = d.static_retry_at(&id(1)).unwrap_or(t0);
            assert_eq!(d.poll_dials(now).len(), 1, "step {step}");
            d.dial_finished(&id(1), false, now);
        }
        let now = d.static_retry_at(&id(1)).unwrap();
        d.peer_added(id(1), Direction::Inbound, now);
        d.peer_removed(&id(1), now + 100 * SECOND);
        let now = now + 100 * SECOND;
        assert_eq!(d.poll_dials(now).len(), 1);
        d.dial_finished(&id(1), false, now);
        assert_eq!(d.static_retry_at(&id(1)), Some(now + SECOND));
    }

    #[test]
    fn failed_dial_of_connected_static_is_not_penalized() {
        let t0 = Instant::now();
        let mut d = DialScheduler::new(config());
        d.add_static(node(1));
        d.poll_dials(t0);
        // The node dialed us at the same time and won the race.
        d.peer_added(id(1), Direction::Inbound, t0);
        d.dial_finished(&id(1), false, t0);
        d.peer_removed(&id(1), t0 + 50 * SECOND);
        assert_eq!(d.poll_dials(t0 + 50 * SECOND).len(), 1);
        d.dial_finished(&id(1), false, t0 + 50 * SECOND);
        // Still the initial backoff.
        assert_eq!(d.static_retry_at(&id(1)), Some(t0 + 51 * SECOND));
    }

    #[test]
    fn static_peer_is_redialed_after_disconnect() {
        let t0 = Instant::now();
        let mut d = DialScheduler::new(config());
        d.add_static(node(1));
        assert_eq!(d.poll_dials(t0).len(), 1);
        d.peer_added(id(1), Direction::Outbound, t0 + SECOND);
        d.dial_finished(&id(1), true, t0 + SECOND);

        // Dropped after 10 s: redialed 35 s after the last dial started.
        d.peer_removed(&id(1), t0 + 10 * SECOND);
        assert!(!d.is_connected(&id(1)));
        assert!(d.poll_dials(t0 + 10 * SECOND).is_empty());
        assert_eq!(d.next_wakeup(), Some(t0 + 35 * SECOND));
        assert!(d.poll_dials(t0 + 34 * SECOND).is_empty());
        assert_eq!(ids(&d.poll_dials(t0 + 35 * SECOND)), vec![id(1)]);

        // Dropped long after the dial: redialed at once.
        let t1 = t0 + 35 * SECOND;
        d.dial_finished(&id(1), true, t1);
        d.peer_added(id(1), Direction::Outbound, t1);
        d.peer_removed(&id(1), t1 + 3600 * SECOND);
        assert_eq!(ids(&d.poll_dials(t1 + 3600 * SECOND)), vec![id(1)]);
    }

    #[test]
    fn static_peer_that_dialed_us_is_redialed_at_once() {
        let t0 = Instant::now();
        let mut d = DialScheduler::new(config());
        d.peer_added(id(1), Direction::Inbound, t0);
        d.add_static(node(1));
        assert!(d.poll_dials(t0).is_empty());
        d.peer_removed(&id(1), t0 + SECOND);
        assert_eq!(ids(&d.poll_dials(t0 + SECOND)), vec![id(1)]);
    }

    #[test]
    fn removing_a_static_node_stops_its_dials() {
        let t0 = Instant::now();
        let mut d = DialScheduler::new(config());
        d.add_static(node(1));
        d.add_static(node(2));
        assert_eq!(d.poll_dials(t0).len(), 2);
        d.dial_finished(&id(1), false, t0);
        assert!(d.remove_static(&id(1)));
        assert!(!d.remove_static(&id(1)));
        assert!(!d.is_static(&id(1)));
        assert!(d.poll_dials(t0 + 10 * SECOND).is_empty());

        // Removed while its dial runs: the dial finishing brings nothing back.
        assert!(d.remove_static(&id(2)));
        d.dial_finished(&id(2), false, t0 + SECOND);
        assert!(d.poll_dials(t0 + 10 * SECOND).is_empty());
        assert_eq!(d.next_wakeup(), None);
        assert_eq!(d.static_count(), 0);
    }

    #[test]
    fn readding_static_with_new_endpoint_clears_backoff() {
        let t0 = Instant::now();
        let mut d = DialScheduler::new(config());
        assert!(d.add_static(node(1)));
        d.poll_dials(t0);
        d.dial_finished(&id(1), false, t0);
        // Same endpoint: nothing changes.
        assert!(!d.add_static(node(1)));
        assert_eq!(d.static_retry_at(&id(1)), Some(t0 + SECOND));
        // New endpoint: dialed at once.
        let moved = Enode {
            tcp: 30304,
            ..node(1)
        };
        assert!(!d.add_static(moved));
        assert_eq!(d.poll_dials(t0), vec![moved]);
    }

    #[test]
    fn candidate_queue_is_bounded_dropping_oldest() {
        let t0 = Instant::now();
        let mut d = DialScheduler::new(DialConfig {
            max_candidates: 3,
            ..config()
        });
        for n in 1..=5 {
            assert!(d.add_candidate(node(n), t0));
        }
        assert_eq!(d.candidate_count(), 3);
        // A duplicate keeps its place and takes the new endpoint.
        let moved = Enode {
            tcp: 4000,
            ..node(4)
        };
        assert!(d.add_candidate(moved, t0));
        assert_eq!(d.candidate_count(), 3);
        assert_eq!(d.poll_dials(t0), vec![node(3), moved, node(5)]);
    }

    #[test]
    fn full_queue_drops_useless_candidates_first() {
        let t0 = Instant::now();
        let mut d = DialScheduler::new(DialConfig {
            max_candidates: 2,
            ..config()
        });
        d.add_candidate(node(1), t0);
        d.add_candidate(node(2), t0);
        d.peer_added(id(2), Direction::Inbound, t0);
        d.add_candidate(node(3), t0);
        assert_eq!(ids(&d.poll_dials(t0)), vec![id(1), id(3)]);
    }

    #[test]
    fn zero_capacity_queue_takes_nothing() {
        let t0 = Instant::now();
        let mut d = DialScheduler::new(DialConfig {
            max_candidates: 0,
            ..config()
        });
        assert!(!d.add_candidate(node(1), t0));
        assert!(d.poll_dials(t0).is_empty());
    }

    #[test]
    fn next_wakeup_reports_earliest_relevant_expiry() {
        let t0 = Instant::now();
        let mut d = DialScheduler::new(DialConfig {
            max_outbound: 1,
            ..config()
        });
        assert_eq!(d.next_wakeup(), None);

        // A candidate waiting for its history: wake at its expiry.
        d.add_candidate(node(1), t0);
        d.poll_dials(t0);
        d.dial_finished(&id(1), false, t0);
        // A history entry with no queued candidate wakes nobody.
        assert_eq!(d.next_wakeup(), None);
        d.add_candidate(node(1), t0 + SECOND);
        assert_eq!(d.next_wakeup(), Some(t0 + 35 * SECOND));

        // A failing static node with a nearer retry wins.
        d.add_static(node(2));
        d.poll_dials(t0 + 10 * SECOND);
        d.dial_finished(&id(2), false, t0 + 10 * SECOND);
        assert_eq!(d.next_wakeup(), Some(t0 + 11 * SECOND));

        // With the only outbound slot taken, the candidate's expiry is moot.
        d.remove_static(&id(2));
        d.peer_added(id(9), Direction::Outbound, t0 + 12 * SECOND);
        assert_eq!(d.next_wakeup(), None);
        d.peer_removed(&id(9), t0 + 13 * SECOND);
        assert_eq!(d.next_wakeup(), Some(t0 + 35 * SECOND));

        // A waiting static node that connected is no reason to wake.
        d.add_static(node(3));
        d.poll_dials(t0 + 14 * SECOND);
        d.dial_finished(&id(3), false, t0 + 14 * SECOND);
        assert_eq!(d.next_wakeup(), Some(t0 + 15 * SECOND));
        d.peer_added(id(3), Direction::Inbound, t0 + 14 * SECOND);
        assert_eq!(d.next_wakeup(), Some(t0 + 35 * SECOND));
    }

    #[test]
    fn inbound_peers_are_connected_but_use_no_outbound_slot() {
        let t0 = Instant::now();
        let mut d = DialScheduler::new(DialConfig {
            max_outbound: 2,
            ..config()
        });
        for n in 1..=3 {
            assert!(d.peer_added(id(n), Direction::Inbound, t0));
        }
        assert!(!d.peer_added(id(1), Direction::Inbound, t0));
        assert_eq!(d.connected_count(), 3);
        assert_eq!(d.inbound_count(), 3);
        assert_eq!(d.outbound_count(), 0);
        assert!(d.is_connected(&id(2)));
        assert!(!d.add_candidate(node(2), t0));
        for n in 10..=12 {
            d.add_candidate(node(n), t0);
        }
        assert_eq!(ids(&d.poll_dials(t0)), vec![id(10), id(11)]);
    }

    #[test]
    fn peer_added_before_dial_finished_is_counted_once() {
        let t0 = Instant::now();
        let mut d = DialScheduler::new(DialConfig {
            max_outbound: 2,
            ..config()
        });
        for n in 1..=3 {
            d.add_candidate(node(n), t0);
        }
        assert_eq!(d.poll_dials(t0).len(), 2);
        // Node 1's peer is registered while its dial is still running.
        d.peer_added(id(1), Direction::Outbound, t0);
        assert!(d.poll_dials(t0).is_empty());
        assert!(d.dial_finished(&id(1), true, t0));
        assert!(!d.dial_finished(&id(1), true, t0));
        assert!(d.poll_dials(t0).is_empty());
    }

    #[test]
    fn unknown_events_are_ignored() {
        let t0 = Instant::now();
        let mut d = DialScheduler::new(config());
        assert!(!d.dial_finished(&id(1), false, t0));
        assert!(!d.peer_removed(&id(1), t0));
        assert!(!d.remove_static(&id(1)));
        assert!(d.poll_dials(t0).is_empty());
    }

    #[test]
    fn huge_durations_do_not_panic() {
        let t0 = Instant::now();
        let mut d = DialScheduler::new(DialConfig {
            static_backoff: Duration::MAX,
            max_static_backoff: Duration::MAX,
            history_expiration: Duration::MAX,
            ..config()
        });
        d.add_static(node(1));
        d.add_candidate(node(2), t0);
        assert_eq!(d.poll_dials(t0).len(), 2);
        d.dial_finished(&id(1), false, t0);
        d.dial_finished(&id(2), false, t0);
        assert!(d.poll_dials(t0 + 1000 * SECOND).is_empty());
        assert!(d.next_wakeup().is_some_and(|t| t > t0));
    }

    /// Random events against the invariants every rule implies.
    #[test]
    fn random_events_keep_invariants() {
        for seed in 0..20 {
            let mut rng = StdRng::seed_from_u64(seed);
            let cfg = DialConfig {
                max_active_dials: rng.random_range(1..6),
                max_outbound: rng.random_range(0..5),
                max_candidates: rng.random_range(1..8),
                ..config()
            };
            let mut d = DialScheduler::new(cfg.clone());
            let t0 = Instant::now();
            let mut now = t0;
            let mut last_dynamic: HashMap<PeerId, Instant> = HashMap::new();
            for _ in 0..2000 {
                now += Duration::from_millis(rng.random_range(0..3000));
                let n = rng.random_range(0..12u16);
                match rng.random_range(0..7) {
                    0 => {
                        d.add_static(node(n));
                    }
                    1 => {
                        d.remove_static(&id(n));
                    }
                    2 | 3 => {
                        d.add_candidate(node(n), now);
                    }
                    4 => {
                        let running: Vec<PeerId> = d.active_dials().map(|e| e.id).collect();
                        if let Some(&done) = running.get(rng.random_range(0..running.len().max(1)))
                        {
                            let ok = rng.random_bool(0.5);
                            d.dial_finished(&done, ok, now);
                            if ok && n != 0 {
                                d.peer_added(done, Direction::Outbound, now);
                            }
                        }
                    }
                    5 => {
                        if n != 0 {
                            d.peer_added(id(n), Direction::Inbound, now);
                        }
                    }
                    _ => {
                        d.peer_removed(&id(n), now);
                    }
                }
                let before: Vec<PeerId> = d.active_dials().map(|e| e.id).collect();
                let dials = d.poll_dials(now);
                for e in &dials {
                    assert_ne!(e.id, cfg.self_id);
                    assert!(!before.contains(&e.id), "dialed twice at once");
                    assert!(!d.is_connected(&e.id), "dialed a connected peer");
                    if d.dial_kind(&e.id) == Some(DialKind::Dynamic) {
                        if let Some(&last) = last_dynamic.get(&e.id) {
                            assert!(now >= last + cfg.history_expiration, "history ignored");
                        }
                        last_dynamic.insert(e.id, now);
                    }
                }
                assert!(d.active_dial_count() <= cfg.max_active_dials);
                if dials
                    .iter()
                    .any(|e| d.dial_kind(&e.id) == Some(DialKind::Dynamic))
                {
                    let dynamic = d
                        .active
                        .values()
                        .filter(|a| a.kind == DialKind::Dynamic && !d.is_connected(&a.enode.id))
                        .count();
                    assert!(d.outbound_count() + dynamic <= cfg.max_outbound);
                }
                if let Some(wake) = d.next_wakeup() {
                    assert!(
                        wake > now,
                        "next_wakeup {wake:?} not after the poll at {now:?}"
                    );
                }
            }
        }
    }
}
