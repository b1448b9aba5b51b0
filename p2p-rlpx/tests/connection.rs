//! End-to-end RLPx connections over loopback TCP and in-memory pipes: the
//! handshake through the tower service, the Hello exchange with snappy, message
//! flow in both directions, and the hostile inputs that must end only their own
//! connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::{SinkExt, StreamExt};
use p2p_core::base::{self, BASE_PROTOCOL_VERSION, DISCONNECT, PING, PONG};
use p2p_core::{
    exchange_hello, Capability, Connecting, DisconnectReason, Hello, Msg, MsgConn, NodeKey,
};
use p2p_rlpx::ecies::{self, ECIES_OVERHEAD};
use p2p_rlpx::handshake;
use p2p_rlpx::{FrameCodec, RlpxError, RlpxStream, RlpxTransport};
use rlp::RlpStream;
use secp256k1::SecretKey;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tokio_util::codec::Encoder;
use tower::{Service, ServiceExt};

/// Every wait in these tests is bounded by this.
const WAIT: Duration = Duration::from_secs(10);

fn hello_for(key: &NodeKey) -> Hello {
    Hello {
        protocol_version: BASE_PROTOCOL_VERSION,
        client_id: "p2p-rlpx-test".into(),
        capabilities: vec![Capability::new("test", 1)],
        listen_port: 0,
        id: key.id(),
    }
}

fn local() -> SocketAddr {
    "127.0.0.1:1".parse().unwrap()
}

/// A minimal server: accepts on loopback, runs each connection's handshake and
/// Hello through the service in its own task, answers Pings, and reports how
/// each connection ended.
struct TestServer {
    addr: SocketAddr,
    key: Arc<NodeKey>,
    outcomes: mpsc::UnboundedReceiver<Result<(), String>>,
    task: JoinHandle<()>,
}

impl TestServer {
    async fn start(handshake_timeout: Duration) -> Self {
        let key = Arc::new(NodeKey::random());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, outcomes) = mpsc::unbounded_channel();
        let transport = RlpxTransport::new(key.clone()).with_handshake_timeout(handshake_timeout);
        let hello = hello_for(&key);
        let task = tokio::spawn(async move {
            // Bounded: tests open a handful of connections.
            for _ in 0..16 {
                let Ok((tcp, remote)) = listener.accept().await else {
                    return;
                };
                let mut transport = transport.clone();
                let hello = hello.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    let outcome = serve(&mut transport, tcp, remote, hello).await;
                    let _ = tx.send(outcome);
                });
            }
        });
        TestServer {
            addr,
            key,
            outcomes,
            task,
        }
    }

    async fn next_outcome(&mut self) -> Result<(), String> {
        timeout(WAIT, self.outcomes.recv())
            .await
            .expect("server reported in time")
            .expect("server alive")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    transport: &mut RlpxTransport,
    tcp: TcpStream,
    remote: SocketAddr,
    hello: Hello,
) -> Result<(), String> {
    let established = ServiceExt::<Connecting<TcpStream>>::ready(transport)
        .await
        .map_err(|e| e.to_string())?
        .call(Connecting::inbound(tcp, remote))
        .await
        .map_err(|e| e.to_string())?;
    let mut conn = established.conn;
    exchange_hello(&mut conn, &hello)
        .await
        .map_err(|e| e.to_string())?;
    // Answer pings until the peer says goodbye.
    loop {
        match conn.next().await {
            Some(Ok(msg)) if msg.code == PING => conn
                .send(base::pong_msg())
                .await
                .map_err(|e| e.to_string())?,
            Some(Ok(msg)) if msg.code == DISCONNECT => return Ok(()),
            Some(Ok(msg)) => conn.send(msg).await.map_err(|e| e.to_string())?,
            Some(Err(err)) => return Err(err.to_string()),
            None => return Err("closed".into()),
        }
    }
}

