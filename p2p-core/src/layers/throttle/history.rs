//! The throttle's state, free of I/O: recent attempts per IP.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::Instant;

use super::{is_lan, ThrottleConfig};

/// Recent inbound attempts per IP: the throttle's state, with the clock passed
/// in so that it can be tested without waiting.
///
/// Every window is the same length, so expiry order is insertion order: a
/// queue gives the pruning order and a map the lookups. `now` is expected not
/// to go backwards (it is monotonic in the service); if it does, pruning only
/// becomes lazier.
#[derive(Clone, Debug)]
pub struct InboundHistory {
    config: ThrottleConfig,
    /// The expiry of each remembered IP's window.
    expiries: HashMap<IpAddr, Instant>,
    /// `(expiry, ip)` in insertion order. Each map entry has one queue entry
    /// with the same expiry; the queue may also hold stale ones, recognised by
    /// an expiry differing from the map's.
    order: VecDeque<(Instant, IpAddr)>,
}

impl InboundHistory {
    /// An empty history.
    pub fn new(config: ThrottleConfig) -> Self {
        InboundHistory {
            config,
            expiries: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// Its configuration.
    pub fn config(&self) -> &ThrottleConfig {
        &self.config
    }

    /// Whether `ip` is never throttled (loopback or LAN, as configured).
    pub fn is_exempt(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        (self.config.exempt_loopback && ip.is_loopback()) || (self.config.exempt_lan && is_lan(ip))
    }

    /// Records an inbound attempt from `ip` at `now` and tells whether it may
    /// proceed: `false` if the same IP was admitted less than a window ago.
    /// A refused attempt is not recorded, so it does not extend the window.
    pub fn check(&mut self, ip: IpAddr, now: Instant) -> bool {
        let ip = ip.to_canonical();
        if self.is_exempt(ip) {
            return true;
        }
        self.prune(now);
        if let Some(&expiry) = self.expiries.get(&ip) {
            if expiry > now {
                return false;
            }
            // Expired but not yet pruned (the clock went backwards earlier):
            // forget it; its queue entry is now stale.
            self.expiries.remove(&ip);
        }
        let Some(expiry) = now.checked_add(self.config.window) else {
            // A window too long to represent: unreachable with sane
            // configuration; admit rather than panic.
            return true;
        };
        if expiry <= now {
            // Zero window: the throttle is off, remember nothing.
            return true;
        }
        // Make room: the queue is never shorter than the map, so bounding it
        // bounds both.
        while self.order.len() >= self.config.max_tracked.max(1) {
            self.pop_oldest();
        }
        self.expiries.insert(ip, expiry);
        self.order.push_back((expiry, ip));
        true
    }

    /// Forgets every attempt whose window has passed at `now`. [`check`]
    /// does this itself.
    ///
    /// [`check`]: InboundHistory::check
    pub fn prune(&mut self, now: Instant) {
        while self.order.front().is_some_and(|&(expiry, _)| expiry <= now) {
            self.pop_oldest();
        }
    }

    /// How many IPs are remembered.
    pub fn len(&self) -> usize {
        self.expiries.len()
    }

    /// Whether no IP is remembered.
    pub fn is_empty(&self) -> bool {
        self.expiries.is_empty()
    }

    /// Entries of the expiry queue, stale ones (left by a clock that went
    /// backwards) included: what the history holds in memory, which pruning
    /// keeps near [`InboundHistory::len`].
    pub fn queued(&self) -> usize {
        self.order.len()
    }

    fn pop_oldest(&mut self) {
        if let Some((expiry, ip)) = self.order.pop_front() {
            // Only the entry's own queue element removes it, not a stale one.
            if self.expiries.get(&ip) == Some(&expiry) {
                self.expiries.remove(&ip);
            }
        }
    }
}
