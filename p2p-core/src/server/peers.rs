//! The peer set and the two checkpoints, as pure state: no I/O, no clock,
//! so that every admission rule is a unit test.
//!
//! A connection takes a slot at the first checkpoint, right after the
//! encryption handshake (a *reservation*), and keeps it through the Hello
//! exchange; the second checkpoint turns the reservation into a peer. So
//! the limits count connections in their Hello exchange too, a flood of
//! connections is refused before any of them costs a Hello, and a peer
//! reserved by one connection is a duplicate for every other.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::oneshot;

use crate::base::DisconnectReason;
use crate::identity::PeerId;
use crate::peer::PeerInfo;
use crate::pipeline::Direction;

/// The peer limits the first checkpoint applies (from the server's config).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Peers in all, trusted ones not counted.
    pub max_peers: usize,
    /// Inbound peers, trusted ones not counted.
    pub max_inbound: usize,
    /// Outbound peers, trusted and static ones not counted.
    pub max_outbound: usize,
}

/// What the first checkpoint gives a connection.
#[derive(Debug)]
pub(crate) struct Reservation {
    /// Tells this connection from earlier and later ones of the same peer.
    pub serial: u64,
    /// A session this connection replaces (simultaneous dials), to be told
    /// to end with [`DisconnectReason::AlreadyConnected`].
    pub replaced: Option<Replaced>,
}

/// An admitted peer a newer connection replaced.
#[derive(Debug)]
pub(crate) struct Replaced {
    /// Tells its session to end, unless it has been told already.
    pub stop: Option<oneshot::Sender<DisconnectReason>>,
}

/// What the second checkpoint gives an admitted peer.
#[derive(Debug)]
pub(crate) struct Admitted {
    /// Its info, with the trusted flag set.
    pub info: Arc<PeerInfo>,
    /// Resolves when the server ends the session from its side.
    pub stop: oneshot::Receiver<DisconnectReason>,
}

/// A connection that left the set.
#[derive(Debug)]
pub(crate) struct Left {
    /// The peer's info, if it had been admitted.
    pub info: Option<Arc<PeerInfo>>,
    /// Whether the dial scheduler counts it as connected (and must be told).
    pub was_connected: bool,
}

enum State {
    /// Between the checkpoints.
    Reserved,
    /// Admitted; `stop` is taken once the session has been told to end.
    Active {
        info: Arc<PeerInfo>,
        stop: Option<oneshot::Sender<DisconnectReason>>,
    },
}

struct Entry {
    direction: Direction,
    trusted: bool,
    serial: u64,
    state: State,
    /// Whether the dial scheduler counts this peer as connected: set at
    /// admission, inherited by a reservation that replaces an admitted
    /// session, so that the scheduler is told of the end only once.
    connected: bool,
}

/// Every reserved and admitted peer, with the counts the limits read.
pub(crate) struct PeerSet {
    local_id: PeerId,
    entries: HashMap<PeerId, Entry>,
    /// Untrusted reserved and admitted peers, `[inbound, outbound]`: what
    /// the limits count.
    counted: [usize; 2],
    /// Admitted peers, trusted included, `[inbound, outbound]`.
    active: [usize; 2],
    serial: u64,
}

fn slot(direction: Direction) -> usize {
    match direction {
        Direction::Inbound => 0,
        Direction::Outbound => 1,
    }
}

impl PeerSet {
    pub(crate) fn new(local_id: PeerId) -> Self {
        PeerSet {
            local_id,
            entries: HashMap::new(),
            counted: [0; 2],
            active: [0; 2],
            serial: 0,
        }
    }

    /// The first checkpoint, go-ethereum's `postHandshakeChecks` in its
    /// order: ourselves, already connected, too many peers. `trusted` peers
    /// bypass the limits; `is_static` outbound ones the outbound limit.
    pub(crate) fn reserve(
        &mut self,
        id: PeerId,
        direction: Direction,
        trusted: bool,
        is_static: bool,
        limits: Limits,
    ) -> Result<Reservation, DisconnectReason> {
        if id == self.local_id {
            return Err(DisconnectReason::ConnectedToSelf);
        }
        let existing = self.entries.get(&id);
        if let Some(existing) = existing {
            if !self.wins_simultaneous_open(existing.direction, direction, &id) {
                return Err(DisconnectReason::AlreadyConnected);
            }
        } else if !trusted {
            self.check_limits(direction, is_static, limits)?;
        }
        let replaced = existing.is_some().then(|| self.remove_entry(&id));
        self.serial += 1;
        let entry = Entry {
            direction,
            trusted,
            serial: self.serial,
            state: State::Reserved,
            connected: replaced.as_ref().is_some_and(|r| r.1),
        };
        self.insert(id, entry);
        let replaced = replaced.and_then(|(state, _)| match state {
            State::Active { stop, .. } => Some(Replaced { stop }),
            State::Reserved => None,
        });
        Ok(Reservation {
            serial: self.serial,
            replaced,
        })
    }

