//! Server configuration: the settings go-ethereum keeps in `p2p.Config`.
//!
//! A [`Config`] is built in code with [`Config::builder`] or loaded from TOML
//! with [`Config::from_toml_str`] / [`Config::from_toml_file`]. The defaults
//! are go-ethereum's; each is a named constant below saying where it comes
//! from.
//!
//! Protocols (the capabilities a node runs) are values with behaviour, not
//! settings, so they are not part of the configuration: the server takes them
//! separately.
//!
//! # TOML
//!
//! Every key is optional; a missing key keeps its default. Unknown keys are an
//! error, so a misspelt setting is reported rather than silently ignored.
//!
//! ```toml
//! private_key_file = "nodekey"      # or: private_key = "<64 hex characters>"
//! client_id = "my-node/v1.0"
//! listen_addr = "0.0.0.0:30303"     # "" = do not listen; ":30303" = all IPv4 interfaces
//! max_peers = 50
//! max_pending_peers = 50
//! dial_ratio = 3
//! no_dial = false
//! static_nodes = ["enode://<128 hex>@10.0.0.1:30303"]
//! trusted_nodes = []
//! bootnodes = ["enode://<128 hex>@10.0.0.2:30303?discport=30301"]
//! net_restrict = ["10.0.0.0/8", "fd00::/8"]
//! dial_timeout = "15s"
//! handshake_timeout = "5s"
//! frame_read_timeout = "30s"
//! frame_write_timeout = "20s"
//! ping_interval = "15s"
//! enable_msg_events = false
//!
//! [inbound_throttle]                # one inbound attempt per IP per window
//! window = "30s"
//! exempt_loopback = true
//! exempt_lan = true
//!
//! [subnet_limits]                   # live connections per IPv4 /24 and IPv6 /64
//! max_per_ipv4_24 = 5
//! max_per_ipv6_64 = 5
//! exempt_loopback = true
//! ```

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer};

use crate::enode::Enode;
use crate::identity::{IdentityError, NodeKey};
use crate::keyfile::{self, KeyFileError};
use crate::layers::filter::SubnetLimits;
use crate::layers::throttle::ThrottleConfig;

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

/// The default maximum number of connections in the handshake phase, counted
/// separately for inbound and outbound connections, 50 (go-ethereum's
/// `defaultMaxPendingPeers` in `p2p/server.go`).
pub const DEFAULT_MAX_PENDING_PEERS: usize = 50;

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

/// Why a configuration could not be built, loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The TOML text is malformed, has an unknown key, or has a value of the
    /// wrong type or form (a bad enode URL, CIDR network, duration, ...).
    #[error("invalid configuration{}: {message}", location(.file, .line, .column))]
    Toml {
        /// The file the text came from, if it came from a file.
        file: Option<PathBuf>,
        /// The 1-based line of the offending text, when known.
        line: Option<usize>,
        /// The 1-based column (in characters) of the offending text, when known.
        column: Option<usize>,
        /// What is wrong, as the TOML parser describes it; it names the
        /// offending key or value.
        message: String,
    },
    /// The configuration file could not be read.
    #[error("cannot read configuration file {}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Both `private_key` and `private_key_file` are set.
    #[error("both private_key and private_key_file are set; use only one")]
    ConflictingKeys,
    /// `private_key` is not a valid secret key. The key text itself is never
    /// included in the error.
    #[error("private_key is not a valid secp256k1 secret key: {0}")]
    InvalidKey(#[source] IdentityError),
    /// The file named by `private_key_file` could not be read or does not
    /// hold a valid key.
    #[error("private_key_file: {0}")]
    KeyFile(#[from] KeyFileError),
    /// A timeout or interval is zero.
    #[error("{field} must be greater than zero")]
    ZeroDuration {
        /// The setting's name, as spelt in TOML.
        field: &'static str,
    },
    /// No private key is configured; the server cannot start without one.
    #[error(
        "no private key configured: set it with ConfigBuilder::private_key, \
         or private_key / private_key_file in the configuration file"
    )]
    MissingKey,
}

/// Formats the " in <file> at line L, column C" part of a TOML error.
fn location(file: &Option<PathBuf>, line: &Option<usize>, column: &Option<usize>) -> String {
    let mut out = String::new();
    if let Some(file) = file {
        out.push_str(&format!(" in {}", file.display()));
    }
    match (line, column) {
        (Some(line), Some(column)) => out.push_str(&format!(" at line {line}, column {column}")),
        (Some(line), None) => out.push_str(&format!(" at line {line}")),
        _ => {}
    }
    out
}

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
    /// The maximum number of connections in the handshake phase, counted
    /// separately for each direction. 0 given to the builder means the
    /// default, [`DEFAULT_MAX_PENDING_PEERS`].
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
    /// documentation](self) for the keys). A relative `private_key_file` is
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

