//! Checking a discovery v4 node for a crawl.

use futures::future::join_all;
use p2p_core::PeerId;
use p2p_discovery::v4::service::Discv4Handle;
use p2p_discovery::v4::table::log_distance;
use p2p_discovery::v4::wire::NodeRecordV4;

use super::{Checked, FAR_DISTANCES};

/// Tries at finding a target at a given distance before giving up: a
/// target at log distance 256 − k takes 2^(k+1) tries on average, so this
/// covers every distance in [`FAR_DISTANCES`] many times over.
const TARGET_TRIES: usize = 4096;

/// Asks `node` for its record (EIP-868) and, if it answered, for its table:
/// a FINDNODE for its own id returns its nearest neighbours, and one for a
/// target at each of [`FAR_DISTANCES`] returns nodes from the far halves,
/// quarters and eighths of the id space.
///
/// The crawler itself, which other nodes name once it has met them, is
/// not asked.
pub async fn check(handle: &Discv4Handle, node: NodeRecordV4) -> Checked<NodeRecordV4> {
    if node.id == handle.local_id() {
        return Checked::record(None);
    }
    let Ok(record) = handle.request_enr(node).await else {
        return Checked::record(None);
    };
    let targets = std::iter::once(node.id).chain(
        FAR_DISTANCES
            .iter()
            .filter_map(|&distance| target_at(&node.id, distance)),
    );
    let answers = join_all(targets.map(|target| handle.find_node(node, target))).await;
    Checked {
        record: Some(record),
        neighbours: answers.into_iter().flatten().flatten().collect(),
    }
}

/// A FINDNODE target (a public key, hashed to place it) at log `distance`
/// from `node`: v4 names targets by key, so one is drawn at random until
/// its hash falls there.
fn target_at(node: &PeerId, distance: usize) -> Option<PeerId> {
    let node = node.node_id();
    (0..TARGET_TRIES)
        .map(|_| PeerId(rand::random()))
        .find(|target| log_distance(&target.node_id(), &node) == distance)
}

/// A node's id as node sets key it (hex).
pub fn id(node: &NodeRecordV4) -> String {
    node.id.node_id().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use p2p_core::NodeKey;

    #[test]
    fn targets_land_at_the_distance_asked() {
        let node = NodeKey::random().id();
        for &distance in FAR_DISTANCES {
            let target = target_at(&node, distance).unwrap();
            assert_eq!(log_distance(&target.node_id(), &node.node_id()), distance);
        }
    }
}
