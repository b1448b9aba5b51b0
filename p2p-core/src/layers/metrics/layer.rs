//! [`MetricsLayer`] and the service it makes, which serves in the setup
//! stack (handshakes) and in the session stack (messages).

use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use metrics::SharedString;
use tower::{Layer, Service};

use super::conn::MeteredConn;
use super::handshake::HandshakeFuture;
use crate::pipeline::{Authenticated, Connecting, ConnectionEnd, Established, MsgConn};

/// Adds metrics to a server; see the [module documentation](super) for the
/// two places it goes.
///
/// Clones share the instance name.
#[derive(Clone, Debug)]
pub struct MetricsLayer {
    /// Shared, so that labelling each connection costs no allocation.
    instance: SharedString,
}

impl MetricsLayer {
    /// A layer reporting under `instance`.
    pub fn new(instance: impl Into<String>) -> Self {
        MetricsLayer {
            instance: SharedString::from(Arc::<str>::from(instance.into())),
        }
    }

    /// The `instance` label.
    pub fn instance(&self) -> &str {
        &self.instance
    }
}

impl<S> Layer<S> for MetricsLayer {
    type Service = Metrics<S>;

    fn layer(&self, inner: S) -> Metrics<S> {
        Metrics {
            inner,
            instance: self.instance.clone(),
        }
    }
}

/// A stage with metrics: see [`MetricsLayer`].
///
/// Readiness and errors are the wrapped service's.
#[derive(Clone, Debug)]
pub struct Metrics<S> {
    inner: S,
    instance: SharedString,
}

impl<S> Metrics<S> {
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
}

/// In the setup stack: times each handshake and counts its failures.
impl<S, Io, C> Service<Connecting<Io>> for Metrics<S>
where
    S: Service<Connecting<Io>, Response = Authenticated<C>>,
    S::Error: std::fmt::Debug,
{
    type Response = Authenticated<C>;
    type Error = S::Error;
    type Future = HandshakeFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, conn: Connecting<Io>) -> Self::Future {
        let direction = conn.direction;
        // Started before the inner call: a service doing work in `call` is
        // timed too.
        let started = tokio::time::Instant::now();
        HandshakeFuture::new(
            self.inner.call(conn),
            started,
            direction,
            self.instance.clone(),
        )
    }
}

/// The future of [`Metrics`] in the session stack.
pub type SessionFuture<E> = BoxFuture<'static, Result<ConnectionEnd, E>>;

/// In the session stack: counts each peer's messages, labelled with the
/// capability table its Hello stage matched.
impl<S, C> Service<Established<C>> for Metrics<S>
where
    S: Service<Established<MeteredConn<C>>, Response = ConnectionEnd>,
    S::Future: Send + 'static,
    C: MsgConn,
{
    type Response = ConnectionEnd;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, peer: Established<C>) -> Self::Future {
        let (instance, capabilities) = (self.instance.clone(), peer.info.shared.clone());
        let peer = peer.map_conn(|conn| MeteredConn::labelled(conn, instance, capabilities));
        self.inner.call(peer)
    }
}
