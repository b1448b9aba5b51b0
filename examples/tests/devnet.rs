//! The devnet the node runs by default: nodes in one process on 127.0.0.1
//! that find each other through discovery from one bootnode, connect, and
//! catch up with the first node's chain over eth.

use std::time::Duration;

use examples::node::devnet::{Devnet, DevnetSettings, INITIAL_BLOCKS};
use tokio::time::Instant;

/// Long enough for discovery to walk, handshakes to finish and blocks to be
/// fetched on a loaded two-core machine; the test ends as soon as all of it
/// happened.
const BOUND: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devnet_nodes_find_each_other_and_reach_the_first_nodes_head() {
    let devnet = Devnet::start(DevnetSettings {
        nodes: 8,
        max_peers: 4,
        block_interval: Duration::from_secs(2),
    })
    .await
    .unwrap();
    let deadline = Instant::now() + BOUND;
    loop {
        let statuses = devnet.statuses().await;
        let connected = statuses.iter().all(|s| s.peers() >= 2);
        // Past the first node's starting height: every node fetched blocks
        // the first node added after they all started.
        let synced = statuses.iter().all(|s| s.head > INITIAL_BLOCKS);
        // Some node beyond the bootnode's own peers: found by discovery, not
        // only through the bootnode's table entry.
        let discovered = statuses.iter().all(|s| s.table_v4.unwrap_or(0) >= 2);
        if connected && synced && discovered {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "devnet did not converge: {statuses:#?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // The nodes behind fetched their blocks from peers, and the records they
    // announce carry the devnet's fork id.
    assert!((1..8).all(|i| devnet.imported(i) > 0));
    for node in &devnet.nodes {
        let enr: p2p_core::record::NodeRecord = node.enr().await.unwrap().parse().unwrap();
        let spec = &node.chain.spec;
        assert_eq!(
            p2p_core::record::eth_fork_id(&enr),
            Some(spec.forks().fork_id(0, 0))
        );
    }
    devnet.stop().await;
}