/// Parses TOML text into a [`ConfigFile`], locating any error in the text.
fn parse_file(text: &str, path: Option<&Path>) -> Result<ConfigFile, ConfigError> {
    toml::from_str(text).map_err(|error: toml::de::Error| {
        let (line, column) = error
            .span()
            .and_then(|span| line_column(text, span.start))
            .map_or((None, None), |(l, c)| (Some(l), Some(c)));
        ConfigError::Toml {
            file: path.map(Path::to_owned),
            line,
            column,
            message: error.message().trim_end().to_owned(),
        }
    })
}

/// The 1-based line and column (in characters) of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> Option<(usize, usize)> {
    let before = text.get(..offset)?;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.matches('\n').count() + 1;
    let column = before[line_start..].chars().count() + 1;
    Some((line, column))
}

/// Builds a [`Config`], starting from the defaults. Each method sets one
/// field; [`ConfigBuilder::build`] checks the result.
#[derive(Clone, Debug, Default)]
#[must_use = "a builder does nothing until build() is called"]
pub struct ConfigBuilder {
    config: Config,
}

impl From<Config> for ConfigBuilder {
    /// A builder starting from an existing configuration.
    fn from(config: Config) -> Self {
        ConfigBuilder { config }
    }
}

impl ConfigBuilder {
    /// Sets the node key.
    pub fn private_key(mut self, key: NodeKey) -> Self {
        self.config.private_key = Some(key);
        self
    }

    /// Sets the client id sent in the Hello message.
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.config.client_id = client_id.into();
        self
    }

    /// Sets the listening address; `None` means do not listen.
    pub fn listen_addr(mut self, addr: impl Into<Option<SocketAddr>>) -> Self {
        self.config.listen_addr = addr.into();
        self
    }

    /// Sets the maximum number of connected peers (0 is allowed).
    pub fn max_peers(mut self, max_peers: usize) -> Self {
        self.config.max_peers = max_peers;
        self
    }

    /// Sets the maximum number of connections in the handshake phase per
    /// direction; 0 means [`DEFAULT_MAX_PENDING_PEERS`].
    pub fn max_pending_peers(mut self, max_pending_peers: usize) -> Self {
        self.config.max_pending_peers = max_pending_peers;
        self
    }

    /// Sets the dial ratio; 0 means [`DEFAULT_DIAL_RATIO`].
    pub fn dial_ratio(mut self, dial_ratio: usize) -> Self {
        self.config.dial_ratio = dial_ratio;
        self
    }

    /// Sets the static nodes, replacing any set before.
    pub fn static_nodes(mut self, nodes: impl IntoIterator<Item = Enode>) -> Self {
        self.config.static_nodes = nodes.into_iter().collect();
        self
    }

    /// Sets the trusted nodes, replacing any set before.
    pub fn trusted_nodes(mut self, nodes: impl IntoIterator<Item = Enode>) -> Self {
        self.config.trusted_nodes = nodes.into_iter().collect();
        self
    }

    /// Sets the networks connections are restricted to, replacing any set
    /// before; none means unrestricted.
    pub fn net_restrict(mut self, networks: impl IntoIterator<Item = IpNet>) -> Self {
        self.config.net_restrict = networks.into_iter().collect();
        self
    }

    /// Sets whether the server refrains from dialing.
    pub fn no_dial(mut self, no_dial: bool) -> Self {
        self.config.no_dial = no_dial;
        self
    }

    /// Sets the bootstrap nodes, replacing any set before.
    pub fn bootnodes(mut self, nodes: impl IntoIterator<Item = Enode>) -> Self {
        self.config.bootnodes = nodes.into_iter().collect();
        self
    }

    /// Sets the TCP connect timeout for dialing.
    pub fn dial_timeout(mut self, timeout: Duration) -> Self {
        self.config.dial_timeout = timeout;
        self
    }

    /// Sets the time allowed for the whole handshake.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.config.handshake_timeout = timeout;
        self
    }

    /// Sets the time allowed for reading one message.
    pub fn frame_read_timeout(mut self, timeout: Duration) -> Self {
        self.config.frame_read_timeout = timeout;
        self
    }

    /// Sets the time allowed for writing one message.
    pub fn frame_write_timeout(mut self, timeout: Duration) -> Self {
        self.config.frame_write_timeout = timeout;
        self
    }

    /// Sets the interval between Pings.
    pub fn ping_interval(mut self, interval: Duration) -> Self {
        self.config.ping_interval = interval;
        self
    }

    /// Turns message events on or off.
    pub fn enable_msg_events(mut self, enabled: bool) -> Self {
        self.config.enable_msg_events = enabled;
        self
    }

    /// Sets the inbound throttle.
    pub fn inbound_throttle(mut self, throttle: ThrottleConfig) -> Self {
        self.config.inbound_throttle = throttle;
        self
    }

    /// Sets the per-subnet connection limits.
    pub fn subnet_limits(mut self, limits: SubnetLimits) -> Self {
        self.config.subnet_limits = limits;
        self
    }

    /// Checks the settings and returns the configuration.
    ///
    /// A `dial_ratio` or `max_pending_peers` of 0 is replaced by its default,
    /// as go-ethereum reads them. A zero timeout or interval is an error. A
    /// missing private key is not: [`Config::key`] reports it when the server
    /// starts.
    pub fn build(self) -> Result<Config, ConfigError> {
        let mut config = self.config;
        if config.dial_ratio == 0 {
            config.dial_ratio = DEFAULT_DIAL_RATIO;
        }
        if config.max_pending_peers == 0 {
            config.max_pending_peers = DEFAULT_MAX_PENDING_PEERS;
        }
        config.validate()?;
        if config.no_dial && config.listen_addr.is_none() {
            tracing::warn!(
                "P2P configuration neither dials nor listens; the server will be useless"
            );
        }
        Ok(config)
    }
}

