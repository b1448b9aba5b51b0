//! Benchmarks of the RLPx transport and of the primitives that bound it.
//!
//! Everything runs in this one criterion binary, so the bounds and the figures
//! they bound come from the same process and the same run:
//!
//! ```text
//! cargo bench -p p2p-rlpx --bench rlpx                          # MAC keccak: keccak-asm
//! cargo bench -p p2p-rlpx --bench rlpx --no-default-features    # MAC keccak: sha3
//! ```
//!
//! # Groups
//!
//! - `primitives`: secp256k1 key generation (`SecretKey::new` plus the public
//!   key), the RLPx ECDH (`ecies::ecdh_x`), recoverable ECDSA signing and
//!   public key recovery, plus the smaller steps a handshake also takes
//!   (parsing an uncompressed point, drawing a secret key). Key generation and
//!   signing are measured twice: through `p2p_rlpx::secp` (a per-thread
//!   context randomized once, what the handshake calls; these give the bound)
//!   and through the `secp256k1` global-context API (`*_global`:
//!   `PublicKey::from_secret_key`, `sign_ecdsa_recoverable`), which
//!   re-randomizes its context after every operation with a secret.
//! - `keccak256/{sha3,keccak_asm}` and `aes256_ctr`: throughput of one Keccak-256
//!   through the streaming API the MACs use (`new`, `update`, `finalize`; not
//!   keccak-asm's one-shot `digest`) and of AES-256-CTR (`ctr::Ctr64BE<aes::Aes256>`,
//!   key schedule included) over N bytes, for the N of the frame benches.
//! - `snappy_roundtrip/{random,compressible}`: `snap::raw` compress then
//!   decompress into preallocated buffers, the floor of what snappy adds.
//! - `handshake`: a full handshake with both sides in this process, on one
//!   current-thread tokio runtime (`tokio::join!`), so on one core:
//!   - `no_io`: the message functions only (`encode_auth`, `decode_auth`,
//!     `encode_ack`, `decode_ack`, both `secrets()`), no async, no I/O;
//!   - `duplex`: `handshake::initiate` and `handshake::respond` over a fresh
//!     `tokio::io::duplex` pipe;
//!   - `tcp_connect`: `TcpStream::connect` plus `accept` on a 127.0.0.1
//!     listener bound once at setup, `set_nodelay`, the handshake, and the
//!     close of both sockets, all timed;
//!   - `tcp_preconnected`: a connected loopback pair is made untimed before
//!     each handshake and closed untimed after it; only the handshake is
//!     timed (`iter_custom`).
//! - `frames_{asm,sha3}` (named after the MAC keccak this build uses):
//!   `FrameCodec::encode` on the sender and `FrameCodec::decode` on the
//!   receiver over one `BytesMut`, no I/O. The two codecs hold matching
//!   secrets from one handshake over a duplex at setup. Payloads are random
//!   (incompressible); `snappy_compressible` uses a payload of 64-byte records,
//!   half random and half a zero-padded counter, that snappy shrinks to ~58%.
//!   Throughput counts the message payload bytes.
//!
//! - `floor`: the pieces of the frame floor, costed without any code of this
//!   crate: one Keccak-f\[1600\] permutation (`keccak_f1600`, the `keccak`
//!   crate's; and `keccak_asm_empty`, keccak-asm's Keccak-256 of the empty
//!   input, one permutation plus its setup; the floor takes the cheaper) and
//!   one AES-256 block with an expanded key (`aes256_block`, the `aes`
//!   crate's `encrypt_block`). The CTR cost per block is the 1 MiB
//!   `aes256_ctr` median over its 65,536 blocks.
//!
//! Each bench takes 30 samples, after 1 s of warm-up, over 3 s of measurement
//! (`config()`); `BENCHMARKS.md` reports criterion's medians.
//!
//! # Bounds
//!
//! `BENCHMARKS.md` derives the bounds from the medians of this run: a
//! handshake (both sides) costs at least 3 keygens + 8 ECDH + 1 sign + 1
//! recover (the ephemeral keys of the two ECIES messages and the recipient's
//! handshake key; the initiator's ephemeral public key is recovered from its
//! signature, never derived); encode plus decode of a frame at least what
//! the protocol's own operations cost, counted per frame and side (see
//! `BENCHMARKS.md`: Keccak-f\[1600\] permutations of the MAC sponge, AES
//! blocks of the MAC seeds, CTR blocks of header and body) and priced with the
//! `floor` group.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aes::cipher::{KeyIvInit, StreamCipher};
use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use p2p_core::{Msg, NodeKey};
use p2p_rlpx::ecies::ecdh_x;
use p2p_rlpx::handshake;
use p2p_rlpx::secp;
use p2p_rlpx::{FrameCodec, Secrets};
use rand::RngCore;
use secp256k1::ecdsa::RecoverableSignature;
use secp256k1::{Message, PublicKey, SecretKey};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio_util::codec::{Decoder, Encoder};

