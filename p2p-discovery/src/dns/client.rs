//! The network side of DNS discovery: resolving a tree's TXT records,
//! checking them, and turning the node records found into dial candidates.
//!
//! * [`TxtResolver`] is the one thing asked of DNS: the TXT records of a name.
//!   [`HickoryResolver`] answers it through `hickory-resolver` (the system's
//!   resolver configuration in production, chosen nameservers in tests);
//!   [`MapResolver`] answers it from memory, for tests of the tree logic.
//! * [`DnsClient`] resolves and checks single entries and whole trees: the
//!   root must be signed by the URL's key, and every other entry must hash to
//!   the subdomain it was found on, so nothing a DNS server makes up is
//!   accepted.
//! * [`DnsDiscovery`] walks one or more trees (and the trees they link to)
//!   lazily, as a stream of [`Enode`]s for the server's dialer, re-checking
//!   each root periodically.
//!
//! Everything a hostile zone could inflate is bounded: entry length and
//! branch width by [`tree`](super::tree), the entries resolved per tree and
//! walk by [`DnsConfig::max_entries`], the linked trees by
//! [`DnsConfig::max_trees`], and each query by [`DnsConfig::query_timeout`].
//! Cycles cannot make a walk loop: a walk resolves each hash at most once, and
//! a link to a tree already known adds nothing.

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::Stream;
use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::xfer::Protocol;
use hickory_resolver::{Name, TokioResolver};
use p2p_core::record::{self, NodeRecord};
use p2p_core::Enode;
use rand::seq::SliceRandom;
use secp256k1::PublicKey;
use tokio::time::Instant;
use tracing::{debug, trace, warn};

use super::tree::{verify_hash, Entry, Root, Subtree, TreeError, TreeUrl};

/// How often a tree's root is fetched again to notice updates; go-ethereum's
/// `recheckInterval`.
pub const DEFAULT_RECHECK_INTERVAL: Duration = Duration::from_secs(30 * 60);
/// How long one TXT query may take, retries of the resolver included.
pub const DEFAULT_QUERY_TIMEOUT: Duration = Duration::from_secs(5);
/// Most entries resolved per tree and walk (and cached per tree).
///
/// The largest public lists have a few thousand records, so about twice as
/// many entries with their branches; 20 000 leaves room for growth while
/// keeping a tree's cache to a few megabytes.
pub const DEFAULT_MAX_ENTRIES: usize = 20_000;
/// Most trees walked at once: the configured ones plus those linked.
pub const DEFAULT_MAX_TREES: usize = 32;
/// First wait after a failed query; it doubles with each further failure, up
/// to the re-check interval.
pub const DEFAULT_RETRY_DELAY: Duration = Duration::from_secs(1);
/// Shortest wait between root checks and after failures, whatever the
/// configuration says, so that a zero interval cannot make a busy loop.
const MIN_WAIT: Duration = Duration::from_millis(10);

/// Why a TXT lookup gave no records.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// The name does not exist or has no TXT record: an answer, not an
    /// outage, so retrying soon will not help.
    #[error("no TXT record")]
    NotFound,
    /// The lookup failed (unreachable server, refused, malformed answer);
    /// it may succeed later.
    #[error("{0}")]
    Failed(String),
}

/// Why resolving an entry or a tree failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    /// The TXT lookup of `name` failed.
    #[error("DNS lookup of {name} failed: {source}")]
    Lookup {
        /// The queried name.
        name: String,
        /// What the resolver reported.
        #[source]
        source: LookupError,
    },
    /// The TXT lookup of `name` took longer than [`DnsConfig::query_timeout`].
    #[error("DNS lookup of {name} timed out after {timeout:?}")]
    Timeout {
        /// The queried name.
        name: String,
        /// The limit that was hit.
        timeout: Duration,
    },
    /// The tree's domain has TXT records, but none is an `enrtree-root:`.
    #[error("no enrtree root among the TXT records of {domain}")]
    NoRoot {
        /// The tree's domain.
        domain: String,
    },
    /// An entry name answered with no TXT record at all (an empty answer).
    #[error("no tree entry at {name}")]
    NoEntry {
        /// The queried name.
        name: String,
    },
    /// A record at `name` was refused: a root that does not parse or is not
    /// signed by the URL's key ([`TreeError::BadSignature`]), an entry that
    /// does not hash to its subdomain ([`TreeError::HashMismatch`]), a
    /// malformed entry or one in the wrong subtree.
    #[error("invalid entry at {name}: {source}")]
    Invalid {
        /// The name the record was found on.
        name: String,
        /// Why it was refused.
        #[source]
        source: TreeError,
    },
    /// A tree has more entries than [`DnsConfig::max_entries`].
    #[error("tree at {domain} has more than {limit} entries")]
    TooManyEntries {
        /// The tree's domain.
        domain: String,
        /// The limit that was hit.
        limit: usize,
    },
    /// Following links reached more trees than [`DnsConfig::max_trees`].
    #[error("links lead to more than {limit} trees")]
    TooManyTrees {
        /// The limit that was hit.
        limit: usize,
    },
}

