//! Benchmarks of the eth message codec: encode and decode of the three
//! messages a busy node moves most bytes or items with, next to the
//! primitive cost floor of the same payload measured in the same run.
//!
//! ```text
//! cargo bench -p p2p-protocols --bench eth_codec
//! ```
//!
//! # Messages
//!
//! Made once at setup from a seeded RNG, so every run codes the same bytes.
//!
//! - `block_headers_1024`: a BlockHeaders response (`[request-id, [header,
//!   ...]]`) of 1,024 post-Prague mainnet-shaped headers: every optional field
//!   set up to `requests_hash` (21 fields), random hashes and roots, a
//!   random (dense) 256-byte bloom, 15-32 bytes of extra data, zero
//!   difficulty and nonce, gas and fee figures in mainnet's ranges. About 650
//!   bytes per header. Decoded with
//!   `EthMessage::decode(EthVersion::Eth69, code::BLOCK_HEADERS, ..)`.
//! - `pooled_hashes_4096`: a NewPooledTransactionHashes (eth/68 form: types,
//!   sizes and hashes as three lists) of 4,096 entries, the spec's
//!   recommended maximum; types 2 (most), 0 and 3, sizes 100 B-128 KiB.
//! - `transactions_1mib`: a Transactions message of just over 1 MiB: EIP-1559
//!   (type 2) transactions of ~190-330 bytes with random calldata, some
//!   with an access-list entry, one in ten a legacy transaction, and four
//!   large type-2 ones (24 KiB of calldata each, contract-deployment size).
//!   Decoding is zero-copy: a `Transaction` is a `Bytes` slice of the message
//!   buffer (a reference-count increment), not a copy.
//!
//! # Groups
//!
//! - `eth_encode/*`: `EthMessage::encode_payload` of the typed message.
//! - `eth_decode/*`: `EthMessage::decode` of the payload (a `Bytes`); the
//!   decoded message is dropped inside the timed loop, as a handler would.
//! - `eth_floor/memcpy/*`: a copy of the payload into a fresh `Vec`
//!   (allocation included): what producing or keeping the bytes costs at
//!   least.
//! - `eth_floor/rlp_walk/*`: an `rlp::Rlp` walk over the payload, as deep as
//!   decoding goes, counting the items and reading every leaf's header
//!   (`Rlp::data`), without converting anything: for headers every field of
//!   every header, for the announcement every entry of the three lists, for
//!   transactions every transaction item (decoding does not look inside
//!   one either). Any decoder built on the `rlp` crate visits at least this.
//!
//! - `eth_decode_parts/strict_count/*`: the counting pass decoding makes over
//!   every list before decoding its items (`codec::strict_count`, which
//!   checks the items fill the list exactly), over the same lists as
//!   `decode` (taken out of the payload beforehand).
//! - `eth_decode_parts/*_one_header`: one header of the response through
//!   `BlockHeader`'s `Decodable`, `strict_count` and the walk alone, and
//!   Keccak-256 of it (the block hash a receiver computes next), for scale.
//!
//! Throughput is reported both in payload bytes and in elements (headers,
//! announced hashes, transactions). Each bench takes 30 samples, after 1 s of
//! warm-up, over 3 s of measurement (`config()`); `BENCHMARKS.md` reports
//! criterion's medians.

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use p2p_protocols::codec::strict_count;
use p2p_protocols::eth::messages::{
    code, AnnouncedTransaction, BlockHeaders, EthMessage, NewPooledTransactionHashes,
};
use p2p_protocols::eth::types::{
    keccak256, Address, BlockHeader, Bloom, Transaction, EMPTY_OMMERS_HASH,
};
use p2p_protocols::eth::EthVersion;
use primitive_types::{H256, U256};
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use rlp::{Rlp, RlpStream};

/// Headers in the BlockHeaders response.
const HEADERS: usize = 1024;
/// Entries in the NewPooledTransactionHashes.
const ANNOUNCED: usize = 4096;
/// The Transactions message is filled to at least this many payload bytes.
const TRANSACTIONS_BYTES: usize = 1024 * 1024;
/// Large transactions in it, and their calldata.
const LARGE_TRANSACTIONS: usize = 4;
const LARGE_CALLDATA: usize = 24 * 1024;

