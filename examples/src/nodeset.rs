//! Node sets in go-ethereum's `nodes.json` format, the file its `devp2p`
//! tool crawls into, filters and signs DNS lists from.
//!
//! A JSON object from node id (64 hex characters) to an entry: the
//! record's sequence number and text, a liveness score (left out at 0),
//! and when the node first answered, last answered and was last checked.
//! Written as go-ethereum writes it (four-space indent, ids in order, no
//! trailing newline, the zero time as `0001-01-01T00:00:00Z`), so that each
//! tool reads the other's files and a file round-trips unchanged.
//!
//! ```
//! use examples::nodeset::NodeSet;
//!
//! let set = NodeSet::from_json("{}").unwrap();
//! assert!(set.is_empty());
//! assert_eq!(set.to_json(), "{}");
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use p2p_core::record::{self, NodeRecord};
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A set of nodes by id, in id order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeSet(BTreeMap<String, NodeEntry>);

/// What a node set knows of one node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeEntry {
    /// The record's sequence number (must match the record's).
    pub seq: u64,
    /// The node's record.
    #[serde(with = "record_text")]
    pub record: NodeRecord,
    /// Liveness: raised by each answer, halved by each silence.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub score: i64,
    /// When the node first answered a crawler.
    #[serde(rename = "firstResponse", default)]
    pub first_response: Timestamp,
    /// When the node last answered a crawler.
    #[serde(rename = "lastResponse", default)]
    pub last_response: Timestamp,
    /// When a crawler last asked the node.
    #[serde(rename = "lastCheck", default)]
    pub last_check: Timestamp,
}

impl NodeEntry {
    /// An entry for `record` that no crawler has checked yet.
    pub fn new(record: NodeRecord) -> Self {
        NodeEntry {
            seq: record.seq(),
            record,
            score: 0,
            first_response: Timestamp::ZERO,
            last_response: Timestamp::ZERO,
            last_check: Timestamp::ZERO,
        }
    }
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// Why a node set could not be read.
#[derive(Debug, thiserror::Error)]
pub enum NodeSetError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
    /// The text is not a node set.
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    /// An entry contradicts its own record.
    #[error("node {id}: {problem}")]
    Inconsistent {
        /// The entry's key.
        id: String,
        /// How it disagrees with the record.
        problem: String,
    },
}

impl NodeSet {
    /// An empty set.
    pub fn new() -> Self {
        NodeSet::default()
    }

    /// Reads a set from `nodes.json` text. Every entry must be keyed by its
    /// record's id and carry its record's sequence number, and no id may
    /// appear twice.
    pub fn from_json(text: &str) -> Result<Self, NodeSetError> {
        let set: NodeSet = serde_json::from_str(text)?;
        for (id, entry) in &set.0 {
            let actual = record::peer_id(&entry.record).node_id().to_string();
            if *id != actual {
                return Err(NodeSetError::Inconsistent {
                    id: id.clone(),
                    problem: format!("the record's id is {actual}"),
                });
            }
            if entry.seq != entry.record.seq() {
                return Err(NodeSetError::Inconsistent {
                    id: id.clone(),
                    problem: format!(
                        "'seq' is {} but the record's sequence number is {}",
                        entry.seq,
                        entry.record.seq()
                    ),
                });
            }
        }
        Ok(set)
    }

    /// Reads the set in the file at `path`.
    pub fn load(path: &Path) -> Result<Self, NodeSetError> {
        let text = std::fs::read_to_string(path).map_err(|source| NodeSetError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_json(&text).map_err(|e| match e {
            NodeSetError::Json(e) => NodeSetError::Io {
                path: path.display().to_string(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            },
            other => other,
        })
    }

    /// The set as go-ethereum writes it.
    pub fn to_json(&self) -> String {
        go_json(self)
    }

    /// Writes the set to `path`.
    pub fn save(&self, path: &Path) -> Result<(), NodeSetError> {
        std::fs::write(path, self.to_json()).map_err(|source| NodeSetError::Io {
            path: path.display().to_string(),
            source,
        })
    }

    /// Adds `entry` under its record's id, replacing what was there.
    pub fn insert(&mut self, entry: NodeEntry) {
        let id = record::peer_id(&entry.record).node_id().to_string();
        self.0.insert(id, entry);
    }

    /// The entry of the node with this id (hex).
    pub fn get(&self, id: &str) -> Option<&NodeEntry> {
        self.0.get(id)
    }

    /// Removes the node with this id (hex).
    pub fn remove(&mut self, id: &str) -> Option<NodeEntry> {
        self.0.remove(id)
    }

    /// The entries in id order.
    pub fn entries(&self) -> impl Iterator<Item = &NodeEntry> {
        self.0.values()
    }

    /// The records in id order.
    pub fn records(&self) -> Vec<NodeRecord> {
        self.0.values().map(|e| e.record.clone()).collect()
    }

    /// Keeps only the entries `keep` accepts.
    pub fn retain(&mut self, mut keep: impl FnMut(&NodeEntry) -> bool) {
        self.0.retain(|_, entry| keep(entry));
    }

    /// How many nodes the set holds.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the set holds no node.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for NodeSet {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for NodeSet {
    /// As a map, but an id given twice is an error rather than the last
    /// one silently winning.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SetVisitor;
        impl<'de> Visitor<'de> for SetVisitor {
            type Value = NodeSet;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object from node id to node")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NodeSet, A::Error> {
                let mut nodes = BTreeMap::new();
                while let Some((id, entry)) = map.next_entry::<String, NodeEntry>()? {
                    let id = id.trim_start_matches("0x").to_ascii_lowercase();
                    if nodes.insert(id.clone(), entry).is_some() {
                        return Err(serde::de::Error::custom(format!("node {id} appears twice")));
                    }
                }
                Ok(NodeSet(nodes))
            }
        }
        deserializer.deserialize_map(SetVisitor)
    }
}