/// The TOML form of a [`Config`], for embedding the settings in a larger
/// configuration file (for example as a `[p2p]` table) and turning them into
/// a `Config` with [`ConfigFile::into_config`].
///
/// Every field is optional; `None` or an empty list keeps the default. Values
/// are checked while deserializing, so a bad enode URL, network or duration is
/// reported with its position. Unknown keys are refused.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// The node key as 64 hex characters. Excludes `private_key_file`.
    pub private_key: Option<String>,
    /// A go-ethereum `nodekey` file to read the node key from. Excludes
    /// `private_key`.
    pub private_key_file: Option<PathBuf>,
    /// See [`Config::client_id`].
    pub client_id: Option<String>,
    /// See [`Config::listen_addr`]. In TOML an `ip:port` string; `""` means do
    /// not listen (the outer `Some(None)`), and `":port"` means all IPv4
    /// interfaces, as go-ethereum writes it. Host names are not resolved.
    #[serde(default, deserialize_with = "de_listen_addr")]
    pub listen_addr: Option<Option<SocketAddr>>,
    /// See [`Config::max_peers`].
    pub max_peers: Option<usize>,
    /// See [`Config::max_pending_peers`].
    pub max_pending_peers: Option<usize>,
    /// See [`Config::dial_ratio`].
    pub dial_ratio: Option<usize>,
    /// See [`Config::static_nodes`]; `enode://` URL strings in TOML.
    #[serde(default, deserialize_with = "de_parsed_list")]
    pub static_nodes: Vec<Enode>,
    /// See [`Config::trusted_nodes`]; `enode://` URL strings in TOML.
    #[serde(default, deserialize_with = "de_parsed_list")]
    pub trusted_nodes: Vec<Enode>,
    /// See [`Config::net_restrict`]; CIDR strings such as `"10.0.0.0/8"` in
    /// TOML.
    #[serde(default, deserialize_with = "de_parsed_list")]
    pub net_restrict: Vec<IpNet>,
    /// See [`Config::no_dial`].
    pub no_dial: Option<bool>,
    /// See [`Config::bootnodes`]; `enode://` URL strings in TOML.
    #[serde(default, deserialize_with = "de_parsed_list")]
    pub bootnodes: Vec<Enode>,
    /// See [`Config::dial_timeout`]; a duration such as `"15s"` in TOML.
    #[serde(default, deserialize_with = "humantime_serde::deserialize")]
    pub dial_timeout: Option<Duration>,
    /// See [`Config::handshake_timeout`]; a duration such as `"5s"` in TOML.
    #[serde(default, deserialize_with = "humantime_serde::deserialize")]
    pub handshake_timeout: Option<Duration>,
    /// See [`Config::frame_read_timeout`]; a duration such as `"30s"` in TOML.
    #[serde(default, deserialize_with = "humantime_serde::deserialize")]
    pub frame_read_timeout: Option<Duration>,
    /// See [`Config::frame_write_timeout`]; a duration such as `"20s"` in
    /// TOML.
    #[serde(default, deserialize_with = "humantime_serde::deserialize")]
    pub frame_write_timeout: Option<Duration>,
    /// See [`Config::ping_interval`]; a duration such as `"15s"` in TOML.
    #[serde(default, deserialize_with = "humantime_serde::deserialize")]
    pub ping_interval: Option<Duration>,
    /// See [`Config::enable_msg_events`].
    pub enable_msg_events: Option<bool>,
    /// See [`Config::inbound_throttle`].
    pub inbound_throttle: Option<ThrottleConfig>,
    /// See [`Config::subnet_limits`].
    pub subnet_limits: Option<SubnetLimits>,
}

