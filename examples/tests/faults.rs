//! Faults a network produces, against a whole server on loopback: peers killed
//! mid-handshake and mid-message, half-open connections, a peer that never
//! reads, and bytes trickled under every deadline. Each must end only its own
//! connection, leave nothing behind (descriptors back to their count before),
//! and let an honest peer in afterwards.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use futures::StreamExt;
use p2p_core::base::Hello;
use p2p_core::protocol::{CapabilityConn, Protocol, ProtocolFuture};
use p2p_core::{Capability, DisconnectReason, Msg, NodeKey, Peer, PeerEvent, PeerId};
use p2p_rlpx::RlpxStream;
use tokio::net::TcpStream;
use tokio::time::{sleep, timeout};
use tokio_util::codec::Encoder;

mod servers;

use servers::*;

/// The tests count the process's descriptors: one at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Open descriptors of this process.
fn open_fds() -> u64 {
    examples::process::own().fds
}

/// The descriptor count once it has stopped changing: a server stopped by an
/// earlier test may still be closing its sockets.
async fn settled_fds() -> u64 {
    let mut last = open_fds();
    for _ in 0..50 {
        sleep(Duration::from_millis(100)).await;
        let now = open_fds();
        if now == last {
            return now;
        }
        last = now;
    }
    last
}

/// Waits (bounded) for the descriptor count to come back to `before`.
async fn fds_back_to(before: u64) -> u64 {
    let deadline = Instant::now() + WAIT;
    loop {
        let now = open_fds();
        if now <= before || Instant::now() > deadline {
            return now;
        }
        sleep(Duration::from_millis(20)).await;
    }
}

/// Ends `tcp` with a reset, as a killed process's kernel does when data is
/// still unread, rather than an orderly close.
fn kill(tcp: TcpStream) {
    tcp.set_zero_linger().unwrap();
    drop(tcp);
}

/// Ends the connection under `conn` with a reset.
fn kill_conn(conn: RlpxStream<TcpStream>) {
    conn.get_ref().set_zero_linger().unwrap();
    drop(conn);
}

/// Writes `bytes` to the socket under an RLPx stream, bypassing its codec.
async fn write_raw(tcp: &TcpStream, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        tcp.writable().await.unwrap();
        match tcp.try_write(bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("write: {e}"),
        }
    }
}

/// Connects and completes the RLPx handshake with `server`, nothing more.
async fn encrypted(node: &Node) -> RlpxStream<TcpStream> {
    let tcp = TcpStream::connect(enode(node).tcp_addr()).await.unwrap();
    RlpxStream::connect(tcp, &NodeKey::random(), node.key.id())
        .await
        .unwrap()
}

/// `msg` framed as the stream would send it next.
fn framed(conn: &mut RlpxStream<TcpStream>, msg: Msg) -> Vec<u8> {
    let mut wire = BytesMut::new();
    conn.codec_mut().encode(msg, &mut wire).unwrap();
    wire.to_vec()
}

