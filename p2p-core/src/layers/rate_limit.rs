//! A per-peer inbound rate limit: token buckets for messages per second and
//! bytes per second on what a peer sends us.
//!
//! go-ethereum has no such limit; a peer that floods us with messages costs
//! decryption, decompression and decoding for each one, and the capability
//! queues only push back once a handler is slow. This layer caps what each
//! connection may deliver, whatever the handlers do.
//!
//! [`RateLimitLayer`] goes into the setup stack around the transport and wraps
//! the connection the transport yields in a [`RateLimitedConn`], which the
//! Hello exchange and the session then read:
//!
//! ```text
//! ServiceBuilder::new()
//!     .layer(RateLimitLayer::new(RateLimitConfig::default()))
//!     .service(RlpxTransport::new(key))
//! ```
//!
//! # Policies
//!
//! - [`RateLimitPolicy::Delay`]: a message that finds too few tokens is held
//!   until they have refilled, and the connection is not read meanwhile, so
//!   TCP back-pressure slows the peer down. Nothing is lost and nothing is
//!   reordered (but see the exemptions below).
//! - [`RateLimitPolicy::Disconnect`]: such a message is dropped and reading
//!   yields [`RateLimitError::RateExceeded`], which ends the session.
//!
//! # Which disconnect reason
//!
//! [`RateLimitError::disconnect_reason`] gives
//! [`DisconnectReason::SubprotocolError`] for an exceeded rate, not
//! `ProtocolError`: the peer broke no rule of the wire protocol, it sent more
//! capability traffic than our local policy accepts, and go-ethereum reports
//! its own capability-level "too much" errors (an eth message over the size
//! limit, say) the same way, since every non-`DiscReason` error of a
//! capability handler becomes `DiscSubprotocolError`. `ProtocolError` would
//! send the remote's operator looking for an encoding bug. The session asks
//! [`MsgConn::disconnect_reason_for`] which reason a read error deserves.
//!
//! # Base-protocol messages
//!
//! Every message is charged against the buckets. Only Disconnect and Hello no
//! larger than [`BASE_PROTOCOL_MAX_MSG_SIZE`] are exempt from waiting and from
//! refusal: a Disconnect must get through so the session ends with the
//! remote's own reason, and each of them occurs at most once on a connection,
//! so the exemption cannot be used to flood. While a message is held, the
//! next message is read ahead so that a Disconnect right behind it overtakes
//! it (the held message is then lost with the session, which is ending
//! anyway). Ping and Pong are limited like capability messages: at honest
//! rates (one per 15 s) they never come near a limit, and a flood of them is
//! what a limit is for.
//!
//! # Byte counts
//!
//! Bytes are payload bytes as the transport yields them, after snappy
//! decompression: the cost of handling a message grows with its decompressed
//! size, which is also what a compression bomb inflates.
//!
//! # Interaction with the session's read timeout
//!
//! A delayed message counts as silence to the session's read timeout
//! ([`crate::session::DEFAULT_READ_TIMEOUT`], 30 s). A message larger than the
//! byte burst is admitted once the bucket is full and leaves the bucket in
//! debt, so the next message waits for `(size - burst) / rate` seconds; keep
//! that well under the read timeout for the largest message you accept.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use futures::{Sink, Stream};
use pin_project::pin_project;
use serde::{Deserialize, Serialize};
use tokio::time::Sleep;
use tower::{Layer, Service};

use crate::base::{DisconnectReason, BASE_PROTOCOL_MAX_MSG_SIZE, DISCONNECT, HELLO};
use crate::identity::PeerId;
use crate::msg::Msg;
use crate::pipeline::{Authenticated, MsgConn};

/// The disconnect reason for a peer that exceeded its rate (see the module
/// documentation for why this one).
pub const RATE_EXCEEDED_REASON: DisconnectReason = DisconnectReason::SubprotocolError;

/// One token in the bucket's fixed-point unit: with this scale, one
/// nanosecond refills exactly `per_second` units, so refill and wait times
/// are computed without rounding.
const UNITS_PER_TOKEN: i128 = 1_000_000_000;

/// A sustained rate and the burst allowed above it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rate {
    /// Tokens refilled per second (messages or bytes). Zero is taken as one:
    /// a bucket that never refills would stall the peer forever.
    pub per_second: u64,
    /// The bucket's capacity: how many tokens a peer idle long enough may
    /// spend at once. Zero is taken as one, the least that admits anything.
    pub burst: u64,
}