/// Payload sizes of the frame benches, and of the keccak and AES bounds.
const SIZES: [usize; 4] = [64, 1024, 64 * 1024, 1024 * 1024];
/// The message code of the frame benches: any code above the base protocol.
const CODE: u64 = 0x10;

/// The MAC keccak the library was built with (cargo feature `asm-keccak`).
const MAC_KECCAK: &str = if cfg!(feature = "asm-keccak") {
    "asm"
} else {
    "sha3"
};

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn random_bytes(len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    rand::rng().fill_bytes(&mut v);
    v
}

/// 64-byte records: 32 random bytes (a hash) and a zero-padded counter, the
/// shape of much eth protocol data; snappy shrinks it to about 58%.
fn compressible_bytes(len: usize) -> Vec<u8> {
    let mut v = random_bytes(len);
    for (i, record) in v.chunks_mut(64).enumerate() {
        if record.len() > 32 {
            let tail = &mut record[32..];
            tail.fill(0);
            let counter = (i as u64).to_be_bytes();
            let n = tail.len().min(8);
            let end = tail.len();
            tail[end - n..].copy_from_slice(&counter[8 - n..]);
        }
    }
    v
}

fn size_label(n: usize) -> String {
    match n {
        n if n >= 1024 * 1024 => format!("{}MiB", n / (1024 * 1024)),
        n if n >= 1024 => format!("{}KiB", n / 1024),
        n => format!("{n}B"),
    }
}

fn primitives(c: &mut Criterion) {
    let mut g = c.benchmark_group("primitives");
    let mut rng = rand::rng();
    let a = SecretKey::new(&mut rng);
    let b_pub = PublicKey::from_secret_key(&SecretKey::new(&mut rng));
    let msg = Message::from_digest([7u8; 32]);
    let sig = RecoverableSignature::sign_ecdsa_recoverable(msg, &a);
    let uncompressed = b_pub.serialize_uncompressed();

    // What the handshake uses: `p2p_rlpx::secp`, a per-thread context
    // randomized once.
    g.bench_function("secp256k1_keygen", |b| {
        b.iter(|| {
            let sk = SecretKey::new(&mut rng);
            black_box(secp::public_key(&sk))
        })
    });
    // The `secp256k1` global-context API, which re-randomizes its context
    // after each operation with a secret.
    g.bench_function("secp256k1_keygen_global", |b| {
        b.iter(|| {
            let sk = SecretKey::new(&mut rng);
            black_box(PublicKey::from_secret_key(&sk))
        })
    });
    g.bench_function("ecdh_x", |b| {
        b.iter(|| ecdh_x(black_box(&b_pub), black_box(&a)))
    });
    g.bench_function("ecdsa_sign_recoverable", |b| {
        b.iter(|| secp::sign_recoverable(black_box(&msg), black_box(&a)))
    });
    g.bench_function("ecdsa_sign_recoverable_global", |b| {
        b.iter(|| RecoverableSignature::sign_ecdsa_recoverable(black_box(msg), black_box(&a)))
    });
    g.bench_function("ecdsa_recover", |b| {
        b.iter(|| black_box(&sig).recover_ecdsa(black_box(msg)).unwrap())
    });
    // Smaller steps of a handshake, to account for what lies above the bound.
    g.bench_function("secret_key_new", |b| b.iter(|| SecretKey::new(&mut rng)));
    g.bench_function("pubkey_parse_uncompressed", |b| {
        b.iter(|| PublicKey::from_byte_array_uncompressed(black_box(uncompressed)).unwrap())
    });
    g.finish();
}

