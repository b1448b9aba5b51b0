//! The DNS discovery client (EIP-1459) through real DNS: an authoritative
//! server (hickory-server) on 127.0.0.1 serves the EIP's example zone and
//! zones built here, and the client resolves them with hickory-resolver over
//! UDP. Tree-walking details that need to count or fake queries use the
//! in-memory [`MapResolver`].

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};
use hickory_server::authority::{Catalog, ZoneType};
use hickory_server::proto::rr::rdata::{SOA, TXT};
use hickory_server::proto::rr::{LowerName, Name, RData, Record};
use hickory_server::store::in_memory::InMemoryAuthority;
use hickory_server::ServerFuture;
use p2p_core::record::{self, Endpoint, LocalRecord, NodeRecord};
use p2p_core::{Enode, NodeKey};
use p2p_discovery::dns::client::{
    DnsClient, DnsConfig, DnsDiscovery, DnsError, HickoryResolver, LookupError, MapResolver,
    TxtResolver,
};
use p2p_discovery::dns::publish::SignedTree;
use p2p_discovery::dns::tree::{subdomain_hash, Root, TreeError, TreeUrl};
use secp256k1::SecretKey;
use tokio::net::UdpSocket;
use tokio::time::timeout;

/// Bound on any single wait of these tests.
const WAIT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------
// An authoritative DNS server on loopback.

/// hickory-server on `127.0.0.1:<random port>` (UDP), with one in-memory
/// zone per origin whose records a test can replace while it runs.
struct TestDns {
    addr: SocketAddr,
    zones: HashMap<String, Arc<InMemoryAuthority>>,
    server: ServerFuture<Catalog>,
    serial: u32,
}

impl TestDns {
    async fn start(origins: &[&str]) -> Self {
        let mut catalog = Catalog::new();
        let mut zones = HashMap::new();
        for origin in origins {
            let name = fqdn(origin);
            let zone = Arc::new(InMemoryAuthority::empty(
                name.clone(),
                ZoneType::Primary,
                false,
            ));
            catalog.upsert(LowerName::new(&name), vec![zone.clone()]);
            zones.insert(origin.to_string(), zone);
        }
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind udp");
        let addr = socket.local_addr().expect("local addr");
        let mut server = ServerFuture::new(catalog);
        server.register_socket(socket);
        TestDns {
            addr,
            zones,
            server,
            serial: 1,
        }
    }

    /// Replaces the zone at `origin` with `records` (name relative to the
    /// origin, `@` for the origin itself; TXT text), each text split into
    /// character-strings of at most `chunk` bytes.
    async fn set_zone(&mut self, origin: &str, records: &[(String, String)], chunk: usize) {
        self.serial += 1;
        let serial = self.serial;
        let zone = &self.zones[origin];
        let apex = fqdn(origin);
        zone.records_mut().await.clear();
        let soa = SOA::new(
            apex.clone(),
            fqdn(&format!("hostmaster.{origin}")),
            serial,
            3600,
            600,
            86400,
            0,
        );
        assert!(
            zone.upsert(Record::from_rdata(apex.clone(), 0, RData::SOA(soa)), serial)
                .await
        );
        for (name, text) in records {
            let owner = if name == "@" {
                apex.clone()
            } else {
                fqdn(&format!("{name}.{origin}"))
            };
            let txt = TXT::new(split(text, chunk));
            // TTL 0: nothing may be cached between the server and the client.
            let record = Record::from_rdata(owner, 0, RData::TXT(txt));
            assert!(zone.upsert(record, serial).await, "insert {name}");
        }
    }

    fn resolver(&self) -> HickoryResolver {
        HickoryResolver::with_nameservers(&[self.addr])
    }

    async fn stop(mut self) {
        timeout(WAIT, self.server.shutdown_gracefully())
            .await
            .expect("server stops in time")
            .expect("server stops cleanly");
    }
}

fn fqdn(name: &str) -> Name {
    Name::from_ascii(format!("{name}.")).expect("valid name")
}

