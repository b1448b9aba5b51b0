//! The snap capability through the whole stack: servers over RLPx on
//! loopback offer eth and snap, download each other's state in budgeted
//! pages (accounts, storage, codes checked by hash, trie nodes), refuse a
//! peer that runs snap without eth, and end hostile peers (malformed
//! requests, unsolicited or wrong responses) with `SubprotocolError` while
//! the healthy peer keeps being served.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use p2p_core::base::{Hello, BASE_PROTOCOL_VERSION, DISCONNECT, PING};
use p2p_core::config::Config;
use p2p_core::{exchange_hello, Capability, DisconnectReason, Msg, NodeKey, PeerId, Server};
use p2p_protocols::eth::chain::MemoryChain;
use p2p_protocols::eth::handshake::ChainSpec;
use p2p_protocols::eth::messages::{code as eth_code, EthMessage};
use p2p_protocols::eth::protocol::{Eth, EthConfig};
use p2p_protocols::eth::tracker::{Misbehaviour, RequestError};
use p2p_protocols::eth::EthVersion;
use p2p_protocols::forkid::mainnet;
use p2p_protocols::snap::{
    keccak256, AccountEntry, AccountRange, ByteCodes, GetByteCodes, MemorySnapState, SlimAccount,
    Snap, SnapConfig, SnapEvent, SnapMessage, SnapPeer, TrieNodePathSet, ACCOUNT_RANGE,
    GET_ACCOUNT_RANGE, GET_BYTE_CODES, GET_TRIE_NODES, MAX_REQUEST_ITEMS, TRIE_NODES,
};
use p2p_rlpx::{RlpxStream, RlpxTransport};
use primitive_types::{H256, U256};
use tokio::net::TcpStream;
use tokio::sync::broadcast;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);
/// Offset of eth/69 beside snap/1: capabilities take codes from 0x10 in the
/// order of their names.
const ETH_OFFSET: u64 = 0x10;
/// Offset of snap/1 beside eth/69 (18 codes).
const SNAP_OFFSET: u64 = ETH_OFFSET + 18;
const MAX_HASH: H256 = H256([0xff; 32]);

fn hash(tag: &str, i: u64) -> H256 {
    keccak256(format!("{tag}/{i}").as_bytes())
}

/// The hash right after `h`, if any.
fn next_hash(h: H256) -> Option<H256> {
    let (next, overflow) = U256::from_big_endian(h.as_bytes()).overflowing_add(U256::one());
    (!overflow).then(|| H256(next.to_big_endian()))
}

/// A made-up state, served from a [`MemorySnapState`] and kept here as plain
/// maps to compare downloads with.
struct World {
    state: Arc<MemorySnapState>,
    accounts: BTreeMap<H256, SlimAccount>,
    storage: BTreeMap<H256, BTreeMap<H256, Bytes>>,
    codes: Vec<(H256, Bytes)>,
    /// Account trie nodes, by path.
    account_nodes: Vec<(Bytes, Bytes)>,
    /// Storage trie nodes of the big contract, by path.
    storage_nodes: Vec<(Bytes, Bytes)>,
    /// The account with far more storage than one response holds.
    big: H256,
}