fn keccak_and_aes(c: &mut Criterion) {
    let mut g = c.benchmark_group("keccak256");
    for &n in &SIZES {
        let data = random_bytes(n);
        g.throughput(Throughput::Bytes(n as u64));
        g.bench_with_input(BenchmarkId::new("sha3", size_label(n)), &data, |b, d| {
            use sha3::Digest as _;
            b.iter(|| {
                let mut h = sha3::Keccak256::new();
                h.update(black_box(d));
                h.finalize()
            })
        });
        g.bench_with_input(
            BenchmarkId::new("keccak_asm", size_label(n)),
            &data,
            |b, d| {
                use keccak_asm::Digest as _;
                b.iter(|| {
                    let mut h = keccak_asm::Keccak256::new();
                    h.update(black_box(d));
                    h.finalize()
                })
            },
        );
    }
    g.finish();

    type Aes256Ctr = ctr::Ctr64BE<aes::Aes256>;
    let mut g = c.benchmark_group("aes256_ctr");
    let key = [0x42u8; 32];
    let iv = [0u8; 16];
    for &n in &SIZES {
        let mut buf = random_bytes(n);
        g.throughput(Throughput::Bytes(n as u64));
        g.bench_function(size_label(n), |b| {
            b.iter(|| {
                let mut cipher = Aes256Ctr::new(&key.into(), &iv.into());
                cipher.apply_keystream(black_box(&mut buf));
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("snappy_roundtrip");
    for (kind, make) in [
        ("random", random_bytes as fn(usize) -> Vec<u8>),
        ("compressible", compressible_bytes),
    ] {
        for &n in &SIZES {
            let data = make(n);
            let mut enc = snap::raw::Encoder::new();
            let mut dec = snap::raw::Decoder::new();
            let mut compressed = vec![0u8; snap::raw::max_compress_len(n)];
            let mut plain = vec![0u8; n];
            g.throughput(Throughput::Bytes(n as u64));
            g.bench_function(BenchmarkId::new(kind, size_label(n)), |b| {
                b.iter(|| {
                    let len = enc.compress(black_box(&data), &mut compressed).unwrap();
                    dec.decompress(&compressed[..len], &mut plain).unwrap()
                })
            });
        }
    }
    g.finish();
}

/// One handshake over a duplex pipe: the initiator's and the recipient's
/// secrets, which match (initiator egress = recipient ingress).
fn handshake_secrets(rt: &Runtime, ikey: &NodeKey, rkey: &NodeKey) -> (Secrets, Secrets) {
    rt.block_on(async {
        let (mut a, mut b) = tokio::io::duplex(4096);
        let (i, r) = tokio::join!(
            handshake::initiate(&mut a, ikey, rkey.id()),
            handshake::respond(&mut b, rkey)
        );
        (i.expect("initiate").secrets, r.expect("respond").secrets)
    })
}

/// The whole handshake through the message functions, without I/O.
fn handshake_no_io(ikey: &NodeKey, rkey: &NodeKey) -> (Secrets, Secrets) {
    handshake::in_memory(ikey, rkey, true, &mut rand::rng()).expect("handshake")
}

/// A connected loopback pair: (client, server).
async fn tcp_pair(listener: &TcpListener) -> (TcpStream, TcpStream) {
    let addr = listener.local_addr().expect("bound");
    let (client, server) = tokio::join!(TcpStream::connect(addr), listener.accept());
    let client = client.expect("connect");
    let (server, _) = server.expect("accept");
    client.set_nodelay(true).expect("nodelay");
    server.set_nodelay(true).expect("nodelay");
    (client, server)
}

fn handshakes(c: &mut Criterion) {
    let rt = runtime();
    let ikey = NodeKey::random();
    let rkey = NodeKey::random();
    let rid = rkey.id();
    let listener = Arc::new(
        rt.block_on(TcpListener::bind("127.0.0.1:0"))
            .expect("bind 127.0.0.1:0"),
    );

    let mut g = c.benchmark_group("handshake");
    g.bench_function("no_io", |b| b.iter(|| handshake_no_io(&ikey, &rkey)));
    g.bench_function("duplex", |b| {
        b.to_async(&rt).iter(|| async {
            let (mut a, mut z) = tokio::io::duplex(4096);
            let (i, r) = tokio::join!(
                handshake::initiate(&mut a, &ikey, rid),
                handshake::respond(&mut z, &rkey)
            );
            (i.expect("initiate"), r.expect("respond"))
        })
    });
    g.bench_function("tcp_connect", |b| {
        b.to_async(&rt).iter(|| async {
            let (mut client, mut server) = tcp_pair(&listener).await;
            let (i, r) = tokio::join!(
                handshake::initiate(&mut client, &ikey, rid),
                handshake::respond(&mut server, &rkey)
            );
            // The server closes first, so TIME_WAIT lands on the listener's port.
            drop(server);
            (i.expect("initiate"), r.expect("respond"))
        })
    });
    g.bench_function("tcp_preconnected", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let listener = Arc::clone(&listener);
            let (ikey, rkey) = (&ikey, &rkey);
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let (mut client, mut server) = tcp_pair(&listener).await;
                    let start = Instant::now();
                    let (i, r) = tokio::join!(
                        handshake::initiate(&mut client, ikey, rid),
                        handshake::respond(&mut server, rkey)
                    );
                    total += start.elapsed();
                    black_box((i.expect("initiate"), r.expect("respond")));
                    drop(server);
                }
                total
            }
        })
    });
    g.finish();
}

