//! The pending table as a layer and service of the setup stack.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use tokio::sync::oneshot;
use tower::{Layer, Service, ServiceExt};

use super::{PendingConfig, PendingId, PendingTable};
use crate::layers::filter::{FilterError, Refused};
use crate::network::FirstBytes;
use crate::pipeline::{Connecting, Direction};

/// What ends an evicted connection's handshake.
type Eviction = oneshot::Sender<()>;

/// The table, shared by a layer, its clones and the services it built.
type Shared = Arc<Mutex<PendingTable<Eviction>>>;

/// Applies [`PendingLimit`] to a setup pipeline; clones share one table.
#[derive(Clone, Debug)]
pub struct PendingLimitLayer {
    table: Shared,
}

impl PendingLimitLayer {
    /// A layer with an empty table.
    pub fn new(config: PendingConfig) -> Self {
        PendingLimitLayer {
            table: Arc::new(Mutex::new(PendingTable::new(config))),
        }
    }
}

impl<S> Layer<S> for PendingLimitLayer {
    type Service = PendingLimit<S>;

    fn layer(&self, inner: S) -> PendingLimit<S> {
        PendingLimit {
            inner,
            table: Arc::clone(&self.table),
        }
    }
}

/// Admits inbound connections to the table of handshakes in progress
/// before the wrapped service sees them; outbound ones pass untouched (the
/// dial scheduler bounds those).
///
/// A connection refused by a per-address cap fails at once with
/// [`Refused::PendingPerIp`] or [`Refused::PendingPerSubnet`]; one pushed
/// out of a full table fails with [`Refused::Evicted`], its handshake
/// dropped wherever it was. The wrapped service is called on a clone once
/// the peer has sent its first bytes ([`FirstBytes`]).
#[derive(Clone, Debug)]
pub struct PendingLimit<S> {
    inner: S,
    table: Shared,
}

impl<S> PendingLimit<S> {
    /// Connections in their handshake now.
    pub fn pending(&self) -> usize {
        lock(&self.table).len()
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

// The table is consistent after any panic (each update completes before
// anything can panic), so a poisoned lock is still usable.
fn lock(table: &Shared) -> MutexGuard<'_, PendingTable<Eviction>> {
    table.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Takes a connection's entry out of the table when its handshake ends,
/// however it ends (the future dropped by a deadline included).
struct Entry {
    table: Shared,
    id: PendingId,
}

impl Drop for Entry {
    fn drop(&mut self) {
        lock(&self.table).remove(self.id);
    }
}

impl<S, Io> Service<Connecting<Io>> for PendingLimit<S>
where
    S: Service<Connecting<Io>> + Clone + Send + 'static,
    S::Response: Send,
    S::Error: Send,
    S::Future: Send,
    Io: FirstBytes + Send + 'static,
{
    type Response = S::Response;
    type Error = FilterError<S::Error>;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Each call runs on a clone, whose readiness `oneshot` awaits.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, conn: Connecting<Io>) -> Self::Future {
        let inner = self.inner.clone();
        if conn.direction == Direction::Outbound {
            return Box::pin(async move { inner.oneshot(conn).await.map_err(FilterError::Inner) });
        }
        let (evict, evicted) = oneshot::channel();
        let admitted = lock(&self.table).admit(conn.remote_addr.ip(), evict);
        let admitted = match admitted {
            Ok(admitted) => admitted,
            Err(refused) => {
                tracing::debug!(remote = %conn.remote_addr, %refused, "inbound connection refused");
                return Box::pin(std::future::ready(Err(FilterError::Refused(refused))));
            }
        };
        if let Some(oldest) = admitted.evicted {
            // The receiver is gone if that handshake just ended on its own.
            let _ = oldest.send(());
        }
        let entry = Entry {
            table: Arc::clone(&self.table),
            id: admitted.id,
        };
        Box::pin(async move {
            let handshake = async {
                let first = conn.io.first_bytes();
                first.await;
                lock(&entry.table).started(entry.id);
                inner.oneshot(conn).await.map_err(FilterError::Inner)
            };
            tokio::select! {
                outcome = handshake => outcome,
                Ok(()) = evicted => Err(FilterError::Refused(Refused::Evicted)),
            }
        })
    }
}