/// Joins `node` as a peer announcing `caps`: the handshake, then Hellos
/// exchanged; the connection is returned without reading further, so the
/// test decides whether the peer answers Pings.
async fn joined(node: &Node, key: &NodeKey, caps: &[&str]) -> RlpxStream<TcpStream> {
    use futures::SinkExt;
    let tcp = TcpStream::connect(enode(node).tcp_addr()).await.unwrap();
    let mut conn = RlpxStream::connect(tcp, key, node.key.id()).await.unwrap();
    let ours = hello(key.id(), caps);
    conn.send(ours.to_msg()).await.unwrap();
    let theirs = timeout(WAIT, conn.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(theirs.code, p2p_core::base::HELLO, "{theirs:?}");
    let theirs = Hello::decode_payload(&theirs.payload).unwrap();
    p2p_core::MsgConn::set_snappy(&mut conn, ours.snappy_with(&theirs));
    conn
}

/// An honest peer still gets in.
async fn honest_peer_joins(node: &Node) {
    let (_conn, refusal) = join(
        enode(node).tcp_addr(),
        node.key.id(),
        &NodeKey::random(),
        &["alpha"],
    )
    .await;
    assert_eq!(refusal, None, "an honest peer refused after the faults");
}

/// Waits for the `Dropped` event of `id`, skipping others.
async fn dropped(node: &mut Node, id: PeerId, within: Duration) -> p2p_core::ConnectionEnd {
    timeout(within, async {
        loop {
            if let Ok(PeerEvent::Dropped { id: gone, end }) = node.events.recv().await {
                if gone == id {
                    return end;
                }
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("peer not dropped within {within:?}"))
}

#[tokio::test]
async fn peers_killed_mid_handshake_leave_nothing_behind() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let mut a = node(&["alpha"], |c| c).await;
    let addr = enode(&a).tcp_addr();
    let before = settled_fds().await;
    for round in 0..10 {
        // Killed one byte into the auth message.
        let tcp = TcpStream::connect(addr).await.unwrap();
        write_raw(&tcp, &[0x01]).await;
        kill(tcp);
        // Killed within the auth message: an EIP-8 size prefix, then part
        // of a body (ciphertext, indistinguishable from these bytes).
        let tcp = TcpStream::connect(addr).await.unwrap();
        let mut partial = vec![0x01, 0x30];
        partial.extend((0..150).map(|i| (i * 7 + round) as u8));
        write_raw(&tcp, &partial).await;
        kill(tcp);
        // Killed after the key agreement, before Hello.
        kill_conn(encrypted(&a).await);
        // Killed halfway through its Hello.
        let key = NodeKey::random();
        let tcp = TcpStream::connect(addr).await.unwrap();
        let mut conn = RlpxStream::connect(tcp, &key, a.key.id()).await.unwrap();
        let wire = framed(&mut conn, hello(key.id(), &["alpha"]).to_msg());
        write_raw(conn.get_ref(), &wire[..wire.len() / 2]).await;
        kill_conn(conn);
    }
    assert_eq!(fds_back_to(before).await, before, "descriptors left open");
    assert_eq!(a.server.peer_count().await, 0);
    // None of them got as far as being a peer.
    while let Ok(event) = a.events.try_recv() {
        assert!(
            !matches!(event, PeerEvent::Added(_)),
            "a killed peer was added: {event:?}"
        );
    }
    honest_peer_joins(&a).await;
    a.server.stop().await;
}

/// On connect, sends one 64 KiB message after another until the session
/// ends, counting those the session took.
struct Flood {
    sent: Arc<AtomicUsize>,
}

impl Protocol for Flood {
    fn capability(&self) -> Capability {
        Capability::new("flood", 1)
    }

    fn message_count(&self) -> u64 {
        1
    }

    fn run(&self, _peer: Peer, conn: CapabilityConn) -> ProtocolFuture {
        let sent = Arc::clone(&self.sent);
        // Bytes snappy cannot shrink, so each message costs its size on the
        // wire and in the socket buffers.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let payload: Vec<u8> = (0..64 * 1024)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        Box::pin(async move {
            while conn.send(Msg::new(0, payload.clone())).await.is_ok() {
                sent.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        })
    }
}

#[tokio::test]
async fn a_peer_killed_mid_message_ends_alone() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let mut a = node(&["alpha"], |c| c).await;
    let before = settled_fds().await;
    let addr = enode(&a).tcp_addr();
    let (victim_key, bystander_key) = (NodeKey::random(), NodeKey::random());
    let (mut victim, refusal) = join(addr, a.key.id(), &victim_key, &["alpha"]).await;
    assert_eq!(refusal, None);
    let (mut bystander, refusal) = join(addr, a.key.id(), &bystander_key, &["alpha"]).await;
    assert_eq!(refusal, None);

    // Half of a 1 MiB message, then the process dies.
    let wire = framed(&mut victim, Msg::new(0x10, vec![7; 1 << 20]));
    write_raw(victim.get_ref(), &wire[..wire.len() / 2]).await;
    kill_conn(victim);
    let end = dropped(&mut a, victim_key.id(), WAIT).await;
    assert!(end.reason.is_none() || !end.by_remote(), "{end:?}");

    // The other peer's greetings still go through: it sends alpha's code 0
    // and gets code 1 back.
    use futures::SinkExt;
    bystander
        .send(Msg::new(0x10, b"still here".to_vec()))
        .await
        .unwrap();
    let echo = timeout(WAIT, async {
        loop {
            let msg = bystander.next().await.unwrap().unwrap();
            if msg.code == 0x11 {
                return msg;
            }
        }
    })
    .await
    .expect("the bystander's echo");
    assert_eq!(echo.payload, b"still here".to_vec());
    assert_eq!(a.server.peer_count().await, 1);
    drop(bystander);
    let _ = dropped(&mut a, bystander_key.id(), WAIT).await;
    assert_eq!(fds_back_to(before).await, before, "descriptors left open");
    a.server.stop().await;
}

#[tokio::test]
async fn a_half_open_peer_is_dropped_when_it_stops_answering() {
    // A peer whose machine vanished: no FIN, no reset, its socket simply
    // silent. Pinged every 200 ms, silent for 1 s, it is dropped.
    let _serial = ONE_AT_A_TIME.lock().await;
    let mut a = node(&["alpha"], |c| {
        c.ping_interval(Duration::from_millis(200))
            .frame_read_timeout(Duration::from_secs(1))
    })
    .await;
    let before = settled_fds().await;
    let key = NodeKey::random();
    let conn = joined(&a, &key, &["alpha"]).await;
    let silent_from = Instant::now();
    let end = dropped(&mut a, key.id(), WAIT).await;
    let after = silent_from.elapsed();
    assert_eq!(end.reason, Some(DisconnectReason::PingTimeout), "{end:?}");
    assert!(!end.by_remote());
    assert!(after < Duration::from_secs(3), "dropped after {after:?}");
    drop(conn);
    assert_eq!(fds_back_to(before).await, before, "descriptors left open");
    a.server.stop().await;
}

/// The most the kernel lets a TCP socket's buffer grow to (`net.ipv4.<name>`,
/// its third field).
fn socket_buffer_max(name: &str) -> usize {
    let text = std::fs::read_to_string(format!("/proc/sys/net/ipv4/{name}")).unwrap();
    text.split_whitespace().nth(2).unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_peer_that_never_reads_is_dropped_and_its_queue_stays_bounded() {
    // The server sends 64 KiB messages as fast as the session takes them; the
    // peer reads none. Its send queue fills, then the socket's buffers, then
    // a write waits past the write timeout and the peer is dropped. What the
    // sender got rid of in the meantime is bounded by the queue and the
    // kernel's buffers, not by how long the peer stayed.
    let _serial = ONE_AT_A_TIME.lock().await;
    let sent = Arc::new(AtomicUsize::new(0));
    let flood = Arc::new(Flood {
        sent: Arc::clone(&sent),
    });
    let mut a = node_offering(vec![flood], |c| {
        c.frame_write_timeout(Duration::from_secs(1))
    })
    .await;
    let before = settled_fds().await;
    let rss_before = examples::process::own().rss;

    let peer = NodeKey::random();
    let conn = joined(&a, &peer, &["flood"]).await;
    let end = dropped(&mut a, peer.id(), WAIT).await;
    assert!(!end.by_remote(), "{end:?}");
    let taken = sent.load(Ordering::Relaxed);
    let grown = examples::process::own().rss.saturating_sub(rss_before);
    // The session queue's messages (64), the one being written, and what the kernel's
    // socket buffers can grow to (the send side's and the receive side's
    // maximum): far below what an unbounded queue would take in the second
    // the writer waited.
    let kernel = socket_buffer_max("tcp_wmem") + socket_buffer_max("tcp_rmem");
    let bound = p2p_core::session::DEFAULT_QUEUE + 2 + kernel / (64 * 1024);
    assert!(
        taken <= bound,
        "{taken} messages of 64 KiB taken, bound {bound}"
    );
    assert!(grown < 32 << 20, "memory grew by {grown} bytes");
    eprintln!("taken {taken} messages, RSS grew {} KiB", grown >> 10);
    drop(conn);
    assert_eq!(fds_back_to(before).await, before, "descriptors left open");
    a.server.stop().await;
}

#[tokio::test]
async fn a_handshake_trickled_under_every_deadline_is_closed_at_the_handshake_deadline() {
    // Slowloris: a valid-looking auth message, one byte every 100 ms, so no
    // read ever waits long. The handshake deadline ends it, and an honest
    // peer meanwhile gets in.
    let _serial = ONE_AT_A_TIME.lock().await;
    let handshake_timeout = Duration::from_secs(1);
    let a = node(&["alpha"], |c| c.handshake_timeout(handshake_timeout)).await;
    let before = settled_fds().await;
    let addr = enode(&a).tcp_addr();
    let trickles: Vec<_> = (0..20)
        .map(|_| {
            tokio::spawn(async move {
                let mut tcp = TcpStream::connect(addr).await.unwrap();
                let started = Instant::now();
                let mut bytes = vec![0x01, 0x30];
                bytes.extend([0x42; 0x130]);
                for byte in bytes {
                    use tokio::io::AsyncWriteExt;
                    if tcp.write_all(&[byte]).await.is_err() {
                        break;
                    }
                    sleep(Duration::from_millis(100)).await;
                    if started.elapsed() > WAIT {
                        break;
                    }
                }
                started.elapsed()
            })
        })
        .collect();
    honest_peer_joins(&a).await;
    for trickle in trickles {
        let lived = trickle.await.unwrap();
        // Closed at the deadline, counted from when the first bytes came
        // (the writer notices on its next write, 100 ms later).
        assert!(
            lived < handshake_timeout * 3,
            "a trickled handshake lived {lived:?}"
        );
    }
    assert_eq!(fds_back_to(before).await, before, "descriptors left open");
    a.server.stop().await;
}

#[tokio::test]
async fn a_message_trickled_under_every_deadline_ends_at_the_read_timeout() {
    // Slowloris after the handshake: a 64 KiB message, one byte every 50 ms,
    // so the frame keeps moving well inside the frame stall limit. No whole
    // message arrives, so the session's read timeout ends it.
    let _serial = ONE_AT_A_TIME.lock().await;
    let read_timeout = Duration::from_secs(2);
    let mut a = node(&["alpha"], |c| {
        c.ping_interval(Duration::from_millis(500))
            .frame_read_timeout(read_timeout)
    })
    .await;
    let before = settled_fds().await;
    let key = NodeKey::random();
    let mut conn = joined(&a, &key, &["alpha"]).await;
    let wire = framed(&mut conn, Msg::new(0x10, vec![1; 64 * 1024]));
    let started = Instant::now();
    let trickle = tokio::spawn(async move {
        for byte in wire {
            let tcp = conn.get_ref();
            if tcp.writable().await.is_err() || tcp.try_write(&[byte]).is_err() {
                break;
            }
            sleep(Duration::from_millis(50)).await;
            if started.elapsed() > WAIT {
                break;
            }
        }
        conn
    });
    let end = dropped(&mut a, key.id(), WAIT).await;
    let lived = started.elapsed();
    assert_eq!(end.reason, Some(DisconnectReason::PingTimeout), "{end:?}");
    assert!(lived < read_timeout * 2, "lived {lived:?}");
    drop(trickle.await.unwrap());
    assert_eq!(fds_back_to(before).await, before, "descriptors left open");
    a.server.stop().await;
}
