//! `enode://` URLs, the form in which go-ethereum and most devp2p tooling name
//! a node: its public key plus the TCP (RLPx) and UDP (discovery) endpoints.
//!
//! ```text
//! enode://<128 hex public key>@<ip>:<tcp port>[?discport=<udp port>]
//! ```
//!
//! Only IP literals are accepted as the host. go-ethereum would resolve a DNS
//! name here, but parsing is expected to be pure and cheap, so resolving is
//! left to the caller.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use crate::identity::{decode_hex_array, IdentityError, PeerId};

/// A node's identity and endpoints, as written in an `enode://` URL.
///
/// A port of 0 is kept as is: go-ethereum writes it for a node without a TCP
/// listener (or without discovery), so it has to survive a round trip.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Enode {
    /// The node's public key.
    pub id: PeerId,
    /// The node's IP address.
    pub ip: IpAddr,
    /// The TCP port of RLPx.
    pub tcp: u16,
    /// The UDP port of discovery.
    pub udp: u16,
}

impl Enode {
    /// A node at `ip`, with RLPx on `tcp` and discovery on `udp`.
    ///
    /// An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) is stored as IPv4, so that
    /// the node compares equal to itself after a trip through its URL.
    pub fn new(id: PeerId, ip: IpAddr, tcp: u16, udp: u16) -> Self {
        Enode {
            id,
            ip: ip.to_canonical(),
            tcp,
            udp,
        }
    }

    /// Where to open an RLPx connection to the node.
    pub fn tcp_addr(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.tcp)
    }

    /// Where to send the node discovery packets.
    pub fn udp_addr(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.udp)
    }
}

impl fmt::Display for Enode {
    /// Writes the URL as go-ethereum does: the `discport` parameter only when
    /// the UDP port differs from the TCP port, IPv6 addresses in brackets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "enode://{}@", self.id)?;
        // The fields are public, so a mapped address may have bypassed `new`;
        // printing it as IPv4 keeps the text identical to what parsing yields.
        match self.ip.to_canonical() {
            IpAddr::V4(ip) => write!(f, "{ip}")?,
            IpAddr::V6(ip) => write!(f, "[{ip}]")?,
        }
        write!(f, ":{}", self.tcp)?;
        if self.udp != self.tcp {
            write!(f, "?discport={}", self.udp)?;
        }
        Ok(())
    }
}

/// Why a text is not a valid `enode://` URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnodeError {
    /// The text does not start with the `enode://` scheme.
    #[error("not an enode URL: expected it to start with \"enode://\"")]
    Scheme,
    /// There is no `@` between the public key and the address. URLs that name
    /// only a key, which go-ethereum accepts as "incomplete", are refused: an
    /// `Enode` always has an address.
    #[error("missing '@' between the public key and the address")]
    MissingAt,
    /// The public key is not 128 hex characters, or not a point on secp256k1.
    #[error("invalid public key: {0}")]
    PublicKey(#[source] IdentityError),
    /// Nothing between the `@` and the port.
    #[error("missing host")]
    EmptyHost,
    /// The host is a DNS name. Names are not resolved while parsing; read
    /// the URL as a [`NodeUrl`](crate::NodeUrl), which resolves it.
    #[error("host {0:?} is a DNS name; an IP address is required")]
    Hostname(String),
    /// The host is neither a valid IPv4 address nor a valid IPv6 address in
    /// brackets.
    #[error("invalid IP address {0:?}")]
    InvalidIp(String),
    /// An IPv6 address without brackets, whose colons cannot be told apart from
    /// the port separator.
    #[error("IPv6 address in {0:?} must be enclosed in brackets")]
    UnbracketedIpv6(String),
    /// The address has no `:<port>`.
    #[error("missing TCP port")]
    MissingPort,
    /// The TCP port is not a decimal number from 0 to 65535.
    #[error("invalid TCP port {0:?}")]
    InvalidPort(String),
    /// The `discport` parameter is not a decimal number from 0 to 65535.
    #[error("invalid discport {0:?}")]
    InvalidDiscport(String),
    /// Text after the address that is not a query, such as a path or a
    /// fragment.
    #[error("unexpected text {0:?} after the address")]
    TrailingGarbage(String),
}

impl FromStr for Enode {
    type Err = EnodeError;