impl Rate {
    /// `per_second` sustained, up to `burst` at once.
    pub const fn new(per_second: u64, burst: u64) -> Self {
        Rate { per_second, burst }
    }
}

/// A token bucket with an explicit clock, so that it can be tested without
/// waiting.
///
/// It starts full. A cost larger than the capacity is admitted once the bucket
/// is full and leaves it in debt, so that a single large message is neither
/// refused forever nor a way around the sustained rate. `now` is expected not
/// to go backwards; if it does, nothing refills until it has caught up.
#[derive(Clone, Debug)]
pub struct TokenBucket {
    per_second: u64,
    capacity: u64,
    /// The content in `UNITS_PER_TOKEN`ths of a token; negative in debt.
    level: i128,
    /// When `level` was last brought up to date.
    last: Instant,
}

impl TokenBucket {
    /// A full bucket for `rate`, as of `now`.
    pub fn new(rate: Rate, now: Instant) -> Self {
        let capacity = rate.burst.max(1);
        TokenBucket {
            per_second: rate.per_second.max(1),
            capacity,
            level: i128::from(capacity) * UNITS_PER_TOKEN,
            last: now,
        }
    }

    /// The rate in effect (zeros raised to one).
    pub fn rate(&self) -> Rate {
        Rate::new(self.per_second, self.capacity)
    }

    /// The whole tokens available at `now`; negative while in debt.
    pub fn tokens(&mut self, now: Instant) -> i64 {
        self.refill(now);
        let whole = self.level.div_euclid(UNITS_PER_TOKEN);
        i64::try_from(whole).unwrap_or(if whole < 0 { i64::MIN } else { i64::MAX })
    }

    /// How long until `cost` can be taken: zero if it can be now.
    pub fn wait_time(&mut self, cost: u64, now: Instant) -> Duration {
        self.refill(now);
        let need = i128::from(cost.min(self.capacity)) * UNITS_PER_TOKEN;
        if self.level >= need {
            return Duration::ZERO;
        }
        let rate = i128::from(self.per_second);
        // Rounded up: waking a nanosecond early would find the bucket short.
        let nanos = (need - self.level + rate - 1) / rate;
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// Takes `cost` tokens if they are there at `now`; otherwise takes nothing
    /// and tells how long until they will be.
    pub fn try_take(&mut self, cost: u64, now: Instant) -> Result<(), Duration> {
        match self.wait_time(cost, now) {
            Duration::ZERO => {
                self.take(cost, now);
                Ok(())
            }
            wait => Err(wait),
        }
    }

    /// Takes `cost` tokens whether or not they are there, going into debt if
    /// needed.
    pub fn take(&mut self, cost: u64, now: Instant) {
        self.refill(now);
        self.level = self
            .level
            .saturating_sub(i128::from(cost) * UNITS_PER_TOKEN);
    }

    fn refill(&mut self, now: Instant) {
        let Some(elapsed) = now.checked_duration_since(self.last) else {
            return;
        };
        self.last = now;
        let full = i128::from(self.capacity) * UNITS_PER_TOKEN;
        if self.level >= full {
            return;
        }
        let rate = i128::from(self.per_second);
        // Compare times rather than multiply first: a long idle period times
        // a high rate could overflow even an i128.
        let to_full = (full - self.level + rate - 1) / rate;
        let elapsed = i128::try_from(elapsed.as_nanos()).unwrap_or(i128::MAX);
        self.level = if elapsed >= to_full {
            full
        } else {
            self.level + elapsed * rate
        };
    }
}

/// What happens to a message that finds too few tokens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RateLimitPolicy {
    /// Hold it, and stop reading the connection, until the tokens have
    /// refilled: TCP back-pressure slows the peer down and nothing is lost.
    /// The default: an honest peer with a burst of traffic only slows down.
    #[default]
    Delay,
    /// Drop it and fail the read with [`RateLimitError::RateExceeded`], which
    /// ends the session.
    Disconnect,
}