/// `text` as character-strings of at most `chunk` bytes (entries are ASCII,
/// so byte boundaries are char boundaries).
fn split(text: &str, chunk: usize) -> Vec<String> {
    assert!(chunk > 0 && chunk <= 255);
    text.as_bytes()
        .chunks(chunk)
        .map(|c| String::from_utf8(c.to_vec()).expect("ascii"))
        .collect()
}

// ---------------------------------------------------------------------------
// The EIP's example zone.

/// The key that signed the example root (see tests/dns_tree.rs: the key in
/// the example's own URL does not).
const SIGNER_URL: &str =
    "enrtree://AKPYQIUQIL7PSIACI32J7FGZW56E5FKHEFCCOFHILBIMW3M6LWXS2@nodes.example.org";

struct ExampleZone {
    url: String,
    domain: String,
    records: Vec<(String, String)>,
}

fn example_zone() -> ExampleZone {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/enr_dns.json");
    let text = std::fs::read_to_string(path).expect("read testdata/enr_dns.json");
    let json: serde_json::Value = serde_json::from_str(&text).expect("parse enr_dns.json");
    let dns = &json["dns_discovery"];
    let records = dns["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| {
            (
                r["name"].as_str().expect("name").to_string(),
                r["txt"].as_str().expect("txt").to_string(),
            )
        })
        .collect();
    ExampleZone {
        url: dns["url"].as_str().expect("url").to_string(),
        domain: dns["zone"].as_str().expect("zone").to_string(),
        records,
    }
}

// ---------------------------------------------------------------------------
// Trees built here.

/// A node with a record on 127.0.0.1 and its own TCP/UDP port.
fn node(port: u16) -> (NodeRecord, Enode) {
    let endpoint = Endpoint {
        ip: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        tcp: Some(port),
        udp: Some(port),
        quic: None,
    };
    let local = LocalRecord::new(NodeKey::random(), endpoint, 1).expect("record");
    let record = local.record().clone();
    let enode = record::enode(&record).expect("enode");
    assert_eq!(enode.tcp, port);
    (record, enode)
}

/// A node whose record is padded to over 255 characters of text, so its TXT
/// record must be split into several character-strings.
fn big_node(port: u16) -> (NodeRecord, Enode) {
    let key = NodeKey::random();
    let record = NodeRecord::builder()
        .ip4(Ipv4Addr::LOCALHOST)
        .tcp4(port)
        .udp4(port)
        .add_value("pad", &"x".repeat(120))
        .build(key.secret())
        .expect("padded record");
    assert!(
        record.to_base64().len() > 255,
        "record text must need a split"
    );
    let enode = record::enode(&record).expect("enode");
    (record, enode)
}

/// The TXT records of a tree (names relative to its domain, `@` for the
/// root), built as a publisher would, `width` children to a branch.
fn build_tree(
    key: &SecretKey,
    seq: u64,
    records: &[NodeRecord],
    links: &[TreeUrl],
    width: usize,
) -> Vec<(String, String)> {
    // The domain only names the URL; the zone's names are relative.
    let tree = SignedTree::build_with_width(key, "zone.invalid", seq, records, links, width)
        .expect("build tree");
    let mut zone: Vec<(String, String)> = tree
        .entries()
        .iter()
        .map(|(hash, text)| (hash.clone(), text.clone()))
        .collect();
    zone.push(("@".to_string(), tree.root().to_string()));
    zone
}

fn url_of(key: &NodeKey, domain: &str) -> TreeUrl {
    TreeUrl::new(*key.public(), domain).expect("url")
}

/// Two trees linking each other (a cycle): A has five nodes, one of them with
/// a record split over several strings, B has three, its zone split into
/// 64-byte strings throughout.
struct TwoTrees {
    dns: TestDns,
    url_a: TreeUrl,
    enodes: HashSet<Enode>,
    records: HashSet<String>,
}

