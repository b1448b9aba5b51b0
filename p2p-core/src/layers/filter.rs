//! The peer filter: which remote addresses may hold a connection at all.
//!
//! Two checks run before a byte of a connection is read, in both directions:
//!
//! - **netrestrict** ([`NetRestrict`]): when a list of networks is configured,
//!   only addresses inside it are admitted (go-ethereum's `--netrestrict`).
//! - **subnet limits** ([`SubnetCounter`]): at most N live connections per
//!   IPv4 /24 and M per IPv6 /64, so that one operator (one hosting block, one
//!   subscriber's network) cannot fill our peer slots cheaply, which is the
//!   first step of an eclipse attack.
//!
//! IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`, what a dual-stack socket
//! reports for an IPv4 peer) are treated as the IPv4 address they carry
//! everywhere, so the same peer cannot dodge a rule by changing the socket
//! family.
//!
//! [`PeerFilterLayer`] applies both checks to a setup pipeline; a refusal is
//! [`FilterError::Refused`], anything the wrapped service fails with is
//! [`FilterError::Inner`]. The inbound throttle
//! ([`crate::layers::throttle`]) reports refusals with the same types.
//!
//! ```
//! use std::convert::Infallible;
//! use p2p_core::layers::filter::{PeerFilterConfig, PeerFilterLayer, FilterError, Refused};
//! use p2p_core::Connecting;
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let config = PeerFilterConfig {
//!     netrestrict: "10.0.0.0/8".parse().unwrap(),
//!     ..PeerFilterConfig::default()
//! };
//! let setup = ServiceBuilder::new()
//!     .layer(PeerFilterLayer::new(config))
//!     .service_fn(|conn: Connecting<()>| async move { Ok::<_, Infallible>(conn.remote_addr) });
//!
//! let outside = Connecting::inbound((), "192.0.2.1:30303".parse().unwrap());
//! let err = setup.clone().oneshot(outside).await.unwrap_err();
//! assert!(matches!(err, FilterError::Refused(Refused::NetRestrict { .. })));
//!
//! let inside = Connecting::inbound((), "10.1.2.3:30303".parse().unwrap());
//! assert!(setup.oneshot(inside).await.is_ok());
//! # }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use pin_project::pin_project;
use serde::{Deserialize, Serialize};
use tower::{Layer, Service};

use crate::pipeline::Connecting;

/// Why a layer of the setup pipeline refused a connection.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The address is outside every network of the configured netrestrict list.
    #[error("{ip} is outside the networks allowed by netrestrict")]
    NetRestrict {
        /// The remote address (IPv4-mapped addresses as IPv4).
        ip: IpAddr,
    },
    /// The remote's subnet already holds as many connections as allowed.
    #[error("subnet {subnet} already holds its limit of {limit} connections")]
    SubnetFull {
        /// The /24 or /64 the remote belongs to.
        subnet: IpNet,
        /// The configured limit for that subnet.
        limit: usize,
    },
    /// The remote already tried to connect within the inbound throttle window.
    #[error("{ip} tried to connect again within the inbound throttle window")]
    Throttled {
        /// The remote address (IPv4-mapped addresses as IPv4).
        ip: IpAddr,
    },
}

/// The error of a filtering layer: either the layer refused the connection
/// (and the wrapped service never saw it), or the wrapped service failed.
///
/// A wrapper enum rather than a `From<Refused>` bound on the inner error, so
/// that any service can be filtered unchanged and the caller can tell a cheap
/// policy refusal (nothing to log loudly, no Disconnect to send: not a byte was
/// exchanged) from a real failure further down. Stacking two filtering layers
/// nests the type; [`FilterError::flatten`] undoes that.
#[derive(Debug, thiserror::Error)]
pub enum FilterError<E> {
    /// The layer refused the connection before the wrapped service saw it.
    // Not `#[source]`: the reason is already in the message, and error-chain
    // printers would otherwise repeat it.
    #[error("connection refused: {0}")]
    Refused(Refused),
    /// The wrapped service failed.
    #[error(transparent)]
    Inner(E),
}

impl<E> FilterError<E> {
    /// The refusal, if this is one.
    pub fn refused(&self) -> Option<&Refused> {
        match self {
            FilterError::Refused(reason) => Some(reason),
            FilterError::Inner(_) => None,
        }
    }

