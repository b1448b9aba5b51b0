//! The throttle as a layer and service of the setup stack.

use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use tower::{Layer, Service};

use super::{InboundHistory, ThrottleConfig};
use crate::layers::filter::{FilterError, Refused, ResponseFuture};
use crate::pipeline::{Connecting, Direction};

/// Applies [`InboundThrottle`] to a setup pipeline.
///
/// Clones, and every service the layer builds, share one [`InboundHistory`].
#[derive(Clone, Debug)]
pub struct InboundThrottleLayer {
    history: Arc<Mutex<InboundHistory>>,
}

impl InboundThrottleLayer {
    /// A layer with an empty history.
    pub fn new(config: ThrottleConfig) -> Self {
        InboundThrottleLayer {
            history: Arc::new(Mutex::new(InboundHistory::new(config))),
        }
    }
}

impl<S> Layer<S> for InboundThrottleLayer {
    type Service = InboundThrottle<S>;

    fn layer(&self, inner: S) -> InboundThrottle<S> {
        InboundThrottle {
            inner,
            history: Arc::clone(&self.history),
        }
    }
}

/// Refuses an inbound connection from an IP that already tried within the
/// window, before the wrapped service reads a byte. Outbound connections
/// pass untouched.
///
/// Time is `tokio::time::Instant::now()`, so a paused test runtime drives
/// it. `poll_ready` is the wrapped service's; a refusal leaves the readiness
/// it obtained for the next call.
#[derive(Clone, Debug)]
pub struct InboundThrottle<S> {
    inner: S,
    // A mutex: the critical section is a map lookup and insert, shorter than
    // any hand-off to a task owning the state would be.
    history: Arc<Mutex<InboundHistory>>,
}

impl<S> InboundThrottle<S> {
    /// Wraps `inner` with an empty history.
    pub fn new(inner: S, config: ThrottleConfig) -> Self {
        InboundThrottleLayer::new(config).layer(inner)
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the wrapped service.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// How many IPs the shared history remembers.
    pub fn tracked(&self) -> usize {
        self.lock().len()
    }

    // The history is consistent after any panic (each update completes before
    // anything can panic), so a poisoned lock is still usable.
    fn lock(&self) -> std::sync::MutexGuard<'_, InboundHistory> {
        self.history.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<S, Io> Service<Connecting<Io>> for InboundThrottle<S>
where
    S: Service<Connecting<Io>>,
{
    type Response = S::Response;
    type Error = FilterError<S::Error>;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(FilterError::Inner)
    }

    fn call(&mut self, conn: Connecting<Io>) -> Self::Future {
        if conn.direction == Direction::Inbound {
            let ip = conn.remote_addr.ip().to_canonical();
            let now = tokio::time::Instant::now().into_std();
            if !self.lock().check(ip, now) {
                tracing::debug!(remote = %conn.remote_addr, "inbound connection throttled");
                return ResponseFuture::refused(Refused::Throttled { ip });
            }
        }
        ResponseFuture::inner(self.inner.call(conn))
    }
}
