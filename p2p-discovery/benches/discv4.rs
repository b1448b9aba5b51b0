//! Benchmarks of discovery v4: how fast received packets are verified and
//! decoded, next to the cryptography that bounds it, and what one lookup costs
//! in a network of 1,000 nodes.
//!
//! ```text
//! cargo bench -p p2p-discovery --bench discv4
//! DISCV4_LOOKUP_NODES=0 cargo bench -p p2p-discovery --bench discv4   # packets only
//! ```
//!
//! # Packets (criterion)
//!
//! Every received datagram is verified before anything else happens to it, so
//! [`wire::decode`] bounds how many packets a node can take in. It hashes the
//! datagram twice with Keccak-256 (the packet hash over signature and data, and
//! the signed digest over the data) and recovers the sender's public key from
//! the signature; recovery (one ECDSA public-key recovery) is the floor
//! nothing can get under.
//!
//! - `discv4_decode/{ping,find_node,neighbors_12}`: [`wire::decode`] of a Ping, a
//!   FindNode and a full Neighbors packet (12 IPv4 nodes), each made by
//!   [`wire::encode`] with a random key. Throughput in packets.
//! - `discv4_primitives/ecdsa_recover`: `RecoverableSignature::recover_ecdsa` over a
//!   32-byte digest, the very call `decode` makes (the `secp256k1` global
//!   context; recovery takes no secret, so the context is not re-randomized).
//! - `discv4_primitives/{keccak256_hash,keccak256_sighash}/*`: `p2p_core::keccak256`
//!   over the two spans `decode` hashes in each packet (everything after the
//!   hash; type byte and data).
//! - `discv4_decode_parts/*`: the remaining steps of `decode`, to account for the gap
//!   above the bound: parsing the signature, the RLP of the packet data, and
//!   turning the recovered key into a `PeerId`.
//! - `discv4_encode/*`: [`wire::encode`] (RLP, one signature, two hashes), the cost on
//!   the sending side.
//!
//! 30 samples each, 1 s warm-up, 3 s measurement (`config()`).
//!
//! # Lookups in a 1,000-node network (custom measurement, printed)
//!
//! A criterion loop does not fit here: the network takes two minutes to build,
//! and the figures of interest (FindNode queries, datagrams, whether the result
//! is right) are not times. So after the criterion benches, `main` builds
//! `DISCV4_LOOKUP_NODES` (default 1,000) [`Discv4`] services in this process,
//! each on its own 127.0.0.1 UDP socket wrapped in a [`CountingSocket`]; all
//! share one [`PacketCounts`], which counts every datagram of the network. They
//! run on one multi-threaded tokio runtime with 2 workers (`DISCV4_WORKERS`),
//! as does the task that drives the measurement.
//!
//! - Node 0 is every other node's only bootnode. Nodes start in batches of 50;
//!   after each batch the network is left until it is quiet (no datagram for
//!   1.5 s, three request timeouts), so every startup refresh has finished.
//! - Then two refresh rounds: `refresh()` (a lookup of the own id and of three
//!   random ids) on every node, 50 nodes at a time.
//! - Periodic refresh and revalidation are off, so the network is idle between
//!   lookups. Timeouts: 500 ms (go-ethereum's), 2 attempts per node.
//! - Then `DISCV4_LOOKUPS` (default 100) distinct random nodes each run three
//!   lookups one after the other, one at a time in the whole network:
//!   `first`, the node's first lookup since the refreshes, for a random target;
//!   `repeat`, the same target again; `new_target`, another random target.
//!   A lookup for a new target mostly asks nodes the looker never talked to,
//!   so it first bonds with them (ping, pong and the ping-back, four datagrams
//!   more per node); a repeated one finds the bonds in place.
//! - Per lookup: the wall time of `lookup_with_stats` alone; the CPU time all
//!   threads of the process spent meanwhile (from `/proc/self/task/*/schedstat`,
//!   Linux only), to tell CPU-bound from waiting; the FindNode queries it
//!   reports; the datagrams sent network-wide from its start until
//!   the network is quiet again (no datagram for 50 ms, not timed), answers
//!   included. The result is checked against the 16 nodes closest to the
//!   target by XOR distance among all nodes but the looker (brute force), for
//!   order, and for containing only nodes of the network.
//!
//! Outside `cargo bench` (e.g. `cargo test --benches`), the network part runs
//! at 40 nodes and 2 lookups, as a smoke test.

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use futures::future::join_all;
use p2p_core::{keccak256, NodeId, NodeKey, PeerId};
use p2p_discovery::testing::{CountingSocket, PacketCounts};
use p2p_discovery::v4::service::{Discv4, Discv4Config};
use p2p_discovery::v4::table::{distance_cmp, BUCKET_SIZE};
use p2p_discovery::v4::wire::{
    self, Endpoint, FindNode, Neighbors, NodeRecordV4, Packet, Ping, HASH_SIZE, HEAD_SIZE,
    MAX_NEIGHBORS, PING_VERSION,
};
use rand::seq::SliceRandom;
use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
use secp256k1::Message;
use tokio::net::UdpSocket;
use tokio::time::timeout;

