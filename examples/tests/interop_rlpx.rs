//! Interoperability with an implementation nobody here wrote:
//! `@ethereumjs/devp2p` (version pinned in `interop/ethereumjs/package.json`),
//! driven by `interop/ethereumjs/rlpx-peer.mjs` over stdin and stdout.
//!
//! Both directions: we dial it, and it dials us. Each completes the ECIES
//! handshake and the Hello exchange with snappy on, exchanges Ping and Pong
//! both ways, and ends with a Disconnect whose reason the other side reads.
//!
//! Needs Node.js and `npm ci` in `interop/ethereumjs` (the test script and
//! `.ci/run` do it).

use std::sync::Arc;

use futures::{SinkExt, StreamExt};
use p2p_core::base::{self, BASE_PROTOCOL_VERSION, DISCONNECT, PING, PONG};
use p2p_core::{
    exchange_hello, Capability, Connecting, DisconnectReason, Hello, Msg, MsgConn, NodeKey, PeerId,
};
use p2p_rlpx::{RlpxStream, RlpxTransport};
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use tower::Service;

mod common;
use common::{JsPeer, WAIT};

/// The capability both sides advertise: ethereumjs drops peers with no shared
/// capability, and its `eth` would demand a Status within 5 s.
fn demo_cap() -> Capability {
    Capability::new("demo", 1)
}

fn our_hello(key: &NodeKey, port: u16) -> Hello {
    Hello {
        protocol_version: BASE_PROTOCOL_VERSION,
        client_id: "devp2p-rs/interop-test".into(),
        capabilities: vec![demo_cap()],
        listen_port: port,
        id: key.id(),
    }
}

/// The next message that is not a Ping (Pings are answered, as a live peer must).
async fn next_non_ping<C: MsgConn>(conn: &mut C) -> Msg
where
    C::ConnError: std::fmt::Debug,
{
    loop {
        let msg = timeout(WAIT, conn.next())
            .await
            .expect("message in time")
            .expect("connection open")
            .expect("valid frame");
        if msg.code != PING {
            return msg;
        }
        conn.send(base::pong_msg()).await.unwrap();
    }
}

/// Checks what ethereumjs made of our Hello and what we made of its Hello.
fn check_hellos(js_hello: &Value, ours: &NodeKey, theirs: &Hello, js_id: PeerId) {
    assert_eq!(js_hello["id"], ours.id().to_string());
    assert_eq!(js_hello["clientId"], "devp2p-rs/interop-test");
    assert_eq!(js_hello["protocolVersion"], 5);
    assert_eq!(js_hello["capabilities"], serde_json::json!([["demo", 1]]));
    assert_eq!(theirs.id, js_id);
    assert_eq!(theirs.protocol_version, 5);
    assert!(
        theirs.client_id.starts_with("ethereumjs-devp2p"),
        "{}",
        theirs.client_id
    );
    assert_eq!(theirs.capabilities, vec![demo_cap()]);
}

/// Ping both ways: ours is answered with Pong, theirs is seen and answered.
async fn ping_both_ways(js: &mut JsPeer, conn: &mut RlpxStream<TcpStream>) {
    conn.send(base::ping_msg()).await.unwrap();
    js.expect("ping").await;
    assert_eq!(next_non_ping(conn).await.code, PONG);

    js.command("ping").await;
    let msg = timeout(WAIT, conn.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(msg.code, PING);
    conn.send(base::pong_msg()).await.unwrap();
    js.expect("pong").await;
}

#[tokio::test]
async fn we_dial_ethereumjs() {
    let js_key = NodeKey::random();
    let (mut js, port) = JsPeer::listening(&js_key).await;

    let key = NodeKey::random();
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut transport = RlpxTransport::new(Arc::new(key.clone()));
    let mut conn = transport
        .call(Connecting::outbound(tcp, addr, js_key.id()))
        .await
        .expect("ECIES handshake with ethereumjs")
        .conn;
    let theirs = timeout(WAIT, exchange_hello(&mut conn, &our_hello(&key, 0)))
        .await
        .unwrap()
        .expect("hello exchange with ethereumjs");
    let js_hello = js.expect("hello").await;
    check_hellos(&js_hello, &key, &theirs, js_key.id());
    assert!(conn.codec_mut().snappy(), "snappy agreed");
    assert_eq!(js.expect("snappy").await["on"], true);

    ping_both_ways(&mut js, &mut conn).await;

    // Our Disconnect (compressed, as a list) is read by ethereumjs.
    conn.send(DisconnectReason::TooManyPeers.to_msg())
        .await
        .unwrap();
    // A peer closes its side after saying goodbye; ethereumjs reports the
    // disconnect when the socket closes.
    conn.close().await.unwrap();
    drop(conn);
    let bye = js.expect("disconnect").await;
    assert_eq!(bye["reason"], 0x04);
    assert_eq!(bye["byUs"], false);
    js.quit().await;
}

#[tokio::test]
async fn ethereumjs_dials_us() {
    let key = NodeKey::random();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let enode = format!("enode://{}@127.0.0.1:{}", key.id(), addr.port());

    let js_key = NodeKey::random();
    let mut js = JsPeer::dialing(&js_key, &enode).await;

    let (tcp, remote) = timeout(WAIT, listener.accept()).await.unwrap().unwrap();
    let mut transport = RlpxTransport::new(Arc::new(key.clone()));
    let mut conn = transport
        .call(Connecting::inbound(tcp, remote))
        .await
        .expect("ECIES handshake from ethereumjs")
        .conn;
    assert_eq!(conn.remote_id(), js_key.id());
    let theirs = timeout(
        WAIT,
        exchange_hello(&mut conn, &our_hello(&key, addr.port())),
    )
    .await
    .unwrap()
    .expect("hello exchange with ethereumjs");
    let js_hello = js.expect("hello").await;
    check_hellos(&js_hello, &key, &theirs, js_key.id());
    assert_eq!(js_hello["port"], addr.port());
    assert!(conn.codec_mut().snappy(), "snappy agreed");

    ping_both_ways(&mut js, &mut conn).await;

    // Their Disconnect: a bare integer, uncompressed although snappy is on.
    js.command("disconnect 5").await;
    let bye = next_non_ping(&mut conn).await;
    assert_eq!(bye.code, DISCONNECT);
    assert_eq!(
        DisconnectReason::decode_payload(&bye.payload),
        Ok(DisconnectReason::AlreadyConnected)
    );
    drop(conn);
    let seen = js.expect("disconnect").await;
    assert_eq!(seen["reason"], 0x05);
    assert_eq!(seen["byUs"], true);
    js.quit().await;
}
