//! The inbound throttle: at most one inbound connection attempt per remote IP
//! per window (30 s, go-ethereum's `inboundThrottleTime`).
//!
//! A remote that reconnects in a loop costs us a handshake (an ECDH and a
//! signature recovery) each time; the throttle turns it away before a byte is
//! read. As in go-ethereum, the attempt is recorded whether or not the
//! connection then succeeds, a refused attempt does not extend the window, and
//! outbound connections are never throttled (we chose to dial them). Loopback
//! and LAN addresses are exempt by default, so local clusters and tests can
//! reconnect freely.
//!
//! [`InboundHistory`] is the pure state, driven by an explicit clock;
//! [`InboundThrottleLayer`] applies it to a setup pipeline, refusing with
//! [`FilterError::Refused`]`(`[`Refused::Throttled`]`)`, the same error as the
//! peer filter's so the two stack (see [`FilterError::flatten`]).
//!
//! ```
//! use std::convert::Infallible;
//! use p2p_core::layers::filter::{FilterError, PeerFilterConfig, PeerFilterLayer};
//! use p2p_core::layers::throttle::{InboundThrottleLayer, ThrottleConfig};
//! use p2p_core::Connecting;
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // The filter first: an address netrestrict refuses takes no room in the
//! // throttle's history.
//! let setup = ServiceBuilder::new()
//!     .map_err(FilterError::flatten)
//!     .layer(PeerFilterLayer::new(PeerFilterConfig::default()))
//!     .layer(InboundThrottleLayer::new(ThrottleConfig::default()))
//!     .service_fn(|conn: Connecting<()>| async move { Ok::<_, Infallible>(conn.remote_addr) });
//!
//! let remote = "203.0.113.7:30303".parse().unwrap();
//! assert!(setup.clone().oneshot(Connecting::inbound((), remote)).await.is_ok());
//! let err = setup.oneshot(Connecting::inbound((), remote)).await.unwrap_err();
//! assert!(err.refused().is_some());
//! # }
//! ```

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tower::{Layer, Service};

use crate::layers::filter::{FilterError, Refused, ResponseFuture};
use crate::pipeline::{Connecting, Direction};

/// How long an inbound attempt from one IP blocks the next: go-ethereum's
/// `inboundThrottleTime`.
pub const INBOUND_THROTTLE_TIME: Duration = Duration::from_secs(30);

/// Default cap on the number of IPs the throttle remembers.
///
/// At the default window this allows a sustained 333 new IPs per second
/// before anything is forgotten, far more than honest inbound traffic (which
/// the pending-handshake limit caps anyway), at well under a megabyte. Past the
/// cap the oldest entries, the ones closest to expiring anyway, are forgotten
/// first: memory stays bounded under a flood of distinct addresses, at the
/// cost of letting the oldest of them retry a little early.
pub const DEFAULT_MAX_TRACKED: usize = 10_000;

/// Configuration of the inbound throttle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ThrottleConfig {
    /// How long an attempt blocks the next one from the same IP. Default
    /// [`INBOUND_THROTTLE_TIME`]; zero disables the throttle.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// Whether loopback addresses (127.0.0.0/8, ::1) are exempt. Default on:
    /// tests and local simulations reconnect on 127.0.0.1 constantly.
    pub exempt_loopback: bool,
    /// Whether LAN addresses ([`is_lan`]) are exempt. Default on, as in
    /// go-ethereum: a private network is not where connection floods come from,
    /// and private clusters restart nodes often.
    pub exempt_lan: bool,
    /// The most IPs remembered at once; the minimum is 1. Default
    /// [`DEFAULT_MAX_TRACKED`].
    pub max_tracked: usize,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig {
            window: INBOUND_THROTTLE_TIME,
            exempt_loopback: true,
            exempt_lan: true,
            max_tracked: DEFAULT_MAX_TRACKED,
        }
    }
}

