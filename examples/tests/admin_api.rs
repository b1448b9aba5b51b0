//! The node's admin API as go-ethereum's own console sees it: `geth attach`
//! (a client nobody here wrote, which finds the namespaces through
//! `rpc_modules`) reads `admin.nodeInfo` and `admin.peers`, adds a peer over
//! WebSocket, and gets errors, not a dead node, for bad calls. The peer
//! event subscription and malformed requests are checked over raw sockets.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use examples::node::admin_api::AdminApi;
use examples::node::devnet;
use examples::node::{ChainSetup, DiscoverySettings, NodeSettings, RunningNode};
use p2p_core::config::Config;
use p2p_core::NodeKey;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};

mod common;
use common::geth::{go_ethereum, run, GoEthereum, WAIT};

/// A node on the devnet's chain, on loopback, without discovery.
async fn node(name: &str) -> RunningNode {
    let key = NodeKey::random();
    let (ping_pong, rtts) = examples::ping_pong();
    let config = Config {
        private_key: Some(key.clone()),
        listen_addr: Some(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))),
        client_id: name.to_owned(),
        ..Config::default()
    };
    let chain = ChainSetup::genesis(&devnet::genesis()).unwrap();
    chain.chain.grow(5, 1);
    RunningNode::start(NodeSettings {
        key,
        config,
        chain,
        discovery: DiscoverySettings::default(),
        quic_port: None,
        protocols: vec![ping_pong],
        rtts: Some(rtts),
    })
    .await
    .unwrap()
}

/// What `geth attach --exec js url` printed (it must succeed).
async fn attach(ge: &GoEthereum, url: &str, js: &str) -> String {
    let mut cmd = ge.tool("geth");
    cmd.args(["attach", "--exec", js, url]);
    let (ok, out) = run(cmd, WAIT).await;
    assert!(ok, "geth attach {url} --exec {js} failed:\n{out}");
    out.trim().to_owned()
}