async fn dial(server: &TestServer) -> (NodeKey, RlpxStream<TcpStream>, Hello) {
    let key = NodeKey::random();
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let mut transport = RlpxTransport::new(Arc::new(key.clone()));
    let established = transport
        .call(Connecting::outbound(tcp, server.addr, server.key.id()))
        .await
        .unwrap();
    let mut conn = established.conn;
    assert_eq!(conn.remote_id(), server.key.id());
    let theirs = timeout(WAIT, exchange_hello(&mut conn, &hello_for(&key)))
        .await
        .unwrap()
        .unwrap();
    (key, conn, theirs)
}

async fn expect_msg<C: MsgConn>(conn: &mut C) -> Msg {
    timeout(WAIT, conn.next())
        .await
        .expect("message in time")
        .expect("stream open")
        .expect("valid message")
}

#[tokio::test]
async fn tcp_connection_exchanges_hello_with_snappy_and_messages_both_ways() {
    let mut server = TestServer::start(Duration::from_secs(5)).await;
    let (_key, mut conn, theirs) = dial(&server).await;
    assert_eq!(theirs.id, server.key.id());
    assert_eq!(theirs.client_id, "p2p-rlpx-test");
    assert!(conn.codec_mut().snappy(), "both sides speak version 5");

    // Ping answered with Pong.
    conn.send(base::ping_msg()).await.unwrap();
    assert_eq!(expect_msg(&mut conn).await.code, PONG);

    // Payloads of every size come back intact, compressible or not, in order.
    let mut sent = Vec::new();
    for (i, len) in [0usize, 1, 15, 16, 17, 1024, 65_536, 1 << 20]
        .into_iter()
        .enumerate()
    {
        let payload: Bytes = (0..len).map(|j| (j * 7 + i) as u8).collect();
        let msg = Msg::new(0x10 + i as u64, payload);
        conn.feed(msg.clone()).await.unwrap();
        sent.push(msg);
    }
    conn.flush().await.unwrap();
    for msg in sent {
        assert_eq!(expect_msg(&mut conn).await, msg);
    }

    conn.send(DisconnectReason::ClientQuitting.to_msg())
        .await
        .unwrap();
    assert_eq!(server.next_outcome().await, Ok(()));
}

/// Two nodes connected over an in-memory pipe, handshake done, no Hello yet.
async fn connected_pair() -> (
    NodeKey,
    RlpxStream<DuplexStream>,
    NodeKey,
    RlpxStream<DuplexStream>,
) {
    let (a, b) = tokio::io::duplex(64 * 1024);
    let key_a = NodeKey::random();
    let key_b = NodeKey::random();
    let (conn_a, conn_b) = tokio::join!(
        RlpxStream::connect(a, &key_a, key_b.id()),
        RlpxStream::accept(b, &key_b)
    );
    (key_a, conn_a.unwrap(), key_b, conn_b.unwrap())
}

#[tokio::test]
async fn disconnect_reason_is_read_by_the_other_side() {
    let (key_a, mut conn_a, key_b, mut conn_b) = connected_pair().await;
    assert_eq!(conn_b.remote_id(), key_a.id());
    let (ha, hb) = (hello_for(&key_a), hello_for(&key_b));
    let (ra, rb) = tokio::join!(
        exchange_hello(&mut conn_a, &ha),
        exchange_hello(&mut conn_b, &hb)
    );
    assert_eq!(ra.unwrap(), hb);
    assert_eq!(rb.unwrap(), ha);

    conn_b
        .send(DisconnectReason::TooManyPeers.to_msg())
        .await
        .unwrap();
    let msg = expect_msg(&mut conn_a).await;
    assert_eq!(msg.code, DISCONNECT);
    assert_eq!(
        DisconnectReason::decode_payload(&msg.payload),
        Ok(DisconnectReason::TooManyPeers)
    );
}