/// Whether `ip` is in a private or link-local range: 10.0.0.0/8,
/// 172.16.0.0/12, 192.168.0.0/16, 169.254.0.0/16, fc00::/7 or fe80::/10.
/// Loopback is not included (see [`ThrottleConfig::exempt_loopback`]).
/// IPv4-mapped IPv6 addresses are judged as IPv4.
pub fn is_lan(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.is_private() || v4.is_link_local(),
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            // fc00::/7 (unique local) and fe80::/10 (link-local unicast).
            first & 0xfe00 == 0xfc00 || first & 0xffc0 == 0xfe80
        }
    }
}

/// Recent inbound attempts per IP: the throttle's state, with the clock passed
/// in so that it can be tested without waiting.
///
/// Every window is the same length, so expiry order is insertion order: a
/// queue gives the pruning order and a map the lookups. `now` is expected not
/// to go backwards (it is monotonic in the service); if it does, pruning only
/// becomes lazier.
#[derive(Clone, Debug)]
pub struct InboundHistory {
    config: ThrottleConfig,
    /// The expiry of each remembered IP's window.
    expiries: HashMap<IpAddr, Instant>,
    /// `(expiry, ip)` in insertion order. Each map entry has one queue entry
    /// with the same expiry; the queue may also hold stale ones, recognised by
    /// an expiry differing from the map's.
    order: VecDeque<(Instant, IpAddr)>,
}

