//! Socket wrappers for tests and benchmarks: one that loses, duplicates and
//! reorders packets, as a real network does, and one that counts them.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::socket::DatagramSocket;

/// A socket that misbehaves as a real network does: it silently drops a
/// share of the datagrams sent through it, sends a share twice, and holds a
/// share back for a while so that later ones overtake them. The choices are
/// pseudo-random from a seed, so a failing run can be repeated.
#[derive(Debug)]
pub struct LossySocket<S> {
    inner: Arc<S>,
    /// Drop probability scaled to `u64::MAX`.
    threshold: u64,
    /// Duplication probability scaled to `u64::MAX`.
    duplicate_threshold: u64,
    /// Hold-back probability scaled to `u64::MAX`.
    delay_threshold: u64,
    max_delay: Duration,
    rng: AtomicU64,
    dropped: AtomicU64,
    duplicated: AtomicU64,
    delayed: AtomicU64,
}

/// A probability (clamped to 0..=1) scaled to `u64::MAX`.
fn scaled(rate: f64) -> u64 {
    (rate.clamp(0.0, 1.0) * u64::MAX as f64) as u64
}

impl<S: DatagramSocket> LossySocket<S> {
    /// Wraps `inner`, dropping each sent datagram with probability
    /// `drop_rate` (clamped to 0..=1).
    pub fn new(inner: S, drop_rate: f64, seed: u64) -> Self {
        LossySocket {
            inner: Arc::new(inner),
            threshold: scaled(drop_rate),
            duplicate_threshold: 0,
            delay_threshold: 0,
            max_delay: Duration::ZERO,
            // xorshift must not start at zero.
            rng: AtomicU64::new(seed | 1),
            dropped: AtomicU64::new(0),
            duplicated: AtomicU64::new(0),
            delayed: AtomicU64::new(0),
        }
    }

    /// Also sends each datagram that is not dropped a second time with
    /// probability `rate`.
    pub fn duplicating(mut self, rate: f64) -> Self {
        self.duplicate_threshold = scaled(rate);
        self
    }

    /// Also holds each datagram that is not dropped back with probability
    /// `rate`, for a random time up to `max_delay`, so that datagrams sent
    /// after it arrive first. Needs a Tokio runtime.
    pub fn reordering(mut self, rate: f64, max_delay: Duration) -> Self {
        self.delay_threshold = scaled(rate);
        self.max_delay = max_delay;
        self
    }

    /// How many datagrams were dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// How many datagrams were sent twice so far.
    pub fn duplicated(&self) -> u64 {
        self.duplicated.load(Ordering::Relaxed)
    }

    /// How many datagrams were held back so far.
    pub fn delayed(&self) -> u64 {
        self.delayed.load(Ordering::Relaxed)
    }

    fn next_random(&self) -> u64 {
        // xorshift64*; a lost update under contention only repeats a number.
        let mut x = self.rng.load(Ordering::Relaxed);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng.store(x, Ordering::Relaxed);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn happens(&self, threshold: u64) -> bool {
        threshold > 0 && self.next_random() <= threshold
    }
}

impl<S: DatagramSocket> DatagramSocket for LossySocket<S> {
    async fn send_to(&self, datagram: &[u8], target: SocketAddr) -> io::Result<usize> {
        // A lost or held-back datagram looks sent to the sender, as on a
        // real network.
        if self.happens(self.threshold) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return Ok(datagram.len());
        }
        let copies = if self.happens(self.duplicate_threshold) {
            self.duplicated.fetch_add(1, Ordering::Relaxed);
            2
        } else {
            1
        };
        if self.happens(self.delay_threshold) {
            self.delayed.fetch_add(1, Ordering::Relaxed);
            let nanos = self.max_delay.as_nanos() as u64;
            let delay = Duration::from_nanos(self.next_random() % nanos.max(1));
            let inner = Arc::clone(&self.inner);
            let held = datagram.to_vec();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                for _ in 0..copies {
                    let _ = inner.send_to(&held, target).await;
                }
            });
            return Ok(datagram.len());
        }
        for _ in 1..copies {
            self.inner.send_to(datagram, target).await?;
        }
        self.inner.send_to(datagram, target).await
    }

    fn recv_from(
        &self,
        buf: &mut [u8],
    ) -> impl Future<Output = io::Result<(usize, SocketAddr)>> + Send {
        self.inner.recv_from(buf)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// Counts of the datagrams through a [`CountingSocket`], shareable between
/// many sockets to count a whole network.
#[derive(Debug, Default)]
pub struct PacketCounts {
    sent: AtomicU64,
    received: AtomicU64,
}

impl PacketCounts {
    /// Datagrams sent so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Datagrams received so far.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }
}

/// A socket that counts the datagrams it sends and receives.
#[derive(Debug)]
pub struct CountingSocket<S> {
    inner: S,
    counts: Arc<PacketCounts>,
}

impl<S: DatagramSocket> CountingSocket<S> {
    /// Wraps `inner`, adding to `counts`.
    pub fn new(inner: S, counts: Arc<PacketCounts>) -> Self {
        CountingSocket { inner, counts }
    }
}

impl<S: DatagramSocket> DatagramSocket for CountingSocket<S> {
    async fn send_to(&self, datagram: &[u8], target: SocketAddr) -> io::Result<usize> {
        let sent = self.inner.send_to(datagram, target).await?;
        self.counts.sent.fetch_add(1, Ordering::Relaxed);
        Ok(sent)
    }

    async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let received = self.inner.recv_from(buf).await?;
        self.counts.received.fetch_add(1, Ordering::Relaxed);
        Ok(received)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}