#[tokio::test]
async fn snappy_stays_off_when_the_remote_speaks_version_4() {
    let (key_a, mut conn_a, key_b, mut conn_b) = connected_pair().await;
    let old = Hello {
        protocol_version: 4,
        ..hello_for(&key_b)
    };
    let ours = hello_for(&key_a);
    let (ra, rb) = tokio::join!(
        exchange_hello(&mut conn_a, &ours),
        exchange_hello(&mut conn_b, &old)
    );
    ra.unwrap();
    rb.unwrap();
    assert!(!conn_a.codec_mut().snappy());
    assert!(!conn_b.codec_mut().snappy());
    let msg = Msg::new(0x11, vec![0u8; 4096]);
    conn_a.send(msg.clone()).await.unwrap();
    assert_eq!(expect_msg(&mut conn_b).await, msg);
}

#[tokio::test]
async fn hello_with_another_identity_is_refused_with_unexpected_identity() {
    let (key_a, mut conn_a, key_b, mut conn_b) = connected_pair().await;
    let liar = Hello {
        id: NodeKey::random().id(),
        ..hello_for(&key_a)
    };
    conn_a.send(liar.to_msg()).await.unwrap();
    let err = exchange_hello(&mut conn_b, &hello_for(&key_b))
        .await
        .unwrap_err();
    assert_eq!(
        err.disconnect_reason(),
        Some(DisconnectReason::UnexpectedIdentity)
    );
    // B's Hello, then the Disconnect naming the reason.
    assert_eq!(expect_msg(&mut conn_a).await.code, base::HELLO);
    let bye = expect_msg(&mut conn_a).await;
    assert_eq!(bye.code, DISCONNECT);
    assert_eq!(
        DisconnectReason::decode_payload(&bye.payload),
        Ok(DisconnectReason::UnexpectedIdentity)
    );
}

#[tokio::test]
async fn dialing_the_wrong_key_fails_the_handshake() {
    let mut server = TestServer::start(Duration::from_secs(5)).await;
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let impostor = NodeKey::random().id();
    let mut transport = RlpxTransport::new(Arc::new(NodeKey::random()));
    // Our auth is encrypted to a key the server does not hold: it cannot read it.
    let result = transport
        .call(Connecting::outbound(tcp, server.addr, impostor))
        .await;
    assert!(result.is_err());
    let outcome = server.next_outcome().await.unwrap_err();
    assert!(outcome.contains("ecies"), "{outcome}");
}

// ---- hostile input: each ends only its own connection ----

/// Checks the server still serves a well-behaved peer after a hostile one.
async fn server_still_serves(server: &mut TestServer) {
    let (_key, mut conn, _) = dial(server).await;
    conn.send(base::ping_msg()).await.unwrap();
    assert_eq!(expect_msg(&mut conn).await.code, PONG);
    conn.send(DisconnectReason::Requested.to_msg())
        .await
        .unwrap();
    assert_eq!(server.next_outcome().await, Ok(()));
}

#[tokio::test]
async fn garbage_auth_is_refused() {
    let mut server = TestServer::start(Duration::from_secs(5)).await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    // A plausible EIP-8 size prefix followed by noise.
    let mut garbage = vec![0x01, 0x90];
    garbage.extend((0..0x190).map(|i| (i * 31 % 251) as u8));
    tcp.write_all(&garbage).await.unwrap();
    let outcome = server.next_outcome().await.unwrap_err();
    assert!(outcome.contains("ecies"), "{outcome}");
    // The hostile connection is closed...
    let mut buf = [0u8; 1];
    assert_eq!(timeout(WAIT, tcp.read(&mut buf)).await.unwrap().unwrap(), 0);
    // ...and nobody else noticed.
    server_still_serves(&mut server).await;
}

