//! Address classes that decide which nodes discovery accepts and relays.

use std::net::IpAddr;

/// Loopback, private and link-local addresses, and `0.0.0.0/8`: addresses
/// only meaningful inside one site (go-ethereum's `netutil.IsLAN`).
pub fn is_lan(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            v4.is_loopback() || v4.is_private() || v4.is_link_local() || v4.octets()[0] == 0
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            // fc00::/7 (unique local) and fe80::/10 (link local).
            v6.is_loopback() || (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80
        }
    }
}

/// Why a relayed address was refused by [`check_relay_ip`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RelayIpError {
    /// The unspecified address: nobody can be reached there.
    #[error("unspecified address")]
    Unspecified,
    /// Multicast or broadcast: one datagram there would reach many hosts.
    #[error("multicast or broadcast address")]
    Special,
    /// A loopback address sent by a node that is not on loopback.
    #[error("loopback address from a remote node")]
    Loopback,
    /// A LAN address sent by a node outside the LAN.
    #[error("LAN address from a node outside the LAN")]
    Lan,
}

/// Checks an address that `sender` told us about (in a Neighbors answer) before
/// we contact it. A remote node must not steer us towards our own loopback or
/// LAN, nor towards multicast groups: that would turn discovery into a way to
/// probe or flood hosts the remote could not reach itself.
pub fn check_relay_ip(sender: IpAddr, addr: IpAddr) -> Result<(), RelayIpError> {
    let (sender, addr) = (sender.to_canonical(), addr.to_canonical());
    if addr.is_unspecified() {
        return Err(RelayIpError::Unspecified);
    }
    let special = match addr {
        IpAddr::V4(v4) => v4.is_multicast() || v4.is_broadcast(),
        IpAddr::V6(v6) => v6.is_multicast(),
    };
    if special {
        return Err(RelayIpError::Special);
    }
    if addr.is_loopback() && !sender.is_loopback() {
        return Err(RelayIpError::Loopback);
    }
    if is_lan(addr) && !is_lan(sender) {
        return Err(RelayIpError::Lan);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn relay_rules() {
        let public = ip("8.8.8.8");
        let lan = ip("192.168.1.2");
        let lo = ip("127.0.0.1");
        assert_eq!(check_relay_ip(public, ip("1.2.3.4")), Ok(()));
        assert_eq!(
            check_relay_ip(public, ip("0.0.0.0")),
            Err(RelayIpError::Unspecified)
        );
        assert_eq!(
            check_relay_ip(public, ip("224.0.0.1")),
            Err(RelayIpError::Special)
        );
        assert_eq!(
            check_relay_ip(public, ip("255.255.255.255")),
            Err(RelayIpError::Special)
        );
        assert_eq!(
            check_relay_ip(public, ip("ff02::1")),
            Err(RelayIpError::Special)
        );
        assert_eq!(check_relay_ip(public, lo), Err(RelayIpError::Loopback));
        assert_eq!(check_relay_ip(lan, lo), Err(RelayIpError::Loopback));
        assert_eq!(check_relay_ip(lo, lo), Ok(()));
        assert_eq!(check_relay_ip(public, lan), Err(RelayIpError::Lan));
        assert_eq!(check_relay_ip(lan, ip("10.0.0.1")), Ok(()));
        assert_eq!(check_relay_ip(lo, lan), Ok(()));
        assert_eq!(check_relay_ip(lan, public), Ok(()));
        assert_eq!(check_relay_ip(ip("::ffff:127.0.0.1"), lo), Ok(()));
    }
}
