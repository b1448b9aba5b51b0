//! The persistent node database of discovery: the nodes we have seen, when
//! we last pinged them and heard back, and the local record's sequence
//! number, kept on disk so that a restart neither forgets the network nor
//! reuses an old ENR sequence number.
//!
//! Semantics follow go-ethereum's `p2p/enode/nodedb.go`, with these choices:
//!
//! - **Keyed by node id only.** go-ethereum keys ping/pong times per
//!   (id, IP); here one entry per [`NodeId`] holds the node's latest
//!   endpoint and its times. Storing a node at a new endpoint keeps its
//!   times, which is what discovery wants when a node merely moves.
//! - **Times are unix seconds** (`u64`); 0 means "never". Sub-second
//!   precision is dropped, which is far below the hour scales used here.
//! - **Values are RLP**: `[peer id (64 bytes), ip (4 or 16 bytes), tcp, udp,
//!   record, stored_at, last_ping, last_pong, find_fails]`, where `record` is
//!   the ENR's `enr:` text (the `enr` crate speaks another RLP library, so its
//!   text form is the stable, dependency-free encoding) or empty.
//! - **Corrupt values are skipped** with a `tracing` warning, never a panic:
//!   a damaged entry costs us one node, not the database.
//! - **Seeds are newest first** (by last pong), not random as in
//!   go-ethereum: deterministic, and the freshest nodes are the likeliest to
//!   answer. The table is small (discovery keeps at most a few thousand
//!   nodes), so a full scan is fine.
//! - A schema version is stored; on a mismatch the node entries are dropped
//!   (they are only a cache) while the local sequence number is kept.
//!
//! All calls block on disk I/O (each write is one fsynced transaction):
//! call them from `tokio::task::spawn_blocking` or at startup, never
//! directly on an async executor thread.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use p2p_core::record::NodeRecord;
use p2p_core::{Enode, NodeId, PeerId};
use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};
use rlp::{Rlp, RlpStream};

/// Entries whose last pong (or, if they never answered, whose first
/// storing) is older than this are removed by [`NodeDb::expire`].
pub const NODE_EXPIRATION: Duration = Duration::from_secs(24 * 60 * 60);

/// The layout version of this module; bump it when the value layout changes.
const SCHEMA_VERSION: u64 = 1;

/// Node entries: key = 32 node id bytes, value = RLP (see module docs).
const NODES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("nodes");
/// Small named numbers: the schema version and the local sequence number.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const META_VERSION: &str = "version";
const META_LOCAL_SEQ: &str = "local_seq";

/// Why a node database operation failed.
#[derive(Debug, thiserror::Error)]
pub enum NodeDbError {
    /// The underlying redb store failed (I/O, a lock held by another
    /// process, a damaged file, ...).
    /// Boxed: `redb::Error` is large, and every call returns this type.
    #[error("node database: {0}")]
    Db(Box<redb::Error>),
}

impl From<redb::Error> for NodeDbError {
    fn from(e: redb::Error) -> Self {
        NodeDbError::Db(Box::new(e))
    }
}

/// Converts any of redb's specific error types into [`NodeDbError`]; redb
/// has one type per operation, all convertible into `redb::Error`.
fn db_err(e: impl Into<redb::Error>) -> NodeDbError {
    NodeDbError::from(e.into())
}

/// A node as kept in the database.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredNode {
    /// The node's identity and latest known endpoint.
    pub enode: Enode,
    /// The node's latest signed record, if we have one.
    pub record: Option<NodeRecord>,
    /// When we last sent it a ping.
    pub last_ping: Option<SystemTime>,
    /// When we last received a pong from it (proof that it is alive).
    pub last_pong: Option<SystemTime>,
    /// How many find-node requests to it failed in a row.
    pub find_fails: u32,
    /// When the entry was first stored; ages out nodes that never answered.
    stored_at: u64,
}

/// What discovery observed of one node, for [`NodeDb::store_observations`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observation {
    /// The node's identity and current endpoint.
    pub enode: Enode,
    /// When we last pinged it, if we did.
    pub last_ping: Option<SystemTime>,
    /// When it last answered our ping, if it did.
    pub last_pong: Option<SystemTime>,
    /// Find-node requests to it that failed in a row.
    pub find_fails: u32,
}