#[tokio::test]
async fn truncated_auth_then_silence_is_closed_by_the_deadline() {
    let mut server = TestServer::start(Duration::from_millis(300)).await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    let key = NodeKey::random();
    let auth = handshake::encode_auth(
        &key,
        &server.key.id().public_key().unwrap(),
        &SecretKey::new(&mut rand::rng()),
        &[1; 32],
        &mut rand::rng(),
    );
    tcp.write_all(&auth[..auth.len() / 2]).await.unwrap();
    let outcome = server.next_outcome().await.unwrap_err();
    assert_eq!(outcome, RlpxError::HandshakeTimeout.to_string());
    let mut buf = [0u8; 1];
    assert_eq!(timeout(WAIT, tcp.read(&mut buf)).await.unwrap().unwrap(), 0);
    server_still_serves(&mut server).await;
}

#[tokio::test]
async fn auth_encrypted_to_another_key_is_refused() {
    let key_b = NodeKey::random();
    let other = NodeKey::random();
    let auth = handshake::encode_auth(
        &NodeKey::random(),
        other.public(),
        &SecretKey::new(&mut rand::rng()),
        &[1; 32],
        &mut rand::rng(),
    );
    assert!(matches!(
        handshake::decode_auth(&key_b, &auth),
        Err(RlpxError::Ecies(_))
    ));
    assert!(handshake::decode_auth(&other, &auth).is_ok());
}

/// An EIP-8 auth whose ECIES layer is valid but whose signature is `sig`.
fn auth_with_signature(from: &NodeKey, to: &NodeKey, sig: [u8; 65]) -> Vec<u8> {
    let mut body = RlpStream::new_list(4);
    body.append(&sig.as_slice())
        .append(&from.id().0.as_slice())
        .append(&[7u8; 32].as_slice())
        .append(&4u64);
    let mut plain = body.out().to_vec();
    plain.extend_from_slice(&[0u8; 150]);
    let size = ((plain.len() + ECIES_OVERHEAD) as u16).to_be_bytes();
    let mut wire = size.to_vec();
    let ephemeral = SecretKey::new(&mut rand::rng());
    ecies::encrypt_into(to.public(), &ephemeral, [3; 16], &plain, &size, &mut wire);
    wire
}

#[tokio::test]
async fn auth_with_an_unrecoverable_signature_is_refused() {
    let key_b = NodeKey::random();
    // r = s = 0 is no signature at all.
    let wire = auth_with_signature(&NodeKey::random(), &key_b, [0; 65]);
    assert!(matches!(
        handshake::decode_auth(&key_b, &wire),
        Err(RlpxError::InvalidSignature)
    ));
    // A recovery id above 3 likewise.
    let mut sig = [1u8; 65];
    sig[64] = 9;
    let wire = auth_with_signature(&NodeKey::random(), &key_b, sig);
    assert!(matches!(
        handshake::decode_auth(&key_b, &wire),
        Err(RlpxError::InvalidSignature)
    ));
}

#[tokio::test]
async fn auth_signed_over_the_wrong_message_never_yields_a_message() {
    // A well-formed signature over the wrong digest recovers to a stranger's
    // key: the handshake seems to complete, but the secrets disagree, so the
    // first frame fails its MAC.
    let mut server = TestServer::start(Duration::from_secs(5)).await;
    let key_a = NodeKey::random();
    let (recovery, compact) = secp256k1::ecdsa::RecoverableSignature::sign_ecdsa_recoverable(
        secp256k1::Message::from_digest([9; 32]),
        &SecretKey::new(&mut rand::rng()),
    )
    .serialize_compact();
    let mut sig = [0u8; 65];
    sig[..64].copy_from_slice(&compact);
    sig[64] = u8::from(recovery);
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(&auth_with_signature(&key_a, &server.key, sig))
        .await
        .unwrap();
    // Read the ack and answer with a frame keyed by what we believe.
    let mut prefix = [0u8; 2];
    tcp.read_exact(&mut prefix).await.unwrap();
    let mut ack = vec![0u8; u16::from_be_bytes(prefix) as usize];
    tcp.read_exact(&mut ack).await.unwrap();
    tcp.write_all(&[0x5a; 64]).await.unwrap();
    let outcome = server.next_outcome().await.unwrap_err();
    assert!(outcome.contains("header MAC"), "{outcome}");
    server_still_serves(&mut server).await;
}