    /// The wrapped service's error, if this is one.
    pub fn into_inner(self) -> Option<E> {
        match self {
            FilterError::Refused(_) => None,
            FilterError::Inner(err) => Some(err),
        }
    }
}

impl<E> FilterError<FilterError<E>> {
    /// Merges the errors of two stacked filtering layers into one level, e.g.
    /// `ServiceBuilder::new().map_err(FilterError::flatten).layer(filter).layer(throttle)`.
    pub fn flatten(self) -> FilterError<E> {
        match self {
            FilterError::Refused(reason) | FilterError::Inner(FilterError::Refused(reason)) => {
                FilterError::Refused(reason)
            }
            FilterError::Inner(FilterError::Inner(err)) => FilterError::Inner(err),
        }
    }
}

impl<E> From<Refused> for FilterError<E> {
    fn from(reason: Refused) -> Self {
        FilterError::Refused(reason)
    }
}

/// The future of a filtering layer: an immediate refusal, or the wrapped
/// service's future with its error wrapped in [`FilterError::Inner`].
#[pin_project]
#[derive(Debug)]
pub struct ResponseFuture<F> {
    #[pin]
    state: State<F>,
}

#[pin_project(project = StateProj)]
#[derive(Debug)]
enum State<F> {
    // An `Option` so the reason can be moved out on the one poll that
    // completes the future.
    Refused(Option<Refused>),
    Inner(#[pin] F),
}

impl<F> ResponseFuture<F> {
    /// A future that fails at once with `reason`.
    pub fn refused(reason: Refused) -> Self {
        ResponseFuture {
            state: State::Refused(Some(reason)),
        }
    }

    /// A future that resolves as `future` does.
    pub fn inner(future: F) -> Self {
        ResponseFuture {
            state: State::Inner(future),
        }
    }
}

impl<F, T, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<T, FilterError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Refused(reason) => Poll::Ready(Err(FilterError::Refused(
                reason
                    .take()
                    .expect("ResponseFuture polled after completion"),
            ))),
            StateProj::Inner(future) => future.poll(cx).map_err(FilterError::Inner),
        }
    }
}

/// A list of networks outside which no peer is admitted (go-ethereum's
/// `--netrestrict`).
///
/// The empty list means "no restriction", as an unset netrestrict does in
/// go-ethereum: it is what the default configuration holds, and a node that
/// wants no peers at all is better served by not listening or dialing. IPv4
/// networks must be written in IPv4 notation; an IPv4-mapped IPv6 remote is
/// matched as the IPv4 address it carries.
///
/// Serialized as a list of CIDR strings; parsed from a comma-separated list
/// (`"10.0.0.0/8, 192.168.0.0/16"`, whitespace and empty items ignored).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NetRestrict(Vec<IpNet>);

impl NetRestrict {
    /// A restriction to `nets`; an empty list restricts nothing.
    pub fn new(nets: impl IntoIterator<Item = IpNet>) -> Self {
        nets.into_iter().collect()
    }

    /// The admitted networks.
    pub fn nets(&self) -> &[IpNet] {
        &self.0
    }

    /// Whether no restriction is configured (every address is admitted).
    pub fn is_unrestricted(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `ip` may connect: always when the list is empty, otherwise
    /// when a listed network contains it.
    pub fn allows(&self, ip: IpAddr) -> bool {
        if self.0.is_empty() {
            return true;
        }
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }
}

impl FromIterator<IpNet> for NetRestrict {
    fn from_iter<I: IntoIterator<Item = IpNet>>(iter: I) -> Self {
        NetRestrict(iter.into_iter().collect())
    }
}

impl FromStr for NetRestrict {
    type Err = ipnet::AddrParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::parse::<IpNet>)
            .collect()
    }
}

impl fmt::Display for NetRestrict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, net) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{net}")?;
        }
        Ok(())
    }
}

/// The prefix length of the IPv4 subnets whose connections are counted.
pub const IPV4_SUBNET_PREFIX: u8 = 24;
/// The prefix length of the IPv6 subnets whose connections are counted.
pub const IPV6_SUBNET_PREFIX: u8 = 64;