impl DnsError {
    /// Whether the failure may go away by asking again later (a timeout or
    /// an unreachable server), as opposed to an answer that was refused.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            DnsError::Timeout { .. }
                | DnsError::Lookup {
                    source: LookupError::Failed(_),
                    ..
                }
        )
    }
}

/// The one DNS query DNS discovery needs: the TXT records of a name.
///
/// Each string returned is one whole TXT record: a record carries one or
/// more character-strings of at most 255 bytes each, and EIP-1459 entries
/// longer than that are split across several, so an implementation must
/// concatenate a record's strings before returning it. Records that are not
/// UTF-8 cannot be tree entries and may be left out.
pub trait TxtResolver: Send + Sync + 'static {
    /// The TXT records of `name`, a fully qualified name without trailing
    /// dot (for example `C7HRFPF3BLGF3YR4DY5KX3SMBE.nodes.example.org`).
    fn lookup_txt(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Vec<String>, LookupError>> + Send;
}

impl<T: TxtResolver> TxtResolver for Arc<T> {
    fn lookup_txt(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Vec<String>, LookupError>> + Send {
        (**self).lookup_txt(name)
    }
}

/// A [`TxtResolver`] on the `hickory-resolver` crate, over real DNS.
#[derive(Clone)]
pub struct HickoryResolver {
    inner: TokioResolver,
}

impl std::fmt::Debug for HickoryResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HickoryResolver")
            .field("nameservers", &self.inner.config().name_servers())
            .finish()
    }
}

impl HickoryResolver {
    /// A resolver with the system's configuration (`/etc/resolv.conf` on
    /// Unix) and its cache, as production uses.
    pub fn from_system_conf() -> Result<Self, LookupError> {
        let mut builder =
            TokioResolver::builder_tokio().map_err(|e| LookupError::Failed(e.to_string()))?;
        let opts = builder.options_mut();
        // Entries can be close to 1 KiB; without EDNS, answers over 512
        // bytes come back truncated and need a retry over TCP.
        opts.edns0 = true;
        // The root is re-checked at this pace; a cache holding it longer
        // (a large TTL) would hide updates from the re-check.
        opts.positive_max_ttl = Some(DEFAULT_RECHECK_INTERVAL);
        Ok(HickoryResolver {
            inner: builder.build(),
        })
    }

    /// A resolver that asks only `nameservers`, over UDP, without a cache and
    /// without the hosts file or search domains: what a test needs to point
    /// it at a server on `127.0.0.1:<port>` and see changes to the zone at
    /// once. (Entries need no resolver cache: [`DnsDiscovery`] keeps the
    /// entries of a tree's current root itself.)
    pub fn with_nameservers(nameservers: &[SocketAddr]) -> Self {
        let mut config = ResolverConfig::new();
        for addr in nameservers {
            config.add_name_server(NameServerConfig::new(*addr, Protocol::Udp));
        }
        let mut opts = ResolverOpts::default();
        opts.edns0 = true;
        opts.cache_size = 0;
        opts.positive_max_ttl = Some(Duration::ZERO);
        opts.negative_max_ttl = Some(Duration::ZERO);
        opts.use_hosts_file = hickory_resolver::config::ResolveHosts::Never;
        opts.timeout = Duration::from_secs(2);
        opts.attempts = 2;
        let inner = TokioResolver::builder_with_config(config, TokioConnectionProvider::default())
            .with_options(opts)
            .build();
        HickoryResolver { inner }
    }
}