/// Configuration of the inbound rate limit.
///
/// The defaults are ceilings against abuse, not traffic shaping: 1000
/// messages/s (burst 2000) and 16 MiB/s (burst 32 MiB, more than the largest
/// eth message go-ethereum accepts), delaying.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RateLimitConfig {
    /// The limit on messages; `None` for none.
    pub messages: Option<Rate>,
    /// The limit on payload bytes (decompressed); `None` for none.
    pub bytes: Option<Rate>,
    /// What to do with a message over the limit.
    pub policy: RateLimitPolicy,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            messages: Some(Rate::new(1_000, 2_000)),
            bytes: Some(Rate::new(16 << 20, 32 << 20)),
            policy: RateLimitPolicy::Delay,
        }
    }
}

/// Which bucket ran dry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LimitKind {
    /// Messages per second.
    Messages,
    /// Bytes per second.
    Bytes,
}

impl std::fmt::Display for LimitKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LimitKind::Messages => "messages",
            LimitKind::Bytes => "bytes",
        })
    }
}

/// The error of a [`RateLimitedConn`].
#[derive(Debug, thiserror::Error)]
pub enum RateLimitError<E> {
    /// The wrapped connection failed.
    #[error(transparent)]
    Conn(E),
    /// The peer sent faster than allowed under [`RateLimitPolicy::Disconnect`].
    /// The offending message was dropped; the stream ends after this.
    #[error("peer exceeded the inbound limit of {per_second} {kind}/s (burst {burst}) with message code {code:#x}")]
    RateExceeded {
        /// Which limit.
        kind: LimitKind,
        /// Its sustained rate.
        per_second: u64,
        /// Its burst.
        burst: u64,
        /// The code of the dropped message.
        code: u64,
    },
}

impl<E> RateLimitError<E> {
    /// The reason to send the peer before closing: [`RATE_EXCEEDED_REASON`]
    /// for an exceeded rate, `None` for a connection error (the wrapped
    /// transport's error says whether it has one).
    pub fn disconnect_reason(&self) -> Option<DisconnectReason> {
        match self {
            RateLimitError::Conn(_) => None,
            RateLimitError::RateExceeded { .. } => Some(RATE_EXCEEDED_REASON),
        }
    }

    /// The wrapped connection's error, if this is one.
    pub fn into_conn(self) -> Option<E> {
        match self {
            RateLimitError::Conn(err) => Some(err),
            RateLimitError::RateExceeded { .. } => None,
        }
    }
}

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
#[pin_project]
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

