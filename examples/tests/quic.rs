//! RLPx over TCP and QUIC in one server: one peer set for both transports,
//! so a node connected over one is a duplicate over the other and the peer
//! limits count both; and a network of TCP-only, QUIC-only and dual nodes
//! that find each other through discovery v5, each dialing the transport a
//! record offers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use p2p_core::base::{DisconnectReason, DISCONNECT};
use p2p_core::config::Config;
use p2p_core::dual::{DualNetwork, DualStage};
use p2p_core::network::{Network, TcpNetwork};
use p2p_core::record::{Endpoint, LocalRecord};
use p2p_core::{Connecting, NodeAddr, NodeKey, PeerEvent, PeerId, Protocol, Server};
use p2p_discovery::v5::{Discv5Config, Discv5Service};
use ping_pong_plugin::{PingPong, PingPongConfig};
use quic_transport::{QuicConfig, QuicNetwork};
use tokio::sync::broadcast;
use tower::ServiceExt;

const WAIT: Duration = Duration::from_secs(10);

struct Node {
    server: Server,
    key: NodeKey,
    events: broadcast::Receiver<PeerEvent>,
    /// The QUIC listener's address, when the node speaks QUIC.
    quic: Option<SocketAddr>,
}

#[derive(Clone, Copy, PartialEq)]
enum Transports {
    Tcp,
    Quic,
    Both,
}

fn plugin() -> Vec<Arc<dyn Protocol>> {
    vec![Arc::new(PingPong::new(PingPongConfig::default()))]
}

async fn node(transports: Transports, max_peers: usize) -> Node {
    let key = NodeKey::random();
    let config = Config::builder()
        .listen_addr("127.0.0.1:0".parse::<SocketAddr>().unwrap())
        .max_peers(max_peers)
        // Half the slots inbound, so a limit of 2 leaves one for an
        // inbound peer.
        .dial_ratio(2)
        .build()
        .unwrap();
    let builder = Server::builder(key.clone())
        .config(config)
        .protocols(plugin());
    let quic = quic_transport::transport(QuicConfig::default()).unwrap();
    let (server, quic) = match transports {
        Transports::Tcp => (
            builder
                .encryption(p2p_rlpx::RlpxTransport::new)
                .start()
                .await
                .unwrap(),
            None,
        ),
        Transports::Quic => {
            let server = builder.transport(quic).start().await.unwrap();
            let addr = server.node_info().listen_addr;
            (server, addr)
        }
        Transports::Both => {
            let handle: Arc<std::sync::Mutex<Option<DualNetwork<TcpNetwork, QuicNetwork>>>> =
                Arc::default();
            let kept = handle.clone();
            let server = builder
                .transport(move |key| {
                    let (quic_network, quic_stage) = quic(key.clone());
                    let network = DualNetwork::new(TcpNetwork::new(), quic_network);
                    *kept.lock().unwrap() = Some(network.clone());
                    (
                        network,
                        DualStage::new(p2p_rlpx::RlpxTransport::new(key), quic_stage),
                    )
                })
                .start()
                .await
                .unwrap();
            let quic = handle
                .lock()
                .unwrap()
                .as_ref()
                .unwrap()
                .second_listen_addr();
            (server, quic)
        }
    };
    let events = server.subscribe_events();
    Node {
        server,
        key,
        events,
        quic,
    }
}

impl Node {
    fn id(&self) -> PeerId {
        self.key.id()
    }

    /// The node as its record describes it: the TCP port when it has a TCP
    /// listener, the QUIC port when it has a QUIC one.
    fn record(&self) -> NodeAddr {
        let tcp = self
            .server
            .local_enode()
            .filter(|_| self.quic != self.server.node_info().listen_addr);
        let endpoint = Endpoint {
            ip: Some("127.0.0.1".parse().unwrap()),
            tcp: tcp.map(|enode| enode.tcp),
            quic: self.quic.map(|addr| addr.port()),
            ..Endpoint::default()
        };
        let record = LocalRecord::new(self.key.clone(), endpoint, 1).unwrap();
        NodeAddr::from_record(record.record().clone()).unwrap()
    }

    async fn added(&mut self, id: PeerId) {
        tokio::time::timeout(WAIT, async {
            loop {
                match self.events.recv().await {
                    Ok(PeerEvent::Added(info)) if info.id == id => return,
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(err) => panic!("events ended: {err}"),
                }
            }
        })
        .await
        .expect("the peer within 10 s")
    }

    async fn peer_ids(&self) -> Vec<PeerId> {
        let mut ids: Vec<PeerId> = self.server.peers().await.iter().map(|p| p.id).collect();
        ids.sort();
        ids
    }
}

/// Dials `target`'s QUIC port as `key` with the QUIC transport alone, and
/// returns the first message the target sends after the handshake.
async fn first_message_over_quic(key: NodeKey, target: &Node) -> p2p_core::Msg {
    let (network, stage) = quic_transport::transport(QuicConfig::default()).unwrap()(Arc::new(key));
    let addr = target.quic.unwrap();
    let node = NodeAddr::from(p2p_core::Enode::new(target.id(), addr.ip(), 0, 0));
    let io = network.connect(&node, addr).await.unwrap();
    let mut conn = stage
        .oneshot(Connecting::outbound(io, addr, target.id()))
        .await
        .unwrap()
        .conn;
    tokio::time::timeout(WAIT, conn.next())
        .await
        .expect("a message within 10 s")
        .expect("a message")
        .unwrap()
}

