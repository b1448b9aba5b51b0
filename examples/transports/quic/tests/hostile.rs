//! Misbehaving peers over QUIC: each ends only its own connection, with a
//! Disconnect reason where the connection can still carry one, while a
//! healthy peer of the same server stays connected.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::{quic_node, Node};
use futures::StreamExt;
use p2p_core::base::{DisconnectReason, DISCONNECT, HELLO};
use p2p_core::network::Network;
use p2p_core::{Connecting, NodeKey, PeerEvent, Protocol};
use ping_pong_plugin::{PingPong, PingPongConfig};
use quic_transport::config::{configs_with, SERVER_NAME};
use quic_transport::identity::{signed_key, NodeCertificate};
use quic_transport::{MessageCodec, QuicConfig, QuicError, StreamMode};
use tokio_util::codec::FramedRead;
use tower::ServiceExt;

/// Two servers connected over QUIC; `b` is the one the tests attack.
async fn healthy_pair(
    configure: fn(p2p_core::config::ConfigBuilder) -> p2p_core::config::ConfigBuilder,
) -> (Node, Node) {
    // A capability in common, or the checkpoint refuses them as useless.
    let plugin = || vec![Arc::new(PingPong::new(PingPongConfig::default())) as Arc<dyn Protocol>];
    let mut a = quic_node(QuicConfig::default(), plugin(), |c| c).await;
    let mut b = quic_node(QuicConfig::default(), plugin(), configure).await;
    a.server.add_peer(b.addr()).await;
    let (a_id, b_id) = (a.id(), b.id());
    a.added(b_id).await;
    b.added(a_id).await;
    (a, b)
}

/// `b` still has `a` as its only peer, and dropped nobody on the way.
async fn still_connected(a: &Node, b: &mut Node) {
    let peers = b.server.peers().await;
    assert_eq!(peers.len(), 1, "b lost or gained a peer");
    assert_eq!(peers[0].id, a.id());
    while let Ok(event) = b.events.try_recv() {
        assert!(
            !matches!(event, PeerEvent::Dropped { .. } | PeerEvent::Added(_)),
            "a peer came or went: {event:?}"
        );
    }
}

fn listen_addr(node: &Node) -> SocketAddr {
    node.server.node_info().listen_addr.unwrap()
}

/// A bare QUIC endpoint presenting `cert`, to play a peer.
fn raw_client(cert: NodeCertificate) -> quinn::Endpoint {
    let (_, client) = configs_with(cert, &QuicConfig::default()).unwrap();
    let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    endpoint.set_default_client_config(client);
    endpoint
}

/// Connects with `cert` and waits for the server's verdict: the error the
/// connection ends with. (In TLS 1.3 the client finishes its handshake
/// before the server has checked the client's certificate, so the refusal
/// arrives as the connection's close.)
async fn refused(cert: NodeCertificate, to: SocketAddr) -> quinn::ConnectionError {
    let endpoint = raw_client(cert);
    let connecting = endpoint.connect(to, SERVER_NAME).unwrap();
    let result = tokio::time::timeout(Duration::from_secs(5), async {
        match connecting.await {
            Ok(connection) => connection.closed().await,
            Err(err) => err,
        }
    })
    .await
    .expect("refused within 5 s");
    endpoint.close(0u32.into(), b"");
    result
}

