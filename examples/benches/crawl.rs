//! How fast `devp2p discv4 crawl` and `devp2p discv5 crawl` find and verify
//! the nodes of a network: the crawler of `examples::crawl` driven as the
//! tool drives it, over a loopback network of 200 of our nodes.
//!
//! ```text
//! cargo bench -p examples --bench crawl
//! ```
//!
//! # Setup
//!
//! One multi-threaded tokio runtime with 2 workers runs all the nodes and
//! the crawler. Per protocol, 200 nodes (`NODES`) in one process, each on
//! its own 127.0.0.1 UDP socket, node 0 everyone's only bootnode; they
//! start 50 at a time, and every node then runs two lookups for random
//! targets (as nodes do at startup and on refresh), so each one is in
//! other nodes' tables, where lookups find it. Nodes run with their default
//! settings (table revalidation on, so each crawler that has left is soon
//! dropped from the tables it entered, as on a real network).
//!
//! # Groups (criterion, `iter_custom`, 10 samples)
//!
//! - `crawl/discv4`, `crawl/discv5`: one iteration is a whole crawl by a
//!   new crawler node (new key, so every node bonds with it afresh) given
//!   only node 0 as bootnode, with the tool's settings (16 checks at once,
//!   random lookups, each live node asked for its nearest neighbours),
//!   from its start until it has verified all 200 nodes (each answered a
//!   record request with its signed record). Throughput is in nodes:
//!   nodes found and verified per second.
//!
//! A crawl that has not verified every node after `CRAWL_LIMIT` stops
//! there; the bench then prints how many it verified, and its time counts
//! as it is (so a slow crawl shows as a low rate, not a hang).

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use examples::crawl::{self, Checked, Crawl, CrawlStats, REVALIDATE_INTERVAL};
use examples::nodeset::NodeSet;
use futures::future::join_all;
use p2p_core::NodeKey;
use p2p_discovery::v4::service::{Discv4, Discv4Config};
use p2p_discovery::v4::wire::NodeRecordV4;
use p2p_discovery::v5::{Discv5Config, Discv5Service, Enr};
use tokio::runtime::Runtime;

/// Nodes in each network.
const NODES: usize = 200;
/// Nodes started at once.
const BATCH: usize = 50;
/// Checks a crawl runs at once: the tool's default.
const PARALLEL: usize = 16;
/// Where a crawl stops if it has not verified every node.
const CRAWL_LIMIT: Duration = Duration::from_secs(60);
/// Lookups each node runs after the network has started.
const WARM_UP_LOOKUPS: usize = 2;
/// Rounds in which nodes nobody knows join again before the bench gives up.
const REJOIN_ROUNDS: usize = 5;

fn loopback() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
}

/// A node of the network: go-ethereum's and our defaults, so that a
/// crawler that has left is soon dropped from the tables it entered.
fn node_config(bootnodes: Vec<NodeRecordV4>) -> Discv4Config {
    Discv4Config {
        bootnodes,
        ..Discv4Config::default()
    }
}

/// The crawler: as the tool runs it, asking and keeping no table alive.
fn crawler_config(bootnodes: Vec<NodeRecordV4>) -> Discv4Config {
    Discv4Config {
        bootnodes,
        revalidate_interval: Duration::ZERO,
        refresh_interval: Duration::ZERO,
        ..Discv4Config::default()
    }
}

async fn v4_network() -> Vec<Discv4> {
    let boot = Discv4::bind(NodeKey::random(), loopback(), node_config(Vec::new()))
        .await
        .unwrap();
    let boot_node = boot.local_node();
    let mut nodes = vec![boot];
    while nodes.len() < NODES {
        let batch = BATCH.min(NODES - nodes.len());
        let started =
            join_all((0..batch).map(|_| {
                Discv4::bind(NodeKey::random(), loopback(), node_config(vec![boot_node]))
            }))
            .await;
        nodes.extend(started.into_iter().map(Result::unwrap));
    }
    for _ in 0..WARM_UP_LOOKUPS {
        for chunk in nodes.chunks(BATCH) {
            join_all(chunk.iter().map(|node| node.lookup(NodeKey::random().id()))).await;
        }
    }
    nodes
}

async fn v5_network() -> Vec<Discv5Service> {
    let start = |bootnodes: Vec<Enr>| async move {
        let config = Discv5Config {
            listen: loopback(),
            bootnodes,
            ..Discv5Config::default()
        };
        Discv5Service::start(&NodeKey::random(), config)
            .await
            .unwrap()
    };
    let boot = start(Vec::new()).await;
    let boot_enr = boot.local_enr();
    let mut nodes = vec![boot];
    while nodes.len() < NODES {
        let batch = BATCH.min(NODES - nodes.len());
        nodes.extend(join_all((0..batch).map(|_| start(vec![boot_enr.clone()]))).await);
    }
    for _ in 0..WARM_UP_LOOKUPS {
        for chunk in nodes.chunks(BATCH) {
            join_all(chunk.iter().map(|node| node.lookup(enr::NodeId::random()))).await;
        }
    }
    // A node in no other node's table cannot be found by anyone. Such
    // nodes look themselves up again, which makes their neighbours meet
    // them; the few the `discv5` crate's tables still leave out (they
    // admit a node that contacted them only while a bucket has room for
    // incoming entries) are not counted as part of the network.
    for _ in 0..REJOIN_ROUNDS {
        let unknown = unknown_v5_nodes(&nodes);
        if unknown.is_empty() {
            return nodes;
        }
        join_all(unknown.iter().map(|&i| {
            let node = &nodes[i];
            let _ = node.add_enr(boot_enr.clone());
            node.lookup(node.local_enr().node_id())
        }))
        .await;
    }
    nodes
}

