//! The throttle's settings and which addresses are exempt.

use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

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
