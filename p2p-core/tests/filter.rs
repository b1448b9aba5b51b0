//! The peer filter: netrestrict, subnet limits, and the layer that applies
//! them to a setup stack.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};

use std::net::IpAddr;
use std::sync::Arc;

use p2p_core::layers::filter::*;
use p2p_core::{Connecting, NodeKey};
use tower::{Layer, Service, ServiceExt};

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
        toml::from_str("netrestrict = [\"10.0.0.0/8\"]\n[subnets]\nmax_per_ipv4_24 = 2\n").unwrap();
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
