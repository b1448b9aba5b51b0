//! The server configuration, checked.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use ipnet::IpNet;

use super::file::parse_file;
use super::{
    ConfigBuilder, ConfigError, DEFAULT_CLIENT_ID, DEFAULT_DIAL_RATIO, DEFAULT_DIAL_TIMEOUT,
    DEFAULT_FRAME_READ_TIMEOUT, DEFAULT_FRAME_WRITE_TIMEOUT, DEFAULT_HANDSHAKE_TIMEOUT,
    DEFAULT_LISTEN_ADDR, DEFAULT_MAX_PEERS, DEFAULT_MAX_PENDING_PEERS, DEFAULT_PING_INTERVAL,
};
use crate::enode::Enode;
use crate::identity::NodeKey;
use crate::layers::filter::SubnetLimits;
use crate::layers::throttle::ThrottleConfig;

/// The server configuration.
///
/// Build one with [`Config::builder`], which checks it, or load one with
/// [`Config::from_toml_str`] / [`Config::from_toml_file`]. The fields are
/// public for reading; a `Config` changed by hand can be re-checked with
/// [`Config::validate`]. [`Config::default`] holds the defaults and no key.
#[derive(Clone, Debug)]
pub struct Config {
    /// The node's secp256k1 key. Not needed to build a configuration, but
    /// required to start a server: see [`Config::key`].
    pub private_key: Option<NodeKey>,
    /// The client id sent in the Hello message. Default [`DEFAULT_CLIENT_ID`].
    pub client_id: String,
    /// Where to accept inbound connections; `None` means do not listen.
    /// Port 0 lets the operating system pick one. Default
    /// [`DEFAULT_LISTEN_ADDR`].
    pub listen_addr: Option<SocketAddr>,
    /// The maximum number of connected peers; 0 means no peers other than
    /// trusted ones. Default [`DEFAULT_MAX_PEERS`].
    pub max_peers: usize,
    /// The maximum number of inbound connections in their handshake; a
    /// newcomer that finds this many takes the oldest one's place
    /// ([`layers::pending`](crate::layers::pending)). Outbound handshakes
    /// are bounded by the dial scheduler instead. 0 given to the builder
    /// means the default, [`DEFAULT_MAX_PENDING_PEERS`].
    pub max_pending_peers: usize,
    /// `max_peers / dial_ratio` slots may be filled by dialing; the rest are
    /// for inbound connections. Static and trusted nodes are not limited by
    /// it. 0 means the default, [`DEFAULT_DIAL_RATIO`].
    pub dial_ratio: usize,
    /// Nodes that are always dialed, and redialed after a disconnect.
    pub static_nodes: Vec<Enode>,
    /// Nodes that may always connect, even when the peer slots are full.
    pub trusted_nodes: Vec<Enode>,
    /// If not empty, only hosts in one of these networks are dialed or
    /// accepted. Empty means unrestricted.
    pub net_restrict: Vec<IpNet>,
    /// If true, the server dials no peers (not even static ones) and only
    /// accepts inbound connections.
    pub no_dial: bool,
    /// Nodes used to join the network through discovery.
    pub bootnodes: Vec<Enode>,
    /// The TCP connect timeout when dialing. Default [`DEFAULT_DIAL_TIMEOUT`].
    pub dial_timeout: Duration,
    /// The time allowed for the whole handshake. Default
    /// [`DEFAULT_HANDSHAKE_TIMEOUT`].
    pub handshake_timeout: Duration,
    /// The time allowed for reading one message. Default
    /// [`DEFAULT_FRAME_READ_TIMEOUT`].
    pub frame_read_timeout: Duration,
    /// The time allowed for writing one message. Default
    /// [`DEFAULT_FRAME_WRITE_TIMEOUT`].
    pub frame_write_timeout: Duration,
    /// The interval between Pings. Default [`DEFAULT_PING_INTERVAL`].
    pub ping_interval: Duration,
    /// Whether subscribers to the server's events also get one event per
    /// capability message sent or received (go-ethereum's
    /// `EnableMsgEvents`). Off by default: it costs an event per message.
    pub enable_msg_events: bool,
    /// The server's inbound throttle: one attempt per IP per 30 s, loopback
    /// and LAN exempt, as go-ethereum. A `[inbound_throttle]` table in TOML.
    pub inbound_throttle: ThrottleConfig,
    /// Live connections allowed per IPv4 /24 and IPv6 /64. A `[subnet_limits]`
    /// table in TOML.
    pub subnet_limits: SubnetLimits,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            private_key: None,
            client_id: DEFAULT_CLIENT_ID.to_owned(),
            listen_addr: Some(DEFAULT_LISTEN_ADDR),
            max_peers: DEFAULT_MAX_PEERS,
            max_pending_peers: DEFAULT_MAX_PENDING_PEERS,
            dial_ratio: DEFAULT_DIAL_RATIO,
            static_nodes: Vec::new(),
            trusted_nodes: Vec::new(),
            net_restrict: Vec::new(),
            no_dial: false,
            bootnodes: Vec::new(),
            dial_timeout: DEFAULT_DIAL_TIMEOUT,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            frame_read_timeout: DEFAULT_FRAME_READ_TIMEOUT,
            frame_write_timeout: DEFAULT_FRAME_WRITE_TIMEOUT,
            ping_interval: DEFAULT_PING_INTERVAL,
            enable_msg_events: false,
            inbound_throttle: ThrottleConfig::default(),
            subnet_limits: SubnetLimits::default(),
        }
    }
}

