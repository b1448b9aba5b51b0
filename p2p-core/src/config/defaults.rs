//! The defaults of every setting, each with why.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

/// The default TCP (RLPx) and UDP (discovery) port, 30303: the port of
/// go-ethereum's default `ListenAddr` (`node/defaults.go`, `":30303"`).
pub const DEFAULT_PORT: u16 = 30303;

/// The default listening address, all IPv4 interfaces on [`DEFAULT_PORT`]
/// (go-ethereum's `node.DefaultConfig.P2P.ListenAddr`, `":30303"`).
pub const DEFAULT_LISTEN_ADDR: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, DEFAULT_PORT));

/// The default client id sent in the Hello message: this crate's name and
/// version. go-ethereum sends e.g. `Geth/v1.14.0-stable/linux-amd64/go1.22`.
pub const DEFAULT_CLIENT_ID: &str = concat!("devp2p-rs/v", env!("CARGO_PKG_VERSION"));

/// The default maximum number of connected peers, 50 (go-ethereum's
/// `node.DefaultConfig.P2P.MaxPeers` in `node/defaults.go`).
pub const DEFAULT_MAX_PEERS: usize = 50;

/// The default maximum number of inbound connections in their handshake,
/// 1,024: [`layers::pending::DEFAULT_MAX_PENDING`](crate::layers::pending::DEFAULT_MAX_PENDING),
/// whose docs give the reasoning. go-ethereum's `defaultMaxPendingPeers` is
/// 50, but there it is a queue of slots, which connections that send
/// nothing can hold; here a full table drops its oldest entry for a
/// newcomer, so the cap bounds memory, not honest peers' wait.
pub const DEFAULT_MAX_PENDING_PEERS: usize = crate::layers::pending::DEFAULT_MAX_PENDING;

/// The default dial ratio, 3: at most a third of the peer slots are filled by
/// dialing (go-ethereum's `defaultDialRatio` in `p2p/server.go`).
pub const DEFAULT_DIAL_RATIO: usize = 3;

/// The default TCP connect timeout for dialing, 15 s (go-ethereum's
/// `defaultDialTimeout` in `p2p/server.go`).
pub const DEFAULT_DIAL_TIMEOUT: Duration = Duration::from_secs(15);

/// The default time allowed for the whole handshake, encryption and Hello, in
/// both directions, 5 s (go-ethereum's `handshakeTimeout` in
/// `p2p/transport.go`).
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// The default time allowed for reading one complete message, 30 s; in effect
/// how long a connection may be idle (go-ethereum's `frameReadTimeout` in
/// `p2p/server.go`).
pub const DEFAULT_FRAME_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The default time allowed for writing one complete message, 20 s
/// (go-ethereum's `frameWriteTimeout` in `p2p/server.go`).
pub const DEFAULT_FRAME_WRITE_TIMEOUT: Duration = Duration::from_secs(20);

/// The default interval between Pings sent to a peer, 15 s (go-ethereum's
/// `pingInterval` in `p2p/peer.go`).
pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(15);