fn h256(rng: &mut StdRng) -> H256 {
    let mut h = H256::zero();
    rng.fill_bytes(h.as_bytes_mut());
    h
}

fn bytes(rng: &mut StdRng, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    rng.fill_bytes(&mut v);
    v
}

/// A post-Prague header with mainnet-shaped contents.
fn header(rng: &mut StdRng, number: u64, parent_hash: H256) -> BlockHeader {
    let mut bloom = [0u8; 256];
    rng.fill_bytes(&mut bloom);
    let builders: [&[u8]; 4] = [
        b"beaverbuild.org",
        b"Titan (titanbuilder.xyz)",
        b"rsync-builder.xyz",
        b"",
    ];
    let extra_data = match builders[rng.random_range(0..builders.len())] {
        b"" => bytes(rng, 32),
        name => name.to_vec(),
    };
    let blobs = rng.random_range(0..=9u64);
    BlockHeader {
        parent_hash,
        ommers_hash: EMPTY_OMMERS_HASH,
        beneficiary: Address::from_slice(&bytes(rng, 20)),
        state_root: h256(rng),
        transactions_root: h256(rng),
        receipts_root: h256(rng),
        logs_bloom: Bloom(bloom),
        difficulty: U256::zero(),
        number,
        gas_limit: 36_000_000,
        gas_used: rng.random_range(8_000_000..36_000_000),
        timestamp: 1_746_612_311 + 12 * number,
        extra_data: Bytes::from(extra_data),
        mix_hash: h256(rng),
        nonce: [0; 8],
        base_fee_per_gas: Some(U256::from(rng.random_range(100_000_000u64..50_000_000_000))),
        withdrawals_root: Some(h256(rng)),
        blob_gas_used: Some(blobs * 131_072),
        excess_blob_gas: Some(rng.random_range(0..200_000_000)),
        parent_beacon_block_root: Some(h256(rng)),
        requests_hash: Some(h256(rng)),
        block_access_list_hash: None,
        slot_number: None,
    }
}

fn block_headers(rng: &mut StdRng) -> EthMessage {
    let mut parent = h256(rng);
    let headers = (0..HEADERS as u64)
        .map(|i| {
            let h = header(rng, 22_431_084 + i, parent);
            parent = h.hash();
            h
        })
        .collect();
    EthMessage::BlockHeaders(BlockHeaders {
        request_id: rng.random(),
        headers,
    })
}

fn pooled_hashes(rng: &mut StdRng) -> EthMessage {
    let entries = (0..ANNOUNCED)
        .map(|_| {
            let (tx_type, size) = match rng.random_range(0..100) {
                0..80 => (2, rng.random_range(100..1_000)),
                80..95 => (0, rng.random_range(100..600)),
                _ => (3, rng.random_range(131_000..132_000)),
            };
            AnnouncedTransaction {
                tx_type,
                size,
                hash: h256(rng),
            }
        })
        .collect();
    EthMessage::NewPooledTransactionHashes(NewPooledTransactionHashes { entries })
}

/// An EIP-1559 transaction (type 2) with `calldata` bytes of calldata and a
/// random signature.
fn eip1559(rng: &mut StdRng, calldata: usize) -> Transaction {
    let access_list = rng.random_range(0..4) == 0;
    let mut s = RlpStream::new_list(12);
    s.append(&1u64); // chain id
    s.append(&rng.random_range(0..100_000u64)); // nonce
    s.append(&rng.random_range(1_000_000u64..3_000_000_000)); // max priority fee
    s.append(&rng.random_range(1_000_000_000u64..80_000_000_000)); // max fee
    s.append(&rng.random_range(21_000u64..1_000_000)); // gas limit
    s.append(&bytes(rng, 20)); // to
    s.append(&U256::from(rng.random::<u64>() >> rng.random_range(0..64))); // value
    s.append(&bytes(rng, calldata)); // data
    if access_list {
        s.begin_list(1);
        s.begin_list(2);
        s.append(&bytes(rng, 20));
        s.begin_list(2);
        s.append(&h256(rng));
        s.append(&h256(rng));
    } else {
        s.begin_list(0);
    }
    s.append(&rng.random_range(0..2u8)); // y parity
    s.append(&U256::from_big_endian(&bytes(rng, 32))); // r
    s.append(&U256::from_big_endian(&bytes(rng, 32))); // s
    Transaction::typed(2, &s.out()).expect("a type-2 transaction")
}

