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
use crate::pipeline::{Connecting, Direction, StartSignal};

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
/// out of a full pool fails with [`Refused::Evicted`], its handshake
/// dropped wherever it was. The wrapped service is called on a clone once
/// the peer has sent its first bytes ([`FirstBytes`]); the connection
/// counts as working from then on, or, if the stage
/// [defers](crate::StartSignal::defer), from when it signals that its work
/// started.
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

    fn call(&mut self, mut conn: Connecting<Io>) -> Self::Future {
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
        end_evicted(admitted.evicted);
        let entry = Entry {
            table: Arc::clone(&self.table),
            id: admitted.id,
        };
        let (signal, watch) = StartSignal::pair();
        conn.start = signal;
        Box::pin(async move {
            // Resolves only on an eviction: a dropped sender means the
            // table let go of this entry some other way.
            let evicted = async move {
                if evicted.await.is_err() {
                    std::future::pending::<()>().await;
                }
            };
            tokio::pin!(evicted);
            tokio::select! {
                () = conn.io.first_bytes() => {}
                () = &mut evicted => return Err(FilterError::Refused(Refused::Evicted)),
            }
            let handshake = inner.oneshot(conn);
            tokio::pin!(handshake);
            let mut working = false;
            loop {
                tokio::select! {
                    // The handshake first: its first poll is where a stage
                    // defers, which the start watch must see.
                    biased;
                    outcome = &mut handshake => return outcome.map_err(FilterError::Inner),
                    () = &mut evicted => return Err(FilterError::Refused(Refused::Evicted)),
                    () = watch.started(), if !working => {
                        working = true;
                        end_evicted(lock(&entry.table).started(entry.id));
                    }
                }
            }
        })
    }
}

/// Ends the connection a table update pushed out, if any. Its receiver is
/// gone if that handshake just ended on its own.
fn end_evicted(evicted: Option<Eviction>) {
    if let Some(oldest) = evicted {
        let _ = oldest.send(());
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::net::SocketAddr;
    use std::time::Duration;

    use tower::ServiceBuilder;

    use super::*;

    #[tokio::test]
    async fn only_handshakes_that_started_working_take_a_working_place() {
        let config = PendingConfig {
            max: 1,
            max_waiting: 10,
            ..PendingConfig::default()
        };
        // A stage that says when its work starts, and never finishes: the
        // connection from port 1 never starts (a peer trickling its first
        // message), the others start at once.
        let setup = ServiceBuilder::new()
            .layer(PendingLimitLayer::new(config))
            .service_fn(|conn: Connecting<()>| async move {
                conn.start.defer();
                if conn.remote_addr.port() != 1 {
                    conn.start.started();
                }
                std::future::pending::<Result<(), Infallible>>().await
            });
        let from = |port| Connecting::inbound((), SocketAddr::from(([203, 0, 113, 7], port)));
        let settle = || tokio::time::sleep(Duration::from_millis(20));
        let trickling = tokio::spawn(setup.clone().oneshot(from(1)));
        settle().await;
        let first = tokio::spawn(setup.clone().oneshot(from(2)));
        settle().await;
        let second = tokio::spawn(setup.clone().oneshot(from(3)));
        // One place at work: the second working handshake takes it from
        // the first, not from the one still waiting for its message.
        let evicted = tokio::time::timeout(Duration::from_secs(1), first)
            .await
            .expect("the first working handshake is pushed out")
            .unwrap();
        assert!(matches!(
            evicted,
            Err(FilterError::Refused(Refused::Evicted))
        ));
        settle().await;
        assert!(!trickling.is_finished() && !second.is_finished());
        trickling.abort();
        second.abort();
    }
}