impl fmt::Debug for ConfigFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the secret key.
        f.debug_struct("ConfigFile")
            .field(
                "private_key",
                &self.private_key.as_ref().map(|_| "<redacted>"),
            )
            .field("private_key_file", &self.private_key_file)
            .field("client_id", &self.client_id)
            .field("listen_addr", &self.listen_addr)
            .field("max_peers", &self.max_peers)
            .field("max_pending_peers", &self.max_pending_peers)
            .field("dial_ratio", &self.dial_ratio)
            .field("static_nodes", &self.static_nodes)
            .field("trusted_nodes", &self.trusted_nodes)
            .field("net_restrict", &self.net_restrict)
            .field("no_dial", &self.no_dial)
            .field("bootnodes", &self.bootnodes)
            .field("dial_timeout", &self.dial_timeout)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("frame_read_timeout", &self.frame_read_timeout)
            .field("frame_write_timeout", &self.frame_write_timeout)
            .field("ping_interval", &self.ping_interval)
            .field("enable_msg_events", &self.enable_msg_events)
            .field("inbound_throttle", &self.inbound_throttle)
            .field("subnet_limits", &self.subnet_limits)
            .finish()
    }
}

impl ConfigFile {
    /// Turns the settings into a checked [`Config`], reading the key file if
    /// one is named. A relative `private_key_file` is resolved against
    /// `base_dir` (normally the directory of the TOML file), or the current
    /// directory if `base_dir` is `None`.
    pub fn into_config(self, base_dir: Option<&Path>) -> Result<Config, ConfigError> {
        let key = match (self.private_key, self.private_key_file) {
            (Some(_), Some(_)) => return Err(ConfigError::ConflictingKeys),
            (Some(hex), None) => Some(NodeKey::from_str(&hex).map_err(ConfigError::InvalidKey)?),
            (None, Some(path)) => {
                let path = match base_dir {
                    Some(dir) if path.is_relative() => dir.join(path),
                    _ => path,
                };
                Some(keyfile::load(&path)?)
            }
            (None, None) => None,
        };

        let mut builder = Config::builder()
            .static_nodes(self.static_nodes)
            .trusted_nodes(self.trusted_nodes)
            .net_restrict(self.net_restrict)
            .bootnodes(self.bootnodes);
        if let Some(key) = key {
            builder = builder.private_key(key);
        }
        if let Some(client_id) = self.client_id {
            builder = builder.client_id(client_id);
        }
        if let Some(addr) = self.listen_addr {
            builder = builder.listen_addr(addr);
        }
        if let Some(n) = self.max_peers {
            builder = builder.max_peers(n);
        }
        if let Some(n) = self.max_pending_peers {
            builder = builder.max_pending_peers(n);
        }
        if let Some(n) = self.dial_ratio {
            builder = builder.dial_ratio(n);
        }
        if let Some(no_dial) = self.no_dial {
            builder = builder.no_dial(no_dial);
        }
        if let Some(d) = self.dial_timeout {
            builder = builder.dial_timeout(d);
        }
        if let Some(d) = self.handshake_timeout {
            builder = builder.handshake_timeout(d);
        }
        if let Some(d) = self.frame_read_timeout {
            builder = builder.frame_read_timeout(d);
        }
        if let Some(d) = self.frame_write_timeout {
            builder = builder.frame_write_timeout(d);
        }
        if let Some(d) = self.ping_interval {
            builder = builder.ping_interval(d);
        }
        if let Some(enabled) = self.enable_msg_events {
            builder = builder.enable_msg_events(enabled);
        }
        if let Some(throttle) = self.inbound_throttle {
            builder = builder.inbound_throttle(throttle);
        }
        if let Some(limits) = self.subnet_limits {
            builder = builder.subnet_limits(limits);
        }
        builder.build()
    }
}

