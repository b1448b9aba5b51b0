//! Per-subnet connection limits: the counter and the slot a connection holds.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};

/// The prefix length of the IPv4 subnets whose connections are counted.
pub const IPV4_SUBNET_PREFIX: u8 = 24;
/// The prefix length of the IPv6 subnets whose connections are counted.
pub const IPV6_SUBNET_PREFIX: u8 = 64;

/// Default connections per IPv4 /24.
///
/// Five is a tenth of go-ethereum's default of 50 peers: whoever controls one
/// /24 (a hosting block, a NAT pool) gets at most that share, so filling every
/// slot takes ten distinct /24s, while several independent nodes in one data
/// centre block are still all reachable.
pub const DEFAULT_MAX_PER_IPV4_SUBNET: usize = 5;

/// Default connections per IPv6 /64.
///
/// A /64 is the smallest network an ISP or cloud hands out, so it stands for
/// one subscriber, as a single IPv4 address would; the same share as for an
/// IPv4 /24 keeps one host with a whole /64 of addresses from taking more
/// than a tenth of the default 50 slots. It does not stop a holder of a /48,
/// which contains 65,536 /64s; nothing cheap does.
pub const DEFAULT_MAX_PER_IPV6_SUBNET: usize = 5;

/// The subnet whose connection count `ip` belongs to: its IPv4 /24, or its
/// IPv6 /64. IPv4-mapped IPv6 addresses map to their IPv4 /24.
pub fn subnet_of(ip: IpAddr) -> IpNet {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpNet::V4(Ipv4Net::new_assert(v4, IPV4_SUBNET_PREFIX).trunc()),
        IpAddr::V6(v6) => IpNet::V6(Ipv6Net::new_assert(v6, IPV6_SUBNET_PREFIX).trunc()),
    }
}

/// How many live connections one subnet may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SubnetLimits {
    /// Connections per IPv4 /24; 0 means unlimited. Default
    /// [`DEFAULT_MAX_PER_IPV4_SUBNET`].
    pub max_per_ipv4_24: usize,
    /// Connections per IPv6 /64; 0 means unlimited. Default
    /// [`DEFAULT_MAX_PER_IPV6_SUBNET`].
    pub max_per_ipv6_64: usize,
    /// Whether loopback addresses (127.0.0.0/8, ::1) are exempt, on by
    /// default: local tests and in-process simulations run many peers on
    /// 127.0.0.1, and a loopback peer is one we started ourselves.
    pub exempt_loopback: bool,
}

impl Default for SubnetLimits {
    fn default() -> Self {
        SubnetLimits {
            max_per_ipv4_24: DEFAULT_MAX_PER_IPV4_SUBNET,
            max_per_ipv6_64: DEFAULT_MAX_PER_IPV6_SUBNET,
            exempt_loopback: true,
        }
    }
}

impl SubnetLimits {
    /// No limit on any subnet.
    pub const UNLIMITED: SubnetLimits = SubnetLimits {
        max_per_ipv4_24: 0,
        max_per_ipv6_64: 0,
        exempt_loopback: true,
    };

    /// The limit that applies to `ip` (already canonical), or `None` when its
    /// connections are not counted at all.
    fn limit_for(&self, ip: IpAddr) -> Option<usize> {
        if self.exempt_loopback && ip.is_loopback() {
            return None;
        }
        let limit = match ip {
            IpAddr::V4(_) => self.max_per_ipv4_24,
            IpAddr::V6(_) => self.max_per_ipv6_64,
        };
        (limit > 0).then_some(limit)
    }
}

type Counts = Arc<Mutex<HashMap<IpNet, usize>>>;

// The counts stay consistent whatever panicked while the lock was held (each
// critical section is one map update), so a poisoned lock is still usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Live connections per subnet, shared by every clone.
///
/// Only subnets with at least one live connection have an entry, so memory is
/// bounded by the number of connections. Inbound and outbound connections
/// count alike: build one counter (one [`PeerFilterLayer`](super::PeerFilterLayer)) and use it in
/// every pipeline of a server.
#[derive(Clone, Debug)]
pub struct SubnetCounter {
    limits: SubnetLimits,
    // A mutex rather than a task owning the counts: the critical section is
    // one hash-map update, and the slot's `Drop` must release synchronously.
    counts: Counts,
}

impl SubnetCounter {
    /// An empty counter enforcing `limits`.
    pub fn new(limits: SubnetLimits) -> Self {
        SubnetCounter {
            limits,
            counts: Arc::default(),
        }
    }

    /// The limits it enforces.
    pub fn limits(&self) -> SubnetLimits {
        self.limits
    }

    /// Reserves a slot in the subnet of `ip`, or `None` when the subnet is
    /// full. The slot is released when the returned guard is dropped.
    ///
    /// Addresses whose subnet is not limited (loopback when exempt, a limit of
    /// 0) always get a slot, one that counts nothing
    /// ([`SubnetSlot::subnet`] is `None`).
    pub fn try_acquire(&self, ip: IpAddr) -> Option<SubnetSlot> {
        let ip = ip.to_canonical();
        let Some(limit) = self.limits.limit_for(ip) else {
            return Some(SubnetSlot { held: None });
        };
        let subnet = subnet_of(ip);
        let mut counts = lock(&self.counts);
        let count = counts.entry(subnet).or_insert(0);
        if *count >= limit {
            // Leave no zero entry behind: only occupied subnets are stored.
            if *count == 0 {
                counts.remove(&subnet);
            }
            return None;
        }
        *count += 1;
        Some(SubnetSlot {
            held: Some((Arc::clone(&self.counts), subnet)),
        })
    }

    /// Live connections counted in the subnet of `ip`.
    pub fn in_use(&self, ip: IpAddr) -> usize {
        lock(&self.counts).get(&subnet_of(ip)).copied().unwrap_or(0)
    }

    /// How many subnets hold at least one counted connection.
    pub fn occupied_subnets(&self) -> usize {
        lock(&self.counts).len()
    }
}

/// A reserved place in a subnet's connection count, released on drop.
///
/// Pushed into [`ConnGuards`](crate::ConnGuards) so it lives exactly as long
/// as the connection.
pub struct SubnetSlot {
    held: Option<(Counts, IpNet)>,
}

impl SubnetSlot {
    /// The subnet the slot counts in; `None` for an uncounted address.
    pub fn subnet(&self) -> Option<IpNet> {
        self.held.as_ref().map(|(_, subnet)| *subnet)
    }
}

impl Drop for SubnetSlot {
    fn drop(&mut self) {
        let Some((counts, subnet)) = self.held.take() else {
            return;
        };
        let mut counts = lock(&counts);
        if let Some(count) = counts.get_mut(&subnet) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&subnet);
            }
        }
    }
}

impl fmt::Debug for SubnetSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubnetSlot")
            .field("subnet", &self.subnet())
            .finish()
    }
}
