//! Serving eth requests: go-ethereum against our node, asked the same
//! questions by the same client.
//!
//! ```text
//! eval "$(./scripts/install-go-ethereum.sh)"
//! cargo bench -p examples --bench geth_serving
//! ```
//!
//! Without `GO_ETHEREUM_BIN` and `GO_ETHEREUM_TESTDATA` set, it says so and
//! measures nothing.
//!
//! # Setup
//!
//! Two servers on 127.0.0.1 serve go-ethereum's eth suite test chain (600
//! blocks up to Amsterdam, with transactions and receipts): a `geth` (the
//! release `scripts/install-go-ethereum.sh` pins, `geth init` + `geth
//! import`, discovery off), and a node of ours holding the chain in a
//! `MemoryChain` (imported from the same `chain.rlp`, receipts fetched from
//! the geth and checked against the headers). A third node, ours, the
//! client, is connected to both over RLPx with snappy and speaks eth/71 with
//! each. One tokio runtime with 2 workers runs our two nodes; geth runs as
//! its own process, so both servers share the machine's 2 cores with the
//! client.
//!
//! # Groups
//!
//! One request at a time, each awaited before the next (round-trip latency;
//! requests/s = 1 / time), for the same blocks from each server (starts
//! varied over the chain):
//!
//! - `serve_headers_192`: GetBlockHeaders, 192 headers;
//! - `serve_bodies_64`: GetBlockBodies, 64 blocks;
//! - `serve_receipts_64`: GetReceipts, 64 blocks (avoiding the block with
//!   over 10 MiB of receipts).
//!
//! The client's work (decoding, checking) is the same for both; the
//! difference is the server's. geth reads from its database (pebble, with
//! its caches warm after the first requests), ours from memory: this
//! measures what a peer sees of each implementation serving a small chain,
//! not the storage either would use for mainnet.

mod common;
#[path = "../tests/common/geth.rs"]
mod geth;

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use p2p_protocols::eth::handler::EthHandler;
use p2p_protocols::eth::protocol::EthPeer;
use p2p_protocols::eth::types::HashOrNumber;
use primitive_types::H256;

use geth::{go_ethereum, our_node, Geth, GethDiscovery};

/// Blocks of the test chain after genesis.
const BLOCKS: u64 = 600;
/// The first block of the range the bench asks about: past the block with
/// over 10 MiB of receipts (14), which one request cannot carry.
const FIRST: u64 = 20;

/// The start of the `i`-th request for `count` blocks, within the range.
fn start(i: u64, count: u64) -> u64 {
    FIRST + i.wrapping_mul(7_919) % (BLOCKS + 1 - FIRST - count)
}

fn serving(c: &mut Criterion) {
    if std::env::var_os("GO_ETHEREUM_BIN").is_none() {
        eprintln!(
            "geth_serving: GO_ETHEREUM_BIN is not set; \
             run `eval \"$(./scripts/install-go-ethereum.sh)\"` first"
        );
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let (geth, servers, hashes, client, ours) = rt.block_on(async {
        let ge = go_ethereum();
        let geth = Geth::start(&ge, GethDiscovery::Off).await;
        let ours = our_node(&ge, true).await;
        let mut client = our_node(&ge, false).await;
        client.server.add_peer(geth.enode).await;
        let from_geth = client.ready(geth.enode.id, &geth).await;
        // Our server gets the receipts geth has, checked against each header.
        let hashes: Vec<H256> = (1..=BLOCKS)
            .map(|n| ours.chain.header_by_number(n).unwrap().hash())
            .collect();
        for range in hashes[FIRST as usize - 1..].chunks(64) {
            let mut done = 0;
            while done < range.len() {
                let lists = from_geth
                    .get_receipts(range[done..].to_vec())
                    .await
                    .unwrap();
                for (hash, list) in range[done..].iter().zip(lists.iter()) {
                    let header = ours.chain.header_by_hash(hash).unwrap();
                    assert_eq!(
                        p2p_protocols::eth::roots::receipts_root(list),
                        header.receipts_root
                    );
                    ours.chain.set_receipts(*hash, list.to_vec()).unwrap();
                }
                done += lists.len();
            }
        }
        let our_enode = ours.enode();
        client.server.add_peer(our_enode).await;
        let from_ours = client.ready(our_enode.id, &geth).await;
        (
            geth,
            [("geth", from_geth), ("ours", from_ours)],
            hashes,
            client,
            ours,
        )
    });

    let hashes: std::sync::Arc<[H256]> = hashes.into();
    let run_group = |c: &mut Criterion, name: &str, ask: &dyn Fn(EthPeer, u64) -> BoxedRun| {
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Elements(1));
        for (server, peer) in &servers {
            g.bench_function(*server, |b| {
                b.iter_custom(|iters| rt.block_on(ask(peer.clone(), iters)))
            });
        }
        g.finish();
    };
    run_group(c, "serve_headers_192", &|peer, iters| {
        Box::pin(headers(peer, iters))
    });
    run_group(c, "serve_bodies_64", &|peer, iters| {
        Box::pin(bodies(peer, hashes.clone(), iters))
    });
    run_group(c, "serve_receipts_64", &|peer, iters| {
        Box::pin(receipts(peer, hashes.clone(), iters))
    });

    rt.block_on(async {
        client.server.stop().await;
        ours.server.stop().await;
    });
    drop(geth);
}

/// One measured run: `iters` requests, one after another.
type BoxedRun = std::pin::Pin<Box<dyn std::future::Future<Output = Duration>>>;

async fn headers(peer: EthPeer, iters: u64) -> Duration {
    let started = Instant::now();
    for i in 0..iters {
        let from = start(i, 192);
        let headers = peer
            .get_block_headers(HashOrNumber::Number(from), 192, 0, false)
            .await
            .expect("headers");
        assert_eq!(headers.len(), 192);
    }
    started.elapsed()
}

/// The hashes of the `i`-th request's `count` blocks.
fn blocks(hashes: &[H256], i: u64, count: u64) -> Vec<H256> {
    let from = start(i, count) as usize - 1;
    hashes[from..from + count as usize].to_vec()
}

async fn bodies(peer: EthPeer, hashes: std::sync::Arc<[H256]>, iters: u64) -> Duration {
    let started = Instant::now();
    for i in 0..iters {
        let bodies = peer
            .get_block_bodies(blocks(&hashes, i, 64))
            .await
            .expect("bodies");
        assert_eq!(bodies.len(), 64);
    }
    started.elapsed()
}

async fn receipts(peer: EthPeer, hashes: std::sync::Arc<[H256]>, iters: u64) -> Duration {
    let started = Instant::now();
    for i in 0..iters {
        let receipts = peer
            .get_receipts(blocks(&hashes, i, 64))
            .await
            .expect("receipts");
        assert!(!receipts.is_empty());
    }
    started.elapsed()
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = serving
}
criterion_main!(benches);