/// Default connections per IPv4 /24.
///
/// Five is a tenth of go-ethereum's default of 50 peers: whoever controls one
/// /24 (a hosting block, a NAT pool) gets at most that share, so filling every
/// slot takes ten distinct /24s, while several independent nodes in one data
/// centre block are still all reachable.
pub const DEFAULT_MAX_PER_IPV4_SUBNET: usize = 5;

/// Default connections per IPv6 /64.
///
/// A /64 is the smallest network an ISP or cloud hands out, so it stands for
/// one subscriber, as a single IPv4 address would; the same share as for an
/// IPv4 /24 keeps one host with a whole /64 of addresses from taking more
/// than a tenth of the default 50 slots. It does not stop a holder of a /48,
/// which contains 65,536 /64s; nothing cheap does.
pub const DEFAULT_MAX_PER_IPV6_SUBNET: usize = 5;

/// The subnet whose connection count `ip` belongs to: its IPv4 /24, or its
/// IPv6 /64. IPv4-mapped IPv6 addresses map to their IPv4 /24.
pub fn subnet_of(ip: IpAddr) -> IpNet {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpNet::V4(Ipv4Net::new_assert(v4, IPV4_SUBNET_PREFIX).trunc()),
        IpAddr::V6(v6) => IpNet::V6(Ipv6Net::new_assert(v6, IPV6_SUBNET_PREFIX).trunc()),
    }
}

/// How many live connections one subnet may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SubnetLimits {
    /// Connections per IPv4 /24; 0 means unlimited. Default
    /// [`DEFAULT_MAX_PER_IPV4_SUBNET`].
    pub max_per_ipv4_24: usize,
    /// Connections per IPv6 /64; 0 means unlimited. Default
    /// [`DEFAULT_MAX_PER_IPV6_SUBNET`].
    pub max_per_ipv6_64: usize,
    /// Whether loopback addresses (127.0.0.0/8, ::1) are exempt, on by
    /// default: local tests and in-process simulations run many peers on
    /// 127.0.0.1, and a loopback peer is one we started ourselves.
    pub exempt_loopback: bool,
}

impl Default for SubnetLimits {
    fn default() -> Self {
        SubnetLimits {
            max_per_ipv4_24: DEFAULT_MAX_PER_IPV4_SUBNET,
            max_per_ipv6_64: DEFAULT_MAX_PER_IPV6_SUBNET,
            exempt_loopback: true,
        }
    }
}

impl SubnetLimits {
    /// No limit on any subnet.
    pub const UNLIMITED: SubnetLimits = SubnetLimits {
        max_per_ipv4_24: 0,
        max_per_ipv6_64: 0,
        exempt_loopback: true,
    };

    /// The limit that applies to `ip` (already canonical), or `None` when its
    /// connections are not counted at all.
    fn limit_for(&self, ip: IpAddr) -> Option<usize> {
        if self.exempt_loopback && ip.is_loopback() {
            return None;
        }
        let limit = match ip {
            IpAddr::V4(_) => self.max_per_ipv4_24,
            IpAddr::V6(_) => self.max_per_ipv6_64,
        };
        (limit > 0).then_some(limit)
    }
}

type Counts = Arc<Mutex<HashMap<IpNet, usize>>>;

// The counts stay consistent whatever panicked while the lock was held (each
// critical section is one map update), so a poisoned lock is still usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Live connections per subnet, shared by every clone.
///
/// Only subnets with at least one live connection have an entry, so memory is
/// bounded by the number of connections. Inbound and outbound connections
/// count alike: build one counter (one [`PeerFilterLayer`]) and use it in
/// every pipeline of a server.
#[derive(Clone, Debug)]
pub struct SubnetCounter {
    limits: SubnetLimits,
    // A mutex rather than a task owning the counts: the critical section is
    // one hash-map update, and the slot's `Drop` must release synchronously.
    counts: Counts,
}

impl SubnetCounter {
    /// An empty counter enforcing `limits`.
    pub fn new(limits: SubnetLimits) -> Self {
        SubnetCounter {
            limits,
            counts: Arc::default(),
        }
    }

    /// The limits it enforces.
    pub fn limits(&self) -> SubnetLimits {
        self.limits
    }

