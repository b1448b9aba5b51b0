//! Our whole `Server` (RLPx transport, session, capability plugins) against
//! an implementation nobody here wrote: `@ethereumjs/devp2p`, driven by
//! `interop/ethereumjs/rlpx-peer.mjs --cap demo/1`.
//!
//! Both directions: it dials us, and we dial it. In each, the peers agree on
//! `demo/1` (codes 16 and 17 on the wire, snappy on), our plugin's greeting
//! reaches ethereumjs, ethereumjs's request reaches our plugin, and our reply
//! reaches ethereumjs, payloads intact; then the session ends with a
//! Disconnect whose reason the other side reads.
//!
//! Needs Node.js and `npm ci --prefix interop/ethereumjs`.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use common::{JsPeer, WAIT};
use p2p_core::capability::SharedCapability;
use p2p_core::config::Config;
use p2p_core::protocol::{CapabilityConn, Protocol, ProtocolFuture};
use p2p_core::{
    Capability, Direction, DisconnectReason, Enode, Msg, NodeKey, Peer, PeerEvent, PeerId,
    PeerInfo, Server,
};
use p2p_rlpx::RlpxTransport;
use rlp::RlpStream;
use tokio::sync::{broadcast, mpsc};
use tokio::time::timeout;

/// The capability both sides run; ethereumjs's `eth` would demand a Status
/// within 5 s, its `demo` (defined by the harness) has two codes and no timer.
fn demo_cap() -> Capability {
    Capability::new("demo", 1)
}

/// What our plugin sends as code 0 when a session starts: an RLP list with a
/// string, an integer and a long repetitive string (so snappy really
/// compresses, with back-references, not just literals).
fn greeting() -> Vec<u8> {
    let mut s = RlpStream::new_list(3);
    s.append(&"hello from devp2p-rs");
    s.append(&42u64);
    s.append(&[0xabu8; 300].as_slice());
    s.out().to_vec()
}

/// What ethereumjs sends as code 0: a nested list, also compressible.
fn request() -> Vec<u8> {
    let mut s = RlpStream::new_list(3);
    s.append(&"ping from ethereumjs");
    s.begin_list(3);
    s.append(&1u8).append(&2u8).append(&3u8);
    s.append(&b"0123456789".repeat(40).as_slice());
    s.out().to_vec()
}

/// `demo/1`: on start, sends code 0 with [`greeting`]; answers code 0 with
/// code 1 carrying the same payload; reports every message it gets.
struct Demo {
    seen: mpsc::UnboundedSender<(PeerId, Msg)>,
}

impl Protocol for Demo {
    fn capability(&self) -> Capability {
        demo_cap()
    }

    fn message_count(&self) -> u64 {
        2
    }

    fn run(&self, peer: Peer, mut conn: CapabilityConn) -> ProtocolFuture {
        let seen = self.seen.clone();
        Box::pin(async move {
            conn.send(Msg::new(0, greeting())).await?;
            while let Some(msg) = conn.recv().await {
                let _ = seen.send((peer.id(), msg.clone()));
                if msg.code == 0 {
                    conn.send(Msg::new(1, msg.payload)).await?;
                }
            }
            Ok(())
        })
    }
}

struct Node {
    server: Server,
    key: NodeKey,
    seen: mpsc::UnboundedReceiver<(PeerId, Msg)>,
    events: broadcast::Receiver<PeerEvent>,
}

