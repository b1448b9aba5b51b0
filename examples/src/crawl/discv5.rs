//! Checking a discovery v5 node for a crawl.

use std::ops::RangeInclusive;

use futures::future::join_all;
use p2p_core::record::NodeRecord;
use p2p_discovery::v5::{Discv5Service, Enr};

use super::{Checked, FAR_DISTANCES};

/// The log distances a checked node is asked for its nearest neighbours,
/// nearest first.
///
/// A node's nearest neighbours sit at about 256 − log₂(network size): near
/// 249 in a network of a hundred nodes, near 242 in one of ten thousand.
/// Answers stop at 16 records, taken from the nearest distance asked
/// (go-ethereum takes them in the order asked, which is nearest first
/// here), so a range reaching down to 240 returns the node's closest
/// neighbours in networks of any size this protocol has.
pub const NEIGHBOUR_DISTANCES: RangeInclusive<u64> = 240..=253;

/// Asks `node` for its record and, if it answered, for its table: its
/// nearest neighbours ([`NEIGHBOUR_DISTANCES`]) and each of
/// [`FAR_DISTANCES`] on its own (one distance fills a whole answer). The
/// crawler itself, which other nodes name once it has met them, is not
/// asked.
pub async fn check(disc: &Discv5Service, node: Enr) -> Checked<Enr> {
    if node.node_id() == disc.local_enr().node_id() {
        return Checked::record(None);
    }
    let Some(record) = disc
        .request_enr(node.clone())
        .await
        .ok()
        .as_ref()
        .and_then(to_record)
    else {
        return Checked::record(None);
    };
    let requests = std::iter::once(NEIGHBOUR_DISTANCES.collect::<Vec<u64>>())
        .chain(FAR_DISTANCES.iter().map(|&distance| vec![distance as u64]));
    let answers = join_all(requests.map(|distances| disc.find_node(node.clone(), distances))).await;
    Checked {
        record: Some(record),
        neighbours: answers.into_iter().flatten().flatten().collect(),
    }
}

/// A node's id as node sets key it (hex, as the record's id).
pub fn id(node: &Enr) -> String {
    hex::encode(node.node_id().raw())
}

/// The `discv5` crate's record as this project's [`NodeRecord`] (the same
/// signed bytes); `None` if they do not decode.
pub fn to_record(enr: &Enr) -> Option<NodeRecord> {
    enr.to_base64().parse().ok()
}
