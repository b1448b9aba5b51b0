//! Requests per second served by the eth capability through the whole stack:
//! two servers on 127.0.0.1 TCP, RLPx with snappy, the eth plugin, one
//! `MemoryChain` grown by 2,000 blocks.
//!
//! ```text
//! cargo bench -p examples --bench eth_requests
//! ```
//!
//! # Setup
//!
//! One multi-threaded tokio runtime with 2 workers (`WORKERS`) runs both
//! servers and the measuring task (spawned on it, so nothing runs outside the
//! two workers). Server A (the requester, a chain of genesis only) dials
//! server B (the server, genesis plus 2,000 `MemoryChain::grow` blocks with 2
//! transactions each: 16-field London headers with a base fee and a non-empty
//! bloom, ~540 bytes each); both offer eth/68 to eth/71 and agree on eth/71.
//! Both Hellos are base protocol v5, so every message is snappy-compressed.
//! Requests go through `EthPeer::get_block_headers` on A's handle of B: the
//! request tracker, the RLPx framing (AES, MAC, snappy) on both sides, B's
//! `serve_headers` from the `MemoryChain`, and A's decoding and checking of
//! the headers against the query. Starting blocks vary per request.
//!
//! # Groups (criterion, `iter_custom`)
//!
//! - `eth_requests_sequential/{headers_1,headers_192}`: one request at a time,
//!   each awaited before the next: the round-trip latency (requests/s = 1 /
//!   time).
//! - `eth_requests_concurrent/{16,64}_in_flight/{headers_1,headers_192}`: one
//!   iteration is a batch of N requests started together
//!   (`futures::future::join_all`) and awaited together; throughput is N per
//!   batch. 64 is the tracker's `MAX_IN_FLIGHT` per peer.
//! - `eth_requests_parts/*`: the in-process steps of one request, no I/O:
//!   B's `serve_headers` (read from the chain, encode), A's `EthMessage::decode`
//!   of the response, and snappy compression and decompression of it.
//!
//! Throughput: elements are requests; bytes are the eth payload of the
//! responses before snappy (the 192-header response's size is printed, with
//! its compressed size).
//!
//! Each bench takes 30 samples after 1 s of warm-up over 3 s of measurement.
//!
//! # CPU (custom measurement, printed)
//!
//! After the criterion groups, each request pattern runs again for a fixed
//! count while the CPU time of all threads of the process is read from
//! `/proc/self/task/*/schedstat` (Linux): cores busy on average and CPU time
//! per request tell a CPU-bound figure from one that waits. `ETH_REQUESTS_CPU=0`
//! skips it, and so does a run outside `cargo bench` (`cargo test --benches`
//! runs each criterion bench once, as a smoke test).
//!
//! # Tokio's LIFO slot
//!
//! A task woken by a task running on a worker goes into that worker's LIFO
//! slot, which the other worker cannot steal, so a chain of hand-offs (eth
//! task → session task → socket → session task → eth task) tends to stay on
//! one worker. Built with `RUSTFLAGS="--cfg tokio_unstable"` and run with
//! `TOKIO_NO_LIFO=1`, the bench's runtime disables the slot, to measure what
//! that costs (BENCHMARKS.md, "The serving ceiling").

use std::future::Future;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use futures::future::join_all;
use p2p_core::config::Config;
use p2p_core::{NodeKey, Server};
use p2p_protocols::eth::chain::MemoryChain;
use p2p_protocols::eth::handler::serve_headers;
use p2p_protocols::eth::handshake::ChainSpec;
use p2p_protocols::eth::messages::{code, EthMessage, GetBlockHeaders};
use p2p_protocols::eth::protocol::{Eth, EthConfig, EthEvent, EthPeer};
use p2p_protocols::eth::types::HashOrNumber;
use p2p_protocols::eth::EthVersion;
use p2p_protocols::forkid::mainnet;
use p2p_rlpx::RlpxTransport;
use tokio::runtime::Runtime;
use tokio::sync::broadcast;
use tokio::time::timeout;

/// Worker threads of the runtime.
const WORKERS: usize = 2;
/// Blocks on the serving chain, above genesis.
const BLOCKS: u64 = 2_000;
/// Transactions per grown block (they give the headers a non-empty bloom).
const TXS_PER_BLOCK: usize = 2;
/// Headers per request.
const SIZES: [u64; 2] = [1, 192];
/// Requests in flight in the concurrent benches.
const IN_FLIGHT: [usize; 2] = [16, 64];
/// Bound on setup steps.
const WAIT: Duration = Duration::from_secs(10);