impl StoredNode {
    fn node_id(&self) -> NodeId {
        self.enode.id.node_id()
    }

    fn encode(&self) -> Vec<u8> {
        let mut s = RlpStream::new_list(9);
        s.append(&self.enode.id.as_bytes().as_slice());
        match self.enode.ip {
            IpAddr::V4(ip) => s.append(&ip.octets().as_slice()),
            IpAddr::V6(ip) => s.append(&ip.octets().as_slice()),
        };
        s.append(&self.enode.tcp);
        s.append(&self.enode.udp);
        let record = self
            .record
            .as_ref()
            .map(|r| r.to_base64())
            .unwrap_or_default();
        s.append(&record.as_bytes());
        s.append(&self.stored_at);
        s.append(&to_secs(self.last_ping));
        s.append(&to_secs(self.last_pong));
        s.append(&self.find_fails);
        s.out().to_vec()
    }

    /// Decodes a value; `None` for anything malformed (the caller warns).
    fn decode(bytes: &[u8]) -> Option<StoredNode> {
        let rlp = Rlp::new(bytes);
        if !rlp.is_list() || rlp.item_count().ok()? != 9 {
            return None;
        }
        let id = PeerId::from_slice(rlp.at(0).ok()?.data().ok()?)?;
        let ip = match rlp.at(1).ok()?.data().ok()? {
            b if b.len() == 4 => IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(b).ok()?)),
            b if b.len() == 16 => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(b).ok()?)),
            _ => return None,
        };
        let tcp: u16 = rlp.val_at(2).ok()?;
        let udp: u16 = rlp.val_at(3).ok()?;
        let record_text = rlp.at(4).ok()?.data().ok()?;
        let record = if record_text.is_empty() {
            None
        } else {
            Some(
                std::str::from_utf8(record_text)
                    .ok()?
                    .parse::<NodeRecord>()
                    .ok()?,
            )
        };
        Some(StoredNode {
            enode: Enode::new(id, ip, tcp, udp),
            record,
            stored_at: rlp.val_at(5).ok()?,
            last_ping: from_secs(rlp.val_at(6).ok()?),
            last_pong: from_secs(rlp.val_at(7).ok()?),
            find_fails: rlp.val_at(8).ok()?,
        })
    }
}

/// Unix seconds of a time; times before 1970 clamp to 0 ("never").
fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn to_secs(t: Option<SystemTime>) -> u64 {
    t.map(unix_secs).unwrap_or(0)
}

fn from_secs(secs: u64) -> Option<SystemTime> {
    (secs != 0).then(|| UNIX_EPOCH + Duration::from_secs(secs))
}

/// Decodes one stored value, warning about (and dropping) a corrupt one.
fn decode_logged(key: &[u8], value: &[u8]) -> Option<StoredNode> {
    let node = StoredNode::decode(value);
    if node.is_none() {
        tracing::warn!(key = %hex_short(key), "node database: skipping corrupt node entry");
    }
    node
}

fn hex_short(bytes: &[u8]) -> String {
    bytes.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// The persistent node database. Blocking: see the module docs.
pub struct NodeDb {
    db: Database,
}

impl std::fmt::Debug for NodeDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeDb").finish_non_exhaustive()
    }
}

impl NodeDb {
    /// Opens the database file at `path`, creating it if missing. Fails if
    /// another process (or another `NodeDb` in this one) holds it open.
    pub fn open(path: impl AsRef<Path>) -> Result<NodeDb, NodeDbError> {
        Self::init(Database::create(path).map_err(db_err)?)
    }

    /// A database kept in memory only, gone when dropped; for tests and for
    /// nodes configured without a data directory.
    pub fn in_memory() -> Result<NodeDb, NodeDbError> {
        let db = Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .map_err(db_err)?;
        Self::init(db)
    }

