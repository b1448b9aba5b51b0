//! The discovery v4 Kademlia routing table, as pure state.
//!
//! The table does no I/O and never reads the clock: every operation that needs
//! the time takes an [`Instant`], and the one that needs randomness takes a
//! random `u64`. The discovery service owns the sockets and timers and feeds
//! the results (pongs, timeouts, Neighbors answers) into the table.
//!
//! # Layout
//!
//! Nodes are keyed by their [`NodeId`] (keccak256 of the public key) and sorted
//! into buckets by the XOR [`log_distance`] from our own id. Like go-ethereum,
//! the table keeps only [`N_BUCKETS`] (17) buckets: one per distance 241..=256
//! and a first bucket that holds every distance up to 240
//! ([`BUCKET_MIN_DISTANCE`] plus one). A node at distance ≤ 240 shares 16 leading bits with us, which
//! happens for one random id in 65 536, so 239 separate, almost always empty
//! buckets would buy nothing.
//!
//! Each bucket holds at most [`BUCKET_SIZE`] live entries, ordered from the most
//! recently verified (front) to the least recently verified (back, nodes never
//! verified last), and at most [`MAX_REPLACEMENTS`] replacement candidates,
//! newest first. When an entry is removed, the newest replacement takes its
//! place, so a bucket only has free room when it has no replacements.
//!
//! # IP limits
//!
//! To make it expensive to fill the table with nodes of one operator, at most
//! [`BUCKET_IP_LIMIT`] nodes of one subnet may be in a bucket and at most
//! [`TABLE_IP_LIMIT`] in the whole table. Subnets are /24 for IPv4 (as in
//! go-ethereum) and /64 for IPv6 (go-ethereum applies its /24 prefix to IPv6
//! as well, which lumps whole provider allocations together; /64 is the usual
//! allocation to one site or host, so it is the unit an attacker gets cheaply).
//! IPv4-mapped IPv6 addresses count as their IPv4 address. Replacements count
//! towards the limits too (as in go-ethereum), so promoting one never breaks
//! them. Loopback, private and link-local addresses (go-ethereum's
//! `netutil.IsLAN`) are exempt: on a private network every node shares a few
//! subnets and the limits would only get in the way.
//!
//! # Added, seen, verified
//!
//! [`Table::add_seen`] is for nodes we merely heard of (Neighbors answers,
//! bootnodes): they go to the back of their bucket, where revalidation checks
//! them first. [`Table::add_verified`] is for nodes that proved they are alive
//! at their endpoint (answered our ping, or pinged us after the endpoint proof):
//! they go to the front and their `last_seen` is set. This mirrors go-ethereum's
//! `addFoundNode`/`addInboundNode` (`addSeenNode`/`addVerifiedNode` in older
//! versions).

use std::cmp::Ordering;
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use p2p_core::NodeId;

use super::wire::NodeRecordV4;
use crate::netutil::is_lan;

/// Most live entries one bucket holds (Kademlia's `k`).
pub const BUCKET_SIZE: usize = 16;
/// Most replacement candidates kept per bucket.
pub const MAX_REPLACEMENTS: usize = 10;
/// Number of buckets; see the module documentation for the distance mapping.
pub const N_BUCKETS: usize = 17;
/// Distances up to one above this share the first bucket (`256 - N_BUCKETS`).
pub const BUCKET_MIN_DISTANCE: usize = 256 - N_BUCKETS;
/// Most nodes of one subnet in one bucket (entries and replacements together).
pub const BUCKET_IP_LIMIT: usize = 2;
/// Most nodes of one subnet in the whole table (entries and replacements).
pub const TABLE_IP_LIMIT: usize = 10;
/// Prefix length that defines an IPv4 subnet for the IP limits.
pub const IPV4_SUBNET_BITS: u32 = 24;
/// Prefix length that defines an IPv6 subnet for the IP limits.
pub const IPV6_SUBNET_BITS: u32 = 64;
/// The default of [`Table::set_min_revalidation_age`]: a bucket whose least
/// recently verified entry was verified more recently than this is not offered
/// for revalidation: its nodes just proved they are alive,
/// and pinging them again would waste a round trip.
pub const MIN_REVALIDATION_AGE: Duration = Duration::from_secs(10);

/// The logarithmic XOR distance between two ids: 256 minus the number of
/// leading zero bits of `a ^ b`, so 0 for equal ids and 256 when the first bit
/// differs.
pub fn log_distance(a: &NodeId, b: &NodeId) -> usize {
    for (i, (x, y)) in a.0.iter().zip(b.0.iter()).enumerate() {
        let d = x ^ y;
        if d != 0 {
            return 256 - i * 8 - d.leading_zeros() as usize;
        }
    }
    0
}

/// Compares the XOR distances of `a` and `b` to `target`: `Less` when `a` is
/// closer. Distinct ids are never at the same distance.
pub fn distance_cmp(target: &NodeId, a: &NodeId, b: &NodeId) -> Ordering {
    for i in 0..32 {
        let da = a.0[i] ^ target.0[i];
        let db = b.0[i] ^ target.0[i];
        if da != db {
            return da.cmp(&db);
        }
    }
    Ordering::Equal
}

/// The bucket holding nodes at log distance `distance` (see module docs).
fn bucket_index(distance: usize) -> usize {
    distance.saturating_sub(BUCKET_MIN_DISTANCE + 1)
}

