//! The rate-limited connection.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use futures::{Sink, Stream};
use pin_project::pin_project;
use tokio::time::Sleep;

use super::{
    LimitKind, Rate, RateLimitConfig, RateLimitError, RateLimitPolicy, TokenBucket,
    RATE_EXCEEDED_REASON,
};
use crate::base::{DisconnectReason, BASE_PROTOCOL_MAX_MSG_SIZE, DISCONNECT, HELLO};
use crate::identity::PeerId;
use crate::msg::Msg;
use crate::pipeline::MsgConn;

/// The two buckets of one connection.
#[derive(Clone, Debug)]
struct Limiter {
    messages: Option<TokenBucket>,
    bytes: Option<TokenBucket>,
}

impl Limiter {
    fn new(config: &RateLimitConfig, now: Instant) -> Self {
        Limiter {
            messages: config.messages.map(|rate| TokenBucket::new(rate, now)),
            bytes: config.bytes.map(|rate| TokenBucket::new(rate, now)),
        }
    }

    /// The longest wait of the two buckets for `msg`, and which bucket it is;
    /// `None` if it may pass now.
    fn wait(&mut self, msg: &Msg, now: Instant) -> Option<(Duration, LimitKind, Rate)> {
        let len = msg.payload.len() as u64;
        [
            (self.messages.as_mut(), 1, LimitKind::Messages),
            (self.bytes.as_mut(), len, LimitKind::Bytes),
        ]
        .into_iter()
        .filter_map(|(bucket, cost, kind)| {
            let bucket = bucket?;
            let wait = bucket.wait_time(cost, now);
            (wait > Duration::ZERO).then(|| (wait, kind, bucket.rate()))
        })
        .max_by_key(|(wait, _, _)| *wait)
    }

    fn charge(&mut self, msg: &Msg, now: Instant) {
        if let Some(bucket) = &mut self.messages {
            bucket.take(1, now);
        }
        if let Some(bucket) = &mut self.bytes {
            bucket.take(msg.payload.len() as u64, now);
        }
    }
}

/// Whether `msg` is charged but never waits nor is refused: Disconnect and
/// Hello of a size the base protocol allows (see the module documentation).
fn is_exempt(msg: &Msg) -> bool {
    (msg.code == DISCONNECT || msg.code == HELLO) && msg.payload.len() <= BASE_PROTOCOL_MAX_MSG_SIZE
}

/// The clock of the buckets: tokio's, so that a paused test runtime drives it.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// A [`MsgConn`] whose inbound messages are rate limited; writing is
/// untouched. See the
/// [module documentation](crate::layers::rate_limit).
///
/// At most two messages are buffered: the one waiting for tokens and the one
/// read after it (to let a Disconnect overtake); past that the connection is
/// not read until the wait is over.
#[pin_project(project = Limited)]
#[derive(Debug)]
pub struct RateLimitedConn<C> {
    #[pin]
    inner: C,
    config: RateLimitConfig,
    limiter: Limiter,
    /// A message read and waiting for its tokens (Delay policy).
    held: Option<Msg>,
    /// The message read after `held` while it waited.
    lookahead: Option<Msg>,
    /// When `held` may go. Boxed because `MsgConn` requires `Unpin` and
    /// `Sleep` is not; kept and reset rather than reallocated per wait.
    sleep: Option<Pin<Box<Sleep>>>,
    /// The wrapped stream has ended; it is not polled again.
    inner_done: bool,
    /// The stream yielded `RateExceeded` and has ended.
    failed: bool,
}

impl<C> RateLimitedConn<C> {
    /// Wraps `inner`, with full buckets. The clock is tokio's, so a paused
    /// test runtime drives it; the timer is created on the first wait.
    pub fn new(inner: C, config: RateLimitConfig) -> Self {
        RateLimitedConn {
            inner,
            limiter: Limiter::new(&config, now()),
            config,
            held: None,
            lookahead: None,
            sleep: None,
            inner_done: false,
            failed: false,
        }
    }

    /// The configuration in effect.
    pub fn config(&self) -> &RateLimitConfig {
        &self.config
    }

    /// Whether a message is being held back for lack of tokens.
    pub fn is_delaying(&self) -> bool {
        self.held.is_some()
    }

    /// The wrapped connection.
    pub fn get_ref(&self) -> &C {
        &self.inner
    }

    /// The wrapped connection, mutably. Reading it directly bypasses the limit.
    pub fn get_mut(&mut self) -> &mut C {
        &mut self.inner
    }

    /// Unwraps the connection. Messages held back are lost.
    pub fn into_inner(self) -> C {
        self.inner
    }
}

/// What reading a rate-limited connection yields.
type Item<C> = Option<Result<Msg, RateLimitError<<C as MsgConn>::ConnError>>>;

