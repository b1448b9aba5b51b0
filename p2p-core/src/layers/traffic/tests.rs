use std::sync::Arc;

use futures::{SinkExt, StreamExt};
use tokio::sync::oneshot;
use tower::{Layer, ServiceExt};

use super::*;
use crate::base::{Capability, DisconnectReason};
use crate::capability::{CapabilityTable, SharedCapability};
use crate::identity::NodeKey;
use crate::msg::Msg;
use crate::peer::PeerInfo;
use crate::pipeline::{ConnectionEnd, Direction, Established, Stage};
use crate::testing::{mem_pair, MemConn};

fn established(conn: MemConn) -> Established<MemConn> {
    let info = PeerInfo {
        id: crate::pipeline::MsgConn::remote_id(&conn),
        remote_addr: "192.0.2.1:30303".parse().unwrap(),
        direction: Direction::Inbound,
        client_id: "remote".into(),
        capabilities: vec![Capability::new("eth", 68)],
        shared: CapabilityTable::new(vec![SharedCapability {
            capability: Capability::new("eth", 68),
            offset: 0x10,
            length: 17,
        }]),
        listen_port: 0,
        trusted: false,
    };
    Established {
        conn,
        info: Arc::new(info),
        protocols: Vec::new(),
        stop: Box::pin(std::future::pending()),
    }
}

#[tokio::test]
async fn counts_each_peer_while_connected_and_keeps_the_totals_after() {
    let traffic = TrafficLayer::new();
    let (ours, mut theirs) = mem_pair(NodeKey::random().id(), NodeKey::random().id());
    let peer = established(ours);
    let id = peer.info.id;
    let (counted_tx, counted) = oneshot::channel();
    let (release, released) = oneshot::channel::<()>();
    // A session that sends two messages, reads one, then waits to be let go.
    let mut once = Some((counted_tx, released));
    let session = tower::service_fn(move |mut peer: Established<CountedConn<MemConn>>| {
        let (counted_tx, released) = once.take().expect("one peer");
        async move {
            peer.conn.send(Msg::new(0x10, vec![0; 10])).await.unwrap();
            peer.conn.send(Msg::new(0x40, vec![0; 20])).await.unwrap();
            peer.conn.next().await.unwrap().unwrap();
            counted_tx.send(()).unwrap();
            let _ = released.await;
            Ok::<_, std::convert::Infallible>(ConnectionEnd::local(
                Stage::Session,
                DisconnectReason::Requested,
            ))
        }
    });
    let running = tokio::spawn(traffic.layer(session).oneshot(peer));
    theirs.send(Msg::new(0x12, vec![0; 7])).await.unwrap();
    counted.await.unwrap();
    let expected = TrafficStats {
        ingress_messages: 1,
        ingress_bytes: 7,
        egress_messages: 2,
        egress_bytes: 30,
    };
    assert_eq!(traffic.peer(&id), Some(expected));
    assert_eq!(traffic.total(), expected);
    assert_eq!(traffic.peer(&NodeKey::random().id()), None);
    assert!(traffic.connected_for(&id).is_some());

    release.send(()).unwrap();
    running.await.unwrap().unwrap();
    assert_eq!(traffic.peer(&id), None, "gone with its connection");
    assert_eq!(traffic.connected_for(&id), None);
    assert_eq!(traffic.total(), expected, "its traffic stays in the total");
    // By message: eth's codes relative to the capability, codes no
    // capability owns as one.
    let by_message: Vec<(String, u64, u64, u64)> = traffic
        .by_message()
        .into_iter()
        .map(|(key, stats)| {
            (
                key.protocol,
                key.code,
                stats.ingress_bytes,
                stats.egress_bytes,
            )
        })
        .collect();
    assert_eq!(
        by_message,
        [
            ("eth/68".to_owned(), 0, 0, 10),
            ("eth/68".to_owned(), 2, 7, 0),
            ("unknown".to_owned(), 0, 0, 20),
        ]
    );
}