/// An initiator that speaks raw frames: the handshake is real, but the frames
/// it sends are built by hand so they can be tampered with.
async fn raw_initiator() -> (FrameCodec, DuplexStream, RlpxStream<DuplexStream>) {
    let (mut a, b) = tokio::io::duplex(1 << 22);
    let key_a = NodeKey::random();
    let key_b = NodeKey::random();
    let (secrets_a, conn_b) = tokio::join!(
        handshake::initiate(&mut a, &key_a, key_b.id()),
        RlpxStream::accept(b, &key_b)
    );
    (
        FrameCodec::new(secrets_a.unwrap().secrets),
        a,
        conn_b.unwrap(),
    )
}

async fn send_tampered(
    codec: &mut FrameCodec,
    io: &mut DuplexStream,
    msg: Msg,
    tamper: impl FnOnce(&mut BytesMut),
) {
    let mut frame = BytesMut::new();
    codec.encode(msg, &mut frame).unwrap();
    tamper(&mut frame);
    io.write_all(&frame).await.unwrap();
}

async fn expect_error(conn: &mut RlpxStream<DuplexStream>) -> RlpxError {
    match timeout(WAIT, conn.next()).await.expect("answer in time") {
        Some(Err(err)) => err,
        other => panic!("expected an error, got {other:?}"),
    }
}

#[tokio::test]
async fn header_mac_tampering_is_refused() {
    let (mut codec, mut io, mut conn) = raw_initiator().await;
    // A good frame first: the stream works.
    send_tampered(&mut codec, &mut io, Msg::new(0x10, vec![1, 2, 3]), |_| {}).await;
    assert_eq!(expect_msg(&mut conn).await.payload.as_ref(), &[1, 2, 3]);
    send_tampered(&mut codec, &mut io, Msg::new(0x10, vec![1, 2, 3]), |f| {
        f[20] ^= 1
    })
    .await;
    let err = expect_error(&mut conn).await;
    assert!(matches!(err, RlpxError::HeaderMac), "{err}");
    assert!(err.disconnect_reason().is_some());
}

#[tokio::test]
async fn header_ciphertext_tampering_is_refused() {
    let (mut codec, mut io, mut conn) = raw_initiator().await;
    // Flipping a bit of the encrypted size must not change the size silently.
    send_tampered(&mut codec, &mut io, Msg::new(0x10, vec![1, 2, 3]), |f| {
        f[2] ^= 0x10
    })
    .await;
    assert!(matches!(
        expect_error(&mut conn).await,
        RlpxError::HeaderMac
    ));
}

#[tokio::test]
async fn frame_mac_tampering_is_refused() {
    let (mut codec, mut io, mut conn) = raw_initiator().await;
    send_tampered(&mut codec, &mut io, Msg::new(0x10, vec![1, 2, 3]), |f| {
        f[33] ^= 0x80
    })
    .await;
    assert!(matches!(expect_error(&mut conn).await, RlpxError::FrameMac));

    let (mut codec, mut io, mut conn) = raw_initiator().await;
    send_tampered(&mut codec, &mut io, Msg::new(0x10, vec![1, 2, 3]), |f| {
        let last = f.len() - 1;
        f[last] ^= 1
    })
    .await;
    assert!(matches!(expect_error(&mut conn).await, RlpxError::FrameMac));
}

