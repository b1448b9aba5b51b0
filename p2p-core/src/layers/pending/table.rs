//! The table of inbound connections in their handshake: pure state, no
//! I/O, so that admission and eviction are tested without sockets.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use ipnet::IpNet;

use super::PendingConfig;
use crate::layers::filter::{subnet_of, Refused};

/// A connection's place in a [`PendingTable`]. Ids grow with arrival, so
/// ordering by id is ordering by age.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PendingId(u64);

/// What [`PendingTable::admit`] did.
#[derive(Debug)]
pub struct Admitted<T> {
    /// The newcomer's entry.
    pub id: PendingId,
    /// The handle of the connection dropped to make room, if the table was
    /// full: the caller ends that connection.
    pub evicted: Option<T>,
}

/// Inbound connections in their handshake, each with a handle `T` that ends
/// it when evicted.
///
/// Two pools with a cap each. A connection enters *waiting*: it has cost
/// nothing yet (no first message, no key agreement), and when waiting is
/// full a newcomer takes the place of the oldest waiting connection. It
/// moves to *working* when its handshake starts to cost work; when working
/// is full, the oldest working connection makes room. So connections that
/// stay silent or trickle their first message only ever push out each
/// other, and an honest peer, which sends its first message at once and
/// finishes in a few round trips, competes only with handshakes that work.
#[derive(Debug)]
pub struct PendingTable<T> {
    config: PendingConfig,
    next_id: u64,
    waiting: BTreeMap<PendingId, Entry<T>>,
    working: BTreeMap<PendingId, Entry<T>>,
    per_ip: HashMap<IpAddr, usize>,
    per_subnet: HashMap<IpNet, usize>,
}

/// The two pools of the table.
enum Pool {
    Waiting,
    Working,
}

#[derive(Debug)]
struct Entry<T> {
    ip: IpAddr,
    handle: T,
}

impl<T> PendingTable<T> {
    /// An empty table with these limits (caps of 0 count as 1).
    pub fn new(config: PendingConfig) -> Self {
        PendingTable {
            config: PendingConfig {
                max: config.max.max(1),
                max_waiting: config.max_waiting.max(1),
                ..config
            },
            next_id: 0,
            waiting: BTreeMap::new(),
            working: BTreeMap::new(),
            per_ip: HashMap::new(),
            per_subnet: HashMap::new(),
        }
    }

    /// Admits a connection from `ip` (taken in canonical form) as waiting,
    /// evicting the oldest waiting entry if that pool is full; refuses it
    /// if its address or subnet already holds its cap.
    pub fn admit(&mut self, ip: IpAddr, handle: T) -> Result<Admitted<T>, Refused> {
        let ip = ip.to_canonical();
        let counted = !(self.config.exempt_loopback && ip.is_loopback());
        let subnet = subnet_of(ip);
        if counted {
            if self.per_ip.get(&ip).copied().unwrap_or(0) >= self.config.max_per_ip {
                let limit = self.config.max_per_ip;
                return Err(Refused::PendingPerIp { ip, limit });
            }
            if self.per_subnet.get(&subnet).copied().unwrap_or(0) >= self.config.max_per_subnet {
                let limit = self.config.max_per_subnet;
                return Err(Refused::PendingPerSubnet { subnet, limit });
            }
        }
        let evicted = if self.waiting.len() >= self.config.max_waiting {
            self.evict_oldest(Pool::Waiting)
        } else {
            None
        };
        let id = PendingId(self.next_id);
        self.next_id += 1;
        self.waiting.insert(id, Entry { ip, handle });
        if counted {
            *self.per_ip.entry(ip).or_default() += 1;
            *self.per_subnet.entry(subnet).or_default() += 1;
        }
        Ok(Admitted { id, evicted })
    }

    /// Moves `id` to working: its handshake has started to cost work. If
    /// working was full, the oldest working entry is dropped for it and its
    /// handle returned: the caller ends that connection.
    pub fn started(&mut self, id: PendingId) -> Option<T> {
        let entry = self.waiting.remove(&id)?;
        let evicted = if self.working.len() >= self.config.max {
            self.evict_oldest(Pool::Working)
        } else {
            None
        };
        self.working.insert(id, entry);
        evicted
    }

    /// Removes `id` (its handshake ended, one way or another); nothing
    /// happens if it was evicted already.
    pub fn remove(&mut self, id: PendingId) {
        if let Some(entry) = self
            .waiting
            .remove(&id)
            .or_else(|| self.working.remove(&id))
        {
            self.uncount(entry.ip);
        }
    }