impl<C: MsgConn> Stream for RateLimitedConn<C> {
    type Item = Result<Msg, RateLimitError<C::ConnError>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        if *this.failed {
            return Poll::Ready(None);
        }
        loop {
            if this.held.is_some() {
                let sleep = this.sleep.as_mut().expect("a held message has a timer");
                if sleep.as_mut().poll(cx).is_ready() {
                    // The wait was computed for exactly the missing tokens, so
                    // they are there now; no second check that timer rounding
                    // could turn into another round trip.
                    let msg = this.held.take().expect("checked above");
                    this.limiter.charge(&msg, now());
                    return Poll::Ready(Some(Ok(msg)));
                }
                // Read one message ahead, so that a Disconnect right behind the
                // held message is not delayed by it; anything else waits its
                // turn and reading stops until then.
                if this.lookahead.is_none() && !*this.inner_done {
                    match this.inner.as_mut().poll_next(cx) {
                        Poll::Ready(Some(Ok(msg))) if is_exempt(&msg) => {
                            this.limiter.charge(&msg, now());
                            return Poll::Ready(Some(Ok(msg)));
                        }
                        Poll::Ready(Some(Ok(msg))) => *this.lookahead = Some(msg),
                        Poll::Ready(Some(Err(err))) => {
                            return Poll::Ready(Some(Err(RateLimitError::Conn(err))))
                        }
                        Poll::Ready(None) => *this.inner_done = true,
                        Poll::Pending => {}
                    }
                }
                // The timer (and, if it was polled, the connection) will wake us.
                return Poll::Pending;
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
            let now = now();
            if is_exempt(&msg) {
                this.limiter.charge(&msg, now);
                return Poll::Ready(Some(Ok(msg)));
            }
            let Some((wait, kind, rate)) = this.limiter.wait(&msg, now) else {
                this.limiter.charge(&msg, now);
                return Poll::Ready(Some(Ok(msg)));
            };
            match this.config.policy {
                RateLimitPolicy::Disconnect => {
                    tracing::debug!(code = msg.code, %kind, "inbound rate exceeded");
                    *this.failed = true;
                    return Poll::Ready(Some(Err(RateLimitError::RateExceeded {
                        kind,
                        per_second: rate.per_second,
                        burst: rate.burst,
                        code: msg.code,
                    })));
                }
                RateLimitPolicy::Delay => {
                    let deadline = tokio::time::Instant::now() + wait;
                    match this.sleep.as_mut() {
                        Some(sleep) => sleep.as_mut().reset(deadline),
                        None => *this.sleep = Some(Box::pin(tokio::time::sleep_until(deadline))),
                    }
                    *this.held = Some(msg);
                    // Round again to poll the timer, which registers the wakeup.
                }
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
        let Authenticated {
            conn,
            remote_addr,
            direction,
            guards,
        } = ready!(this.inner.poll(cx))?;
        // The buckets start full when the connection is established, so the
        // Hello exchange never waits.
        Poll::Ready(Ok(Authenticated {
            conn: RateLimitedConn::new(conn, *this.config),
            remote_addr,
            direction,
            guards,
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use futures::{SinkExt, StreamExt};
    use tokio::time::Instant as TokioInstant;
    use tower::{ServiceBuilder, ServiceExt};

    use super::*;
    use crate::base::{ping_msg, PING};
    use crate::identity::NodeKey;
    use crate::pipeline::{ConnGuards, Connecting, Direction};
    use crate::testing::{mem_pair, MemConn, MemConnClosed};

    const MS: Duration = Duration::from_millis(1);

    fn pair() -> (MemConn, MemConn) {
        mem_pair(NodeKey::random().id(), NodeKey::random().id())
    }

    fn msg(code: u64, len: usize) -> Msg {
        Msg::new(code, vec![code as u8; len])
    }

    fn messages_only(per_second: u64, burst: u64, policy: RateLimitPolicy) -> RateLimitConfig {
        RateLimitConfig {
            messages: Some(Rate::new(per_second, burst)),
            bytes: None,
            policy,
        }
    }

    // --- TokenBucket with a fake clock ---

    #[test]
    fn bucket_starts_full_and_refills_at_rate() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(Rate::new(10, 5), t0);
        for _ in 0..5 {
            assert_eq!(bucket.try_take(1, t0), Ok(()));
        }
        assert_eq!(bucket.try_take(1, t0), Err(100 * MS));
        assert_eq!(bucket.try_take(1, t0 + 99 * MS), Err(MS));
        assert_eq!(bucket.try_take(1, t0 + 100 * MS), Ok(()));
        assert_eq!(bucket.tokens(t0 + 100 * MS), 0);
        assert_eq!(bucket.tokens(t0 + 350 * MS), 2);
    }

    #[test]
    fn bucket_refill_stops_at_burst() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(Rate::new(10, 5), t0);
        bucket.take(5, t0);
        assert_eq!(bucket.tokens(t0 + Duration::from_secs(3600)), 5);
        let later = t0 + Duration::from_secs(3600);
        assert_eq!(bucket.try_take(5, later), Ok(()));
        assert_eq!(bucket.try_take(1, later), Err(100 * MS));
    }

    #[test]
    fn bucket_fractional_rate_waits_exactly() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(Rate::new(3, 3), t0);
        assert_eq!(bucket.try_take(3, t0), Ok(()));
        // One token takes a third of a second, rounded up to the nanosecond.
        let wait = Duration::from_nanos(333_333_334);
        assert_eq!(bucket.wait_time(1, t0), wait);
        assert_eq!(
            bucket.wait_time(1, t0 + wait - Duration::from_nanos(1)),
            Duration::from_nanos(1)
        );
        // Refilled in a thousand small steps, exactly: no rounding drift.
        for step in 1..1000 {
            bucket.tokens(t0 + step * MS);
        }
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(
            bucket.wait_time(3, t1 - Duration::from_nanos(1)),
            Duration::from_nanos(1)
        );
        assert_eq!(bucket.try_take(3, t1), Ok(()));
    }

    #[test]
    fn bucket_cost_over_capacity_goes_into_debt() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(Rate::new(100, 100), t0);
        // Not refused forever: admitted when full...
        assert_eq!(bucket.try_take(250, t0), Ok(()));
        assert_eq!(bucket.tokens(t0), -150);
        // ...and paid for: the next token needs 151 tokens of refill.
        assert_eq!(bucket.wait_time(1, t0), 1510 * MS);
        // Once partly refilled it must wait for a full bucket again.
        assert_eq!(
            bucket.try_take(250, t0 + Duration::from_secs(2)),
            Err(500 * MS)
        );
        assert_eq!(
            bucket.try_take(250, t0 + Duration::from_millis(2500)),
            Ok(())
        );
    }

    #[test]
    fn bucket_clock_going_backwards_refills_nothing() {
        let t0 = Instant::now() + Duration::from_secs(10);
        let mut bucket = TokenBucket::new(Rate::new(10, 5), t0);
        bucket.take(5, t0);
        assert_eq!(bucket.tokens(t0 - Duration::from_secs(5)), 0);
        // The earlier reading did not move the reference point back.
        assert_eq!(bucket.tokens(t0 + 200 * MS), 2);
    }

    #[test]
    fn bucket_zero_rate_and_burst_are_raised_to_one() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(Rate::new(0, 0), t0);
        assert_eq!(bucket.rate(), Rate::new(1, 1));
        assert_eq!(bucket.try_take(1, t0), Ok(()));
        assert_eq!(bucket.try_take(1, t0), Err(Duration::from_secs(1)));
    }

    #[test]
    fn bucket_extreme_values_do_not_overflow() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(Rate::new(u64::MAX, u64::MAX), t0);
        bucket.take(u64::MAX, t0);
        bucket.take(u64::MAX, t0);
        assert!(bucket.tokens(t0) < 0);
        assert_eq!(bucket.tokens(t0 + Duration::from_secs(1_000_000)), i64::MAX);
        let mut slow = TokenBucket::new(Rate::new(1, u64::MAX), t0);
        slow.take(u64::MAX, t0);
        assert_eq!(slow.wait_time(1, t0), Duration::from_secs(1));
        assert_eq!(slow.wait_time(u64::MAX, t0), Duration::from_nanos(u64::MAX));
    }