    /// Parses `enode://<key>@<ip>:<tcp>[?discport=<udp>]`.
    ///
    /// As in go-ethereum: the scheme is case-insensitive, port 0 is accepted,
    /// an empty `discport` means "same as TCP", and unknown query parameters
    /// are ignored.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let rest = match s.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("enode") => rest,
            _ => return Err(EnodeError::Scheme),
        };

        // The authority ends where a path, query or fragment begins, so an `@`
        // inside the query cannot be mistaken for the key separator.
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let (key, host_port) = authority.split_once('@').ok_or(EnodeError::MissingAt)?;

        let id = parse_public_key(key)?;
        let (ip, tcp) = parse_host_port(host_port)?;
        let udp = match tail.strip_prefix('?') {
            None if tail.is_empty() => tcp,
            None => return Err(EnodeError::TrailingGarbage(tail.to_owned())),
            Some(query) => {
                if let Some(hash) = query.find('#') {
                    return Err(EnodeError::TrailingGarbage(query[hash..].to_owned()));
                }
                discport(query)?.unwrap_or(tcp)
            }
        };
        Ok(Enode::new(id, ip, tcp, udp))
    }
}

fn parse_public_key(key: &str) -> Result<PeerId, EnodeError> {
    // `decode_hex_array` would strip a `0x`, which go-ethereum does not accept
    // in URLs; refusing it keeps the URLs we accept interchangeable.
    if key.starts_with("0x") {
        return Err(EnodeError::PublicKey(IdentityError::Hex));
    }
    let id = PeerId(decode_hex_array(key).map_err(EnodeError::PublicKey)?);
    id.public_key().map_err(EnodeError::PublicKey)?;
    Ok(id)
}

fn parse_host_port(host_port: &str) -> Result<(IpAddr, u16), EnodeError> {
    let (ip, port) = if let Some(bracketed) = host_port.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or_else(|| EnodeError::InvalidIp(host_port.to_owned()))?;
        if host.is_empty() {
            return Err(EnodeError::EmptyHost);
        }
        let ip: Ipv6Addr = host
            .parse()
            .map_err(|_| EnodeError::InvalidIp(host.to_owned()))?;
        let port = match after.strip_prefix(':') {
            Some(port) => Some(port),
            None if after.is_empty() => None,
            None => return Err(EnodeError::TrailingGarbage(after.to_owned())),
        };
        (IpAddr::V6(ip), port)
    } else {
        let (host, port) = match host_port.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        };
        if port.is_some_and(|port| port.contains(':')) {
            return Err(EnodeError::UnbracketedIpv6(host_port.to_owned()));
        }
        (IpAddr::V4(parse_ipv4(host)?), port)
    };
    match port {
        None | Some("") => Err(EnodeError::MissingPort),
        Some(port) => parse_port(port)
            .map(|tcp| (ip, tcp))
            .ok_or_else(|| EnodeError::InvalidPort(port.to_owned())),
    }
}

fn parse_ipv4(host: &str) -> Result<Ipv4Addr, EnodeError> {
    if host.is_empty() {
        return Err(EnodeError::EmptyHost);
    }
    host.parse().map_err(|_| {
        // Worth its own error: a name is the most likely mistake, and the fix
        // (resolve it first) differs from that for a mistyped address.
        let name_like = host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
            && host.bytes().any(|b| b.is_ascii_alphabetic());
        if name_like {
            EnodeError::Hostname(host.to_owned())
        } else {
            EnodeError::InvalidIp(host.to_owned())
        }
    })
}

/// The `discport` parameter, if present and not empty.
fn discport(query: &str) -> Result<Option<u16>, EnodeError> {
    // Like go-ethereum's `url.Values.Get`, only the first `discport` counts.
    let Some(value) = query
        .split('&')
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        .find_map(|(key, value)| (key == "discport").then_some(value))
    else {
        return Ok(None);
    };
    if value.is_empty() {
        return Ok(None);
    }
    parse_port(value)
        .map(Some)
        .ok_or_else(|| EnodeError::InvalidDiscport(value.to_owned()))
}