/// The nodes (by index) in no other node's table.
fn unknown_v5_nodes(nodes: &[Discv5Service]) -> Vec<usize> {
    let known: HashSet<enr::NodeId> = nodes
        .iter()
        .flat_map(|node| node.table_entries())
        .map(|entry| entry.node_id())
        .collect();
    (0..nodes.len())
        .filter(|&i| !known.contains(&nodes[i].local_enr().node_id()))
        .collect()
}

/// Runs `crawl` until `nodes` nodes are verified or the limit passes;
/// returns the time taken and the nodes verified.
async fn crawl_all<N, L, LF, C, CF>(crawl: Crawl<N, L, C>, nodes: usize) -> (Duration, u64)
where
    L: FnMut() -> LF,
    LF: std::future::Future<Output = Vec<N>>,
    C: Fn(N) -> CF,
    CF: std::future::Future<Output = Checked<N>>,
{
    let stats = CrawlStats::default();
    let mut set = NodeSet::new();
    let started = Instant::now();
    let all_live = async {
        while (stats.live.load(Ordering::Relaxed) as usize) < nodes {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    tokio::select! {
        _ = crawl.run(&mut set, &stats) => {}
        _ = all_live => {}
    }
    let elapsed = started.elapsed();
    let live = stats.live.load(Ordering::Relaxed);
    if (live as usize) < nodes {
        eprintln!("crawl verified {live} of {nodes} nodes in {elapsed:?}");
    }
    (elapsed, live)
}

async fn crawl_v4(bootnode: NodeRecordV4) -> Duration {
    let crawler = Discv4::bind(
        NodeKey::random(),
        loopback(),
        crawler_config(vec![bootnode]),
    )
    .await
    .unwrap();
    let handle = crawler.handle();
    let crawl = Crawl {
        seeds: vec![bootnode],
        lookup: Some(|| {
            let handle = handle.clone();
            async move {
                handle
                    .lookup(NodeKey::random().id())
                    .await
                    .unwrap_or_default()
            }
        }),
        check: |node: NodeRecordV4| {
            let handle = handle.clone();
            async move { crawl::discv4::check(&handle, node).await }
        },
        id: crawl::discv4::id,
        parallel: PARALLEL,
        revalidate_interval: REVALIDATE_INTERVAL,
        deadline: Some(Instant::now() + CRAWL_LIMIT),
    };
    let (elapsed, _) = crawl_all(crawl, NODES).await;
    crawler.shutdown().await;
    elapsed
}

async fn crawl_v5(bootnode: Enr, nodes: usize) -> Duration {
    let config = Discv5Config {
        listen: loopback(),
        bootnodes: vec![bootnode.clone()],
        ..Discv5Config::default()
    };
    let crawler = Arc::new(
        Discv5Service::start(&NodeKey::random(), config)
            .await
            .unwrap(),
    );
    let crawl = Crawl {
        seeds: vec![bootnode],
        lookup: Some(|| {
            let crawler = crawler.clone();
            async move {
                let mut found = crawler
                    .lookup(enr::NodeId::random())
                    .await
                    .unwrap_or_default();
                // As the tool does: the table too (see its discv5 crawl).
                found.extend(crawler.table_entries());
                found
            }
        }),
        check: |node: Enr| {
            let crawler = crawler.clone();
            async move { crawl::discv5::check(&crawler, node).await }
        },
        id: crawl::discv5::id,
        parallel: PARALLEL,
        revalidate_interval: REVALIDATE_INTERVAL,
        deadline: Some(Instant::now() + CRAWL_LIMIT),
    };
    let (elapsed, _) = crawl_all(crawl, nodes).await;
    crawler.shutdown();
    elapsed
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("crawl");
    // Ten samples of one crawl each, and a warm-up of one crawl. Every
    // crawl is a new node that all 200 nodes meet and keep in their tables
    // until revalidation finds it gone (one entry per node every 10 s), so
    // many crawls in a row would measure a network full of departed
    // crawlers rather than the network.
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_millis(1));

    let v4 = runtime.block_on(v4_network());
    let boot = v4[0].local_node();
    group.throughput(Throughput::Elements(NODES as u64));
    group.bench_function("discv4", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| runtime.block_on(crawl_v4(boot))).sum())
    });
    shutdown_v4(&runtime, v4);

    let v5 = runtime.block_on(v5_network());
    let known = NODES - unknown_v5_nodes(&v5).len();
    eprintln!("discovery v5: {known} of {NODES} nodes are in some node's table");
    let boot = v5[0].local_enr();
    group.throughput(Throughput::Elements(known as u64));
    group.bench_function("discv5", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| runtime.block_on(crawl_v5(boot.clone(), known)))
                .sum()
        })
    });
    for node in &v5 {
        node.shutdown();
    }
    group.finish();
}

fn shutdown_v4(runtime: &Runtime, nodes: Vec<Discv4>) {
    runtime.block_on(join_all(nodes.into_iter().map(Discv4::shutdown)));
}

criterion_group!(benches, bench);
criterion_main!(benches);