/// Whether `err` is a close by the peer carrying a TLS alert (QUIC's
/// crypto error codes, 0x100 + the alert).
fn is_tls_alert(err: &quinn::ConnectionError) -> bool {
    let code = match err {
        quinn::ConnectionError::ConnectionClosed(close) => u64::from(close.error_code),
        quinn::ConnectionError::TransportError(err) => u64::from(err.code),
        _ => return false,
    };
    (0x100..0x200).contains(&code)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_without_the_node_key_is_refused() {
    let (a, mut b) = healthy_pair(|c| c).await;
    let cert = NodeCertificate::with_extension(None).unwrap();
    let err = refused(cert, listen_addr(&b)).await;
    assert!(is_tls_alert(&err), "{err}");
    still_connected(&a, &mut b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_with_a_wrong_node_signature_is_refused() {
    let (a, mut b) = healthy_pair(|c| c).await;
    // Signed by a node key, but over another certificate key: a stolen
    // extension moved to a certificate of the attacker's.
    let stolen = signed_key(&NodeKey::random(), b"another certificate's public key");
    let err = refused(
        NodeCertificate::with_extension(Some(stolen)).unwrap(),
        listen_addr(&b),
    )
    .await;
    assert!(is_tls_alert(&err), "{err}");
    // Content that is no SignedKey at all.
    let garbage =
        NodeCertificate::with_extension(Some(vec![0x30, 0x03, 0x04, 0x01, 0x00])).unwrap();
    let err = refused(garbage, listen_addr(&b)).await;
    assert!(is_tls_alert(&err), "{err}");
    still_connected(&a, &mut b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dial_that_reaches_another_node_fails_with_unexpected_identity() {
    let (a, mut b) = healthy_pair(|c| c).await;
    let key = Arc::new(NodeKey::random());
    let (network, handshake) = quic_transport::transport(QuicConfig::default()).unwrap()(key);
    // We mean to reach `expected`, but b answers at the address.
    let expected = NodeKey::random().id();
    let addr = listen_addr(&b);
    let node = p2p_core::NodeAddr::from(p2p_core::Enode::new(expected, addr.ip(), 0, 0));
    let io = network.connect(&node, addr).await.unwrap();
    let err = handshake
        .oneshot(Connecting::outbound(io, addr, expected))
        .await
        .unwrap_err();
    match err {
        QuicError::UnexpectedIdentity(mismatch) => {
            assert_eq!(mismatch.expected, expected);
            assert_eq!(mismatch.actual, b.id());
        }
        other => panic!("expected an identity mismatch, got {other}"),
    }
    still_connected(&a, &mut b).await;
}

/// A peer with a valid certificate that opens the message stream, then
/// hands the test its two halves.
async fn raw_peer(
    to: SocketAddr,
) -> (
    quinn::Endpoint,
    quinn::Connection,
    quinn::SendStream,
    quinn::RecvStream,
) {
    let endpoint = raw_client(NodeCertificate::generate(&NodeKey::random()).unwrap());
    let connection = endpoint.connect(to, SERVER_NAME).unwrap().await.unwrap();
    let (mut send, recv) = connection.open_bi().await.unwrap();
    send.write_all(&[0x00]).await.unwrap();
    (endpoint, connection, send, recv)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_message_ends_the_connection_with_protocol_error() {
    let (a, mut b) = healthy_pair(|c| c).await;
    let (endpoint, _connection, mut send, recv) = raw_peer(listen_addr(&b)).await;
    // A length one past the limit, then a little of the promised body.
    let announced = (quic_transport::config::DEFAULT_MAX_MESSAGE_SIZE + 1) as u32;
    send.write_all(&announced.to_be_bytes()).await.unwrap();
    send.write_all(&[0u8; 64]).await.unwrap();

    let mut messages = FramedRead::new(recv, MessageCodec::new(1 << 20));
    let hello = read(&mut messages).await.unwrap().unwrap();
    assert_eq!(hello.code, HELLO);
    let disconnect = read(&mut messages).await.unwrap().unwrap();
    assert_eq!(disconnect.code, DISCONNECT);
    assert_eq!(
        DisconnectReason::decode_payload(&disconnect.payload).unwrap(),
        DisconnectReason::ProtocolError
    );
    // And then the stream ends.
    assert!(read(&mut messages).await.is_none_or(|end| end.is_err()));
    endpoint.close(0u32.into(), b"");
    still_connected(&a, &mut b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_handshake_is_cut_at_the_handshake_timeout() {
    let (a, mut b) = healthy_pair(|c| c.handshake_timeout(Duration::from_millis(500))).await;
    // TLS completes, but the peer never opens the message stream.
    let endpoint = raw_client(NodeCertificate::generate(&NodeKey::random()).unwrap());
    let connection = endpoint
        .connect(listen_addr(&b), SERVER_NAME)
        .unwrap()
        .await
        .unwrap();
    let started = tokio::time::Instant::now();
    let closed = tokio::time::timeout(Duration::from_secs(5), connection.closed())
        .await
        .expect("closed by the server within 5 s");
    assert!(
        matches!(closed, quinn::ConnectionError::ApplicationClosed(_)),
        "{closed}"
    );
    assert!(started.elapsed() >= Duration::from_millis(400));
    endpoint.close(0u32.into(), b"");
    still_connected(&a, &mut b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_past_the_limit_cannot_be_opened() {
    let (a, mut b) = healthy_pair(|c| c).await;
    let (endpoint, connection, _send, recv) = raw_peer(listen_addr(&b)).await;
    // One bidirectional stream is all a peer may open, and in the one-stream
    // mode no unidirectional one: QUIC's flow control holds further opens.
    let second = tokio::time::timeout(Duration::from_millis(300), connection.open_bi()).await;
    assert!(second.is_err(), "a second bidirectional stream was opened");
    let uni = tokio::time::timeout(Duration::from_millis(300), connection.open_uni()).await;
    assert!(uni.is_err(), "a unidirectional stream was opened");
    // The message stream still works: the server's Hello arrives on it.
    let mut messages = FramedRead::new(recv, MessageCodec::new(1 << 20));
    let hello = tokio::time::timeout(Duration::from_secs(5), messages.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(hello.code, HELLO);
    endpoint.close(0u32.into(), b"");
    still_connected(&a, &mut b).await;
}

/// The next message from the server, within 5 s.
async fn read(
    messages: &mut FramedRead<quinn::RecvStream, MessageCodec>,
) -> Option<Result<p2p_core::Msg, QuicError>> {
    tokio::time::timeout(Duration::from_secs(5), messages.next())
        .await
        .expect("within 5 s")
}

/// A QUIC peer in the per-capability mode that speaks for itself: it runs
/// the Hello on the message stream (base protocol 4, so no snappy), offering
/// `pingpong/1`.
async fn raw_per_capability_peer(
    to: SocketAddr,
) -> (
    quinn::Endpoint,
    quinn::Connection,
    futures::stream::SplitSink<
        tokio_util::codec::Framed<
            tokio::io::Join<quinn::RecvStream, quinn::SendStream>,
            MessageCodec,
        >,
        p2p_core::Msg,
    >,
    futures::stream::SplitStream<
        tokio_util::codec::Framed<
            tokio::io::Join<quinn::RecvStream, quinn::SendStream>,
            MessageCodec,
        >,
    >,
) {
    use futures::SinkExt;
    let key = NodeKey::random();
    let per_capability = QuicConfig {
        streams: StreamMode::PerCapability,
        ..QuicConfig::default()
    };
    let (_, client) =
        configs_with(NodeCertificate::generate(&key).unwrap(), &per_capability).unwrap();
    let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    endpoint.set_default_client_config(client);
    let connection = endpoint.connect(to, SERVER_NAME).unwrap().await.unwrap();
    let (mut send, recv) = connection.open_bi().await.unwrap();
    send.write_all(&[0x00]).await.unwrap();
    let framed =
        tokio_util::codec::Framed::new(tokio::io::join(recv, send), MessageCodec::new(1 << 20));
    let (mut sink, mut messages) = framed.split();
    let hello = p2p_core::Hello {
        protocol_version: 4,
        client_id: "raw".into(),
        capabilities: vec![p2p_core::Capability::new("pingpong", 1)],
        listen_port: 0,
        id: key.id(),
    };
    sink.send(hello.to_msg()).await.unwrap();
    let theirs = read_split(&mut messages).await.unwrap().unwrap();
    assert_eq!(theirs.code, HELLO);
    (endpoint, connection, sink, messages)
}

async fn read_split<S>(messages: &mut S) -> Option<Result<p2p_core::Msg, QuicError>>
where
    S: futures::Stream<Item = Result<p2p_core::Msg, QuicError>> + Unpin,
{
    tokio::time::timeout(Duration::from_secs(5), messages.next())
        .await
        .expect("within 5 s")
}

/// Reads messages from the message stream until a Disconnect, and returns
/// its reason.
async fn disconnect_on<S>(messages: &mut S) -> DisconnectReason
where
    S: futures::Stream<Item = Result<p2p_core::Msg, QuicError>> + Unpin,
{
    loop {
        let msg = read_split(messages)
            .await
            .expect("a Disconnect before the end")
            .unwrap();
        if msg.code == DISCONNECT {
            return DisconnectReason::decode_payload(&msg.payload).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capability_messages_travel_on_their_own_stream_and_stray_streams_end_the_peer() {
    let per_capability = QuicConfig {
        streams: StreamMode::PerCapability,
        ..QuicConfig::default()
    };
    let plugin = || {
        vec![Arc::new(PingPong::new(PingPongConfig {
            interval: Duration::from_millis(50),
            ..PingPongConfig::default()
        })) as Arc<dyn Protocol>]
    };
    let b = quic_node(per_capability, plugin(), |c| c).await;
    let addr = listen_addr(&b);

    // The server's ping-pong plugin pings us on a stream of its own: header
    // 0x01 and index 0 (pingpong/1 is the only capability in common), then a
    // Ping at code 0x10, the first code after the base protocol's.
    let (endpoint, connection, _sink, mut messages) = raw_per_capability_peer(addr).await;
    let recv = tokio::time::timeout(Duration::from_secs(5), connection.accept_uni())
        .await
        .expect("a capability stream within 5 s")
        .unwrap();
    let mut lane = FramedRead::new(recv, MessageCodec::new(1 << 20));
    let mut header = [0u8; 2];
    lane.get_mut().read_exact(&mut header).await.unwrap();
    assert_eq!(header, [0x01, 0]);
    let ping = read_lane(&mut lane).await.unwrap().unwrap();
    assert_eq!(ping.code, 0x10);

    // A stream for a capability index past the table ends the connection.
    let mut stray = connection.open_uni().await.unwrap();
    stray.write_all(&[0x01, 7]).await.unwrap();
    assert_eq!(
        disconnect_on(&mut messages).await,
        DisconnectReason::ProtocolError
    );
    endpoint.close(0u32.into(), b"");

    // So does a second stream for the same capability.
    let (endpoint, connection, _sink, mut messages) = raw_per_capability_peer(addr).await;
    // Both kept open until the verdict: only their headers are sent.
    let mut lanes = Vec::new();
    for _ in 0..2 {
        let mut lane = connection.open_uni().await.unwrap();
        lane.write_all(&[0x01, 0]).await.unwrap();
        lanes.push(lane);
    }
    assert_eq!(
        disconnect_on(&mut messages).await,
        DisconnectReason::ProtocolError
    );
    drop(lanes);
    endpoint.close(0u32.into(), b"");
    b.server.stop().await;
}

/// The next message of a capability stream, within 5 s.
async fn read_lane(
    lane: &mut FramedRead<quinn::RecvStream, MessageCodec>,
) -> Option<Result<p2p_core::Msg, QuicError>> {
    read_split(lane).await
}
