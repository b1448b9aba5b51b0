//! How a session is timed and queued.

use std::time::Duration;

use tokio::sync::broadcast;

use crate::peer::PeerEvent;

/// How often an idle peer is pinged (go-ethereum's `pingInterval`).
pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(15);
/// A peer silent for this long is dropped (go-ethereum's `frameReadTimeout`);
/// our Pings make a live peer answer well within it.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest a single message may take to write (go-ethereum's
/// `frameWriteTimeout`): a peer that does not read is dropped.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(20);
/// Messages queued per capability and direction before the producer waits:
/// enough to keep a handler busy between reads, small enough that a peer
/// whose handler is stuck costs at most this many messages of memory.
pub const DEFAULT_QUEUE: usize = 64;
/// How long capability handlers get to finish after the session ends before
/// they are aborted: long enough to answer a last request, short enough that
/// a stuck handler cannot hold the server's stop.
pub const HANDLER_GRACE: Duration = Duration::from_secs(5);

/// Timing and queueing of a session.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// How often the peer is pinged.
    pub ping_interval: Duration,
    /// How long the peer may stay silent.
    pub read_timeout: Duration,
    /// How long one message may take to write.
    pub write_timeout: Duration,
    /// Messages queued per capability and direction.
    pub queue: usize,
    /// Where to publish an event per capability message, if anywhere.
    pub msg_events: Option<broadcast::Sender<PeerEvent>>,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            ping_interval: DEFAULT_PING_INTERVAL,
            read_timeout: DEFAULT_READ_TIMEOUT,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            queue: DEFAULT_QUEUE,
            msg_events: None,
        }
    }
}