    fn check_limits(
        &self,
        direction: Direction,
        is_static: bool,
        limits: Limits,
    ) -> Result<(), DisconnectReason> {
        let [inbound, outbound] = self.counted;
        let full = inbound + outbound >= limits.max_peers
            || match direction {
                Direction::Inbound => inbound >= limits.max_inbound,
                Direction::Outbound => !is_static && outbound >= limits.max_outbound,
            };
        if full {
            Err(DisconnectReason::TooManyPeers)
        } else {
            Ok(())
        }
    }

    /// Whether a second connection to a peer in the set, made in direction
    /// `new`, replaces the `existing` one. When two nodes dial each other at
    /// the same moment, each keeps one connection and refuses the other; if
    /// each kept a different one, both would be refused and the nodes would
    /// stay apart. So both sides follow one rule: the connection dialed by
    /// the node with the lower id is kept. A duplicate in the same direction
    /// is refused, as in go-ethereum.
    fn wins_simultaneous_open(&self, existing: Direction, new: Direction, id: &PeerId) -> bool {
        if existing == new {
            return false;
        }
        let dialed_by_us = new == Direction::Outbound;
        let we_are_lower = self.local_id < *id;
        dialed_by_us == we_are_lower
    }

    /// The second checkpoint: the connection `serial` of `info.id` becomes a
    /// peer, unless a newer connection has taken its place
    /// (`AlreadyConnected`) or it shares no capability (`UselessPeer`). A
    /// refused connection leaves the set.
    pub(crate) fn admit(
        &mut self,
        serial: u64,
        mut info: PeerInfo,
    ) -> Result<Admitted, DisconnectReason> {
        let id = info.id;
        let entry = match self.entries.get_mut(&id) {
            Some(entry) if entry.serial == serial => entry,
            _ => return Err(DisconnectReason::AlreadyConnected),
        };
        if info.shared.is_empty() {
            self.remove_entry(&id);
            return Err(DisconnectReason::UselessPeer);
        }
        info.trusted = entry.trusted;
        let info = Arc::new(info);
        let (stop_tx, stop) = oneshot::channel();
        entry.state = State::Active {
            info: info.clone(),
            stop: Some(stop_tx),
        };
        entry.connected = true;
        self.active[slot(entry.direction)] += 1;
        Ok(Admitted { info, stop })
    }

    /// The connection `serial` of `id` ended (at any point after the first
    /// checkpoint). `None` if it was no longer in the set (replaced).
    pub(crate) fn leave(&mut self, id: &PeerId, serial: u64) -> Option<Left> {
        if self.entries.get(id)?.serial != serial {
            return None;
        }
        let (state, was_connected) = self.remove_entry(id);
        let info = match state {
            State::Active { info, .. } => Some(info),
            State::Reserved => None,
        };
        Some(Left {
            info,
            was_connected,
        })
    }

    /// Tells the session of `id`, if admitted, to end with `reason`.
    pub(crate) fn stop(&mut self, id: &PeerId, reason: DisconnectReason) {
        if let Some(Entry {
            state: State::Active { stop, .. },
            ..
        }) = self.entries.get_mut(id)
        {
            if let Some(stop) = stop.take() {
                let _ = stop.send(reason);
            }
        }
    }

    /// Tells every admitted session to end with `reason`.
    pub(crate) fn stop_all(&mut self, reason: DisconnectReason) {
        let ids: Vec<PeerId> = self.entries.keys().copied().collect();
        for id in ids {
            self.stop(&id, reason);
        }
    }

    /// The admitted peers.
    pub(crate) fn peers(&self) -> Vec<Arc<PeerInfo>> {
        self.entries
            .values()
            .filter_map(|entry| match &entry.state {
                State::Active { info, .. } => Some(info.clone()),
                State::Reserved => None,
            })
            .collect()
    }

    /// Admitted peers by direction, trusted included: `(inbound, outbound)`.
    pub(crate) fn active_counts(&self) -> (usize, usize) {
        (self.active[0], self.active[1])
    }

    /// Reserved and admitted connections.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    fn insert(&mut self, id: PeerId, entry: Entry) {
        if !entry.trusted {
            self.counted[slot(entry.direction)] += 1;
        }
        self.entries.insert(id, entry);
    }

    fn remove_entry(&mut self, id: &PeerId) -> (State, bool) {
        let entry = self.entries.remove(id).expect("present");
        if !entry.trusted {
            self.counted[slot(entry.direction)] -= 1;
        }
        if let State::Active { .. } = entry.state {
            self.active[slot(entry.direction)] -= 1;
        }
        (entry.state, entry.connected)
    }
}

#[cfg(test)]
mod tests;