impl<C: MsgConn> Stream for RateLimitedConn<C> {
    type Item = Result<Msg, RateLimitError<C::ConnError>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        if *this.failed {
            return Poll::Ready(None);
        }
        loop {
            if this.held.is_some() {
                return this.poll_held(cx);
            }
            let msg = match this.lookahead.take() {
                Some(msg) => msg,
                None if *this.inner_done => return Poll::Ready(None),
                None => match ready!(this.inner.as_mut().poll_next(cx)) {
                    None => {
                        *this.inner_done = true;
                        return Poll::Ready(None);
                    }
                    Some(Err(err)) => return Poll::Ready(Some(Err(RateLimitError::Conn(err)))),
                    Some(Ok(msg)) => msg,
                },
            };
            if let Some(verdict) = this.admit(msg) {
                return Poll::Ready(Some(verdict));
            }
            // Held: round again to poll the timer, which registers the wakeup.
        }
    }
}

impl<C: MsgConn> Limited<'_, C> {
    /// With a message held: lets it go once its timer fires; meanwhile reads
    /// one message ahead, so that a Disconnect right behind the held message
    /// is not delayed by it (anything else waits its turn, and reading stops
    /// until then).
    fn poll_held(&mut self, cx: &mut Context<'_>) -> Poll<Item<C>> {
        let sleep = self.sleep.as_mut().expect("a held message has a timer");
        if sleep.as_mut().poll(cx).is_ready() {
            // The wait was computed for exactly the missing tokens, so they
            // are there now; no second check that timer rounding could turn
            // into another round trip.
            let msg = self.held.take().expect("a message is held");
            self.limiter.charge(&msg, now());
            return Poll::Ready(Some(Ok(msg)));
        }
        if self.lookahead.is_none() && !*self.inner_done {
            match self.inner.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(msg))) if is_exempt(&msg) => {
                    self.limiter.charge(&msg, now());
                    return Poll::Ready(Some(Ok(msg)));
                }
                Poll::Ready(Some(Ok(msg))) => *self.lookahead = Some(msg),
                Poll::Ready(Some(Err(err))) => {
                    return Poll::Ready(Some(Err(RateLimitError::Conn(err))))
                }
                Poll::Ready(None) => *self.inner_done = true,
                Poll::Pending => {}
            }
        }
        // The timer (and, if it was polled, the connection) will wake us.
        Poll::Pending
    }

    /// Charges `msg` and passes it, or refuses it (Disconnect policy), or
    /// holds it until its tokens have refilled (Delay policy: `None`).
    fn admit(&mut self, msg: Msg) -> Option<Result<Msg, RateLimitError<C::ConnError>>> {
        let now = now();
        if is_exempt(&msg) {
            self.limiter.charge(&msg, now);
            return Some(Ok(msg));
        }
        let Some((wait, kind, rate)) = self.limiter.wait(&msg, now) else {
            self.limiter.charge(&msg, now);
            return Some(Ok(msg));
        };
        match self.config.policy {
            RateLimitPolicy::Disconnect => {
                tracing::debug!(code = msg.code, %kind, "inbound rate exceeded");
                *self.failed = true;
                Some(Err(RateLimitError::RateExceeded {
                    kind,
                    per_second: rate.per_second,
                    burst: rate.burst,
                    code: msg.code,
                }))
            }
            RateLimitPolicy::Delay => {
                let deadline = tokio::time::Instant::now() + wait;
                match self.sleep.as_mut() {
                    Some(sleep) => sleep.as_mut().reset(deadline),
                    None => *self.sleep = Some(Box::pin(tokio::time::sleep_until(deadline))),
                }
                *self.held = Some(msg);
                None
            }
        }
    }
}

impl<C: MsgConn> Sink<Msg> for RateLimitedConn<C> {
    type Error = RateLimitError<C::ConnError>;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.project()
            .inner
            .poll_ready(cx)
            .map_err(RateLimitError::Conn)
    }

    fn start_send(self: Pin<&mut Self>, msg: Msg) -> Result<(), Self::Error> {
        self.project()
            .inner
            .start_send(msg)
            .map_err(RateLimitError::Conn)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.project()
            .inner
            .poll_flush(cx)
            .map_err(RateLimitError::Conn)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.project()
            .inner
            .poll_close(cx)
            .map_err(RateLimitError::Conn)
    }
}

impl<C: MsgConn> MsgConn for RateLimitedConn<C> {
    type ConnError = RateLimitError<C::ConnError>;

    fn set_snappy(&mut self, enabled: bool) {
        self.inner.set_snappy(enabled);
    }

    fn set_capabilities(&mut self, table: &crate::capability::CapabilityTable) {
        self.inner.set_capabilities(table);
    }

    fn remote_id(&self) -> PeerId {
        self.inner.remote_id()
    }

    fn disconnect_reason_for(err: &Self::ConnError) -> Option<DisconnectReason> {
        match err {
            RateLimitError::Conn(err) => C::disconnect_reason_for(err),
            RateLimitError::RateExceeded { .. } => Some(RATE_EXCEEDED_REASON),
        }
    }
}