impl World {
    /// 3000 accounts, 30 of them with 20 slots, one with 3000, and 40 codes.
    fn new() -> World {
        let root = hash("root", 0);
        let mut state = MemorySnapState::new(root);
        let codes: Vec<(H256, Bytes)> = (0..40u64)
            .map(|k| {
                let code = Bytes::from(vec![k as u8 + 1; 200 + 100 * k as usize]);
                (state.insert_code(code.clone()), code)
            })
            .collect();
        let big = hash("account", 1);
        let mut accounts = BTreeMap::new();
        let mut storage: BTreeMap<H256, BTreeMap<H256, Bytes>> = BTreeMap::new();
        for i in 0..3000u64 {
            let account_hash = hash("account", i);
            let slots = match i {
                1 => 3000,
                _ if i % 100 == 0 => 20,
                _ => 0,
            };
            for j in 0..slots {
                let data = Bytes::from(rlp::encode(&(j + 1)).to_vec());
                state.insert_storage(account_hash, hash("slot", j), data.clone());
                storage
                    .entry(account_hash)
                    .or_default()
                    .insert(hash("slot", j), data);
            }
            let account = SlimAccount {
                nonce: i,
                balance: U256::from(i) * U256::exp10(15),
                storage_root: (slots > 0).then(|| hash("storage root", i)),
                code_hash: (i % 75 == 0).then(|| codes[(i / 75) as usize % codes.len()].0),
            };
            state.insert_account(account_hash, account);
            accounts.insert(account_hash, account);
        }
        let node = |tag: &str, k: u64| Bytes::from(rlp::encode(&hash(tag, k)).to_vec());
        let account_nodes: Vec<(Bytes, Bytes)> = (0..20u64)
            .map(|k| (Bytes::from(vec![0x10 + k as u8]), node("account node", k)))
            .collect();
        for (path, node) in &account_nodes {
            state.insert_trie_node(path.clone(), None, node.clone());
        }
        let storage_nodes: Vec<(Bytes, Bytes)> = (0..10u64)
            .map(|k| (Bytes::from(vec![0x20 + k as u8]), node("storage node", k)))
            .collect();
        for (path, node) in &storage_nodes {
            let account_path = Bytes::copy_from_slice(big.as_bytes());
            state.insert_trie_node(account_path, Some(path.clone()), node.clone());
        }
        World {
            state: Arc::new(state),
            accounts,
            storage,
            codes,
            account_nodes,
            storage_nodes,
            big,
        }
    }

    fn root(&self) -> H256 {
        self.state.root()
    }
}

struct Node {
    server: Server,
    key: NodeKey,
    snap: Snap,
    _eth: Eth,
    events: broadcast::Receiver<SnapEvent>,
}