impl TxtResolver for HickoryResolver {
    async fn lookup_txt(&self, name: &str) -> Result<Vec<String>, LookupError> {
        let mut fqdn = Name::from_ascii(name).map_err(|e| LookupError::Failed(e.to_string()))?;
        // Fully qualified, so no search domain of the system configuration
        // is ever appended to a tree's names.
        fqdn.set_fqdn(true);
        let lookup = match self.inner.txt_lookup(fqdn).await {
            Ok(lookup) => lookup,
            Err(e) if e.is_nx_domain() || e.is_no_records_found() => {
                return Err(LookupError::NotFound)
            }
            Err(e) => return Err(LookupError::Failed(e.to_string())),
        };
        let mut records = Vec::new();
        for txt in lookup.iter() {
            let joined: Vec<u8> = txt
                .txt_data()
                .iter()
                .flat_map(|s| s.iter().copied())
                .collect();
            match String::from_utf8(joined) {
                Ok(text) => records.push(text),
                Err(_) => trace!(target: "dnsdisc", %name, "skipping non-UTF-8 TXT record"),
            }
        }
        Ok(records)
    }
}

/// A [`TxtResolver`] answering from memory, for tests of tree logic without
/// a DNS server. Names are compared ignoring ASCII case, as in DNS. It counts
/// the lookups it answers, so tests can check what was resolved.
#[derive(Debug, Default)]
pub struct MapResolver {
    records: Mutex<HashMap<String, Vec<String>>>,
    lookups: AtomicUsize,
}

impl MapResolver {
    /// An empty map: every name is [`LookupError::NotFound`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a TXT record (already joined) to `name`.
    pub fn insert(&self, name: &str, txt: &str) {
        self.lock()
            .entry(name.to_ascii_lowercase())
            .or_default()
            .push(txt.to_string());
    }

    /// Removes all records of `name`.
    pub fn remove(&self, name: &str) {
        self.lock().remove(&name.to_ascii_lowercase());
    }

    /// How many lookups were answered (found or not) so far.
    pub fn lookups(&self) -> usize {
        self.lookups.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<String>>> {
        // A panic while holding the lock cannot leave the map half-updated
        // (each method is one map operation), so a poisoned lock is usable.
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl TxtResolver for MapResolver {
    async fn lookup_txt(&self, name: &str) -> Result<Vec<String>, LookupError> {
        self.lookups.fetch_add(1, Ordering::Relaxed);
        match self.lock().get(&name.to_ascii_lowercase()) {
            Some(records) if !records.is_empty() => Ok(records.clone()),
            _ => Err(LookupError::NotFound),
        }
    }
}

/// Limits and timers of DNS discovery.
#[derive(Clone, Debug)]
pub struct DnsConfig {
    /// How often each tree's root is fetched again. A root with a higher
    /// `seq` restarts the tree's walk with the new entries; the same root
    /// starts a new walk over the cached entries once the last one finished.
    pub recheck_interval: Duration,
    /// Time limit of one TXT query.
    pub query_timeout: Duration,
    /// Most entries (branches and leaves) resolved per tree and walk, and
    /// cached per tree.
    pub max_entries: usize,
    /// Most trees walked at once, configured and linked.
    pub max_trees: usize,
    /// First wait after a transient failure; doubled on each further one, up
    /// to [`DnsConfig::recheck_interval`].
    pub retry_delay: Duration,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            recheck_interval: DEFAULT_RECHECK_INTERVAL,
            query_timeout: DEFAULT_QUERY_TIMEOUT,
            max_entries: DEFAULT_MAX_ENTRIES,
            max_trees: DEFAULT_MAX_TREES,
            retry_delay: DEFAULT_RETRY_DELAY,
        }
    }
}

/// The content of one tree, as [`DnsClient::sync_tree`] found it.
#[derive(Clone, Debug)]
pub struct SyncedTree {
    /// Where the tree was found.
    pub url: TreeUrl,
    /// Its verified root.
    pub root: Root,
    /// The node records of its `enr:` leaves, in no particular order.
    pub records: Vec<NodeRecord>,
    /// The trees its link subtree points to.
    pub links: Vec<TreeUrl>,
}

/// A tree's identity: its key and its domain, the latter compared ignoring
/// case as DNS does, so one tree spelled two ways is walked once.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct TreeId(PublicKey, String);

impl From<&TreeUrl> for TreeId {
    fn from(url: &TreeUrl) -> Self {
        TreeId(url.key, url.domain.to_ascii_lowercase())
    }
}

/// Resolves and checks single entries and whole trees through a
/// [`TxtResolver`]. Cheap to clone (the resolver is shared).
#[derive(Debug)]
pub struct DnsClient<R> {
    resolver: Arc<R>,
    config: DnsConfig,
}

impl<R> Clone for DnsClient<R> {
    fn clone(&self) -> Self {
        DnsClient {
            resolver: self.resolver.clone(),
            config: self.config.clone(),
        }
    }
}

impl<R: TxtResolver> DnsClient<R> {
    /// A client asking `resolver`, within the limits of `config`.
    pub fn new(resolver: R, config: DnsConfig) -> Self {
        DnsClient {
            resolver: Arc::new(resolver),
            config,
        }
    }