async fn node() -> Node {
    let key = NodeKey::random();
    let (seen_tx, seen) = mpsc::unbounded_channel();
    let protocols: Vec<Arc<dyn Protocol>> = vec![Arc::new(Demo { seen: seen_tx })];
    let config = Config::builder()
        .client_id("devp2p-rs/interop-server-test")
        .listen_addr(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .build()
        .unwrap();
    let server = Server::builder(key.clone())
        .config(config)
        .protocols(protocols)
        .encryption(RlpxTransport::new)
        .start()
        .await
        .unwrap();
    let events = server.subscribe_events();
    Node {
        server,
        key,
        seen,
        events,
    }
}

async fn next_event(node: &mut Node) -> PeerEvent {
    timeout(WAIT, node.events.recv())
        .await
        .expect("peer event in time")
        .unwrap()
}

async fn expect_added(node: &mut Node) -> Arc<PeerInfo> {
    match next_event(node).await {
        PeerEvent::Added(info) => info,
        other => panic!("expected Added, got {other:?}"),
    }
}

async fn expect_dropped(node: &mut Node) -> (PeerId, DisconnectReason, bool) {
    match next_event(node).await {
        PeerEvent::Dropped { id, end } => (
            id,
            end.reason.expect("a session ends with a reason"),
            end.by_remote(),
        ),
        other => panic!("expected Dropped, got {other:?}"),
    }
}

async fn next_seen(node: &mut Node) -> (PeerId, Msg) {
    timeout(WAIT, node.seen.recv())
        .await
        .expect("plugin got a message in time")
        .expect("plugin channel open")
}

/// What both sides made of each other's Hello.
fn check_peer(info: &PeerInfo, js_hello: &serde_json::Value, ours: &Node, js_id: PeerId) {
    assert_eq!(info.id, js_id);
    assert_eq!(info.capabilities, vec![demo_cap()]);
    assert!(
        info.client_id.starts_with("ethereumjs-devp2p"),
        "{}",
        info.client_id
    );
    assert_eq!(
        *info.shared,
        [SharedCapability {
            capability: demo_cap(),
            offset: 16,
            length: 2,
        }]
    );
    assert_eq!(js_hello["id"], ours.key.id().to_string());
    assert_eq!(js_hello["clientId"], "devp2p-rs/interop-server-test");
    assert_eq!(js_hello["protocolVersion"], 5);
    assert_eq!(js_hello["capabilities"], serde_json::json!([["demo", 1]]));
    let our_port = ours.server.local_enode().unwrap().tcp;
    assert_eq!(js_hello["port"], our_port, "our Hello's listen port");
}

/// The demo exchange, once both sides report the session: our greeting
/// reaches ethereumjs, its request reaches our plugin, our echo reaches it.
async fn exchange_messages(ours: &mut Node, js: &mut JsPeer, js_id: PeerId) {
    assert_eq!(js.expect_message().await, (0, greeting()), "our greeting");

    js.command(&format!("send 0 {}", hex::encode(request())))
        .await;
    let (from, msg) = next_seen(ours).await;
    assert_eq!(from, js_id);
    assert_eq!(msg, Msg::new(0, request()), "ethereumjs's request");

    assert_eq!(js.expect_message().await, (1, request()), "our echo");
    assert!(
        ours.seen.try_recv().is_err(),
        "our plugin got only the request"
    );
}

#[tokio::test]
async fn ethereumjs_dials_our_server_and_talks_demo() {
    let mut ours = node().await;
    let enode = ours.server.local_enode().expect("listening");

    let js_key = NodeKey::random();
    let mut js = JsPeer::dialing(&js_key, &enode.to_string()).await;

    let info = expect_added(&mut ours).await;
    let js_hello = js.expect("hello").await;
    check_peer(&info, &js_hello, &ours, js_key.id());
    assert_eq!(info.direction, Direction::Inbound);
    assert_eq!(info.listen_port, 0, "ethereumjs dials without listening");
    assert_eq!(js.expect("snappy").await["on"], true);

    exchange_messages(&mut ours, &mut js, js_key.id()).await;

    // Their Disconnect (a bare, uncompressed integer) is read by our server.
    js.command("disconnect 4").await;
    assert_eq!(
        expect_dropped(&mut ours).await,
        (js_key.id(), DisconnectReason::TooManyPeers, true)
    );
    let bye = js.expect("disconnect").await;
    assert_eq!(bye["reason"], 0x04);
    assert_eq!(bye["byUs"], true);
    assert!(
        ours.seen.try_recv().is_err(),
        "nothing more reached the plugin"
    );

    js.quit().await;
    timeout(WAIT, ours.server.stop())
        .await
        .expect("stop returns");
}

#[tokio::test]
async fn our_server_dials_ethereumjs_and_talks_demo() {
    let js_key = NodeKey::random();
    let (mut js, port) = JsPeer::listening(&js_key).await;

    let mut ours = node().await;
    ours.server
        .add_peer(Enode::new(
            js_key.id(),
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            port,
            0,
        ))
        .await;

    let info = expect_added(&mut ours).await;
    let js_hello = js.expect("hello").await;
    check_peer(&info, &js_hello, &ours, js_key.id());
    assert_eq!(info.direction, Direction::Outbound);
    assert_eq!(info.listen_port, port, "ethereumjs's Hello listen port");
    assert_eq!(js.expect("snappy").await["on"], true);

    exchange_messages(&mut ours, &mut js, js_key.id()).await;

    // A graceful stop says ClientQuitting, which ethereumjs reads.
    timeout(WAIT, ours.server.stop())
        .await
        .expect("stop returns");
    let bye = js.expect("disconnect").await;
    assert_eq!(bye["reason"], 8);
    assert_eq!(bye["byUs"], false);
    assert!(
        ours.seen.try_recv().is_err(),
        "nothing more reached the plugin"
    );

    // Our own subscribers should hear that the peer went, as go-ethereum's
    // runPeer posts PeerEventTypeDrop for every peer, also during Stop.
    assert_eq!(
        expect_dropped(&mut ours).await,
        (js_key.id(), DisconnectReason::ClientQuitting, false)
    );

    js.quit().await;
}