    #[test]
    fn config_toml_defaults_and_policy_names() {
        let config: RateLimitConfig = toml::from_str("").unwrap();
        assert_eq!(config, RateLimitConfig::default());
        let config: RateLimitConfig =
            toml::from_str("policy = \"disconnect\"\nmessages = { per_second = 5, burst = 10 }\n")
                .unwrap();
        assert_eq!(config.policy, RateLimitPolicy::Disconnect);
        assert_eq!(config.messages, Some(Rate::new(5, 10)));
        assert_eq!(config.bytes, RateLimitConfig::default().bytes);
    }

    #[test]
    fn exceeded_rate_maps_to_subprotocol_error() {
        let err: RateLimitError<MemConnClosed> = RateLimitError::RateExceeded {
            kind: LimitKind::Messages,
            per_second: 1,
            burst: 1,
            code: 0x10,
        };
        assert_eq!(
            err.disconnect_reason(),
            Some(DisconnectReason::SubprotocolError)
        );
        assert!(err.to_string().contains("1 messages/s"));
        assert_eq!(
            RateLimitError::Conn(MemConnClosed).disconnect_reason(),
            None
        );
    }

    // --- RateLimitedConn over an in-memory connection, on a paused clock ---

    #[tokio::test(start_paused = true)]
    async fn delay_holds_next_message_for_refill_time_and_loses_nothing() {
        let (ours, mut theirs) = pair();
        let mut conn = RateLimitedConn::new(ours, messages_only(10, 5, RateLimitPolicy::Delay));
        for i in 0..8 {
            theirs.send(msg(0x10 + i, 3)).await.unwrap();
        }
        drop(theirs);
        let start = TokioInstant::now();
        let mut arrivals = Vec::new();
        while let Some(read) = conn.next().await {
            arrivals.push((read.unwrap().code, start.elapsed()));
        }
        let expected: Vec<_> = (0..8u64)
            .map(|i| {
                let at = if i < 5 {
                    Duration::ZERO
                } else {
                    (i - 4) as u32 * 100 * MS
                };
                (0x10 + i, at)
            })
            .collect();
        assert_eq!(arrivals, expected);
        assert!(!conn.is_delaying());
    }

