//! The `devp2p` tool's discovery and node set commands on loopback
//! networks of go-ethereum's nodes and ours: crawls find every node, the
//! node sets they write are what go-ethereum's tool reads (its `dns sign`
//! accepts them, its `nodeset` commands print what ours print), and our
//! pings reach go-ethereum's nodes.
//!
//! go-ethereum's discovery nodes are its `devp2p discv4|discv5 listen`
//! and a full `geth`; every one is given a loopback bootnode (without one
//! they would use the public bootnodes) and killed when dropped.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use examples::nodeset::NodeSet;
use p2p_core::record::ForkId;
use p2p_core::{NodeKey, PeerId};
use p2p_discovery::v4::service::{Discv4, Discv4Config};
use p2p_discovery::v4::wire::NodeRecordV4;
use p2p_discovery::v5::{Discv5Config, Discv5Service, Enr};
use tokio::process::{Child, Command};

mod common;
use common::geth::{
    geth_dns_sign, go_ethereum, our_tool, run, stdout_of, Geth, GethDiscovery, GoEthereum,
    ScratchDir, WAIT,
};
use common::until_in_table;

/// How long each crawl runs: a handful of nodes are found in a second or
/// two; the rest is margin for a loaded machine.
const CRAWL: &str = "8s";

/// Our `<protocol> crawl` from `bootnode` into `file`; returns what it
/// printed.
async fn crawl(protocol: &str, bootnode: &str, file: &std::path::Path) -> String {
    let file = file.to_str().unwrap();
    let args = ["--timeout", CRAWL, "--addr", "127.0.0.1:0", "--bootnodes"];
    our_tool(
        [protocol, "crawl"]
            .into_iter()
            .chain(args)
            .chain([bootnode, file]),
    )
    .await
}