    /// The limits this client works with.
    pub fn config(&self) -> &DnsConfig {
        &self.config
    }

    /// The TXT records of `name`, within the query timeout.
    async fn lookup(&self, name: &str) -> Result<Vec<String>, DnsError> {
        let timeout = self.config.query_timeout;
        match tokio::time::timeout(timeout, self.resolver.lookup_txt(name)).await {
            Ok(Ok(records)) => Ok(records),
            Ok(Err(source)) => Err(DnsError::Lookup {
                name: name.to_string(),
                source,
            }),
            Err(_) => Err(DnsError::Timeout {
                name: name.to_string(),
                timeout,
            }),
        }
    }

    /// The root of the tree at `url`, checked against the URL's key.
    ///
    /// The domain may carry unrelated TXT records too; the first one that
    /// starts with `enrtree-root:` is taken, and it must verify.
    pub async fn resolve_root(&self, url: &TreeUrl) -> Result<Root, DnsError> {
        let records = self.lookup(&url.domain).await?;
        let text = records
            .iter()
            .find(|text| text.starts_with("enrtree-root:"))
            .ok_or_else(|| DnsError::NoRoot {
                domain: url.domain.clone(),
            })?;
        let invalid = |source| DnsError::Invalid {
            name: url.domain.clone(),
            source,
        };
        let root: Root = text.parse().map_err(invalid)?;
        root.verify(&url.key).map_err(invalid)?;
        Ok(root)
    }

    /// The entry on `<hash>.<domain>` in `subtree`, checked against its hash.
    ///
    /// Of several TXT records on the name, the one whose text hashes to the
    /// name is the entry (no two texts can share a hash); when none does, the
    /// error is the hash mismatch of the first.
    pub async fn resolve_entry(
        &self,
        domain: &str,
        hash: &str,
        subtree: Subtree,
    ) -> Result<Entry, DnsError> {
        let name = format!("{hash}.{domain}");
        let records = self.lookup(&name).await?;
        let mut mismatch = None;
        for text in &records {
            match verify_hash(hash, text) {
                Ok(()) => {
                    return Entry::parse_subtree_entry(hash, text, subtree)
                        .map_err(|source| DnsError::Invalid { name, source });
                }
                Err(e) => {
                    mismatch.get_or_insert(e);
                }
            }
        }
        Err(match mismatch {
            Some(source) => DnsError::Invalid { name, source },
            None => DnsError::NoEntry { name },
        })
    }

    /// Resolves all of one tree: its root, node records and links (which
    /// are listed, not followed; see [`DnsClient::sync_all`]). What
    /// `devp2p dns sync` does.
    pub async fn sync_tree(&self, url: &TreeUrl) -> Result<SyncedTree, DnsError> {
        let root = self.resolve_root(url).await?;
        // One budget for both subtrees: the limit is on the tree.
        let mut budget = self.config.max_entries;
        let mut links = Vec::new();
        for leaf in self
            .walk_subtree(url, &root.link_root, Subtree::Link, &mut budget)
            .await?
        {
            if let Entry::Link(link) = leaf {
                links.push(link);
            }
        }
        let mut records = Vec::new();
        for leaf in self
            .walk_subtree(url, &root.enr_root, Subtree::Enr, &mut budget)
            .await?
        {
            if let Entry::Enr(record) = leaf {
                records.push(*record);
            }
        }
        Ok(SyncedTree {
            url: url.clone(),
            root,
            records,
            links,
        })
    }

