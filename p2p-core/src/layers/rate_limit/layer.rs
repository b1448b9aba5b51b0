//! The rate limit as a layer and service of the setup stack.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use pin_project::pin_project;
use tower::{Layer, Service};

use super::{RateLimitConfig, RateLimitedConn};
use crate::pipeline::{Authenticated, MsgConn};

/// Wraps the connection of every [`Authenticated`] a setup service yields in
/// a [`RateLimitedConn`].
#[derive(Clone, Debug)]
pub struct RateLimitLayer {
    config: RateLimitConfig,
}

impl RateLimitLayer {
    /// A layer giving each connection its own buckets for `config`.
    pub fn new(config: RateLimitConfig) -> Self {
        RateLimitLayer { config }
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimit<S>;

    fn layer(&self, inner: S) -> RateLimit<S> {
        RateLimit {
            inner,
            config: self.config,
        }
    }
}

/// A setup service whose connections are rate limited: see [`RateLimitLayer`].
///
/// Readiness and errors are the wrapped service's.
#[derive(Clone, Debug)]
pub struct RateLimit<S> {
    inner: S,
    config: RateLimitConfig,
}

impl<S> RateLimit<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, config: RateLimitConfig) -> Self {
        RateLimitLayer::new(config).layer(inner)
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
}

impl<S, R, C> Service<R> for RateLimit<S>
where
    S: Service<R, Response = Authenticated<C>>,
    C: MsgConn,
{
    type Response = Authenticated<RateLimitedConn<C>>;
    type Error = S::Error;
    type Future = RateLimitFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        RateLimitFuture {
            inner: self.inner.call(request),
            config: self.config,
        }
    }
}

/// The future of [`RateLimit`]: the wrapped service's, with the connection of
/// its response wrapped.
#[pin_project]
#[derive(Debug)]
pub struct RateLimitFuture<F> {
    #[pin]
    inner: F,
    config: RateLimitConfig,
}

impl<F, C, E> Future for RateLimitFuture<F>
where
    F: Future<Output = Result<Authenticated<C>, E>>,
    C: MsgConn,
{
    type Output = Result<Authenticated<RateLimitedConn<C>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let authenticated = ready!(this.inner.poll(cx))?;
        // The buckets start full when the connection is established, so the
        // Hello exchange never waits.
        let config = *this.config;
        Poll::Ready(Ok(
            authenticated.map_conn(|conn| RateLimitedConn::new(conn, config))
        ))
    }
}
