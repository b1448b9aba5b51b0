//! Whole servers over RLPx on loopback: they find each other as static peers,
//! run two capabilities at once in both directions, and refuse peers with the
//! reason the checkpoint gives, as the remote side sees it.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use p2p_core::config::Config;
use p2p_core::network::TcpNetwork;
use p2p_core::{
    Capability, ConnectionEnd, DisconnectReason, Enode, Msg, NodeKey, PeerEvent, Server,
};
use p2p_rlpx::{RlpxStream, RlpxTransport};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::timeout;
use tower::layer::util::Identity;

mod servers;

use servers::*;

#[tokio::test]
async fn two_servers_connect_and_talk_on_two_capabilities_both_ways() {
    let mut a = node(&["alpha", "beta"], |c| c).await;
    let mut b = node(&["alpha", "beta"], |c| c).await;
    a.server.add_peer(enode(&b)).await;

    let PeerEvent::Added(info) = next_event(&mut a).await else {
        panic!("expected Added")
    };
    assert_eq!(info.id, b.key.id());
    assert_eq!(info.shared.len(), 2);
    let PeerEvent::Added(info) = next_event(&mut b).await else {
        panic!("expected Added")
    };
    assert_eq!(info.id, a.key.id());

    // Each side greets on both capabilities and answers the other's greeting.
    for node in [&mut a, &mut b] {
        let mut got = Vec::new();
        for _ in 0..4 {
            got.push(timeout(WAIT, node.seen.recv()).await.unwrap().unwrap());
        }
        got.sort_by(|x, y| (x.0, x.1.code).cmp(&(y.0, y.1.code)));
        assert_eq!(got[0], ("alpha", Msg::new(0, b"alpha".to_vec())));
        assert_eq!(got[1], ("alpha", Msg::new(1, b"alpha".to_vec())));
        assert_eq!(got[2], ("beta", Msg::new(0, b"beta".to_vec())));
        assert_eq!(got[3], ("beta", Msg::new(1, b"beta".to_vec())));
    }
    assert_eq!(a.server.peer_count().await, 1);
    assert_eq!(b.server.peers().await[0].id, a.key.id());
    let (a_stats, b_stats) = (a.server.stats(), b.server.stats());
    assert_eq!((a_stats.dials, a_stats.dialed_peers), (1, 1));
    assert_eq!((a_stats.accepted, a_stats.accepted_peers), (0, 0));
    assert_eq!((b_stats.accepted, b_stats.accepted_peers), (1, 1));
    assert_eq!(b_stats.dials, 0);

    // A graceful stop says ClientQuitting to every peer and waits for them.
    timeout(WAIT, a.server.stop()).await.expect("stop returns");
    let PeerEvent::Dropped { id, end } = next_event(&mut b).await else {
        panic!("expected Dropped")
    };
    assert_eq!(
        (id, end.reason, end.by_remote()),
        (a.key.id(), Some(DisconnectReason::ClientQuitting), true)
    );
    assert_eq!(a.server.peer_count().await, 0);
    b.server.stop().await;
}

/// Dials `node` as a bare RLPx client announcing `caps`, and returns how
/// the server refused it (None if it admits it).
async fn probe(node: &Node, key: &NodeKey, caps: &[&str]) -> Option<Refusal> {
    let (_conn, verdict) = join(enode(node).tcp_addr(), node.key.id(), key, caps).await;
    verdict
}

/// A refusal before the server's Hello: the first checkpoint.
fn before_hello(reason: DisconnectReason) -> Option<Refusal> {
    Some(Refusal {
        reason,
        after_hello: false,
    })
}

/// A refusal after the server's Hello: the second checkpoint.
fn after_hello(reason: DisconnectReason) -> Option<Refusal> {
    Some(Refusal {
        reason,
        after_hello: true,
    })
}