async fn two_trees() -> TwoTrees {
    let key_a = NodeKey::random();
    let key_b = NodeKey::random();
    let url_a = url_of(&key_a, "a.nodes.example.org");
    let url_b = url_of(&key_b, "b.nodes.example.org");
    let mut nodes_a: Vec<_> = (0..4).map(|i| node(30400 + i)).collect();
    nodes_a.push(big_node(30404));
    let nodes_b: Vec<_> = (0..3).map(|i| node(30500 + i)).collect();
    let records = |nodes: &[(NodeRecord, Enode)]| -> Vec<NodeRecord> {
        nodes.iter().map(|(r, _)| r.clone()).collect()
    };
    let zone_a = build_tree(
        key_a.secret(),
        1,
        &records(&nodes_a),
        std::slice::from_ref(&url_b),
        3,
    );
    let zone_b = build_tree(
        key_b.secret(),
        1,
        &records(&nodes_b),
        std::slice::from_ref(&url_a),
        2,
    );
    let mut dns = TestDns::start(&["a.nodes.example.org", "b.nodes.example.org"]).await;
    dns.set_zone("a.nodes.example.org", &zone_a, 255).await;
    dns.set_zone("b.nodes.example.org", &zone_b, 64).await;
    let all = nodes_a.iter().chain(&nodes_b);
    TwoTrees {
        dns,
        url_a,
        enodes: all.clone().map(|(_, e)| *e).collect(),
        records: all.map(|(r, _)| r.to_base64()).collect(),
    }
}

fn assert_candidate_source<S: Stream<Item = Enode> + Send + 'static>(_: &S) {}

/// Takes `n` items from `stream`, within [`WAIT`].
async fn take<S: Stream<Item = Enode> + Unpin>(stream: &mut S, n: usize) -> Vec<Enode> {
    let mut out = Vec::new();
    for _ in 0..n {
        let next = timeout(WAIT, stream.next()).await.expect("node in time");
        out.push(next.expect("stream does not end"));
    }
    out
}

fn config() -> DnsConfig {
    DnsConfig {
        query_timeout: Duration::from_secs(5),
        ..DnsConfig::default()
    }
}

// ---------------------------------------------------------------------------
// Through real DNS.

#[tokio::test]
async fn example_zone_syncs_over_dns() {
    let example = example_zone();
    let mut dns = TestDns::start(&[&example.domain]).await;
    dns.set_zone(&example.domain, &example.records, 255).await;
    let client = DnsClient::new(dns.resolver(), config());

    let url: TreeUrl = SIGNER_URL.parse().unwrap();
    let tree = timeout(WAIT, client.sync_tree(&url))
        .await
        .expect("in time")
        .expect("example tree syncs");
    assert_eq!(tree.root.seq, 1);
    let found: HashSet<String> = tree.records.iter().map(|r| r.to_base64()).collect();
    let expected: HashSet<String> = example
        .records
        .iter()
        .filter(|(_, txt)| txt.starts_with("enr:"))
        .map(|(_, txt)| txt.clone())
        .collect();
    assert_eq!(expected.len(), 3);
    assert_eq!(found, expected);
    assert_eq!(tree.records.len(), 3);
    // The link is listed, not followed (morenodes.example.org is not served).
    let links: Vec<String> = tree.links.iter().map(|l| l.to_string()).collect();
    assert_eq!(
        links,
        ["enrtree://AM5FCQLWIZX2QFPNJAP7VUERCCRNGRHWZG3YYHIUV7BVDQ5FDPRT2@morenodes.example.org"]
    );

    // The example's own URL names a key that did not sign the root.
    let example_url: TreeUrl = example.url.parse().unwrap();
    let err = timeout(WAIT, client.sync_tree(&example_url))
        .await
        .expect("in time")
        .unwrap_err();
    assert_eq!(
        err,
        DnsError::Invalid {
            name: "nodes.example.org".into(),
            source: TreeError::BadSignature
        }
    );

    // The example records have no IP, so they are no dial candidates; the
    // stream waits quietly rather than spinning.
    let discovery = DnsDiscovery::with_resolver(dns.resolver(), vec![url], config());
    let mut nodes = Box::pin(discovery.random_nodes());
    assert!(timeout(Duration::from_millis(500), nodes.next())
        .await
        .is_err());
    drop(nodes);

    // A name the zone does not have is an answer, not an outage.
    let err = timeout(
        WAIT,
        client.resolve_entry(
            "nodes.example.org",
            "AAAAAAAAAAAAAAAAAAAAAAAAAA",
            p2p_discovery::dns::tree::Subtree::Enr,
        ),
    )
    .await
    .expect("in time")
    .unwrap_err();
    assert_eq!(
        err,
        DnsError::Lookup {
            name: "AAAAAAAAAAAAAAAAAAAAAAAAAA.nodes.example.org".into(),
            source: LookupError::NotFound
        }
    );
    assert!(!err.is_transient());
    dns.stop().await;
}

