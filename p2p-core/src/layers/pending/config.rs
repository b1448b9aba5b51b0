//! The admission limits of inbound connections still in their handshake.

use serde::{Deserialize, Serialize};

/// Default for [`PendingConfig::max`].
///
/// With eviction instead of a queue the cap is not what keeps honest peers
/// waiting; it bounds what half-open connections can cost (a task, a socket
/// and a read buffer of about half a kilobyte each, so about 4 MB at the
/// cap) and how fast an attacker must open connections to push an honest
/// handshake out: the oldest is evicted when a newcomer finds the table
/// full, so an honest handshake that takes 300 ms (three round trips across
/// the world) survives unless 3,400 connections a second arrive behind it.
pub const DEFAULT_MAX_PENDING: usize = 1024;

/// Default for [`PendingConfig::max_waiting`].
///
/// A connection that has not delivered its first message costs a socket,
/// a parked task and at most a couple of kilobytes of partial message:
/// about 8 MB at the cap. Four times [`DEFAULT_MAX_PENDING`] lets an
/// attacker hold thousands of silent or trickling sockets without pushing
/// an honest peer out in the instant between its connect and its first
/// message.
pub const DEFAULT_MAX_WAITING: usize = 4 * DEFAULT_MAX_PENDING;

/// Default for [`PendingConfig::max_per_ip`].
///
/// One honest host rarely has more than one handshake with us in flight
/// (a node dials a peer once); eight leaves room for several nodes behind
/// one NAT while one address cannot fill more than a sliver of the table.
pub const DEFAULT_MAX_PENDING_PER_IP: usize = 8;

/// Default for [`PendingConfig::max_per_subnet`] (an IPv4 /24 or IPv6 /64).
///
/// Four addresses' worth: a hosting block or NAT pool gets more than one
/// address, far less than the table.
pub const DEFAULT_MAX_PENDING_PER_SUBNET: usize = 32;

/// How many inbound connections may be in their handshake at once, in all
/// and per remote address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PendingConfig {
    /// Inbound connections whose handshake is working at once (for RLPx:
    /// whose auth message is complete); when one more starts working, the
    /// oldest is dropped for it (see the module docs). Default
    /// [`DEFAULT_MAX_PENDING`].
    pub max: usize,
    /// Inbound connections still waiting for their first message (silent,
    /// or sending it slowly); a newcomer past this many drops the oldest
    /// of them. Default [`DEFAULT_MAX_WAITING`].
    pub max_waiting: usize,
    /// Per remote IP; past it the newcomer is refused. Default
    /// [`DEFAULT_MAX_PENDING_PER_IP`].
    pub max_per_ip: usize,
    /// Per IPv4 /24 or IPv6 /64; past it the newcomer is refused. Default
    /// [`DEFAULT_MAX_PENDING_PER_SUBNET`].
    pub max_per_subnet: usize,
    /// Whether loopback addresses are exempt from the per-address caps
    /// (never from `max`). Default on: local tests and simulations run
    /// every peer on 127.0.0.1.
    pub exempt_loopback: bool,
}

impl Default for PendingConfig {
    fn default() -> Self {
        PendingConfig {
            max: DEFAULT_MAX_PENDING,
            max_waiting: DEFAULT_MAX_WAITING,
            max_per_ip: DEFAULT_MAX_PENDING_PER_IP,
            max_per_subnet: DEFAULT_MAX_PENDING_PER_SUBNET,
            exempt_loopback: true,
        }
    }
}

impl PendingConfig {
    /// No cap at all: what a server without the built-in limit uses.
    pub const UNLIMITED: PendingConfig = PendingConfig {
        max: usize::MAX,
        max_waiting: usize::MAX,
        max_per_ip: usize::MAX,
        max_per_subnet: usize::MAX,
        exempt_loopback: true,
    };
}