struct Node {
    server: Server,
    events: broadcast::Receiver<EthEvent>,
}

async fn node(chain: Arc<MemoryChain>) -> Node {
    let key = NodeKey::random();
    let eth = Eth::new(
        EthConfig::new(ChainSpec::new(1, mainnet::petersburg())),
        chain,
    );
    let events = eth.subscribe();
    let config = Config::builder()
        .listen_addr("127.0.0.1:0".parse::<std::net::SocketAddr>().expect("addr"))
        .build()
        .expect("config");
    let server = Server::builder(key)
        .config(config)
        .protocols(eth.protocols())
        .encryption(RlpxTransport::new)
        .start()
        .await
        .expect("server starts");
    Node { server, events }
}

async fn ready(node: &mut Node) -> EthPeer {
    loop {
        match timeout(WAIT, node.events.recv())
            .await
            .expect("eth event in time")
            .expect("events open")
        {
            EthEvent::Ready(peer) => return peer,
            EthEvent::HandshakeFailed { error, .. } => panic!("handshake failed: {error}"),
            EthEvent::Gone { .. } => {}
        }
    }
}

/// Runs `f` as a task on the runtime's workers and returns what it measured.
fn on_workers<F>(rt: &Runtime, f: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    rt.block_on(async { tokio::spawn(f).await.expect("bench task") })
}

/// The start of the `i`-th request for `count` headers: spread over the
/// chain, always within it.
fn start(i: u64, count: u64) -> u64 {
    1 + i.wrapping_mul(7_919) % (BLOCKS + 1 - count)
}

async fn fetch(peer: &EthPeer, i: u64, count: u64) {
    let from = start(i, count);
    let headers = peer
        .get_block_headers(HashOrNumber::Number(from), count, 0, false)
        .await
        .expect("headers");
    assert_eq!(headers.len() as u64, count);
    assert_eq!(headers[0].number, from);
}

/// `iters` requests of `count` headers, one at a time.
async fn sequential(peer: EthPeer, iters: u64, count: u64) -> Duration {
    let started = Instant::now();
    for i in 0..iters {
        fetch(&peer, i, count).await;
    }
    started.elapsed()
}

/// `iters` batches of `in_flight` concurrent requests of `count` headers.
async fn concurrent(peer: EthPeer, iters: u64, in_flight: usize, count: u64) -> Duration {
    let started = Instant::now();
    for i in 0..iters {
        let batch = (0..in_flight as u64).map(|j| {
            let peer = &peer;
            async move { fetch(peer, i * in_flight as u64 + j, count).await }
        });
        join_all(batch).await;
    }
    started.elapsed()
}