    /// Creates the tables and checks the schema version, dropping node
    /// entries written in another layout (they are only a cache).
    fn init(db: Database) -> Result<NodeDb, NodeDbError> {
        let tx = db.begin_write().map_err(db_err)?;
        {
            let mut meta = tx.open_table(META).map_err(db_err)?;
            let version = meta.get(META_VERSION).map_err(db_err)?.map(|v| v.value());
            if version != Some(SCHEMA_VERSION) {
                if version.is_some() {
                    tracing::warn!(?version, "node database: schema changed, dropping nodes");
                }
                tx.delete_table(NODES).map_err(db_err)?;
                meta.insert(META_VERSION, SCHEMA_VERSION).map_err(db_err)?;
            }
            // Created here so that readers never meet a missing table.
            tx.open_table(NODES).map_err(db_err)?;
        }
        tx.commit().map_err(db_err)?;
        Ok(NodeDb { db })
    }

    /// Stores `enode` (and its record, if given) under its node id. An
    /// existing entry keeps its times and fail count; only the endpoint and
    /// record are replaced (a record is kept if `record` is `None`).
    pub fn store_node(
        &self,
        enode: &Enode,
        record: Option<&NodeRecord>,
    ) -> Result<(), NodeDbError> {
        let id = enode.id.node_id();
        let now = unix_secs(SystemTime::now());
        self.update(&id, |old| {
            let mut node = old.unwrap_or(StoredNode {
                enode: *enode,
                record: None,
                last_ping: None,
                last_pong: None,
                find_fails: 0,
                stored_at: now,
            });
            node.enode = *enode;
            if let Some(record) = record {
                node.record = Some(record.clone());
            }
            Some(node)
        })
        .map(|_| ())
    }

    /// Stores what discovery observed of many nodes in one transaction (one
    /// disk sync instead of one per node): each node's endpoint, and its
    /// ping and pong times and find-node failures where given. Existing
    /// entries keep their record, and their times where an observation has
    /// none.
    pub fn store_observations(&self, observations: &[Observation]) -> Result<(), NodeDbError> {
        if observations.is_empty() {
            return Ok(());
        }
        let now = unix_secs(SystemTime::now());
        let tx = self.db.begin_write().map_err(db_err)?;
        {
            let mut table = tx.open_table(NODES).map_err(db_err)?;
            for obs in observations {
                let id = obs.enode.id.node_id();
                let key = id.as_bytes().as_slice();
                let old = table
                    .get(key)
                    .map_err(db_err)?
                    .and_then(|v| decode_logged(key, v.value()));
                let mut node = old.unwrap_or(StoredNode {
                    enode: obs.enode,
                    record: None,
                    last_ping: None,
                    last_pong: None,
                    find_fails: 0,
                    stored_at: now,
                });
                node.enode = obs.enode;
                node.last_ping = obs.last_ping.or(node.last_ping);
                node.last_pong = obs.last_pong.or(node.last_pong);
                node.find_fails = obs.find_fails;
                table
                    .insert(key, node.encode().as_slice())
                    .map_err(db_err)?;
            }
        }
        tx.commit().map_err(db_err)
    }

    /// The entry of node `id`, if stored and readable.
    pub fn node(&self, id: &NodeId) -> Result<Option<StoredNode>, NodeDbError> {
        let tx = self.db.begin_read().map_err(db_err)?;
        let table = tx.open_table(NODES).map_err(db_err)?;
        let key = id.as_bytes().as_slice();
        let value = table.get(key).map_err(db_err)?;
        Ok(value.and_then(|v| decode_logged(key, v.value())))
    }

    /// Records when we last pinged `id`. Returns whether the node was stored
    /// (times of unknown nodes are not kept: there is no endpoint to keep).
    pub fn set_last_ping(&self, id: &NodeId, time: SystemTime) -> Result<bool, NodeDbError> {
        self.update_existing(id, |n| n.last_ping = Some(time))
    }

    /// Records when we last got a pong from `id`; see [`Self::set_last_ping`].
    pub fn set_last_pong(&self, id: &NodeId, time: SystemTime) -> Result<bool, NodeDbError> {
        self.update_existing(id, |n| n.last_pong = Some(time))
    }

    /// Sets the count of failed find-node requests to `id`; see
    /// [`Self::set_last_ping`].
    pub fn set_find_fails(&self, id: &NodeId, fails: u32) -> Result<bool, NodeDbError> {
        self.update_existing(id, |n| n.find_fails = fails)
    }