/// How a string value is described in error messages.
trait Described: FromStr {
    const WHAT: &'static str;
}

impl Described for Enode {
    const WHAT: &'static str = "enode URL";
}

impl Described for IpNet {
    const WHAT: &'static str = "CIDR network";
}

/// Reads a list of strings and parses each with its `FromStr`. The TOML
/// parser locates an error at the list, so the message names the entry.
fn de_parsed_list<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Described,
    T::Err: fmt::Display,
{
    let items = Vec::<String>::deserialize(deserializer)?;
    items
        .iter()
        .enumerate()
        .map(|(index, text)| {
            text.parse().map_err(|e| {
                serde::de::Error::custom(format_args!(
                    "invalid {} {text:?} (list entry {index}): {e}",
                    T::WHAT
                ))
            })
        })
        .collect()
}

fn de_listen_addr<'de, D>(deserializer: D) -> Result<Option<Option<SocketAddr>>, D::Error>
where
    D: Deserializer<'de>,
{
    let text = String::deserialize(deserializer)?;
    parse_listen_addr(&text).map(Some).map_err(|e| {
        serde::de::Error::custom(format_args!(
            "invalid listen_addr {text:?}: {e} (expected \"ip:port\", \":port\" or \"\")"
        ))
    })
}

/// Parses `""` (do not listen), `":port"` (all IPv4 interfaces) or `ip:port`.
fn parse_listen_addr(text: &str) -> Result<Option<SocketAddr>, std::net::AddrParseError> {
    if text.is_empty() {
        return Ok(None);
    }
    if let Some(port) = text.strip_prefix(':') {
        if let Ok(port) = port.parse::<u16>() {
            return Ok(Some(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port))));
        }
    }
    text.parse().map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    fn enode(port: u16) -> Enode {
        Enode::new(
            NodeKey::random().id(),
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            port,
            port,
        )
    }

    fn toml_error(text: &str) -> (Option<usize>, Option<usize>, String) {
        match Config::from_toml_str(text) {
            Err(ConfigError::Toml {
                line,
                column,
                message,
                ..
            }) => (line, column, message),
            other => panic!("expected a TOML error, got {other:?}"),
        }
    }

    #[test]
    fn defaults_match_go_ethereum() {
        let config = Config::default();
        assert!(config.private_key.is_none());
        assert_eq!(config.client_id, DEFAULT_CLIENT_ID);
        assert!(config.client_id.starts_with("devp2p-rs/v"));
        assert_eq!(config.listen_addr, Some("0.0.0.0:30303".parse().unwrap()));
        assert_eq!(config.max_peers, 50);
        assert_eq!(config.max_pending_peers, 50);
        assert_eq!(config.dial_ratio, 3);
        assert!(config.static_nodes.is_empty());
        assert!(config.trusted_nodes.is_empty());
        assert!(config.net_restrict.is_empty());
        assert!(!config.no_dial);
        assert!(config.bootnodes.is_empty());
        assert_eq!(config.dial_timeout, Duration::from_secs(15));
        assert_eq!(config.handshake_timeout, Duration::from_secs(5));
        assert_eq!(config.frame_read_timeout, Duration::from_secs(30));
        assert_eq!(config.frame_write_timeout, Duration::from_secs(20));
        assert_eq!(config.ping_interval, Duration::from_secs(15));

        // The builder and an empty TOML file start from the same defaults.
        for other in [
            Config::builder().build().unwrap(),
            Config::from_toml_str("").unwrap(),
        ] {
            assert_eq!(format!("{other:?}"), format!("{config:?}"));
        }
    }

    #[test]
    fn builder_round_trip() {
        let key = NodeKey::random();
        let (s, t, b) = (enode(1), enode(2), enode(3));
        let net: IpNet = "192.168.0.0/16".parse().unwrap();
        let addr: SocketAddr = "[::1]:4000".parse().unwrap();
        let config = Config::builder()
            .private_key(key.clone())
            .client_id("test/v1")
            .listen_addr(addr)
            .max_peers(10)
            .max_pending_peers(7)
            .dial_ratio(2)
            .static_nodes([s])
            .trusted_nodes(vec![t])
            .net_restrict([net])
            .no_dial(true)
            .bootnodes([b])
            .dial_timeout(Duration::from_secs(1))
            .handshake_timeout(Duration::from_secs(2))
            .frame_read_timeout(Duration::from_secs(3))
            .frame_write_timeout(Duration::from_secs(4))
            .ping_interval(Duration::from_millis(500))
            .build()
            .unwrap();
        assert_eq!(config.key().unwrap().id(), key.id());
        assert_eq!(config.client_id, "test/v1");
        assert_eq!(config.listen_addr, Some(addr));
        assert_eq!(config.max_peers, 10);
        assert_eq!(config.max_pending_peers, 7);
        assert_eq!(config.dial_ratio, 2);
        assert_eq!(config.static_nodes, vec![s]);
        assert_eq!(config.trusted_nodes, vec![t]);
        assert_eq!(config.net_restrict, vec![net]);
        assert!(config.no_dial);
        assert_eq!(config.bootnodes, vec![b]);
        assert_eq!(config.dial_timeout, Duration::from_secs(1));
        assert_eq!(config.handshake_timeout, Duration::from_secs(2));
        assert_eq!(config.frame_read_timeout, Duration::from_secs(3));
        assert_eq!(config.frame_write_timeout, Duration::from_secs(4));
        assert_eq!(config.ping_interval, Duration::from_millis(500));

        // Back through a builder unchanged, and `None` turns listening off.
        let again = ConfigBuilder::from(config.clone()).build().unwrap();
        assert_eq!(format!("{again:?}"), format!("{config:?}"));
        let quiet = ConfigBuilder::from(config)
            .listen_addr(None)
            .build()
            .unwrap();
        assert_eq!(quiet.listen_addr, None);
    }

    #[test]
    fn builder_rejects_zero_durations() {
        type Set = fn(ConfigBuilder, Duration) -> ConfigBuilder;
        let cases: [(&str, Set); 5] = [
            ("dial_timeout", ConfigBuilder::dial_timeout),
            ("handshake_timeout", ConfigBuilder::handshake_timeout),
            ("frame_read_timeout", ConfigBuilder::frame_read_timeout),
            ("frame_write_timeout", ConfigBuilder::frame_write_timeout),
            ("ping_interval", ConfigBuilder::ping_interval),
        ];
        for (name, set) in cases {
            let err = set(Config::builder(), Duration::ZERO).build().unwrap_err();
            assert!(
                matches!(err, ConfigError::ZeroDuration { field } if field == name),
                "{name}: {err:?}"
            );
            assert_eq!(err.to_string(), format!("{name} must be greater than zero"));
        }
    }

    #[test]
    fn zero_max_peers_is_allowed_and_zero_pending_means_default() {
        let config = Config::builder()
            .max_peers(0)
            .max_pending_peers(0)
            .build()
            .unwrap();
        assert_eq!(config.max_peers, 0);
        assert_eq!(config.max_pending_peers, DEFAULT_MAX_PENDING_PEERS);
    }

    #[test]
    fn missing_key_is_reported_by_key() {
        let config = Config::builder().build().unwrap();
        let err = config.key().unwrap_err();
        assert!(matches!(err, ConfigError::MissingKey));
        assert!(err.to_string().contains("no private key"), "{err}");
    }

    fn limits(max_peers: usize, dial_ratio: usize) -> (usize, usize) {
        let config = Config {
            max_peers,
            dial_ratio,
            ..Config::default()
        };
        (config.max_outbound(), config.max_inbound())
    }

    #[test]
    fn max_outbound_and_inbound_follow_go_ethereum() {
        assert_eq!(limits(50, 3), (16, 34));
        // At least one dial slot whenever peers are allowed at all.
        assert_eq!(limits(1, 3), (1, 0));
        assert_eq!(limits(2, 3), (1, 1));
        assert_eq!(limits(0, 3), (0, 0));
        assert_eq!(limits(10, 1), (10, 0));
        assert_eq!(limits(50, 2), (25, 25));
    }

    #[test]
    fn dial_ratio_zero_means_default() {
        assert_eq!(limits(50, 0), limits(50, DEFAULT_DIAL_RATIO));
        let config = Config::builder().dial_ratio(0).build().unwrap();
        assert_eq!(config.dial_ratio, DEFAULT_DIAL_RATIO);
        let config = Config::from_toml_str("dial_ratio = 0").unwrap();
        assert_eq!(config.dial_ratio, DEFAULT_DIAL_RATIO);
    }

    #[test]
    fn no_dial_leaves_every_slot_inbound() {
        let config = Config::builder().no_dial(true).build().unwrap();
        assert_eq!(config.max_outbound(), 0);
        assert_eq!(config.max_inbound(), 50);
    }

    #[test]
    fn net_restrict_filters_ips() {
        let open = Config::default();
        assert!(open.allows_ip(IpAddr::V4(Ipv4Addr::new(8, 8, 8, 8))));
        let restricted = Config::builder()
            .net_restrict(["10.0.0.0/8".parse().unwrap()])
            .build()
            .unwrap();
        assert!(restricted.allows_ip(IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3))));
        assert!(!restricted.allows_ip(IpAddr::V4(Ipv4Addr::new(11, 1, 2, 3))));
        let mapped = Ipv4Addr::new(10, 1, 2, 3).to_ipv6_mapped();
        assert!(restricted.allows_ip(IpAddr::V6(mapped)));
        assert!(!restricted.allows_ip(IpAddr::V6(Ipv6Addr::LOCALHOST)));
    }

    #[test]
    fn toml_with_every_field_parses() {
        let key = NodeKey::random();
        let (s, t, b) = (enode(30303), enode(30304), enode(30305));
        let text = format!(
            r#"
private_key = "{key}"
client_id = "toml-node/v2"
listen_addr = "127.0.0.1:4444"
max_peers = 20
max_pending_peers = 5
dial_ratio = 4
static_nodes = ["{s}"]
trusted_nodes = ["{t}"]
net_restrict = ["10.0.0.0/8", "fd00::/8"]
no_dial = true
bootnodes = ["{b}"]
dial_timeout = "2s"
handshake_timeout = "1500ms"
frame_read_timeout = "1m"
frame_write_timeout = "10s"
ping_interval = "1m 30s"
enable_msg_events = true

[inbound_throttle]
window = "10s"
exempt_lan = false

[subnet_limits]
max_per_ipv4_24 = 2
"#,
            key = hex_secret(&key),
        );
        let config = Config::from_toml_str(&text).unwrap();
        assert_eq!(config.key().unwrap().id(), key.id());
        assert_eq!(config.client_id, "toml-node/v2");
        assert_eq!(config.listen_addr, Some("127.0.0.1:4444".parse().unwrap()));
        assert_eq!(config.max_peers, 20);
        assert_eq!(config.max_pending_peers, 5);
        assert_eq!(config.dial_ratio, 4);
        assert_eq!(config.static_nodes, vec![s]);
        assert_eq!(config.trusted_nodes, vec![t]);
        assert_eq!(
            config.net_restrict,
            vec![
                "10.0.0.0/8".parse::<IpNet>().unwrap(),
                "fd00::/8".parse().unwrap()
            ]
        );
        assert!(config.no_dial);
        assert!(config.enable_msg_events);
        assert_eq!(config.inbound_throttle.window, Duration::from_secs(10));
        assert!(!config.inbound_throttle.exempt_lan);
        assert!(
            config.inbound_throttle.exempt_loopback,
            "unset keys keep defaults"
        );
        assert_eq!(config.subnet_limits.max_per_ipv4_24, 2);
        assert_eq!(
            config.subnet_limits.max_per_ipv6_64,
            SubnetLimits::default().max_per_ipv6_64
        );
        assert_eq!(config.bootnodes, vec![b]);
        assert_eq!(config.dial_timeout, Duration::from_secs(2));
        assert_eq!(config.handshake_timeout, Duration::from_millis(1500));
        assert_eq!(config.frame_read_timeout, Duration::from_secs(60));
        assert_eq!(config.frame_write_timeout, Duration::from_secs(10));
        assert_eq!(config.ping_interval, Duration::from_secs(90));
    }

    fn hex_secret(key: &NodeKey) -> String {
        key.secret_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    #[test]
    fn toml_listen_addr_forms() {
        let parse = |v: &str| {
            Config::from_toml_str(&format!("listen_addr = {v:?}"))
                .unwrap()
                .listen_addr
        };
        assert_eq!(parse(""), None);
        assert_eq!(parse(":30305"), Some("0.0.0.0:30305".parse().unwrap()));
        assert_eq!(parse("[::]:1"), Some("[::]:1".parse().unwrap()));
        let (line, _, message) = toml_error("listen_addr = \"localhost:30303\"");
        assert_eq!(line, Some(1));
        assert!(message.contains("invalid listen_addr"), "{message}");
    }

    #[test]
    fn toml_bad_enode_is_located() {
        let text = format!(
            "max_peers = 3\nstatic_nodes = [\"{}\", \"enode://abc@1.2.3.4:30303\"]\n",
            enode(1)
        );
        let (line, column, message) = toml_error(&text);
        assert_eq!((line, column), (Some(2), Some(16)));
        assert!(message.contains("invalid enode URL"), "{message}");
        assert!(message.contains("list entry 1"), "{message}");
        assert!(message.contains("invalid public key"), "{message}");
    }

    #[test]
    fn toml_bad_cidr_is_reported() {
        let (line, column, message) = toml_error("net_restrict = [\"10.0.0.0/33\"]");
        assert_eq!((line, column), (Some(1), Some(16)));
        assert!(message.contains("invalid CIDR network"), "{message}");
        assert!(message.contains("10.0.0.0/33"), "{message}");
    }

    #[test]
    fn toml_bad_duration_is_reported() {
        let (line, _, message) = toml_error("\n\ndial_timeout = \"fifteen\"");
        assert_eq!(line, Some(3));
        assert!(!message.is_empty());

        let err = Config::from_toml_str("ping_interval = \"0s\"").unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::ZeroDuration {
                    field: "ping_interval"
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn toml_unknown_key_is_named() {
        let (line, column, message) = toml_error("max_peers = 5\nmax_peer = 5\n");
        assert_eq!((line, column), (Some(2), Some(1)));
        assert!(message.contains("max_peer`"), "{message}");
        let err = Config::from_toml_str("max_peer = 5")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("invalid configuration at line 1, column 1:"),
            "{err}"
        );
    }

    #[test]
    fn toml_wrong_type_is_reported() {
        let (line, _, message) = toml_error("max_peers = -1");
        assert_eq!(line, Some(1));
        assert!(!message.is_empty());
    }

    #[test]
    fn toml_both_keys_conflict() {
        let text = format!(
            "private_key = \"{}\"\nprivate_key_file = \"nodekey\"",
            hex_secret(&NodeKey::random())
        );
        let err = Config::from_toml_str(&text).unwrap_err();
        assert!(matches!(err, ConfigError::ConflictingKeys), "{err:?}");
        assert!(err.to_string().contains("private_key_file"), "{err}");
    }

    #[test]
    fn toml_bad_private_key_does_not_leak_it() {
        let secret = "zz".repeat(32);
        let err = Config::from_toml_str(&format!("private_key = \"{secret}\"")).unwrap_err();
        assert!(matches!(err, ConfigError::InvalidKey(_)), "{err:?}");
        assert!(!err.to_string().contains(&secret), "{err}");
        assert!(!format!("{err:?}").contains(&secret), "{err:?}");
    }

    #[test]
    fn config_file_debug_redacts_key() {
        let secret = hex_secret(&NodeKey::random());
        let file: ConfigFile = toml::from_str(&format!("private_key = \"{secret}\"")).unwrap();
        let debug = format!("{file:?}");
        assert!(!debug.contains(&secret), "{debug}");
        assert!(debug.contains("<redacted>"), "{debug}");
    }

    #[test]
    fn toml_file_resolves_relative_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let key = NodeKey::random();
        keyfile::save(&dir.path().join("keys").join("nodekey"), &key).unwrap();
        let path = dir.path().join("p2p.toml");
        std::fs::write(
            &path,
            "private_key_file = \"keys/nodekey\"\nmax_peers = 9\n",
        )
        .unwrap();

        let config = Config::from_toml_file(&path).unwrap();
        assert_eq!(config.key().unwrap().id(), key.id());
        assert_eq!(config.max_peers, 9);

        // An absolute path is used as it is.
        let absolute = dir.path().join("keys").join("nodekey");
        let text = format!("private_key_file = {:?}", absolute.to_str().unwrap());
        let config = Config::from_toml_str(&text).unwrap();
        assert_eq!(config.key().unwrap().id(), key.id());
    }

    #[test]
    fn toml_file_missing_key_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p2p.toml");
        std::fs::write(&path, "private_key_file = \"absent\"").unwrap();
        let err = Config::from_toml_file(&path).unwrap_err();
        assert!(matches!(err, ConfigError::KeyFile(_)), "{err:?}");
        assert!(err.to_string().contains("absent"), "{err}");
    }

    #[test]
    fn toml_file_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p2p.toml");
        std::fs::write(&path, "bogus = 1").unwrap();
        let err = Config::from_toml_file(&path).unwrap_err();
        assert!(
            matches!(&err, ConfigError::Toml { file: Some(f), .. } if *f == path),
            "{err:?}"
        );
        assert!(err.to_string().contains("p2p.toml"), "{err}");
        assert!(err.to_string().contains("bogus"), "{err}");

        let missing = dir.path().join("missing.toml");
        let err = Config::from_toml_file(&missing).unwrap_err();
        assert!(matches!(err, ConfigError::Io { .. }), "{err:?}");
    }
}