#[tokio::test]
async fn split_txt_records_are_joined() {
    let mut dns = TestDns::start(&["split.example.org"]).await;
    let long = format!("enr:{}", "A".repeat(600));
    dns.set_zone(
        "split.example.org",
        &[("x".into(), long.clone()), ("x".into(), "other".into())],
        255,
    )
    .await;
    let mut found = timeout(WAIT, dns.resolver().lookup_txt("x.split.example.org"))
        .await
        .expect("in time")
        .expect("lookup");
    found.sort();
    let mut expected = vec![long, "other".to_string()];
    expected.sort();
    assert_eq!(found, expected);
    dns.stop().await;
}

#[tokio::test]
async fn sync_follows_links_through_a_cycle() {
    let trees = two_trees().await;
    let discovery =
        DnsDiscovery::with_resolver(trees.dns.resolver(), vec![trees.url_a.clone()], config());
    let synced = timeout(WAIT, discovery.sync())
        .await
        .expect("sync terminates despite the cycle")
        .expect("sync");
    assert_eq!(synced.len(), 2, "A and B, each once");
    assert_eq!(synced[0].url, trees.url_a);
    assert_eq!(synced[1].links, vec![trees.url_a.clone()], "B links back");

    let nodes = timeout(WAIT, discovery.all_nodes())
        .await
        .expect("in time")
        .expect("all nodes");
    let found: HashSet<String> = nodes.iter().map(|r| r.to_base64()).collect();
    assert_eq!(nodes.len(), 8);
    assert_eq!(found, trees.records);
    trees.dns.stop().await;
}

#[tokio::test]
async fn random_nodes_yields_each_node_once_per_walk() {
    let trees = two_trees().await;
    let discovery =
        DnsDiscovery::with_resolver(trees.dns.resolver(), vec![trees.url_a.clone()], config());
    let stream = discovery.random_nodes();
    assert_candidate_source(&stream);
    let mut stream = Box::pin(stream);
    let got = take(&mut stream, trees.enodes.len()).await;
    let distinct: HashSet<Enode> = got.iter().copied().collect();
    assert_eq!(distinct.len(), got.len(), "no node twice in one walk");
    assert_eq!(distinct, trees.enodes, "both trees, through the link");
    // Both walks are over: the stream pauses until the next root re-check
    // (30 minutes by default) instead of walking again.
    assert!(timeout(Duration::from_millis(700), stream.next())
        .await
        .is_err());
    drop(stream);
    trees.dns.stop().await;
}

