//! What a server has done since it started: dials and accepted connections,
//! how many of each became peers, and the connections that ended before
//! their session, by stage and reason. Read with
//! [`Server::stats`](super::Server::stats), for a status line, an admin API
//! or a dashboard; the same events also go to the metrics recorder, if one
//! is installed.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use crate::pipeline::Direction;

/// A server's counts since it started.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Outbound connections attempted (each dial the scheduler started).
    pub dials: u64,
    /// Dials that became peers.
    pub dialed_peers: u64,
    /// Dials whose connection could not be made (refused, unreachable,
    /// timed out), before any handshake.
    pub dial_failures: u64,
    /// Inbound connections accepted by the listener.
    pub accepted: u64,
    /// Accepted connections that became peers.
    pub accepted_peers: u64,
    /// Connections that ended before their session (refused, timed out,
    /// failed a handshake), most frequent first.
    pub ended_early: Vec<EndedEarly>,
}

/// How many connections ended before their session at one stage for one
/// reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndedEarly {
    /// Whether we dialed it or accepted it.
    pub direction: Direction,
    /// The pipeline stage they ended at (`setup`, `hello`, ...).
    pub stage: &'static str,
    /// Why: a refusal kind, a disconnect reason or an error name, from a
    /// closed set (never text a peer chose).
    pub reason: String,
    /// How many.
    pub count: u64,
}

/// The live counters behind [`ServerStats`]. Relaxed ordering: each count is
/// read on its own, for display.
#[derive(Debug, Default)]
pub(super) struct StatsCounters {
    dials: AtomicU64,
    dialed_peers: AtomicU64,
    dial_failures: AtomicU64,
    accepted: AtomicU64,
    accepted_peers: AtomicU64,
    /// Bounded by the closed sets stage and reason come from.
    ended_early: Mutex<BTreeMap<(Direction, &'static str, String), u64>>,
}

impl StatsCounters {
    pub fn dialed(&self) {
        self.dials.fetch_add(1, Ordering::Relaxed);
    }

    pub fn dial_failed(&self) {
        self.dial_failures.fetch_add(1, Ordering::Relaxed);
    }

    pub fn accepted(&self) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
    }

    pub fn became_peer(&self, direction: Direction) {
        match direction {
            Direction::Outbound => &self.dialed_peers,
            Direction::Inbound => &self.accepted_peers,
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    pub fn ended_early(&self, direction: Direction, stage: &'static str, reason: String) {
        *self
            .ended_early
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry((direction, stage, reason))
            .or_default() += 1;
    }

    pub fn read(&self) -> ServerStats {
        let mut ended_early: Vec<EndedEarly> = self
            .ended_early
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|((direction, stage, reason), &count)| EndedEarly {
                direction: *direction,
                stage,
                reason: reason.clone(),
                count,
            })
            .collect();
        ended_early.sort_by_key(|e| std::cmp::Reverse(e.count));
        ServerStats {
            dials: self.dials.load(Ordering::Relaxed),
            dialed_peers: self.dialed_peers.load(Ordering::Relaxed),
            dial_failures: self.dial_failures.load(Ordering::Relaxed),
            accepted: self.accepted.load(Ordering::Relaxed),
            accepted_peers: self.accepted_peers.load(Ordering::Relaxed),
            ended_early,
        }
    }
}
