//! An emulated network path for the transport bench: two network namespaces
//! joined by a TUN device in each, and a forwarder between the two devices
//! that delays, drops and paces packets.
//!
//! The kernels this runs on have no `netem` queueing discipline, so the
//! path is shaped in user space instead: every IP packet one namespace sends
//! to the other is read from its TUN device by a forwarder thread, dropped
//! with the loss probability, queued behind the packets before it at the
//! link rate (tail-dropped when the queue is full) and written into the
//! other namespace's device once the one-way delay has passed. Both
//! transports cross the same path, so TCP's loss recovery and QUIC's meet
//! the same losses at the same rate.
//!
//! Sockets belong to the network namespace of the thread that creates
//! them, so the bench creates its listening sockets inside [`Link::server`]
//! and its dialing sockets inside [`Link::client`] (see
//! [`Namespace::run`]); once created they are used from any thread. The
//! addresses exist only inside the two namespaces: nothing leaves them.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// How the emulated path treats each packet, the same in both directions.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// One-way delay added to every packet.
    pub delay: Duration,
    /// Probability that a packet is dropped.
    pub loss: f64,
    /// Link rate, in bits per second.
    pub rate: u64,
    /// Most queueing delay a packet may meet before it is tail-dropped.
    pub queue: Duration,
}

impl Shape {
    /// How long `len` bytes occupy the link.
    fn transmit_time(&self, len: usize) -> Duration {
        Duration::from_nanos(len as u64 * 8 * 1_000_000_000 / self.rate)
    }
}

/// A network namespace of its own, kept alive by an open handle.
pub struct Namespace {
    handle: File,
}

impl Namespace {
    /// A new, empty network namespace. Needs `CAP_SYS_ADMIN`.
    fn new() -> io::Result<Self> {
        // `unshare` moves only the calling thread: a short-lived thread
        // makes the namespace and hands out a handle to it.
        thread::spawn(|| {
            // SAFETY: plain system call; it affects only this thread.
            if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                return Err(io::Error::last_os_error());
            }
            let handle = File::open("/proc/thread-self/ns/net")?;
            Ok(Namespace { handle })
        })
        .join()
        .expect("namespace thread")
    }

    /// Runs `f` on a thread inside this namespace, so that the sockets and
    /// devices it creates belong here.
    pub fn run<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        thread::scope(|scope| {
            scope
                .spawn(|| {
                    // SAFETY: plain system call on a namespace handle we
                    // own; it affects only this thread.
                    let entered =
                        unsafe { libc::setns(self.handle.as_raw_fd(), libc::CLONE_NEWNET) };
                    assert_eq!(entered, 0, "setns: {}", io::Error::last_os_error());
                    f()
                })
                .join()
                .expect("thread in namespace")
        })
    }
}

/// Two namespaces joined by the shaped path.
pub struct Link {
    /// The namespace the listening side lives in, at [`Link::SERVER_IP`].
    pub server: Namespace,
    /// The namespace the dialing side lives in, at [`Link::CLIENT_IP`].
    pub client: Namespace,
}

impl Link {
    /// The server namespace's address. It exists only inside the two
    /// namespaces.
    pub const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
    /// The client namespace's address.
    pub const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);

    /// Creates both namespaces and their devices and starts the forwarder
    /// threads. They run for the rest of the process (a blocking read on a
    /// TUN device cannot be interrupted), so a bench makes one link.
    pub fn new(shape: Shape) -> io::Result<Link> {
        let server = Namespace::new()?;
        let client = Namespace::new()?;
        let server_dev = server.run(|| device(Link::SERVER_IP, Link::CLIENT_IP))?;
        let client_dev = client.run(|| device(Link::CLIENT_IP, Link::SERVER_IP))?;
        let (server_out, server_in) = server_dev.split();
        let (client_out, client_in) = client_dev.split();
        forward(server_out, client_in, shape);
        forward(client_out, server_in, shape);
        Ok(Link { server, client })
    }
}

/// A point-to-point TUN device at `local`, its far end at `remote`, up.
fn device(local: Ipv4Addr, remote: Ipv4Addr) -> io::Result<tun::Device> {
    let mut config = tun::Configuration::default();
    config
        .tun_name("link0")
        .address(local)
        .destination(remote)
        .netmask(Ipv4Addr::new(255, 255, 255, 255))
        .up();
    tun::create(&config).map_err(io::Error::other)
}

/// Moves packets from `from` to `to` through the shaped path: a thread
/// that reads, drops and schedules, and one that writes each packet when
/// it is due.
fn forward(
    mut from: impl Read + Send + 'static,
    mut to: impl Write + Send + 'static,
    shape: Shape,
) {
    let (due_tx, due_rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    thread::spawn(move || {
        for (due, packet) in due_rx {
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                thread::sleep(wait);
            }
            // A write fails only if the far device is gone: the packet is
            // lost, as it would be on a real path.
            let _ = to.write(&packet);
        }
    });
    thread::spawn(move || {
        let mut buf = vec![0u8; 65_536];
        // When the link finishes sending the packets already queued.
        let mut link_free = Instant::now();
        loop {
            let Ok(len) = from.read(&mut buf) else { return };
            if rand::random::<f64>() < shape.loss {
                continue;
            }
            let now = Instant::now();
            let start = link_free.max(now);
            if start - now > shape.queue {
                continue;
            }
            link_free = start + shape.transmit_time(len);
            if due_tx
                .send((link_free + shape.delay, buf[..len].to_vec()))
                .is_err()
            {
                return;
            }
        }
    });
}