fn disconnect_reason(msg: &p2p_core::Msg) -> DisconnectReason {
    assert_eq!(msg.code, DISCONNECT, "expected a Disconnect, got {msg:?}");
    DisconnectReason::decode_payload(&msg.payload).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_server_takes_peers_over_tcp_and_quic() {
    let mut dual = node(Transports::Both, 10).await;
    let mut tcp = node(Transports::Tcp, 10).await;
    let mut quic = node(Transports::Quic, 10).await;
    // Each dials the record of the dual node, which offers both ports; each
    // takes the one its transport reads.
    tcp.server.add_peer(dual.record()).await;
    quic.server.add_peer(dual.record()).await;
    tcp.added(dual.id()).await;
    quic.added(dual.id()).await;
    // Both sessions reach the dual node in either order: wait for the set.
    let mut expected = vec![tcp.id(), quic.id()];
    expected.sort();
    tokio::time::timeout(WAIT, async {
        while dual.peer_ids().await != expected {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("both peers within 10 s");

    // And the dual node dials both kinds: a QUIC-only record over QUIC.
    let mut other = node(Transports::Quic, 10).await;
    dual.server.add_peer(other.record()).await;
    other.added(dual.id()).await;
    dual.added(other.id()).await;
    assert_eq!(dual.server.peer_count().await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_connected_over_tcp_is_a_duplicate_over_quic() {
    let mut dual = node(Transports::Both, 10).await;
    let mut tcp = node(Transports::Tcp, 10).await;
    tcp.server.add_peer(dual.record()).await;
    tcp.added(dual.id()).await;
    dual.added(tcp.id()).await;

    // The same node key comes again over QUIC: refused at the first
    // checkpoint, before any Hello.
    let first = first_message_over_quic(tcp.key.clone(), &dual).await;
    assert_eq!(
        disconnect_reason(&first),
        DisconnectReason::AlreadyConnected
    );
    assert_eq!(dual.peer_ids().await, vec![tcp.id()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_peer_limit_counts_both_transports() {
    // One inbound slot.
    let mut dual = node(Transports::Both, 2).await;
    let mut tcp = node(Transports::Tcp, 10).await;
    tcp.server.add_peer(dual.record()).await;
    tcp.added(dual.id()).await;
    dual.added(tcp.id()).await;

    // The inbound slot is taken over TCP; a newcomer over QUIC is refused.
    let first = first_message_over_quic(NodeKey::random(), &dual).await;
    assert_eq!(disconnect_reason(&first), DisconnectReason::TooManyPeers);
    assert_eq!(dual.peer_ids().await, vec![tcp.id()]);
}

/// Discovery v5 for `node`, announcing its TCP and QUIC ports and knowing
/// only `boot`; the server dials what it finds.
async fn discovering(node: &Node, boot: &Discv5Service) -> Discv5Service {
    let listen = node.server.node_info().listen_addr.unwrap();
    let tcp_port = if node.quic == Some(listen) {
        0
    } else {
        listen.port()
    };
    let config = Discv5Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        tcp_port,
        quic_port: node.quic.map(|addr| addr.port()),
        bootnodes: vec![boot.local_enr()],
        ..Discv5Config::default()
    };
    let v5 = Discv5Service::start(&node.key, config).await.unwrap();
    // Known to the bootnode at once, as a table refresh would make it.
    v5.lookup(v5.local_enr().node_id()).await.unwrap();
    node.server.add_candidate_source(v5.random_nodes());
    v5
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_network_converges_through_discovery() {
    let boot = Discv5Service::start(
        &NodeKey::random(),
        Discv5Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..Discv5Config::default()
        },
    )
    .await
    .unwrap();
    let kinds = [
        Transports::Tcp,
        Transports::Tcp,
        Transports::Quic,
        Transports::Quic,
        Transports::Both,
        Transports::Both,
    ];
    let mut nodes = Vec::new();
    let mut services = Vec::new();
    for kind in kinds {
        let node = node(kind, 10).await;
        services.push(discovering(&node, &boot).await);
        nodes.push(node);
    }
    // Two nodes connect when they share a transport: TCP-only and
    // QUIC-only nodes never, each of them with the dual nodes.
    let shares =
        |a: Transports, b: Transports| a == b || a == Transports::Both || b == Transports::Both;
    let expected: Vec<Vec<PeerId>> = kinds
        .iter()
        .enumerate()
        .map(|(i, &kind)| {
            let mut ids: Vec<PeerId> = kinds
                .iter()
                .enumerate()
                .filter(|&(j, &other)| j != i && shares(kind, other))
                .map(|(j, _)| nodes[j].id())
                .collect();
            ids.sort();
            ids
        })
        .collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut actual = Vec::new();
        for node in &nodes {
            actual.push(node.peer_ids().await);
        }
        if actual == expected {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "peers per node after 30 s: {:?}, expected {:?}",
            actual.iter().map(Vec::len).collect::<Vec<_>>(),
            expected.iter().map(Vec::len).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for node in &nodes {
        node.server.stop().await;
    }
    for service in services {
        service.shutdown();
    }
    boot.shutdown();
}
