//! Socket wrappers for tests and benchmarks: one that loses packets, as a
//! real network does, and one that counts them.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::socket::DatagramSocket;

/// A socket that silently drops a fixed share of the datagrams sent through
/// it, to test that discovery copes with loss. The choice is pseudo-random
/// from a seed, so a failing run can be repeated.
#[derive(Debug)]
pub struct LossySocket<S> {
    inner: S,
    /// Drop probability scaled to `u64::MAX`.
    threshold: u64,
    rng: AtomicU64,
    dropped: AtomicU64,
}

impl<S: DatagramSocket> LossySocket<S> {
    /// Wraps `inner`, dropping each sent datagram with probability
    /// `drop_rate` (clamped to 0..=1).
    pub fn new(inner: S, drop_rate: f64, seed: u64) -> Self {
        let threshold = (drop_rate.clamp(0.0, 1.0) * u64::MAX as f64) as u64;
        LossySocket {
            inner,
            threshold,
            // xorshift must not start at zero.
            rng: AtomicU64::new(seed | 1),
            dropped: AtomicU64::new(0),
        }
    }

    /// How many datagrams were dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
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
}

impl<S: DatagramSocket> DatagramSocket for LossySocket<S> {
    async fn send_to(&self, datagram: &[u8], target: SocketAddr) -> io::Result<usize> {
        if self.threshold > 0 && self.next_random() <= self.threshold {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            // A lost datagram looks sent to the sender, as on a real network.
            return Ok(datagram.len());
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
