//! Crawling a discovery network into a node set, as go-ethereum's `devp2p
//! discv4 crawl` does: every node heard of (from the set given, then from
//! random lookups) is asked for its record; answers raise a node's score
//! and silences halve it, so that a set crawled again and again keeps the
//! nodes that stay up.
//!
//! The crawler knows nothing of the protocol: it is given a lookup (which
//! nodes are out there) and a check (ask one node for its record and its
//! nearest neighbours), so discovery v4 and v5 crawl alike, and tests crawl
//! a network in memory. [`discv4`] and [`discv5`] hold the checks of each.

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::future::{self, FutureExt};
use futures::stream::{self, FuturesUnordered, StreamExt};
use p2p_core::record::{self, NodeRecord};

use crate::nodeset::{NodeEntry, NodeSet, Timestamp};

pub mod discv4;
pub mod discv5;

/// By default a node checked more recently than this is not checked again
/// (go-ethereum revalidates a crawled set every ten minutes).
pub const REVALIDATE_INTERVAL: Duration = Duration::from_secs(10 * 60);
/// How long to wait before the next lookup when one found nothing new: a
/// small network is soon exhausted, and lookups without pause would only
/// load it.
pub const IDLE_LOOKUP_PAUSE: Duration = Duration::from_millis(500);

/// The log distances from a checked node, besides its nearest neighbours,
/// that a crawl asks it for: nodes in the far half, quarter and eighth of
/// the id space as the node sees it.
///
/// A node's nearest neighbours lie in its own corner of the id space, so a
/// crawl that asked only for them would walk one corner at a time and
/// reach the next only when a random lookup landed there (seconds apart on
/// a 200-node network, as measured); a few far answers from every node
/// spread the crawl over the whole space from the start.
pub const FAR_DISTANCES: &[usize] = &[256, 255, 254];

/// What one check did to the set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckOutcome {
    /// A node answered for the first time.
    Added,
    /// A known node answered again, or stayed silent and kept some score.
    Updated,
    /// A known node's score fell to nothing; it left the set.
    Removed,
    /// A node never seen to answer stayed silent; nothing was stored.
    Ignored,
}

impl NodeSet {
    /// Applies one check of node `id` (hex) at `now`: its record if it
    /// answered, `None` if not.
    pub fn record_check(
        &mut self,
        id: &str,
        answer: Option<NodeRecord>,
        now: Timestamp,
    ) -> CheckOutcome {
        let known = self.get(id).cloned();
        match (known, answer) {
            (None, None) => CheckOutcome::Ignored,
            (Some(entry), None) if entry.score == 0 => CheckOutcome::Ignored,
            (Some(mut entry), None) => {
                entry.score /= 2;
                entry.last_check = now;
                if entry.score <= 0 {
                    self.remove(id);
                    CheckOutcome::Removed
                } else {
                    self.insert(entry);
                    CheckOutcome::Updated
                }
            }
            (known, Some(record)) => {
                let outcome = match &known {
                    Some(entry) if !entry.first_response.is_zero() => CheckOutcome::Updated,
                    _ => CheckOutcome::Added,
                };
                let mut entry = known.unwrap_or_else(|| NodeEntry::new(record.clone()));
                entry.seq = record.seq();
                entry.record = record;
                entry.score += 1;
                if entry.first_response.is_zero() {
                    entry.first_response = now;
                }
                entry.last_response = now;
                entry.last_check = now;
                self.insert(entry);
                outcome
            }
        }
    }
}

/// Counters of a crawl, readable while it runs (for a progress line).
#[derive(Debug, Default)]
pub struct CrawlStats {
    /// Distinct nodes heard of (given or found by lookups).
    pub found: AtomicU64,
    /// Nodes asked for their record.
    pub checked: AtomicU64,
    /// Nodes that answered.
    pub live: AtomicU64,
    /// Lookups run.
    pub lookups: AtomicU64,
}

impl CrawlStats {
    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters now: found, checked, live.
    pub fn snapshot(&self) -> (u64, u64, u64) {
        (
            self.found.load(Ordering::Relaxed),
            self.checked.load(Ordering::Relaxed),
            self.live.load(Ordering::Relaxed),
        )
    }
}

/// What one check learned of a node.
#[derive(Clone, Debug)]
pub struct Checked<N> {
    /// Its signed record, if it answered.
    pub record: Option<NodeRecord>,
    /// Nodes it named as its neighbours; each is checked in turn.
    pub neighbours: Vec<N>,
}

impl<N> Checked<N> {
    /// A check that asked for the record alone.
    pub fn record(record: Option<NodeRecord>) -> Self {
        Checked {
            record,
            neighbours: Vec::new(),
        }
    }
}

