//! The eth capability through the whole stack: servers over RLPx on
//! loopback run the Status handshake, fetch headers, bodies and receipts from
//! each other, refuse peers of another chain, and end hostile peers with the
//! right reason while the healthy ones keep being served.

use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use p2p_core::base::{Hello, BASE_PROTOCOL_VERSION, DISCONNECT, PING};
use p2p_core::config::Config;
use p2p_core::{exchange_hello, Capability, DisconnectReason, Msg, NodeKey, PeerEvent, Server};
use p2p_protocols::eth::chain::MemoryChain;
use p2p_protocols::eth::handler::{Announcement, EthHandler};
use p2p_protocols::eth::handshake::{ChainSpec, StatusError};
use p2p_protocols::eth::messages::{code, EthMessage, GetBlockHeaders};
use p2p_protocols::eth::protocol::{Eth, EthConfig, EthEvent, EthPeer};
use p2p_protocols::eth::tracker::{Misbehaviour, RequestError};
use p2p_protocols::eth::types::{BlockHeader, HashOrNumber};
use p2p_protocols::eth::EthVersion;
use p2p_protocols::forkid::{mainnet, ChainForks};
use p2p_rlpx::{RlpxStream, RlpxTransport};
use primitive_types::H256;
use tokio::net::TcpStream;
use tokio::sync::broadcast;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);
/// Offset of the eth capability when it is the only one.
const ETH_OFFSET: u64 = 0x10;

struct Node {
    server: Server,
    key: NodeKey,
    eth: Eth,
    chain: Arc<MemoryChain>,
    events: broadcast::Receiver<EthEvent>,
}

fn mainnet_spec() -> ChainSpec {
    ChainSpec::new(1, mainnet::petersburg())
}