#[tokio::test]
async fn the_checkpoint_refuses_with_the_right_reason() {
    // Two slots: one for a dialed peer, one for an inbound one.
    let a = node(&["alpha"], |c| c.max_peers(2)).await;

    // Ourselves: refused right after the encryption handshake.
    assert_eq!(
        probe(&a, &a.key, &["alpha"]).await,
        before_hello(DisconnectReason::ConnectedToSelf)
    );
    // No capability in common: only the Hello can tell.
    assert_eq!(
        probe(&a, &NodeKey::random(), &["gamma"]).await,
        after_hello(DisconnectReason::UselessPeer)
    );

    // The inbound slot taken by a first peer; then a duplicate and a stranger.
    let first = NodeKey::random();
    let (held, verdict) = join(enode(&a).tcp_addr(), a.key.id(), &first, &["alpha"]).await;
    assert_eq!(verdict, None, "the first peer is admitted");
    assert_eq!(a.server.peer_count().await, 1);
    assert_eq!(
        probe(&a, &first, &["alpha"]).await,
        before_hello(DisconnectReason::AlreadyConnected)
    );
    assert_eq!(
        probe(&a, &NodeKey::random(), &["alpha"]).await,
        before_hello(DisconnectReason::TooManyPeers)
    );

    // A trusted peer gets in although the server is full.
    let friend = NodeKey::random();
    a.server.add_trusted_peer(friend.id()).await;
    assert_eq!(probe(&a, &friend, &["alpha"]).await, None);
    assert_eq!(a.server.peer_count().await, 2);

    // The server's counts say the same: six accepted, two peers, and the
    // four others by reason (each counted as its connection task ends).
    let mut ended = Vec::new();
    for _ in 0..100 {
        let stats = a.server.stats();
        assert_eq!((stats.accepted, stats.accepted_peers), (6, 2));
        ended = stats
            .ended_early
            .iter()
            .map(|e| (e.reason.as_str().to_owned(), e.count))
            .collect::<Vec<_>>();
        if ended.iter().map(|e| e.1).sum::<u64>() == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    ended.sort();
    assert_eq!(
        ended,
        [
            ("already_connected".to_owned(), 1),
            ("connected_to_self".to_owned(), 1),
            ("too_many_peers".to_owned(), 1),
            ("useless_peer".to_owned(), 1),
        ]
    );
    drop(held);
    a.server.stop().await;
}

#[tokio::test]
async fn removing_a_static_peer_disconnects_it_with_requested() {
    let mut a = node(&["alpha"], |c| c).await;
    let mut b = node(&["alpha"], |c| c).await;
    a.server.add_peer(enode(&b)).await;
    assert!(matches!(next_event(&mut a).await, PeerEvent::Added(_)));
    assert!(matches!(next_event(&mut b).await, PeerEvent::Added(_)));
    a.server.remove_peer(b.key.id()).await;
    let PeerEvent::Dropped { end, .. } = next_event(&mut b).await else {
        panic!("expected Dropped")
    };
    assert_eq!(
        (end.reason, end.by_remote()),
        (Some(DisconnectReason::Requested), true)
    );
    a.server.stop().await;
    b.server.stop().await;
}

#[tokio::test]
async fn a_config_naming_another_key_is_refused() {
    let config = Config::builder()
        .private_key(NodeKey::random())
        .listen_addr(None)
        .build()
        .unwrap();
    let err = Server::builder(NodeKey::random())
        .config(config)
        .encryption(RlpxTransport::new)
        .start()
        .await
        .err()
        .expect("refused");
    assert!(
        matches!(err, p2p_core::ServerError::KeyMismatch { .. }),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_peers_holds_under_100_concurrent_inbound_attempts() {
    // 10 peers: 3 dialed slots, 7 inbound ones.
    let a = node(&["alpha"], |c| c.max_peers(10)).await;
    let addr = enode(&a).tcp_addr();
    let id = a.key.id();
    let attempts: Vec<_> = (0..100)
        .map(|_| tokio::spawn(async move { join(addr, id, &NodeKey::random(), &["alpha"]).await }))
        .collect();
    let mut admitted = Vec::new();
    let mut refused = 0;
    for attempt in attempts {
        match timeout(Duration::from_secs(60), attempt)
            .await
            .unwrap()
            .unwrap()
        {
            (conn, None) => admitted.push(conn),
            (_, refusal) => {
                // Refused at the first checkpoint: no Hello spent on them.
                assert_eq!(refusal, before_hello(DisconnectReason::TooManyPeers));
                refused += 1;
            }
        }
    }
    assert_eq!(admitted.len(), 7);
    assert_eq!(refused, 93);
    assert_eq!(a.server.peer_count().await, 7);
    a.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_leaves_no_task_behind() {
    let metrics = tokio::runtime::Handle::current().metrics();
    let before = metrics.num_alive_tasks();
    let mut a = node(&["alpha", "beta"], |c| c).await;
    let mut b = node(&["alpha", "beta"], |c| c).await;
    a.server.add_peer(enode(&b)).await;
    assert!(matches!(next_event(&mut a).await, PeerEvent::Added(_)));
    assert!(matches!(next_event(&mut b).await, PeerEvent::Added(_)));
    assert!(metrics.num_alive_tasks() > before);
    timeout(WAIT, a.server.stop()).await.unwrap();
    timeout(WAIT, b.server.stop()).await.unwrap();
    // A task that has returned may take a moment to be reaped by the runtime.
    timeout(Duration::from_secs(1), async {
        while metrics.num_alive_tasks() != before {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("every task the servers spawned has ended");
}

#[tokio::test]
async fn ten_servers_on_an_in_memory_network_form_a_ring() {
    let network = p2p_core::network::MemNetwork::new();
    let mut nodes = Vec::new();
    for _ in 0..10 {
        nodes.push(node_with(network.clone(), &["alpha"], |c| c, Identity::new()).await);
    }
    // Each dials the next: every node ends up with its two neighbours.
    for i in 0..nodes.len() {
        let next = enode(&nodes[(i + 1) % nodes.len()]);
        nodes[i].server.add_peer(next).await;
    }
    for node in &mut nodes {
        for _ in 0..2 {
            assert!(matches!(next_event(node).await, PeerEvent::Added(_)));
        }
        // A greeting from each neighbour and a reply to each of ours.
        for _ in 0..4 {
            timeout(WAIT, node.seen.recv()).await.unwrap().unwrap();
        }
        assert_eq!(node.server.peer_count().await, 2);
    }
    for node in &nodes {
        timeout(WAIT, node.server.stop()).await.unwrap();
    }
}

#[tokio::test]
async fn candidates_from_a_source_are_dialed() {
    let mut a = node(&["alpha"], |c| c).await;
    let mut b = node(&["alpha"], |c| c).await;
    let mut c = node(&["alpha"], |c| c).await;
    // A source that yields two nodes and then stays open, like discovery.
    let found = vec![enode(&b), enode(&c)];
    let source = futures::stream::iter(found).chain(futures::stream::pending());
    a.server.add_candidate_source(source);
    let mut added = Vec::new();
    for _ in 0..2 {
        let PeerEvent::Added(info) = next_event(&mut a).await else {
            panic!("expected Added")
        };
        assert_eq!(info.direction, p2p_core::Direction::Outbound);
        added.push(info.id);
    }
    added.sort();
    let mut expected = vec![b.key.id(), c.key.id()];
    expected.sort();
    assert_eq!(added, expected);
    assert!(matches!(next_event(&mut b).await, PeerEvent::Added(_)));
    assert!(matches!(next_event(&mut c).await, PeerEvent::Added(_)));
    // The source never ends; stop must not wait for it.
    timeout(WAIT, a.server.stop()).await.expect("stop returns");
    b.server.stop().await;
    c.server.stop().await;
}

#[tokio::test]
async fn candidate_sources_are_read_only_while_slots_are_free() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    // One dialed slot (max 3 peers, a third dialed).
    let mut a = node(&["alpha"], |c| c.max_peers(3).dial_ratio(3)).await;
    let b = node(&["alpha"], |c| c).await;
    let pulled = Arc::new(AtomicUsize::new(0));
    let counter = pulled.clone();
    // The first node is B; after it an endless supply of made-up nodes, each
    // counted when the server takes it.
    let first = enode(&b);
    let source =
        futures::stream::iter(std::iter::once(first).chain(std::iter::repeat_with(|| {
            Enode::new(NodeKey::random().id(), "127.0.0.1".parse().unwrap(), 9, 9)
        })))
        .inspect(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
        });
    a.server.add_candidate_source(source);
    assert!(matches!(next_event(&mut a).await, PeerEvent::Added(_)));
    // The slot is taken: the source is left alone, not drained into a queue.
    let after_connect = pulled.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let later = pulled.load(Ordering::SeqCst);
    assert_eq!(after_connect, later, "source read while no slot was free");
    assert!(later <= 2, "{later} nodes taken for one slot");
    a.server.stop().await;
    b.server.stop().await;
}

#[tokio::test]
async fn nodes_dialing_each_other_at_once_stay_connected() {
    // Each pair learns of each other at the same moment, as discovery often
    // makes happen: both dial, both get an inbound and an outbound
    // connection. Both sides must keep the same one (the one the lower id
    // dialed), or each refuses the other's and they stay apart.
    let mut pairs = Vec::new();
    for _ in 0..6 {
        let a = node(&["alpha"], |c| c).await;
        let b = node(&["alpha"], |c| c).await;
        a.server.add_candidate_source(
            futures::stream::iter([enode(&b)]).chain(futures::stream::pending()),
        );
        b.server.add_candidate_source(
            futures::stream::iter([enode(&a)]).chain(futures::stream::pending()),
        );
        pairs.push((a, b));
    }
    for (a, b) in &pairs {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let (pa, pb) = (a.server.peers().await, b.server.peers().await);
            if pa.len() == 1 && pb.len() == 1 {
                // The same connection on both sides: opposite directions.
                assert_ne!(pa[0].direction, pb[0].direction);
                let lower_dialed = if a.key.id() < b.key.id() {
                    &pa[0]
                } else {
                    &pb[0]
                };
                assert_eq!(lower_dialed.direction, p2p_core::Direction::Outbound);
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "pair not connected: {} and {} peers",
                pa.len(),
                pb.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // Stable: a replaced connection's end does not take the peer away.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for (a, b) in pairs {
        assert_eq!(a.server.peer_count().await, 1);
        assert_eq!(b.server.peer_count().await, 1);
        a.server.stop().await;
        b.server.stop().await;
    }
}

#[tokio::test]
async fn message_events_report_capability_traffic_when_enabled() {
    let mut a = node(&["alpha"], |c| c.enable_msg_events(true)).await;
    let b = node(&["alpha"], |c| c).await;
    a.server.add_peer(enode(&b)).await;
    // a greets b (out, code 0), b greets a (in, code 0), each answers the
    // other's greeting (out and in, code 1).
    let mut messages = Vec::new();
    while messages.len() < 4 {
        if let PeerEvent::Message {
            id,
            capability,
            code,
            size,
            inbound,
        } = next_event(&mut a).await
        {
            assert_eq!(id, b.key.id());
            assert_eq!(capability, Capability::new("alpha", 1));
            assert_eq!(size, 5, "b\"alpha\"");
            messages.push((code, inbound));
        }
    }
    messages.sort();
    assert_eq!(messages, vec![(0, false), (0, true), (1, false), (1, true)]);
    a.server.stop().await;
    b.server.stop().await;
}

#[tokio::test]
async fn a_session_layer_sees_every_peer_session() {
    let (ends_tx, mut ends) = mpsc::unbounded_channel::<ConnectionEnd>();
    // One line adds a layer to the session stack: here, one that records how
    // each session ended.
    let layer = tower::util::MapResponseLayer::new(move |end: ConnectionEnd| {
        let _ = ends_tx.send(end.clone());
        end
    });
    let a = node_with(TcpNetwork::new(), &["alpha"], |c| c, layer).await;
    let (server, mut events) = (a.server, a.events);
    let b = node(&["alpha"], |c| c).await;
    server.add_peer(enode(&b)).await;
    assert!(matches!(
        timeout(WAIT, events.recv()).await.unwrap().unwrap(),
        PeerEvent::Added(_)
    ));
    server.remove_peer(b.key.id()).await;
    let end = timeout(WAIT, ends.recv()).await.unwrap().unwrap();
    assert_eq!(end.reason, Some(DisconnectReason::Requested));
    assert!(!end.by_remote());
    server.stop().await;
    b.server.stop().await;
}

#[tokio::test]
async fn the_inbound_throttle_is_configurable() {
    use p2p_core::layers::throttle::ThrottleConfig;
    // Loopback is exempt by default; here it is not.
    let throttle = ThrottleConfig {
        exempt_loopback: false,
        ..ThrottleConfig::default()
    };
    let a = node(&["alpha"], |c| c.inbound_throttle(throttle)).await;
    let addr = enode(&a).tcp_addr();
    let (_first, verdict) = join(addr, a.key.id(), &NodeKey::random(), &["alpha"]).await;
    assert_eq!(verdict, None, "the first attempt gets in");
    // A second attempt from the same IP within 30 s is dropped before the
    // handshake: no ack ever comes.
    let tcp = TcpStream::connect(addr).await.unwrap();
    let second = timeout(
        WAIT,
        RlpxStream::connect(tcp, &NodeKey::random(), a.key.id()),
    )
    .await;
    assert!(second.expect("refused at once, not left hanging").is_err());
    assert_eq!(a.server.peer_count().await, 1);
    a.server.stop().await;
}

#[tokio::test]
async fn a_hello_stage_cannot_admit_a_peer_under_another_identity() {
    use p2p_core::Negotiated;
    let key = NodeKey::random();
    let config = Config::builder()
        .listen_addr("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap())
        .build()
        .unwrap();
    // A Hello stage gone wrong: it renames every peer.
    let renaming =
        tower::util::MapResponseLayer::new(|mut peer: Negotiated<RlpxStream<TcpStream>>| {
            peer.info.id = NodeKey::random().id();
            peer
        });
    let server = Server::builder(key.clone())
        .config(config)
        .protocol(Greeter {
            name: "alpha",
            seen: mpsc::unbounded_channel().0,
        })
        .encryption(RlpxTransport::new)
        .hello_layer(renaming)
        .start()
        .await
        .unwrap();
    let (_conn, refusal) = join(
        server.local_enode().unwrap().tcp_addr(),
        key.id(),
        &NodeKey::random(),
        &["alpha"],
    )
    .await;
    assert_eq!(refusal, after_hello(DisconnectReason::UnexpectedIdentity));
    assert_eq!(server.peer_count().await, 0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_stalled_connections_neither_delay_nor_refuse_an_honest_peer() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // Room for 16 handshakes at work, and five times as many connections
    // that never finish a first message: half send nothing, half the start
    // of an auth message (a size prefix of 256 bytes and 10 of them).
    let a = node(&["alpha"], |c| c.max_pending_peers(16)).await;
    let addr = enode(&a).tcp_addr();
    let mut stalled = Vec::new();
    for i in 0..80 {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        if i >= 40 {
            tcp.write_all(&[0x01, 0x00, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
                .await
                .unwrap();
        }
        stalled.push(tcp);
    }
    // Well inside the 5 s handshake deadline, which a queue of slots held
    // by the stalled connections would have made it wait out.
    let mut events = a.events.resubscribe();
    let honest = NodeKey::random();
    let (id, key) = (a.key.id(), honest.clone());
    let joined = tokio::spawn(async move { join(addr, id, &key, &["alpha"]).await });
    let added = timeout(Duration::from_millis(2500), async {
        loop {
            if let Ok(PeerEvent::Added(info)) = events.recv().await {
                break info.id;
            }
        }
    })
    .await
    .expect("the honest peer admitted within 2.5 s");
    assert_eq!(added, honest.id());
    let (_conn, refusal) = joined.await.unwrap();
    assert_eq!(refusal, None);
    // They cost no place among the handshakes at work, so none was pushed
    // out to make room; the handshake deadline ends them.
    let open = futures::future::join_all(stalled.iter_mut().map(|tcp| async move {
        let mut buf = [0u8; 1];
        timeout(Duration::from_millis(200), tcp.read(&mut buf))
            .await
            .is_err()
    }))
    .await;
    assert_eq!(open.into_iter().filter(|open| *open).count(), 80);
    let ended = futures::future::join_all(stalled.iter_mut().map(|tcp| async move {
        let mut buf = [0u8; 1];
        matches!(
            timeout(Duration::from_secs(10), tcp.read(&mut buf)).await,
            Ok(Ok(0) | Err(_))
        )
    }))
    .await;
    assert_eq!(ended.into_iter().filter(|ended| *ended).count(), 80);
    a.server.stop().await;
}
