//! The inbound throttle: its history, free of I/O, and its layer.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use p2p_core::layers::filter::{
    FilterError, PeerFilterConfig, PeerFilterLayer, Refused, SubnetLimits,
};
use p2p_core::layers::throttle::*;
use p2p_core::{Connecting, NodeKey};
use tower::{Service, ServiceBuilder, ServiceExt};

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
    assert_eq!(history.queued(), 1);
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
    assert_eq!(history.queued(), 0);
}

#[test]
fn config_toml_defaults_and_durations() {
    let config: ThrottleConfig = toml::from_str("").unwrap();
    assert_eq!(config, ThrottleConfig::default());
    let config: ThrottleConfig = toml::from_str("window = \"1m\"\nexempt_lan = false\n").unwrap();
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
        impl Service<Connecting<()>, Response = SocketAddr, Error = Infallible, Future: Send> + Clone,
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
