//! The handshake half of the metrics: how long each encryption handshake
//! took, and how many failed or were abandoned, by reason.

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use metrics::SharedString;
use pin_project::{pin_project, pinned_drop};

use super::{
    connection_direction, reason_label, CANCELLED_REASON, HANDSHAKE_DURATION, HANDSHAKE_FAILURES,
};
use crate::pipeline::{Authenticated, Direction};

/// The future of [`Metrics`](super::Metrics) in the setup stack: the wrapped
/// service's, timed.
#[pin_project(PinnedDrop)]
#[derive(Debug)]
pub struct HandshakeFuture<F> {
    #[pin]
    inner: F,
    started: tokio::time::Instant,
    direction: Direction,
    instance: SharedString,
    /// Whether the outcome was recorded; if not when dropped, the handshake
    /// was abandoned.
    finished: bool,
}

impl<F> HandshakeFuture<F> {
    pub(super) fn new(
        inner: F,
        started: tokio::time::Instant,
        direction: Direction,
        instance: SharedString,
    ) -> Self {
        HandshakeFuture {
            inner,
            started,
            direction,
            instance,
            finished: false,
        }
    }

    fn record_failure(instance: &SharedString, direction: Direction, reason: String) {
        metrics::counter!(
            HANDSHAKE_FAILURES,
            "instance" => instance.clone(),
            "direction" => connection_direction(direction),
            "reason" => reason,
        )
        .increment(1);
    }
}

impl<F, C, E> Future for HandshakeFuture<F>
where
    F: Future<Output = Result<Authenticated<C>, E>>,
    E: Debug,
{
    type Output = Result<Authenticated<C>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        *this.finished = true;
        match &result {
            Ok(_) => {
                metrics::histogram!(
                    HANDSHAKE_DURATION,
                    "instance" => this.instance.clone(),
                    "direction" => connection_direction(*this.direction),
                )
                .record(this.started.elapsed().as_secs_f64());
            }
            Err(err) => Self::record_failure(this.instance, *this.direction, reason_label(err)),
        }
        Poll::Ready(result)
    }
}

#[pinned_drop]
impl<F> PinnedDrop for HandshakeFuture<F> {
    fn drop(self: Pin<&mut Self>) {
        let this = self.project();
        if !*this.finished {
            Self::record_failure(this.instance, *this.direction, CANCELLED_REASON.to_owned());
        }
    }
}
