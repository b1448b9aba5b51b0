//! Whole servers on loopback for the tests: a server offering a greeting
//! capability per name, and a bare RLPx client that joins one and reports how
//! it was refused.

// Each test binary that includes this module uses a different part of it.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use p2p_core::base::{Hello, BASE_PROTOCOL_VERSION, DISCONNECT, HELLO, PING};
use p2p_core::config::Config;
use p2p_core::network::{Network, TcpNetwork};
use p2p_core::protocol::{CapabilityConn, Protocol, ProtocolFuture};
use p2p_core::server::SessionStack;
use p2p_core::session::SessionService;
use p2p_core::{
    Capability, DisconnectReason, Enode, Msg, MsgConn, NodeKey, Peer, PeerEvent, Server,
};
use p2p_rlpx::{RlpxStream, RlpxTransport};
use tokio::net::TcpStream;
use tokio::sync::{broadcast, mpsc};
use tokio::time::timeout;
use tower::layer::util::Identity;

pub const WAIT: Duration = Duration::from_secs(10);

/// On connect, sends code 0 with its name; answers code 0 with code 1
/// carrying the same payload; reports every message it gets.
pub struct Greeter {
    pub name: &'static str,
    pub seen: mpsc::UnboundedSender<(&'static str, Msg)>,
}

impl Protocol for Greeter {
    fn capability(&self) -> Capability {
        Capability::new(self.name, 1)
    }

    fn message_count(&self) -> u64 {
        2
    }

    fn run(&self, _peer: Peer, mut conn: CapabilityConn) -> ProtocolFuture {
        let (name, seen) = (self.name, self.seen.clone());
        Box::pin(async move {
            conn.send(Msg::new(0, name.as_bytes().to_vec())).await?;
            while let Some(msg) = conn.recv().await {
                let _ = seen.send((name, msg.clone()));
                if msg.code == 0 {
                    conn.send(Msg::new(1, msg.payload)).await?;
                }
            }
            Ok(())
        })
    }
}

pub struct Node {
    pub server: Server,
    pub key: NodeKey,
    pub seen: mpsc::UnboundedReceiver<(&'static str, Msg)>,
    pub events: broadcast::Receiver<PeerEvent>,
}

pub async fn node(
    caps: &[&'static str],
    configure: impl FnOnce(p2p_core::config::ConfigBuilder) -> p2p_core::config::ConfigBuilder,
) -> Node {
    node_with(TcpNetwork::new(), caps, configure, Identity::new()).await
}

/// A server on `network` offering a [`Greeter`] per name in `caps`, its
/// sessions run through `session_layer`.
pub async fn node_with<N, L>(
    network: N,
    caps: &[&'static str],
    configure: impl FnOnce(p2p_core::config::ConfigBuilder) -> p2p_core::config::ConfigBuilder,
    session_layer: L,
) -> Node
where
    N: Network,
    N::Io: tokio::io::AsyncRead + tokio::io::AsyncWrite,
    L: tower::Layer<SessionService>,
    L::Service: SessionStack<RlpxStream<N::Io>>,
{
    let (seen_tx, seen) = mpsc::unbounded_channel();
    let protocols: Vec<Arc<dyn Protocol>> = caps
        .iter()
        .map(|name| {
            Arc::new(Greeter {
                name,
                seen: seen_tx.clone(),
            }) as Arc<dyn Protocol>
        })
        .collect();
    start(network, protocols, seen, configure, session_layer).await
}

/// A server over TCP offering `protocols` of the test's own; its `seen`
/// stays empty.
pub async fn node_offering(
    protocols: Vec<Arc<dyn Protocol>>,
    configure: impl FnOnce(p2p_core::config::ConfigBuilder) -> p2p_core::config::ConfigBuilder,
) -> Node {
    let (_, seen) = mpsc::unbounded_channel();
    start(
        TcpNetwork::new(),
        protocols,
        seen,
        configure,
        Identity::new(),
    )
    .await
}

async fn start<N, L>(
    network: N,
    protocols: Vec<Arc<dyn Protocol>>,
    seen: mpsc::UnboundedReceiver<(&'static str, Msg)>,
    configure: impl FnOnce(p2p_core::config::ConfigBuilder) -> p2p_core::config::ConfigBuilder,
    session_layer: L,
) -> Node
where
    N: Network,
    N::Io: tokio::io::AsyncRead + tokio::io::AsyncWrite,
    L: tower::Layer<SessionService>,
    L::Service: SessionStack<RlpxStream<N::Io>>,
{
    let key = NodeKey::random();
    let config = configure(
        Config::builder().listen_addr("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap()),
    )
    .build()
    .unwrap();
    let server = Server::builder(key.clone())
        .config(config)
        .network(network)
        .protocols(protocols)
        .encryption(RlpxTransport::new)
        .session_layer(session_layer)
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

pub fn enode(node: &Node) -> Enode {
    node.server.local_enode().expect("listening")
}

pub async fn next_event(node: &mut Node) -> PeerEvent {
    timeout(WAIT, node.events.recv())
        .await
        .expect("event in time")
        .unwrap()
}

/// The Hello of a bare client `id` announcing `caps` (each at version 1).
pub fn hello(id: p2p_core::PeerId, caps: &[&str]) -> Hello {
    Hello {
        protocol_version: BASE_PROTOCOL_VERSION,
        client_id: "bare client".into(),
        capabilities: caps.iter().map(|c| Capability::new(*c, 1)).collect(),
        listen_port: 0,
        id,
    }
}

/// How the server refused a bare client: the reason, and whether its Hello
/// came first.
#[derive(Debug, PartialEq, Eq)]
pub struct Refusal {
    pub reason: DisconnectReason,
    pub after_hello: bool,
}

/// Connects as a bare RLPx client with `key`, announcing `caps`, and keeps
/// the connection (answering Pings); returns it with how the server refused
/// it, if it did within two seconds.
pub async fn join(
    addr: std::net::SocketAddr,
    server: p2p_core::PeerId,
    key: &NodeKey,
    caps: &[&str],
) -> (RlpxStream<TcpStream>, Option<Refusal>) {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut conn = RlpxStream::connect(tcp, key, server).await.unwrap();
    let hello = hello(key.id(), caps);
    conn.send(hello.to_msg()).await.unwrap();
    let mut after_hello = false;
    let verdict = loop {
        match timeout(Duration::from_secs(2), conn.next()).await {
            Err(_) => break None,
            Ok(Some(Ok(msg))) if msg.code == DISCONNECT => {
                let reason = DisconnectReason::decode_payload(&msg.payload).unwrap();
                break Some(Refusal {
                    reason,
                    after_hello,
                });
            }
            Ok(Some(Ok(msg))) if msg.code == HELLO => {
                assert!(!after_hello, "one Hello");
                let theirs = Hello::decode_payload(&msg.payload).unwrap();
                conn.set_snappy(hello.snappy_with(&theirs));
                after_hello = true;
            }
            Ok(Some(Ok(msg))) if msg.code == PING => {
                conn.send(p2p_core::base::pong_msg()).await.unwrap();
            }
            Ok(Some(Ok(_))) => {}
            Ok(other) => panic!("closed without Disconnect: {other:?}"),
        }
    };
    (conn, verdict)
}