fn parse_port(text: &str) -> Option<u16> {
    // `u16::from_str` would also take a leading `+`, which no URL parser does.
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::NodeKey;
    use proptest::prelude::*;

    // The public key of go-ethereum's URL tests.
    const KEY: &str = "1dd9d65c4552b5eb43d5ad55a2ee3f56c6cbc1c64a5c8d659f51fcd51bace24351232b8d7821617d2b29b54b81cdefb9b3e9c37d7fd5f63270bcc9e1a6f6a439";

    fn id() -> PeerId {
        KEY.parse().unwrap()
    }

    fn url(address: &str) -> String {
        format!("enode://{KEY}@{address}")
    }

    fn parse(address: &str) -> Result<Enode, EnodeError> {
        url(address).parse()
    }

    #[test]
    fn parses_ipv4() {
        let node = parse("127.0.0.1:52150").unwrap();
        assert_eq!(
            node,
            Enode::new(id(), Ipv4Addr::LOCALHOST.into(), 52150, 52150)
        );
        assert_eq!(node.tcp_addr(), "127.0.0.1:52150".parse().unwrap());
        assert_eq!(node.udp_addr(), "127.0.0.1:52150".parse().unwrap());
    }

    #[test]
    fn parses_ipv6() {
        let node = parse("[::]:52150").unwrap();
        assert_eq!(node.ip, Ipv6Addr::UNSPECIFIED);
        let node = parse("[2001:db8:3c4d:15::abcd:ef12]:52150").unwrap();
        assert_eq!(
            node.tcp_addr(),
            "[2001:db8:3c4d:15::abcd:ef12]:52150".parse().unwrap()
        );
    }

    #[test]
    fn parses_discport() {
        let node = parse("127.0.0.1:52150?discport=22334").unwrap();
        assert_eq!((node.tcp, node.udp), (52150, 22334));
        assert_eq!(node.udp_addr(), "127.0.0.1:22334".parse().unwrap());
    }

    #[test]
    fn accepts_what_go_ethereum_accepts() {
        // Port 0: a node without a TCP listener.
        let node = parse("10.3.58.6:0?discport=30301").unwrap();
        assert_eq!((node.tcp, node.udp), (0, 30301));
        // Unknown parameters are ignored; an empty discport means "same as TCP".
        let node = parse("10.3.58.6:30303?foo=bar&discport=30301&x").unwrap();
        assert_eq!(node.udp, 30301);
        assert_eq!(parse("10.3.58.6:30303?discport=").unwrap().udp, 30303);
        assert_eq!(parse("10.3.58.6:30303?").unwrap().udp, 30303);
        // Scheme case and hex case do not matter.
        let upper = format!("ENODE://{}@10.3.58.6:30303", KEY.to_uppercase());
        assert_eq!(upper.parse::<Enode>().unwrap().id, id());
    }

    #[test]
    fn ipv4_mapped_addresses_become_ipv4() {
        let node = parse("[::ffff:1.2.3.4]:30303").unwrap();
        assert_eq!(node.ip, IpAddr::V4(Ipv4Addr::new(1, 2, 3, 4)));
        assert_eq!(node.to_string(), url("1.2.3.4:30303"));

        // Even when built without `new`, the URL shows the IPv4 form.
        let literal = Enode {
            ip: "::ffff:1.2.3.4".parse().unwrap(),
            ..node
        };
        assert_eq!(literal.to_string(), url("1.2.3.4:30303"));
    }

    #[test]
    fn displays_like_go_ethereum() {
        for address in [
            "127.0.0.1:52150",
            "[::]:52150",
            "[2001:db8:3c4d:15::abcd:ef12]:52150",
            "127.0.0.1:52150?discport=22334",
            "[::1]:0?discport=30303",
        ] {
            assert_eq!(parse(address).unwrap().to_string(), url(address));
        }
    }

    #[test]
    fn scheme_must_be_enode() {
        for text in [
            String::new(),
            KEY.to_owned(),
            format!("http://{KEY}@127.0.0.1:30303"),
            format!("enode:/{KEY}@127.0.0.1:30303"),
            format!("enr://{KEY}@127.0.0.1:30303"),
            format!(" enode://{KEY}@127.0.0.1:30303"),
        ] {
            assert_eq!(text.parse::<Enode>(), Err(EnodeError::Scheme), "{text}");
        }
    }

    #[test]
    fn missing_at_is_refused() {
        let bare = format!("enode://{KEY}");
        assert_eq!(bare.parse::<Enode>(), Err(EnodeError::MissingAt));
        // An `@` in the query is not the key separator.
        let in_query = format!("enode://{KEY}?x=@127.0.0.1:30303");
        assert_eq!(in_query.parse::<Enode>(), Err(EnodeError::MissingAt));
    }

    #[test]
    fn bad_public_keys_are_refused() {
        let short = "enode://01010101@123.124.125.126:3".parse::<Enode>();
        assert_eq!(
            short,
            Err(EnodeError::PublicKey(IdentityError::HexLength {
                expected: 128,
                got: 8
            }))
        );
        let not_hex = format!("enode://{}@127.0.0.1:3", "zz".repeat(64));
        assert_eq!(
            not_hex.parse::<Enode>(),
            Err(EnodeError::PublicKey(IdentityError::Hex))
        );
        let prefixed = format!("enode://0x{KEY}@127.0.0.1:3");
        assert!(matches!(
            prefixed.parse::<Enode>(),
            Err(EnodeError::PublicKey(_))
        ));
        let off_curve = format!("enode://{}@127.0.0.1:3", "00".repeat(64));
        assert_eq!(
            off_curve.parse::<Enode>(),
            Err(EnodeError::PublicKey(IdentityError::NotOnCurve))
        );
    }

    #[test]
    fn bad_hosts_are_refused() {
        use EnodeError::*;
        let cases = [
            (":30303", EmptyHost),
            ("", EmptyHost),
            ("[]:30303", EmptyHost),
            ("hostname:3", Hostname("hostname".into())),
            (
                "node-1.example.org:3",
                Hostname("node-1.example.org".into()),
            ),
            ("1.2.3.256:3", InvalidIp("1.2.3.256".into())),
            ("1.2.3:3", InvalidIp("1.2.3".into())),
            ("[1.2.3.4]:3", InvalidIp("1.2.3.4".into())),
            ("[::1:3", InvalidIp("[::1:3".into())),
            ("[fe80::1%eth0]:3", InvalidIp("fe80::1%eth0".into())),
            ("::1:30303", UnbracketedIpv6("::1:30303".into())),
            ("2001:db8::1", UnbracketedIpv6("2001:db8::1".into())),
        ];
        for (address, error) in cases {
            assert_eq!(parse(address), Err(error), "{address}");
        }
    }

    #[test]
    fn bad_ports_are_refused() {
        use EnodeError::*;
        let cases = [
            ("127.0.0.1", MissingPort),
            ("127.0.0.1:", MissingPort),
            ("[::1]", MissingPort),
            ("[::1]:", MissingPort),
            ("127.0.0.1:foo", InvalidPort("foo".into())),
            ("127.0.0.1:65536", InvalidPort("65536".into())),
            ("127.0.0.1:+80", InvalidPort("+80".into())),
            ("127.0.0.1:-1", InvalidPort("-1".into())),
            ("127.0.0.1:3?discport=foo", InvalidDiscport("foo".into())),
            (
                "127.0.0.1:3?discport=70000",
                InvalidDiscport("70000".into()),
            ),
        ];
        for (address, error) in cases {
            assert_eq!(parse(address), Err(error), "{address}");
        }
    }

    #[test]
    fn trailing_garbage_is_refused() {
        use EnodeError::*;
        let cases = [
            ("127.0.0.1:30303/", TrailingGarbage("/".into())),
            ("127.0.0.1:30303/path", TrailingGarbage("/path".into())),
            ("127.0.0.1:30303#frag", TrailingGarbage("#frag".into())),
            ("127.0.0.1:30303?discport=1#x", TrailingGarbage("#x".into())),
            ("[::1]x:30303", TrailingGarbage("x:30303".into())),
            ("127.0.0.1:30303 ", InvalidPort("30303 ".into())),
        ];
        for (address, error) in cases {
            assert_eq!(parse(address), Err(error), "{address}");
        }
    }

    #[test]
    fn errors_read_well() {
        assert_eq!(
            parse("localhost:30303").unwrap_err().to_string(),
            "host \"localhost\" is a DNS name; an IP address is required"
        );
        assert_eq!(
            "enode://00@1.2.3.4:1"
                .parse::<Enode>()
                .unwrap_err()
                .to_string(),
            "invalid public key: expected 128 hex characters, got 2"
        );
    }

    /// Keys from small secrets: one scalar multiplication each instead of a
    /// draw from the OS RNG, and shrinkable.
    fn peer_id() -> impl Strategy<Value = PeerId> {
        (1u64..=u64::MAX).prop_map(|n| {
            let mut secret = [0u8; 32];
            secret[24..].copy_from_slice(&n.to_be_bytes());
            NodeKey::from_bytes(secret).unwrap().id()
        })
    }

    proptest! {
        #[test]
        fn display_round_trips(
            id in peer_id(),
            ip in any::<IpAddr>(),
            tcp in any::<u16>(),
            udp in prop_oneof![Just(None), any::<u16>().prop_map(Some)],
        ) {
            let node = Enode::new(id, ip, tcp, udp.unwrap_or(tcp));
            let text = node.to_string();
            prop_assert_eq!(text.parse::<Enode>(), Ok(node));
            prop_assert_eq!(text.contains("discport"), node.udp != node.tcp);
        }

        #[test]
        fn parsing_never_panics(suffix in "[0-9a-f:\\[\\]@?&=#/.x%é ]{0,40}") {
            let _ = url(&suffix).parse::<Enode>();
            let _ = format!("enode://{suffix}").parse::<Enode>();
        }
    }
}
