//! [`TrafficLayer`], the handle it shares with its connections, and the
//! session stage it makes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use tower::{Layer, Service};

use super::conn::CountedConn;
use super::stats::{Counters, TrafficStats};
use crate::identity::PeerId;
use crate::pipeline::{ConnectionEnd, Established, MsgConn};

/// Counts each peer's traffic; a session layer. Clones share the counts, so
/// keep one to read them: [`peer`](Self::peer), [`total`](Self::total).
#[derive(Clone, Debug, Default)]
pub struct TrafficLayer {
    shared: Arc<Shared>,
}

/// What the layer and its connections share.
#[derive(Debug, Default)]
pub(super) struct Shared {
    /// The connected peers' counters. The server admits one session per
    /// peer id, so one entry per peer.
    live: Mutex<HashMap<PeerId, Arc<Counters>>>,
    /// What connections that ended carried.
    ended: Counters,
    /// Every peer's traffic by message, since the layer was made. Bounded:
    /// one entry per message code of a capability the server runs (codes no
    /// capability owns share one entry).
    by_message: Mutex<HashMap<MessageKey, Arc<Counters>>>,
}

/// A message as the traffic by message names it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageKey {
    /// `p2p` for the base protocol, the capability (`eth/68`) for its
    /// messages, `unknown` for codes no capability owns.
    pub protocol: String,
    /// The code within the capability (for `unknown`, 0).
    pub code: u64,
}

impl Shared {
    fn live(&self) -> MutexGuard<'_, HashMap<PeerId, Arc<Counters>>> {
        // Plain counters behind the lock: nothing half-changed to fear.
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The counters of a connection to `id` that starts now.
    pub(super) fn open(&self, id: PeerId) -> Arc<Counters> {
        let counters = Arc::new(Counters::starting_now());
        self.live().insert(id, counters.clone());
        counters
    }

    /// The counters of message `key`, shared by every connection.
    pub(super) fn message(&self, key: MessageKey) -> Arc<Counters> {
        self.by_message
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key)
            .or_default()
            .clone()
    }

    /// A connection to `id` counting into `counters` ended: its counts move
    /// to the totals of ended connections.
    pub(super) fn close(&self, id: &PeerId, counters: &Arc<Counters>) {
        let mut live = self.live();
        if live.get(id).is_some_and(|c| Arc::ptr_eq(c, counters)) {
            live.remove(id);
        }
        // Under the lock: a total read now sees the counts once, live or
        // ended, never both or neither.
        self.ended.add(counters.read());
    }
}

impl TrafficLayer {
    /// A layer with nothing counted yet.
    pub fn new() -> Self {
        TrafficLayer::default()
    }

    /// What connected peer `id` sent and received so far; `None` when it is
    /// not connected.
    pub fn peer(&self, id: &PeerId) -> Option<TrafficStats> {
        self.shared.live().get(id).map(|c| c.read())
    }

    /// How long connected peer `id` has been in its session; `None` when it
    /// is not connected.
    pub fn connected_for(&self, id: &PeerId) -> Option<std::time::Duration> {
        self.shared.live().get(id)?.since.map(|t| t.elapsed())
    }

    /// Everything every peer sent and received since the layer was made,
    /// connected peers and past ones.
    pub fn total(&self) -> TrafficStats {
        let live = self
            .shared
            .live()
            .values()
            .fold(TrafficStats::default(), |sum, c| sum + c.read());
        live + self.shared.ended.read()
    }

    /// Everything every peer sent and received, by message, in order of
    /// protocol and code.
    pub fn by_message(&self) -> Vec<(MessageKey, TrafficStats)> {
        let mut all: Vec<_> = self
            .shared
            .by_message
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(key, counters)| (key.clone(), counters.read()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }
}

impl<S> Layer<S> for TrafficLayer {
    type Service = Traffic<S>;

    fn layer(&self, inner: S) -> Traffic<S> {
        Traffic {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// A session stage whose peers' traffic is counted: see [`TrafficLayer`].
#[derive(Clone, Debug)]
pub struct Traffic<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S, C> Service<Established<C>> for Traffic<S>
where
    S: Service<Established<CountedConn<C>>, Response = ConnectionEnd>,
    C: MsgConn,
{
    type Response = ConnectionEnd;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, peer: Established<C>) -> Self::Future {
        let id = peer.info.id;
        let table = peer.info.shared.clone();
        let shared = self.shared.clone();
        self.inner
            .call(peer.map_conn(|conn| CountedConn::new(conn, id, table, shared)))
    }
}