#[tokio::test]
async fn tampered_leaf_is_refused() {
    let key = NodeKey::random();
    let url = url_of(&key, "tampered.example.org");
    let nodes: Vec<_> = (0..3).map(|i| node(30600 + i)).collect();
    let records: Vec<NodeRecord> = nodes.iter().map(|(r, _)| r.clone()).collect();
    let mut zone = build_tree(key.secret(), 1, &records, &[], 4);
    // Serve another genuine record in place of the first leaf.
    let victim = subdomain_hash(&records[0].to_base64());
    let (intruder, intruder_enode) = node(30700);
    for (name, text) in zone.iter_mut() {
        if *name == victim {
            *text = intruder.to_base64();
        }
    }
    let mut dns = TestDns::start(&["tampered.example.org"]).await;
    dns.set_zone("tampered.example.org", &zone, 255).await;

    let client = DnsClient::new(dns.resolver(), config());
    let err = timeout(WAIT, client.sync_tree(&url))
        .await
        .expect("in time")
        .unwrap_err();
    assert_eq!(
        err,
        DnsError::Invalid {
            name: format!("{victim}.tampered.example.org"),
            source: TreeError::HashMismatch {
                subdomain: victim.clone(),
                actual: subdomain_hash(&intruder.to_base64()),
            }
        }
    );

    // The walk skips the bad leaf and yields the genuine nodes only.
    let discovery = DnsDiscovery::with_resolver(dns.resolver(), vec![url], config());
    let mut stream = Box::pin(discovery.random_nodes());
    let got: HashSet<Enode> = take(&mut stream, 2).await.into_iter().collect();
    let expected: HashSet<Enode> = nodes[1..].iter().map(|(_, e)| *e).collect();
    assert_eq!(got, expected);
    assert!(!got.contains(&intruder_enode));
    assert!(timeout(Duration::from_millis(500), stream.next())
        .await
        .is_err());
    drop(stream);
    dns.stop().await;
}

#[tokio::test]
async fn root_signed_with_another_key_is_refused() {
    let publisher = NodeKey::random();
    let expected = NodeKey::random();
    let url = url_of(&expected, "wrongkey.example.org");
    let (record, _) = node(30800);
    let zone = build_tree(publisher.secret(), 1, &[record], &[], 4);
    let mut dns = TestDns::start(&["wrongkey.example.org"]).await;
    dns.set_zone("wrongkey.example.org", &zone, 255).await;

    let client = DnsClient::new(dns.resolver(), config());
    let err = timeout(WAIT, client.sync_tree(&url))
        .await
        .expect("in time")
        .unwrap_err();
    assert_eq!(
        err,
        DnsError::Invalid {
            name: "wrongkey.example.org".into(),
            source: TreeError::BadSignature
        }
    );
    // Nothing of the tree is offered.
    let discovery = DnsDiscovery::with_resolver(dns.resolver(), vec![url], config());
    let mut stream = Box::pin(discovery.random_nodes());
    assert!(timeout(Duration::from_millis(500), stream.next())
        .await
        .is_err());
    drop(stream);
    dns.stop().await;
}

#[tokio::test]
async fn self_link_terminates() {
    let key = NodeKey::random();
    let url = url_of(&key, "selfish.example.org");
    let (record, enode) = node(30900);
    // The tree links to itself, twice spelled (DNS names ignore case).
    let shouting = url_of(&key, "SELFISH.example.org");
    let zone = build_tree(key.secret(), 1, &[record], &[url.clone(), shouting], 4);
    let mut dns = TestDns::start(&["selfish.example.org"]).await;
    dns.set_zone("selfish.example.org", &zone, 255).await;

    let discovery = DnsDiscovery::with_resolver(dns.resolver(), vec![url.clone()], config());
    let synced = timeout(WAIT, discovery.sync())
        .await
        .expect("terminates")
        .expect("sync");
    assert_eq!(synced.len(), 1);
    assert_eq!(synced[0].links.len(), 2);

    let mut stream = Box::pin(discovery.random_nodes());
    assert_eq!(take(&mut stream, 1).await, vec![enode]);
    assert!(timeout(Duration::from_millis(500), stream.next())
        .await
        .is_err());
    drop(stream);
    dns.stop().await;
}

