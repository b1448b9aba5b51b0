//! Metrics of two servers in one process stay apart: each reports under its
//! own `instance` label. (A process-wide recorder is installed, so this is
//! the only test of its binary.)

use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use p2p_core::config::Config;
use p2p_core::layers::metrics::{instance_label, MetricsLayer};
use p2p_core::protocol::{CapabilityConn, Protocol, ProtocolFuture};
use p2p_core::{Capability, NodeKey, Peer, PeerEvent, Server};
use p2p_rlpx::RlpxTransport;
use tokio::time::timeout;

/// A capability that only keeps the peer connected.
struct Idle;

impl Protocol for Idle {
    fn capability(&self) -> Capability {
        Capability::new("idle", 1)
    }

    fn message_count(&self) -> u64 {
        1
    }

    fn run(&self, _peer: Peer, mut conn: CapabilityConn) -> ProtocolFuture {
        Box::pin(async move {
            while conn.recv().await.is_some() {}
            Ok(())
        })
    }
}

async fn start(key: &NodeKey) -> Server {
    let config = Config::builder()
        .listen_addr("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap())
        .build()
        .unwrap();
    let metrics = MetricsLayer::new(instance_label(&key.id()));
    // One line each: handshakes timed in the setup stack, messages counted
    // in the session stack.
    Server::builder(key.clone())
        .config(config)
        .protocol(Idle)
        .encryption(RlpxTransport::new)
        .setup_layer(metrics.clone())
        .session_layer(metrics)
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn two_servers_report_under_their_own_instance() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder
        .install()
        .expect("the only recorder of this test binary");

    let (key_a, key_b) = (NodeKey::random(), NodeKey::random());
    let (a, b) = (start(&key_a).await, start(&key_b).await);
    let mut events = b.subscribe_events();
    a.add_peer(a_enode(&b)).await;
    assert!(matches!(
        timeout(Duration::from_secs(10), events.recv())
            .await
            .unwrap()
            .unwrap(),
        PeerEvent::Added(_)
    ));
    // Give a's supervisor its turn to record the peer too.
    timeout(Duration::from_secs(10), async {
        while a.peer_count().await != 1 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap();

    let snapshot = snapshotter.snapshot().into_vec();
    let gauge = |instance: &str, direction: &str| {
        snapshot
            .iter()
            .find(|(key, _, _, _)| {
                let k = key.key();
                k.name() == "p2p_peers"
                    && k.labels()
                        .any(|l| l.key() == "instance" && l.value() == instance)
                    && k.labels()
                        .any(|l| l.key() == "direction" && l.value() == direction)
            })
            .map(|(_, _, _, value)| match value {
                DebugValue::Gauge(g) => g.into_inner(),
                other => panic!("not a gauge: {other:?}"),
            })
    };
    let (ia, ib) = (instance_label(&key_a.id()), instance_label(&key_b.id()));
    assert_eq!(gauge(&ia, "outbound"), Some(1.0));
    assert_eq!(gauge(&ia, "inbound"), Some(0.0));
    assert_eq!(gauge(&ib, "inbound"), Some(1.0));
    assert_eq!(gauge(&ib, "outbound"), Some(0.0));
    // Both recorded a successful handshake under their own name.
    for instance in [&ia, &ib] {
        assert!(
            snapshot.iter().any(|(key, _, _, _)| {
                let k = key.key();
                k.name() == "p2p_handshake_duration_seconds"
                    && k.labels()
                        .any(|l| l.key() == "instance" && l.value() == instance.as_str())
            }),
            "handshake duration of {instance}"
        );
    }

    // A connection that sends a malformed auth (a size prefix of zero) is
    // counted under b, by stage and by the transport error's variant.
    let mut garbage = tokio::net::TcpStream::connect(a_enode(&b).tcp_addr())
        .await
        .unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut garbage, &[0u8; 64])
        .await
        .unwrap();
    let ended_early = |snapshot: &[Entry]| {
        snapshot.iter().find_map(|(key, _, _, value)| {
            let k = key.key();
            let label = |name: &str| k.labels().find(|l| l.key() == name).map(|l| l.value());
            let wanted = k.name() == "p2p_connections_ended_early_total"
                && label("instance") == Some(ib.as_str())
                && label("direction") == Some("inbound")
                && label("stage") == Some("setup")
                && label("reason") == Some("InvalidHandshake");
            match value {
                DebugValue::Counter(n) if wanted => Some(*n),
                _ => None,
            }
        })
    };
    let counted = timeout(Duration::from_secs(10), async {
        loop {
            if let Some(n) = ended_early(&snapshotter.snapshot().into_vec()) {
                break n;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the malformed connection counted");
    assert_eq!(counted, 1);
    a.stop().await;
    b.stop().await;
}

/// One metric of a snapshot.
type Entry = (
    metrics_util::CompositeKey,
    Option<metrics::Unit>,
    Option<metrics::SharedString>,
    DebugValue,
);

fn a_enode(server: &Server) -> p2p_core::Enode {
    server.local_enode().unwrap()
}