impl InboundHistory {
    /// An empty history.
    pub fn new(config: ThrottleConfig) -> Self {
        InboundHistory {
            config,
            expiries: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// Its configuration.
    pub fn config(&self) -> &ThrottleConfig {
        &self.config
    }

    /// Whether `ip` is never throttled (loopback or LAN, as configured).
    pub fn is_exempt(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        (self.config.exempt_loopback && ip.is_loopback()) || (self.config.exempt_lan && is_lan(ip))
    }

    /// Records an inbound attempt from `ip` at `now` and tells whether it may
    /// proceed: `false` if the same IP was admitted less than a window ago.
    /// A refused attempt is not recorded, so it does not extend the window.
    pub fn check(&mut self, ip: IpAddr, now: Instant) -> bool {
        let ip = ip.to_canonical();
        if self.is_exempt(ip) {
            return true;
        }
        self.prune(now);
        if let Some(&expiry) = self.expiries.get(&ip) {
            if expiry > now {
                return false;
            }
            // Expired but not yet pruned (the clock went backwards earlier):
            // forget it; its queue entry is now stale.
            self.expiries.remove(&ip);
        }
        let Some(expiry) = now.checked_add(self.config.window) else {
            // A window too long to represent: unreachable with sane
            // configuration; admit rather than panic.
            return true;
        };
        if expiry <= now {
            // Zero window: the throttle is off, remember nothing.
            return true;
        }
        // Make room: the queue is never shorter than the map, so bounding it
        // bounds both.
        while self.order.len() >= self.config.max_tracked.max(1) {
            self.pop_oldest();
        }
        self.expiries.insert(ip, expiry);
        self.order.push_back((expiry, ip));
        true
    }

    /// Forgets every attempt whose window has passed at `now`. [`check`]
    /// does this itself.
    ///
    /// [`check`]: InboundHistory::check
    pub fn prune(&mut self, now: Instant) {
        while self.order.front().is_some_and(|&(expiry, _)| expiry <= now) {
            self.pop_oldest();
        }
    }

    /// How many IPs are remembered.
    pub fn len(&self) -> usize {
        self.expiries.len()
    }

    /// Whether no IP is remembered.
    pub fn is_empty(&self) -> bool {
        self.expiries.is_empty()
    }

    fn pop_oldest(&mut self) {
        if let Some((expiry, ip)) = self.order.pop_front() {
            // Only the entry's own queue element removes it, not a stale one.
            if self.expiries.get(&ip) == Some(&expiry) {
                self.expiries.remove(&ip);
            }
        }
    }
}

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

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tower::{ServiceBuilder, ServiceExt};

    use super::*;
    use crate::identity::NodeKey;
    use crate::layers::filter::{PeerFilterConfig, PeerFilterLayer, SubnetLimits};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn second_attempt_within_window_refused() {
        let t0 = Instant::now();
        let mut history = InboundHistory::new(ThrottleConfig::default());
        assert!(history.check(ip("8.8.8.8"), t0));
        assert!(!history.check(ip("8.8.8.8"), t0 + SECOND));
        assert!(!history.check(ip("8.8.8.8"), t0 + INBOUND_THROTTLE_TIME - SECOND));
        assert!(history.check(ip("8.8.8.8"), t0 + INBOUND_THROTTLE_TIME));
    }

    #[test]
    fn refused_attempt_does_not_extend_window() {
        let t0 = Instant::now();
        let mut history = InboundHistory::new(ThrottleConfig::default());
        assert!(history.check(ip("8.8.8.8"), t0));
        assert!(!history.check(ip("8.8.8.8"), t0 + 29 * SECOND));
        assert!(history.check(ip("8.8.8.8"), t0 + 30 * SECOND));
        // The admitted attempt at 30 s opened a new window.
        assert!(!history.check(ip("8.8.8.8"), t0 + 59 * SECOND));
    }

    #[test]
    fn distinct_ips_are_independent() {
        let t0 = Instant::now();
        let mut history = InboundHistory::new(ThrottleConfig::default());
        assert!(history.check(ip("8.8.8.8"), t0));
        assert!(history.check(ip("8.8.8.9"), t0));
        assert!(history.check(ip("2001:db8::1"), t0));
        assert!(history.check(ip("2001:db8::2"), t0));
        assert!(!history.check(ip("2001:db8::1"), t0));
        assert_eq!(history.len(), 4);
    }

    #[test]
    fn ipv4_mapped_shares_entry_with_ipv4() {
        let t0 = Instant::now();
        let mut history = InboundHistory::new(ThrottleConfig::default());
        assert!(history.check(ip("::ffff:8.8.8.8"), t0));
        assert!(!history.check(ip("8.8.8.8"), t0 + SECOND));
        assert!(history.check(ip("9.9.9.9"), t0));
        assert!(!history.check(ip("::ffff:9.9.9.9"), t0 + SECOND));
        assert_eq!(history.len(), 2);
    }

    #[test]
    fn loopback_and_lan_exempt_by_default() {
        let t0 = Instant::now();
        let mut history = InboundHistory::new(ThrottleConfig::default());
        for s in [
            "127.0.0.1",
            "::1",
            "::ffff:127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.10.10",
            "fd00::1",
            "fc12::1",
            "fe80::1",
            "::ffff:192.168.0.1",
        ] {
            for i in 0..3 {
                assert!(history.check(ip(s), t0 + i * SECOND), "{s}");
            }
        }
        assert!(history.is_empty());
    }

    #[test]
    fn exemptions_can_be_turned_off() {
        let t0 = Instant::now();
        let mut history = InboundHistory::new(ThrottleConfig {
            exempt_lan: false,
            ..ThrottleConfig::default()
        });
        assert!(history.check(ip("192.168.1.1"), t0));
        assert!(!history.check(ip("192.168.1.1"), t0));
        assert!(history.check(ip("127.0.0.1"), t0));
        assert!(history.check(ip("127.0.0.1"), t0));

        let mut history = InboundHistory::new(ThrottleConfig {
            exempt_loopback: false,
            ..ThrottleConfig::default()
        });
        assert!(history.check(ip("::1"), t0));
        assert!(!history.check(ip("::1"), t0));
        assert!(history.check(ip("10.0.0.1"), t0));
        assert!(history.check(ip("10.0.0.1"), t0));
    }

    #[test]
    fn is_lan_ranges() {
        for s in [
            "10.0.0.0",
            "10.255.255.255",
            "172.16.0.0",
            "172.31.255.255",
            "192.168.0.0",
            "169.254.0.1",
            "fc00::",
            "fdff:ffff::1",
            "fe80::",
            "febf:ffff::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_lan(ip(s)), "{s}");
        }
        for s in [
            "9.255.255.255",
            "11.0.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.169.0.0",
            "127.0.0.1",
            "8.8.8.8",
            "fbff::1",
            "fec0::1",
            "::1",
            "2001:db8::1",
            "::ffff:8.8.8.8",
        ] {
            assert!(!is_lan(ip(s)), "{s}");
        }
    }

    #[test]
    fn expired_entries_are_pruned() {
        let t0 = Instant::now();
        let mut history = InboundHistory::new(ThrottleConfig::default());
        for i in 0..100u8 {
            assert!(history.check(IpAddr::from([1, 1, 1, i]), t0 + u32::from(i) * SECOND / 10));
        }
        assert_eq!(history.len(), 100);
        // At t0 + 35 s the windows of the attempts up to t0 + 5 s (the first
        // 51) have passed.
        history.prune(t0 + 35 * SECOND);
        assert_eq!(history.len(), 49);
        // A check prunes too.
        assert!(history.check(ip("2.2.2.2"), t0 + 60 * SECOND));
        assert_eq!(history.len(), 1);
        assert_eq!(history.order.len(), 1);
    }

    #[test]
    fn cap_forgets_oldest_first() {
        let t0 = Instant::now();
        let mut history = InboundHistory::new(ThrottleConfig {
            max_tracked: 3,
            ..ThrottleConfig::default()
        });
        for i in 1..=5u8 {
            assert!(history.check(IpAddr::from([1, 1, 1, i]), t0));
            assert!(history.len() <= 3);
        }
        assert_eq!(history.len(), 3);
        // 1.1.1.1 and 1.1.1.2 were forgotten; the newest three are remembered.
        assert!(history.check(ip("1.1.1.1"), t0 + SECOND));
        assert!(!history.check(ip("1.1.1.5"), t0 + SECOND));
        assert!(!history.check(ip("1.1.1.4"), t0 + SECOND));
        assert_eq!(history.len(), 3);
    }

    #[test]
    fn zero_window_disables() {
        let t0 = Instant::now();
        let mut history = InboundHistory::new(ThrottleConfig {
            window: Duration::ZERO,
            ..ThrottleConfig::default()
        });
        assert!(history.check(ip("8.8.8.8"), t0));
        assert!(history.check(ip("8.8.8.8"), t0));
        assert!(history.is_empty());
    }

    #[test]
    fn clock_going_backwards_stays_consistent() {
        let t0 = Instant::now() + 100 * SECOND;
        let mut history = InboundHistory::new(ThrottleConfig::default());
        assert!(history.check(ip("8.8.8.8"), t0));
        // An entry stored with an earlier time sits behind a later one.
        assert!(history.check(ip("9.9.9.9"), t0 - 50 * SECOND));
        // 9.9.9.9 expired at t0 - 20 s but is stuck behind 8.8.8.8: still
        // admitted, and the stale queue element is harmless.
        assert!(history.check(ip("9.9.9.9"), t0));
        assert!(!history.check(ip("9.9.9.9"), t0 + SECOND));
        history.prune(t0 + 31 * SECOND);
        assert!(history.is_empty());
        assert!(history.order.is_empty());
    }

    #[test]
    fn config_toml_defaults_and_durations() {
        let config: ThrottleConfig = toml::from_str("").unwrap();
        assert_eq!(config, ThrottleConfig::default());
        let config: ThrottleConfig =
            toml::from_str("window = \"1m\"\nexempt_lan = false\n").unwrap();
        assert_eq!(config.window, Duration::from_secs(60));
        assert!(!config.exempt_lan);
        assert!(config.exempt_loopback);
    }

    /// A throttle over an inner service that counts its calls.
    #[allow(clippy::type_complexity)]
    fn throttled(
        config: ThrottleConfig,
    ) -> (
        Arc<AtomicUsize>,
        InboundThrottle<
            impl Service<Connecting<()>, Response = SocketAddr, Error = Infallible, Future: Send>
                + Clone,
        >,
    ) {
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&calls);
        let service = InboundThrottle::new(
            tower::service_fn(move |conn: Connecting<()>| {
                seen.fetch_add(1, Ordering::SeqCst);
                async move { Ok::<_, Infallible>(conn.remote_addr) }
            }),
            config,
        );
        (calls, service)
    }