/// The response to a request for `count` headers from block 1, as B encodes
/// it (with an 8-byte request id, as a random one mostly is).
fn response(chain: &MemoryChain, count: u64) -> bytes::Bytes {
    serve_headers(
        chain,
        &GetBlockHeaders {
            request_id: u64::MAX / 3,
            start: HashOrNumber::Number(1),
            limit: count,
            skip: 0,
            reverse: false,
        },
    )
    .payload
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

fn request_benches(c: &mut Criterion) {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.worker_threads(WORKERS).enable_all();
    #[cfg(tokio_unstable)]
    if std::env::var_os("TOKIO_NO_LIFO").is_some() {
        eprintln!("tokio's LIFO slot disabled");
        builder.disable_lifo_slot();
    }
    let rt = builder.build().expect("tokio runtime");
    let chain = Arc::new(MemoryChain::new(MemoryChain::mainnet_genesis()));
    chain.grow(BLOCKS, TXS_PER_BLOCK);
    let (a, b, peer) = rt.block_on(async {
        let mut a = node(Arc::new(MemoryChain::new(MemoryChain::mainnet_genesis()))).await;
        let mut b = node(chain.clone()).await;
        a.server
            .add_peer(b.server.local_enode().expect("listening"))
            .await;
        let peer = ready(&mut a).await;
        ready(&mut b).await;
        (a, b, peer)
    });
    assert_eq!(peer.version(), EthVersion::Eth71);

    let payloads: Vec<(u64, usize)> = SIZES
        .iter()
        .map(|&n| {
            let payload = response(&chain, n);
            let compressed = snap::raw::Encoder::new()
                .compress_vec(&payload)
                .expect("compresses");
            eprintln!(
                "response of {n} headers: {} bytes of eth payload, {} after snappy",
                payload.len(),
                compressed.len()
            );
            (n, payload.len())
        })
        .collect();
    let throughput = |requests: usize, payload: usize| Throughput::ElementsAndBytes {
        elements: requests as u64,
        bytes: (requests * payload) as u64,
    };

    let mut g = c.benchmark_group("eth_requests_sequential");
    for &(n, payload) in &payloads {
        g.throughput(throughput(1, payload));
        g.bench_function(format!("headers_{n}"), |bench| {
            bench.iter_custom(|iters| on_workers(&rt, sequential(peer.clone(), iters, n)))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("eth_requests_concurrent");
    for in_flight in IN_FLIGHT {
        for &(n, payload) in &payloads {
            g.throughput(throughput(in_flight, payload));
            g.bench_function(
                BenchmarkId::new(format!("{in_flight}_in_flight"), format!("headers_{n}")),
                |bench| {
                    bench.iter_custom(|iters| {
                        on_workers(&rt, concurrent(peer.clone(), iters, in_flight, n))
                    })
                },
            );
        }
    }
    g.finish();

    let mut g = c.benchmark_group("eth_requests_parts");
    for &(n, payload) in &payloads {
        let query = GetBlockHeaders {
            request_id: u64::MAX / 3,
            start: HashOrNumber::Number(1),
            limit: n,
            skip: 0,
            reverse: false,
        };
        let response = response(&chain, n);
        g.throughput(throughput(1, payload));
        g.bench_function(format!("serve_headers_{n}"), |bench| {
            bench.iter(|| serve_headers(chain.as_ref(), black_box(&query)))
        });
        g.bench_function(format!("decode_headers_{n}"), |bench| {
            bench.iter(|| {
                EthMessage::decode(EthVersion::Eth71, code::BLOCK_HEADERS, black_box(&response))
                    .expect("valid")
            })
        });
        g.bench_function(format!("snappy_roundtrip_{n}"), |bench| {
            let mut encoder = snap::raw::Encoder::new();
            let mut decoder = snap::raw::Decoder::new();
            let mut packed = vec![0; snap::raw::max_compress_len(response.len())];
            let mut unpacked = vec![0; response.len()];
            bench.iter(|| {
                let len = encoder
                    .compress(black_box(&response), &mut packed)
                    .expect("compresses");
                decoder
                    .decompress(&packed[..len], &mut unpacked)
                    .expect("decompresses")
            })
        });
    }
    g.finish();

    // CPU use of each pattern, on the same connection: under `cargo bench`
    // only (not when `cargo test` runs the benches once), and skipped with
    // ETH_REQUESTS_CPU=0, e.g. to profile one criterion bench alone.
    let cpu_report = std::env::args().any(|a| a == "--bench")
        && std::env::var("ETH_REQUESTS_CPU").map_or(true, |v| v != "0");
    if cpu_report && process_cpu_ns().is_some() {
        let patterns: [(&str, usize, u64, u64); 6] = [
            ("sequential, 1 header", 1, 1, 4_000),
            ("sequential, 192 headers", 1, 192, 1_000),
            ("16 in flight, 1 header", 16, 1, 250),
            ("16 in flight, 192 headers", 16, 192, 60),
            ("64 in flight, 1 header", 64, 1, 60),
            ("64 in flight, 192 headers", 64, 192, 15),
        ];
        for (what, in_flight, n, batches) in patterns {
            let cpu_before = process_cpu_ns().expect("schedstat");
            let wall = if in_flight == 1 {
                on_workers(&rt, sequential(peer.clone(), batches, n))
            } else {
                on_workers(&rt, concurrent(peer.clone(), batches, in_flight, n))
            };
            let cpu = process_cpu_ns().expect("schedstat") - cpu_before;
            let requests = batches * in_flight as u64;
            eprintln!(
                "cpu: {what}: {requests} requests in {:.1} ms, {:.0} requests/s, \
                 {:.2} cores busy, {:.1} µs CPU per request",
                wall.as_secs_f64() * 1e3,
                requests as f64 / wall.as_secs_f64(),
                cpu as f64 / wall.as_nanos() as f64,
                cpu as f64 / requests as f64 / 1e3,
            );
        }
    }

    rt.block_on(async {
        a.server.stop().await;
        b.server.stop().await;
    });
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = request_benches
}
criterion_main!(benches);