    /// The leaves below `top`, each hash resolved at most once.
    async fn walk_subtree(
        &self,
        url: &TreeUrl,
        top: &str,
        subtree: Subtree,
        budget: &mut usize,
    ) -> Result<Vec<Entry>, DnsError> {
        let mut pending = vec![top.to_string()];
        let mut seen = HashSet::new();
        let mut leaves = Vec::new();
        while let Some(hash) = pending.pop() {
            // A child listed twice, or by two branches, is walked once.
            if !seen.insert(hash.clone()) {
                continue;
            }
            if *budget == 0 {
                return Err(DnsError::TooManyEntries {
                    domain: url.domain.clone(),
                    limit: self.config.max_entries,
                });
            }
            *budget -= 1;
            match self.resolve_entry(&url.domain, &hash, subtree).await? {
                Entry::Branch(branch) => pending.extend(branch.children),
                leaf => leaves.push(leaf),
            }
        }
        Ok(leaves)
    }

    /// Resolves the tree at `url` and every tree reachable through links,
    /// each once however the links loop, at most [`DnsConfig::max_trees`].
    /// Fails on the first tree that fails.
    pub async fn sync_all(&self, url: &TreeUrl) -> Result<Vec<SyncedTree>, DnsError> {
        self.sync_from(std::slice::from_ref(url)).await
    }

    async fn sync_from(&self, urls: &[TreeUrl]) -> Result<Vec<SyncedTree>, DnsError> {
        let mut known = HashSet::new();
        let mut queue = VecDeque::new();
        for url in urls {
            if known.insert(TreeId::from(url)) {
                queue.push_back(url.clone());
            }
        }
        let mut trees = Vec::new();
        while let Some(url) = queue.pop_front() {
            let tree = self.sync_tree(&url).await?;
            for link in &tree.links {
                if known.contains(&TreeId::from(link)) {
                    continue;
                }
                if known.len() >= self.config.max_trees {
                    return Err(DnsError::TooManyTrees {
                        limit: self.config.max_trees,
                    });
                }
                known.insert(TreeId::from(link));
                queue.push_back(link.clone());
            }
            trees.push(tree);
        }
        Ok(trees)
    }
}

/// DNS discovery over one or more trees: a source of dial candidates
/// ([`DnsDiscovery::random_nodes`]) and a way to fetch whole lists
/// ([`DnsDiscovery::sync`]).
#[derive(Debug)]
pub struct DnsDiscovery<R = HickoryResolver> {
    client: DnsClient<R>,
    trees: Vec<TreeUrl>,
}

impl<R> Clone for DnsDiscovery<R> {
    fn clone(&self) -> Self {
        DnsDiscovery {
            client: self.client.clone(),
            trees: self.trees.clone(),
        }
    }
}

impl DnsDiscovery<HickoryResolver> {
    /// Discovery over `trees` through the system's DNS configuration.
    pub fn new(trees: Vec<TreeUrl>, config: DnsConfig) -> Result<Self, LookupError> {
        Ok(Self::with_resolver(
            HickoryResolver::from_system_conf()?,
            trees,
            config,
        ))
    }
}

impl<R: TxtResolver> DnsDiscovery<R> {
    /// Discovery over `trees` through `resolver`.
    pub fn with_resolver(resolver: R, trees: Vec<TreeUrl>, config: DnsConfig) -> Self {
        DnsDiscovery {
            client: DnsClient::new(resolver, config),
            trees,
        }
    }

    /// The client resolving the trees, for single-tree operations.
    pub fn client(&self) -> &DnsClient<R> {
        &self.client
    }

    /// The configured trees.
    pub fn trees(&self) -> &[TreeUrl] {
        &self.trees
    }

    /// Resolves every configured tree and every tree linked from them, each
    /// once; fails on the first tree that fails.
    pub async fn sync(&self) -> Result<Vec<SyncedTree>, DnsError> {
        self.client.sync_from(&self.trees).await
    }

    /// The node records of [`DnsDiscovery::sync`], one per node (the
    /// highest `seq` where trees disagree).
    pub async fn all_nodes(&self) -> Result<Vec<NodeRecord>, DnsError> {
        let mut nodes: HashMap<_, NodeRecord> = HashMap::new();
        for tree in self.sync().await? {
            for record in tree.records {
                match nodes.entry(record.node_id()) {
                    std::collections::hash_map::Entry::Occupied(mut old) => {
                        if record.seq() > old.get().seq() {
                            old.insert(record);
                        }
                    }
                    std::collections::hash_map::Entry::Vacant(slot) => {
                        slot.insert(record);
                    }
                }
            }
        }
        Ok(nodes.into_values().collect())
    }