    #[tokio::test(start_paused = true)]
    async fn service_refused_inbound_never_reaches_inner() {
        let (calls, service) = throttled(ThrottleConfig::default());
        let remote = addr("203.0.113.9:30303");
        assert_eq!(
            service
                .clone()
                .oneshot(Connecting::inbound((), remote))
                .await
                .unwrap(),
            remote
        );
        // A clone shares the history; another port is the same IP.
        let err = service
            .clone()
            .oneshot(Connecting::inbound((), addr("203.0.113.9:40404")))
            .await
            .unwrap_err();
        assert_eq!(
            err.refused(),
            Some(&Refused::Throttled {
                ip: ip("203.0.113.9")
            })
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        tokio::time::advance(INBOUND_THROTTLE_TIME).await;
        assert!(service
            .clone()
            .oneshot(Connecting::inbound((), remote))
            .await
            .is_ok());
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert_eq!(service.tracked(), 1);
    }

    #[tokio::test]
    async fn service_outbound_passes() {
        let (calls, service) = throttled(ThrottleConfig::default());
        let remote = addr("203.0.113.9:30303");
        for _ in 0..3 {
            let dial = Connecting::outbound((), remote, NodeKey::random().id());
            assert!(service.clone().oneshot(dial).await.is_ok());
        }
        assert_eq!(service.tracked(), 0);
        // Dialing someone does not use up their inbound attempt either.
        assert!(service
            .clone()
            .oneshot(Connecting::inbound((), remote))
            .await
            .is_ok());
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn service_ipv4_mapped_remote_throttled_as_ipv4() {
        let (calls, service) = throttled(ThrottleConfig::default());
        assert!(service
            .clone()
            .oneshot(Connecting::inbound((), addr("[::ffff:8.8.4.4]:1")))
            .await
            .is_ok());
        let err = service
            .clone()
            .oneshot(Connecting::inbound((), addr("8.8.4.4:2")))
            .await
            .unwrap_err();
        assert_eq!(
            err.refused(),
            Some(&Refused::Throttled { ip: ip("8.8.4.4") })
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn service_loopback_and_lan_exempt() {
        let (calls, service) = throttled(ThrottleConfig::default());
        for remote in ["127.0.0.1:1", "[::1]:1", "192.168.0.10:1", "[fe80::1]:1"] {
            for _ in 0..3 {
                assert!(service
                    .clone()
                    .oneshot(Connecting::inbound((), addr(remote)))
                    .await
                    .is_ok());
            }
        }
        assert_eq!(calls.load(Ordering::SeqCst), 12);
        assert_eq!(service.tracked(), 0);
    }

    #[tokio::test]
    async fn service_stacks_with_peer_filter() {
        let filter = PeerFilterLayer::new(PeerFilterConfig {
            netrestrict: "203.0.113.0/24".parse().unwrap(),
            subnets: SubnetLimits {
                max_per_ipv4_24: 1,
                ..SubnetLimits::default()
            },
        });
        let throttle = InboundThrottleLayer::new(ThrottleConfig::default());
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&calls);
        let setup = ServiceBuilder::new()
            .map_err(FilterError::flatten)
            .layer(filter.clone())
            .layer(throttle)
            .service_fn(move |conn: Connecting<()>| {
                seen.fetch_add(1, Ordering::SeqCst);
                async move { Ok::<_, Infallible>(conn) }
            });

        let first = setup
            .clone()
            .oneshot(Connecting::inbound((), addr("203.0.113.1:1")))
            .await
            .unwrap();
        assert_eq!(first.guards.len(), 1);
        drop(first);
        // The subnet slot is free again, but the throttle remembers the IP.
        let err = setup
            .clone()
            .oneshot(Connecting::inbound((), addr("203.0.113.1:2")))
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            FilterError::Refused(Refused::Throttled { .. })
        ));
        // The throttled attempt's subnet slot was released with it.
        assert_eq!(filter.counter().occupied_subnets(), 0);
        let err = setup
            .clone()
            .oneshot(Connecting::inbound((), addr("198.51.100.1:1")))
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            FilterError::Refused(Refused::NetRestrict { .. })
        ));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