fn frames(c: &mut Criterion) {
    let rt = runtime();
    let ikey = NodeKey::random();
    let rkey = NodeKey::random();
    let mut g = c.benchmark_group(format!("frames_{MAC_KECCAK}"));
    for (kind, snappy, make) in [
        ("plain", false, random_bytes as fn(usize) -> Vec<u8>),
        ("snappy_random", true, random_bytes),
        ("snappy_compressible", true, compressible_bytes),
    ] {
        for &n in &SIZES {
            let (i, r) = handshake_secrets(&rt, &ikey, &rkey);
            let mut tx = FrameCodec::new(i);
            let mut rx = FrameCodec::new(r);
            tx.set_snappy(snappy);
            rx.set_snappy(snappy);
            let msg = Msg::new(CODE, Bytes::from(make(n)));
            let mut buf = BytesMut::new();

            // Check the round trip once, and report the wire size.
            tx.encode(msg.clone(), &mut buf).expect("encode");
            let wire = buf.len();
            let back = rx.decode(&mut buf).expect("decode").expect("whole frame");
            assert_eq!(back, msg);
            assert!(buf.is_empty());
            eprintln!("frames {kind} {}: {wire} bytes on the wire", size_label(n));

            g.throughput(Throughput::Bytes(n as u64));
            g.bench_function(BenchmarkId::new(kind, size_label(n)), |b| {
                b.iter(|| {
                    tx.encode(msg.clone(), &mut buf).expect("encode");
                    rx.decode(&mut buf).expect("decode").expect("whole frame")
                })
            });
        }
    }
    g.finish();
}

/// The cryptographic work RLPx framing cannot avoid for one message of N
/// bytes, on both sides: AES-256-CTR over the header and the padded body, and
/// the header and frame MACs (`MacState`), as the protocol defines them. This
/// is the floor of `frames_*`; the difference is the codec's own cost.
fn frame_crypto(c: &mut Criterion) {
    type Aes256Ctr = ctr::Ctr64BE<aes::Aes256>;
    let rt = runtime();
    let ikey = NodeKey::random();
    let rkey = NodeKey::random();
    let mut g = c.benchmark_group(format!("frame_crypto_{MAC_KECCAK}"));
    for &n in &SIZES {
        let (i, r) = handshake_secrets(&rt, &ikey, &rkey);
        let (mut tx_mac, mut rx_mac) = (i.egress_mac, r.ingress_mac);
        let mut tx_aes = Aes256Ctr::new(&i.aes_secret.into(), &[0u8; 16].into());
        let mut rx_aes = Aes256Ctr::new(&r.aes_secret.into(), &[0u8; 16].into());
        // The code byte plus the payload, padded to 16.
        let mut body = random_bytes((n + 1).div_ceil(16) * 16);
        let mut header = [0u8; 16];
        g.throughput(Throughput::Bytes(n as u64));
        g.bench_function(size_label(n), |b| {
            b.iter(|| {
                tx_aes.apply_keystream(&mut header);
                let h = tx_mac.header_mac(&header);
                tx_aes.apply_keystream(&mut body);
                let f = tx_mac.frame_mac(&body);
                let h2 = rx_mac.header_mac(&header);
                rx_aes.apply_keystream(&mut header);
                let f2 = rx_mac.frame_mac(&body);
                rx_aes.apply_keystream(&mut body);
                assert!(h == h2 && f == f2);
            })
        });
    }
    g.finish();
}

/// The pieces of the frame floor, costed with third-party code only.
fn floor(c: &mut Criterion) {
    use aes::cipher::{BlockCipherEncrypt, KeyInit};
    let mut g = c.benchmark_group("floor");
    let keccak = keccak::Keccak::new();
    let mut state = [0u64; 25];
    g.bench_function("keccak_f1600", |b| {
        b.iter(|| keccak.with_f1600(|f1600| f1600(black_box(&mut state))))
    });
    g.bench_function("keccak_asm_empty", |b| {
        b.iter(|| keccak_asm::Keccak256::digest(black_box(&[] as &[u8])))
    });
    let cipher = aes::Aes256::new(&[0x42u8; 32].into());
    let mut block = [0u8; 16].into();
    g.bench_function("aes256_block", |b| {
        b.iter(|| cipher.encrypt_block(black_box(&mut block)))
    });
    g.finish();
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
    targets = primitives, keccak_and_aes, floor, handshakes, frame_crypto, frames
}
criterion_main!(benches);