    /// An endless stream of the nodes in the trees' `enr:` leaves that have
    /// an IP address and a TCP port, for
    /// [`Server::add_candidate_source`](p2p_core::Server::add_candidate_source).
    ///
    /// Trees are walked lazily and in turn, one DNS query at a time, each
    /// leaf in random order; a walk yields each of its nodes once. Linked
    /// trees join the rotation as their links are found. A tree whose walk
    /// is over waits for its next root re-check: a new root (higher `seq`)
    /// drops the old entries and starts a walk over the new ones, the same
    /// root starts a new walk over the cached entries. While every tree
    /// waits, the stream sleeps rather than polls; after failures a tree
    /// backs off. The stream ends only if no tree was configured.
    pub fn random_nodes(&self) -> impl Stream<Item = Enode> + Send + 'static {
        let walker = Walker::new(self.client.clone(), &self.trees);
        futures::stream::unfold(walker, |mut walker| async move {
            let node = walker.next_node().await?;
            Some((node, walker))
        })
    }
}

/// What one step of a tree's walk gave.
enum Step {
    /// A node to yield.
    Node(Enode),
    /// A link to another tree.
    Link(TreeUrl),
    /// The link subtree of a new root has been walked completely: the set
    /// of linked trees is final until the next root.
    LinksComplete,
    /// Some work was done (a root checked, a branch resolved, an entry
    /// refused or skipped).
    Progress,
    /// Nothing to do now.
    Idle,
}

/// The walk state of one tree in [`DnsDiscovery::random_nodes`].
struct TreeWalk {
    url: TreeUrl,
    /// Configured trees are always walked; linked ones only while linked.
    configured: bool,
    root: Option<Root>,
    /// When the root is due to be fetched again.
    next_check: Instant,
    /// No query before this, after a failure.
    retry_at: Instant,
    /// The wait after the next failure.
    backoff: Duration,
    /// Hashes of the current walk still to resolve, by subtree.
    link_pending: Vec<String>,
    enr_pending: Vec<String>,
    /// Hashes taken in the current walk (each is resolved once per walk),
    /// by subtree: the empty branch may top both subtrees.
    seen: HashSet<(Subtree, String)>,
    /// Entries of the current root, by subtree and hash; dropped with the
    /// root. Keyed by subtree too, so that a cached entry is only ever used
    /// where `parse_subtree_entry` allowed it.
    cache: HashMap<(Subtree, String), Entry>,
    /// Trees linked from the previous root, kept until the current root's
    /// links are all known so that still-linked trees keep their state.
    links_old: HashSet<TreeId>,
    /// Trees linked from the current root found so far.
    links: HashSet<TreeId>,
    /// Whether `links` is final for the current root.
    links_complete: bool,
}

impl TreeWalk {
    fn new(url: TreeUrl, configured: bool, now: Instant, config: &DnsConfig) -> Self {
        TreeWalk {
            url,
            configured,
            root: None,
            next_check: now,
            retry_at: now,
            backoff: config.retry_delay,
            link_pending: Vec::new(),
            enr_pending: Vec::new(),
            seen: HashSet::new(),
            cache: HashMap::new(),
            links_old: HashSet::new(),
            links: HashSet::new(),
            links_complete: true,
        }
    }

    fn has_work(&self) -> bool {
        !self.link_pending.is_empty() || !self.enr_pending.is_empty()
    }

    /// When this tree next has something to do.
    fn wake_at(&self) -> Instant {
        if self.root.is_some() && !self.has_work() {
            self.retry_at.max(self.next_check)
        } else {
            self.retry_at
        }
    }

    fn fail(&mut self, now: Instant, config: &DnsConfig) {
        self.retry_at = now + self.backoff.max(MIN_WAIT);
        self.backoff = (self.backoff * 2).min(config.recheck_interval);
    }

    fn succeed(&mut self, config: &DnsConfig) {
        self.backoff = config.retry_delay.min(config.recheck_interval);
    }

    /// Starts a walk of the node subtree of the current root.
    fn start_enr_walk(&mut self) {
        if let Some(root) = &self.root {
            self.seen.clear();
            self.enr_pending = vec![root.enr_root.clone()];
        }
    }

    /// Takes in a freshly fetched, verified root.
    fn update_root(&mut self, root: Root) {
        match &self.root {
            Some(old) if root.seq <= old.seq => {
                if root != *old {
                    // A publisher must raise seq on every change; a lower or
                    // equal seq with other content is a replayed or broken
                    // root, and the one we have stays.
                    warn!(target: "dnsdisc", tree = %self.url, seq = root.seq, known = old.seq,
                        "ignoring root that is not newer than the known one");
                }
                if !self.has_work() {
                    self.start_enr_walk();
                }
            }
            _ => {
                debug!(target: "dnsdisc", tree = %self.url, seq = root.seq, "new root");
                self.cache.clear();
                self.links_old.extend(std::mem::take(&mut self.links));
                self.links_complete = false;
                self.link_pending = vec![root.link_root.clone()];
                self.root = Some(root);
                self.start_enr_walk();
            }
        }
    }

