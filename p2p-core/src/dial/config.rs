//! The dial scheduler's limits, each with why, and its configuration.

use std::time::Duration;

use crate::identity::PeerId;

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

/// The limits and timings of a [`DialScheduler`](super::DialScheduler).
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
