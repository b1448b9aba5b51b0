//! The discovery v4 endpoint over real UDP sockets on 127.0.0.1: bonding,
//! no answers to unbonded FindNode/ENRRequest, bad packets dropped.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use p2p_core::record::NodeRecord;
use p2p_core::{NodeKey, PeerId};
use p2p_discovery::v4::service::{Discv4, Discv4Config, Discv4Error};
use p2p_discovery::v4::wire::{
    self, Decoded, Endpoint, EnrRequest, EnrResponse, FindNode, NodeRecordV4, Packet, Ping, Pong,
    HASH_SIZE, MAX_PACKET_SIZE, PING_VERSION,
};
use tokio::net::UdpSocket;
use tokio::time::timeout;

/// How long "no answer" is waited for.
const SILENCE: Duration = Duration::from_millis(300);
/// Upper bound for anything that should happen.
const BOUND: Duration = Duration::from_secs(3);

fn localhost() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn future() -> u64 {
    unix_now() + 20
}

async fn service() -> Discv4 {
    // No revalidation: its pings at random times would interleave with the
    // packets these tests expect.
    let config = Discv4Config {
        revalidate_interval: Duration::ZERO,
        ..Discv4Config::default()
    };
    Discv4::bind(NodeKey::random(), localhost(), config)
        .await
        .expect("bind service")
}

/// A hand-driven peer: a plain socket and a key.
struct Raw {
    socket: UdpSocket,
    key: NodeKey,
}

impl Raw {
    async fn new() -> Raw {
        Raw {
            socket: UdpSocket::bind(localhost()).await.unwrap(),
            key: NodeKey::random(),
        }
    }

    fn endpoint(&self) -> Endpoint {
        let addr = self.socket.local_addr().unwrap();
        Endpoint::new(addr.ip(), addr.port(), 0)
    }

    async fn send(&self, packet: &Packet, to: SocketAddr) -> [u8; 32] {
        let (datagram, hash) = wire::encode(&self.key, packet).unwrap();
        self.socket.send_to(&datagram, to).await.unwrap();
        hash
    }

    async fn send_raw(&self, datagram: &[u8], to: SocketAddr) {
        self.socket.send_to(datagram, to).await.unwrap();
    }

    /// The next packet, or `None` if nothing arrives within `wait`.
    async fn recv(&self, wait: Duration) -> Option<Decoded> {
        let mut buf = vec![0u8; 2048];
        let (len, _) = timeout(wait, self.socket.recv_from(&mut buf))
            .await
            .ok()?
            .unwrap();
        Some(wire::decode(&buf[..len]).expect("service sent a valid packet"))
    }

    fn ping(&self, to: SocketAddr, expiration: u64) -> Packet {
        Packet::Ping(Ping {
            version: PING_VERSION,
            from: self.endpoint(),
            to: Endpoint::new(to.ip(), to.port(), 0),
            expiration,
            enr_seq: None,
        })
    }

