//! The counters behind [`TrafficLayer`](super::TrafficLayer) and the
//! snapshot they are read as.

use std::sync::atomic::{AtomicU64, Ordering};

/// Messages and payload bytes one way and the other, at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrafficStats {
    /// Messages received.
    pub ingress_messages: u64,
    /// Payload bytes received.
    pub ingress_bytes: u64,
    /// Messages sent.
    pub egress_messages: u64,
    /// Payload bytes sent.
    pub egress_bytes: u64,
}

impl std::ops::Add for TrafficStats {
    type Output = TrafficStats;

    fn add(self, other: TrafficStats) -> TrafficStats {
        TrafficStats {
            ingress_messages: self.ingress_messages + other.ingress_messages,
            ingress_bytes: self.ingress_bytes + other.ingress_bytes,
            egress_messages: self.egress_messages + other.egress_messages,
            egress_bytes: self.egress_bytes + other.egress_bytes,
        }
    }
}

/// The live counters of one connection (or of the connections that ended).
/// Relaxed ordering: each counter is read on its own, for display.
#[derive(Debug, Default)]
pub(super) struct Counters {
    /// When the connection started counting (`None` for shared totals).
    pub(super) since: Option<std::time::Instant>,
    ingress_messages: AtomicU64,
    ingress_bytes: AtomicU64,
    egress_messages: AtomicU64,
    egress_bytes: AtomicU64,
}

impl Counters {
    /// The counters of a connection that starts now.
    pub(super) fn starting_now() -> Self {
        Counters {
            since: Some(std::time::Instant::now()),
            ..Counters::default()
        }
    }

    pub(super) fn received(&self, bytes: usize) {
        self.ingress_messages.fetch_add(1, Ordering::Relaxed);
        self.ingress_bytes
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub(super) fn sent(&self, bytes: usize) {
        self.egress_messages.fetch_add(1, Ordering::Relaxed);
        self.egress_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub(super) fn add(&self, stats: TrafficStats) {
        self.ingress_messages
            .fetch_add(stats.ingress_messages, Ordering::Relaxed);
        self.ingress_bytes
            .fetch_add(stats.ingress_bytes, Ordering::Relaxed);
        self.egress_messages
            .fetch_add(stats.egress_messages, Ordering::Relaxed);
        self.egress_bytes
            .fetch_add(stats.egress_bytes, Ordering::Relaxed);
    }

    pub(super) fn read(&self) -> TrafficStats {
        TrafficStats {
            ingress_messages: self.ingress_messages.load(Ordering::Relaxed),
            ingress_bytes: self.ingress_bytes.load(Ordering::Relaxed),
            egress_messages: self.egress_messages.load(Ordering::Relaxed),
            egress_bytes: self.egress_bytes.load(Ordering::Relaxed),
        }
    }
}