#[tokio::test]
async fn new_root_is_picked_up_after_recheck() {
    let key = NodeKey::random();
    let domain = "update.example.org";
    let url = url_of(&key, domain);
    let old: Vec<_> = (0..2).map(|i| node(31000 + i)).collect();
    let (new_record, new_enode) = node(31100);
    let records = |nodes: &[(NodeRecord, Enode)]| -> Vec<NodeRecord> {
        nodes.iter().map(|(r, _)| r.clone()).collect()
    };
    let mut dns = TestDns::start(&[domain]).await;
    dns.set_zone(
        domain,
        &build_tree(key.secret(), 1, &records(&old), &[], 4),
        255,
    )
    .await;

    let config = DnsConfig {
        recheck_interval: Duration::from_millis(300),
        ..config()
    };
    let discovery = DnsDiscovery::with_resolver(dns.resolver(), vec![url], config);
    let mut stream = Box::pin(discovery.random_nodes());
    let first: HashSet<Enode> = take(&mut stream, 2).await.into_iter().collect();
    assert_eq!(first, old.iter().map(|(_, e)| *e).collect());

    // Publish seq 2 with another node; the old entries are gone from DNS.
    dns.set_zone(
        domain,
        &build_tree(key.secret(), 2, std::slice::from_ref(&new_record), &[], 4),
        255,
    )
    .await;
    // Within a few re-checks the new node shows up; the same root re-walked
    // in between may yield the old nodes again until then.
    let saw_new = timeout(WAIT, async {
        while let Some(enode) = stream.next().await {
            if enode == new_enode {
                return true;
            }
        }
        false
    })
    .await
    .expect("new root picked up in time");
    assert!(saw_new);
    // From then on only the new root's node comes, once per re-check.
    for enode in take(&mut stream, 3).await {
        assert_eq!(enode, new_enode);
    }
    drop(stream);
    dns.stop().await;
}

// ---------------------------------------------------------------------------
// Tree walking against an in-memory zone.

fn map_zone(zone: &[(String, String)], domain: &str) -> Arc<MapResolver> {
    let map = Arc::new(MapResolver::new());
    for (name, text) in zone {
        let full = if name == "@" {
            domain.to_string()
        } else {
            format!("{name}.{domain}")
        };
        map.insert(&full, text);
    }
    map
}

#[tokio::test]
async fn walk_is_lazy_and_rewalks_from_cache() {
    let key = NodeKey::random();
    let domain = "lazy.example.org";
    let url = url_of(&key, domain);
    let nodes: Vec<_> = (0..16).map(|i| node(31200 + i)).collect();
    let records: Vec<NodeRecord> = nodes.iter().map(|(r, _)| r.clone()).collect();
    let zone = build_tree(key.secret(), 1, &records, &[], 4);
    // 16 leaves, 4 + 1 branches, an empty link branch and the root.
    assert_eq!(zone.len(), 16 + 5 + 1 + 1);
    let map = map_zone(&zone, domain);
    let config = DnsConfig {
        recheck_interval: Duration::from_millis(200),
        ..config()
    };
    let discovery = DnsDiscovery::with_resolver(map.clone(), vec![url], config);
    let mut stream = Box::pin(discovery.random_nodes());

    // The first node needs the root, the link branch and one path down.
    take(&mut stream, 1).await;
    assert!(map.lookups() <= 5, "{} lookups for one node", map.lookups());

    let rest: HashSet<Enode> = take(&mut stream, 15).await.into_iter().collect();
    assert_eq!(rest.len(), 15);
    let after_walk = map.lookups();
    // Each entry once; a root re-check may have fallen inside the walk.
    assert!(
        (zone.len()..=zone.len() + 2).contains(&after_walk),
        "{after_walk} lookups for {} entries",
        zone.len()
    );

    // The next walk of the unchanged root costs root checks only.
    let again: HashSet<Enode> = take(&mut stream, 16).await.into_iter().collect();
    assert_eq!(again, nodes.iter().map(|(_, e)| *e).collect());
    let checks = map.lookups() - after_walk;
    assert!(
        (1..=3).contains(&checks),
        "{checks} lookups for a cached walk"
    );
}

