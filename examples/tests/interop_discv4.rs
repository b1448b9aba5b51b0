//! Discovery v4 against `@ethereumjs/devp2p`'s DPT (version pinned in
//! `interop/ethereumjs/package-lock.json`), driven by
//! `interop/ethereumjs/dpt-peer.mjs`: bonding in both directions, and nodes
//! of each implementation finding nodes of the other through it.
//!
//! DPT answers FindNode without a bond, sends FindNode right after the Pong
//! that answers its first Ping (before we have its endpoint proof, so our
//! strict node ignores that one), and pings back at a Ping's `from` endpoint.

mod common;

use std::net::Ipv4Addr;
use std::time::Duration;

use common::{discv4_node, JsPeer, WAIT};
use p2p_core::{NodeKey, PeerId};
use p2p_discovery::v4::service::Discv4;
use p2p_discovery::v4::wire::{Endpoint, NodeRecordV4};
use serde_json::Value;
use tokio::time::{timeout, Instant};

struct Dpt {
    js: JsPeer,
    node: NodeRecordV4,
}

impl Dpt {
    async fn start() -> Dpt {
        let key = NodeKey::random();
        let secret = hex::encode(key.secret_bytes());
        let mut js = JsPeer::spawn_script("dpt-peer.mjs", &["--key", &secret]);
        let listening = js.expect("listening").await;
        assert_eq!(listening["id"], key.id().to_string());
        let port = listening["port"].as_u64().expect("a port") as u16;
        Dpt {
            js,
            node: NodeRecordV4 {
                endpoint: Endpoint::new(Ipv4Addr::LOCALHOST, port, 0),
                id: key.id(),
            },
        }
    }

    /// Asks DPT to bootstrap from `node`: ping it (unless known), then send it
    /// a FindNode.
    async fn bootstrap(&mut self, node: &Discv4) {
        let addr = node.local_addr();
        self.js
            .command(&format!(
                "bootstrap {} {} {}",
                node.local_id(),
                addr.ip(),
                addr.port()
            ))
            .await;
    }

    /// Waits until DPT has added `id` to its table.
    async fn expect_added(&mut self, id: PeerId) -> Value {
        loop {
            let added = self.js.expect("peer:added").await;
            if added["id"] == id.to_string() {
                return added;
            }
        }
    }
}

#[tokio::test]
async fn we_bond_with_ethereumjs_and_it_bonds_with_us() {
    let mut dpt = Dpt::start().await;
    let node = discv4_node(Vec::new()).await;
    let pong = timeout(WAIT, node.ping(dpt.node)).await.unwrap().unwrap();
    assert_eq!(pong.id, dpt.node.id);
    // It saw us as 127.0.0.1 at our port.
    assert_eq!(pong.to.udp_port, node.local_addr().port());
    // Our Ping's `from` led it back to us: it pinged us and we answered.
    let added = dpt.expect_added(node.local_id()).await;
    assert_eq!(added["udpPort"], node.local_addr().port());
    common::until_in_table(&node, dpt.node.id, WAIT).await;
    // It answers our FindNode; its table holds only us, whom we leave out.
    let found = timeout(WAIT, node.find_node(dpt.node, PeerId(rand::random())))
        .await
        .unwrap()
        .unwrap();
    assert!(found.is_empty(), "{found:?}");
    dpt.js.quit().await;
    node.shutdown().await;
}

#[tokio::test]
async fn ethereumjs_bootstrapping_from_us_ends_up_bonded() {
    let mut dpt = Dpt::start().await;
    let node = discv4_node(Vec::new()).await;
    dpt.bootstrap(&node).await;
    // Its ping got our Pong (it adds us), our ping-back got its Pong (we add
    // it): bonded both ways, though its first FindNode came too early for us.
    dpt.expect_added(node.local_id()).await;
    common::until_in_table(&node, dpt.node.id, WAIT).await;
    dpt.js.quit().await;
    node.shutdown().await;
}

#[tokio::test]
async fn nodes_of_each_implementation_find_each_other_through_the_other() {
    // Two of ours that know only the ethereumjs node find each other.
    let mut dpt = Dpt::start().await;
    let a = discv4_node(vec![dpt.node]).await;
    let b = discv4_node(vec![dpt.node]).await;
    // Their startup refresh bonds them with it.
    for id in [a.local_id(), b.local_id()] {
        let deadline = Instant::now() + WAIT;
        loop {
            dpt.js.command("peers").await;
            let peers = dpt.js.expect("peers").await;
            let known = peers["peers"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["id"] == id.to_string());
            if known {
                break;
            }
            assert!(Instant::now() < deadline, "ethereumjs never added {id}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let found = timeout(WAIT, a.lookup(b.local_id()))
        .await
        .unwrap()
        .unwrap();
    assert!(found.iter().any(|n| n.id == b.local_id()), "{found:?}");
    let found = timeout(WAIT, b.lookup(a.local_id()))
        .await
        .unwrap()
        .unwrap();
    assert!(found.iter().any(|n| n.id == a.local_id()), "{found:?}");

    // A second ethereumjs node that knows only `a` finds `b` through it.
    let mut dpt2 = Dpt::start().await;
    dpt2.bootstrap(&a).await;
    dpt2.expect_added(a.local_id()).await;
    // Its first FindNode raced our ping-back; once bonded, ask again.
    common::until_in_table(&a, dpt2.node.id, WAIT).await;
    dpt2.bootstrap(&a).await;
    dpt2.expect_added(b.local_id()).await;

    dpt.js.quit().await;
    dpt2.js.quit().await;
    a.shutdown().await;
    b.shutdown().await;
}