impl Config {
    /// A builder starting from the defaults.
    ///
    /// ```
    /// use std::net::SocketAddr;
    /// use std::time::Duration;
    ///
    /// use p2p_core::config::Config;
    /// use p2p_core::NodeKey;
    ///
    /// let config = Config::builder()
    ///     .private_key(NodeKey::random())
    ///     .listen_addr("127.0.0.1:30305".parse::<SocketAddr>()?)
    ///     .max_peers(25)
    ///     .dial_timeout(Duration::from_secs(10))
    ///     .build()?;
    ///
    /// assert_eq!(config.max_outbound(), 8); // 25 / 3
    /// assert_eq!(config.max_inbound(), 17);
    /// assert!(config.key().is_ok());
    ///
    /// // A key is only needed when the server starts.
    /// let keyless = Config::builder().listen_addr(None).build()?;
    /// assert!(keyless.key().is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// The node key, or [`ConfigError::MissingKey`] if none is configured.
    /// A server calls this when it starts, as go-ethereum's `Server.Start`
    /// refuses a nil `PrivateKey`.
    pub fn key(&self) -> Result<&NodeKey, ConfigError> {
        self.private_key.as_ref().ok_or(ConfigError::MissingKey)
    }

    /// The dial ratio in effect: [`Config::dial_ratio`], or
    /// [`DEFAULT_DIAL_RATIO`] if that is 0.
    pub fn effective_dial_ratio(&self) -> usize {
        if self.dial_ratio == 0 {
            DEFAULT_DIAL_RATIO
        } else {
            self.dial_ratio
        }
    }

    /// The maximum number of dialed (outbound) peers, as go-ethereum's
    /// `Server.MaxDialedConns`: 0 if `no_dial` or `max_peers` is 0, otherwise
    /// `max_peers / dial_ratio` rounded down but at least 1.
    pub fn max_outbound(&self) -> usize {
        if self.no_dial || self.max_peers == 0 {
            return 0;
        }
        (self.max_peers / self.effective_dial_ratio()).max(1)
    }

    /// The maximum number of inbound peers, as go-ethereum's
    /// `Server.MaxInboundConns`: `max_peers - max_outbound()`.
    pub fn max_inbound(&self) -> usize {
        self.max_peers - self.max_outbound()
    }

    /// Whether `ip` may be dialed or accepted under [`Config::net_restrict`]:
    /// always if the list is empty, otherwise if a network in it contains
    /// `ip`. An IPv4-mapped IPv6 address is checked as the IPv4 address.
    pub fn allows_ip(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.net_restrict.is_empty() || self.net_restrict.iter().any(|net| net.contains(&ip))
    }

    /// Checks the settings the builder checks: every timeout and interval
    /// must be greater than zero. (`dial_ratio` and `max_pending_peers` of 0
    /// mean their defaults, and `max_peers` of 0 is allowed, as in
    /// go-ethereum.)
    pub fn validate(&self) -> Result<(), ConfigError> {
        let durations = [
            ("dial_timeout", self.dial_timeout),
            ("handshake_timeout", self.handshake_timeout),
            ("frame_read_timeout", self.frame_read_timeout),
            ("frame_write_timeout", self.frame_write_timeout),
            ("ping_interval", self.ping_interval),
        ];
        for (field, value) in durations {
            if value.is_zero() {
                return Err(ConfigError::ZeroDuration { field });
            }
        }
        Ok(())
    }

    /// Parses a configuration from TOML text (see the [module
    /// documentation](crate::config) for the keys). A relative `private_key_file` is
    /// resolved against the current directory.
    pub fn from_toml_str(text: &str) -> Result<Config, ConfigError> {
        parse_file(text, None)?.into_config(None)
    }

    /// Reads a configuration from a TOML file. A relative `private_key_file`
    /// is resolved against the directory holding `path`.
    pub fn from_toml_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_owned(),
            source,
        })?;
        let file = parse_file(&text, Some(path))?;
        file.into_config(path.parent())
    }
}