/// A server offering eth/68, eth/69 and snap/1, serving `state`.
async fn node(state: Arc<MemorySnapState>, configure: impl FnOnce(&mut SnapConfig)) -> Node {
    let key = NodeKey::random();
    let chain = Arc::new(MemoryChain::new(MemoryChain::mainnet_genesis()));
    let eth = Eth::new(
        EthConfig::new(ChainSpec::new(1, mainnet::petersburg())),
        chain,
    );
    let mut config = SnapConfig::default();
    configure(&mut config);
    let snap = Snap::new(config, state);
    let events = snap.subscribe();
    let mut protocols = eth.protocols();
    protocols.push(snap.protocol());
    let server_config = Config::builder()
        .listen_addr("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap())
        .build()
        .unwrap();
    let server = Server::builder(key.clone())
        .config(server_config)
        .protocols(protocols)
        .encryption(RlpxTransport::new)
        .start()
        .await
        .unwrap();
    Node {
        server,
        key,
        snap,
        _eth: eth,
        events,
    }
}

/// The next peer of `node` ready for snap with `id`.
async fn ready(node: &mut Node, id: PeerId) -> SnapPeer {
    timeout(WAIT, async {
        loop {
            if let SnapEvent::Ready(peer) = node.events.recv().await.unwrap() {
                if peer.id() == id {
                    return peer;
                }
            }
        }
    })
    .await
    .expect("snap peer ready in time")
}

/// Connects `a` to `b`; returns `b` as `a` sees it and `a` as `b` sees it.
async fn connect(a: &mut Node, b: &mut Node) -> (SnapPeer, SnapPeer) {
    a.server
        .add_peer(b.server.local_enode().expect("listening"))
        .await;
    let (a_id, b_id) = (a.key.id(), b.key.id());
    (ready(a, b_id).await, ready(b, a_id).await)
}

/// Compares codes by hash and length (the codes themselves are long to
/// print); the hashes were checked against the codes on receipt.
fn assert_same_codes(got: &[(H256, Bytes)], expected: &[(H256, Bytes)]) {
    let summary = |codes: &[(H256, Bytes)]| -> Vec<(H256, usize)> {
        codes.iter().map(|(h, c)| (*h, c.len())).collect()
    };
    assert_eq!(summary(got), summary(expected));
    for (hash, code) in got {
        assert_eq!(keccak256(code), *hash);
    }
}

/// Downloads every account of `root` from `peer` in pages of about `budget`
/// bytes; returns them and the number of pages.
async fn fetch_accounts(peer: &SnapPeer, root: H256, budget: u64) -> (Vec<AccountEntry>, usize) {
    let mut accounts = Vec::new();
    let mut origin = Some(H256::zero());
    let mut pages = 0;
    while let Some(from) = origin {
        let range = peer
            .get_account_range(root, from, MAX_HASH, budget)
            .await
            .unwrap();
        let Some(last) = range.accounts.last() else {
            break;
        };
        pages += 1;
        origin = next_hash(last.hash);
        accounts.extend(range.accounts);
    }
    (accounts, pages)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_state_is_downloaded_in_budgeted_pages() {
    let world = World::new();
    let mut a = node(Arc::new(MemorySnapState::new(H256::zero())), |_| {}).await;
    let mut b = node(world.state.clone(), |_| {}).await;
    let (b_seen_by_a, _) = connect(&mut a, &mut b).await;
    let root = world.root();

    // Accounts: pages of 8 KiB, reassembled into the whole state.
    let (accounts, pages) = fetch_accounts(&b_seen_by_a, root, 8 * 1024).await;
    assert!(pages > 10, "{pages} pages");
    let expected: Vec<AccountEntry> = world
        .accounts
        .iter()
        .map(|(hash, account)| AccountEntry {
            hash: *hash,
            account: *account,
        })
        .collect();
    assert_eq!(accounts, expected);
    // The whole state in one go: no proof owed.
    let whole = b_seen_by_a
        .get_account_range(root, H256::zero(), MAX_HASH, 10 * 1024 * 1024)
        .await
        .unwrap();
    assert_eq!(whole.accounts, expected);
    assert!(whole.proof.is_empty());
    // A limit stops the range at the first account at or past it.
    let limit = expected[100].hash;
    let bounded = b_seen_by_a
        .get_account_range(root, H256::zero(), limit, 10 * 1024 * 1024)
        .await
        .unwrap();
    assert_eq!(bounded.accounts, expected[..101]);
    // An unknown root gets an empty answer.
    let unknown = b_seen_by_a
        .get_account_range(H256::repeat_byte(7), H256::zero(), MAX_HASH, 1024)
        .await
        .unwrap();
    assert!(unknown.accounts.is_empty() && unknown.proof.is_empty());

    // Storage: the small contracts (and two accounts without storage) whole,
    // in one request.
    let mut small: Vec<H256> = world
        .storage
        .keys()
        .copied()
        .filter(|h| *h != world.big)
        .collect();
    small.insert(3, hash("account", 2));
    small.push(hash("account", 3));
    let ranges = b_seen_by_a
        .get_storage_ranges(root, small.clone(), None, None, 512 * 1024)
        .await
        .unwrap();
    assert_eq!(ranges.slots.len(), small.len());
    for (account, slots) in small.iter().zip(&ranges.slots) {
        let expected: Vec<(H256, Bytes)> = world
            .storage
            .get(account)
            .map(|s| s.iter().map(|(h, d)| (*h, d.clone())).collect())
            .unwrap_or_default();
        let got: Vec<(H256, Bytes)> = slots.iter().map(|s| (s.hash, s.data.clone())).collect();
        assert_eq!(got, expected);
    }
    // The big contract, in pages of 4 KiB from a moving origin.
    let mut big_storage = BTreeMap::new();
    let mut origin = Some(H256::zero());
    let mut pages = 0;
    while let Some(from) = origin {
        let ranges = b_seen_by_a
            .get_storage_ranges(root, vec![world.big], Some(from), None, 4096)
            .await
            .unwrap();
        let slots = ranges.slots.into_iter().next().unwrap_or_default();
        let Some(last) = slots.last() else { break };
        origin = next_hash(last.hash);
        pages += 1;
        big_storage.extend(slots.into_iter().map(|s| (s.hash, s.data)));
    }
    assert!(pages > 10, "{pages} pages");
    assert_eq!(&big_storage, &world.storage[&world.big]);
    // Several contracts under a small budget: fewer lists, at least one
    // slot, each list a prefix of its account's storage.
    let ranges = b_seen_by_a
        .get_storage_ranges(root, small.clone(), None, None, 300)
        .await
        .unwrap();
    assert!(!ranges.slots.is_empty() && ranges.slots.len() < small.len());
    assert!(!ranges.slots.concat().is_empty());
    for (account, slots) in small.iter().zip(&ranges.slots) {
        let expected = world.storage.get(account).cloned().unwrap_or_default();
        for (slot, (hash, data)) in slots.iter().zip(&expected) {
            assert_eq!((&slot.hash, &slot.data), (hash, data));
        }
    }

    // Codes: every one, with an unknown hash left out, paired with its
    // (checked) hash.
    let mut hashes: Vec<H256> = world.codes.iter().map(|(h, _)| *h).collect();
    hashes.insert(5, H256::repeat_byte(0xee));
    let codes = b_seen_by_a
        .get_byte_codes(hashes.clone(), 1024 * 1024)
        .await
        .unwrap();
    assert_same_codes(&codes, &world.codes);

    // Trie nodes: account nodes, then storage nodes of the big contract,
    // with unknown paths left out.
    let mut paths: Vec<TrieNodePathSet> = world
        .account_nodes
        .iter()
        .map(|(path, _)| TrieNodePathSet::account(path.clone()))
        .collect();
    paths.push(TrieNodePathSet::account(Bytes::from_static(&[0x01, 0x02])));
    paths.push(TrieNodePathSet {
        account_path: Bytes::copy_from_slice(world.big.as_bytes()),
        storage_paths: world.storage_nodes.iter().map(|(p, _)| p.clone()).collect(),
    });
    let nodes = b_seen_by_a
        .get_trie_nodes(root, paths.clone(), 1024 * 1024)
        .await
        .unwrap();
    let expected: Vec<Bytes> = world
        .account_nodes
        .iter()
        .chain(&world.storage_nodes)
        .map(|(_, node)| node.clone())
        .collect();
    assert_eq!(nodes, expected);

    a.server.stop().await;
    b.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiny_response_budgets_still_get_one_item() {
    let world = World::new();
    let mut a = node(Arc::new(MemorySnapState::new(H256::zero())), |_| {}).await;
    let mut b = node(world.state.clone(), |_| {}).await;
    let (b_seen_by_a, _) = connect(&mut a, &mut b).await;
    let root = world.root();

    let first = world.accounts.iter().next().unwrap();
    let range = b_seen_by_a
        .get_account_range(root, H256::zero(), MAX_HASH, 1)
        .await
        .unwrap();
    assert_eq!(range.accounts.len(), 1);
    assert_eq!(range.accounts[0].hash, *first.0);
    // A partial range is owed a proof; the memory state has none to give.
    assert!(range.proof.is_empty());
    let hashes: Vec<H256> = world.codes.iter().map(|(h, _)| *h).collect();
    let codes = b_seen_by_a.get_byte_codes(hashes.clone(), 1).await.unwrap();
    assert_same_codes(&codes, &world.codes[..1]);
    // About 2 KiB: codes until they weigh that much, the one crossing the
    // budget included.
    let mut size = 0;
    let fitting = world
        .codes
        .iter()
        .take_while(|(_, code)| {
            let under = size < 2048;
            size += rlp::encode(&code.to_vec()).len();
            under
        })
        .count();
    assert!(fitting > 1 && fitting < world.codes.len());
    let codes = b_seen_by_a.get_byte_codes(hashes, 2048).await.unwrap();
    assert_same_codes(&codes, &world.codes[..fitting]);
    let ranges = b_seen_by_a
        .get_storage_ranges(root, vec![world.big], None, None, 1)
        .await
        .unwrap();
    assert_eq!(ranges.slots.len(), 1);
    assert_eq!(ranges.slots[0].len(), 1);
    let paths = vec![
        TrieNodePathSet::account(world.account_nodes[0].0.clone()),
        TrieNodePathSet::account(world.account_nodes[1].0.clone()),
    ];
    let nodes = b_seen_by_a.get_trie_nodes(root, paths, 1).await.unwrap();
    assert_eq!(nodes, vec![world.account_nodes[0].1.clone()]);

    a.server.stop().await;
    b.server.stop().await;
}

/// A bare RLPx client speaking snap by hand (beside eth/69, whose Status it
/// echoes, unless it runs snap alone).
struct RawPeer {
    conn: RlpxStream<TcpStream>,
    id: PeerId,
    snap_offset: u64,
}

impl RawPeer {
    async fn join(node: &Node, with_eth: bool) -> Self {
        let key = NodeKey::random();
        let addr = node.server.local_enode().unwrap().tcp_addr();
        let tcp = TcpStream::connect(addr).await.unwrap();
        let mut conn = RlpxStream::connect(tcp, &key, node.key.id()).await.unwrap();
        let mut capabilities = vec![Capability::new("snap", 1)];
        if with_eth {
            capabilities.push(Capability::new("eth", 69));
        }
        let hello = Hello {
            protocol_version: BASE_PROTOCOL_VERSION,
            client_id: "raw snap peer".into(),
            capabilities,
            listen_port: 0,
            id: key.id(),
        };
        exchange_hello(&mut conn, &hello).await.unwrap();
        let mut peer = RawPeer {
            conn,
            id: key.id(),
            snap_offset: if with_eth { SNAP_OFFSET } else { ETH_OFFSET },
        };
        if with_eth {
            let status = loop {
                let msg = peer.next_msg().await.expect("status");
                if msg.code == ETH_OFFSET + eth_code::STATUS {
                    break EthMessage::decode(EthVersion::Eth69, eth_code::STATUS, &msg.payload)
                        .unwrap();
                }
            };
            peer.conn
                .send(Msg::new(
                    ETH_OFFSET + eth_code::STATUS,
                    status.encode_payload(),
                ))
                .await
                .unwrap();
        }
        peer
    }

    async fn send(&mut self, code: u64, payload: impl Into<Bytes>) {
        self.conn
            .send(Msg::new(self.snap_offset + code, payload))
            .await
            .unwrap();
    }

    async fn send_snap(&mut self, message: SnapMessage) {
        self.send(message.code(), message.encode()).await;
    }

    /// The next capability message, or the disconnect reason.
    async fn next_msg(&mut self) -> Result<Msg, DisconnectReason> {
        loop {
            let msg = timeout(WAIT, self.conn.next())
                .await
                .expect("a message in time")
                .expect("open")
                .expect("readable");
            match msg.code {
                DISCONNECT => return Err(DisconnectReason::decode_payload(&msg.payload).unwrap()),
                PING => self.conn.send(p2p_core::base::pong_msg()).await.unwrap(),
                c if c >= ETH_OFFSET => return Ok(msg),
                _ => {}
            }
        }
    }

    /// The next snap message (eth ones are skipped), or the disconnect
    /// reason.
    async fn next_snap(&mut self) -> Result<SnapMessage, DisconnectReason> {
        loop {
            let msg = self.next_msg().await?;
            if let Some(code) = msg.code.checked_sub(self.snap_offset) {
                return Ok(SnapMessage::decode(code, &msg.payload).unwrap());
            }
        }
    }

    /// Reads until the node disconnects us, answering nothing.
    async fn disconnect_reason(&mut self) -> DisconnectReason {
        loop {
            if let Err(reason) = self.next_msg().await {
                return reason;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_peers_end_with_the_right_reason_and_the_healthy_one_is_served() {
    let world = World::new();
    let mut a = node(world.state.clone(), |c| {
        c.request_timeout = Duration::from_millis(500)
    })
    .await;
    let mut b = node(Arc::new(MemorySnapState::new(H256::zero())), |_| {}).await;
    let (a_seen_by_b, _) = connect(&mut b, &mut a).await;
    let root = world.root();

    // snap without eth is useless.
    let mut lonely = RawPeer::join(&a, false).await;
    assert_eq!(
        lonely.disconnect_reason().await,
        DisconnectReason::UselessPeer
    );

    // Malformed requests: each ends its own connection.
    let mut extra_field = rlp::RlpStream::new_list(6);
    extra_field
        .append(&1u64)
        .append(&root)
        .append(&H256::zero())
        .append(&MAX_HASH)
        .append(&1000u64)
        .append(&0u8);
    let too_many_hashes = rlp::encode(&GetByteCodes {
        request_id: 1,
        hashes: vec![H256::zero(); MAX_REQUEST_ITEMS + 1],
        response_bytes: 1000,
    });
    let mut empty_path_set = rlp::RlpStream::new_list(4);
    empty_path_set.append(&1u64).append(&root);
    empty_path_set.begin_list(1).begin_list(0);
    empty_path_set.append(&1000u64);
    let hostile: Vec<(&str, u64, Vec<u8>)> = vec![
        ("bad rlp", GET_ACCOUNT_RANGE, vec![0xc5, 0x01]),
        ("extra field", GET_ACCOUNT_RANGE, extra_field.out().to_vec()),
        (
            "string for a list",
            GET_BYTE_CODES,
            rlp::encode(&"hello").to_vec(),
        ),
        ("1025 code hashes", GET_BYTE_CODES, too_many_hashes.to_vec()),
        (
            "empty trie path set",
            GET_TRIE_NODES,
            empty_path_set.out().to_vec(),
        ),
    ];
    for (what, code, payload) in hostile {
        let mut peer = RawPeer::join(&a, true).await;
        peer.send(code, payload).await;
        assert_eq!(
            peer.disconnect_reason().await,
            DisconnectReason::SubprotocolError,
            "{what}"
        );
    }

    // Unsolicited responses: tolerated three times (the peer is still
    // served), not four.
    let mut pest = RawPeer::join(&a, true).await;
    let unsolicited = SnapMessage::ByteCodes(ByteCodes {
        request_id: 77,
        codes: vec![],
    });
    for _ in 0..3 {
        pest.send_snap(unsolicited.clone()).await;
    }
    pest.send_snap(SnapMessage::GetByteCodes(GetByteCodes {
        request_id: 5,
        hashes: vec![world.codes[0].0],
        response_bytes: 1000,
    }))
    .await;
    assert_eq!(
        pest.next_snap().await,
        Ok(SnapMessage::ByteCodes(ByteCodes {
            request_id: 5,
            codes: vec![world.codes[0].1.clone()],
        }))
    );
    pest.send_snap(unsolicited).await;
    assert_eq!(
        pest.disconnect_reason().await,
        DisconnectReason::SubprotocolError
    );

    // A peer that never answers: our request times out, with a penalty.
    let mut mute = RawPeer::join(&a, true).await;
    let mute_peer = ready(&mut a, mute.id).await;
    let started = tokio::time::Instant::now();
    assert_eq!(
        mute_peer.get_byte_codes(vec![H256::zero()], 1000).await,
        Err(RequestError::Timeout)
    );
    assert!(started.elapsed() >= Duration::from_millis(500));
    assert!(mute_peer.reputation().debt() > 0);
    match mute.next_snap().await {
        Ok(SnapMessage::GetByteCodes(request)) => assert_eq!(request.hashes, vec![H256::zero()]),
        other => panic!("expected the request, got {other:?}"),
    }

    // It answers the next one with a code nobody asked for: the request
    // fails and the peer is ended.
    let request = tokio::spawn({
        let mute_peer = mute_peer.clone();
        async move { mute_peer.get_byte_codes(vec![H256::zero()], 1000).await }
    });
    let Ok(SnapMessage::GetByteCodes(asked)) = mute.next_snap().await else {
        panic!("expected a request")
    };
    mute.send_snap(SnapMessage::ByteCodes(ByteCodes {
        request_id: asked.request_id,
        codes: vec![Bytes::from_static(b"not what was asked")],
    }))
    .await;
    assert_eq!(
        mute.disconnect_reason().await,
        DisconnectReason::SubprotocolError
    );
    assert!(matches!(
        request.await.unwrap(),
        Err(RequestError::BadResponse(Misbehaviour::Mismatch(_)))
    ));

    // A response of the wrong kind ends the peer at once.
    let mut confused = RawPeer::join(&a, true).await;
    let confused_peer = ready(&mut a, confused.id).await;
    let request = tokio::spawn({
        let peer = confused_peer.clone();
        async move {
            peer.get_trie_nodes(root, vec![TrieNodePathSet::account(vec![1])], 1000)
                .await
        }
    });
    let Ok(SnapMessage::GetTrieNodes(asked)) = confused.next_snap().await else {
        panic!("expected a request")
    };
    confused
        .send_snap(SnapMessage::AccountRange(AccountRange {
            request_id: asked.request_id,
            ..AccountRange::default()
        }))
        .await;
    assert_eq!(
        confused.disconnect_reason().await,
        DisconnectReason::SubprotocolError
    );
    assert_eq!(
        request.await.unwrap(),
        Err(RequestError::BadResponse(Misbehaviour::WrongKind {
            expected: TRIE_NODES,
            got: ACCOUNT_RANGE
        }))
    );

    // Through all of it the healthy peer was served.
    let codes = a_seen_by_b
        .get_byte_codes(world.codes.iter().map(|(h, _)| *h).collect(), 1 << 20)
        .await
        .unwrap();
    assert_same_codes(&codes, &world.codes);
    timeout(WAIT, async {
        while a.snap.peers().len() != 1 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
    a.server.stop().await;
    b.server.stop().await;
}
