//! Discovery v5 through the `discv5` crate, on 127.0.0.1: records carry the
//! devp2p identity, the RLPx port and the fork id; nodes that know one
//! bootnode find each other; the candidate stream yields dialable nodes.

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use futures::StreamExt;
use p2p_core::record::ForkId;
use p2p_core::NodeKey;
use p2p_discovery::v5::{self, Discv5Config, Discv5Service, Enr};
use tokio::time::{timeout, Instant};

const BOUND: Duration = Duration::from_secs(20);

async fn start(key: &NodeKey, tcp_port: u16, bootnodes: Vec<Enr>) -> Discv5Service {
    let config = Discv5Config {
        listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        tcp_port,
        fork_id: Some(ForkId {
            hash: [0xfc, 0x64, 0xec, 0x04],
            next: 1_150_000,
        }),
        bootnodes,
        ..Discv5Config::default()
    };
    Discv5Service::start(key, config).await.unwrap()
}

#[tokio::test]
async fn the_record_names_the_node_its_ports_and_fork() {
    let key = NodeKey::random();
    let node = start(&key, 30303, Vec::new()).await;
    let enr = node.local_enr();
    assert_eq!(v5::peer_id(&enr), Some(key.id()));
    assert_eq!(enr.ip4(), Some(Ipv4Addr::LOCALHOST));
    assert_eq!(enr.udp4(), Some(node.local_addr().port()));
    assert_eq!(enr.tcp4(), Some(30303));
    // The same `eth` entry a v4 record carries, readable by p2p-core.
    let as_v4: p2p_core::record::NodeRecord = enr.to_base64().parse().unwrap();
    assert_eq!(
        p2p_core::record::eth_fork_id(&as_v4),
        Some(ForkId {
            hash: [0xfc, 0x64, 0xec, 0x04],
            next: 1_150_000
        })
    );
    let enode = v5::enode(&enr).unwrap();
    assert_eq!((enode.id, enode.tcp), (key.id(), 30303));
    node.shutdown();
}

#[tokio::test]
async fn the_record_follows_the_fork_id_across_a_fork() {
    let node = start(&NodeKey::random(), 30303, Vec::new()).await;
    let before = node.local_enr();
    let fork_id = |enr: &Enr| {
        let record: p2p_core::record::NodeRecord = enr.to_base64().parse().unwrap();
        p2p_core::record::eth_fork_id(&record)
    };
    let current = fork_id(&before).unwrap();
    assert!(!node.set_fork_id(current).unwrap(), "same fork id");
    assert_eq!(node.local_enr().seq(), before.seq());
    let next = ForkId {
        hash: [0x97, 0xc2, 0xc3, 0x4c],
        next: 0,
    };
    assert!(node.set_fork_id(next).unwrap());
    let after = node.local_enr();
    assert_eq!(fork_id(&after), Some(next));
    assert_eq!(after.seq(), before.seq() + 1);
    assert_eq!(after.tcp4(), Some(30303), "the rest of the record is kept");
    node.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_knowing_one_bootnode_find_each_other() {
    let boot = start(&NodeKey::random(), 0, Vec::new()).await;
    let keys: Vec<NodeKey> = (0..4).map(|_| NodeKey::random()).collect();
    let mut nodes = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        nodes.push(start(key, 40000 + i as u16, vec![boot.local_enr()]).await);
    }
    // Each looks itself up (as a refresh does), which makes it known to
    // the bootnode and fills its table. A lookup whose packets were lost
    // (a loaded machine) is repeated until the bootnode holds every node.
    let deadline = Instant::now() + BOUND;
    loop {
        let known: HashSet<_> = boot.table_entries().iter().map(|e| e.node_id()).collect();
        let missing: Vec<&Discv5Service> = nodes
            .iter()
            .filter(|n| !known.contains(&n.local_enr().node_id()))
            .collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} nodes never reached the bootnode",
            missing.len()
        );
        for node in missing {
            let target = node.local_enr().node_id();
            let _ = timeout(BOUND, node.lookup(target)).await.unwrap();
        }
    }
    // Node 0 finds each other node by looking it up through the bootnode.
    for (key, node) in keys.iter().zip(&nodes).skip(1) {
        let target = node.local_enr().node_id();
        let found = timeout(BOUND, nodes[0].lookup(target))
            .await
            .unwrap()
            .unwrap();
        assert!(
            found.iter().any(|enr| v5::peer_id(enr) == Some(key.id())),
            "node {} not found",
            key.id()
        );
    }
    // Its candidate stream yields them as dialable nodes. (Not necessarily
    // all: a v5 FINDNODE asks for a few log distances from the answering
    // node, so in a network of five a random target can miss a node at an
    // unusual distance for many rounds.)
    let expected: HashSet<_> = keys[1..].iter().map(|k| k.id()).collect();
    let mut candidates = std::pin::pin!(nodes[0].random_nodes());
    let node = timeout(BOUND, candidates.next()).await.unwrap().unwrap();
    assert!(expected.contains(&node.id()), "{node:?}");
    assert_eq!(node.enode().ip, Ipv4Addr::LOCALHOST);
    assert!(node.enode().tcp >= 40000);
    for node in nodes {
        node.shutdown();
    }
    boot.shutdown();
}

/// What `devp2p discv5 ping` and `resolve` rely on: a ping tells the
/// node's current sequence number, a record request fetches the current
/// record even when we hold an older one, and a silent node is an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_answers_pings_and_hands_out_its_current_record() {
    let asker = start(&NodeKey::random(), 0, Vec::new()).await;
    let node = start(&NodeKey::random(), 30303, Vec::new()).await;
    let old = node.local_enr();
    let seq = timeout(BOUND, asker.ping(old.clone()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seq, old.seq());
    node.set_fork_id(ForkId {
        hash: [0x97, 0xc2, 0xc3, 0x4c],
        next: 0,
    })
    .unwrap();
    let current = timeout(BOUND, asker.request_enr(old.clone()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(current.node_id(), old.node_id());
    assert_eq!(current.seq(), old.seq() + 1);
    assert_eq!(current, node.local_enr());
    node.shutdown();
    let silent = timeout(BOUND, asker.request_enr(old)).await.unwrap();
    assert!(silent.is_err(), "{silent:?}");
    asker.shutdown();
}