/// A table entry. The table hands out copies; changing one does not change the
/// table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Endpoint and public key, as last reported.
    pub record: NodeRecordV4,
    /// The node id, `record.id.node_id()` (cached: it is a keccak256).
    pub id: NodeId,
    /// When the node entered the table (or its replacement list).
    pub added_at: Instant,
    /// When the node last proved it is alive (a pong, or an inbound ping after
    /// the endpoint proof); `None` if it never did.
    pub last_seen: Option<Instant>,
    /// Number of successful revalidations since the node was added.
    pub liveness_checks: u32,
}

/// Why a node was not added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    /// The node is ourselves.
    SelfId,
    /// The endpoint has no IP address, or the unspecified one: nobody could
    /// contact the node.
    NoAddress,
    /// Its subnet already has the maximum number of nodes in the bucket or the
    /// table. For a known node this means the endpoint change was refused and
    /// the old endpoint kept.
    IpLimit,
}

/// What adding a node did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddOutcome {
    /// The node is new and became a live entry of its bucket.
    Inserted,
    /// The node was already a live entry; its endpoint was updated and, for
    /// verified adds, it moved to the front of its bucket.
    Updated,
    /// The bucket is full: the node is (now, or already was) the newest
    /// replacement candidate of its bucket.
    Replacement,
    /// The node was not added.
    Rejected(RejectReason),
}

/// What [`Table::revalidated`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revalidation {
    /// The node is not a live entry (already removed, or never added).
    Unknown,
    /// The node answered: it moved to the front of its bucket.
    Bumped,
    /// The node did not answer and was removed.
    Removed {
        /// The replacement that took its place, if the bucket had one. It has
        /// not been verified by the table; the caller may want to ping it.
        replacement: Option<Node>,
    },
}

/// The subnet a node counts against for the IP limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Subnet {
    V4([u8; (IPV4_SUBNET_BITS / 8) as usize]),
    V6([u8; (IPV6_SUBNET_BITS / 8) as usize]),
}

/// The subnet of `ip`, or `None` if it is exempt from the limits.
fn subnet(ip: IpAddr) -> Option<Subnet> {
    let ip = ip.to_canonical();
    if is_lan(ip) {
        return None;
    }
    Some(match ip {
        IpAddr::V4(v4) => {
            let mut key = [0; (IPV4_SUBNET_BITS / 8) as usize];
            let n = key.len();
            key.copy_from_slice(&v4.octets()[..n]);
            Subnet::V4(key)
        }
        IpAddr::V6(v6) => {
            let mut key = [0; (IPV6_SUBNET_BITS / 8) as usize];
            let n = key.len();
            key.copy_from_slice(&v6.octets()[..n]);
            Subnet::V6(key)
        }
    })
}

/// Per-subnet node counts.
type IpCounts = HashMap<Subnet, usize>;

fn release(counts: &mut IpCounts, key: Subnet) {
    if let Some(c) = counts.get_mut(&key) {
        *c -= 1;
        if *c == 0 {
            counts.remove(&key);
        }
    }
}

#[derive(Debug, Default)]
struct Bucket {
    /// Live entries, most recently verified first.
    entries: Vec<Node>,
    /// Replacement candidates, newest first.
    replacements: Vec<Node>,
    /// Subnet counts of entries and replacements.
    ips: IpCounts,
}

/// The routing table. See the module documentation.
#[derive(Debug)]
pub struct Table {
    self_id: NodeId,
    min_revalidation_age: Duration,
    buckets: Vec<Bucket>,
    /// Subnet counts of all entries and replacements.
    ips: IpCounts,
}

/// The IP of a record, if it is one a node can be reached at.
fn usable_ip(record: &NodeRecordV4) -> Option<IpAddr> {
    record.endpoint.ip.filter(|ip| !ip.is_unspecified())
}

impl Table {
    /// An empty table around our own id.
    pub fn new(self_id: NodeId) -> Self {
        Table {
            self_id,
            min_revalidation_age: MIN_REVALIDATION_AGE,
            buckets: (0..N_BUCKETS).map(|_| Bucket::default()).collect(),
            ips: IpCounts::new(),
        }
    }

    /// Sets how long after its last verification an entry becomes due for
    /// revalidation (default [`MIN_REVALIDATION_AGE`]).
    pub fn set_min_revalidation_age(&mut self, age: Duration) {
        self.min_revalidation_age = age;
    }

    /// Our own id.
    pub fn self_id(&self) -> &NodeId {
        &self.self_id
    }

    /// Adds a node we heard of but have not verified (a Neighbors entry, a
    /// bootnode). A new node goes to the back of its bucket, or to the
    /// replacement list if the bucket is full. A known node gets its endpoint
    /// updated and keeps its position.
    pub fn add_seen(&mut self, record: NodeRecordV4, now: Instant) -> AddOutcome {
        self.add(record, now, false)
    }

    /// Adds a node that proved it is alive at this endpoint. Like
    /// [`Table::add_seen`], but the node goes to (or moves to) the front of its
    /// bucket and its `last_seen` becomes `now`.
    pub fn add_verified(&mut self, record: NodeRecordV4, now: Instant) -> AddOutcome {
        self.add(record, now, true)
    }

