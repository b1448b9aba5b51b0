//! Interoperability with go-ethereum, the reference implementation: its
//! `devp2p` conformance suites run against our stack, and a live `geth` node
//! peers with ours.
//!
//! The release is pinned in `scripts/install-go-ethereum.sh`, which builds
//! both tools once and caches them; `scripts/test.sh` evaluates what it
//! prints, which sets the two variables these tests read:
//!
//! * `GO_ETHEREUM_BIN`: the directory holding `geth` and `devp2p`;
//! * `GO_ETHEREUM_TESTDATA`: the test chain go-ethereum's eth suite ships
//!   (`genesis.json`, `chain.rlp`, …), which both geth and our node serve.
//!
//! Every process is started with `kill_on_drop` and every wait is bounded.
//! The discovery suites need two local addresses; 127.0.0.1 and 127.0.0.2
//! are both on loopback.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::Stdio;
use std::time::{Duration, Instant};

use bytes::Bytes;
use examples::nodeset::{NodeEntry, NodeSet};
use p2p_core::record::{Endpoint, LocalRecord, NodeRecord};
use p2p_core::NodeKey;
use p2p_discovery::dns::client::{DnsClient, DnsConfig, HickoryResolver};
use p2p_discovery::dns::publish::SignedTree;
use p2p_discovery::dns::tree::TreeUrl;
use p2p_discovery::v4::wire::NodeRecordV4;
use p2p_discovery::v5::{self as v5, Discv5Config, Discv5Service, Enr};
use p2p_protocols::eth::protocol::EthPeer;
use p2p_protocols::eth::roots::{body_matches, receipts_root};
use p2p_protocols::eth::types::{keccak256, BlockHeader, HashOrNumber, Receipt};
use p2p_protocols::eth::EthVersion;
use primitive_types::H256;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::time::timeout;

mod common;
use common::geth::{
    geth_dns_sign, go_ethereum, our_node, our_tool, run, Geth, GethDiscovery, GoEthereum,
    ScratchDir, WAIT,
};
use common::{discv4_node, until_in_table};
/// Bound of one conformance suite run.
const SUITE_LIMIT: Duration = Duration::from_secs(240);
/// Blocks in the eth suite's test chain after genesis.
const TEST_CHAIN_BLOCKS: u64 = 600;

/// A suite's verdicts: the names of the cases that passed and failed, and
/// the `passed/total` summary line.
#[derive(Debug)]
struct SuiteResult {
    passed: BTreeSet<String>,
    failed: BTreeSet<String>,
    summary: (usize, usize),
}

fn suite_result(output: &str) -> SuiteResult {
    let mut passed = BTreeSet::new();
    let mut failed = BTreeSet::new();
    let mut summary = None;
    for line in output.lines() {
        if let Some(rest) = line.strip_prefix("-- OK ") {
            passed.insert(rest.split(" (").next().unwrap().to_string());
        } else if let Some(rest) = line.strip_prefix("-- FAIL ") {
            failed.insert(rest.split(" (").next().unwrap().to_string());
        } else if let Some(counts) = line.strip_suffix(" tests passed.") {
            let (a, b) = counts.split_once('/').unwrap();
            summary = Some((a.parse().unwrap(), b.parse().unwrap()));
        }
    }
    SuiteResult {
        passed,
        failed,
        summary: summary.unwrap_or_else(|| panic!("no summary in:\n{output}")),
    }
}

/// What we fetched of one block beyond its header and body.
struct Fetched {
    header: BlockHeader,
    receipts: Vec<Receipt>,
    access_list: Option<Bytes>,
}

