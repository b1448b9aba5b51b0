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

mod builder;
mod defaults;
mod error;
mod file;
mod settings;

pub use builder::*;
pub use defaults::*;
pub use error::*;
pub use file::*;
pub use settings::*;