/// How to reach the network being crawled.
pub struct Crawl<N, L, C> {
    /// The nodes to start from (the set's own and any bootnodes).
    pub seeds: Vec<N>,
    /// One lookup: some nodes of the network. `None` when lookups are off
    /// (only the seeds, and the neighbours checks name, are checked).
    pub lookup: Option<L>,
    /// Asks a node for its record, and perhaps its neighbours.
    ///
    /// Neighbours are what make a crawl complete: random lookups find a
    /// node only where it is among the closest to some random target, so
    /// the last nodes of a network take ever more lookups to meet (a
    /// coupon collector's walk), while asking each live node for the nodes
    /// nearest itself reaches every neighbourhood directly.
    pub check: C,
    /// A node's id (hex), to tell nodes apart before they answer.
    pub id: fn(&N) -> String,
    /// Checks run at once.
    pub parallel: usize,
    /// Nodes of the set checked more recently than this are skipped
    /// (usually [`REVALIDATE_INTERVAL`]; zero checks every node).
    pub revalidate_interval: Duration,
    /// When to stop; `None` runs until every node heard of is checked
    /// (there must be no lookup then, or the crawl never ends).
    pub deadline: Option<Instant>,
}

impl<N, L, LF, C, CF> Crawl<N, L, C>
where
    L: FnMut() -> LF,
    LF: Future<Output = Vec<N>>,
    C: Fn(N) -> CF,
    CF: Future<Output = Checked<N>>,
{
    /// Crawls into `set` until the deadline, or, with no lookup, until
    /// every node heard of is checked.
    pub async fn run(self, set: &mut NodeSet, stats: &CrawlStats) {
        let Crawl {
            seeds,
            lookup,
            check,
            id,
            parallel,
            revalidate_interval,
            deadline,
        } = self;
        let parallel = parallel.max(1);
        let recent: HashSet<String> = {
            let now = Timestamp::now();
            set.entries()
                .filter(|e| {
                    !e.last_check.is_zero() && now.since(&e.last_check) < revalidate_interval
                })
                .map(|e| record::peer_id(&e.record).node_id().to_string())
                .collect()
        };
        // Every node is queued once; the queue holds those not yet checked.
        let mut seen: HashSet<String> = HashSet::new();
        let mut queue: VecDeque<N> = VecDeque::new();
        let mut enqueue = |queue: &mut VecDeque<N>, nodes: Vec<N>| {
            for node in nodes {
                let key = id(&node);
                if !recent.contains(&key) && seen.insert(key) {
                    CrawlStats::bump(&stats.found);
                    queue.push_back(node);
                }
            }
        };
        enqueue(&mut queue, seeds);
        let has_lookup = lookup.is_some();
        let lookups = stream::unfold(lookup, |lookup| async move {
            let mut lookup = lookup?;
            let found = lookup().await;
            Some((found, Some(lookup)))
        });
        let mut lookups = std::pin::pin!(lookups);
        let mut checks = FuturesUnordered::new();
        let mut stop = std::pin::pin!(match deadline {
            Some(at) => tokio::time::sleep_until(at.into()).boxed(),
            None => future::pending().boxed(),
        });
        loop {
            while checks.len() < parallel {
                let Some(node) = queue.pop_front() else {
                    break;
                };
                let key = id(&node);
                let answer = check(node);
                checks.push(async move { (key, answer.await) });
            }
            if checks.is_empty() && queue.is_empty() && !has_lookup {
                break;
            }
            // Lookups feed the queue only while it runs short, so that a
            // large network is not gathered faster than it is checked.
            let want_more = has_lookup && queue.len() < parallel;
            tokio::select! {
                _ = &mut stop => break,
                Some((key, checked)) = checks.next(), if !checks.is_empty() => {
                    CrawlStats::bump(&stats.checked);
                    if checked.record.is_some() {
                        CrawlStats::bump(&stats.live);
                    }
                    set.record_check(&key, checked.record, Timestamp::now());
                    enqueue(&mut queue, checked.neighbours);
                }
                Some(found) = lookups.next(), if want_more => {
                    CrawlStats::bump(&stats.lookups);
                    let before = queue.len();
                    enqueue(&mut queue, found);
                    if queue.len() == before && checks.is_empty() {
                        tokio::time::sleep(IDLE_LOOKUP_PAUSE).await;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p2p_core::record::{Endpoint, LocalRecord};
    use p2p_core::NodeKey;
    use std::collections::HashMap;

    fn record() -> NodeRecord {
        LocalRecord::new(NodeKey::random(), Endpoint::new([127, 0, 0, 1], 30303), 1)
            .unwrap()
            .record()
            .clone()
    }

    fn id_of(r: &NodeRecord) -> String {
        record::peer_id(r).node_id().to_string()
    }

    #[test]
    fn answers_raise_the_score_and_silences_halve_it_until_the_node_leaves() {
        let mut set = NodeSet::new();
        let r = record();
        let id = id_of(&r);
        let t = Timestamp::now();
        assert_eq!(set.record_check(&id, None, t), CheckOutcome::Ignored);
        assert!(set.is_empty());
        assert_eq!(
            set.record_check(&id, Some(r.clone()), t),
            CheckOutcome::Added
        );
        assert_eq!(
            set.record_check(&id, Some(r.clone()), t),
            CheckOutcome::Updated
        );
        assert_eq!(
            set.record_check(&id, Some(r.clone()), t),
            CheckOutcome::Updated
        );
        assert_eq!(set.get(&id).unwrap().score, 3);
        assert_eq!(set.get(&id).unwrap().first_response, t);
        assert_eq!(set.record_check(&id, None, t), CheckOutcome::Updated);
        assert_eq!(set.get(&id).unwrap().score, 1);
        assert_eq!(set.record_check(&id, None, t), CheckOutcome::Removed);
        assert!(set.get(&id).is_none());
    }

    /// A network in memory: each node knows some others; lookups return a
    /// random node's neighbours; a third of the nodes never answer.
    #[tokio::test]
    async fn a_crawl_finds_every_live_node_from_one_seed() {
        let records: Vec<NodeRecord> = (0..60).map(|_| record()).collect();
        let live: HashSet<String> = records.iter().step_by(3).skip(1).map(id_of).collect();
        let live: HashSet<String> = records
            .iter()
            .map(id_of)
            .filter(|id| !live.contains(id))
            .collect();
        let by_id: HashMap<String, NodeRecord> =
            records.iter().map(|r| (id_of(r), r.clone())).collect();
        let mut next = 0usize;
        let all = records.clone();
        let lookup = move || {
            // Each lookup returns the next seven nodes, round the ring.
            let found: Vec<NodeRecord> = (0..7)
                .map(|i| all[(next + i) % all.len()].clone())
                .collect();
            next += 7;
            async move { found }
        };
        let check = |n: NodeRecord| {
            let answer = live.contains(&id_of(&n)).then(|| by_id[&id_of(&n)].clone());
            async move { Checked::record(answer) }
        };
        let mut set = NodeSet::new();
        let stats = CrawlStats::default();
        Crawl {
            seeds: vec![records[0].clone()],
            lookup: Some(lookup),
            check,
            id: id_of,
            parallel: 4,
            revalidate_interval: REVALIDATE_INTERVAL,
            deadline: Some(Instant::now() + Duration::from_secs(2)),
        }
        .run(&mut set, &stats)
        .await;
        let crawled: HashSet<String> = set.entries().map(|e| id_of(&e.record)).collect();
        assert_eq!(crawled, live);
        let (found, checked, answered) = stats.snapshot();
        assert_eq!((found, checked), (60, 60));
        assert_eq!(answered as usize, live.len());
    }

    /// Crawls `seeds`, which all answer, with no lookups.
    async fn check_all(
        set: &mut NodeSet,
        seeds: &[NodeRecord],
        revalidate_interval: Duration,
    ) -> (u64, u64, u64) {
        let stats = CrawlStats::default();
        let no_lookup: Option<fn() -> std::future::Ready<Vec<NodeRecord>>> = None;
        Crawl {
            seeds: seeds.to_vec(),
            lookup: no_lookup,
            check: |n: NodeRecord| async move { Checked::record(Some(n)) },
            id: id_of,
            parallel: 2,
            revalidate_interval,
            deadline: None,
        }
        .run(set, &stats)
        .await;
        stats.snapshot()
    }

    /// A ring of nodes, each naming only the next as its neighbour, and
    /// no lookups: the crawl walks the whole ring from one seed, checking
    /// each node once, and then ends.
    #[tokio::test]
    async fn neighbours_named_by_checked_nodes_are_checked_in_turn() {
        let records: Vec<NodeRecord> = (0..25).map(|_| record()).collect();
        let next: HashMap<String, NodeRecord> = records
            .iter()
            .zip(records.iter().cycle().skip(1))
            .map(|(r, n)| (id_of(r), n.clone()))
            .collect();
        let no_lookup: Option<fn() -> std::future::Ready<Vec<NodeRecord>>> = None;
        let mut set = NodeSet::new();
        let stats = CrawlStats::default();
        Crawl {
            seeds: vec![records[0].clone()],
            lookup: no_lookup,
            check: |n: NodeRecord| {
                let neighbours = vec![next[&id_of(&n)].clone()];
                async move {
                    Checked {
                        record: Some(n),
                        neighbours,
                    }
                }
            },
            id: id_of,
            parallel: 3,
            revalidate_interval: REVALIDATE_INTERVAL,
            deadline: None,
        }
        .run(&mut set, &stats)
        .await;
        assert_eq!(set.len(), 25);
        assert_eq!(stats.snapshot(), (25, 25, 25));
    }

    #[tokio::test]
    async fn without_lookups_only_seeds_are_checked_and_recent_ones_skipped() {
        let records: Vec<NodeRecord> = (0..5).map(|_| record()).collect();
        let mut set = NodeSet::new();
        // Checked a moment ago: not checked again.
        set.record_check(
            &id_of(&records[0]),
            Some(records[0].clone()),
            Timestamp::now(),
        );
        assert_eq!(
            check_all(&mut set, &records, REVALIDATE_INTERVAL).await,
            (4, 4, 4)
        );
        assert_eq!(set.len(), 5);
        assert_eq!(set.get(&id_of(&records[0])).unwrap().score, 1);
        // With no revalidation interval, every node is checked again.
        assert_eq!(
            check_all(&mut set, &records, Duration::ZERO).await,
            (5, 5, 5)
        );
        assert!(set.entries().all(|e| e.score == 2));
    }
}