    fn add(&mut self, record: NodeRecordV4, now: Instant, verified: bool) -> AddOutcome {
        let id = record.id.node_id();
        if id == self.self_id {
            return AddOutcome::Rejected(RejectReason::SelfId);
        }
        let Some(ip) = usable_ip(&record) else {
            return AddOutcome::Rejected(RejectReason::NoAddress);
        };
        let b = bucket_index(log_distance(&self.self_id, &id));

        if let Some(pos) = self.buckets[b].entries.iter().position(|n| n.id == id) {
            let old = self.buckets[b].entries[pos].record;
            if !self.change_ip(b, usable_ip(&old), ip) {
                return AddOutcome::Rejected(RejectReason::IpLimit);
            }
            let entries = &mut self.buckets[b].entries;
            entries[pos].record = record;
            if verified {
                let mut node = entries.remove(pos);
                node.last_seen = Some(now);
                entries.insert(0, node);
            }
            return AddOutcome::Updated;
        }

        if let Some(pos) = self.buckets[b].replacements.iter().position(|n| n.id == id) {
            let old = self.buckets[b].replacements[pos].record;
            if !self.change_ip(b, usable_ip(&old), ip) {
                return AddOutcome::Rejected(RejectReason::IpLimit);
            }
            // Hearing of it again makes it the newest candidate.
            let replacements = &mut self.buckets[b].replacements;
            let mut node = replacements.remove(pos);
            node.record = record;
            if verified {
                node.last_seen = Some(now);
            }
            replacements.insert(0, node);
            return AddOutcome::Replacement;
        }

        if !self.take_ip(b, ip) {
            return AddOutcome::Rejected(RejectReason::IpLimit);
        }
        let node = Node {
            record,
            id,
            added_at: now,
            last_seen: verified.then_some(now),
            liveness_checks: 0,
        };
        let bucket = &mut self.buckets[b];
        if bucket.entries.len() < BUCKET_SIZE {
            if verified {
                bucket.entries.insert(0, node);
            } else {
                bucket.entries.push(node);
            }
            return AddOutcome::Inserted;
        }
        bucket.replacements.insert(0, node);
        if bucket.replacements.len() > MAX_REPLACEMENTS {
            // The oldest candidate is the least likely to still be around.
            if let Some(dropped) = bucket.replacements.pop() {
                self.free_ip(b, usable_ip(&dropped.record));
            }
        }
        AddOutcome::Replacement
    }

    /// Counts `ip` against bucket `b` and the table, if both limits allow.
    fn take_ip(&mut self, b: usize, ip: IpAddr) -> bool {
        let Some(key) = subnet(ip) else {
            return true;
        };
        let bucket_ips = &mut self.buckets[b].ips;
        if bucket_ips.get(&key).copied().unwrap_or(0) >= BUCKET_IP_LIMIT
            || self.ips.get(&key).copied().unwrap_or(0) >= TABLE_IP_LIMIT
        {
            return false;
        }
        *bucket_ips.entry(key).or_insert(0) += 1;
        *self.ips.entry(key).or_insert(0) += 1;
        true
    }

    /// Releases what [`Table::take_ip`] counted.
    fn free_ip(&mut self, b: usize, ip: Option<IpAddr>) {
        if let Some(key) = ip.and_then(subnet) {
            release(&mut self.buckets[b].ips, key);
            release(&mut self.ips, key);
        }
    }

    /// Moves a node's count from `old` to `new`; on refusal the old count stays.
    fn change_ip(&mut self, b: usize, old: Option<IpAddr>, new: IpAddr) -> bool {
        if old == Some(new) {
            return true;
        }
        self.free_ip(b, old);
        if self.take_ip(b, new) {
            return true;
        }
        if let Some(old) = old {
            // Cannot fail: this only restores the count released above.
            let restored = self.take_ip(b, old);
            debug_assert!(restored);
        }
        false
    }

    /// Removes a node, live entry or replacement, and returns it. A removed
    /// live entry is replaced by the newest replacement of its bucket, which
    /// goes to the back (it has not been verified recently).
    pub fn remove(&mut self, id: &NodeId) -> Option<Node> {
        self.remove_entry(id).map(|(node, _)| node).or_else(|| {
            let b = bucket_index(log_distance(&self.self_id, id));
            let pos = self.buckets[b]
                .replacements
                .iter()
                .position(|n| n.id == *id)?;
            let node = self.buckets[b].replacements.remove(pos);
            self.free_ip(b, usable_ip(&node.record));
            Some(node)
        })
    }

    /// Removes a live entry and promotes a replacement; returns both.
    fn remove_entry(&mut self, id: &NodeId) -> Option<(Node, Option<Node>)> {
        let b = bucket_index(log_distance(&self.self_id, id));
        let bucket = &mut self.buckets[b];
        let pos = bucket.entries.iter().position(|n| n.id == *id)?;
        let node = bucket.entries.remove(pos);
        let promoted = if bucket.replacements.is_empty() {
            None
        } else {
            let r = bucket.replacements.remove(0);
            bucket.entries.push(r.clone());
            Some(r)
        };
        self.free_ip(b, usable_ip(&node.record));
        Some((node, promoted))
    }

