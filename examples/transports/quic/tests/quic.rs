//! Two servers over QUIC on 127.0.0.1: the session stack above the
//! transport is the one RLPx uses, unchanged.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::quic_node;
use p2p_core::{PeerEvent, Protocol};
use ping_pong_plugin::{PingPong, PingPongConfig};
use quic_transport::QuicConfig;

fn ping_pong() -> PingPong {
    PingPong::new(PingPongConfig {
        interval: Duration::from_millis(50),
        ..PingPongConfig::default()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_runs_over_quic_and_the_ids_are_proven() {
    let a_plugin = ping_pong();
    let mut rtts = a_plugin.subscribe();
    let mut a = quic_node(
        QuicConfig::default(),
        vec![Arc::new(a_plugin) as Arc<dyn Protocol>],
        |c| c,
    )
    .await;
    let mut b = quic_node(
        QuicConfig::default(),
        vec![Arc::new(ping_pong()) as Arc<dyn Protocol>],
        |c| c,
    )
    .await;

    a.server.add_peer(b.addr()).await;
    let (b_id, a_id) = (b.id(), a.id());
    a.added(b_id).await;
    b.added(a_id).await;

    // The Hello went over QUIC, and the ids each side learned from the
    // other's certificate passed the checkpoint's check against the Hello.
    let peers = a.server.peers().await;
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0].id, b_id);
    assert!(peers[0].remote_addr.ip().is_loopback());

    // The plugin measures round trips over the QUIC stream.
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if rtts.borrow().contains_key(&b_id) {
                break;
            }
            rtts.changed().await.unwrap();
        }
    })
    .await
    .expect("a round trip within 10 s");

    // A stop disconnects the peer with a reason it receives.
    a.server.stop().await;
    match b.next_event().await {
        PeerEvent::Dropped { id, end } => {
            assert_eq!(id, a_id);
            assert_eq!(
                end.reason,
                Some(p2p_core::DisconnectReason::ClientQuitting),
                "{end}"
            );
        }
        other => panic!("expected the drop, got {other:?}"),
    }
    b.server.stop().await;
}
