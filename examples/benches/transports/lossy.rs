//! The transports across an emulated wide-area path ([`SHAPE`]): what
//! loss and delay do to each, beside what loopback shows.

use std::io;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, SamplingMode};
use futures::{SinkExt, StreamExt};
use p2p_core::network::Network;
use p2p_core::server::SetupStack;
use p2p_core::{Msg, MsgConn};
use tokio::net::TcpListener;
use tokio::runtime::Runtime;
use tokio::sync::mpsc;

use crate::endpoints::{
    payload, quic, quic_bbr, quic_per_capability, report_arrivals, rlpx, share_two_capabilities,
    Endpoints, Transport, BIG, SMALL,
};
use crate::link::{Link, Shape};

/// 25 ms each way (a 50 ms round trip, a path across a continent), 1 % of
/// packets lost each way, 50 Mbit/s, and at most 50 ms of queue (about one
/// round trip's worth of the link, a common buffer size) before packets
/// are tail-dropped.
pub const SHAPE: Shape = Shape {
    delay: Duration::from_millis(25),
    loss: 0.01,
    rate: 50_000_000,
    queue: Duration::from_millis(50),
};

/// Size of the response the server sends: half of eth's 2 MiB soft limit
/// on a response, the size of a typical block bodies or receipts reply.
const RESPONSE: usize = 1024 * 1024;

/// The group `transport_lossy_path`, skipped with a note where the emulated
/// path cannot be made (it needs root for the namespaces and devices).
pub fn benches(c: &mut Criterion, rt: &Runtime) {
    let link = match Link::new(SHAPE) {
        Ok(link) => link,
        Err(error) => {
            eprintln!(
                "transport_lossy_path skipped: no emulated path ({error}); it needs \
                 CAP_SYS_ADMIN and CAP_NET_ADMIN and /dev/net/tun"
            );
            return;
        }
    };
    let mut group = c.benchmark_group("transport_lossy_path");
    // Iterations take 50 ms to seconds: a few, each counted alike.
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(10));
    // TCP with each of the two controllers QUIC is measured with, set on
    // the server's listener (which its connections inherit, and which sends
    // the responses) rather than taken from the host.
    for controller in ["cubic", "bbr"] {
        let name = format!("rlpx_tcp_{controller}");
        let setup = |listener: &TcpListener| {
            set_tcp_congestion(listener, controller).expect("TCP congestion control")
        };
        transport_benches(&mut group, rt, &link, &name, rlpx, setup);
    }
    transport_benches(&mut group, rt, &link, "quic_one_stream", quic, |_| ());
    transport_benches(
        &mut group,
        rt,
        &link,
        "quic_per_capability",
        quic_per_capability,
        |_| (),
    );
    transport_benches(&mut group, rt, &link, "quic_bbr", quic_bbr, |_| ());
    group.finish();
}

/// The lossy-path benches of one transport, named `name`:
/// - `setup`: dial to two authenticated connections;
/// - `round_trip`: a 32-byte message from the client and its echo;
/// - `response`: how long a 1 MiB response takes to arrive;
/// - `behind_response`: how long a 32-byte message of another capability,
///   sent right behind that response, takes to arrive.
fn transport_benches<N, S, C>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    rt: &Runtime,
    link: &Link,
    name: &str,
    make: fn() -> Transport<N, S>,
    setup_listener: impl Fn(&N::Listener),
) where
    N: Network + Send,
    N::Listener: Send,
    S: SetupStack<N::Io, C> + Send,
    C: MsgConn + Send + 'static,
{
    let mut endpoints = Endpoints::across(rt, make, link);
    setup_listener(endpoints.listener());
    group.bench_function(BenchmarkId::new("setup", name), |b| {
        b.iter_custom(|iters| endpoints.time_setups::<C>(rt, iters))
    });

    let (mut client, mut server) = endpoints.connect_blocking::<C>(rt);
    share_two_capabilities(rt, &mut client, &mut server);
    let (orders, order_rx) = mpsc::unbounded_channel();
    rt.spawn(serve(server, order_rx));
    // The client end reports when each message arrived.
    let (mut to_server, from_server) = client.split();
    let mut arrived = report_arrivals(rt, from_server);

    let ping = Msg::new(SMALL, payload(32));
    group.bench_function(BenchmarkId::new("round_trip", name), |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    to_server.send(ping.clone()).await.expect("send");
                    arrived.recv().await.expect("echo");
                }
                start.elapsed()
            })
        })
    });

    // One order: the response and the small message behind it, and when
    // each arrived, counted from the order.
    let mut respond = || {
        rt.block_on(async {
            let start = Instant::now();
            orders.send(()).expect("server");
            let (mut response, mut small) = (None, None);
            for _ in 0..2 {
                let (code, at) = arrived.recv().await.expect("arrived");
                match code {
                    BIG => response = Some(at - start),
                    _ => small = Some(at - start),
                }
            }
            (response.expect("response"), small.expect("small"))
        })
    };
    group.bench_function(BenchmarkId::new("response", name), |b| {
        b.iter_custom(|iters| (0..iters).map(|_| respond().0).sum())
    });
    group.bench_function(BenchmarkId::new("behind_response", name), |b| {
        b.iter_custom(|iters| (0..iters).map(|_| respond().1).sum())
    });
}

/// Sets the congestion controller of `listener`'s sockets, which the
/// connections it accepts inherit.
fn set_tcp_congestion(listener: &TcpListener, name: &str) -> io::Result<()> {
    // SAFETY: a plain setsockopt on a socket we own, with the length of the
    // buffer passed.
    let set = unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_CONGESTION,
            name.as_ptr().cast(),
            name.len() as libc::socklen_t,
        )
    };
    if set == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The server end: echoes small messages, and on each order sends a
/// [`RESPONSE`]-byte message on `big/1` with a 32-byte one of `small/1`
/// right behind it.
async fn serve<C: MsgConn>(conn: C, mut orders: mpsc::UnboundedReceiver<()>) {
    let response = Msg::new(BIG, payload(RESPONSE));
    let small = Msg::new(SMALL, payload(32));
    let (mut out, mut incoming) = conn.split();
    loop {
        tokio::select! {
            msg = incoming.next() => match msg {
                Some(Ok(msg)) => {
                    if out.send(msg).await.is_err() {
                        return;
                    }
                }
                _ => return,
            },
            order = orders.recv() => {
                if order.is_none() {
                    return;
                }
                let sent = async {
                    out.feed(response.clone()).await?;
                    out.feed(small.clone()).await?;
                    out.flush().await
                };
                if sent.await.is_err() {
                    return;
                }
            }
        }
    }
}