    /// The live entry with this id.
    pub fn get(&self, id: &NodeId) -> Option<&Node> {
        let b = bucket_index(log_distance(&self.self_id, id));
        self.buckets[b].entries.iter().find(|n| n.id == *id)
    }

    /// Whether a node is a live entry (replacements do not count).
    pub fn contains(&self, id: &NodeId) -> bool {
        self.get(id).is_some()
    }

    /// Number of live entries (replacements do not count).
    pub fn len(&self) -> usize {
        self.buckets.iter().map(|b| b.entries.len()).sum()
    }

    /// Whether the table has no live entries; the caller then re-seeds it from
    /// the bootnodes.
    pub fn is_empty(&self) -> bool {
        self.buckets.iter().all(|b| b.entries.is_empty())
    }

    /// All live entries, bucket by bucket.
    pub fn nodes(&self) -> impl Iterator<Item = &Node> {
        self.buckets.iter().flat_map(|b| b.entries.iter())
    }

    /// The live entries of the bucket that holds nodes at log distance
    /// `distance`, most recently verified first. Distances up to 240 share one
    /// bucket (see the module docs), so its entries may be at any of them.
    /// Distance 0 (our own id) and distances above 256 have no bucket.
    pub fn bucket_entries(&self, distance: usize) -> &[Node] {
        match distance {
            1..=256 => &self.buckets[bucket_index(distance)].entries,
            _ => &[],
        }
    }

    /// The replacement candidates of the bucket for `distance`, newest first.
    pub fn bucket_replacements(&self, distance: usize) -> &[Node] {
        match distance {
            1..=256 => &self.buckets[bucket_index(distance)].replacements,
            _ => &[],
        }
    }

    /// The `n` live entries closest to `target` by XOR distance, closest first.
    pub fn closest(&self, target: &NodeId, n: usize) -> Vec<Node> {
        // At most N_BUCKETS * BUCKET_SIZE = 272 entries: sorting all is cheap
        // and exact, unlike walking buckets outward from the target's.
        let mut all: Vec<&Node> = self.nodes().collect();
        all.sort_unstable_by(|a, b| distance_cmp(target, &a.id, &b.id));
        all.into_iter().take(n).cloned().collect()
    }

    /// Picks a live entry to ping: the least recently verified entry (the back)
    /// of a random bucket among those whose back entry is due, i.e. was never
    /// verified or not within the minimum revalidation age (by default
    /// [`MIN_REVALIDATION_AGE`]). Picking a bucket rather
    /// than a node gives sparse near buckets, the valuable ones, as many checks
    /// as the crowded far ones. `rng_value` is any random number; `None` means
    /// no entry needs checking now.
    pub fn node_to_revalidate(&self, now: Instant, rng_value: u64) -> Option<Node> {
        let due = |b: &&Bucket| match b.entries.last() {
            None => false,
            Some(n) => n
                .last_seen
                .is_none_or(|t| now.saturating_duration_since(t) >= self.min_revalidation_age),
        };
        let count = self.buckets.iter().filter(due).count();
        if count == 0 {
            return None;
        }
        let pick = (rng_value % count as u64) as usize;
        self.buckets
            .iter()
            .filter(due)
            .nth(pick)?
            .entries
            .last()
            .cloned()
    }

    /// Records the result of pinging a live entry. If it answered (`ok`), it
    /// moves to the front of its bucket, `last_seen` becomes `now` and its
    /// liveness count grows. If not, it is removed and the newest replacement
    /// takes its place.
    pub fn revalidated(&mut self, id: &NodeId, ok: bool, now: Instant) -> Revalidation {
        if !ok {
            return match self.remove_entry(id) {
                Some((_, replacement)) => Revalidation::Removed { replacement },
                None => Revalidation::Unknown,
            };
        }
        let b = bucket_index(log_distance(&self.self_id, id));
        let entries = &mut self.buckets[b].entries;
        let Some(pos) = entries.iter().position(|n| n.id == *id) else {
            return Revalidation::Unknown;
        };
        let mut node = entries.remove(pos);
        node.last_seen = Some(now);
        node.liveness_checks = node.liveness_checks.saturating_add(1);
        entries.insert(0, node);
        Revalidation::Bumped
    }

    /// Live entries verified within `max_age` before `now`, e.g. to store in
    /// the node database as seeds for the next start.
    pub fn seeds(&self, now: Instant, max_age: Duration) -> Vec<Node> {
        self.nodes()
            .filter(|n| {
                n.last_seen
                    .is_some_and(|t| now.saturating_duration_since(t) <= max_age)
            })
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v4::wire::Endpoint;
    use p2p_core::PeerId;
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// xorshift64*: deterministic test randomness without a dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn peer(&mut self) -> PeerId {
            let mut id = [0u8; 64];
            for chunk in id.chunks_mut(8) {
                chunk.copy_from_slice(&self.next().to_le_bytes());
            }
            PeerId(id)
        }