// ---------------------------------------------------------------------------
// Packets
// ---------------------------------------------------------------------------

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// A Ping, a FindNode and a full Neighbors packet of IPv4 nodes, as a node
/// on the public internet sends them.
fn sample_packets() -> Vec<(&'static str, Packet)> {
    let expiration = unix_now() + 20;
    let ping = Packet::Ping(Ping {
        version: PING_VERSION,
        from: Endpoint::new(Ipv4Addr::new(203, 0, 113, 7), 30303, 30303),
        to: Endpoint::new(Ipv4Addr::new(198, 51, 100, 20), 30303, 30303),
        expiration,
        enr_seq: Some(3),
    });
    let find_node = Packet::FindNode(FindNode {
        target: NodeKey::random().id(),
        expiration,
    });
    let nodes = (0..MAX_NEIGHBORS)
        .map(|i| NodeRecordV4 {
            endpoint: Endpoint::new(Ipv4Addr::new(198, 51, 100, 1 + i as u8), 30303, 30303),
            id: NodeKey::random().id(),
        })
        .collect();
    let neighbors = Packet::Neighbors(Neighbors { nodes, expiration });
    vec![
        ("ping", ping),
        ("find_node", find_node),
        ("neighbors_12", neighbors),
    ]
}

fn packet_benches(c: &mut Criterion) {
    let key = NodeKey::random();
    let packets = sample_packets();
    let datagrams: Vec<(&str, Vec<u8>)> = packets
        .iter()
        .map(|(name, packet)| {
            let (datagram, _hash) = wire::encode(&key, packet).expect("encodes");
            let decoded = wire::decode(&datagram).expect("decodes");
            assert_eq!(&decoded.packet, packet);
            assert_eq!(decoded.sender, key.id());
            (*name, datagram.to_vec())
        })
        .collect();
    for (name, datagram) in &datagrams {
        eprintln!("{name}: {} bytes", datagram.len());
    }

    let mut g = c.benchmark_group("discv4_decode");
    g.throughput(Throughput::Elements(1));
    for (name, datagram) in &datagrams {
        g.bench_function(*name, |b| {
            b.iter(|| wire::decode(black_box(datagram)).expect("valid packet"))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("discv4_primitives");
    // Recovery from the Ping's signature; its cost does not depend on the digest.
    let ping = &datagrams[0].1;
    let (signature, digest) = signature_and_digest(ping);
    let public = signature
        .recover_ecdsa(Message::from_digest(digest))
        .expect("recovers");
    g.throughput(Throughput::Elements(1));
    g.bench_function("ecdsa_recover", |b| {
        b.iter(|| {
            black_box(&signature)
                .recover_ecdsa(Message::from_digest(black_box(digest)))
                .expect("recovers")
        })
    });
    for (name, datagram) in &datagrams {
        let hashed = &datagram[HASH_SIZE..];
        g.throughput(Throughput::Bytes(hashed.len() as u64));
        g.bench_with_input(BenchmarkId::new("keccak256_hash", name), hashed, |b, d| {
            b.iter(|| keccak256(black_box(d)))
        });
        let signed = &datagram[HEAD_SIZE..];
        g.throughput(Throughput::Bytes(signed.len() as u64));
        g.bench_with_input(
            BenchmarkId::new("keccak256_sighash", name),
            signed,
            |b, d| b.iter(|| keccak256(black_box(d))),
        );
    }
    g.finish();

    let mut g = c.benchmark_group("discv4_decode_parts");
    g.bench_function("signature_parse", |b| {
        b.iter(|| signature_and_digest_parse_only(black_box(ping)))
    });
    g.bench_function("peer_id_from_public_key", |b| {
        b.iter(|| PeerId::from_public_key(black_box(&public)))
    });
    for (name, datagram) in &datagrams {
        g.bench_with_input(BenchmarkId::new("rlp", name), datagram, |b, d| {
            b.iter(|| {
                Packet::decode_data(black_box(d[HEAD_SIZE]), black_box(&d[HEAD_SIZE + 1..]))
                    .expect("valid data")
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("discv4_encode");
    g.throughput(Throughput::Elements(1));
    for (name, packet) in &packets {
        g.bench_with_input(BenchmarkId::from_parameter(name), packet, |b, p| {
            b.iter(|| wire::encode(&key, black_box(p)).expect("encodes"))
        });
    }
    g.finish();
}

/// The signature of a datagram and the digest it signs, as `decode` takes
/// them apart.
fn signature_and_digest(datagram: &[u8]) -> (RecoverableSignature, [u8; 32]) {
    (
        signature_and_digest_parse_only(datagram),
        keccak256(&datagram[HEAD_SIZE..]),
    )
}

fn signature_and_digest_parse_only(datagram: &[u8]) -> RecoverableSignature {
    let sig = &datagram[HASH_SIZE..HEAD_SIZE];
    let recid = RecoveryId::try_from(i32::from(sig[64])).expect("recovery id");
    RecoverableSignature::from_compact(&sig[..64], recid).expect("signature")
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = packets;
    config = config();
    targets = packet_benches
}

// ---------------------------------------------------------------------------
// Lookups in an in-process network
// ---------------------------------------------------------------------------

/// Nodes started, and refreshes run, at once.
const BATCH: usize = 50;
/// Ping and request timeout of every node (go-ethereum's `respTimeout`).
const TIMEOUT: Duration = Duration::from_millis(500);
/// Refresh rounds on every node once all have started.
const REFRESH_ROUNDS: usize = 2;
/// Silence after which building the network counts as finished: longer than
/// the longest pause of a running lookup (a ping timeout followed by a wait
/// for the ping-back).
const QUIET_BUILD: Duration = Duration::from_millis(1500);
/// Silence after which a lookup's last datagram counts as delivered.
const QUIET_LOOKUP: Duration = Duration::from_millis(50);
/// Bound on any one refresh or lookup.
const BOUND: Duration = Duration::from_secs(120);

fn node_config(bootnode: Option<NodeRecordV4>) -> Discv4Config {
    Discv4Config {
        ping_timeout: TIMEOUT,
        request_timeout: TIMEOUT,
        bootnodes: bootnode.into_iter().collect(),
        refresh_interval: Duration::ZERO,
        revalidate_interval: Duration::ZERO,
        ..Discv4Config::default()
    }
}

async fn start_node(counts: &Arc<PacketCounts>, bootnode: Option<NodeRecordV4>) -> Discv4 {
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind a 127.0.0.1 UDP socket (ulimit -n?)");
    let socket = CountingSocket::new(socket, counts.clone());
    Discv4::with_socket(NodeKey::random(), socket, node_config(bootnode))
        .await
        .expect("start discovery")
}

/// Waits until no datagram has been sent or received for `window`.
async fn settle(counts: &PacketCounts, window: Duration) {
    let step = window / 5;
    let mut last = (counts.sent(), counts.received());
    let mut still = Duration::ZERO;
    while still < window {
        tokio::time::sleep(step).await;
        let now = (counts.sent(), counts.received());
        if now == last {
            still += step;
        } else {
            still = Duration::ZERO;
            last = now;
        }
    }
}

/// CPU time all threads of this process have run so far, in nanoseconds
/// (Linux; `None` elsewhere).
fn process_cpu_ns() -> Option<u64> {
    let mut total = 0;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let schedstat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        total += schedstat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total)
}

/// One measured lookup.
struct Sample {
    time: Duration,
    /// CPU time of all threads during the lookup, if known.
    cpu: Option<Duration>,
    queries: usize,
    datagrams: u64,
    /// How many of the true 16 closest the result holds.
    hits: usize,
    /// Whether the result is sorted by distance and holds only network nodes.
    well_formed: bool,
}

async fn measured_lookup(
    looker: &Discv4,
    target: PeerId,
    all: &[(NodeId, PeerId)],
    counts: &PacketCounts,
) -> Sample {
    settle(counts, QUIET_LOOKUP).await;
    let sent_before = counts.sent();
    let cpu_before = process_cpu_ns();
    let started = Instant::now();
    let (found, queries) = timeout(BOUND, looker.lookup_with_stats(target))
        .await
        .expect("lookup within bound")
        .expect("lookup");
    let time = started.elapsed();
    let cpu = cpu_before
        .zip(process_cpu_ns())
        .map(|(before, after)| Duration::from_nanos(after.saturating_sub(before)));
    settle(counts, QUIET_LOOKUP).await;
    let datagrams = counts.sent() - sent_before;

    let target_id = target.node_id();
    let mut others: Vec<&(NodeId, PeerId)> = all
        .iter()
        .filter(|(_, id)| *id != looker.local_id())
        .collect();
    others.sort_by(|a, b| distance_cmp(&target_id, &a.0, &b.0));
    let got: Vec<NodeId> = found.iter().map(|n| n.id.node_id()).collect();
    let hits = others
        .iter()
        .take(BUCKET_SIZE)
        .filter(|(id, _)| got.contains(id))
        .count();
    let sorted = got
        .windows(2)
        .all(|w| distance_cmp(&target_id, &w[0], &w[1]) != std::cmp::Ordering::Greater);
    let well_formed = sorted && got.iter().all(|id| others.iter().any(|(o, _)| o == id));
    Sample {
        time,
        cpu,
        queries,
        datagrams,
        hits,
        well_formed,
    }
}

/// The median of sorted values.
fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// The value at quantile `q` of sorted values (nearest rank).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn sorted(values: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(f64::total_cmp);
    v
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

fn report(kind: &str, samples: &[Sample]) {
    let ms = sorted(samples.iter().map(|s| s.time.as_secs_f64() * 1e3));
    let queries = sorted(samples.iter().map(|s| s.queries as f64));
    let datagrams = sorted(samples.iter().map(|s| s.datagrams as f64));
    let hits: usize = samples.iter().map(|s| s.hits).sum();
    let exact = samples.iter().filter(|s| s.hits == BUCKET_SIZE).count();
    let malformed = samples.iter().filter(|s| !s.well_formed).count();
    println!(
        "lookup/{kind:<10} n={:<4} time ms: median {:.2}  mean {:.2}  p10 {:.2}  p90 {:.2}  max {:.2}",
        samples.len(),
        median(&ms),
        mean(&ms),
        quantile(&ms, 0.1),
        quantile(&ms, 0.9),
        ms[ms.len() - 1],
    );
    if samples.iter().all(|s| s.cpu.is_some()) {
        let cpu = sorted(
            samples
                .iter()
                .map(|s| s.cpu.expect("checked").as_secs_f64() * 1e3),
        );
        println!(
            "{:16} CPU ms (all threads): median {:.2}  mean {:.2}  = {:.2} cores busy on average",
            "",
            median(&cpu),
            mean(&cpu),
            mean(&cpu) / mean(&ms),
        );
    }
    println!(
        "{:16} FindNode queries: median {:.1}  mean {:.2}  min {}  max {}",
        "",
        median(&queries),
        mean(&queries),
        queries[0],
        queries[queries.len() - 1],
    );
    println!(
        "{:16} datagrams: median {:.1}  mean {:.1}  min {}  max {}  (per query {:.2})",
        "",
        median(&datagrams),
        mean(&datagrams),
        datagrams[0],
        datagrams[datagrams.len() - 1],
        mean(&datagrams) / mean(&queries),
    );
    println!(
        "{:16} correct: {exact}/{} lookups found all {BUCKET_SIZE} closest; {hits}/{} of the \
         closest found in all; {malformed} results unsorted or with unknown nodes",
        "",
        samples.len(),
        samples.len() * BUCKET_SIZE,
    );
}

fn env_usize(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, got {v:?}")),
        Err(_) => default,
    }
}

async fn lookups_in_network(node_count: usize, lookups: usize) {
    let counts = Arc::new(PacketCounts::default());
    let build_started = Instant::now();
    let boot = start_node(&counts, None).await;
    let boot_record = boot.local_node();
    let mut nodes = vec![boot];
    while nodes.len() < node_count {
        for _ in 0..BATCH.min(node_count - nodes.len()) {
            nodes.push(start_node(&counts, Some(boot_record)).await);
        }
        settle(&counts, QUIET_BUILD).await;
    }
    println!(
        "network: {node_count} nodes started and their startup refreshes done in {:.1} s \
         ({} datagrams, {QUIET_BUILD:?} of quiet after each batch of {BATCH} included)",
        build_started.elapsed().as_secs_f64(),
        counts.sent(),
    );

    for round in 1..=REFRESH_ROUNDS {
        let started = Instant::now();
        let sent_before = counts.sent();
        let mut failed = 0;
        for chunk in nodes.chunks(BATCH) {
            let refreshes = chunk.iter().map(|node| {
                let handle = node.handle();
                async move { timeout(BOUND, handle.refresh()).await }
            });
            failed += join_all(refreshes)
                .await
                .into_iter()
                .filter(|r| !matches!(r, Ok(Ok(()))))
                .count();
        }
        let took = started.elapsed();
        settle(&counts, QUIET_BUILD).await;
        println!(
            "refresh round {round}: {:.1} s, {} datagrams, {failed} refreshes failed",
            took.as_secs_f64(),
            counts.sent() - sent_before,
        );
    }

    let mut sizes = Vec::with_capacity(nodes.len());
    for node in &nodes {
        sizes.push(node.table_len().await.expect("table size"));
    }
    sizes.sort_unstable();
    println!(
        "tables: min {}  median {}  max {} nodes",
        sizes[0],
        sizes[sizes.len() / 2],
        sizes[sizes.len() - 1],
    );

    let all: Vec<(NodeId, PeerId)> = nodes
        .iter()
        .map(|n| (n.local_id().node_id(), n.local_id()))
        .collect();
    let mut lookers: Vec<usize> = (0..nodes.len()).collect();
    lookers.shuffle(&mut rand::rng());
    lookers.truncate(lookups);
    let (mut first, mut repeat, mut new_target) = (Vec::new(), Vec::new(), Vec::new());
    let (sent_before, received_before) = (counts.sent(), counts.received());
    for &i in &lookers {
        let looker = &nodes[i];
        let target = PeerId(rand::random());
        first.push(measured_lookup(looker, target, &all, &counts).await);
        repeat.push(measured_lookup(looker, target, &all, &counts).await);
        let other = PeerId(rand::random());
        new_target.push(measured_lookup(looker, other, &all, &counts).await);
    }
    report("first", &first);
    report("repeat", &repeat);
    report("new_target", &new_target);
    println!(
        "datagrams during the lookups: {} sent, {} received (whole run: {} sent, {} received)",
        counts.sent() - sent_before,
        counts.received() - received_before,
        counts.sent(),
        counts.received(),
    );
    drop(nodes);
}

fn main() {
    packets();
    Criterion::default().configure_from_args().final_summary();

    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list" || a == "--profile-time") {
        return;
    }
    // `cargo bench` passes `--bench`; without it this is a smoke test.
    let full = args.iter().any(|a| a == "--bench");
    let node_count = env_usize("DISCV4_LOOKUP_NODES", if full { 1000 } else { 40 });
    let lookups = env_usize("DISCV4_LOOKUPS", if full { 100 } else { 2 }).min(node_count);
    if node_count < 2 || lookups == 0 {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(env_usize("DISCV4_WORKERS", 2))
        .enable_all()
        .build()
        .expect("tokio runtime");
    // On a worker like the services, as in an application; the main thread
    // only waits.
    runtime
        .block_on(runtime.spawn(lookups_in_network(node_count, lookups)))
        .expect("measurement task");
}
