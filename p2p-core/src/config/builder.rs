//! Building a configuration in code.

use std::net::SocketAddr;
use std::time::Duration;

use ipnet::IpNet;

use super::{Config, ConfigError, DEFAULT_DIAL_RATIO, DEFAULT_MAX_PENDING_PEERS};
use crate::enode::Enode;
use crate::identity::NodeKey;
use crate::layers::filter::SubnetLimits;
use crate::layers::throttle::ThrottleConfig;

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

    /// Sets the maximum number of inbound connections in their handshake
    /// ([`Config::max_pending_peers`]); 0 means [`DEFAULT_MAX_PENDING_PEERS`].
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