        fn node_id(&mut self) -> NodeId {
            let mut id = [0u8; 32];
            for chunk in id.chunks_mut(8) {
                chunk.copy_from_slice(&self.next().to_le_bytes());
            }
            NodeId(id)
        }
    }

    fn record(id: PeerId, ip: IpAddr) -> NodeRecordV4 {
        NodeRecordV4 {
            endpoint: Endpoint {
                ip: Some(ip),
                udp_port: 30303,
                tcp_port: 30303,
            },
            id,
        }
    }

    /// A public IPv4 address in its own /24 for each `i` < 65536.
    fn public_ip(i: usize) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(20, (i >> 8) as u8, i as u8, 1))
    }

    /// `count` peers at log distance `distance` from `self_id`.
    fn peers_at(rng: &mut Rng, self_id: &NodeId, distance: usize, count: usize) -> Vec<PeerId> {
        let mut out = Vec::new();
        while out.len() < count {
            let p = rng.peer();
            if log_distance(self_id, &p.node_id()) == distance {
                out.push(p);
            }
        }
        out
    }

    fn setup(seed: u64) -> (Rng, Table, Instant) {
        let mut rng = Rng(seed);
        let self_id = rng.node_id();
        (rng, Table::new(self_id), Instant::now())
    }

    #[test]
    fn log_distance_examples() {
        let zero = NodeId([0; 32]);
        assert_eq!(log_distance(&zero, &zero), 0);
        let mut top = [0u8; 32];
        top[0] = 0x80;
        assert_eq!(log_distance(&zero, &NodeId(top)), 256);
        assert_eq!(log_distance(&NodeId(top), &zero), 256);
        assert_eq!(log_distance(&zero, &NodeId([0xff; 32])), 256);
        let mut one = [0u8; 32];
        one[31] = 1;
        assert_eq!(log_distance(&zero, &NodeId(one)), 1);
        let mut low = [0u8; 32];
        low[31] = 0xff;
        assert_eq!(log_distance(&zero, &NodeId(low)), 8);
        let mut mid = [0u8; 32];
        mid[30] = 0x01;
        assert_eq!(log_distance(&zero, &NodeId(mid)), 9);
        let a = NodeId([0x5a; 32]);
        let mut b = a;
        b.0[1] ^= 0x10;
        assert_eq!(log_distance(&a, &b), 256 - 8 - 3);
        assert_eq!(log_distance(&a, &a), 0);
    }

    #[test]
    fn bucket_index_merges_near_distances() {
        assert_eq!(bucket_index(1), 0);
        assert_eq!(bucket_index(239), 0);
        assert_eq!(bucket_index(240), 0);
        assert_eq!(bucket_index(241), 1);
        assert_eq!(bucket_index(256), N_BUCKETS - 1);
    }

    #[test]
    fn distance_cmp_orders_by_xor() {
        let target = NodeId([0; 32]);
        let mut a = [0u8; 32];
        a[31] = 3;
        let mut b = [0u8; 32];
        b[30] = 1;
        assert_eq!(
            distance_cmp(&target, &NodeId(a), &NodeId(b)),
            Ordering::Less
        );
        assert_eq!(
            distance_cmp(&target, &NodeId(b), &NodeId(a)),
            Ordering::Greater
        );
        assert_eq!(
            distance_cmp(&target, &NodeId(a), &NodeId(a)),
            Ordering::Equal
        );
    }

    #[test]
    fn bucket_capacity_overflows_to_bounded_replacements() {
        let (mut rng, mut table, now) = setup(1);
        let self_id = *table.self_id();
        let peers = peers_at(&mut rng, &self_id, 256, BUCKET_SIZE + 13);
        for (i, p) in peers.iter().enumerate() {
            let outcome = table.add_seen(record(*p, public_ip(i)), now);
            let expected = if i < BUCKET_SIZE {
                AddOutcome::Inserted
            } else {
                AddOutcome::Replacement
            };
            assert_eq!(outcome, expected, "node {i}");
        }
        assert_eq!(table.len(), BUCKET_SIZE);
        assert_eq!(table.bucket_entries(256).len(), BUCKET_SIZE);
        let reps = table.bucket_replacements(256);
        assert_eq!(reps.len(), MAX_REPLACEMENTS);
        // Newest first; the three oldest candidates were dropped.
        let newest: Vec<NodeId> = peers
            .iter()
            .rev()
            .take(MAX_REPLACEMENTS)
            .map(|p| p.node_id())
            .collect();
        assert_eq!(reps.iter().map(|n| n.id).collect::<Vec<_>>(), newest);
        for p in &peers[BUCKET_SIZE..] {
            assert!(!table.contains(&p.node_id()));
        }
        // Seen nodes are appended: bucket order is insertion order.
        let order: Vec<NodeId> = table.bucket_entries(256).iter().map(|n| n.id).collect();
        let first: Vec<NodeId> = peers[..BUCKET_SIZE].iter().map(|p| p.node_id()).collect();
        assert_eq!(order, first);
        // Dropped replacements released their IP counts.
        assert_eq!(table.ips.len(), BUCKET_SIZE + MAX_REPLACEMENTS);
    }

    #[test]
    fn ip_limit_per_bucket() {
        let (mut rng, mut table, now) = setup(2);
        let self_id = *table.self_id();
        let peers = peers_at(&mut rng, &self_id, 256, 3);
        let ip = |last| IpAddr::V4(Ipv4Addr::new(50, 1, 2, last));
        assert_eq!(
            table.add_seen(record(peers[0], ip(1)), now),
            AddOutcome::Inserted
        );
        assert_eq!(
            table.add_seen(record(peers[1], ip(2)), now),
            AddOutcome::Inserted
        );
        assert_eq!(
            table.add_seen(record(peers[2], ip(3)), now),
            AddOutcome::Rejected(RejectReason::IpLimit)
        );
        // Another bucket may hold the same subnet.
        let other = peers_at(&mut rng, &self_id, 255, 1)[0];
        assert_eq!(
            table.add_seen(record(other, ip(4)), now),
            AddOutcome::Inserted
        );
        // Removal frees the slot.
        table.remove(&peers[0].node_id()).unwrap();
        assert_eq!(
            table.add_seen(record(peers[2], ip(3)), now),
            AddOutcome::Inserted
        );
    }

    #[test]
    fn ip_limit_per_table() {
        let (mut rng, mut table, now) = setup(3);
        let self_id = *table.self_id();
        let mut peers = Vec::new();
        for d in 251..=256 {
            peers.extend(peers_at(&mut rng, &self_id, d, 2));
        }
        let ip = |i: usize| IpAddr::V4(Ipv4Addr::new(60, 7, 8, i as u8));
        for (i, p) in peers.iter().take(TABLE_IP_LIMIT).enumerate() {
            assert_eq!(table.add_seen(record(*p, ip(i)), now), AddOutcome::Inserted);
        }
        let extra = peers[TABLE_IP_LIMIT];
        assert_eq!(
            table.add_seen(record(extra, ip(99)), now),
            AddOutcome::Rejected(RejectReason::IpLimit)
        );
        // A different /24 is fine.
        assert_eq!(
            table.add_seen(record(extra, IpAddr::V4(Ipv4Addr::new(60, 7, 9, 1))), now),
            AddOutcome::Inserted
        );
        table.remove(&peers[0].node_id()).unwrap();
        let last = peers[TABLE_IP_LIMIT + 1];
        assert_eq!(
            table.add_seen(record(last, ip(100)), now),
            AddOutcome::Inserted
        );
    }

    #[test]
    fn lan_addresses_are_exempt() {
        let (mut rng, mut table, now) = setup(4);
        let self_id = *table.self_id();
        let peers = peers_at(&mut rng, &self_id, 256, 12);
        let ips = [
            IpAddr::V4(Ipv4Addr::new(192, 168, 1, 1)),
            IpAddr::V4(Ipv4Addr::new(192, 168, 1, 2)),
            IpAddr::V4(Ipv4Addr::new(192, 168, 1, 3)),
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 3)),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
            IpAddr::V6("fd00::1".parse().unwrap()),
            IpAddr::V6("fd00::2".parse().unwrap()),
        ];
        for (p, ip) in peers.iter().zip(ips) {
            assert_eq!(
                table.add_seen(record(*p, ip), now),
                AddOutcome::Inserted,
                "{ip}"
            );
        }
        assert!(table.ips.is_empty());
    }

    #[test]
    fn ipv6_limits_use_64_prefix_and_mapped_v4_counts_as_v4() {
        let (mut rng, mut table, now) = setup(5);
        let self_id = *table.self_id();
        let peers = peers_at(&mut rng, &self_id, 256, 6);
        let v6 = |s: &str| IpAddr::V6(s.parse().unwrap());
        assert_eq!(
            table.add_seen(record(peers[0], v6("2001:db8:1:2::1")), now),
            AddOutcome::Inserted
        );
        assert_eq!(
            table.add_seen(record(peers[1], v6("2001:db8:1:2:ffff::1")), now),
            AddOutcome::Inserted
        );
        assert_eq!(
            table.add_seen(record(peers[2], v6("2001:db8:1:2::9")), now),
            AddOutcome::Rejected(RejectReason::IpLimit)
        );
        assert_eq!(
            table.add_seen(record(peers[2], v6("2001:db8:1:3::1")), now),
            AddOutcome::Inserted
        );
        // ::ffff:70.1.1.x is 70.1.1.0/24.
        assert_eq!(
            table.add_seen(
                record(peers[3], IpAddr::V4(Ipv4Addr::new(70, 1, 1, 1))),
                now
            ),
            AddOutcome::Inserted
        );
        assert_eq!(
            table.add_seen(record(peers[4], v6("::ffff:70.1.1.2")), now),
            AddOutcome::Inserted
        );
        assert_eq!(
            table.add_seen(record(peers[5], v6("::ffff:70.1.1.3")), now),
            AddOutcome::Rejected(RejectReason::IpLimit)
        );
    }

    #[test]
    fn missing_or_unspecified_address_is_rejected() {
        let (mut rng, mut table, now) = setup(6);
        let mut r = record(rng.peer(), IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        assert_eq!(
            table.add_seen(r, now),
            AddOutcome::Rejected(RejectReason::NoAddress)
        );
        r.endpoint.ip = None;
        assert_eq!(
            table.add_verified(r, now),
            AddOutcome::Rejected(RejectReason::NoAddress)
        );
        assert!(table.is_empty());
    }

    #[test]
    fn self_id_never_added() {
        let mut rng = Rng(7);
        let me = rng.peer();
        let mut table = Table::new(me.node_id());
        let now = Instant::now();
        let r = record(me, public_ip(1));
        assert_eq!(
            table.add_seen(r, now),
            AddOutcome::Rejected(RejectReason::SelfId)
        );
        assert_eq!(
            table.add_verified(r, now),
            AddOutcome::Rejected(RejectReason::SelfId)
        );
        assert!(table.is_empty());
        assert_eq!(table.len(), 0);
        assert!(table.bucket_entries(0).is_empty());
    }

    #[test]
    fn duplicate_adds_update_instead_of_duplicating() {
        let (mut rng, mut table, now) = setup(8);
        let self_id = *table.self_id();
        let peers = peers_at(&mut rng, &self_id, 256, 3);
        for (i, p) in peers.iter().enumerate() {
            table.add_seen(record(*p, public_ip(i)), now);
        }
        let later = now + Duration::from_secs(5);
        // Seen again with a new endpoint: updated in place.
        let moved = record(peers[1], public_ip(100));
        assert_eq!(table.add_seen(moved, later), AddOutcome::Updated);
        assert_eq!(table.len(), 3);
        let entries = table.bucket_entries(256);
        assert_eq!(entries[1].record, moved);
        assert_eq!(entries[1].added_at, now);
        assert_eq!(entries[1].last_seen, None);
        // Verified: moves to the front with last_seen set.
        assert_eq!(table.add_verified(moved, later), AddOutcome::Updated);
        let entries = table.bucket_entries(256);
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].id, peers[1].node_id());
        assert_eq!(entries[0].last_seen, Some(later));
        // The old IP's count was released, the new one taken.
        assert_eq!(table.ips.len(), 3);
        assert!(!table.ips.contains_key(&subnet(public_ip(1)).unwrap()));
    }

    #[test]
    fn endpoint_change_respects_ip_limit() {
        let (mut rng, mut table, now) = setup(9);
        let self_id = *table.self_id();
        let peers = peers_at(&mut rng, &self_id, 256, 3);
        let crowded = |last| IpAddr::V4(Ipv4Addr::new(80, 1, 1, last));
        table.add_seen(record(peers[0], crowded(1)), now);
        table.add_seen(record(peers[1], crowded(2)), now);
        table.add_seen(record(peers[2], public_ip(5)), now);
        assert_eq!(
            table.add_seen(record(peers[2], crowded(3)), now),
            AddOutcome::Rejected(RejectReason::IpLimit)
        );
        // The old endpoint and its count are kept.
        assert_eq!(
            table.get(&peers[2].node_id()).unwrap().record.endpoint.ip,
            Some(public_ip(5))
        );
        assert_eq!(table.ips.get(&subnet(public_ip(5)).unwrap()), Some(&1));
        // Moving within the same subnet is fine.
        assert_eq!(
            table.add_seen(record(peers[1], crowded(9)), now),
            AddOutcome::Updated
        );
    }

    #[test]
    fn removal_promotes_newest_replacement() {
        let (mut rng, mut table, now) = setup(10);
        let self_id = *table.self_id();
        let peers = peers_at(&mut rng, &self_id, 256, BUCKET_SIZE + 3);
        for (i, p) in peers.iter().enumerate() {
            table.add_seen(record(*p, public_ip(i)), now);
        }
        let victim = peers[4].node_id();
        let removed = table.remove(&victim).unwrap();
        assert_eq!(removed.id, victim);
        assert!(!table.contains(&victim));
        let newest = peers[BUCKET_SIZE + 2].node_id();
        assert!(table.contains(&newest));
        assert_eq!(table.bucket_entries(256).last().unwrap().id, newest);
        assert_eq!(table.len(), BUCKET_SIZE);
        assert_eq!(table.bucket_replacements(256).len(), 2);
        // Removing a replacement just drops it.
        let rep = peers[BUCKET_SIZE].node_id();
        assert_eq!(table.remove(&rep).unwrap().id, rep);
        assert_eq!(table.bucket_replacements(256).len(), 1);
        assert_eq!(table.len(), BUCKET_SIZE);
        assert!(table.remove(&rep).is_none());
        assert_eq!(table.ips.len(), BUCKET_SIZE + 1);
    }

    #[test]
    fn replacement_readded_becomes_newest() {
        let (mut rng, mut table, now) = setup(11);
        let self_id = *table.self_id();
        let peers = peers_at(&mut rng, &self_id, 256, BUCKET_SIZE + 3);
        for (i, p) in peers.iter().enumerate() {
            table.add_seen(record(*p, public_ip(i)), now);
        }
        let old = peers[BUCKET_SIZE];
        assert_eq!(
            table.add_verified(record(old, public_ip(BUCKET_SIZE)), now),
            AddOutcome::Replacement
        );
        assert_eq!(table.bucket_replacements(256)[0].id, old.node_id());
        assert_eq!(table.bucket_replacements(256).len(), 3);
    }

    #[test]
    fn closest_matches_brute_force() {
        let (mut rng, mut table, now) = setup(12);
        for i in 0..400 {
            let p = rng.peer();
            table.add_seen(record(p, public_ip(i)), now);
        }
        // Fill the near buckets too, which random ids rarely reach.
        let self_id = *table.self_id();
        for d in 245..=250 {
            for (j, p) in peers_at(&mut rng, &self_id, d, 3).into_iter().enumerate() {
                table.add_seen(record(p, public_ip(1000 + d * 10 + j)), now);
            }
        }
        assert!(table.len() > 60, "{}", table.len());
        for round in 0..50 {
            let target = if round % 5 == 0 {
                self_id
            } else {
                rng.node_id()
            };
            let mut brute: Vec<NodeId> = table.nodes().map(|n| n.id).collect();
            brute.sort_by_key(|id| {
                let mut x = [0u8; 32];
                for (i, b) in x.iter_mut().enumerate() {
                    *b = id.0[i] ^ target.0[i];
                }
                x
            });
            for n in [0, 1, 16, table.len() + 5] {
                let got: Vec<NodeId> = table.closest(&target, n).iter().map(|n| n.id).collect();
                let want: Vec<NodeId> = brute.iter().take(n).copied().collect();
                assert_eq!(got, want, "round {round}, n {n}");
            }
        }
    }

    #[test]
    fn revalidation_picks_back_of_bucket_and_applies_outcomes() {
        let (mut rng, mut table, now) = setup(13);
        let self_id = *table.self_id();
        let peers = peers_at(&mut rng, &self_id, 256, BUCKET_SIZE + 2);
        for (i, p) in peers.iter().enumerate().take(3) {
            table.add_seen(record(*p, public_ip(i)), now);
        }
        // Unverified nodes are due at once; the back is the last one added.
        let pick = table.node_to_revalidate(now, 12345).unwrap();
        assert_eq!(pick.id, peers[2].node_id());

        let t1 = now + Duration::from_secs(1);
        assert_eq!(table.revalidated(&pick.id, true, t1), Revalidation::Bumped);
        let front = &table.bucket_entries(256)[0];
        assert_eq!(front.id, pick.id);
        assert_eq!(front.last_seen, Some(t1));
        assert_eq!(front.liveness_checks, 1);
        assert_eq!(
            table.node_to_revalidate(t1, 0).unwrap().id,
            peers[1].node_id()
        );

        // A failed check removes the node; with no replacements nothing moves in.
        assert_eq!(
            table.revalidated(&peers[1].node_id(), false, t1),
            Revalidation::Removed { replacement: None }
        );
        assert!(!table.contains(&peers[1].node_id()));
        assert_eq!(
            table.revalidated(&peers[1].node_id(), true, t1),
            Revalidation::Unknown
        );
        assert_eq!(
            table.revalidated(&peers[1].node_id(), false, t1),
            Revalidation::Unknown
        );

        // Fill the bucket (two slots are taken, one freed) and queue one
        // replacement, then fail a node.
        for (i, p) in peers.iter().enumerate().skip(3) {
            table.add_seen(record(*p, public_ip(i)), now);
        }
        assert_eq!(table.bucket_replacements(256).len(), 1);
        let failing = table.node_to_revalidate(t1, 0).unwrap();
        match table.revalidated(&failing.id, false, t1) {
            Revalidation::Removed {
                replacement: Some(r),
            } => {
                assert_eq!(r.id, peers[BUCKET_SIZE + 1].node_id());
                assert!(table.contains(&r.id));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(table.len(), BUCKET_SIZE);
        assert!(table.bucket_replacements(256).is_empty());
    }

    #[test]
    fn revalidation_skips_recently_verified_buckets() {
        let (mut rng, mut table, now) = setup(14);
        let self_id = *table.self_id();
        let p = peers_at(&mut rng, &self_id, 256, 1)[0];
        let q = peers_at(&mut rng, &self_id, 255, 1)[0];
        assert!(table.node_to_revalidate(now, 0).is_none());
        table.add_verified(record(p, public_ip(1)), now);
        table.add_verified(record(q, public_ip(2)), now);
        for rng_value in 0..4 {
            assert!(table.node_to_revalidate(now, rng_value).is_none());
        }
        let later = now + MIN_REVALIDATION_AGE;
        // Both buckets are due; the random value chooses between them.
        let picks: Vec<NodeId> = (0..2)
            .map(|v| table.node_to_revalidate(later, v).unwrap().id)
            .collect();
        assert_ne!(picks[0], picks[1]);
        assert!(picks.contains(&p.node_id()) && picks.contains(&q.node_id()));
        // Checking one leaves only the other due.
        table.revalidated(&p.node_id(), true, later);
        for v in 0..4 {
            assert_eq!(table.node_to_revalidate(later, v).unwrap().id, q.node_id());
        }
    }

    #[test]
    fn seeds_and_emptiness() {
        let (mut rng, mut table, now) = setup(15);
        assert!(table.is_empty());
        let a = rng.peer();
        let b = rng.peer();
        let c = rng.peer();
        table.add_verified(record(a, public_ip(1)), now);
        table.add_verified(record(b, public_ip(2)), now + Duration::from_secs(100));
        table.add_seen(record(c, public_ip(3)), now + Duration::from_secs(100));
        assert!(!table.is_empty());
        assert_eq!(table.len(), 3);
        let at = now + Duration::from_secs(150);
        let seeds: Vec<NodeId> = table
            .seeds(at, Duration::from_secs(60))
            .iter()
            .map(|n| n.id)
            .collect();
        assert_eq!(seeds, vec![b.node_id()]);
        assert_eq!(table.seeds(at, Duration::from_secs(200)).len(), 2);
        for p in [a, b, c] {
            table.remove(&p.node_id()).unwrap();
        }
        assert!(table.is_empty());
        assert!(table.ips.is_empty());
    }
}
