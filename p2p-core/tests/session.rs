//! Sessions over the in-memory transport: the multiplexer routes capability
//! messages both ways, the base protocol keeps peers alive and ends them with
//! the right reason.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use p2p_core::base::{self, Hello, DISCONNECT, PING, PONG};
use p2p_core::capability::OfferedProtocols;
use p2p_core::protocol::{CapabilityConn, Protocol, ProtocolFuture};
use p2p_core::session::{run_session, SessionConfig};
use p2p_core::testing::{mem_pair, MemConn};
use p2p_core::{
    Capability, ConnectionEnd, Direction, DisconnectReason, Msg, NodeKey, Peer, PeerInfo, Side,
    Stage,
};
use tokio::sync::mpsc;

/// Code 0 is a request answered with code 1 carrying the same payload and the
/// capability's tag; code 2 asks the plugin to disconnect the peer with the
/// reason in the payload; code 3 makes it fail with `SubprotocolError`.
struct Echo {
    name: &'static str,
    seen: mpsc::UnboundedSender<(&'static str, Msg)>,
}

impl Protocol for Echo {
    fn capability(&self) -> Capability {
        Capability::new(self.name, 1)
    }

    fn message_count(&self) -> u64 {
        4
    }

    fn run(&self, peer: Peer, mut conn: CapabilityConn) -> ProtocolFuture {
        let (name, seen) = (self.name, self.seen.clone());
        Box::pin(async move {
            while let Some(msg) = conn.recv().await {
                let _ = seen.send((name, msg.clone()));
                match msg.code {
                    0 => conn.send(Msg::new(1, msg.payload)).await?,
                    2 => peer.disconnect(DisconnectReason::from_code(msg.payload[0])),
                    3 => return Err(DisconnectReason::SubprotocolError),
                    _ => {}
                }
            }
            Ok(())
        })
    }
}

fn addr() -> SocketAddr {
    "127.0.0.1:30303".parse().unwrap()
}

/// The remote end, what the handlers saw, the stop switch and the session.
type Running = (
    MemConn,
    mpsc::UnboundedReceiver<(&'static str, Msg)>,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<ConnectionEnd>,
);

/// Runs a session with the capabilities named, against a raw [`MemConn`]
/// that plays the remote peer announcing `remote_caps`.
fn start(names: &[&'static str], remote_caps: &[Capability], config: SessionConfig) -> Running {
    let (ours, theirs) = mem_pair(NodeKey::random().id(), NodeKey::random().id());
    let (seen_tx, seen) = mpsc::unbounded_channel();
    let protocols: Vec<Arc<dyn Protocol>> = names
        .iter()
        .map(|name| {
            Arc::new(Echo {
                name,
                seen: seen_tx.clone(),
            }) as Arc<dyn Protocol>
        })
        .collect();
    let (shared, running) = OfferedProtocols::new(protocols).negotiate(remote_caps);
    let hello = Hello {
        protocol_version: 5,
        client_id: "remote".into(),
        capabilities: remote_caps.to_vec(),
        listen_port: 0,
        id: NodeKey::random().id(),
    };
    let info = Arc::new(PeerInfo::new(&hello, addr(), Direction::Inbound, shared));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let session = tokio::spawn(async move {
        run_session(ours, info, running, &config, async {
            let _ = stop_rx.await;
            DisconnectReason::ClientQuitting
        })
        .await
    });
    (theirs, seen, stop_tx, session)
}

async fn next(conn: &mut MemConn) -> Msg {
    tokio::time::timeout(Duration::from_secs(60), conn.next())
        .await
        .expect("message in time")
        .expect("open")
        .unwrap()
}

/// The next message that is not a Ping.
async fn next_non_ping(conn: &mut MemConn) -> Msg {
    loop {
        let msg = next(conn).await;
        if msg.code != PING {
            return msg;
        }
    }
}

async fn expect_disconnect(conn: &mut MemConn, reason: DisconnectReason) {
    let msg = next_non_ping(conn).await;
    assert_eq!(msg.code, DISCONNECT);
    assert_eq!(DisconnectReason::decode_payload(&msg.payload), Ok(reason));
}

fn caps(names: &[&str]) -> Vec<Capability> {
    names.iter().map(|n| Capability::new(*n, 1)).collect()
}

#[tokio::test]
async fn messages_of_two_capabilities_flow_both_ways() {
    let (mut remote, mut seen, _stop, session) = start(
        &["alpha", "beta"],
        &caps(&["alpha", "beta"]),
        SessionConfig::default(),
    );
    // alpha owns 0x10..0x14, beta 0x14..0x18 (alphabetical order).
    remote.send(Msg::new(0x10, vec![0xaa])).await.unwrap();
    remote.send(Msg::new(0x14, vec![0xbb])).await.unwrap();
    let mut replies = [
        next_non_ping(&mut remote).await,
        next_non_ping(&mut remote).await,
    ];
    replies.sort_by_key(|m| m.code);
    assert_eq!(replies[0], Msg::new(0x11, vec![0xaa]));
    assert_eq!(replies[1], Msg::new(0x15, vec![0xbb]));
    // The handlers saw codes relative to their capability.
    let mut got = [seen.recv().await.unwrap(), seen.recv().await.unwrap()];
    got.sort_by_key(|(name, _)| *name);
    assert_eq!(got[0], ("alpha", Msg::new(0, vec![0xaa])));
    assert_eq!(got[1], ("beta", Msg::new(0, vec![0xbb])));

    remote
        .send(DisconnectReason::Requested.to_msg())
        .await
        .unwrap();
    let end = session.await.unwrap();
    assert_eq!(end.reason, Some(DisconnectReason::Requested));
    assert!(end.by_remote());
}

#[tokio::test]
async fn only_shared_capabilities_run_and_unknown_codes_end_the_connection() {
    let (mut remote, _seen, _stop, session) = start(
        &["alpha", "beta"],
        &caps(&["beta"]),
        SessionConfig::default(),
    );
    // Only beta is shared: it owns 0x10..0x14.
    remote.send(Msg::new(0x10, vec![1])).await.unwrap();
    assert_eq!(next_non_ping(&mut remote).await, Msg::new(0x11, vec![1]));
    remote.send(Msg::new(0x14, vec![])).await.unwrap();
    expect_disconnect(&mut remote, DisconnectReason::ProtocolError).await;
    let end = session.await.unwrap();
    assert_eq!(
        end,
        ConnectionEnd::local(Stage::Session, DisconnectReason::ProtocolError)
    );
}

#[tokio::test]
async fn ping_is_answered_with_pong() {
    let (mut remote, _seen, _stop, _session) =
        start(&["alpha"], &caps(&["alpha"]), SessionConfig::default());
    remote.send(base::ping_msg()).await.unwrap();
    assert_eq!(next_non_ping(&mut remote).await.code, PONG);
}

#[tokio::test(start_paused = true)]
async fn idle_peers_are_pinged_and_silent_ones_dropped() {
    let config = SessionConfig::default();
    let (mut remote, _seen, _stop, session) = start(&["alpha"], &caps(&["alpha"]), config.clone());
    // The keepalive: a Ping after the interval.
    let msg = next(&mut remote).await;
    assert_eq!(msg.code, PING);
    // We never answer: past the read deadline the session ends.
    expect_disconnect(&mut remote, DisconnectReason::PingTimeout).await;
    let end = session.await.unwrap();
    assert_eq!(end.reason, Some(DisconnectReason::PingTimeout));
}

#[tokio::test]
async fn a_plugin_can_disconnect_its_peer() {
    let (mut remote, _seen, _stop, session) =
        start(&["alpha"], &caps(&["alpha"]), SessionConfig::default());
    remote.send(Msg::new(0x12, vec![0x04])).await.unwrap();
    expect_disconnect(&mut remote, DisconnectReason::TooManyPeers).await;
    assert_eq!(
        session.await.unwrap().reason,
        Some(DisconnectReason::TooManyPeers)
    );
}

#[tokio::test]
async fn a_failing_plugin_ends_the_session_with_its_reason() {
    let (mut remote, _seen, _stop, session) =
        start(&["alpha"], &caps(&["alpha"]), SessionConfig::default());
    remote.send(Msg::new(0x13, vec![])).await.unwrap();
    expect_disconnect(&mut remote, DisconnectReason::SubprotocolError).await;
    assert_eq!(
        session.await.unwrap().reason,
        Some(DisconnectReason::SubprotocolError)
    );
}

#[tokio::test]
async fn shutdown_says_client_quitting() {
    let (mut remote, _seen, stop, session) =
        start(&["alpha"], &caps(&["alpha"]), SessionConfig::default());
    stop.send(()).unwrap();
    expect_disconnect(&mut remote, DisconnectReason::ClientQuitting).await;
    let end = session.await.unwrap();
    assert_eq!(
        end,
        ConnectionEnd::local(Stage::Session, DisconnectReason::ClientQuitting)
    );
}

#[tokio::test]
async fn a_second_hello_is_a_protocol_error() {
    let (mut remote, _seen, _stop, session) =
        start(&["alpha"], &caps(&["alpha"]), SessionConfig::default());
    let hello = Hello {
        protocol_version: 5,
        client_id: "again".into(),
        capabilities: vec![],
        listen_port: 0,
        id: NodeKey::random().id(),
    };
    remote.send(hello.to_msg()).await.unwrap();
    expect_disconnect(&mut remote, DisconnectReason::ProtocolError).await;
    assert_eq!(
        session.await.unwrap().reason,
        Some(DisconnectReason::ProtocolError)
    );
}

#[tokio::test]
async fn the_remote_closing_ends_the_session() {
    let (remote, _seen, _stop, session) =
        start(&["alpha"], &caps(&["alpha"]), SessionConfig::default());
    drop(remote);
    let end = tokio::time::timeout(Duration::from_secs(5), session)
        .await
        .unwrap()
        .unwrap();
    assert!(end.by_remote());
}

#[tokio::test]
async fn a_peer_over_the_rate_limit_is_disconnected_with_subprotocol_error() {
    use p2p_core::layers::rate_limit::{
        Rate, RateLimitConfig, RateLimitError, RateLimitPolicy, RateLimitedConn,
    };
    let (ours, mut remote) = mem_pair(NodeKey::random().id(), NodeKey::random().id());
    let limited = RateLimitedConn::new(
        ours,
        RateLimitConfig {
            messages: Some(Rate {
                per_second: 1,
                burst: 3,
            }),
            bytes: None,
            policy: RateLimitPolicy::Disconnect,
        },
    );
    let (seen_tx, _seen) = mpsc::unbounded_channel();
    let protocol: Arc<dyn Protocol> = Arc::new(Echo {
        name: "alpha",
        seen: seen_tx,
    });
    let (shared, protocols) = OfferedProtocols::new(vec![protocol]).negotiate(&caps(&["alpha"]));
    let hello = Hello {
        protocol_version: 5,
        client_id: "flooder".into(),
        capabilities: caps(&["alpha"]),
        listen_port: 0,
        id: NodeKey::random().id(),
    };
    let info = Arc::new(PeerInfo::new(&hello, addr(), Direction::Inbound, shared));
    let config = SessionConfig::default();
    let session = tokio::spawn(async move {
        run_session(limited, info, protocols, &config, std::future::pending()).await
    });
    for _ in 0..10 {
        if remote.send(Msg::new(0x11, vec![])).await.is_err() {
            break;
        }
    }
    expect_disconnect(&mut remote, DisconnectReason::SubprotocolError).await;
    let end = session.await.unwrap();
    assert_eq!(
        (end.stage, end.side, end.reason),
        (
            Stage::Session,
            Side::Local,
            Some(DisconnectReason::SubprotocolError)
        )
    );
    // The rate limit's own error is kept, typed.
    let error = end.error.expect("the read error");
    assert!(
        error
            .find::<RateLimitError<p2p_core::testing::MemConnClosed>>()
            .is_some(),
        "{error}"
    );
}