/// JSON as go-ethereum's tools write their files: four-space indent, no
/// final newline.
pub fn go_json<T: Serialize>(value: &T) -> String {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    value
        .serialize(&mut serializer)
        .expect("maps of strings, numbers and times serialize");
    String::from_utf8(out).expect("JSON is UTF-8")
}

/// A point in time as go-ethereum writes one: RFC 3339, its zone kept, and
/// the zero time (`0001-01-01T00:00:00Z`) for "never".
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(OffsetDateTime);

impl Timestamp {
    /// Never: go-ethereum's zero time.
    pub const ZERO: Timestamp = Timestamp(time::macros::datetime!(0001-01-01 00:00:00 UTC));

    /// Now, in UTC, to the second (as go-ethereum's crawler stamps).
    pub fn now() -> Self {
        let now = OffsetDateTime::now_utc();
        Timestamp(now.replace_nanosecond(0).unwrap_or(now))
    }

    /// Whether this is the zero time.
    pub fn is_zero(&self) -> bool {
        *self == Self::ZERO
    }

    /// How long after `earlier` this is (zero if it is not later).
    pub fn since(&self, earlier: &Timestamp) -> std::time::Duration {
        let delta = self.0 - earlier.0;
        delta.try_into().unwrap_or_default()
    }
}

impl Default for Timestamp {
    fn default() -> Self {
        Self::ZERO
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0.format(&Rfc3339).map_err(|_| fmt::Error)?;
        f.write_str(&text)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        OffsetDateTime::parse(&text, &Rfc3339)
            .map(Timestamp)
            .map_err(|e| serde::de::Error::custom(format!("time {text:?}: {e}")))
    }
}

/// A record as its `enr:` text.
mod record_text {
    use p2p_core::record::NodeRecord;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(record: &NodeRecord, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&record.to_base64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NodeRecord, D::Error> {
        let text = String::deserialize(d)?;
        text.parse()
            .map_err(|e| serde::de::Error::custom(format!("record {text:?}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p2p_core::record::{Endpoint, LocalRecord};
    use p2p_core::NodeKey;

    fn record(seq: u64) -> NodeRecord {
        LocalRecord::new(NodeKey::random(), Endpoint::new([127, 0, 0, 1], 30303), seq)
            .unwrap()
            .record()
            .clone()
    }

    #[test]
    fn a_set_is_written_as_go_ethereum_writes_it_and_reads_back() {
        let r = record(7);
        let id = record::peer_id(&r).node_id().to_string();
        let text = format!(
            "{{\n    \"{id}\": {{\n        \"seq\": 7,\n        \"record\": \"{}\",\n        \"score\": 5,\n        \"firstResponse\": \"2024-01-01T00:00:00Z\",\n        \"lastResponse\": \"2024-01-03T00:00:00.5+02:00\",\n        \"lastCheck\": \"0001-01-01T00:00:00Z\"\n    }}\n}}",
            r.to_base64()
        );
        let set = NodeSet::from_json(&text).unwrap();
        assert_eq!(set.len(), 1);
        let entry = set.get(&id).unwrap();
        assert_eq!(entry.score, 5);
        assert!(entry.last_check.is_zero());
        assert_eq!(
            entry.last_response.since(&entry.first_response),
            std::time::Duration::from_secs(2 * 86_400 - 7_200)
                + std::time::Duration::from_millis(500)
        );
        assert_eq!(set.to_json(), text);
    }

    #[test]
    fn a_score_of_zero_is_left_out_and_missing_times_are_zero() {
        let mut set = NodeSet::new();
        set.insert(NodeEntry::new(record(2)));
        let text = set.to_json();
        assert!(!text.contains("score"), "{text}");
        assert!(
            text.contains("\"lastCheck\": \"0001-01-01T00:00:00Z\""),
            "{text}"
        );
        assert!(!text.ends_with('\n'));
        let entry = set.entries().next().unwrap();
        let minimal = format!(
            "{{\"{}\": {{\"seq\": 2, \"record\": \"{}\"}}}}",
            record::peer_id(&entry.record).node_id(),
            entry.record.to_base64()
        );
        assert_eq!(NodeSet::from_json(&minimal).unwrap(), set);
    }

    #[test]
    fn an_entry_contradicting_its_record_or_given_twice_is_refused() {
        let r = record(3);
        let id = record::peer_id(&r).node_id().to_string();
        let text = r.to_base64();
        let wrong_seq = format!("{{\"{id}\": {{\"seq\": 4, \"record\": \"{text}\"}}}}");
        let err = NodeSet::from_json(&wrong_seq).unwrap_err().to_string();
        assert!(err.contains("'seq' is 4"), "{err}");
        let other = record::peer_id(&record(1)).node_id().to_string();
        let wrong_id = format!("{{\"{other}\": {{\"seq\": 3, \"record\": \"{text}\"}}}}");
        let err = NodeSet::from_json(&wrong_id).unwrap_err().to_string();
        assert!(err.contains(&format!("the record's id is {id}")), "{err}");
        let twice = format!(
            "{{\"{id}\": {{\"seq\": 3, \"record\": \"{text}\"}}, \"{id}\": {{\"seq\": 3, \"record\": \"{text}\"}}}}"
        );
        let err = NodeSet::from_json(&twice).unwrap_err().to_string();
        assert!(err.contains("appears twice"), "{err}");
    }
}
