//! RLPx over TCP beside QUIC, on 127.0.0.1 and across an emulated lossy
//! wide-area path: connection set-up, message throughput and round trips
//! through each transport's message connection, and head-of-line blocking.
//!
//! ```text
//! cargo bench -p examples --bench transports
//! ```
//!
//! # Setup
//!
//! One multi-threaded tokio runtime with 2 workers runs the far end (and
//! QUIC's endpoint drivers); the bench thread drives the measuring end. Each
//! transport is used as a server uses it, without the layers above: its
//! `Network` listens and dials, its encryption stage (`RlpxTransport`, or
//! the QUIC crate's `QuicHandshake`) authenticates, and the measurement
//! drives the resulting `MsgConn`s. No Hello runs, so snappy is off and the
//! bytes counted are the bytes carried. Payloads are random.
//!
//! # Groups
//!
//! - `transport_setup/{rlpx_tcp,quic}`: one connection from the dial to an
//!   authenticated connection on both ends (TCP connect and the RLPx
//!   handshake; QUIC's handshake with TLS 1.3 and the node-key certificates,
//!   and the message stream opened).
//! - `transport_throughput/{rlpx_tcp,quic}/{1KiB,64KiB}`: a batch of messages
//!   (64 of 1 KiB, 16 of 64 KiB) sent one way and all read by the other end.
//! - `transport_round_trip/{rlpx_tcp,quic}`: a 32-byte message and its echo.
//! - `transport_head_of_line/{rlpx_tcp,quic_one_stream,quic_per_capability}`:
//!   how long a 32-byte message of one capability takes to arrive when sent
//!   right behind a 4 MiB message of another (the connections are told the
//!   two capabilities' codes, as a Hello would tell them). In one byte
//!   stream it waits for every byte before it; on a stream of its own it
//!   need not.
//! - `transport_lossy_path/{setup,round_trip,response,behind_response}/
//!   {rlpx_tcp_cubic,rlpx_tcp_bbr,quic_one_stream,quic_per_capability,
//!   quic_bbr}`: the same
//!   across a path of 50 ms round trip, 1 % loss each way and 50 Mbit/s
//!   (see `lossy.rs`, and `link.rs` for how the path is emulated): set-up;
//!   a 32-byte round trip; a 1 MiB response; and a 32-byte message of
//!   another capability sent right behind that response. TCP runs with
//!   each of the CUBIC and BBR congestion controllers; the QUIC variants
//!   with quinn's default, CUBIC, and `quic_bbr` is the per-capability mode
//!   with BBR. The group
//!   needs root (network namespaces and TUN devices) and is skipped, with a
//!   note, without it.

use std::time::Instant;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use futures::{SinkExt, StreamExt};
use p2p_core::network::Network;
use p2p_core::server::SetupStack;
use p2p_core::{Msg, MsgConn};
use tokio::runtime::Runtime;

use endpoints::{
    payload, quic, quic_per_capability, report_arrivals, rlpx, share_two_capabilities, Endpoints,
    Transport, BIG, SMALL,
};

#[path = "../common/mod.rs"]
mod common;
mod endpoints;
mod link;
mod lossy;

const WORKERS: usize = 2;

/// Size of the large message a small one is sent behind.
const LARGE: usize = 4 * 1024 * 1024;

/// How long a 32-byte message of one capability takes to arrive when sent
/// right behind a 4 MiB message of another: head-of-line blocking.
fn head_of_line_bench<N, S, C>(
    c: &mut Criterion,
    rt: &Runtime,
    name: &str,
    make: fn() -> Transport<N, S>,
) where
    N: Network + Send,
    N::Listener: Send,
    S: SetupStack<N::Io, C> + Send,
    C: MsgConn + Send + 'static,
{
    let mut endpoints = Endpoints::loopback(rt, make);
    let (mut sender, mut receiver) = endpoints.connect_blocking::<C>(rt);
    share_two_capabilities(rt, &mut sender, &mut receiver);
    // The far end reports when each message arrived.
    let mut arrived = report_arrivals(rt, receiver);
    let large = Msg::new(BIG, payload(LARGE));
    let small = Msg::new(SMALL, payload(32));
    c.benchmark_group("transport_head_of_line")
        .bench_function(name, |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut waited = std::time::Duration::ZERO;
                    for _ in 0..iters {
                        let start = Instant::now();
                        sender.feed(large.clone()).await.expect("send");
                        sender.feed(small.clone()).await.expect("send");
                        sender.flush().await.expect("flush");
                        let mut small_at = None;
                        for _ in 0..2 {
                            let (code, at) = arrived.recv().await.expect("arrived");
                            if code == SMALL {
                                small_at = Some(at);
                            }
                        }
                        waited += small_at.expect("the small message") - start;
                    }
                    waited
                })
            })
        });
}

/// The benches of one transport, named `name`.
fn transport_benches<N, S, C>(
    c: &mut Criterion,
    rt: &Runtime,
    name: &str,
    make: fn() -> Transport<N, S>,
) where
    N: Network + Send,
    N::Listener: Send,
    S: SetupStack<N::Io, C> + Send,
    C: MsgConn + Send + 'static,
{
    let mut endpoints = Endpoints::loopback(rt, make);

    c.benchmark_group("transport_setup")
        .bench_function(name, |b| {
            b.iter_custom(|iters| endpoints.time_setups::<C>(rt, iters))
        });

    // One connection for the message benches.
    let (sender, receiver) = endpoints.connect_blocking::<C>(rt);
    // The far end echoes 32-byte messages and counts the others.
    let (counted_tx, mut counted) = tokio::sync::mpsc::unbounded_channel();
    let (mut echo_out, mut echo_in) = receiver.split();
    rt.spawn(async move {
        while let Some(Ok(msg)) = echo_in.next().await {
            if msg.payload.len() == 32 {
                if echo_out.send(msg).await.is_err() {
                    return;
                }
            } else if counted_tx.send(()).is_err() {
                return;
            }
        }
    });
    let (mut sink, mut stream) = sender.split();

    let mut group = c.benchmark_group("transport_throughput");
    for (size, label, batch) in [(1024, "1KiB", 64u64), (64 * 1024, "64KiB", 16)] {
        let message = Msg::new(BIG, payload(size));
        group.throughput(Throughput::Bytes(size as u64 * batch));
        group.bench_function(BenchmarkId::new(name, label), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        for _ in 0..batch {
                            sink.feed(message.clone()).await.expect("send");
                        }
                        sink.flush().await.expect("flush");
                        for _ in 0..batch {
                            counted.recv().await.expect("counted");
                        }
                    }
                    start.elapsed()
                })
            })
        });
    }
    group.finish();

    let ping = Msg::new(BIG, payload(32));
    c.benchmark_group("transport_round_trip")
        .bench_function(name, |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        sink.send(ping.clone()).await.expect("send");
                        stream.next().await.expect("echo").expect("echo");
                    }
                    start.elapsed()
                })
            })
        });
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .enable_all()
        .build()
        .expect("tokio runtime");
    transport_benches(c, &rt, "rlpx_tcp", rlpx);
    transport_benches(c, &rt, "quic", quic);
    head_of_line_bench(c, &rt, "rlpx_tcp", rlpx);
    head_of_line_bench(c, &rt, "quic_one_stream", quic);
    head_of_line_bench(c, &rt, "quic_per_capability", quic_per_capability);
    lossy::benches(c, &rt);
}

criterion_group! {
    name = transports;
    config = common::config();
    targets = benches
}
criterion_main!(transports);