/// A legacy (EIP-155) transaction with `calldata` bytes of calldata.
fn legacy(rng: &mut StdRng, calldata: usize) -> Transaction {
    let mut s = RlpStream::new_list(9);
    s.append(&rng.random_range(0..100_000u64)); // nonce
    s.append(&rng.random_range(1_000_000_000u64..80_000_000_000)); // gas price
    s.append(&rng.random_range(21_000u64..1_000_000)); // gas limit
    s.append(&bytes(rng, 20)); // to
    s.append(&U256::from(rng.random::<u64>() >> rng.random_range(0..64))); // value
    s.append(&bytes(rng, calldata)); // data
    s.append(&(37u8 + rng.random_range(0..2u8))); // v (chain id 1)
    s.append(&U256::from_big_endian(&bytes(rng, 32))); // r
    s.append(&U256::from_big_endian(&bytes(rng, 32))); // s
    Transaction::legacy(s.out().freeze()).expect("a list")
}

fn transactions(rng: &mut StdRng) -> EthMessage {
    let mut txs: Vec<Transaction> = (0..LARGE_TRANSACTIONS)
        .map(|_| eip1559(rng, LARGE_CALLDATA))
        .collect();
    let mut size: usize = txs.iter().map(|t| t.encoded().len()).sum();
    while size < TRANSACTIONS_BYTES {
        let tx = if rng.random_range(0..10) == 0 {
            let calldata = rng.random_range(0..140);
            legacy(rng, calldata)
        } else {
            // 68 bytes: an ERC-20 transfer; up to ~200: a swap.
            let calldata = rng.random_range(68..200);
            eip1559(rng, calldata)
        };
        size += tx.encoded().len();
        txs.push(tx);
    }
    // The large ones spread through the message rather than at its head.
    let n = txs.len();
    for i in 0..LARGE_TRANSACTIONS {
        txs.swap(i, (i + 1) * n / (LARGE_TRANSACTIONS + 1));
    }
    EthMessage::Transactions(txs)
}

/// Walks `rlp` down `depth` list levels, counting items and reading every
/// leaf's header; returns (items, leaf data bytes).
fn walk(rlp: &Rlp<'_>, depth: usize) -> (usize, usize) {
    let (mut items, mut data) = (0, 0);
    for item in rlp.iter() {
        items += 1;
        if depth > 1 && item.is_list() {
            let (i, d) = walk(&item, depth - 1);
            items += i;
            data += d;
        } else if !item.is_list() {
            data += item.data().expect("valid item").len();
        }
    }
    (items, data)
}

struct Case {
    name: &'static str,
    code: u64,
    message: EthMessage,
    payload: Bytes,
    elements: u64,
    /// List levels decoding descends into, for the walk.
    depth: usize,
}

fn cases() -> Vec<Case> {
    let mut rng = StdRng::seed_from_u64(0x0e7c_0dec);
    let headers = block_headers(&mut rng);
    let hashes = pooled_hashes(&mut rng);
    let txs = transactions(&mut rng);
    let tx_count = match &txs {
        EthMessage::Transactions(t) => t.len() as u64,
        _ => unreachable!(),
    };
    [
        (
            "block_headers_1024",
            code::BLOCK_HEADERS,
            headers,
            HEADERS as u64,
            3,
        ),
        (
            "pooled_hashes_4096",
            code::NEW_POOLED_TRANSACTION_HASHES,
            hashes,
            ANNOUNCED as u64,
            2,
        ),
        ("transactions_1mib", code::TRANSACTIONS, txs, tx_count, 1),
    ]
    .into_iter()
    .map(|(name, code, message, elements, depth)| {
        let payload = message.encode_payload();
        assert_eq!(message.code(), code);
        let decoded = EthMessage::decode(EthVersion::Eth69, code, &payload).expect("decodes");
        assert_eq!(decoded, message, "{name} round-trips");
        Case {
            name,
            code,
            message,
            payload,
            elements,
            depth,
        }
    })
    .collect()
}

