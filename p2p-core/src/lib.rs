//! The core of a devp2p stack: node identities, messages, the base protocol
//! (Hello, Disconnect, Ping, Pong) and the traits that connect a transport to
//! the layers above it.
//!
//! `p2p-core` knows no concrete transport. A transport crate such as
//! `p2p-rlpx` is the encryption stage: it turns a byte stream into a
//! [`MsgConn`]. From there the Hello stage, the checkpoints, the session and
//! the plugins are shared; [`pipeline`] draws the chain, and
//! [`Server::builder`] composes it.
//!
//! ```
//! use p2p_core::{NodeKey, Enode};
//!
//! let key = NodeKey::random();
//! let enode = Enode::new(key.id(), "127.0.0.1".parse().unwrap(), 30303, 30303);
//! let text = enode.to_string();
//! assert_eq!(text.parse::<Enode>().unwrap(), enode);
//! ```
#![warn(missing_docs)]

pub mod base;
pub mod candidates;
pub mod capability;
pub mod config;
pub mod dial;
pub mod dual;
pub mod enode;
pub mod identity;
pub mod keyfile;
pub mod layers;
pub mod message;
pub mod msg;
pub mod msgpipe;
pub mod network;
pub mod node_addr;
pub mod node_url;
pub mod peer;
pub mod pipeline;
pub mod protocol;
pub mod record;
pub mod server;
pub mod service;
pub mod session;
pub mod testing;

// The crates p2p-core's public API is written in, re-exported so that a
// plugin uses exactly the versions its signatures need and depends on
// p2p-core alone.
pub use bytes;
pub use rlp;
pub use tokio;

pub use base::{Capability, DisconnectReason, Hello};
pub use enode::{Enode, EnodeError};
pub use identity::{keccak256, IdentityError, NodeId, NodeKey, PeerId};
pub use message::{CapabilityMessage, MessageError};
pub use msg::Msg;
pub use node_addr::NodeAddr;
pub use node_url::NodeUrl;
pub use peer::{Peer, PeerEvent, PeerInfo};
pub use pipeline::{
    exchange_hello, Authenticated, ConnGuards, Connecting, ConnectionEnd, Direction, Established,
    HelloError, HelloStage, MsgConn, Negotiated, Side, Stage, StageError, StartSignal,
};
pub use protocol::{CapabilityConn, CapabilitySender, Protocol, ProtocolFuture, SendError};
pub use server::{NodeInfo, Server, ServerError};
pub use service::{Disconnect, ServiceProtocol};