    #[tokio::test(start_paused = true)]
    async fn delay_by_bytes_pays_for_a_large_message() {
        let (ours, mut theirs) = pair();
        let config = RateLimitConfig {
            messages: None,
            bytes: Some(Rate::new(1000, 1000)),
            policy: RateLimitPolicy::Delay,
        };
        let mut conn = RateLimitedConn::new(ours, config);
        theirs.send(msg(0x10, 1500)).await.unwrap();
        theirs.send(msg(0x11, 100)).await.unwrap();
        let start = TokioInstant::now();
        assert_eq!(conn.next().await.unwrap().unwrap().payload.len(), 1500);
        assert_eq!(start.elapsed(), Duration::ZERO);
        // 500 bytes of debt plus 100 bytes at 1000 bytes/s.
        assert_eq!(conn.next().await.unwrap().unwrap().code, 0x11);
        assert_eq!(start.elapsed(), 600 * MS);
    }

    #[tokio::test(start_paused = true)]
    async fn delay_does_not_hold_back_a_disconnect() {
        let (ours, mut theirs) = pair();
        let mut conn = RateLimitedConn::new(ours, messages_only(1, 1, RateLimitPolicy::Delay));
        theirs.send(msg(0x10, 1)).await.unwrap();
        theirs.send(msg(0x11, 1)).await.unwrap();
        theirs
            .send(DisconnectReason::TooManyPeers.to_msg())
            .await
            .unwrap();
        let start = TokioInstant::now();
        assert_eq!(conn.next().await.unwrap().unwrap().code, 0x10);
        // 0x11 waits for a token; the Disconnect behind it overtakes it.
        let disconnect = conn.next().await.unwrap().unwrap();
        assert_eq!(disconnect.code, DISCONNECT);
        assert_eq!(start.elapsed(), Duration::ZERO);
        assert!(conn.is_delaying());
        // The held message still comes when its wait is over; the debt the
        // Disconnect ran up is paid by the next message.
        assert_eq!(conn.next().await.unwrap().unwrap().code, 0x11);
        assert_eq!(start.elapsed(), Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn delay_limits_ping_like_other_messages() {
        let (ours, mut theirs) = pair();
        let mut conn = RateLimitedConn::new(ours, messages_only(10, 1, RateLimitPolicy::Delay));
        theirs.send(ping_msg()).await.unwrap();
        theirs.send(ping_msg()).await.unwrap();
        let start = TokioInstant::now();
        assert_eq!(conn.next().await.unwrap().unwrap().code, PING);
        assert_eq!(conn.next().await.unwrap().unwrap().code, PING);
        assert_eq!(start.elapsed(), 100 * MS);
    }

    #[tokio::test(start_paused = true)]
    async fn delay_stops_reading_while_waiting() {
        let (ours, mut theirs) = pair();
        let mut conn = RateLimitedConn::new(ours, messages_only(1, 1, RateLimitPolicy::Delay));
        for i in 0..4 {
            theirs.send(msg(0x10 + i, 1)).await.unwrap();
        }
        assert_eq!(conn.next().await.unwrap().unwrap().code, 0x10);
        // Poll once without letting time pass: 0x11 is held, 0x12 read
        // ahead, 0x13 left in the connection.
        assert!(futures::poll!(conn.next()).is_pending());
        assert!(conn.is_delaying());
        assert_eq!(conn.get_mut().next().await.unwrap().unwrap().code, 0x13);
        assert_eq!(conn.next().await.unwrap().unwrap().code, 0x11);
        assert_eq!(conn.next().await.unwrap().unwrap().code, 0x12);
    }

    #[tokio::test(start_paused = true)]
    async fn disconnect_policy_fails_the_read_then_ends() {
        let (ours, mut theirs) = pair();
        let mut conn =
            RateLimitedConn::new(ours, messages_only(10, 2, RateLimitPolicy::Disconnect));
        for i in 0..4 {
            theirs.send(msg(0x10 + i, 1)).await.unwrap();
        }
        assert_eq!(conn.next().await.unwrap().unwrap().code, 0x10);
        assert_eq!(conn.next().await.unwrap().unwrap().code, 0x11);
        let err = conn.next().await.unwrap().unwrap_err();
        assert!(matches!(
            err,
            RateLimitError::RateExceeded {
                kind: LimitKind::Messages,
                per_second: 10,
                burst: 2,
                code: 0x12,
            }
        ));
        assert_eq!(err.disconnect_reason(), Some(RATE_EXCEEDED_REASON));
        assert!(conn.next().await.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn disconnect_policy_passes_a_disconnect_over_the_limit() {
        let (ours, mut theirs) = pair();
        let mut conn = RateLimitedConn::new(
            ours,
            RateLimitConfig {
                messages: Some(Rate::new(1, 1)),
                bytes: Some(Rate::new(1, 1)),
                policy: RateLimitPolicy::Disconnect,
            },
        );
        theirs.send(msg(0x10, 0)).await.unwrap();
        theirs
            .send(DisconnectReason::ClientQuitting.to_msg())
            .await
            .unwrap();
        assert_eq!(conn.next().await.unwrap().unwrap().code, 0x10);
        assert_eq!(conn.next().await.unwrap().unwrap().code, DISCONNECT);
    }

    #[tokio::test(start_paused = true)]
    async fn disconnect_policy_reports_the_bytes_limit() {
        let (ours, mut theirs) = pair();
        let config = RateLimitConfig {
            messages: Some(Rate::new(100, 100)),
            bytes: Some(Rate::new(100, 200)),
            policy: RateLimitPolicy::Disconnect,
        };
        let mut conn = RateLimitedConn::new(ours, config);
        theirs.send(msg(0x10, 150)).await.unwrap();
        theirs.send(msg(0x11, 100)).await.unwrap();
        assert!(conn.next().await.unwrap().is_ok());
        let err = conn.next().await.unwrap().unwrap_err();
        assert!(matches!(
            err,
            RateLimitError::RateExceeded {
                kind: LimitKind::Bytes,
                code: 0x11,
                ..
            }
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn outbound_is_not_limited() {
        let (ours, mut theirs) = pair();
        let mut conn = RateLimitedConn::new(
            ours,
            RateLimitConfig {
                messages: Some(Rate::new(1, 1)),
                bytes: Some(Rate::new(1, 1)),
                policy: RateLimitPolicy::Disconnect,
            },
        );
        let start = TokioInstant::now();
        for i in 0..20 {
            conn.send(msg(0x10 + i, 100)).await.unwrap();
        }
        for i in 0..20 {
            assert_eq!(theirs.next().await.unwrap().unwrap().code, 0x10 + i);
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
        // Sending spent no inbound tokens.
        theirs.send(msg(0x10, 1)).await.unwrap();
        assert!(conn.next().await.unwrap().is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn connection_errors_and_end_pass_through() {
        let (ours, theirs) = pair();
        let mut conn = RateLimitedConn::new(ours, RateLimitConfig::default());
        drop(theirs);
        assert!(conn.next().await.is_none());
        assert!(conn.next().await.is_none());
        assert!(matches!(
            conn.send(ping_msg()).await,
            Err(RateLimitError::Conn(MemConnClosed))
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn layer_wraps_the_authenticated_connection() {
        let (ours, mut theirs) = pair();
        let remote_id = ours.remote_id();
        let mut ours = Some(ours);
        let setup = ServiceBuilder::new()
            .layer(RateLimitLayer::new(messages_only(
                1,
                1,
                RateLimitPolicy::Disconnect,
            )))
            .service_fn(move |c: Connecting<()>| {
                let conn = ours.take().expect("called once");
                async move {
                    let mut guards = ConnGuards::default();
                    guards.push(());
                    Ok::<_, Infallible>(Authenticated {
                        conn,
                        remote_addr: c.remote_addr,
                        direction: c.direction,
                        guards,
                    })
                }
            });
        let remote = "192.0.2.1:30303".parse().unwrap();
        let mut auth = setup
            .oneshot(Connecting::inbound((), remote))
            .await
            .unwrap();
        assert_eq!(auth.remote_addr, remote);
        assert_eq!(auth.direction, Direction::Inbound);
        assert_eq!(auth.guards.len(), 1);
        assert_eq!(auth.conn.remote_id(), remote_id);
        theirs.send(msg(0x10, 1)).await.unwrap();
        theirs.send(msg(0x10, 1)).await.unwrap();
        assert!(auth.conn.next().await.unwrap().is_ok());
        assert!(auth.conn.next().await.unwrap().is_err());
    }
}