/// `attach` for a JSON value (`JSON.stringify` of `expr`).
async fn attach_json(ge: &GoEthereum, url: &str, expr: &str) -> Value {
    let out = attach(ge, url, &format!("JSON.stringify({expr})")).await;
    // The console prints the string quoted.
    let text: String = serde_json::from_str(&out).unwrap_or_else(|_| panic!("{out}"));
    serde_json::from_str(&text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn geth_attach_reads_node_info_and_peers_and_adds_a_peer() {
    let ge = go_ethereum();
    let a = node("node-a/v1").await;
    let b = node("node-b/v1").await;
    let api = AdminApi::serve("127.0.0.1:0".parse().unwrap(), a.handle(), None)
        .await
        .unwrap();
    let http = format!("http://{}", api.local_addr());
    let ws = format!("ws://{}", api.local_addr());

    let info = attach_json(&ge, &http, "admin.nodeInfo").await;
    let a_enode = a.enode().unwrap().to_string();
    assert_eq!(info["enode"], a_enode.as_str());
    assert_eq!(info["name"], "node-a/v1");
    assert_eq!(info["id"], hex::encode(a.server.node_info().id.node_id().0));
    assert_eq!(info["protocols"]["eth"]["network"], devnet::CHAIN_ID);
    assert!(info["enr"].as_str().unwrap().starts_with("enr:"));
    assert_eq!(
        attach(&ge, &http, "web3.version.node").await,
        "\"node-a/v1\""
    );
    assert_eq!(attach(&ge, &http, "eth.blockNumber").await, "5");
    assert_eq!(attach(&ge, &http, "net.peerCount").await, "0");

    // A peer added over WebSocket is dialed and listed.
    let b_enode = b.enode().unwrap().to_string();
    let added = attach(&ge, &ws, &format!("admin.addPeer({b_enode:?})")).await;
    assert_eq!(added, "true");
    let deadline = Instant::now() + WAIT;
    while a.server.peer_count().await == 0 {
        assert!(Instant::now() < deadline, "the added peer never connected");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let peers = attach_json(&ge, &http, "admin.peers").await;
    let peer = &peers[0];
    assert_eq!(peer["id"], hex::encode(b.server.node_info().id.node_id().0));
    assert_eq!(peer["name"], "node-b/v1");
    assert_eq!(peer["network"]["inbound"], false);
    assert_eq!(peer["network"]["static"], true);
    assert!(peer["caps"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c == "eth/69"));
    assert_eq!(attach(&ge, &http, "net.peerCount").await, "1");

    // A bad URL is an error the console shows; the node goes on answering.
    let mut cmd = ge.tool("geth");
    cmd.args(["attach", "--exec", "admin.addPeer(\"garbage\")", &http]);
    let (_, out) = run(cmd, WAIT).await;
    assert!(out.contains("invalid enode"), "{out}");
    assert_eq!(attach(&ge, &http, "net.listening").await, "true");

    api.stop().await;
    a.stop().await;
    b.stop().await;
}

/// Sends `request` over a fresh connection to `addr` and returns the whole
/// response (the server closes after it: `Connection: close`).
async fn http(addr: SocketAddr, body: &str) -> String {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    timeout(WAIT, tcp.read_to_string(&mut response))
        .await
        .unwrap()
        .unwrap();
    response
}

#[tokio::test]
async fn bad_requests_get_json_rpc_errors() {
    let a = node("node-a/v1").await;
    let api = AdminApi::serve("127.0.0.1:0".parse().unwrap(), a.handle(), None)
        .await
        .unwrap();
    let addr = api.local_addr();
    for (body, code) in [
        ("{not json", -32700),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"admin_nope","params":[]}"#,
            -32601,
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"admin_addPeer","params":[]}"#,
            -32602,
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"admin_addPeer","params":["enode://00@1.2.3.4:1"]}"#,
            -32602,
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"admin_removeTrustedPeer","params":[7]}"#,
            -32602,
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"eth_getBlockByNumber","params":["0xzz",false]}"#,
            -32602,
        ),
    ] {
        let response = http(addr, body).await;
        let json: Value = serde_json::from_str(response.split("\r\n\r\n").nth(1).unwrap()).unwrap();
        assert_eq!(json["error"]["code"], code, "{body}: {response}");
    }
    // And it still answers.
    let response = http(
        addr,
        r#"{"jsonrpc":"2.0","id":1,"method":"net_listening","params":[]}"#,
    )
    .await;
    assert!(response.ends_with(r#""result":true}"#), "{response}");
    api.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_events_arrive_over_a_websocket_subscription() {
    use jsonrpsee::core::client::SubscriptionClientT;
    use jsonrpsee::rpc_params;
    use jsonrpsee::ws_client::WsClientBuilder;

    let a = node("node-a/v1").await;
    let b = node("node-b/v1").await;
    let api = AdminApi::serve("127.0.0.1:0".parse().unwrap(), a.handle(), None)
        .await
        .unwrap();
    let client = WsClientBuilder::default()
        .build(format!("ws://{}", api.local_addr()))
        .await
        .unwrap();
    // An unknown subscription is refused.
    assert!(client
        .subscribe::<Value, _>(
            "admin_subscribe",
            rpc_params!["blocks"],
            "admin_unsubscribe"
        )
        .await
        .is_err());
    let mut events = client
        .subscribe::<Value, _>(
            "admin_subscribe",
            rpc_params!["peerEvents"],
            "admin_unsubscribe",
        )
        .await
        .unwrap();
    let b_id = hex::encode(b.server.node_info().id.node_id().0);
    a.add_static_peer(b.enode().unwrap()).await;
    let added = timeout(WAIT, events.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(added["type"], "add");
    assert_eq!(added["peer"], b_id.as_str());
    a.remove_peer(b.server.node_info().id).await;
    let dropped = timeout(WAIT, events.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(dropped["type"], "drop");
    assert_eq!(dropped["peer"], b_id.as_str());
    assert!(
        dropped["error"]
            .as_str()
            .unwrap()
            .contains("disconnect requested"),
        "{dropped}"
    );
    drop(events);
    api.stop().await;
    a.stop().await;
    b.stop().await;
}