#[tokio::test]
async fn hostile_zones_give_clear_errors() {
    let key = NodeKey::random();
    let domain = "hostile.example.org";
    let url = url_of(&key, domain);
    let client = |map: Arc<MapResolver>| DnsClient::new(map, config());
    let sync = |map: Arc<MapResolver>| {
        let url = url.clone();
        async move {
            timeout(WAIT, client(map).sync_tree(&url))
                .await
                .expect("terminates")
        }
    };
    let empty = "enrtree-branch:";
    let empty_hash = subdomain_hash(empty);
    let root_over = |e: &str| Root::sign(e, &empty_hash, 1, key.secret()).unwrap();

    // A branch listing itself: its text cannot hash to its own name.
    let loop_hash = "AAAAAAAAAAAAAAAAAAAAAAAAAA";
    let map = map_zone(
        &[
            ("@".into(), root_over(loop_hash).to_string()),
            (empty_hash.clone(), empty.into()),
            (loop_hash.into(), format!("enrtree-branch:{loop_hash}")),
        ],
        domain,
    );
    assert!(matches!(
        sync(map).await,
        Err(DnsError::Invalid {
            source: TreeError::HashMismatch { .. },
            ..
        })
    ));

    // A child listed twice is resolved once.
    let (record, _) = node(31300);
    let leaf = record.to_base64();
    let leaf_hash = subdomain_hash(&leaf);
    let branch = format!("enrtree-branch:{leaf_hash},{leaf_hash}");
    let map = map_zone(
        &[
            ("@".into(), root_over(&subdomain_hash(&branch)).to_string()),
            (empty_hash.clone(), empty.into()),
            (subdomain_hash(&branch), branch.clone()),
            (leaf_hash.clone(), leaf.clone()),
        ],
        domain,
    );
    let tree = sync(map.clone()).await.expect("duplicate child is fine");
    assert_eq!(tree.records.len(), 1);
    assert_eq!(map.lookups(), 4);

    // A malformed branch on its right name.
    let bad = "enrtree-branch:nothash";
    let map = map_zone(
        &[
            ("@".into(), root_over(&subdomain_hash(bad)).to_string()),
            (empty_hash.clone(), empty.into()),
            (subdomain_hash(bad), bad.into()),
        ],
        domain,
    );
    assert_eq!(
        sync(map).await.unwrap_err(),
        DnsError::Invalid {
            name: format!("{}.{domain}", subdomain_hash(bad)),
            source: TreeError::InvalidHash("nothash".into())
        }
    );

    // A link in the node subtree.
    let link = url.to_string();
    let map = map_zone(
        &[
            ("@".into(), root_over(&subdomain_hash(&link)).to_string()),
            (empty_hash.clone(), empty.into()),
            (subdomain_hash(&link), link.clone()),
        ],
        domain,
    );
    assert!(matches!(
        sync(map).await,
        Err(DnsError::Invalid {
            source: TreeError::UnexpectedEntry { kind: "link", .. },
            ..
        })
    ));

    // An oversized entry.
    let huge = format!("enrtree-branch:{}", "A".repeat(2000));
    let map = map_zone(
        &[
            ("@".into(), root_over(&subdomain_hash(&huge)).to_string()),
            (empty_hash.clone(), empty.into()),
            (subdomain_hash(&huge), huge.clone()),
        ],
        domain,
    );
    assert!(matches!(
        sync(map).await,
        Err(DnsError::Invalid {
            source: TreeError::TooLong { .. },
            ..
        })
    ));

    // A missing entry, a domain without root, a root that does not parse.
    let map = map_zone(&[("@".into(), root_over(&leaf_hash).to_string())], domain);
    assert!(matches!(
        sync(map).await,
        Err(DnsError::Lookup {
            source: LookupError::NotFound,
            ..
        })
    ));
    let map = map_zone(&[("@".into(), "v=spf1 -all".into())], domain);
    assert_eq!(
        sync(map).await.unwrap_err(),
        DnsError::NoRoot {
            domain: domain.into()
        }
    );
    let map = map_zone(&[("@".into(), "enrtree-root:v1 e=X".into())], domain);
    assert!(matches!(
        sync(map).await,
        Err(DnsError::Invalid {
            source: TreeError::RootSyntax(_),
            ..
        })
    ));

    // More entries than allowed.
    let nodes: Vec<NodeRecord> = (0..6).map(|i| node(31400 + i).0).collect();
    let map = map_zone(&build_tree(key.secret(), 1, &nodes, &[], 3), domain);
    let small = DnsConfig {
        max_entries: 5,
        ..config()
    };
    assert_eq!(
        timeout(WAIT, DnsClient::new(map, small).sync_tree(&url))
            .await
            .expect("terminates")
            .unwrap_err(),
        DnsError::TooManyEntries {
            domain: domain.into(),
            limit: 5
        }
    );
}

