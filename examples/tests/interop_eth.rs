//! The eth capability against `@ethereumjs/devp2p`'s own eth/68
//! implementation (`interop/ethereumjs/eth-peer.mjs`, a node whose chain is
//! mainnet's genesis block): the Status handshake completes both ways,
//! GetBlockHeaders is answered both ways, and a Status with a wrong genesis
//! is refused by us with the reason ethereumjs itself uses.
//!
//! Needs Node.js and `npm ci --prefix interop/ethereumjs`.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::JsPeer;
use p2p_core::config::Config;
use p2p_core::{Enode, NodeKey, Server};
use p2p_protocols::eth::chain::MemoryChain;
use p2p_protocols::eth::handler::EthHandler;
use p2p_protocols::eth::handshake::{ChainSpec, StatusError};
use p2p_protocols::eth::protocol::{Eth, EthConfig, EthEvent, EthPeer};
use p2p_protocols::eth::types::HashOrNumber;
use p2p_protocols::eth::EthVersion;
use p2p_protocols::forkid::mainnet;
use p2p_rlpx::RlpxTransport;
use serde_json::Value;
use tokio::sync::broadcast;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(15);
const MAINNET_GENESIS: &str = "d4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3";

struct Node {
    server: Server,
    eth: Eth,
    chain: Arc<MemoryChain>,
    events: broadcast::Receiver<EthEvent>,
}

