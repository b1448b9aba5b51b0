//! The TOML form of the configuration, and reading it.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer};

use super::{Config, ConfigError};
use crate::enode::Enode;
use crate::identity::NodeKey;
use crate::keyfile;
use crate::layers::filter::SubnetLimits;
use crate::layers::throttle::ThrottleConfig;

/// Parses TOML text into a [`ConfigFile`], locating any error in the text.
pub(super) fn parse_file(text: &str, path: Option<&Path>) -> Result<ConfigFile, ConfigError> {
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