/// Fetches every header, body, receipt list and access list of the test
/// chain from `peer` (over eth/71) and checks them: the headers link from
/// our genesis to the head geth announced, each body matches its header's
/// transactions root, ommers hash and withdrawals root, each receipt list
/// its receipts root (the block with over 10 MiB of receipts comes in parts,
/// eth/70's partial receipts), each access list its header's hash.
async fn fetch_and_check_chain(peer: &EthPeer, ge: &GoEthereum, genesis: H256) -> Vec<Fetched> {
    let head = ge.head_hash();
    let large_receipts = ge
        .large_receipt_block()
        .expect("the suite has a large block");
    let status = peer.status();
    assert_eq!(status.genesis, genesis);
    let mut headers: Vec<BlockHeader> = Vec::new();
    while (headers.len() as u64) < TEST_CHAIN_BLOCKS {
        let next = headers.len() as u64 + 1;
        let batch = peer
            .get_block_headers(HashOrNumber::Number(next), 192, 0, false)
            .await
            .expect("headers from geth");
        assert!(!batch.is_empty(), "geth sent no headers from {next}");
        headers.extend(batch);
    }
    assert_eq!(headers.len() as u64, TEST_CHAIN_BLOCKS);
    let mut parent = genesis;
    for (i, header) in headers.iter().enumerate() {
        assert_eq!(header.number, i as u64 + 1);
        assert_eq!(
            header.parent_hash, parent,
            "header {} does not link",
            header.number
        );
        parent = header.hash();
    }
    assert_eq!(parent, head, "the chain ends at the head geth announced");
    // Amsterdam's header fields came through (the chain passes it at 360 s).
    assert!(headers.last().unwrap().block_access_list_hash.is_some());

    let mut bodies = Vec::new();
    while bodies.len() < headers.len() {
        let hashes: Vec<H256> = headers[bodies.len()..]
            .iter()
            .take(128)
            .map(BlockHeader::hash)
            .collect();
        let batch = peer
            .get_block_bodies(hashes)
            .await
            .expect("bodies from geth");
        assert!(!batch.is_empty(), "geth sent no bodies");
        bodies.extend(batch);
    }
    let mut transactions = 0;
    for (header, body) in headers.iter().zip(&bodies) {
        assert!(
            body_matches(header, body),
            "body of block {}",
            header.number
        );
        assert!(
            body.withdrawals.is_some(),
            "Shanghai bodies carry withdrawals"
        );
        transactions += body.transactions.len();
    }
    assert!(transactions > 0, "the test chain has transactions");

    let mut receipts: Vec<Vec<Receipt>> = Vec::new();
    while receipts.len() < headers.len() {
        let hashes: Vec<H256> = headers[receipts.len()..]
            .iter()
            .take(64)
            .map(BlockHeader::hash)
            .collect();
        let batch = peer.get_receipts(hashes).await.expect("receipts from geth");
        assert!(!batch.is_empty(), "geth sent no receipts");
        receipts.extend(batch);
    }
    for (header, list) in headers.iter().zip(&receipts) {
        assert_eq!(
            receipts_root(list),
            header.receipts_root,
            "receipts of block {}",
            header.number
        );
    }
    let large = &receipts[large_receipts as usize - 1];
    let large_size: usize = large.iter().map(|r| rlp::encode(r).len()).sum();
    assert!(
        large_size > 10 << 20,
        "block {large_receipts}: {large_size} bytes"
    );

    // Access lists: the header of each Amsterdam block commits to one.
    let amsterdam: Vec<&BlockHeader> = headers
        .iter()
        .filter(|h| h.block_access_list_hash.is_some())
        .collect();
    assert!(!amsterdam.is_empty());
    let mut access_lists: Vec<Option<Bytes>> = Vec::new();
    while access_lists.len() < amsterdam.len() {
        let hashes = amsterdam[access_lists.len()..]
            .iter()
            .take(128)
            .map(|h| h.hash())
            .collect();
        let batch = peer
            .get_block_access_lists(hashes)
            .await
            .expect("access lists from geth");
        assert!(!batch.is_empty(), "geth sent no access lists");
        access_lists.extend(batch);
    }
    let mut by_hash = std::collections::HashMap::new();
    for (header, list) in amsterdam.iter().zip(access_lists) {
        let list = list.unwrap_or_else(|| panic!("geth has no access list for {}", header.number));
        assert_eq!(
            Some(keccak256(&list)),
            header.block_access_list_hash,
            "access list of block {}",
            header.number
        );
        by_hash.insert(header.hash(), list);
    }
    headers
        .into_iter()
        .zip(receipts)
        .map(|(header, receipts)| Fetched {
            access_list: by_hash.remove(&header.hash()),
            header,
            receipts,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discv4_suite_passes_in_full() {
    let ge = go_ethereum();
    let node = discv4_node(Vec::new()).await;
    let port = node.local_addr().port();
    let enode = format!("enode://{}@127.0.0.1:{port}", node.local_id());
    let mut cmd = ge.tool("devp2p");
    cmd.args(["discv4", "test", "-remote", &enode]).args([
        "-listen1",
        "127.0.0.1",
        "-listen2",
        "127.0.0.2",
    ]);
    let (ok, out) = run(cmd, SUITE_LIMIT).await;
    let result = suite_result(&out);
    assert!(ok && result.failed.is_empty(), "discv4 suite:\n{out}");
    assert_eq!(result.summary.0, result.summary.1);
    // Every case the issue lists (the suite names PastExpiration twice).
    for case in [
        "Ping/Basic",
        "Ping/WrongTo",
        "Ping/WrongFrom",
        "Ping/ExtraData",
        "Ping/ExtraDataWrongFrom",
        "Ping/PastExpiration",
        "Ping/WrongPacketType",
        "Ping/BondThenPingWithWrongFrom",
        "ENRRequest",
        "Findnode/WithoutEndpointProof",
        "Findnode/BasicFindnode",
        "Findnode/UnsolicitedNeighbors",
        "Findnode/PastExpiration",
        "Amplification/InvalidPongHash",
        "Amplification/WrongIP",
    ] {
        assert!(result.passed.contains(case), "{case} not run:\n{out}");
    }
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discv5_suite_passes_in_full() {
    let ge = go_ethereum();
    let key = NodeKey::random();
    let config = Discv5Config {
        listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        // The suite waits up to a minute for us to ping the nodes that
        // introduced themselves; a short interval keeps the run short.
        ping_interval: Duration::from_secs(3),
        ..Discv5Config::default()
    };
    let node = Discv5Service::start(&key, config).await.unwrap();
    let enr = node.local_enr().to_base64();
    let mut cmd = ge.tool("devp2p");
    cmd.args([
        "discv5",
        "test",
        "-listen1",
        "127.0.0.1",
        "-listen2",
        "127.0.0.2",
        &enr,
    ]);
    let (ok, out) = run(cmd, SUITE_LIMIT).await;
    let result = suite_result(&out);
    assert!(ok && result.failed.is_empty(), "discv5 suite:\n{out}");
    assert_eq!(result.summary.0, result.summary.1);
    assert!(
        result.summary.1 >= 10,
        "fewer cases than v1.17.10 has:\n{out}"
    );
    node.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devp2p_rlpx_ping_reads_our_hello() {
    let ge = go_ethereum();
    let node = our_node(&ge, false).await;
    let mut cmd = ge.tool("devp2p");
    cmd.args(["rlpx", "ping", &node.enode().to_string()]);
    let (ok, out) = run(cmd, WAIT).await;
    assert!(ok, "devp2p rlpx ping:\n{out}");
    assert!(out.contains("Version:5"), "{out}");
    assert!(out.contains("Name:devp2p-rs/"), "{out}");
    assert!(out.contains("eth/68 eth/69"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_rlpx_ping_reads_geths_hello() {
    let ge = go_ethereum();
    let geth = Geth::start(&ge, GethDiscovery::Off).await;
    // Given as an enode URL and as geth's own record.
    for node in [geth.enode.to_string(), geth.enr(&ge).await] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_devp2p"));
        cmd.kill_on_drop(true).args(["rlpx", "ping", &node]);
        let (ok, out) = run(cmd, WAIT).await;
        assert!(ok, "devp2p rlpx ping {node}:\n{out}");
        assert!(out.contains(&format!("id: {}", geth.enode.id)), "{out}");
        assert!(out.contains("client: Geth/v1.17.10"), "{out}");
        assert!(out.contains("protocol version: 5"), "{out}");
        assert!(out.contains("eth/69"), "{out}");
    }
    // geth's address with another node's id: geth cannot open the
    // handshake and hangs up; the tool says what that likely means.
    let mut wrong = geth.enode;
    wrong.id = NodeKey::random().id();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_devp2p"));
    cmd.kill_on_drop(true)
        .args(["rlpx", "ping", &wrong.to_string()]);
    let (ok, out) = run(cmd, WAIT).await;
    assert!(!ok, "{out}");
    assert!(out.contains("is the node id right?"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn we_dial_geth_and_fetch_its_chain() {
    let ge = go_ethereum();
    let geth = Geth::start(&ge, GethDiscovery::Off).await;
    let mut node = our_node(&ge, false).await;
    node.server.add_peer(geth.enode).await;
    let peer = node.ready(geth.enode.id, &geth).await;
    assert_eq!(peer.version(), EthVersion::Eth71);
    assert!(peer.peer().info().client_id.starts_with("Geth/v1.17.10"));
    fetch_and_check_chain(&peer, &ge, node.chain.genesis_hash()).await;
    // geth sees us as an eth/69 peer at our genesis head.
    let seen = geth.eth_peers(&ge).await;
    assert!(seen.contains("\\\"version\\\":71"), "{seen}");
    assert!(seen.contains("\\\"latestBlock\\\":0"), "{seen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn geth_dials_us_and_we_fetch_its_chain() {
    let ge = go_ethereum();
    let geth = Geth::start(&ge, GethDiscovery::Off).await;
    let mut node = our_node(&ge, false).await;
    let added = geth
        .console(&ge, &format!("admin.addPeer('{}')", node.enode()))
        .await;
    assert!(added.trim() == "true", "{added}");
    let peer = node.ready(geth.enode.id, &geth).await;
    assert_eq!(peer.version(), EthVersion::Eth71);
    assert_eq!(
        peer.peer().info().direction,
        p2p_core::Direction::Inbound,
        "geth dialed"
    );
    fetch_and_check_chain(&peer, &ge, node.chain.genesis_hash()).await;
}

/// The node as it runs, seen from discovery: a geth node given ours as its
/// only bootnode finds our record (with its `eth` fork-id entry, which
/// geth's dialer requires), dials us and completes the eth Status exchange.
/// Our node dials nobody, so the connection is geth's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn geth_finds_us_through_discovery_and_dials_us_for_eth() {
    use examples::node::{ChainSetup, DiscoverySettings, NodeSettings, RunningNode};
    use p2p_protocols::eth::handler::EthHandler;
    use p2p_protocols::eth::protocol::EthEvent;

    let ge = go_ethereum();
    let chain = ChainSetup::genesis(&ge.genesis()).unwrap();
    chain.chain.import_export(&ge.chain_export()).unwrap();
    let key = NodeKey::random();
    let config = p2p_core::config::Config {
        private_key: Some(key.clone()),
        listen_addr: Some(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))),
        no_dial: true,
        ..Default::default()
    };
    let (ping_pong, rtts) = examples::ping_pong();
    let node = RunningNode::start(NodeSettings {
        key,
        config,
        chain,
        discovery: DiscoverySettings {
            v4: true,
            ..DiscoverySettings::default()
        },
        quic_port: None,
        protocols: vec![ping_pong],
        rtts: Some(rtts),
    })
    .await
    .unwrap();
    let (_, mut eth_events) = node.events();
    let enode = node.enode().unwrap();
    let geth = Geth::start(&ge, GethDiscovery::V4(vec![enode.to_string()])).await;
    // geth's dialer waits for its first lookups; a minute covers them.
    let ready = timeout(Duration::from_secs(60), async {
        loop {
            match eth_events.recv().await {
                Ok(EthEvent::Ready(peer)) if peer.id() == geth.enode.id => return peer,
                Ok(_) => {}
                Err(e) => panic!("eth events ended: {e}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("geth never dialed us for eth; geth log:\n{}", geth.log()));
    assert_eq!(
        ready.peer().info().direction,
        p2p_core::Direction::Inbound,
        "geth dialed"
    );
    assert_eq!(ready.status().fork_id, {
        let head = node.chain.chain.head();
        node.chain.spec.forks().fork_id(head.number, head.timestamp)
    });
    drop(geth);
    node.stop().await;
}

/// geth reads the Status of our node serving the imported chain: our head
/// is its head. (Serving is checked case by case by the eth suite below.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn geth_reads_the_status_of_our_imported_chain() {
    let ge = go_ethereum();
    let geth = Geth::start(&ge, GethDiscovery::Off).await;
    let mut node = our_node(&ge, true).await;
    assert_eq!(node.chain.head_number(), TEST_CHAIN_BLOCKS);
    node.server.add_peer(geth.enode).await;
    node.ready(geth.enode.id, &geth).await;
    let seen = geth.eth_peers(&ge).await;
    assert!(seen.contains("\\\"latestBlock\\\":600"), "{seen}");
    let head = format!("{:x}", ge.head_hash());
    assert!(seen.contains(&head), "{seen}");
}

/// go-ethereum's eth suite against our node serving the suite's chain: the
/// blocks imported from the export, their receipts and access lists fetched
/// from geth (and checked against each header), as a node that syncs them
/// instead of executing blocks has them.
/// The cases that pass, and why the others cannot here, are in INTEROP.md;
/// this test holds the list exactly, so a change either way shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eth_suite_cases_pass_as_listed() {
    let ge = go_ethereum();
    let geth = Geth::start(&ge, GethDiscovery::Off).await;
    let mut node = our_node(&ge, true).await;
    node.server.add_peer(geth.enode).await;
    let peer = node.ready(geth.enode.id, &geth).await;
    for block in fetch_and_check_chain(&peer, &ge, node.chain.genesis_hash()).await {
        let hash = block.header.hash();
        node.chain.set_receipts(hash, block.receipts).unwrap();
        if let Some(list) = block.access_list {
            node.chain.set_block_access_list(hash, list).unwrap();
        }
    }
    let mut cmd = ge.tool("devp2p");
    cmd.args(["rlpx", "eth-test"])
        .args(["--chain", ge.testdata.to_str().unwrap()])
        .args(["--node", &node.enode().to_string()])
        // Only the transaction cases use the engine API; nothing listens
        // here, so they fail at their first step (see INTEROP.md).
        .args(["--engineapi", "http://127.0.0.1:1"])
        .args(["--jwtsecret", &format!("0x{}", "73".repeat(32))]);
    let (_, out) = run(cmd, SUITE_LIMIT).await;
    let result = suite_result(&out);
    let expected_pass: BTreeSet<String> = [
        "Status",
        "MaliciousHandshake",
        "BlockRangeUpdateExpired",
        "BlockRangeUpdateFuture",
        "BlockRangeUpdateInvalid",
        "GetBlockHeaders",
        "GetNonexistentBlockHeaders",
        "SimultaneousRequests",
        "SameRequestID",
        "ZeroRequestID",
        "GetBlockBodies",
        "GetReceipts",
        // eth/70's partial receipts: the block with over 10 MiB of them.
        "GetLargeReceipts",
        // eth/71's access lists.
        "GetBlockAccessLists",
        // These skip themselves and report OK when eth/72 was not
        // negotiated.
        "BlobTxAvailabilityFailure",
        "GetCells",
        "BlobTxWithInvalidCells",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(result.passed, expected_pass, "eth suite:\n{out}");
    let expected_fail: BTreeSet<String> = [
        "LargeTxRequest",
        "Transaction",
        "InvalidTxs",
        "NewPooledTxs",
        "BlobViolations",
        "TestBlobTxWithoutSidecar",
        "TestBlobTxWithMismatchedSidecar",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(result.failed, expected_fail, "eth suite:\n{out}");
    // The failures are for the reasons INTEROP.md gives, not others.
    assert!(out.contains("connect: connection refused"), "{out}");
}

/// Discovery v4 between implementations: geth joins through our node, and a
/// second node of ours joins through geth and finds the first there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discv4_nodes_find_each_other_through_geth() {
    let ge = go_ethereum();
    let first = discv4_node(Vec::new()).await;
    let first_enode = format!(
        "enode://{}@127.0.0.1:{}",
        first.local_id(),
        first.local_addr().port()
    );
    let geth = Geth::start(&ge, GethDiscovery::V4(vec![first_enode])).await;
    // geth bonds with its bootnode: it pings us, we ping back, and it enters
    // our table.
    until_in_table(&first, geth.enode.id, WAIT).await;

    let second = discv4_node(vec![NodeRecordV4::from(geth.enode)]).await;
    // The second node bonds with geth and learns the first from geth's
    // Neighbors, which geth only gives out for nodes it has verified.
    let deadline = Instant::now() + WAIT;
    loop {
        let found = second.lookup(first.local_id()).await.unwrap();
        if found.iter().any(|n| n.id == first.local_id()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "geth never told us of the first node: {found:?}\ngeth log:\n{}",
            geth.log()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(second
        .closest(geth.enode.id.node_id(), 8)
        .await
        .unwrap()
        .iter()
        .any(|n| n.id == geth.enode.id));
    first.shutdown().await;
    second.shutdown().await;
}

/// Discovery v5 between implementations: geth joins through our node, and
/// a second node of ours joins through geth and finds the first there (geth
/// answers FINDNODE only with nodes it has verified live, by pinging them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discv5_nodes_find_each_other_through_geth() {
    let ge = go_ethereum();
    let start = |tcp_port, bootnodes: Vec<Enr>| async move {
        let config = Discv5Config {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            tcp_port,
            bootnodes,
            ..Discv5Config::default()
        };
        Discv5Service::start(&NodeKey::random(), config)
            .await
            .unwrap()
    };
    let first = start(40_001, Vec::new()).await;
    let geth = Geth::start(&ge, GethDiscovery::V5(vec![first.local_enr().to_base64()])).await;
    let geth_enr: Enr = geth.enr(&ge).await.parse().expect("geth's record");
    assert_eq!(v5::peer_id(&geth_enr), Some(geth.enode.id));
    // geth contacts its bootnode, which puts geth in our table.
    let deadline = Instant::now() + WAIT;
    while !first
        .table_entries()
        .iter()
        .any(|enr| enr.node_id() == geth_enr.node_id())
    {
        assert!(
            Instant::now() < deadline,
            "geth never contacted its bootnode\ngeth log:\n{}",
            geth.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let second = start(40_002, vec![geth_enr.clone()]).await;
    let target = first.local_enr().node_id();
    loop {
        let found = timeout(WAIT, second.lookup(target)).await.unwrap().unwrap();
        if let Some(enr) = found.iter().find(|enr| enr.node_id() == target) {
            assert_eq!(enr.tcp4(), Some(40_001));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "geth never gave out the first node\ngeth log:\n{}",
            geth.log()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    first.shutdown();
    second.shutdown();
}

/// Node records for a list: random keys, loopback endpoints.
fn list_records(n: u16) -> Vec<NodeRecord> {
    (0..n)
        .map(|i| {
            let endpoint = Endpoint::new(Ipv4Addr::LOCALHOST, 30_400 + i);
            LocalRecord::new(NodeKey::random(), endpoint, 1)
                .unwrap()
                .record()
                .clone()
        })
        .collect()
}

fn sorted_texts<'a>(records: impl IntoIterator<Item = &'a NodeRecord>) -> Vec<String> {
    let mut texts: Vec<String> = records.into_iter().map(|r| r.to_base64()).collect();
    texts.sort();
    texts
}

/// `records` as a tree directory's `nodes.json`.
fn write_node_set(tree_dir: &std::path::Path, records: &[NodeRecord]) {
    std::fs::create_dir_all(tree_dir).unwrap();
    let mut set = NodeSet::new();
    for record in records {
        set.insert(NodeEntry::new(record.clone()));
    }
    set.save(&tree_dir.join("nodes.json")).unwrap();
}

/// `devp2p dns serve` on a free loopback port; returns it (killed when
/// dropped) with the address it answers on.
async fn serve_zone(zone: &std::path::Path) -> (Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_devp2p"))
        .args([
            "dns",
            "serve",
            zone.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = timeout(WAIT, lines.next_line())
        .await
        .expect("devp2p dns serve started in time")
        .unwrap()
        .expect("devp2p dns serve printed its address");
    let addr = line
        .strip_prefix("listening ")
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("unexpected: {line}"))
        .parse()
        .unwrap();
    (child, addr)
}

/// A tree made and signed by `devp2p dns sign` (with a geth keystore key,
/// as it requires) is read by our DNS discovery client, served over real
/// DNS on loopback; and ours lays the same records out identically.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tree_devp2p_signs_is_read_by_us() {
    let ge = go_ethereum();
    let dir = ScratchDir::new("dns-sign");
    let records = list_records(20);
    // devp2p's tree definition: a directory with nodes.json (a node set),
    // written by our node set type.
    let tree_dir = dir.0.join("tree");
    write_node_set(&tree_dir, &records);
    let (ok, out) = geth_dns_sign(
        &ge,
        &dir.0,
        &tree_dir,
        &["-domain", "nodes.geth.test", "-seq", "9"],
    )
    .await;
    assert!(ok, "devp2p dns sign:\n{out}");
    let zone = dir.0.join("txt.json");
    let mut cmd = ge.tool("devp2p");
    cmd.args(["dns", "to-txt"]).arg(&tree_dir).arg(&zone);
    let (ok, out) = run(cmd, WAIT).await;
    assert!(ok, "devp2p dns to-txt:\n{out}");
    let info: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tree_dir.join("enrtree-info.json")).unwrap())
            .unwrap();
    let url: TreeUrl = info["url"].as_str().unwrap().parse().unwrap();
    assert_eq!(url.domain, "nodes.geth.test");

    // Our tool reads geth's tree definition, checks its signature and
    // prints the same TXT records.
    let our_zone = dir.0.join("our-txt.json");
    our_tool([
        "dns".as_ref(),
        "to-txt".as_ref(),
        tree_dir.as_os_str(),
        our_zone.as_os_str(),
    ])
    .await;
    assert_eq!(
        std::fs::read_to_string(&our_zone).unwrap(),
        std::fs::read_to_string(&zone).unwrap()
    );

    let (_server, addr) = serve_zone(&zone).await;
    let client = DnsClient::new(
        HickoryResolver::with_nameservers(&[addr]),
        DnsConfig::default(),
    );
    let synced = timeout(WAIT, client.sync_tree(&url))
        .await
        .expect("sync in time")
        .expect("devp2p's tree verifies and syncs");
    assert_eq!(synced.root.seq, 9);
    assert_eq!(sorted_texts(&synced.records), sorted_texts(&records));
    assert!(synced.links.is_empty());
    // And our tool's `dns sync` writes it down as a tree definition.
    let synced_dir = dir.0.join("synced");
    let synced_path = synced_dir.display().to_string();
    let nameserver = addr.to_string();
    let url_text = url.to_string();
    our_tool([
        "dns",
        "sync",
        "--nameserver",
        &nameserver,
        &url_text,
        &synced_path,
    ])
    .await;
    let read = NodeSet::load(&synced_dir.join("nodes.json")).unwrap();
    assert_eq!(sorted_texts(&read.records()), sorted_texts(&records));
    let info: serde_json::Value =
        serde_json::from_slice(&std::fs::read(synced_dir.join("enrtree-info.json")).unwrap())
            .unwrap();
    assert_eq!(info["seq"], 9);
    assert_eq!(info["url"], url.to_string());

    // Our builder lays the same records out exactly as go-ethereum does:
    // every entry but the root (whose signature differs) is the same.
    let theirs: BTreeMap<String, String> =
        serde_json::from_slice(&std::fs::read(&zone).unwrap()).unwrap();
    let ours = SignedTree::build(
        NodeKey::random().secret(),
        "nodes.geth.test",
        9,
        &records,
        &[],
    )
    .unwrap()
    .txt_records();
    let without_root = |m: &BTreeMap<String, String>| {
        m.iter()
            .filter(|(name, _)| name.as_str() != "nodes.geth.test")
            .map(|(n, t)| (n.clone(), t.clone()))
            .collect::<BTreeMap<_, _>>()
    };
    assert_eq!(without_root(&ours), without_root(&theirs));
}

/// A tree we sign (with our `devp2p dns sign`) is accepted by go-ethereum's
/// `devp2p dns to-txt` (which checks the signature) and read by its
/// `devp2p dns sync`. go-ethereum resolves through the system's resolver
/// only, so the sync runs in a network and mount namespace of its own,
/// where `/etc/resolv.conf` names our server on 127.0.0.1:53 in that
/// namespace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tree_we_sign_is_read_by_devp2p_dns_sync() {
    let ge = go_ethereum();
    let dir = ScratchDir::new("dns-sync");
    let records = list_records(30);
    let list_key = NodeKey::random();
    let key_path = dir.0.join("list.key");
    p2p_core::keyfile::save(&key_path, &list_key).unwrap();
    let link = TreeUrl::new(*NodeKey::random().public(), "other.rs.test").unwrap();
    let tree_dir = dir.0.join("tree");
    write_node_set(&tree_dir, &records);
    // A tree definition names its links before it is first signed.
    std::fs::write(
        tree_dir.join("enrtree-info.json"),
        serde_json::json!({ "links": [link.to_string()] }).to_string(),
    )
    .unwrap();
    let tree_path = tree_dir.display().to_string();
    let key_text = key_path.display().to_string();
    our_tool([
        "dns",
        "sign",
        &tree_path,
        &key_text,
        "--domain",
        "nodes.rs.test",
        "--seq",
        "5",
    ])
    .await;
    let info: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tree_dir.join("enrtree-info.json")).unwrap())
            .unwrap();
    let url = info["url"].as_str().unwrap().to_string();
    assert_eq!(
        url,
        TreeUrl::new(*list_key.public(), "nodes.rs.test")
            .unwrap()
            .to_string()
    );
    let zone = dir.0.join("zone.json");
    let zone_path = zone.display().to_string();
    our_tool(["dns", "to-txt", &tree_path, &zone_path]).await;
    let geth_zone = dir.0.join("geth-zone.json");
    let mut cmd = ge.tool("devp2p");
    cmd.args(["dns", "to-txt"]).arg(&tree_dir).arg(&geth_zone);
    let (ok, out) = run(cmd, WAIT).await;
    assert!(ok, "devp2p dns to-txt of the tree we signed:\n{out}");
    assert_eq!(
        std::fs::read_to_string(&geth_zone).unwrap(),
        std::fs::read_to_string(&zone).unwrap()
    );

    let resolv = dir.0.join("resolv.conf");
    std::fs::write(&resolv, "nameserver 127.0.0.1\n").unwrap();
    let synced = dir.0.join("synced");
    let script = r#"
        set -eu
        PATH="$PATH:/usr/sbin:/sbin"
        ip link set lo up
        mount --bind "$RESOLV" /etc/resolv.conf
        "$OURS" dns serve "$ZONE" --listen 127.0.0.1:53 > "$SERVE_LOG" 2>&1 &
        server=$!
        trap 'kill $server 2>/dev/null || true' EXIT
        for _ in $(seq 100); do
            grep -q listening "$SERVE_LOG" && break
            sleep 0.05
        done
        "$DEVP2P" dns sync "$URL" "$OUT"
    "#;
    let mut cmd = Command::new("unshare");
    cmd.kill_on_drop(true)
        // A user namespace too, so that this needs no root outside it.
        .args([
            "--user",
            "--map-root-user",
            "--net",
            "--mount",
            "--kill-child",
        ])
        .args(["sh", "-c", script])
        .env("RESOLV", &resolv)
        .env("OURS", env!("CARGO_BIN_EXE_devp2p"))
        .env("ZONE", &zone)
        .env("SERVE_LOG", dir.0.join("serve.log"))
        .env("DEVP2P", ge.bin.join("devp2p"))
        .env("URL", &url)
        .env("OUT", &synced);
    let (ok, out) = run(cmd, Duration::from_secs(60)).await;
    assert!(ok, "devp2p dns sync in a namespace:\n{out}");

    let info: serde_json::Value =
        serde_json::from_slice(&std::fs::read(synced.join("enrtree-info.json")).unwrap()).unwrap();
    assert_eq!(info["seq"], 5);
    assert_eq!(info["links"], serde_json::json!([link.to_string()]));
    let nodes: BTreeMap<String, serde_json::Value> =
        serde_json::from_slice(&std::fs::read(synced.join("nodes.json")).unwrap()).unwrap();
    let read: Vec<String> = nodes
        .values()
        .map(|n| n["record"].as_str().unwrap().to_string())
        .collect();
    let mut read = read;
    read.sort();
    assert_eq!(read, sorted_texts(&records));
    for (id, node) in &nodes {
        let record: NodeRecord = node["record"].as_str().unwrap().parse().unwrap();
        assert_eq!(
            &p2p_core::record::peer_id(&record).node_id().to_string(),
            id
        );
    }
}
