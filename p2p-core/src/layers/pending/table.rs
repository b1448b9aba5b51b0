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
/// Connections that have not sent a byte yet (silent) are kept apart from
/// those whose handshake has started (active): when the table is full the
/// oldest silent connection goes first, since it has cost nothing and
/// shown nothing, and only when none is left the oldest active one.
#[derive(Debug)]
pub struct PendingTable<T> {
    config: PendingConfig,
    next_id: u64,
    silent: BTreeMap<PendingId, Entry<T>>,
    active: BTreeMap<PendingId, Entry<T>>,
    per_ip: HashMap<IpAddr, usize>,
    per_subnet: HashMap<IpNet, usize>,
}

#[derive(Debug)]
struct Entry<T> {
    ip: IpAddr,
    handle: T,
}

impl<T> PendingTable<T> {
    /// An empty table with these limits (a `max` of 0 counts as 1).
    pub fn new(config: PendingConfig) -> Self {
        PendingTable {
            config: PendingConfig {
                max: config.max.max(1),
                ..config
            },
            next_id: 0,
            silent: BTreeMap::new(),
            active: BTreeMap::new(),
            per_ip: HashMap::new(),
            per_subnet: HashMap::new(),
        }
    }

    /// Admits a connection from `ip` (taken in canonical form), evicting
    /// the oldest entry if the table is full; refuses it if its address or
    /// subnet already holds its cap.
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
        let evicted = if self.len() >= self.config.max {
            self.evict_oldest()
        } else {
            None
        };
        let id = PendingId(self.next_id);
        self.next_id += 1;
        self.silent.insert(id, Entry { ip, handle });
        if counted {
            *self.per_ip.entry(ip).or_default() += 1;
            *self.per_subnet.entry(subnet).or_default() += 1;
        }
        Ok(Admitted { id, evicted })
    }

    /// Marks `id` as active: its peer has sent its first bytes.
    pub fn started(&mut self, id: PendingId) {
        if let Some(entry) = self.silent.remove(&id) {
            self.active.insert(id, entry);
        }
    }

    /// Removes `id` (its handshake ended, one way or another); nothing
    /// happens if it was evicted already.
    pub fn remove(&mut self, id: PendingId) {
        if let Some(entry) = self.silent.remove(&id).or_else(|| self.active.remove(&id)) {
            self.uncount(entry.ip);
        }
    }

    /// Connections in the table.
    pub fn len(&self) -> usize {
        self.silent.len() + self.active.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Connections in the table that have not sent a byte yet.
    pub fn silent(&self) -> usize {
        self.silent.len()
    }

    fn evict_oldest(&mut self) -> Option<T> {
        let (_, entry) = self
            .silent
            .pop_first()
            .or_else(|| self.active.pop_first())?;
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

    fn table(max: usize) -> PendingTable<&'static str> {
        PendingTable::new(PendingConfig {
            max,
            max_per_ip: 2,
            max_per_subnet: 3,
            exempt_loopback: true,
        })
    }

    #[test]
    fn full_table_evicts_the_oldest_silent_connection_first() {
        let mut t = table(3);
        let a = t.admit(ip("198.51.100.1"), "a").unwrap().id;
        t.admit(ip("198.51.101.1"), "b").unwrap();
        t.admit(ip("198.51.102.1"), "c").unwrap();
        // `a` has started its handshake: `b` is the oldest silent one.
        t.started(a);
        let d = t.admit(ip("198.51.103.1"), "d").unwrap();
        assert_eq!(d.evicted, Some("b"));
        assert_eq!(t.len(), 3);
        t.started(d.id);
        let e = t.admit(ip("198.51.104.1"), "e").unwrap();
        assert_eq!(e.evicted, Some("c"));
        // Only active ones left: the oldest of them goes.
        t.started(e.id);
        assert_eq!(t.admit(ip("198.51.105.1"), "f").unwrap().evicted, Some("a"));
        assert_eq!(t.silent(), 1);
    }

    #[test]
    fn per_ip_and_per_subnet_caps_refuse_the_newcomer() {
        let mut t = table(100);
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
    fn loopback_is_exempt_from_the_address_caps_but_not_from_the_total() {
        let mut t = table(4);
        for _ in 0..4 {
            assert!(t.admit(ip("127.0.0.1"), "x").unwrap().evicted.is_none());
        }
        assert_eq!(t.admit(ip("127.0.0.1"), "y").unwrap().evicted, Some("x"));
        assert_eq!(t.len(), 4);
    }

    #[test]
    fn evicted_entries_are_uncounted_once() {
        let mut t = table(2);
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
