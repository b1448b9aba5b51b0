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
}

impl Shared {
    fn live(&self) -> MutexGuard<'_, HashMap<PeerId, Arc<Counters>>> {
        // Plain counters behind the lock: nothing half-changed to fear.
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The counters of a connection to `id` that starts now.
    pub(super) fn open(&self, id: PeerId) -> Arc<Counters> {
        let counters = Arc::new(Counters::default());
        self.live().insert(id, counters.clone());
        counters
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
        let shared = self.shared.clone();
        self.inner
            .call(peer.map_conn(|conn| CountedConn::new(conn, id, shared)))
    }
}