/// go-ethereum's `devp2p <protocol> listen` on `port` with `key`, joining
/// through `bootnode`.
fn geth_listener(
    ge: &GoEthereum,
    protocol: &str,
    key: &NodeKey,
    port: u16,
    bootnode: &str,
) -> Child {
    let mut cmd = ge.tool("devp2p");
    cmd.args([protocol, "listen", "--addr"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["--nodekey", &hex::encode(key.secret_bytes())])
        .args(["--bootnodes", bootnode])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    cmd.spawn().expect("devp2p listen starts")
}

async fn v4_node(bootnodes: Vec<NodeRecordV4>, fork_id: Option<ForkId>, tcp_port: u16) -> Discv4 {
    let config = Discv4Config {
        bootnodes,
        fork_id,
        tcp_port,
        ..Discv4Config::default()
    };
    Discv4::bind(
        NodeKey::random(),
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        config,
    )
    .await
    .unwrap()
}

fn ids(set: &NodeSet) -> BTreeSet<String> {
    set.entries()
        .map(|e| p2p_core::record::peer_id(&e.record).node_id().to_string())
        .collect()
}

/// A free UDP port on loopback for a listener of go-ethereum's.
fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Our `discv4 crawl`, from one bootnode, finds every node of a network of
/// go-ethereum's discovery nodes (two `devp2p discv4 listen`, one `geth`)
/// and ours; go-ethereum's `dns sign` accepts the node set it writes; our
/// `nodeset info` and `filter` print what go-ethereum's print for it; and
/// `resolve-json` drops the node that went away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_discv4_crawl_finds_every_node_and_geth_reads_the_set() {
    let ge = go_ethereum();
    let dir = ScratchDir::new("crawl-v4");
    let mainnet = ForkId {
        hash: [0xfc, 0x64, 0xec, 0x04],
        next: 1_150_000,
    };
    let boot = v4_node(Vec::new(), None, 0).await;
    let boot_url = format!("enode://{}@{}", boot.local_id(), boot.local_addr());
    let ours_a = v4_node(vec![boot.local_node()], Some(mainnet), 30_303).await;
    let ours_b = v4_node(vec![boot.local_node()], None, 0).await;
    let keys: Vec<NodeKey> = (0..2).map(|_| NodeKey::random()).collect();
    let _listeners: Vec<Child> = keys
        .iter()
        .map(|key| geth_listener(&ge, "discv4", key, free_udp_port(), &boot_url))
        .collect();
    let geth = Geth::start(&ge, GethDiscovery::V4(vec![boot_url.clone()])).await;
    let mut everyone: Vec<PeerId> = vec![boot.local_id(), ours_a.local_id(), ours_b.local_id()];
    everyone.extend(keys.iter().map(NodeKey::id));
    everyone.push(geth.enode.id);
    // Each node bonds with the bootnode, which puts it in the bootnode's
    // table, where a crawler's lookups find it.
    for id in &everyone[1..] {
        until_in_table(&boot, *id, WAIT).await;
    }

    let tree = dir.0.join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    let nodes_json = tree.join("nodes.json");
    let out = crawl("discv4", &boot_url, &nodes_json).await;
    let set = NodeSet::load(&nodes_json).unwrap();
    let expected: BTreeSet<String> = everyone.iter().map(|id| id.node_id().to_string()).collect();
    assert_eq!(ids(&set), expected, "crawl said: {out}");
    assert!(set
        .entries()
        .all(|e| e.score == 1 && !e.first_response.is_zero()));

    // go-ethereum signs a DNS tree of the set (it checks every record).
    let (ok, signed) = geth_dns_sign(&ge, &dir.0, &tree, &["-domain", "crawl.test"]).await;
    assert!(ok, "devp2p dns sign refused our nodes.json:\n{signed}");
    assert!(tree.join("enrtree-info.json").exists());

    // Both tools say the same of the set.
    let path = nodes_json.to_str().unwrap();
    for args in [
        vec!["nodeset", "info", path],
        vec!["nodeset", "filter", path, "-ip", "127.0.0.0/8"],
        vec!["nodeset", "filter", path, "-ip", "10.0.0.0/8"],
        vec!["nodeset", "filter", path, "-dialable"],
        vec!["nodeset", "filter", path, "-eth-network", "mainnet"],
        vec!["nodeset", "filter", path, "-eth-network", "sepolia"],
        vec!["nodeset", "filter", path, "-snap"],
        vec!["nodeset", "filter", path, "-min-age", "0s", "-dialable"],
    ] {
        let mut theirs = ge.tool("devp2p");
        theirs.args(&args);
        let mut mine = Command::new(env!("CARGO_BIN_EXE_devp2p"));
        mine.args(&args);
        assert_eq!(stdout_of(mine).await, stdout_of(theirs).await, "{args:?}");
    }
    let mut filter = Command::new(env!("CARGO_BIN_EXE_devp2p"));
    filter.args(["nodeset", "filter", path, "-eth-network", "mainnet"]);
    let kept = NodeSet::from_json(&stdout_of(filter).await).unwrap();
    assert_eq!(
        ids(&kept),
        BTreeSet::from([ours_a.local_id().node_id().to_string()])
    );

    // One node leaves; asking every node again raises the others' scores
    // and halves its score to nothing, which removes it.
    let gone = ours_b.local_id().node_id().to_string();
    ours_b.shutdown().await;
    our_tool([
        "discv4".as_ref(),
        "resolve-json".as_ref(),
        "--addr".as_ref(),
        "127.0.0.1:0".as_ref(),
        nodes_json.as_os_str(),
    ])
    .await;
    let after = NodeSet::load(&nodes_json).unwrap();
    let mut left = expected.clone();
    left.remove(&gone);
    assert_eq!(ids(&after), left);
    assert!(after.entries().all(|e| e.score == 2));

    boot.shutdown().await;
    ours_a.shutdown().await;
}