    /// Takes the next pending hash: links first, as they add trees.
    ///
    /// The pending lists are stacks, so a walk goes depth first and the
    /// first node costs one query per level; children are pushed in random
    /// order, so every walk visits the leaves in another order.
    fn take_pending(&mut self) -> Option<(String, Subtree)> {
        if let Some(hash) = self.link_pending.pop() {
            return Some((hash, Subtree::Link));
        }
        self.enr_pending.pop().map(|hash| (hash, Subtree::Enr))
    }

    /// One unit of work: a root check or one entry.
    async fn step<R: TxtResolver>(&mut self, client: &DnsClient<R>, now: Instant) -> Step {
        let config = &client.config;
        if self.root.is_none() || now >= self.next_check {
            match client.resolve_root(&self.url).await {
                Ok(root) => {
                    self.succeed(config);
                    self.next_check = now + config.recheck_interval.max(MIN_WAIT);
                    self.update_root(root);
                }
                Err(e) => {
                    debug!(target: "dnsdisc", tree = %self.url, "root check failed: {e}");
                    self.fail(now, config);
                    // With a root already known, its walk goes on; the check
                    // is tried again after the back-off.
                    self.next_check = self.retry_at;
                }
            }
            return Step::Progress;
        }
        if self.link_pending.is_empty() && !self.links_complete {
            self.links_complete = true;
            self.links_old.clear();
            trace!(target: "dnsdisc", tree = %self.url, "link subtree walked");
            return Step::LinksComplete;
        }
        match self.take_pending() {
            Some((hash, subtree)) => self.resolve(client, now, hash, subtree).await,
            None => Step::Idle,
        }
    }

    async fn resolve<R: TxtResolver>(
        &mut self,
        client: &DnsClient<R>,
        now: Instant,
        hash: String,
        subtree: Subtree,
    ) -> Step {
        let config = &client.config;
        let key = (subtree, hash);
        if self.seen.contains(&key) {
            return Step::Progress;
        }
        if self.seen.len() >= config.max_entries {
            warn!(target: "dnsdisc", tree = %self.url, limit = config.max_entries,
                "tree has too many entries, walking only part of it");
            // The walk ends here; what is still pending is dropped rather
            // than popped one by one.
            self.link_pending.clear();
            self.enr_pending.clear();
            return Step::Progress;
        }
        let entry = match self.cache.get(&key) {
            Some(entry) => entry.clone(),
            None => match client
                .resolve_entry(&self.url.domain, &key.1, subtree)
                .await
            {
                Ok(entry) => {
                    self.succeed(config);
                    if self.cache.len() < config.max_entries {
                        self.cache.insert(key.clone(), entry.clone());
                    }
                    entry
                }
                Err(e) if e.is_transient() => {
                    debug!(target: "dnsdisc", tree = %self.url, "{e}; retrying later");
                    self.fail(now, config);
                    match subtree {
                        Subtree::Link => self.link_pending.push(key.1),
                        Subtree::Enr => self.enr_pending.push(key.1),
                    }
                    return Step::Progress;
                }
                Err(e) => {
                    // Refused or missing: this root will not get better, so
                    // the entry is skipped for the rest of the walk.
                    warn!(target: "dnsdisc", tree = %self.url, "skipping entry: {e}");
                    self.seen.insert(key);
                    return Step::Progress;
                }
            },
        };
        self.seen.insert(key);
        match entry {
            Entry::Branch(branch) => {
                let pending = match subtree {
                    Subtree::Link => &mut self.link_pending,
                    Subtree::Enr => &mut self.enr_pending,
                };
                let seen = &self.seen;
                let mut children: Vec<String> = branch
                    .children
                    .into_iter()
                    .filter(|child| !seen.contains(&(subtree, child.clone())))
                    .collect();
                children.shuffle(&mut rand::rng());
                pending.extend(children);
                Step::Progress
            }
            Entry::Link(url) => {
                self.links.insert(TreeId::from(&url));
                Step::Link(url)
            }
            Entry::Enr(record) => match usable_enode(&record) {
                Some(enode) => Step::Node(enode),
                None => Step::Progress,
            },
            // `parse_subtree_entry` refuses roots below the top.
            Entry::Root(_) => Step::Progress,
        }
    }
}