    /// Reserves a slot in the subnet of `ip`, or `None` when the subnet is
    /// full. The slot is released when the returned guard is dropped.
    ///
    /// Addresses whose subnet is not limited (loopback when exempt, a limit of
    /// 0) always get a slot, one that counts nothing
    /// ([`SubnetSlot::subnet`] is `None`).
    pub fn try_acquire(&self, ip: IpAddr) -> Option<SubnetSlot> {
        let ip = ip.to_canonical();
        let Some(limit) = self.limits.limit_for(ip) else {
            return Some(SubnetSlot { held: None });
        };
        let subnet = subnet_of(ip);
        let mut counts = lock(&self.counts);
        let count = counts.entry(subnet).or_insert(0);
        if *count >= limit {
            // Leave no zero entry behind: only occupied subnets are stored.
            if *count == 0 {
                counts.remove(&subnet);
            }
            return None;
        }
        *count += 1;
        Some(SubnetSlot {
            held: Some((Arc::clone(&self.counts), subnet)),
        })
    }

    /// Live connections counted in the subnet of `ip`.
    pub fn in_use(&self, ip: IpAddr) -> usize {
        lock(&self.counts).get(&subnet_of(ip)).copied().unwrap_or(0)
    }

    /// How many subnets hold at least one counted connection.
    pub fn occupied_subnets(&self) -> usize {
        lock(&self.counts).len()
    }
}

/// A reserved place in a subnet's connection count, released on drop.
///
/// Pushed into [`ConnGuards`](crate::ConnGuards) so it lives exactly as long
/// as the connection.
pub struct SubnetSlot {
    held: Option<(Counts, IpNet)>,
}

impl SubnetSlot {
    /// The subnet the slot counts in; `None` for an uncounted address.
    pub fn subnet(&self) -> Option<IpNet> {
        self.held.as_ref().map(|(_, subnet)| *subnet)
    }
}

impl Drop for SubnetSlot {
    fn drop(&mut self) {
        let Some((counts, subnet)) = self.held.take() else {
            return;
        };
        let mut counts = lock(&counts);
        if let Some(count) = counts.get_mut(&subnet) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&subnet);
            }
        }
    }
}

impl fmt::Debug for SubnetSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubnetSlot")
            .field("subnet", &self.subnet())
            .finish()
    }
}

/// Configuration of the peer filter.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PeerFilterConfig {
    /// The networks peers must be in; empty (the default) admits all.
    pub netrestrict: NetRestrict,
    /// Connections per subnet.
    pub subnets: SubnetLimits,
}

/// Applies [`PeerFilter`] to a setup pipeline.
///
/// Clones, and every service the layer builds, share one [`SubnetCounter`].
#[derive(Clone, Debug)]
pub struct PeerFilterLayer {
    netrestrict: Arc<NetRestrict>,
    counter: SubnetCounter,
}

impl PeerFilterLayer {
    /// A layer with a fresh subnet counter.
    pub fn new(config: PeerFilterConfig) -> Self {
        PeerFilterLayer {
            netrestrict: Arc::new(config.netrestrict),
            counter: SubnetCounter::new(config.subnets),
        }
    }

    /// The shared subnet counter (for metrics, or to count connections made
    /// outside the pipeline).
    pub fn counter(&self) -> &SubnetCounter {
        &self.counter
    }
}

impl<S> Layer<S> for PeerFilterLayer {
    type Service = PeerFilter<S>;

    fn layer(&self, inner: S) -> PeerFilter<S> {
        PeerFilter {
            inner,
            netrestrict: Arc::clone(&self.netrestrict),
            counter: self.counter.clone(),
        }
    }
}

/// Refuses connections outside the netrestrict list or from a full subnet
/// before the wrapped service reads a byte; admitted connections carry their
/// [`SubnetSlot`] in [`Connecting::guards`].
///
/// `poll_ready` is the wrapped service's. A refusal does not use the readiness
/// it obtained; tower keeps it for the next call, so nothing leaks (a
/// `ConcurrencyLimit` permit, say, serves the next connection).
#[derive(Clone, Debug)]
pub struct PeerFilter<S> {
    inner: S,
    netrestrict: Arc<NetRestrict>,
    counter: SubnetCounter,
}