/// Our `discv4 ping`, `requestenr` and `resolve` reach go-ethereum's node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discv4_commands_reach_geth() {
    let ge = go_ethereum();
    let key = NodeKey::random();
    let port = free_udp_port();
    // Its own bootnode, so that it never reaches for public ones.
    let url = format!("enode://{}@127.0.0.1:{port}", key.id());
    let _listener = geth_listener(&ge, "discv4", &key, port, &url);
    let deadline = Instant::now() + WAIT;
    let ping = loop {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_devp2p"));
        cmd.args(["discv4", "ping", "--addr", "127.0.0.1:0", &url]);
        let (ok, out) = run(cmd, WAIT).await;
        if ok || Instant::now() > deadline {
            break out;
        }
        // The listener may not be up yet.
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(ping.starts_with("node responded to ping (RTT "), "{ping}");
    let record = our_tool(["discv4", "requestenr", "--addr", "127.0.0.1:0", &url]).await;
    let record: p2p_core::record::NodeRecord = record.trim().parse().unwrap();
    assert_eq!(p2p_core::record::peer_id(&record), key.id());
    let resolved = our_tool(["discv4", "resolve", "--addr", "127.0.0.1:0", &url]).await;
    assert_eq!(resolved.trim(), record.to_base64());
}

async fn v5_node(bootnodes: Vec<Enr>) -> Discv5Service {
    let config = Discv5Config {
        listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        bootnodes,
        ..Discv5Config::default()
    };
    Discv5Service::start(&NodeKey::random(), config)
        .await
        .unwrap()
}

/// Our `discv5 ping` and `resolve` reach geth, and our `discv5 crawl` finds
/// every node of a network of go-ethereum's (two `devp2p discv5 listen`,
/// one `geth`) and ours.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discv5_commands_reach_geth_and_a_crawl_finds_every_node() {
    let ge = go_ethereum();
    let dir = ScratchDir::new("crawl-v5");
    let boot = v5_node(Vec::new()).await;
    let boot_enr = boot.local_enr().to_base64();
    let ours_a = v5_node(vec![boot.local_enr()]).await;
    // A lookup, as a node's first: it contacts the bootnode.
    ours_a.lookup(enr::NodeId::random()).await.unwrap();
    let keys: Vec<NodeKey> = (0..2).map(|_| NodeKey::random()).collect();
    let _listeners: Vec<Child> = keys
        .iter()
        .map(|key| geth_listener(&ge, "discv5", key, free_udp_port(), &boot_enr))
        .collect();
    let geth = Geth::start(&ge, GethDiscovery::V5(vec![boot_enr.clone()])).await;
    let geth_enr = geth.enr(&ge).await;

    let ping = our_tool(["discv5", "ping", "--addr", "127.0.0.1:0", &geth_enr]).await;
    assert!(ping.starts_with("node responded to ping (RTT "), "{ping}");
    let resolved = our_tool(["discv5", "resolve", "--addr", "127.0.0.1:0", &geth_enr]).await;
    let resolved: Enr = resolved.trim().parse().unwrap();
    let given: Enr = geth_enr.parse().unwrap();
    assert_eq!(resolved.node_id(), given.node_id());
    assert!(resolved.seq() >= given.seq());

    let mut everyone: Vec<String> = vec![
        hex::encode(boot.local_enr().node_id().raw()),
        hex::encode(ours_a.local_enr().node_id().raw()),
        hex::encode(given.node_id().raw()),
    ];
    everyone.extend(keys.iter().map(|k| k.id().node_id().to_string()));
    let expected: BTreeSet<String> = everyone.into_iter().collect();
    // Every node contacts the bootnode, which puts it in the bootnode's
    // table, where a crawler's lookups find it.
    let deadline = Instant::now() + WAIT;
    loop {
        let known: BTreeSet<String> = boot
            .table_entries()
            .iter()
            .map(|enr| hex::encode(enr.node_id().raw()))
            .collect();
        if expected.iter().filter(|id| !known.contains(*id)).count() == 1 {
            break; // all but the bootnode itself
        }
        assert!(
            Instant::now() < deadline,
            "the network never formed: the bootnode knows {known:?} of {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let nodes_json = dir.0.join("nodes.json");
    let out = crawl("discv5", &boot_enr, &nodes_json).await;
    let set = NodeSet::load(&nodes_json).unwrap();
    assert_eq!(ids(&set), expected, "crawl said: {out}");
    // And go-ethereum reads the set.
    let mut info = ge.tool("devp2p");
    info.args(["nodeset", "info"]).arg(&nodes_json);
    assert!(stdout_of(info).await.starts_with("Set contains 5 nodes."));

    boot.shutdown();
    ours_a.shutdown();
    drop(geth);
}