    /// Connections in the table.
    pub fn len(&self) -> usize {
        self.waiting.len() + self.working.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Connections in the table whose handshake has not started working.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    fn evict_oldest(&mut self, pool: Pool) -> Option<T> {
        let pool = match pool {
            Pool::Waiting => &mut self.waiting,
            Pool::Working => &mut self.working,
        };
        let (_, entry) = pool.pop_first()?;
        self.uncount(entry.ip);
        Some(entry.handle)
    }

    fn uncount(&mut self, ip: IpAddr) {
        if self.config.exempt_loopback && ip.is_loopback() {
            return;
        }
        decrement(&mut self.per_ip, ip);
        decrement(&mut self.per_subnet, subnet_of(ip));
    }
}

fn decrement<K: std::hash::Hash + Eq>(counts: &mut HashMap<K, usize>, key: K) {
    if let Some(count) = counts.get_mut(&key) {
        *count -= 1;
        if *count == 0 {
            counts.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn table(max: usize, max_waiting: usize) -> PendingTable<&'static str> {
        PendingTable::new(PendingConfig {
            max,
            max_waiting,
            max_per_ip: 2,
            max_per_subnet: 3,
            exempt_loopback: true,
        })
    }

    #[test]
    fn newcomers_push_out_only_waiting_connections() {
        let mut t = table(2, 2);
        let a = t.admit(ip("198.51.100.1"), "a").unwrap().id;
        assert_eq!(t.started(a), None);
        t.admit(ip("198.51.101.1"), "b").unwrap();
        t.admit(ip("198.51.102.1"), "c").unwrap();
        // Waiting is full: the oldest waiting one goes, never `a`, which works.
        let d = t.admit(ip("198.51.103.1"), "d").unwrap();
        assert_eq!(d.evicted, Some("b"));
        assert_eq!((t.len(), t.waiting()), (3, 2));
        let e = t.admit(ip("198.51.104.1"), "e").unwrap();
        assert_eq!(e.evicted, Some("c"));
        assert_eq!((t.len(), t.waiting()), (3, 2));
    }

    #[test]
    fn a_full_working_pool_drops_its_oldest_for_a_handshake_that_starts() {
        let mut t = table(2, 10);
        let a = t.admit(ip("198.51.100.1"), "a").unwrap().id;
        let b = t.admit(ip("198.51.101.1"), "b").unwrap().id;
        let c = t.admit(ip("198.51.102.1"), "c").unwrap().id;
        assert_eq!(t.started(b), None);
        assert_eq!(t.started(a), None);
        // Age is arrival order: `a` is the oldest working entry, though it
        // started after `b`.
        assert_eq!(t.started(c), Some("a"));
        assert_eq!((t.len(), t.waiting()), (2, 0));
        // Starting twice, or after eviction, changes nothing.
        assert_eq!(t.started(c), None);
        assert_eq!(t.started(a), None);
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn per_ip_and_per_subnet_caps_refuse_the_newcomer() {
        let mut t = table(100, 100);
        t.admit(ip("203.0.113.1"), "a").unwrap();
        let b = t.admit(ip("203.0.113.1"), "b").unwrap().id;
        assert_eq!(
            t.admit(ip("203.0.113.1"), "c").unwrap_err(),
            Refused::PendingPerIp {
                ip: ip("203.0.113.1"),
                limit: 2
            }
        );
        t.admit(ip("203.0.113.2"), "d").unwrap();
        assert!(matches!(
            t.admit(ip("203.0.113.3"), "e").unwrap_err(),
            Refused::PendingPerSubnet { limit: 3, .. }
        ));
        // A finished handshake frees its address's and subnet's share.
        t.remove(b);
        t.admit(ip("203.0.113.3"), "e").unwrap();
        // IPv4-mapped IPv6 counts as the IPv4 address.
        assert!(t.admit(ip("::ffff:203.0.113.1"), "f").is_err());
    }

    #[test]
    fn loopback_is_exempt_from_the_address_caps_but_not_from_the_pools() {
        let mut t = table(4, 4);
        for _ in 0..4 {
            assert!(t.admit(ip("127.0.0.1"), "x").unwrap().evicted.is_none());
        }
        assert_eq!(t.admit(ip("127.0.0.1"), "y").unwrap().evicted, Some("x"));
        assert_eq!(t.len(), 4);
    }

    #[test]
    fn evicted_entries_are_uncounted_once() {
        let mut t = table(10, 2);
        let a = t.admit(ip("192.0.2.1"), "a").unwrap().id;
        t.admit(ip("192.0.2.9"), "x").unwrap();
        assert_eq!(t.admit(ip("192.0.2.1"), "b").unwrap().evicted, Some("a"));
        // The evicted connection's own clean-up comes later: a no-op, which
        // must not release "b"'s share of the address.
        t.remove(a);
        assert_eq!(t.admit(ip("192.0.2.1"), "c").unwrap().evicted, Some("x"));
        assert!(matches!(
            t.admit(ip("192.0.2.1"), "d").unwrap_err(),
            Refused::PendingPerIp { limit: 2, .. }
        ));
    }
}
