//! The state the dashboard draws, as JSON: each node's status, peers and
//! refusals. The peer graph of a devnet follows from each node's peer ids.

use p2p_core::pipeline::Direction;
use serde_json::{json, Value};

use crate::node::NodeHandle;

fn direction(direction: Direction) -> &'static str {
    match direction {
        Direction::Inbound => "in",
        Direction::Outbound => "out",
    }
}

/// The state of `nodes` on `network`.
pub async fn state(network: &str, nodes: &[NodeHandle]) -> Value {
    let mut all = Vec::with_capacity(nodes.len());
    for (index, node) in nodes.iter().enumerate() {
        all.push(node_state(index, node).await);
    }
    json!({ "network": network, "nodes": all })
}

async fn node_state(index: usize, node: &NodeHandle) -> Value {
    let info = node.server.node_info();
    let status = node.status().await;
    let rtts = node
        .rtts
        .as_ref()
        .map(|r| r.borrow().clone())
        .unwrap_or_default();
    let peers: Vec<Value> = node
        .server
        .peers()
        .await
        .iter()
        .map(|peer| {
            let traffic = node.traffic.peer(&peer.id).unwrap_or_default();
            json!({
                "id": peer.id.to_string(),
                "client": peer.client_id,
                "caps": peer.shared.iter().map(|s| s.capability.to_string()).collect::<Vec<_>>(),
                "direction": direction(peer.direction),
                "remote": peer.remote_addr.to_string(),
                "connected_secs": node.traffic.connected_for(&peer.id).map(|d| d.as_secs()),
                "ingress_bytes": traffic.ingress_bytes,
                "egress_bytes": traffic.egress_bytes,
                "rtt_ms": rtts.get(&peer.id).map(|rtt| rtt.as_secs_f64() * 1000.0),
            })
        })
        .collect();
    let refusals: Vec<Value> = node
        .server
        .stats()
        .ended_early
        .iter()
        .map(|e| {
            json!({
                "direction": direction(e.direction),
                "stage": e.stage,
                "reason": e.reason,
                "count": e.count,
            })
        })
        .collect();
    json!({
        "index": index,
        "id": info.id.to_string(),
        "client": info.client_id,
        "enode": node.enode().map(|e| e.to_string()),
        "status": {
            "peers_in": status.peers_in,
            "peers_out": status.peers_out,
            "dials": status.dials,
            "dialed_peers": status.dialed_peers,
            "table_v4": status.table_v4,
            "table_v5": status.table_v5,
            "head": status.head,
            "ingress_bytes": status.traffic.ingress_bytes,
            "egress_bytes": status.traffic.egress_bytes,
        },
        "peers": peers,
        "refusals": refusals,
    })
}
