//! RLPx over TCP beside QUIC on 127.0.0.1: connection set-up, message
//! throughput and round trips through each transport's message connection.
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

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use futures::{SinkExt, StreamExt};
use p2p_core::capability::{CapabilityTable, SharedCapability};
use p2p_core::network::{NetListener, Network, TcpNetwork};
use p2p_core::server::SetupStack;
use p2p_core::{Capability, Connecting, Enode, Msg, MsgConn, NodeAddr, NodeKey};
use p2p_rlpx::RlpxTransport;
use quic_transport::{QuicConfig, StreamMode};
use tokio::runtime::Runtime;
use tower::ServiceExt;

mod common;

const WORKERS: usize = 2;

/// A transport's two halves for one node.
struct Transport<N, S> {
    network: N,
    stage: S,
    id: p2p_core::PeerId,
}

fn rlpx() -> Transport<TcpNetwork, RlpxTransport> {
    let key = Arc::new(NodeKey::random());
    Transport {
        network: TcpNetwork,
        stage: RlpxTransport::new(key.clone()),
        id: key.id(),
    }
}

fn quic() -> Transport<quic_transport::QuicNetwork, quic_transport::QuicHandshake> {
    quic_with(StreamMode::OneStream)
}

fn quic_per_capability() -> Transport<quic_transport::QuicNetwork, quic_transport::QuicHandshake> {
    quic_with(StreamMode::PerCapability)
}

fn quic_with(
    streams: StreamMode,
) -> Transport<quic_transport::QuicNetwork, quic_transport::QuicHandshake> {
    let key = Arc::new(NodeKey::random());
    let config = QuicConfig {
        streams,
        ..QuicConfig::default()
    };
    let (network, stage) = quic_transport::transport(config).expect("config")(key.clone());
    Transport {
        network,
        stage,
        id: key.id(),
    }
}

/// Two capabilities of one message each: `big/1` at code 0x10, `small/1`
/// at 0x11, as a Hello would have matched them.
fn two_capabilities() -> CapabilityTable {
    CapabilityTable::new(vec![
        SharedCapability {
            capability: Capability::new("big", 1),
            offset: 0x10,
            length: 1,
        },
        SharedCapability {
            capability: Capability::new("small", 1),
            offset: 0x11,
            length: 1,
        },
    ])
}

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
    N: Network,
    S: SetupStack<N::Io, C>,
    C: MsgConn + 'static,
{
    let mut endpoints = Endpoints::new(rt, make);
    let (mut sender, mut receiver) = rt.block_on(endpoints.connect());
    let table = two_capabilities();
    // QUIC starts a writer task per capability here: inside the runtime.
    let _runtime = rt.enter();
    sender.set_capabilities(&table);
    receiver.set_capabilities(&table);
    // The far end reports when each message arrived.
    let (arrived_tx, mut arrived) = tokio::sync::mpsc::unbounded_channel();
    rt.spawn(async move {
        while let Some(Ok(msg)) = receiver.next().await {
            if arrived_tx.send((msg.code, Instant::now())).is_err() {
                return;
            }
        }
    });
    let large = Msg::new(0x10, payload(LARGE));
    let small = Msg::new(0x11, payload(32));
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
                            if code == 0x11 {
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

/// Two nodes of one transport, the server listening on 127.0.0.1.
struct Endpoints<N: Network, S> {
    client: Transport<N, S>,
    server: Transport<N, S>,
    listener: N::Listener,
    addr: SocketAddr,
}

impl<N: Network, S> Endpoints<N, S> {
    fn new(rt: &Runtime, make: fn() -> Transport<N, S>) -> Self {
        let (client, server) = (make(), make());
        let listener = rt
            .block_on(server.network.bind("127.0.0.1:0".parse().unwrap()))
            .expect("bind");
        let addr = listener.local_addr().expect("bound");
        Endpoints {
            client,
            server,
            listener,
            addr,
        }
    }

    /// Dials the server from the client and runs both encryption stages:
    /// the two authenticated connections.
    async fn connect<C>(&mut self) -> (C, C)
    where
        S: SetupStack<N::Io, C>,
    {
        let (server_id, addr) = (self.server.id, self.addr);
        let node = NodeAddr::from(Enode::new(server_id, addr.ip(), addr.port(), 0));
        let dial = async {
            let io = self
                .client
                .network
                .connect(&node, addr)
                .await
                .expect("dial");
            let stage = self.client.stage.clone();
            let done = stage
                .oneshot(Connecting::outbound(io, addr, server_id))
                .await;
            done.map_err(Into::into).expect("client handshake").conn
        };
        let accept = async {
            let (io, remote) = self.listener.accept().await.expect("accept");
            let stage = self.server.stage.clone();
            let done = stage.oneshot(Connecting::inbound(io, remote)).await;
            done.map_err(Into::into).expect("server handshake").conn
        };
        tokio::join!(dial, accept)
    }
}

fn payload(size: usize) -> bytes::Bytes {
    (0..size)
        .map(|_| rand::random::<u8>())
        .collect::<Vec<_>>()
        .into()
}

/// The benches of one transport, named `name`.
fn transport_benches<N, S, C>(
    c: &mut Criterion,
    rt: &Runtime,
    name: &str,
    make: fn() -> Transport<N, S>,
) where
    N: Network,
    S: SetupStack<N::Io, C>,
    C: MsgConn + 'static,
{
    let mut endpoints = Endpoints::new(rt, make);

    c.benchmark_group("transport_setup")
        .bench_function(name, |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let (a, b) = endpoints.connect::<C>().await;
                        drop((a, b));
                    }
                    start.elapsed()
                })
            })
        });

    // One connection for the message benches.
    let (sender, receiver) = rt.block_on(endpoints.connect::<C>());
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
        let message = Msg::new(0x10, payload(size));
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

    let ping = Msg::new(0x10, payload(32));
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
}

criterion_group! {
    name = transports;
    config = common::config();
    targets = benches
}
criterion_main!(transports);