/// The dialable endpoint of a record: an IP that is not unspecified and a
/// TCP port.
fn usable_enode(record: &NodeRecord) -> Option<Enode> {
    let enode = record::enode(record)?;
    (enode.tcp != 0 && !enode.ip.is_unspecified()).then_some(enode)
}

/// The state behind [`DnsDiscovery::random_nodes`].
struct Walker<R> {
    client: DnsClient<R>,
    trees: Vec<TreeWalk>,
    /// Round-robin position: the tree asked first on the next step.
    cursor: usize,
}

impl<R: TxtResolver> Walker<R> {
    fn new(client: DnsClient<R>, urls: &[TreeUrl]) -> Self {
        let now = Instant::now();
        let mut trees: Vec<TreeWalk> = Vec::new();
        for url in urls {
            let id = TreeId::from(url);
            if trees.iter().all(|t| TreeId::from(&t.url) != id) {
                trees.push(TreeWalk::new(url.clone(), true, now, &client.config));
            }
        }
        Walker {
            client,
            trees,
            cursor: 0,
        }
    }

    async fn next_node(&mut self) -> Option<Enode> {
        if self.trees.is_empty() {
            return None;
        }
        loop {
            let now = Instant::now();
            let count = self.trees.len();
            let ready = (0..count)
                .map(|i| (self.cursor + i) % count)
                .find(|&i| self.trees[i].wake_at() <= now);
            let Some(index) = ready else {
                // Everything waits for a re-check or a back-off: sleep until
                // the first is due instead of polling.
                let wake = self.trees.iter().map(TreeWalk::wake_at).min();
                let wake = wake.unwrap_or(now + self.client.config.recheck_interval);
                tokio::time::sleep_until(wake).await;
                continue;
            };
            self.cursor = (index + 1) % count;
            match self.trees[index].step(&self.client, now).await {
                Step::Node(enode) => return Some(enode),
                Step::Link(url) => self.add_linked(url),
                Step::LinksComplete => self.drop_unlinked(),
                Step::Progress => {}
                Step::Idle => {
                    // `wake_at` said there was work and there was none: make
                    // sure this cannot turn into a busy loop.
                    self.trees[index].retry_at = now + MIN_WAIT;
                }
            }
            // Resolvers that answer without waiting (a cache, a map) must
            // not keep the runtime's thread to themselves for a whole walk.
            tokio::task::yield_now().await;
        }
    }

    fn add_linked(&mut self, url: TreeUrl) {
        let id = TreeId::from(&url);
        // A link to a known tree (itself, a parent: a cycle) adds nothing.
        if self.trees.iter().any(|t| TreeId::from(&t.url) == id) {
            return;
        }
        if self.trees.len() >= self.client.config.max_trees {
            debug!(target: "dnsdisc", link = %url, limit = self.client.config.max_trees,
                "not following link: too many trees");
            return;
        }
        debug!(target: "dnsdisc", link = %url, "following link");
        let now = Instant::now();
        self.trees
            .push(TreeWalk::new(url, false, now, &self.client.config));
    }

    /// Drops linked trees that no configured tree reaches any more.
    fn drop_unlinked(&mut self) {
        let index: HashMap<TreeId, usize> = self
            .trees
            .iter()
            .enumerate()
            .map(|(i, t)| (TreeId::from(&t.url), i))
            .collect();
        let mut reached = vec![false; self.trees.len()];
        let mut queue: Vec<usize> = (0..self.trees.len())
            .filter(|&i| self.trees[i].configured)
            .collect();
        while let Some(i) = queue.pop() {
            if std::mem::replace(&mut reached[i], true) {
                continue;
            }
            let tree = &self.trees[i];
            for id in tree.links.iter().chain(&tree.links_old) {
                if let Some(&j) = index.get(id) {
                    if !reached[j] {
                        queue.push(j);
                    }
                }
            }
        }
        let mut keep = reached.into_iter();
        self.trees.retain(|tree| {
            let kept = keep.next().unwrap_or(true);
            if !kept {
                debug!(target: "dnsdisc", tree = %tree.url, "tree no longer linked");
            }
            kept
        });
        self.cursor %= self.trees.len().max(1);
    }
}