#[tokio::test]
async fn frame_over_the_size_limit_is_refused_before_its_body_is_read() {
    let (mut codec, mut io, mut conn) = raw_initiator().await;
    conn.codec_mut().set_max_frame_size(1024);
    // Only the header of a 2 KiB frame: the error comes before the body does.
    send_tampered(&mut codec, &mut io, Msg::new(0x10, vec![0; 2048]), |f| {
        f.truncate(32)
    })
    .await;
    let err = expect_error(&mut conn).await;
    assert!(
        matches!(
            err,
            RlpxError::FrameTooLarge {
                size: 2049,
                max: 1024
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn sending_over_the_limit_is_an_error_and_the_stream_stays_usable() {
    let (mut codec, _io, _conn) = raw_initiator().await;
    codec.set_max_frame_size(100);
    let mut out = BytesMut::new();
    let err = codec
        .encode(Msg::new(0x10, vec![0; 200]), &mut out)
        .unwrap_err();
    assert!(matches!(err, RlpxError::MessageTooLarge { .. }));
    assert!(out.is_empty(), "nothing half-written");
}

#[tokio::test]
async fn snappy_length_bomb_is_refused_without_decompressing() {
    let (mut codec, mut io, mut conn) = raw_initiator().await;
    conn.set_snappy(true);
    // A snappy block declaring 4 GiB - 1 of output, with almost no data.
    let mut bomb = vec![0xff, 0xff, 0xff, 0xff, 0x0f];
    bomb.extend_from_slice(&[0u8; 8]);
    send_tampered(&mut codec, &mut io, Msg::new(0x10, bomb), |_| {}).await;
    let err = expect_error(&mut conn).await;
    assert!(
        matches!(
            err,
            RlpxError::DecompressedTooLarge {
                declared: 0xffff_ffff,
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn uncompressed_disconnect_after_snappy_is_still_read() {
    let (mut codec, mut io, mut conn) = raw_initiator().await;
    conn.set_snappy(true);
    // As ethereumjs sends it: a bare integer, not compressed.
    send_tampered(
        &mut codec,
        &mut io,
        Msg::new(DISCONNECT, vec![0x04]),
        |_| {},
    )
    .await;
    let msg = expect_msg(&mut conn).await;
    assert_eq!(
        DisconnectReason::decode_payload(&msg.payload),
        Ok(DisconnectReason::TooManyPeers)
    );
}

#[tokio::test]
async fn invalid_snappy_data_is_refused() {
    let (mut codec, mut io, mut conn) = raw_initiator().await;
    conn.set_snappy(true);
    // Declares 10 bytes, then a copy referring before the start of output.
    send_tampered(
        &mut codec,
        &mut io,
        Msg::new(0x10, vec![0x0a, 0x01, 0x05]),
        |_| {},
    )
    .await;
    assert!(matches!(
        expect_error(&mut conn).await,
        RlpxError::Snappy(_)
    ));
}

#[tokio::test]
async fn outbound_without_an_expected_id_is_refused() {
    let (a, _b) = tokio::io::duplex(1024);
    let mut transport = RlpxTransport::new(Arc::new(NodeKey::random()));
    let conn = Connecting {
        io: a,
        remote_addr: local(),
        direction: p2p_core::Direction::Outbound,
        expected: None,
        guards: Default::default(),
        start: Default::default(),
    };
    assert!(matches!(
        transport.call(conn).await,
        Err(RlpxError::InvalidHandshake(_))
    ));
}

#[tokio::test]
async fn a_frame_arriving_with_the_ack_is_not_lost() {
    // The recipient writes its ack and its first frame in one write, so the
    // initiator's read of the ack brings the frame along.
    let (mut a, mut b) = tokio::io::duplex(64 * 1024);
    let key_a = NodeKey::random();
    let key_b = NodeKey::random();
    let recipient = async {
        let mut prefix = [0u8; 2];
        b.read_exact(&mut prefix).await.unwrap();
        let mut auth = prefix.to_vec();
        auth.resize(2 + u16::from_be_bytes(prefix) as usize, 0);
        b.read_exact(&mut auth[2..]).await.unwrap();
        let decoded = handshake::decode_auth(&key_b, &auth).unwrap();
        let ephemeral = SecretKey::new(&mut rand::rng());
        let nonce = [42u8; 32];
        let ack = handshake::encode_ack(
            &decoded.initiator,
            &ephemeral,
            &nonce,
            true,
            &mut rand::rng(),
        );
        let secrets = handshake::HandshakeTranscript {
            role: handshake::Role::Recipient,
            ephemeral: &ephemeral,
            remote_ephemeral: &decoded.initiator_ephemeral,
            initiator_nonce: &decoded.nonce,
            recipient_nonce: &nonce,
            auth: &auth,
            ack: &ack,
            remote_id: key_a.id(),
        }
        .secrets();
        let mut wire = BytesMut::from(&ack[..]);
        FrameCodec::new(secrets)
            .encode(Msg::new(0x2a, vec![1, 2, 3]), &mut wire)
            .unwrap();
        b.write_all(&wire).await.unwrap();
        b
    };
    let (outcome, _b) = tokio::join!(handshake::initiate(&mut a, &key_a, key_b.id()), recipient);
    let outcome = outcome.unwrap();
    assert!(
        !outcome.read_ahead.is_empty(),
        "the frame came with the ack"
    );
    let mut conn = RlpxStream::from_handshake(a, outcome);
    let msg = expect_msg(&mut conn).await;
    assert_eq!((msg.code, msg.payload.as_ref()), (0x2a, &[1u8, 2, 3][..]));
}

/// Two ends of an in-memory RLPx connection: our stream, and the peer's
/// frame encoder and raw pipe, so the test chooses which bytes arrive when.
fn stream_and_raw_peer() -> (RlpxStream<DuplexStream>, FrameCodec, DuplexStream) {
    let (ours, theirs) = tokio::io::duplex(1 << 20);
    let (key_a, key_b) = (NodeKey::random(), NodeKey::random());
    let (secrets_a, secrets_b) =
        handshake::in_memory(&key_a, &key_b, true, &mut rand::rng()).unwrap();
    (
        RlpxStream::new(ours, secrets_b),
        FrameCodec::new(secrets_a),
        theirs,
    )
}

#[tokio::test(start_paused = true)]
async fn a_frame_that_stops_arriving_ends_the_connection_before_the_read_timeout() {
    let (mut conn, mut codec, mut peer) = stream_and_raw_peer();
    let mut wire = BytesMut::new();
    codec
        .encode(Msg::new(0x10, vec![7; 1000]), &mut wire)
        .unwrap();
    // The header and a little of the body, then nothing.
    peer.write_all(&wire[..100]).await.unwrap();
    let started = tokio::time::Instant::now();
    let next = timeout(Duration::from_secs(60), conn.next()).await;
    let err = next.expect("ended well before 60 s").unwrap().unwrap_err();
    assert!(matches!(err, RlpxError::FrameStalled(_)), "{err:?}");
    assert_eq!(started.elapsed(), p2p_rlpx::FRAME_STALL_TIMEOUT);
    assert_eq!(err.disconnect_reason(), Some(DisconnectReason::PingTimeout));
}

#[tokio::test(start_paused = true)]
async fn a_frame_that_keeps_moving_and_an_idle_connection_are_left_alone() {
    let (mut conn, mut codec, mut peer) = stream_and_raw_peer();
    // Idle, with no frame begun: no stall, however long.
    let idle = timeout(3 * p2p_rlpx::FRAME_STALL_TIMEOUT, conn.next()).await;
    assert!(
        idle.is_err(),
        "an idle connection is the session's business"
    );
    // A frame trickling in, a byte-run every 8 s: slow but moving.
    let mut wire = BytesMut::new();
    codec
        .encode(Msg::new(0x10, vec![7; 1000]), &mut wire)
        .unwrap();
    let chunks: Vec<_> = wire.chunks(200).map(|c| c.to_vec()).collect();
    let trickle = tokio::spawn(async move {
        for chunk in chunks {
            peer.write_all(&chunk).await.unwrap();
            tokio::time::sleep(Duration::from_secs(8)).await;
        }
        peer
    });
    let msg = conn.next().await.unwrap().unwrap();
    assert_eq!((msg.code, msg.payload.len()), (0x10, 1000));
    drop(trickle.await.unwrap());
}