    /// Removes node `id`; returns whether it was there.
    pub fn delete(&self, id: &NodeId) -> Result<bool, NodeDbError> {
        let tx = self.db.begin_write().map_err(db_err)?;
        let removed = {
            let mut table = tx.open_table(NODES).map_err(db_err)?;
            let removed = table.remove(id.as_bytes().as_slice()).map_err(db_err)?;
            removed.is_some()
        };
        tx.commit().map_err(db_err)?;
        Ok(removed)
    }

    /// Up to `count` nodes that answered a ping within `max_age` before
    /// `now`, newest pong first: the nodes to seed the table with at startup.
    pub fn seeds(
        &self,
        count: usize,
        max_age: Duration,
        now: SystemTime,
    ) -> Result<Vec<StoredNode>, NodeDbError> {
        let cutoff = unix_secs(now).saturating_sub(max_age.as_secs());
        let mut nodes: Vec<StoredNode> = self
            .all_nodes()?
            .into_iter()
            .filter(|n| n.last_pong.is_some() && to_secs(n.last_pong) >= cutoff)
            .collect();
        nodes.sort_by_key(|n| std::cmp::Reverse(to_secs(n.last_pong)));
        nodes.truncate(count);
        Ok(nodes)
    }

    /// Removes the entries older than [`NODE_EXPIRATION`] at `now`: last
    /// pong older than that, or, for nodes that never answered, stored
    /// longer ago than that. Corrupt entries are removed too (they can never
    /// be read). Returns how many were removed.
    pub fn expire(&self, now: SystemTime) -> Result<usize, NodeDbError> {
        let cutoff = unix_secs(now).saturating_sub(NODE_EXPIRATION.as_secs());
        let tx = self.db.begin_write().map_err(db_err)?;
        let removed = {
            let mut table = tx.open_table(NODES).map_err(db_err)?;
            let before = table.len().map_err(db_err)?;
            table
                .retain(|key, value| match decode_logged(key, value) {
                    Some(n) => match n.last_pong {
                        Some(_) => to_secs(n.last_pong) >= cutoff,
                        None => n.stored_at >= cutoff,
                    },
                    None => false,
                })
                .map_err(db_err)?;
            before - table.len().map_err(db_err)?
        };
        tx.commit().map_err(db_err)?;
        Ok(removed as usize)
    }

    /// The local record's last sequence number, if ever stored.
    pub fn local_seq(&self) -> Result<Option<u64>, NodeDbError> {
        let tx = self.db.begin_read().map_err(db_err)?;
        let meta = tx.open_table(META).map_err(db_err)?;
        let seq = meta.get(META_LOCAL_SEQ).map_err(db_err)?;
        Ok(seq.map(|v| v.value()))
    }

    /// Stores the local record's sequence number, so that after a restart
    /// the record is re-signed with a higher one (peers ignore lower ones).
    pub fn set_local_seq(&self, seq: u64) -> Result<(), NodeDbError> {
        let tx = self.db.begin_write().map_err(db_err)?;
        tx.open_table(META)
            .map_err(db_err)?
            .insert(META_LOCAL_SEQ, seq)
            .map_err(db_err)?;
        tx.commit().map_err(db_err)
    }

    /// Every readable node entry (corrupt ones are skipped with a warning).
    fn all_nodes(&self) -> Result<Vec<StoredNode>, NodeDbError> {
        let tx = self.db.begin_read().map_err(db_err)?;
        let table = tx.open_table(NODES).map_err(db_err)?;
        let mut nodes = Vec::new();
        for entry in table.iter().map_err(db_err)? {
            let (key, value) = entry.map_err(db_err)?;
            if let Some(node) = decode_logged(key.value(), value.value()) {
                nodes.push(node);
            }
        }
        Ok(nodes)
    }

    /// Applies `f` to an existing entry; `Ok(false)` if there is none.
    fn update_existing(
        &self,
        id: &NodeId,
        f: impl FnOnce(&mut StoredNode),
    ) -> Result<bool, NodeDbError> {
        self.update(id, |old| {
            old.map(|mut n| {
                f(&mut n);
                n
            })
        })
    }