/// A resolver that never answers.
struct Silent;

impl TxtResolver for Silent {
    async fn lookup_txt(&self, _name: &str) -> Result<Vec<String>, LookupError> {
        std::future::pending().await
    }
}

#[tokio::test]
async fn queries_time_out_and_the_stream_backs_off() {
    let key = NodeKey::random();
    let url = url_of(&key, "silent.example.org");
    let config = DnsConfig {
        query_timeout: Duration::from_millis(100),
        ..config()
    };
    let client = DnsClient::new(Silent, config.clone());
    let err = timeout(WAIT, client.resolve_root(&url))
        .await
        .expect("bounded by the query timeout")
        .unwrap_err();
    assert_eq!(
        err,
        DnsError::Timeout {
            name: "silent.example.org".into(),
            timeout: Duration::from_millis(100)
        }
    );
    assert!(err.is_transient());

    // A tree that never answers yields nothing and does not spin.
    let discovery = DnsDiscovery::with_resolver(Silent, vec![url], config);
    let mut stream = Box::pin(discovery.random_nodes());
    assert!(timeout(Duration::from_millis(500), stream.next())
        .await
        .is_err());

    // No trees: nothing can ever come, so the stream ends.
    let none = DnsDiscovery::with_resolver(Silent, Vec::new(), DnsConfig::default());
    let mut stream = Box::pin(none.random_nodes());
    assert_eq!(timeout(WAIT, stream.next()).await.expect("ends"), None);
}

#[tokio::test]
async fn links_beyond_max_trees_are_not_followed() {
    // A chain A -> B -> C with room for two trees.
    let keys: Vec<NodeKey> = (0..3).map(|_| NodeKey::random()).collect();
    let domains = ["c0.example.org", "c1.example.org", "c2.example.org"];
    let urls: Vec<TreeUrl> = keys
        .iter()
        .zip(domains)
        .map(|(k, d)| url_of(k, d))
        .collect();
    let map = Arc::new(MapResolver::new());
    let mut enodes = Vec::new();
    for i in 0..3 {
        let (record, enode) = node(31500 + i as u16);
        enodes.push(enode);
        let links: Vec<TreeUrl> = urls.get(i + 1).cloned().into_iter().collect();
        for (name, text) in build_tree(keys[i].secret(), 1, &[record], &links, 4) {
            let full = if name == "@" {
                domains[i].to_string()
            } else {
                format!("{name}.{}", domains[i])
            };
            map.insert(&full, &text);
        }
    }
    let config = DnsConfig {
        max_trees: 2,
        ..config()
    };
    let discovery = DnsDiscovery::with_resolver(map, vec![urls[0].clone()], config);
    assert_eq!(
        timeout(WAIT, discovery.sync())
            .await
            .expect("terminates")
            .unwrap_err(),
        DnsError::TooManyTrees { limit: 2 }
    );
    let mut stream = Box::pin(discovery.random_nodes());
    let got: HashSet<Enode> = take(&mut stream, 2).await.into_iter().collect();
    assert_eq!(got, enodes[..2].iter().copied().collect());
    assert!(timeout(Duration::from_millis(500), stream.next())
        .await
        .is_err());
}