async fn node(
    chain: Arc<MemoryChain>,
    spec: ChainSpec,
    configure: impl FnOnce(&mut EthConfig),
) -> Node {
    let key = NodeKey::random();
    let mut config = EthConfig::new(spec);
    configure(&mut config);
    let eth = Eth::new(config, chain.clone());
    let events = eth.subscribe();
    let server_config = Config::builder()
        .listen_addr("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap())
        .build()
        .unwrap();
    let server = Server::builder(key.clone())
        .config(server_config)
        .protocols(eth.protocols())
        .encryption(RlpxTransport::new)
        .start()
        .await
        .unwrap();
    Node {
        server,
        key,
        eth,
        chain,
        events,
    }
}

/// A chain on mainnet's genesis, grown by `blocks` made-up blocks.
fn chain(blocks: u64) -> Arc<MemoryChain> {
    let chain = Arc::new(MemoryChain::new(MemoryChain::mainnet_genesis()));
    chain.grow(blocks, 3);
    chain
}

async fn next_event(node: &mut Node) -> EthEvent {
    timeout(WAIT, node.events.recv())
        .await
        .expect("eth event in time")
        .unwrap()
}

async fn ready(node: &mut Node) -> EthPeer {
    match next_event(node).await {
        EthEvent::Ready(peer) => peer,
        other => panic!("expected Ready, got {other:?}"),
    }
}

async fn connect(a: &mut Node, b: &mut Node) -> (EthPeer, EthPeer) {
    a.server
        .add_peer(b.server.local_enode().expect("listening"))
        .await;
    (ready(a).await, ready(b).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_agree_on_eth71_and_fetch_headers_bodies_and_receipts() {
    let mut a = node(chain(0), mainnet_spec(), |_| {}).await;
    let mut b = node(chain(300), mainnet_spec(), |_| {}).await;
    let (b_seen_by_a, a_seen_by_b) = connect(&mut a, &mut b).await;
    assert_eq!(b_seen_by_a.version(), EthVersion::Eth71);
    assert_eq!(a_seen_by_b.id(), a.key.id());
    assert_eq!(b_seen_by_a.status().genesis, a.chain.genesis_hash());

    // Headers: forwards, backwards with a skip, by hash.
    let headers = b_seen_by_a
        .get_block_headers(HashOrNumber::Number(1), 200, 0, false)
        .await
        .unwrap();
    assert_eq!(headers.len(), 200);
    for (i, header) in headers.iter().enumerate() {
        assert_eq!(
            Some(header),
            b.chain.header_by_number(i as u64 + 1).as_ref()
        );
    }
    let back = b_seen_by_a
        .get_block_headers(HashOrNumber::Number(300), 4, 9, true)
        .await
        .unwrap();
    let numbers: Vec<u64> = back.iter().map(|h| h.number).collect();
    assert_eq!(numbers, vec![300, 290, 280, 270]);
    let by_hash = b_seen_by_a
        .get_block_headers(HashOrNumber::Hash(headers[49].hash()), 1, 0, false)
        .await
        .unwrap();
    assert_eq!(by_hash, vec![headers[49].clone()]);

    // Bodies and receipts of the first ten, with one unknown hash skipped.
    let mut hashes: Vec<_> = headers[..10].iter().map(BlockHeader::hash).collect();
    hashes.insert(3, primitive_types::H256::repeat_byte(0xee));
    let bodies = b_seen_by_a.get_block_bodies(hashes.clone()).await.unwrap();
    assert_eq!(bodies.len(), 10);
    assert_eq!(bodies[0], b.chain.block_body(&headers[0].hash()).unwrap());
    assert_eq!(bodies[0].transactions.len(), 3);
    // eth/70 receipts stop at the first unknown block (a continuation
    // names its block by position, so none may be skipped).
    let receipts = b_seen_by_a.get_receipts(hashes.clone()).await.unwrap();
    assert_eq!(receipts.len(), 3);
    assert_eq!(receipts[2], b.chain.receipts(&headers[2].hash()).unwrap());
    hashes.remove(3);
    let receipts = b_seen_by_a.get_receipts(hashes).await.unwrap();
    assert_eq!(receipts.len(), 10);
    assert_eq!(receipts[9], b.chain.receipts(&headers[9].hash()).unwrap());

    // Announcements reach the other side's handler.
    let tx = p2p_protocols::eth::chain::made_up_transaction(1, 0);
    a_seen_by_b
        .announce(Announcement::Transactions(vec![tx.clone()]))
        .await
        .unwrap();
    timeout(WAIT, async {
        while a.chain.announcements().is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
    assert_eq!(
        a.chain.announcements(),
        vec![(b.key.id(), Announcement::Transactions(vec![tx]))]
    );

    a.server.stop().await;
    b.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_eth69_node_gets_receipts_with_unknown_blocks_skipped() {
    let mut a = node(chain(0), mainnet_spec(), |c| {
        c.versions = vec![EthVersion::Eth68, EthVersion::Eth69]
    })
    .await;
    let mut b = node(chain(8), mainnet_spec(), |_| {}).await;
    let (b_seen_by_a, _) = connect(&mut a, &mut b).await;
    assert_eq!(b_seen_by_a.version(), EthVersion::Eth69);
    let mut hashes: Vec<_> = (1..=8)
        .map(|n| b.chain.header_by_number(n).unwrap().hash())
        .collect();
    hashes.insert(2, primitive_types::H256::repeat_byte(0xee));
    let receipts = b_seen_by_a.get_receipts(hashes).await.unwrap();
    assert_eq!(receipts.len(), 8);
    // eth/69 has no access lists: the handle says so without asking.
    assert!(matches!(
        b_seen_by_a.get_block_access_lists(vec![]).await,
        Err(RequestError::Unsupported { version: 69 })
    ));
    a.server.stop().await;
    b.server.stop().await;
}

/// A block whose receipts are over 10 MiB (more than one message may carry)
/// with `count` receipts of `log_bytes` of log data each, on top of `chain`.
fn push_block_with_huge_receipts(chain: &MemoryChain, count: usize, log_bytes: usize) -> H256 {
    use p2p_protocols::eth::types::{Log, Receipt, ReceiptOutcome};
    let head = chain.header_by_number(chain.head_number()).unwrap();
    let receipts: Vec<Receipt> = (0..count)
        .map(|i| Receipt {
            tx_type: 2,
            outcome: ReceiptOutcome::Status(true),
            cumulative_gas_used: 21_000 * (i as u64 + 1),
            logs: vec![Log {
                address: primitive_types::H160::repeat_byte(i as u8),
                topics: vec![],
                data: bytes::Bytes::from(vec![i as u8; log_bytes]),
            }],
        })
        .collect();
    let header = BlockHeader {
        parent_hash: head.hash(),
        number: head.number + 1,
        timestamp: head.timestamp + 12,
        ..head
    };
    chain
        .push_block(header, Default::default(), receipts)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_over_a_message_come_in_parts_over_eth70() {
    let mut a = node(chain(0), mainnet_spec(), |_| {}).await;
    let b_chain = chain(3);
    // 48 receipts of 512 KiB: 24 MiB, three messages' worth.
    let huge = push_block_with_huge_receipts(&b_chain, 48, 512 * 1024);
    b_chain.grow(2, 1);
    let mut b = node(b_chain, mainnet_spec(), |_| {}).await;
    let (b_seen_by_a, _) = connect(&mut a, &mut b).await;
    assert_eq!(b_seen_by_a.version(), EthVersion::Eth71);
    let before = b.chain.header_by_number(3).unwrap().hash();
    let after = b.chain.header_by_number(5).unwrap().hash();
    let receipts = b_seen_by_a
        .get_receipts(vec![before, huge, after])
        .await
        .unwrap();
    // The huge block comes whole, after as many requests as it took; the
    // answer ends with it (the peer stops at the incomplete block, and the
    // continuation's soft limit is spent on it).
    assert!(receipts.len() >= 2, "{}", receipts.len());
    assert_eq!(receipts[0], b.chain.receipts(&before).unwrap());
    assert_eq!(receipts[1], b.chain.receipts(&huge).unwrap());
    assert_eq!(receipts[1].len(), 48);
    a.server.stop().await;
    b.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_access_lists_are_served_over_eth71() {
    let mut a = node(chain(0), mainnet_spec(), |_| {}).await;
    let mut b = node(chain(4), mainnet_spec(), |_| {}).await;
    let (b_seen_by_a, _) = connect(&mut a, &mut b).await;
    let with_list = b.chain.header_by_number(2).unwrap().hash();
    let without = b.chain.header_by_number(3).unwrap().hash();
    // An access list is an RLP list; an empty one is valid and distinct
    // from having none.
    let list = bytes::Bytes::from(rlp::encode_list::<u64, u64>(&[7, 8]).to_vec());
    b.chain
        .set_block_access_list(with_list, list.clone())
        .unwrap();
    b.chain
        .set_block_access_list(without, bytes::Bytes::from_static(&[0xc0]))
        .unwrap();
    let unknown = primitive_types::H256::repeat_byte(0xee);
    let lists = b_seen_by_a
        .get_block_access_lists(vec![with_list, unknown, without])
        .await
        .unwrap();
    assert_eq!(
        lists,
        vec![Some(list), None, Some(bytes::Bytes::from_static(&[0xc0]))]
    );
    a.server.stop().await;
    b.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_eth68_only_node_gets_eth68_receipts_with_blooms() {
    let mut a = node(chain(0), mainnet_spec(), |c| {
        c.versions = vec![EthVersion::Eth68]
    })
    .await;
    let mut b = node(chain(5), mainnet_spec(), |_| {}).await;
    let (b_seen_by_a, _) = connect(&mut a, &mut b).await;
    assert_eq!(b_seen_by_a.version(), EthVersion::Eth68);
    let header = b.chain.header_by_number(5).unwrap();
    let receipts = b_seen_by_a.get_receipts(vec![header.hash()]).await.unwrap();
    assert_eq!(receipts, vec![b.chain.receipts(&header.hash()).unwrap()]);
    // eth/68 has no BlockRangeUpdate: the handle refuses to send one.
    assert!(b_seen_by_a
        .announce(Announcement::BlockRange(Default::default()))
        .await
        .is_err());
    a.server.stop().await;
    b.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_of_another_chain_is_refused_on_both_sides() {
    let mut a = node(chain(0), mainnet_spec(), |_| {}).await;
    let mut a_peer_events = a.server.subscribe_events();
    let other_genesis = BlockHeader {
        extra_data: bytes::Bytes::from_static(b"another chain"),
        ..MemoryChain::mainnet_genesis()
    };
    let other_spec = ChainSpec::new(
        1,
        ChainForks::new(
            other_genesis.hash().0,
            0,
            mainnet::PETERSBURG_BLOCK_FORKS,
            [],
        ),
    );
    let mut c = node(
        Arc::new(MemoryChain::new(other_genesis)),
        other_spec,
        |_| {},
    )
    .await;
    c.server.add_peer(a.server.local_enode().unwrap()).await;
    // Each side refuses the other's genesis, unless the other's refusal
    // closed the session before its Status was read; at least one refuses.
    let mut refusals = 0;
    for side in [&mut a, &mut c] {
        match next_event(side).await {
            EthEvent::HandshakeFailed {
                error: StatusError::GenesisMismatch { .. },
                ..
            } => refusals += 1,
            EthEvent::HandshakeFailed {
                error: StatusError::Closed,
                ..
            } => {}
            other => panic!("expected a genesis mismatch, got {other:?}"),
        }
    }
    assert!(refusals >= 1);
    // The session ends with SubprotocolError, whichever side said it first.
    let dropped = timeout(WAIT, async {
        loop {
            if let PeerEvent::Dropped { end, .. } = a_peer_events.recv().await.unwrap() {
                break end.reason.expect("a session ends with a reason");
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(dropped, DisconnectReason::SubprotocolError);
    assert!(a.eth.peers().is_empty());
    a.server.stop().await;
    c.server.stop().await;
}

/// Builds a hostile message (code and payload) from the node's Status.
type Hostile = Box<dyn Fn(EthMessage) -> (u64, Vec<u8>)>;

/// A bare RLPx client speaking eth (eth/69 unless told otherwise) by hand.
struct RawPeer {
    conn: RlpxStream<TcpStream>,
    id: p2p_core::PeerId,
    version: EthVersion,
}

impl RawPeer {
    /// Connects to `node` as an eth/69 peer, exchanges Hello, and reads the
    /// node's Status.
    async fn join(node: &Node) -> (Self, EthMessage) {
        Self::join_as(node, EthVersion::Eth69).await
    }

    /// As [`RawPeer::join`], offering eth `version` only.
    async fn join_as(node: &Node, version: EthVersion) -> (Self, EthMessage) {
        let key = NodeKey::random();
        let addr = node.server.local_enode().unwrap().tcp_addr();
        let tcp = TcpStream::connect(addr).await.unwrap();
        let mut conn = RlpxStream::connect(tcp, &key, node.key.id()).await.unwrap();
        let hello = Hello {
            protocol_version: BASE_PROTOCOL_VERSION,
            client_id: "raw eth peer".into(),
            capabilities: vec![Capability::new("eth", version.number())],
            listen_port: 0,
            id: key.id(),
        };
        exchange_hello(&mut conn, &hello).await.unwrap();
        let mut peer = RawPeer {
            conn,
            id: key.id(),
            version,
        };
        let status = peer.next_eth().await.expect("status");
        (peer, status)
    }

    async fn send(&mut self, code: u64, payload: impl Into<bytes::Bytes>) {
        self.conn
            .send(Msg::new(ETH_OFFSET + code, payload))
            .await
            .unwrap();
    }

    /// The next eth message, or the disconnect reason.
    async fn next_eth(&mut self) -> Result<EthMessage, DisconnectReason> {
        loop {
            let msg = timeout(WAIT, self.conn.next())
                .await
                .expect("a message in time")
                .expect("open")
                .expect("readable");
            match msg.code {
                DISCONNECT => return Err(DisconnectReason::decode_payload(&msg.payload).unwrap()),
                PING => self.conn.send(p2p_core::base::pong_msg()).await.unwrap(),
                c if c >= ETH_OFFSET => {
                    return Ok(
                        EthMessage::decode(self.version, c - ETH_OFFSET, &msg.payload).unwrap(),
                    )
                }
                _ => {}
            }
        }
    }

    /// Reads until the node disconnects us, answering nothing.
    async fn disconnect_reason(&mut self) -> DisconnectReason {
        loop {
            if let Err(reason) = self.next_eth().await {
                return reason;
            }
        }
    }
}

/// eth/70's partial receipts against a peer that abuses them: a
/// continuation that brings nothing is refused, and the peer ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipts_continuation_without_receipts_is_refused() {
    use p2p_protocols::eth::messages::Receipts70;
    let mut a = node(chain(3), mainnet_spec(), |_| {}).await;
    let (mut raw, status) = RawPeer::join_as(&a, EthVersion::Eth70).await;
    raw.send(code::STATUS, status.encode_payload()).await;
    let peer = loop {
        if let EthEvent::Ready(peer) = next_event(&mut a).await {
            break peer;
        }
    };
    let wanted = vec![H256::repeat_byte(1), H256::repeat_byte(2)];
    let request = tokio::spawn({
        let peer = peer.clone();
        async move { peer.get_receipts(wanted).await }
    });
    let receipt = a
        .chain
        .receipts(&a.chain.header_by_number(1).unwrap().hash())
        .unwrap()[0]
        .clone();
    // First answer: one receipt of the first block, marked incomplete.
    let Ok(EthMessage::GetReceipts70(first)) = raw.next_eth().await else {
        panic!("expected an eth/70 GetReceipts")
    };
    assert_eq!(first.first_block_receipt_index, 0);
    let part = EthMessage::Receipts70(Receipts70 {
        request_id: first.request_id,
        last_block_incomplete: true,
        receipts: vec![vec![receipt]],
    });
    raw.send(code::RECEIPTS, part.encode_payload()).await;
    // The continuation asks from index 1 of that block; answer with nothing.
    let Ok(EthMessage::GetReceipts70(next)) = raw.next_eth().await else {
        panic!("expected the continuation")
    };
    assert_eq!(next.first_block_receipt_index, 1);
    assert_eq!(
        next.hashes,
        vec![H256::repeat_byte(1), H256::repeat_byte(2)]
    );
    let empty = EthMessage::Receipts70(Receipts70 {
        request_id: next.request_id,
        last_block_incomplete: true,
        receipts: vec![vec![]],
    });
    raw.send(code::RECEIPTS, empty.encode_payload()).await;
    let result = timeout(WAIT, request).await.unwrap().unwrap();
    assert!(
        matches!(
            result,
            Err(RequestError::BadResponse(Misbehaviour::Mismatch(_)))
        ),
        "{result:?}"
    );
    assert_eq!(
        raw.disconnect_reason().await,
        DisconnectReason::SubprotocolError
    );
    a.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_peers_end_with_the_right_reason_and_the_healthy_one_is_served() {
    let mut a = node(chain(20), mainnet_spec(), |c| {
        c.status_timeout = Duration::from_millis(500);
        c.request_timeout = Duration::from_millis(500);
    })
    .await;
    let mut b = node(chain(0), mainnet_spec(), |_| {}).await;
    let (a_seen_by_b, _) = connect(&mut b, &mut a).await;

    // Silent: no Status at all.
    let (mut silent, _) = RawPeer::join(&a).await;
    assert_eq!(
        silent.disconnect_reason().await,
        DisconnectReason::PingTimeout
    );

    // A Status of another network.
    let (mut wrong, EthMessage::Status(mut status)) = RawPeer::join(&a).await else {
        panic!("status first")
    };
    status.network_id = 5;
    wrong
        .send(code::STATUS, EthMessage::Status(status).encode_payload())
        .await;
    assert_eq!(
        wrong.disconnect_reason().await,
        DisconnectReason::SubprotocolError
    );

    // Good Status, then garbage, an oversized announcement, a second Status,
    // unsolicited responses: each ends its own connection.
    let hostile: Vec<(&str, Hostile)> = vec![
        (
            "bad rlp",
            Box::new(|_| (code::GET_BLOCK_HEADERS, vec![0xc5, 0x01])),
        ),
        (
            "string for a list",
            Box::new(|_| (code::GET_BLOCK_BODIES, rlp::encode(&"hello").to_vec())),
        ),
        (
            "code eth/69 lacks",
            Box::new(|_| (code::NEW_BLOCK, rlp::encode_list::<u8, u8>(&[]).to_vec())),
        ),
        (
            "4097 announced hashes",
            Box::new(|_| {
                let mut s = rlp::RlpStream::new_list(3);
                s.append(&vec![2u8; 4097]);
                s.append_list(&vec![100u32; 4097]);
                s.append_list(&vec![primitive_types::H256::zero(); 4097]);
                (code::NEW_POOLED_TRANSACTION_HASHES, s.out().to_vec())
            }),
        ),
        (
            "second status",
            Box::new(|status| (code::STATUS, status.encode_payload().to_vec())),
        ),
    ];
    for (what, message) in &hostile {
        let (mut peer, status) = RawPeer::join(&a).await;
        peer.send(code::STATUS, status.encode_payload()).await;
        let (c, payload) = message(status);
        peer.send(c, payload).await;
        assert_eq!(
            peer.disconnect_reason().await,
            DisconnectReason::SubprotocolError,
            "{what}"
        );
    }

    // Unsolicited responses: tolerated three times, not four.
    let (mut pest, status) = RawPeer::join(&a).await;
    pest.send(code::STATUS, status.encode_payload()).await;
    let unsolicited = EthMessage::BlockHeaders(p2p_protocols::eth::messages::BlockHeaders {
        request_id: 77,
        headers: vec![],
    });
    for _ in 0..4 {
        pest.send(code::BLOCK_HEADERS, unsolicited.encode_payload())
            .await;
    }
    assert_eq!(
        pest.disconnect_reason().await,
        DisconnectReason::SubprotocolError
    );

    // A peer that never answers: our requests time out, with a penalty.
    let (mut mute, status) = RawPeer::join(&a).await;
    mute.send(code::STATUS, status.encode_payload()).await;
    let mute_peer = loop {
        if let EthEvent::Ready(peer) = next_event(&mut a).await {
            if peer.id() == mute.id {
                break peer;
            }
        }
    };
    let started = tokio::time::Instant::now();
    assert_eq!(
        mute_peer
            .get_block_headers(HashOrNumber::Number(0), 1, 0, false)
            .await,
        Err(RequestError::Timeout)
    );
    assert!(started.elapsed() >= Duration::from_millis(500));
    assert!(mute_peer.reputation().debt() > 0);
    // It did get the request, with a request id and the query asked.
    match mute.next_eth().await {
        Ok(EthMessage::GetBlockHeaders(GetBlockHeaders {
            start: HashOrNumber::Number(0),
            limit: 1,
            ..
        })) => {}
        other => panic!("expected the request, got {other:?}"),
    }

    // A response with more headers than asked ends the peer at once.
    let request = tokio::spawn({
        let mute_peer = mute_peer.clone();
        async move {
            mute_peer
                .get_block_headers(HashOrNumber::Number(0), 1, 0, false)
                .await
        }
    });
    let Ok(EthMessage::GetBlockHeaders(query)) = mute.next_eth().await else {
        panic!("expected a request")
    };
    let too_many = EthMessage::BlockHeaders(p2p_protocols::eth::messages::BlockHeaders {
        request_id: query.request_id,
        headers: vec![
            a.chain.header_by_number(0).unwrap(),
            a.chain.header_by_number(1).unwrap(),
        ],
    });
    mute.send(code::BLOCK_HEADERS, too_many.encode_payload())
        .await;
    assert_eq!(
        mute.disconnect_reason().await,
        DisconnectReason::SubprotocolError
    );
    assert!(matches!(
        request.await.unwrap(),
        Err(RequestError::BadResponse(Misbehaviour::TooManyItems {
            asked: 1,
            got: 2
        }))
    ));

    // Through all of it the healthy peer was served.
    let headers = a_seen_by_b
        .get_block_headers(HashOrNumber::Number(0), 21, 0, false)
        .await
        .unwrap();
    assert_eq!(headers.len(), 21);
    assert_eq!(a.eth.peers().len(), 1);
    a.server.stop().await;
    b.server.stop().await;
}