/// One of our nodes on mainnet's genesis with `blocks` made-up blocks on it
/// (all before Homestead, so its fork id is Frontier's, as ethereumjs's).
async fn node(blocks: u64) -> Node {
    let key = NodeKey::random();
    let chain = Arc::new(MemoryChain::new(MemoryChain::mainnet_genesis()));
    chain.grow(blocks, 2);
    let eth = Eth::new(
        EthConfig::new(ChainSpec::new(1, mainnet::petersburg())),
        chain.clone(),
    );
    let events = eth.subscribe();
    let config = Config::builder()
        .listen_addr("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap())
        .build()
        .unwrap();
    let server = Server::builder(key)
        .config(config)
        .protocols(eth.protocols())
        .encryption(RlpxTransport::new)
        .start()
        .await
        .unwrap();
    Node {
        server,
        eth,
        chain,
        events,
    }
}

async fn next_event(node: &mut Node) -> EthEvent {
    timeout(WAIT, node.events.recv())
        .await
        .expect("eth event in time")
        .unwrap()
}

async fn ready(node: &mut Node) -> EthPeer {
    match next_event(node).await {
        EthEvent::Ready(peer) => peer,
        other => panic!("expected Ready, got {other:?}"),
    }
}

fn js_key() -> (NodeKey, String) {
    let key = NodeKey::random();
    let secret = hex::encode(key.secret_bytes());
    (key, secret)
}

/// Checks the Status ethereumjs reports having accepted from `node`.
fn check_our_status(status: &Value, node: &Node) {
    assert_eq!(status["version"], 68, "{status}");
    assert_eq!(status["networkId"], 1, "{status}");
    assert_eq!(status["genesisHash"], MAINNET_GENESIS, "{status}");
    assert_eq!(status["forkId"]["hash"], "fc64ec04", "{status}");
    assert_eq!(status["forkNext"], "1150000", "{status}");
    let head = node.chain.head();
    assert_eq!(status["bestHash"], hex::encode(head.hash), "{status}");
    assert_eq!(status["td"], head.total_difficulty.to_string(), "{status}");
}

/// Asks ethereumjs for headers from `node` and checks they are `node`'s.
async fn js_fetches_headers(js: &mut JsPeer, node: &Node, from: u64, amount: u64) {
    js.command(&format!("get-headers {from} {amount}")).await;
    let headers = js.expect("headers").await;
    let got = headers["headers"].as_array().expect("a list");
    assert_eq!(got.len() as u64, amount, "{headers}");
    for (i, header) in got.iter().enumerate() {
        let ours = node.chain.header_by_number(from + i as u64).unwrap();
        assert_eq!(header["number"], from + i as u64);
        assert_eq!(header["hash"], hex::encode(ours.hash()));
    }
}

/// Asks ethereumjs for its headers: it has only the genesis block.
async fn we_fetch_the_genesis(peer: &EthPeer) {
    let headers = peer
        .get_block_headers(HashOrNumber::Number(0), 4, 0, false)
        .await
        .unwrap();
    assert_eq!(headers.len(), 1);
    assert_eq!(hex::encode(headers[0].hash()), MAINNET_GENESIS);
    assert_eq!(headers[0], MemoryChain::mainnet_genesis());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_of_our_nodes_and_ethereumjs_exchange_status_and_headers() {
    let mut a = node(300).await;
    let mut b = node(0).await;
    let a_enode = a.server.local_enode().unwrap();

    // ethereumjs dials A.
    let (js_id, secret) = js_key();
    let mut js = JsPeer::spawn_script(
        "eth-peer.mjs",
        &["--key", &secret, "--dial", &a_enode.to_string()],
    );
    let js_seen_by_a = ready(&mut a).await;
    assert_eq!(js_seen_by_a.id(), js_id.id());
    assert_eq!(js_seen_by_a.version(), EthVersion::Eth68);
    assert_eq!(hex::encode(js_seen_by_a.status().genesis), MAINNET_GENESIS);
    check_our_status(&js.expect("status").await, &a);
    we_fetch_the_genesis(&js_seen_by_a).await;
    js_fetches_headers(&mut js, &a, 0, 3).await;
    js_fetches_headers(&mut js, &a, 298, 3).await;

    // B dials A: both ours, so eth/71; B syncs A's headers.
    b.server.add_peer(a_enode).await;
    let a_seen_by_b = ready(&mut b).await;
    assert_eq!(a_seen_by_b.version(), EthVersion::Eth71);
    let headers = a_seen_by_b
        .get_block_headers(HashOrNumber::Number(0), 301, 0, false)
        .await
        .unwrap();
    assert_eq!(headers.len(), 301);
    for pair in headers.windows(2) {
        assert_eq!(pair[1].parent_hash, pair[0].hash());
    }
    assert_eq!(headers[0], MemoryChain::mainnet_genesis());
    assert_eq!(a.eth.peers().len(), 2);

    // ethereumjs is still served after B joined.
    js_fetches_headers(&mut js, &a, 100, 2).await;
    js.quit().await;
    a.server.stop().await;
    b.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn we_dial_ethereumjs_and_both_sides_are_served() {
    let mut a = node(10).await;
    let (js_id, secret) = js_key();
    let mut js = JsPeer::spawn_script("eth-peer.mjs", &["--key", &secret, "--listen", "0"]);
    let listening = js.expect("listening").await;
    let port = listening["port"].as_u64().unwrap();
    let enode = format!("enode://{}@127.0.0.1:{port}", js_id.id());
    a.server.add_peer(enode.parse::<Enode>().unwrap()).await;
    let js_seen_by_a = ready(&mut a).await;
    assert_eq!(js_seen_by_a.id(), js_id.id());
    check_our_status(&js.expect("status").await, &a);
    we_fetch_the_genesis(&js_seen_by_a).await;
    js_fetches_headers(&mut js, &a, 5, 6).await;
    js.quit().await;
    a.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_with_a_wrong_genesis_is_refused_with_subprotocol_error() {
    let mut a = node(0).await;
    let (_, secret) = js_key();
    let wrong = "00".repeat(31) + "01";
    let mut js = JsPeer::spawn_script(
        "eth-peer.mjs",
        &[
            "--key",
            &secret,
            "--dial",
            &a.server.local_enode().unwrap().to_string(),
            "--genesis",
            &wrong,
        ],
    );
    match next_event(&mut a).await {
        EthEvent::HandshakeFailed {
            error: StatusError::GenesisMismatch { theirs, .. },
            ..
        } => assert_eq!(hex::encode(theirs), wrong),
        other => panic!("expected a genesis mismatch, got {other:?}"),
    }
    // Both sides refuse at about the same moment (ethereumjs checks our
    // genesis against its wrong one too), and each ignores frames after its
    // own Disconnect; either way the session ends with SubprotocolError.
    let event = loop {
        let line = js.next_event().await;
        if line["event"] == "disconnect" {
            break line;
        }
    };
    assert_eq!(event["reason"], 16, "{event}");
    assert!(a.eth.peers().is_empty());
    js.quit().await;
    a.server.stop().await;
}