fn codec_benches(c: &mut Criterion) {
    let cases = cases();
    for case in &cases {
        let (items, data) = walk(&Rlp::new(&case.payload), case.depth);
        eprintln!(
            "{}: {} bytes, {} elements ({:.1} bytes each), {} RLP items walked, {} leaf bytes",
            case.name,
            case.payload.len(),
            case.elements,
            case.payload.len() as f64 / case.elements as f64,
            items,
            data,
        );
    }
    let throughput = |case: &Case| Throughput::ElementsAndBytes {
        elements: case.elements,
        bytes: case.payload.len() as u64,
    };

    let mut g = c.benchmark_group("eth_encode");
    for case in &cases {
        g.throughput(throughput(case));
        g.bench_with_input(
            BenchmarkId::from_parameter(case.name),
            &case.message,
            |b, m| b.iter(|| black_box(m).encode_payload()),
        );
    }
    g.finish();

    let mut g = c.benchmark_group("eth_decode");
    for case in &cases {
        g.throughput(throughput(case));
        g.bench_with_input(
            BenchmarkId::from_parameter(case.name),
            &case.payload,
            |b, p| {
                b.iter(|| {
                    EthMessage::decode(EthVersion::Eth69, black_box(case.code), black_box(p))
                        .expect("valid message")
                })
            },
        );
    }
    g.finish();

    let mut g = c.benchmark_group("eth_floor");
    for case in &cases {
        g.throughput(throughput(case));
        g.bench_with_input(
            BenchmarkId::new("memcpy", case.name),
            &case.payload,
            |b, p| b.iter(|| black_box(p.as_ref()).to_vec()),
        );
        g.bench_with_input(
            BenchmarkId::new("rlp_walk", case.name),
            &case.payload,
            |b, p| b.iter(|| walk(&Rlp::new(black_box(p)), case.depth)),
        );
    }
    g.finish();

    // Sub-parts of decoding, to account for its cost. `strict_count`: the
    // counting pass `decode` makes over every list it reads before decoding
    // the list's items (`codec::strict_count`), over the same lists, taken
    // out of the payload beforehand. Then one header through `BlockHeader`'s
    // `Decodable`, the walk over it, and the Keccak-256 a receiver typically
    // runs over each header next (its hash), for scale.
    let mut g = c.benchmark_group("eth_decode_parts");
    for case in &cases {
        let mut counted = vec![];
        lists(&Rlp::new(&case.payload), case.depth, &mut counted);
        g.throughput(throughput(case));
        g.bench_with_input(
            BenchmarkId::new("strict_count", case.name),
            &counted,
            |b, lists| {
                b.iter(|| {
                    lists
                        .iter()
                        .map(|l| strict_count(&Rlp::new(black_box(l))).expect("a list"))
                        .sum::<usize>()
                })
            },
        );
    }
    let EthMessage::BlockHeaders(res) = &cases[0].message else {
        unreachable!()
    };
    let one = rlp::encode(&res.headers[0]).freeze();
    g.throughput(Throughput::ElementsAndBytes {
        elements: 1,
        bytes: one.len() as u64,
    });
    g.bench_function("block_header_one", |b| {
        b.iter(|| rlp::decode::<BlockHeader>(black_box(&one)).expect("valid header"))
    });
    g.bench_function("strict_count_one_header", |b| {
        b.iter(|| strict_count(&Rlp::new(black_box(&one))).expect("a list"))
    });
    g.bench_function("rlp_walk_one_header", |b| {
        b.iter(|| walk(&Rlp::new(black_box(&one)), 1))
    });
    g.bench_function("keccak256_one_header", |b| {
        b.iter(|| keccak256(black_box(&one)))
    });
    g.finish();
}

/// The raw bytes of every list `decode` counts: `rlp` and the lists in it,
/// `depth - 1` levels down.
fn lists<'a>(rlp: &Rlp<'a>, depth: usize, out: &mut Vec<&'a [u8]>) {
    out.push(rlp.as_raw());
    if depth > 1 {
        for item in rlp.iter().filter(Rlp::is_list) {
            lists(&item, depth - 1, out);
        }
    }
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = codec_benches
}
criterion_main!(benches);
