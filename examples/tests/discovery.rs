//! Servers that know only a bootnode find each other through discovery v4 and
//! connect on their own: no static peers, nothing but the candidate stream
//! of their discovery service feeding their dial schedulers.

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use p2p_core::config::Config;
use p2p_core::{NodeKey, PeerId, Protocol, Server};
use p2p_discovery::v4::service::{Discv4, Discv4Config};
use p2p_discovery::v5::{Discv5Config, Discv5Service};
use p2p_rlpx::RlpxTransport;
use tokio::time::{timeout, Instant};

/// Bound for the whole network to connect.
const BOUND: Duration = Duration::from_secs(30);

fn localhost() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
}

struct DiscoveringNode {
    server: Server,
    discovery: Discv4,
}

/// A server on 127.0.0.1 without discovery of its own.
async fn plain_server() -> (Server, NodeKey) {
    let key = NodeKey::random();
    let config = Config::builder().listen_addr(localhost()).build().unwrap();
    let protocols: Vec<Arc<dyn Protocol>> = examples::default_protocols();
    let server = Server::builder(key.clone())
        .config(config)
        .protocols(protocols)
        .encryption(RlpxTransport::new)
        .start()
        .await
        .unwrap();
    (server, key)
}

async fn v5_for(key: &NodeKey, server: &Server, boot: &Discv5Service) -> Discv5Service {
    let config = Discv5Config {
        listen: localhost(),
        tcp_port: server.local_enode().unwrap().tcp,
        bootnodes: vec![boot.local_enr()],
        ..Discv5Config::default()
    };
    Discv5Service::start(key, config).await.unwrap()
}

/// A server on 127.0.0.1 with discovery v4 on the same address, knowing
/// only `bootnode`, its dial scheduler fed from discovery alone.
async fn discovering_node(bootnode: &Discv4) -> DiscoveringNode {
    let (server, key) = plain_server().await;
    let tcp_port = server.local_enode().unwrap().tcp;
    let discovery = Discv4::bind(
        key,
        localhost(),
        Discv4Config {
            tcp_port,
            bootnodes: vec![bootnode.local_node()],
            ..Discv4Config::default()
        },
    )
    .await
    .unwrap();
    server.add_candidate_source(discovery.random_nodes());
    DiscoveringNode { server, discovery }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_knowing_only_a_bootnode_find_and_connect_to_each_other() {
    // The bootnode runs discovery only: it is no RLPx peer of anyone.
    let bootnode = Discv4::bind(NodeKey::random(), localhost(), Discv4Config::default())
        .await
        .unwrap();
    let mut nodes = Vec::new();
    for _ in 0..5 {
        nodes.push(discovering_node(&bootnode).await);
    }
    let ids: HashSet<PeerId> = nodes.iter().map(|n| n.server.node_info().id).collect();
    // Each node dials the others it finds (max 50 peers, a third dialed),
    // until every node is connected to every other.
    let deadline = Instant::now() + BOUND;
    loop {
        let mut counts = Vec::new();
        for node in &nodes {
            let peers = node.server.peers().await;
            // Every peer is one of ours, found through the bootnode.
            assert!(peers.iter().all(|p| ids.contains(&p.id)));
            counts.push(peers.len());
        }
        if counts.iter().all(|&c| c == nodes.len() - 1) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "peers per node after {BOUND:?}: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for node in nodes {
        timeout(BOUND, node.server.stop()).await.unwrap();
        node.discovery.shutdown().await;
    }
    bootnode.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_v4_and_v5_feed_one_server_side_by_side() {
    // Two separate networks: two servers found only through v4, two only
    // through v5. A fifth server runs both and must reach all four.
    let boot4 = Discv4::bind(NodeKey::random(), localhost(), Discv4Config::default())
        .await
        .unwrap();
    let boot5 = Discv5Service::start(
        &NodeKey::random(),
        Discv5Config {
            listen: localhost(),
            ..Discv5Config::default()
        },
    )
    .await
    .unwrap();
    let mut v4_nodes = Vec::new();
    for _ in 0..2 {
        v4_nodes.push(discovering_node(&boot4).await);
    }
    let mut v5_nodes = Vec::new();
    for _ in 0..2 {
        let (server, key) = plain_server().await;
        let v5 = v5_for(&key, &server, &boot5).await;
        // Make itself known to the bootnode, as a refresh would, and dial
        // what it finds, as every node does.
        v5.lookup(v5.local_enr().node_id()).await.unwrap();
        server.add_candidate_source(v5.random_nodes());
        v5_nodes.push((server, v5));
    }
    let (bridge, key) = plain_server().await;
    let bridge_v5 = v5_for(&key, &bridge, &boot5).await;
    let bridge_v4 = Discv4::bind(
        key,
        localhost(),
        Discv4Config {
            tcp_port: bridge.local_enode().unwrap().tcp,
            bootnodes: vec![boot4.local_node()],
            ..Discv4Config::default()
        },
    )
    .await
    .unwrap();
    bridge.add_candidate_source(bridge_v4.random_nodes());
    bridge.add_candidate_source(bridge_v5.random_nodes());
    let mut expected: Vec<PeerId> = v4_nodes
        .iter()
        .map(|n| n.server.node_info().id)
        .chain(v5_nodes.iter().map(|(s, _)| s.node_info().id))
        .collect();
    expected.sort();
    let deadline = Instant::now() + BOUND;
    loop {
        let mut peers: Vec<PeerId> = bridge.peers().await.iter().map(|p| p.id).collect();
        peers.sort();
        if peers == expected {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "bridge has {} of {} peers; missing v4 nodes: {}, v5 nodes: {}",
            peers.len(),
            expected.len(),
            v4_nodes
                .iter()
                .filter(|n| !peers.contains(&n.server.node_info().id))
                .count(),
            v5_nodes
                .iter()
                .filter(|(s, _)| !peers.contains(&s.node_info().id))
                .count(),
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    timeout(BOUND, bridge.stop()).await.unwrap();
    bridge_v4.shutdown().await;
    bridge_v5.shutdown();
    for node in v4_nodes {
        timeout(BOUND, node.server.stop()).await.unwrap();
        node.discovery.shutdown().await;
    }
    for (server, v5) in v5_nodes {
        timeout(BOUND, server.stop()).await.unwrap();
        v5.shutdown();
    }
    boot4.shutdown().await;
    boot5.shutdown();
}
