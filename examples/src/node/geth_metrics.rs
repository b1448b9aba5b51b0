//! go-ethereum's p2p metric names, so that dashboards built for geth read
//! this node too: `p2p_peers_inbound`, `p2p_peers_outbound`,
//! `p2p_dials`, `p2p_serves`, their `_success` and `_error_<kind>` variants,
//! `p2p_ingress`, `p2p_egress` and the per-message
//! `p2p_ingress_<capability>_<version>_<code>` (and egress) ones.
//!
//! go-ethereum keeps these as meters and its Prometheus exporter writes
//! each meter's count as a gauge (`metrics/prometheus/collector.go`), with
//! `/` in the name turned into `_`; they are written here the same way, from
//! the server's counts, each with an `instance` label so that the nodes of
//! a devnet in one process stay apart. `p2p_peers` is the library's gauge,
//! labelled by `direction` as well; summed by instance it is go-ethereum's.
//! The library's own metrics
//! (`p2p_messages_total`, `p2p_handshake_failures_total`, ...; see
//! `p2p_core::layers::metrics`) are there beside them.
//!
//! The error kinds are go-ethereum's: `saturated` (too many peers), `known`
//! (already connected), `self`, `useless`, `id_unexpected`, `rlpx_enc` (the
//! encryption handshake failed), `rlpx_proto` (the Hello exchange failed),
//! `connection` (a dial that never connected) and `other`.

use std::collections::BTreeMap;

use p2p_core::layers::metrics::instance_label;
use p2p_core::pipeline::Direction;
use p2p_core::server::EndedEarly;

use super::NodeHandle;

/// go-ethereum's name for why a connection ended before its session.
fn error_kind(ended: &EndedEarly) -> &'static str {
    match ended.reason.as_str() {
        // Our own refusals of load (the inbound throttle, the caps on
        // handshakes in progress) are saturation too.
        "too_many_peers" | "throttled" | "pending_per_ip" | "pending_per_subnet" | "evicted" => {
            "saturated"
        }
        "already_connected" => "known",
        "connected_to_self" => "self",
        "useless_peer" => "useless",
        "unexpected_identity" => "id_unexpected",
        _ => match ended.stage {
            "setup" => "rlpx_enc",
            "hello" => "rlpx_proto",
            _ => "other",
        },
    }
}

/// Writes `node`'s counts under go-ethereum's names (a no-op without a
/// metrics recorder).
pub async fn record(node: &NodeHandle) {
    let instance = instance_label(&node.server.node_info().id);
    // Described on every write: a name can appear at any time (a new error
    // kind, a message first seen), and describing is a map insert.
    let gauge = |name: String, help: String, value: u64| {
        metrics::describe_gauge!(name.clone(), help);
        metrics::gauge!(name, "instance" => instance.clone()).set(value as f64);
    };
    let status = node.status().await;
    let stats = node.server.stats();
    // `p2p_peers` itself is the library's gauge, by `direction`
    // (p2p_core::layers::metrics::PEERS); its sum is go-ethereum's.
    gauge(
        "p2p_peers_inbound".into(),
        "Peers that dialed this node (go-ethereum's p2p/peers/inbound)".into(),
        status.peers_in as u64,
    );
    gauge(
        "p2p_peers_outbound".into(),
        "Peers this node dialed (go-ethereum's p2p/peers/outbound)".into(),
        status.peers_out as u64,
    );
    gauge(
        "p2p_dials".into(),
        "Dials started (go-ethereum's p2p/dials)".into(),
        stats.dials,
    );
    gauge(
        "p2p_dials_success".into(),
        "Dials that became peers (go-ethereum's p2p/dials/success)".into(),
        stats.dialed_peers,
    );
    gauge(
        "p2p_serves".into(),
        "Inbound connections accepted (go-ethereum's p2p/serves)".into(),
        stats.accepted,
    );
    gauge(
        "p2p_serves_success".into(),
        "Inbound connections that became peers (go-ethereum's p2p/serves/success)".into(),
        stats.accepted_peers,
    );
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    *errors
        .entry("p2p_dials_error_connection".to_owned())
        .or_default() += stats.dial_failures;
    for ended in &stats.ended_early {
        let side = match ended.direction {
            Direction::Outbound => "dials",
            Direction::Inbound => "serves",
        };
        *errors
            .entry(format!("p2p_{side}_error_{}", error_kind(ended)))
            .or_default() += ended.count;
    }
    for (name, count) in errors {
        let help = format!(
            "Connections that ended before their session, of this kind ({})",
            name.trim_start_matches("p2p_").replace('_', "/")
        );
        gauge(name, help, count);
    }
    gauge(
        "p2p_ingress".into(),
        "Payload bytes received from peers (go-ethereum's p2p/ingress)".into(),
        status.traffic.ingress_bytes,
    );
    gauge(
        "p2p_egress".into(),
        "Payload bytes sent to peers (go-ethereum's p2p/egress)".into(),
        status.traffic.egress_bytes,
    );
    for (message, traffic) in node.traffic.by_message() {
        // `eth/68` and code 3 make go-ethereum's `eth_68_0x03`.
        let name = format!(
            "{}_{:#04x}",
            message.protocol.replace(['/', '-', '.'], "_"),
            message.code
        );
        let what = format!("{} message {:#04x}", message.protocol, message.code);
        gauge(
            format!("p2p_ingress_{name}"),
            format!("Payload bytes received in {what}"),
            traffic.ingress_bytes,
        );
        gauge(
            format!("p2p_egress_{name}"),
            format!("Payload bytes sent in {what}"),
            traffic.egress_bytes,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ended(stage: &'static str, reason: &str) -> EndedEarly {
        EndedEarly {
            direction: Direction::Inbound,
            stage,
            reason: reason.to_owned(),
            count: 1,
        }
    }

    #[test]
    fn refusals_take_go_ethereums_error_kinds() {
        assert_eq!(
            error_kind(&ended("admission", "too_many_peers")),
            "saturated"
        );
        assert_eq!(
            error_kind(&ended("admission", "already_connected")),
            "known"
        );
        assert_eq!(error_kind(&ended("admission", "connected_to_self")), "self");
        assert_eq!(error_kind(&ended("checkpoint", "useless_peer")), "useless");
        assert_eq!(error_kind(&ended("setup", "timeout")), "rlpx_enc");
        assert_eq!(error_kind(&ended("hello", "Io")), "rlpx_proto");
        assert_eq!(error_kind(&ended("session", "Io")), "other");
    }
}