    /// Sends a Ping and returns the matching Pong; answers the service's
    /// ping-back if it arrives first.
    async fn expect_pong(&self, to: SocketAddr) -> Pong {
        let hash = self.send(&self.ping(to, future()), to).await;
        loop {
            let got = self.recv(BOUND).await.expect("no Pong");
            match got.packet {
                Packet::Pong(pong) => {
                    assert_eq!(pong.ping_hash, hash);
                    return pong;
                }
                Packet::Ping(_) => self.answer_ping(&got, to).await,
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    async fn answer_ping(&self, ping: &Decoded, to: SocketAddr) {
        let pong = Packet::Pong(Pong {
            to: Endpoint::new(to.ip(), to.port(), 0),
            ping_hash: ping.hash,
            expiration: future(),
            enr_seq: None,
        });
        self.send(&pong, to).await;
    }

    /// Bonds with the service the way a remote node would: Ping, receive
    /// Pong and the service's ping-back, answer that. Returns once the
    /// service has us in its table.
    async fn bond(&self, svc: &Discv4) {
        let to = svc.local_addr();
        let hash = self.send(&self.ping(to, future()), to).await;
        let (mut got_pong, mut got_ping) = (false, false);
        while !(got_pong && got_ping) {
            let got = self.recv(BOUND).await.expect("bonding stalled");
            match &got.packet {
                Packet::Pong(pong) => {
                    assert_eq!(pong.ping_hash, hash);
                    got_pong = true;
                }
                Packet::Ping(_) => {
                    self.answer_ping(&got, to).await;
                    got_ping = true;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        wait_table_len(svc, 1).await;
    }
}

/// Waits (bounded) until `svc`'s table holds `n` nodes.
async fn wait_table_len(svc: &Discv4, n: usize) {
    timeout(BOUND, async {
        while svc.table_len().await.unwrap() != n {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("table never reached {n} nodes"));
}

fn find_node(target: PeerId) -> Packet {
    Packet::FindNode(FindNode {
        target,
        expiration: future(),
    })
}

#[tokio::test]
async fn two_services_bond() {
    let a = service().await;
    let b = service().await;
    let pong = timeout(BOUND, a.ping(b.local_node()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pong.id, b.local_id());
    assert_eq!(pong.addr, b.local_addr());
    assert_eq!(pong.to.udp_port, a.local_addr().port());
    assert_eq!(pong.enr_seq, Some(1));

    // A has B from the Pong; B has A from the Pong to its ping-back.
    wait_table_len(&a, 1).await;
    wait_table_len(&b, 1).await;
    let a_id = a.local_id();
    let b_id = b.local_id();
    let in_a = a.closest(b_id.node_id(), 16).await.unwrap();
    let in_b = b.closest(a_id.node_id(), 16).await.unwrap();
    assert_eq!(in_a.len(), 1);
    assert_eq!(in_a[0].id, b_id);
    assert_eq!(in_a[0].endpoint.udp_port, b.local_addr().port());
    assert_eq!(in_b[0].id, a_id);

    // Bonded both ways, so B answers A's ping again.
    timeout(BOUND, a.ping(b.local_node()))
        .await
        .unwrap()
        .unwrap();
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn ping_to_silent_node_times_out() {
    let svc = service().await;
    let silent = Raw::new().await;
    let node = NodeRecordV4 {
        endpoint: silent.endpoint(),
        id: silent.key.id(),
    };
    let result = timeout(BOUND, svc.ping(node)).await.unwrap();
    assert!(matches!(result, Err(Discv4Error::Timeout)), "{result:?}");
    assert_eq!(svc.table_len().await.unwrap(), 0);
    svc.shutdown().await;
}

#[tokio::test]
async fn find_node_needs_bond() {
    let svc = service().await;
    let to = svc.local_addr();
    let raw = Raw::new().await;

    raw.send(&find_node(raw.key.id()), to).await;
    assert!(
        raw.recv(SILENCE).await.is_none(),
        "unbonded FindNode answered"
    );

    raw.bond(&svc).await;
    raw.send(&find_node(raw.key.id()), to).await;
    let got = raw.recv(BOUND).await.expect("no Neighbors");
    let Packet::Neighbors(neighbors) = got.packet else {
        panic!("expected Neighbors, got {:?}", got.packet);
    };
    assert_eq!(got.sender, svc.local_id());
    // The table holds only us.
    assert_eq!(neighbors.nodes.len(), 1);
    assert_eq!(neighbors.nodes[0].id, raw.key.id());
    svc.shutdown().await;
}

#[tokio::test]
async fn bad_packets_get_no_answer() {
    let svc = service().await;
    let to = svc.local_addr();
    let raw = Raw::new().await;
    let (good, _) = wire::encode(&raw.key, &raw.ping(to, future())).unwrap();

    // Hash does not match the contents.
    let mut bad_hash = good.to_vec();
    bad_hash[0] ^= 1;
    raw.send_raw(&bad_hash, to).await;
    assert!(raw.recv(SILENCE).await.is_none(), "bad hash answered");

    // Signature corrupted, hash recomputed so that only the signature fails:
    // an invalid recovery id.
    let mut bad_sig = good.to_vec();
    bad_sig[HASH_SIZE + 64] = 7;
    let hash = p2p_core::keccak256(&bad_sig[HASH_SIZE..]);
    bad_sig[..HASH_SIZE].copy_from_slice(&hash);
    raw.send_raw(&bad_sig, to).await;
    assert!(raw.recv(SILENCE).await.is_none(), "bad signature answered");

    // Expired.
    raw.send(&raw.ping(to, unix_now() - 10), to).await;
    assert!(raw.recv(SILENCE).await.is_none(), "expired Ping answered");

    // Oversized, though otherwise well-formed (hash over the contents).
    let mut big = good.to_vec();
    big.resize(MAX_PACKET_SIZE + 20, 0);
    let hash = p2p_core::keccak256(&big[HASH_SIZE..]);
    big[..HASH_SIZE].copy_from_slice(&hash);
    raw.send_raw(&big, to).await;
    assert!(raw.recv(SILENCE).await.is_none(), "oversized Ping answered");

    // Garbage.
    raw.send_raw(b"hello", to).await;
    assert!(raw.recv(SILENCE).await.is_none(), "garbage answered");

    // An unsolicited Pong bonds nothing.
    let pong = Packet::Pong(Pong {
        to: Endpoint::new(to.ip(), to.port(), 0),
        ping_hash: [7; 32],
        expiration: future(),
        enr_seq: None,
    });
    raw.send(&pong, to).await;
    assert!(
        raw.recv(SILENCE).await.is_none(),
        "unsolicited Pong answered"
    );
    assert_eq!(svc.table_len().await.unwrap(), 0);

    // Still serving.
    let pong = timeout(BOUND, raw.expect_pong(to)).await.unwrap();
    assert_eq!(pong.to.udp_port, raw.endpoint().udp_port);
    svc.shutdown().await;
}

#[tokio::test]
async fn enr_request_needs_bond() {
    let svc = service().await;
    let to = svc.local_addr();
    let raw = Raw::new().await;
    let request = Packet::EnrRequest(EnrRequest {
        expiration: future(),
    });

    raw.send(&request, to).await;
    assert!(
        raw.recv(SILENCE).await.is_none(),
        "unbonded ENRRequest answered"
    );

    raw.bond(&svc).await;
    let hash = raw.send(&request, to).await;
    let got = raw.recv(BOUND).await.expect("no ENRResponse");
    let Packet::EnrResponse(response) = got.packet else {
        panic!("expected ENRResponse, got {:?}", got.packet);
    };
    assert_eq!(response.request_hash, hash);
    let text = format!(
        "enr:{}",
        data_encoding::BASE64URL_NOPAD.encode(&response.record)
    );
    let record: NodeRecord = text.parse().expect("valid record");
    assert_eq!(record.seq(), 1);
    assert_eq!(record.udp4(), Some(to.port()));
    assert_eq!(p2p_core::record::peer_id(&record), svc.local_id());
    svc.shutdown().await;
}

/// A service with `bootnodes`, keeping its nodes in the database at `db`.
async fn service_with_db(
    key: NodeKey,
    db: &std::path::Path,
    bootnodes: Vec<NodeRecordV4>,
) -> Discv4 {
    let db = p2p_discovery::nodedb::NodeDb::open(db).expect("open node database");
    let config = Discv4Config {
        bootnodes,
        node_db: Some(std::sync::Arc::new(db)),
        revalidate_interval: Duration::ZERO,
        ..Discv4Config::default()
    };
    Discv4::bind(key, localhost(), config).await.unwrap()
}

#[tokio::test]
async fn the_node_database_seeds_the_table_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("nodes.redb");
    let y = service().await;
    let z = service().await;
    let key = NodeKey::random();
    let x = service_with_db(key.clone(), &db, vec![y.local_node()]).await;
    timeout(BOUND, x.ping(z.local_node()))
        .await
        .unwrap()
        .unwrap();
    timeout(BOUND, x.ping(y.local_node()))
        .await
        .unwrap()
        .unwrap();
    // Its record, as another node fetches it (ENRRequest / ENRResponse).
    let before = timeout(BOUND, y.request_enr(x.local_node()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p2p_core::record::peer_id(&before), key.id());
    x.shutdown().await;

    // Back, with no bootnode: the database knows Y and Z.
    let x = service_with_db(key.clone(), &db, Vec::new()).await;
    for known in [&y, &z] {
        let closest = x.closest(known.local_id().node_id(), 1).await.unwrap();
        assert_eq!(closest.first().map(|n| n.id), Some(known.local_id()));
    }
    // The record was re-signed with a higher sequence number: peers that
    // cached the old one take the new one.
    let after = timeout(BOUND, y.request_enr(x.local_node()))
        .await
        .unwrap()
        .unwrap();
    assert!(
        after.seq() > before.seq(),
        "{} then {}",
        before.seq(),
        after.seq()
    );
    x.shutdown().await;
    y.shutdown().await;
    z.shutdown().await;
}

#[tokio::test]
async fn an_enr_response_signed_by_another_key_is_refused() {
    let svc = service().await;
    let raw = Raw::new().await;
    let node = NodeRecordV4 {
        endpoint: raw.endpoint(),
        id: raw.key.id(),
    };
    let to = svc.local_addr();
    let request = tokio::spawn({
        let handle = svc.handle();
        async move { handle.request_enr(node).await }
    });
    // The service bonds first: answer its Ping and ping it back.
    let ping = raw.recv(BOUND).await.expect("ping");
    raw.send(
        &Packet::Pong(Pong {
            to: Endpoint::new(Ipv4Addr::LOCALHOST, to.port(), 0),
            ping_hash: ping.hash,
            expiration: future(),
            enr_seq: None,
        }),
        to,
    )
    .await;
    raw.send(&raw.ping(to, future()), to).await;
    let mut enr_request = None;
    while enr_request.is_none() {
        let got = raw.recv(BOUND).await.expect("ENRRequest");
        if let Packet::EnrRequest(_) = got.packet {
            enr_request = Some(got.hash);
        }
    }
    // Answer with a valid record of someone else.
    let other = p2p_core::record::LocalRecord::new(
        NodeKey::random(),
        p2p_core::record::Endpoint::default(),
        1,
    )
    .unwrap();
    let text = other.record().to_base64();
    let rlp = data_encoding::BASE64URL_NOPAD
        .decode(text.trim_start_matches("enr:").as_bytes())
        .unwrap();
    raw.send(
        &Packet::EnrResponse(EnrResponse {
            request_hash: enr_request.unwrap(),
            record: rlp.into(),
        }),
        to,
    )
    .await;
    let result = timeout(BOUND, request).await.unwrap().unwrap();
    assert!(
        matches!(result, Err(Discv4Error::InvalidRecord(_))),
        "{result:?}"
    );
    svc.shutdown().await;
}

#[tokio::test]
async fn a_node_bound_to_any_address_learns_its_own_from_pongs() {
    let config = Discv4Config {
        endpoint_statements: 3,
        revalidate_interval: Duration::ZERO,
        ..Discv4Config::default()
    };
    let x = Discv4::bind(
        NodeKey::random(),
        SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        config,
    )
    .await
    .unwrap();
    let port = x.local_addr().port();
    let first = x.local_record().await.unwrap();
    assert_eq!(first.ip4(), None, "no address is known yet");
    let others = [service().await, service().await, service().await];
    for (i, other) in others.iter().enumerate() {
        timeout(BOUND, x.ping(other.local_node()))
            .await
            .unwrap()
            .unwrap();
        let record = x.local_record().await.unwrap();
        if i < 2 {
            // Fewer than three nodes agree: nothing is advertised.
            assert_eq!(record.ip4(), None);
        } else {
            assert_eq!(record.ip4(), Some(Ipv4Addr::LOCALHOST));
            assert_eq!(record.udp4(), Some(port));
            assert_eq!(record.seq(), first.seq() + 1);
        }
    }
    x.shutdown().await;
    for other in others {
        other.shutdown().await;
    }
}

#[tokio::test]
async fn an_emptied_table_is_reseeded_from_the_bootnodes() {
    let boot = service().await;
    let other = service().await;
    // `other` is known to the bootnode.
    timeout(BOUND, other.ping(boot.local_node()))
        .await
        .unwrap()
        .unwrap();
    let config = Discv4Config {
        bootnodes: vec![boot.local_node()],
        revalidate_interval: Duration::ZERO,
        ..Discv4Config::default()
    };
    let node = Discv4::bind(NodeKey::random(), localhost(), config)
        .await
        .unwrap();
    // Wait for the startup refresh, then empty the table as failed checks
    // would.
    let deadline = tokio::time::Instant::now() + BOUND;
    while node.table_len().await.unwrap() < 2 {
        assert!(tokio::time::Instant::now() < deadline, "startup refresh");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let handle = node.handle();
    for known in [boot.local_id(), other.local_id()] {
        assert!(handle.remove_node(known.node_id()).await.unwrap());
    }
    assert_eq!(node.table_len().await.unwrap(), 0);
    // The next lookup starts over from the bootnode and finds `other`.
    let found = timeout(BOUND, node.lookup(other.local_id()))
        .await
        .unwrap()
        .unwrap();
    assert!(found.iter().any(|n| n.id == other.local_id()), "{found:?}");
    node.shutdown().await;
    boot.shutdown().await;
    other.shutdown().await;
}

#[tokio::test]
async fn the_record_advertises_the_fork_id_and_follows_it_across_a_fork() {
    use p2p_core::record::{eth_fork_id, ForkId};
    let before = ForkId {
        hash: [0xfc, 0x64, 0xec, 0x04],
        next: 1_150_000,
    };
    let after = ForkId {
        hash: [0x97, 0xc2, 0xc3, 0x4c],
        next: 0,
    };
    let config = Discv4Config {
        revalidate_interval: Duration::ZERO,
        fork_id: Some(before),
        ..Discv4Config::default()
    };
    let x = Discv4::bind(NodeKey::random(), localhost(), config)
        .await
        .unwrap();
    let asker = service().await;
    let fetched = timeout(BOUND, asker.request_enr(x.local_node()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(eth_fork_id(&fetched), Some(before));
    assert!(!x.set_fork_id(before).await.unwrap(), "same fork id");
    assert!(x.set_fork_id(after).await.unwrap());
    let fetched_again = timeout(BOUND, asker.request_enr(x.local_node()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(eth_fork_id(&fetched_again), Some(after));
    assert_eq!(fetched_again.seq(), fetched.seq() + 1);
    x.shutdown().await;
    asker.shutdown().await;
}

/// ENRRequests sent in the same second are the same packet whatever the
/// node (they carry only their expiry, and signatures are deterministic):
/// answers must still reach the request each node was sent, and a request
/// repeated to one node is answered too.
#[tokio::test]
async fn records_asked_of_many_nodes_at_once_all_arrive() {
    let asker = service().await;
    let nodes = futures::future::join_all((0..4).map(|_| service())).await;
    for node in &nodes {
        timeout(BOUND, asker.ping(node.local_node()))
            .await
            .unwrap()
            .unwrap();
    }
    let targets = nodes.iter().chain(&nodes[..1]);
    let asked = targets.map(|node| {
        let asker = asker.handle();
        let target = node.local_node();
        async move { (target.id, timeout(BOUND, asker.request_enr(target)).await) }
    });
    for (id, answer) in futures::future::join_all(asked).await {
        let record = answer.expect("answered in time").expect("a record");
        assert_eq!(p2p_core::record::peer_id(&record), id);
    }
    asker.shutdown().await;
    for node in nodes {
        node.shutdown().await;
    }
}