impl<S> PeerFilter<S> {
    /// Wraps `inner` with a fresh subnet counter.
    pub fn new(inner: S, config: PeerFilterConfig) -> Self {
        PeerFilterLayer::new(config).layer(inner)
    }

    /// The shared subnet counter.
    pub fn counter(&self) -> &SubnetCounter {
        &self.counter
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

    /// Runs both checks; on success, the slot to keep for the connection.
    fn admit(&self, ip: IpAddr) -> Result<SubnetSlot, Refused> {
        let ip = ip.to_canonical();
        if !self.netrestrict.allows(ip) {
            return Err(Refused::NetRestrict { ip });
        }
        self.counter.try_acquire(ip).ok_or_else(|| {
            let limits = self.counter.limits();
            Refused::SubnetFull {
                subnet: subnet_of(ip),
                limit: if ip.is_ipv4() {
                    limits.max_per_ipv4_24
                } else {
                    limits.max_per_ipv6_64
                },
            }
        })
    }
}

impl<S, Io> Service<Connecting<Io>> for PeerFilter<S>
where
    S: Service<Connecting<Io>>,
{
    type Response = S::Response;
    type Error = FilterError<S::Error>;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(FilterError::Inner)
    }

    fn call(&mut self, mut conn: Connecting<Io>) -> Self::Future {
        match self.admit(conn.remote_addr.ip()) {
            Ok(slot) => {
                // An uncounted slot holds nothing worth boxing.
                if slot.subnet().is_some() {
                    conn.guards.push(slot);
                }
                ResponseFuture::inner(self.inner.call(conn))
            }
            Err(reason) => {
                tracing::debug!(
                    remote = %conn.remote_addr,
                    direction = ?conn.direction,
                    %reason,
                    "peer filter refused connection"
                );
                ResponseFuture::refused(reason)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tower::ServiceExt;

    use super::*;
    use crate::identity::NodeKey;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn limits(v4: usize, v6: usize) -> SubnetLimits {
        SubnetLimits {
            max_per_ipv4_24: v4,
            max_per_ipv6_64: v6,
            exempt_loopback: true,
        }
    }

    /// A filter over an inner service that counts its calls and hands the
    /// connection back, so tests can inspect (and drop) its guards.
    #[allow(clippy::type_complexity)]
    fn filtered(
        config: PeerFilterConfig,
    ) -> (
        PeerFilterLayer,
        Arc<AtomicUsize>,
        impl Service<
                Connecting<()>,
                Response = Connecting<()>,
                Error = FilterError<Infallible>,
                Future: Send,
            > + Clone,
    ) {
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&calls);
        let layer = PeerFilterLayer::new(config);
        let service = layer.layer(tower::service_fn(move |conn: Connecting<()>| {
            seen.fetch_add(1, Ordering::SeqCst);
            async move { Ok::<_, Infallible>(conn) }
        }));
        (layer, calls, service)
    }

    #[test]
    fn netrestrict_empty_allows_everything() {
        let restrict = NetRestrict::default();
        assert!(restrict.is_unrestricted());
        for s in [
            "1.2.3.4",
            "127.0.0.1",
            "::1",
            "2001:db8::1",
            "::ffff:8.8.8.8",
        ] {
            assert!(restrict.allows(ip(s)), "{s}");
        }
    }

    #[test]
    fn netrestrict_admits_only_listed_networks() {
        let restrict: NetRestrict = "10.0.0.0/8, 2001:db8::/32".parse().unwrap();
        assert!(restrict.allows(ip("10.200.3.4")));
        assert!(restrict.allows(ip("2001:db8:1::5")));
        assert!(!restrict.allows(ip("11.0.0.1")));
        assert!(!restrict.allows(ip("127.0.0.1")));
        assert!(!restrict.allows(ip("2001:db9::1")));
    }

    #[test]
    fn netrestrict_checks_ipv4_mapped_as_ipv4() {
        let restrict: NetRestrict = "192.168.0.0/16".parse().unwrap();
        assert!(restrict.allows(ip("::ffff:192.168.7.7")));
        assert!(!restrict.allows(ip("::ffff:192.169.0.1")));
        // An IPv6-only list does not admit IPv4 peers through the mapped form.
        let v6_only: NetRestrict = "::/0".parse().unwrap();
        assert!(!v6_only.allows(ip("::ffff:1.2.3.4")));
        assert!(v6_only.allows(ip("2001:db8::1")));
    }

    #[test]
    fn netrestrict_parses_prints_and_serializes() {
        let restrict: NetRestrict = " 10.0.0.0/8,,\n192.168.0.0/16 ,".parse().unwrap();
        assert_eq!(restrict.nets().len(), 2);
        assert_eq!(restrict.to_string(), "10.0.0.0/8,192.168.0.0/16");
        assert_eq!(
            restrict.to_string().parse::<NetRestrict>().unwrap(),
            restrict
        );
        assert!("10.0.0.0/8,nonsense".parse::<NetRestrict>().is_err());
        assert!("".parse::<NetRestrict>().unwrap().is_unrestricted());

        let json = serde_json::to_string(&restrict).unwrap();
        assert_eq!(json, r#"["10.0.0.0/8","192.168.0.0/16"]"#);
        assert_eq!(
            serde_json::from_str::<NetRestrict>(&json).unwrap(),
            restrict
        );
    }

    #[test]
    fn config_defaults_and_toml() {
        let config: PeerFilterConfig = toml::from_str("").unwrap();
        assert_eq!(config, PeerFilterConfig::default());
        assert!(config.netrestrict.is_unrestricted());
        assert_eq!(config.subnets.max_per_ipv4_24, DEFAULT_MAX_PER_IPV4_SUBNET);
        assert_eq!(config.subnets.max_per_ipv6_64, DEFAULT_MAX_PER_IPV6_SUBNET);
        assert!(config.subnets.exempt_loopback);

        let config: PeerFilterConfig =
            toml::from_str("netrestrict = [\"10.0.0.0/8\"]\n[subnets]\nmax_per_ipv4_24 = 2\n")
                .unwrap();
        assert_eq!(config.netrestrict.nets().len(), 1);
        assert_eq!(config.subnets.max_per_ipv4_24, 2);
        assert_eq!(config.subnets.max_per_ipv6_64, DEFAULT_MAX_PER_IPV6_SUBNET);
    }

    #[test]
    fn subnet_of_groups_ipv4_24_and_ipv6_64() {
        assert_eq!(subnet_of(ip("1.2.3.4")), "1.2.3.0/24".parse().unwrap());
        assert_eq!(
            subnet_of(ip("::ffff:1.2.3.200")),
            "1.2.3.0/24".parse().unwrap()
        );
        assert_eq!(
            subnet_of(ip("2001:db8:1:2:3:4:5:6")),
            "2001:db8:1:2::/64".parse().unwrap()
        );
    }

    #[test]
    fn counter_limits_each_ipv4_24() {
        let counter = SubnetCounter::new(limits(2, 0));
        let a = counter.try_acquire(ip("1.2.3.4")).unwrap();
        let b = counter.try_acquire(ip("1.2.3.5")).unwrap();
        assert!(counter.try_acquire(ip("1.2.3.250")).is_none());
        // Another /24 has its own count.
        let c = counter.try_acquire(ip("1.2.4.4")).unwrap();
        assert_eq!(counter.in_use(ip("1.2.3.0")), 2);
        assert_eq!(counter.occupied_subnets(), 2);
        assert_eq!(a.subnet(), Some("1.2.3.0/24".parse().unwrap()));
        drop((a, b, c));
        assert_eq!(counter.occupied_subnets(), 0);
    }

    #[test]
    fn counter_limits_each_ipv6_64() {
        let counter = SubnetCounter::new(limits(0, 1));
        let _a = counter.try_acquire(ip("2001:db8::1")).unwrap();
        assert!(counter.try_acquire(ip("2001:db8::ffff:2")).is_none());
        assert!(counter.try_acquire(ip("2001:db8:0:1::1")).is_some());
    }

    #[test]
    fn counter_releases_slot_on_drop() {
        let counter = SubnetCounter::new(limits(1, 1));
        let slot = counter.try_acquire(ip("8.8.8.8")).unwrap();
        assert!(counter.try_acquire(ip("8.8.8.9")).is_none());
        drop(slot);
        assert_eq!(counter.in_use(ip("8.8.8.8")), 0);
        assert!(counter.try_acquire(ip("8.8.8.9")).is_some());
    }

    #[test]
    fn counter_refusal_leaves_no_entry() {
        let counter = SubnetCounter::new(limits(1, 1));
        let _held = counter.try_acquire(ip("8.8.8.8")).unwrap();
        assert!(counter.try_acquire(ip("8.8.8.9")).is_none());
        assert_eq!(counter.occupied_subnets(), 1);
        assert_eq!(counter.in_use(ip("8.8.8.8")), 1);
    }

    #[test]
    fn counter_zero_means_unlimited() {
        let counter = SubnetCounter::new(SubnetLimits::UNLIMITED);
        let slots: Vec<_> = (0..100)
            .map(|i| counter.try_acquire(ip(&format!("5.5.5.{i}"))).unwrap())
            .collect();
        assert!(slots.iter().all(|slot| slot.subnet().is_none()));
        assert_eq!(counter.occupied_subnets(), 0);
    }

    #[test]
    fn counter_ipv4_mapped_counts_with_ipv4() {
        let counter = SubnetCounter::new(limits(1, 0));
        let _v4 = counter.try_acquire(ip("9.9.9.9")).unwrap();
        assert!(counter.try_acquire(ip("::ffff:9.9.9.10")).is_none());
    }

    #[test]
    fn counter_loopback_exempt_by_default() {
        let counter = SubnetCounter::new(limits(1, 1));
        let slots: Vec<_> = (0..10)
            .map(|_| counter.try_acquire(ip("127.0.0.1")).unwrap())
            .chain((0..10).map(|_| counter.try_acquire(ip("::1")).unwrap()))
            .chain((0..10).map(|_| counter.try_acquire(ip("::ffff:127.0.0.1")).unwrap()))
            .collect();
        assert!(slots.iter().all(|slot| slot.subnet().is_none()));
    }

    #[test]
    fn counter_loopback_counted_when_not_exempt() {
        let counter = SubnetCounter::new(SubnetLimits {
            exempt_loopback: false,
            ..limits(1, 1)
        });
        let _a = counter.try_acquire(ip("127.0.0.1")).unwrap();
        assert!(counter.try_acquire(ip("127.0.0.2")).is_none());
        let _b = counter.try_acquire(ip("::1")).unwrap();
        assert!(counter.try_acquire(ip("::1")).is_none());
    }

    #[test]
    fn flatten_merges_nested_errors() {
        let refused: FilterError<FilterError<Infallible>> =
            FilterError::Inner(FilterError::Refused(Refused::Throttled {
                ip: ip("1.1.1.1"),
            }));
        assert!(matches!(
            refused.flatten(),
            FilterError::Refused(Refused::Throttled { .. })
        ));
        let inner: FilterError<FilterError<&str>> = FilterError::Inner(FilterError::Inner("boom"));
        assert_eq!(inner.flatten().into_inner(), Some("boom"));
    }

    #[tokio::test]
    async fn service_netrestrict_refusal_never_reaches_inner() {
        let config = PeerFilterConfig {
            netrestrict: "10.0.0.0/8".parse().unwrap(),
            ..PeerFilterConfig::default()
        };
        let (_, calls, service) = filtered(config);
        let err = service
            .clone()
            .oneshot(Connecting::inbound((), addr("192.0.2.1:30303")))
            .await
            .unwrap_err();
        assert_eq!(
            err.refused(),
            Some(&Refused::NetRestrict {
                ip: ip("192.0.2.1")
            })
        );
        assert_eq!(calls.load(Ordering::SeqCst), 0);

        // Outbound dials are restricted too.
        let dial = Connecting::outbound((), addr("8.8.8.8:30303"), NodeKey::random().id());
        assert!(service.clone().oneshot(dial).await.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 0);

        let conn = service
            .oneshot(Connecting::inbound((), addr("10.0.0.1:30303")))
            .await
            .unwrap();
        assert_eq!(conn.remote_addr, addr("10.0.0.1:30303"));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn service_ipv4_mapped_remote_checked_as_ipv4() {
        let config = PeerFilterConfig {
            netrestrict: "10.0.0.0/8".parse().unwrap(),
            subnets: limits(1, 1),
        };
        let (layer, calls, service) = filtered(config);
        let conn = service
            .clone()
            .oneshot(Connecting::inbound((), addr("[::ffff:10.0.0.1]:30303")))
            .await
            .unwrap();
        assert_eq!(layer.counter().in_use(ip("10.0.0.99")), 1);
        // The plain IPv4 form of the same /24 now finds it full.
        let err = service
            .clone()
            .oneshot(Connecting::inbound((), addr("10.0.0.2:30303")))
            .await
            .unwrap_err();
        assert!(matches!(
            err.refused(),
            Some(Refused::SubnetFull { limit: 1, .. })
        ));
        let err = service
            .oneshot(Connecting::inbound((), addr("[::ffff:11.0.0.1]:30303")))
            .await
            .unwrap_err();
        assert_eq!(
            err.refused(),
            Some(&Refused::NetRestrict { ip: ip("11.0.0.1") })
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        drop(conn);
    }

    #[tokio::test]
    async fn service_subnet_slot_travels_with_connection_and_is_released() {
        let config = PeerFilterConfig {
            subnets: limits(2, 2),
            ..PeerFilterConfig::default()
        };
        let (layer, calls, service) = filtered(config);
        let first = service
            .clone()
            .oneshot(Connecting::inbound((), addr("203.0.113.1:1")))
            .await
            .unwrap();
        assert_eq!(first.guards.len(), 1);
        // Outbound connections count against the same subnet.
        let key = NodeKey::random();
        let second = service
            .clone()
            .oneshot(Connecting::outbound((), addr("203.0.113.2:1"), key.id()))
            .await
            .unwrap();
        let err = service
            .clone()
            .oneshot(Connecting::inbound((), addr("203.0.113.3:1")))
            .await
            .unwrap_err();
        assert_eq!(
            err.refused(),
            Some(&Refused::SubnetFull {
                subnet: "203.0.113.0/24".parse().unwrap(),
                limit: 2,
            })
        );
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert_eq!(layer.counter().in_use(ip("203.0.113.0")), 2);

        // Dropping one connection's guards frees its slot.
        drop(first.guards);
        assert_eq!(layer.counter().in_use(ip("203.0.113.0")), 1);
        let third = service
            .oneshot(Connecting::inbound((), addr("203.0.113.3:1")))
            .await
            .unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        drop((second, third));
        assert_eq!(layer.counter().occupied_subnets(), 0);
    }

    #[tokio::test]
    async fn service_loopback_exempt_and_carries_no_guard() {
        let (layer, calls, service) = filtered(PeerFilterConfig {
            subnets: limits(1, 1),
            ..PeerFilterConfig::default()
        });
        let mut conns = Vec::new();
        for port in 1..=20 {
            let conn = service
                .clone()
                .oneshot(Connecting::inbound(
                    (),
                    SocketAddr::from(([127, 0, 0, 1], port)),
                ))
                .await
                .unwrap();
            assert!(conn.guards.is_empty());
            conns.push(conn);
        }
        assert_eq!(calls.load(Ordering::SeqCst), 20);
        assert_eq!(layer.counter().occupied_subnets(), 0);
    }

    #[tokio::test]
    async fn service_passes_inner_errors_through() {
        let mut service = PeerFilter::new(
            tower::service_fn(|_: Connecting<()>| async { Err::<(), _>("handshake failed") }),
            PeerFilterConfig::default(),
        );
        let err = service
            .ready()
            .await
            .unwrap()
            .call(Connecting::inbound((), addr("1.2.3.4:5")))
            .await
            .unwrap_err();
        assert!(err.refused().is_none());
        assert_eq!(err.into_inner(), Some("handshake failed"));
    }

    #[tokio::test]
    async fn service_works_with_duplex_io() {
        let (io, _other) = tokio::io::duplex(64);
        let setup = PeerFilterLayer::new(PeerFilterConfig::default()).layer(tower::service_fn(
            |conn: Connecting<tokio::io::DuplexStream>| async move {
                Ok::<_, Infallible>(conn.guards.len())
            },
        ));
        let guards = setup
            .oneshot(Connecting::inbound(io, addr("[2001:db8::1]:30303")))
            .await
            .unwrap();
        assert_eq!(guards, 1);
    }
}