    /// Read-modify-write of one entry in a single transaction, so that
    /// concurrent updates of different fields cannot lose each other.
    /// `f` sees the current entry (`None` if absent or corrupt) and returns
    /// the new one (`None` to leave the table unchanged). Returns whether
    /// something was written.
    fn update(
        &self,
        id: &NodeId,
        f: impl FnOnce(Option<StoredNode>) -> Option<StoredNode>,
    ) -> Result<bool, NodeDbError> {
        let key = id.as_bytes().as_slice();
        let tx = self.db.begin_write().map_err(db_err)?;
        let written = {
            let mut table = tx.open_table(NODES).map_err(db_err)?;
            let old = table
                .get(key)
                .map_err(db_err)?
                .and_then(|v| decode_logged(key, v.value()));
            match f(old) {
                Some(node) => {
                    debug_assert_eq!(node.node_id(), *id);
                    table
                        .insert(key, node.encode().as_slice())
                        .map_err(db_err)?;
                    true
                }
                None => false,
            }
        };
        tx.commit().map_err(db_err)?;
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p2p_core::record::{Endpoint, LocalRecord};
    use p2p_core::NodeKey;

    const HOUR: Duration = Duration::from_secs(3600);

    fn now() -> SystemTime {
        // A whole second, so that values survive the trip through seconds.
        UNIX_EPOCH + Duration::from_secs(unix_secs(SystemTime::now()))
    }

    fn node(last_octet: u8) -> (Enode, NodeRecord) {
        let key = NodeKey::random();
        let ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, last_octet));
        let endpoint = Endpoint {
            ip: Some(ip),
            tcp: Some(30303),
            udp: Some(30301),
            quic: None,
        };
        let record = LocalRecord::new(key.clone(), endpoint, 1)
            .unwrap()
            .record()
            .clone();
        (Enode::new(key.id(), ip, 30303, 30301), record)
    }

    #[test]
    fn nodedb_store_and_read_back() {
        let db = NodeDb::in_memory().unwrap();
        let (enode, record) = node(1);
        let id = enode.id.node_id();
        assert!(db.node(&id).unwrap().is_none());
        assert!(!db.set_last_pong(&id, now()).unwrap(), "unknown node");

        db.store_node(&enode, Some(&record)).unwrap();
        let t = now();
        assert!(db.set_last_ping(&id, t).unwrap());
        assert!(db.set_last_pong(&id, t + Duration::from_secs(1)).unwrap());
        assert!(db.set_find_fails(&id, 3).unwrap());

        let got = db.node(&id).unwrap().unwrap();
        assert_eq!(got.enode, enode);
        assert_eq!(
            got.record.as_ref().map(|r| r.to_base64()),
            Some(record.to_base64())
        );
        assert_eq!(got.last_ping, Some(t));
        assert_eq!(got.last_pong, Some(t + Duration::from_secs(1)));
        assert_eq!(got.find_fails, 3);

        // Re-storing at a new endpoint, without a record, keeps the rest.
        let moved = Enode::new(enode.id, "2001:db8::1".parse().unwrap(), 1, 2);
        db.store_node(&moved, None).unwrap();
        let got = db.node(&id).unwrap().unwrap();
        assert_eq!(got.enode, moved);
        assert!(got.record.is_some());
        assert_eq!((got.last_ping, got.find_fails), (Some(t), 3));

        assert!(db.delete(&id).unwrap());
        assert!(!db.delete(&id).unwrap());
        assert!(db.node(&id).unwrap().is_none());
    }

    #[test]
    fn nodedb_survives_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nodes.redb");
        let (enode, record) = node(2);
        let id = enode.id.node_id();
        let t = now();
        {
            let db = NodeDb::open(&path).unwrap();
            db.store_node(&enode, Some(&record)).unwrap();
            db.set_last_pong(&id, t).unwrap();
            db.set_local_seq(7).unwrap();
        }
        let db = NodeDb::open(&path).unwrap();
        let got = db.node(&id).unwrap().unwrap();
        assert_eq!((got.enode, got.last_pong), (enode, Some(t)));
        assert_eq!(got.record.unwrap().to_base64(), record.to_base64());
        assert_eq!(db.local_seq().unwrap(), Some(7));
        assert_eq!(db.seeds(10, HOUR, t).unwrap().len(), 1);
    }

    #[test]
    fn nodedb_seeds_recent_only_newest_first_and_bounded() {
        let db = NodeDb::in_memory().unwrap();
        let t = now();
        let mut ids = Vec::new();
        // Pongs 0..5 hours ago, plus one node that never answered.
        for i in 0..6u8 {
            let (enode, _) = node(i);
            db.store_node(&enode, None).unwrap();
            db.set_last_pong(&enode.id.node_id(), t - HOUR * u32::from(i))
                .unwrap();
            ids.push(enode.id.node_id());
        }
        db.store_node(&node(99).0, None).unwrap();

        let seeds = db.seeds(10, HOUR * 3, t).unwrap();
        let got: Vec<NodeId> = seeds.iter().map(|n| n.enode.id.node_id()).collect();
        assert_eq!(got, ids[..4], "pongs within 3 h, newest first");
        assert_eq!(db.seeds(2, HOUR * 3, t).unwrap().len(), 2);
        assert!(db.seeds(0, HOUR * 3, t).unwrap().is_empty());
    }

    #[test]
    fn nodedb_expire_removes_old_keeps_fresh() {
        let db = NodeDb::in_memory().unwrap();
        let t = now();
        let (fresh, _) = node(1);
        let (stale, _) = node(2);
        let (silent, _) = node(3);
        for n in [&fresh, &stale, &silent] {
            db.store_node(n, None).unwrap();
        }
        db.set_last_pong(&fresh.id.node_id(), t - HOUR).unwrap();
        db.set_last_pong(&stale.id.node_id(), t - HOUR * 25)
            .unwrap();

        // Now: the stale one goes; the silent one was stored just now.
        assert_eq!(db.expire(t).unwrap(), 1);
        assert!(db.node(&stale.id.node_id()).unwrap().is_none());
        assert!(db.node(&fresh.id.node_id()).unwrap().is_some());
        assert!(db.node(&silent.id.node_id()).unwrap().is_some());

        // A day later, the never-answering node and the fresh one age out.
        assert_eq!(db.expire(t + HOUR * 25).unwrap(), 2);
        assert!(db.seeds(10, HOUR * 1000, t).unwrap().is_empty());
    }

    #[test]
    fn nodedb_local_seq_persists() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nodes.redb");
        {
            let db = NodeDb::open(&path).unwrap();
            assert_eq!(db.local_seq().unwrap(), None);
            db.set_local_seq(41).unwrap();
            db.set_local_seq(42).unwrap();
        }
        assert_eq!(NodeDb::open(&path).unwrap().local_seq().unwrap(), Some(42));
    }

    #[test]
    fn nodedb_corrupt_value_is_skipped() {
        let db = NodeDb::in_memory().unwrap();
        let t = now();
        let (good, _) = node(1);
        db.store_node(&good, None).unwrap();
        db.set_last_pong(&good.id.node_id(), t).unwrap();

        let bad = node(2).0.id.node_id();
        let tx = db.db.begin_write().unwrap();
        {
            let mut table = tx.open_table(NODES).unwrap();
            table
                .insert(bad.as_bytes().as_slice(), b"\xffgarbage".as_slice())
                .unwrap();
            // Valid RLP, wrong shape: a 9-item list of empty strings.
            let odd = [0xc9, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80];
            table.insert([7u8; 32].as_slice(), odd.as_slice()).unwrap();
        }
        tx.commit().unwrap();

        assert!(db.node(&bad).unwrap().is_none());
        assert!(db.node(&NodeId([7; 32])).unwrap().is_none());
        let seeds = db.seeds(10, HOUR, t).unwrap();
        assert_eq!(seeds.len(), 1);
        assert_eq!(seeds[0].enode, good);
        // Setters on a corrupt entry find nothing to update.
        assert!(!db.set_find_fails(&bad, 1).unwrap());
        // Expire clears the unreadable entries.
        assert_eq!(db.expire(t).unwrap(), 2);
        assert!(db.node(&good.id.node_id()).unwrap().is_some());
    }
}
