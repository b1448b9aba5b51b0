//! devp2p over QUIC: a transport for p2p-core beside RLPx over TCP.
//!
//! A transport is two parts a [`Server`](p2p_core::Server) is built with:
//! a [`Network`](p2p_core::network::Network) that listens and dials, giving
//! raw connections, and an encryption stage, a tower service that turns a
//! raw connection into an authenticated
//! [`MsgConn`](p2p_core::MsgConn). Everything above (the Hello, the
//! checkpoints, the session, eth, snap, any plugin) is the same whatever
//! the transport. This crate is the worked example of writing one, and
//! depends on p2p-core alone of the devp2p crates.
//!
//! - [`QuicNetwork`]: a UDP endpoint; raw connections are QUIC connections
//!   in their TLS handshake. A node is dialed at the QUIC port its record
//!   announces (the `quic` / `quic6` keys).
//! - [`QuicHandshake`]: the encryption stage. TLS 1.3 with self-signed
//!   certificates that carry a signature by the node key (see
//!   [`identity`]); the remote id comes out of the handshake, and a dialer
//!   checks it against the node it meant to reach.
//! - [`QuicConn`]: messages on one bidirectional stream, or
//!   ([`StreamMode::PerCapability`]) the base protocol there and each
//!   capability on a unidirectional stream of its own in each direction, so
//!   a large message of one capability does not hold back another's.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use p2p_core::{NodeKey, Server};
//! use quic_transport::QuicConfig;
//!
//! let server = Server::builder(NodeKey::random())
//!     .transport(quic_transport::transport(QuicConfig::default())?)
//!     .start()
//!     .await?;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod config;
mod conn;
mod error;
mod frame;
mod handshake;
pub mod identity;
mod lanes;
mod network;
mod verify;

use std::sync::Arc;

use p2p_core::NodeKey;

pub use config::{ConfigError, Congestion, QuicConfig, StreamMode};
pub use conn::{QuicConn, CLOSE_LINGER};
pub use error::{IdentityMismatch, QuicError};
pub use frame::MessageCodec;
pub use handshake::{QuicHandshake, CLOSE_UNEXPECTED_IDENTITY};
pub use network::{QuicIo, QuicListener, QuicNetwork, RECORD_KEYS};
pub use verify::NodeCertVerifier;

/// The QUIC transport for
/// [`ServerBuilder::transport`](p2p_core::server::ServerBuilder::transport):
/// makes the node's certificate from the key the server is built with.
///
/// Fails only when TLS refuses the configuration, which would be a bug.
pub fn transport(
    config: QuicConfig,
) -> Result<impl FnOnce(Arc<NodeKey>) -> (QuicNetwork, QuicHandshake), ConfigError> {
    // Checked once here, so that the closure the builder calls cannot fail.
    config::endpoint_configs(&NodeKey::random(), &config)?;
    Ok(move |key: Arc<NodeKey>| {
        let (server, client) =
            config::endpoint_configs(&key, &config).expect("the same configuration was accepted");
        (
            QuicNetwork::new(server, client),
            QuicHandshake::new(config.max_message_size, config.streams),
        )
    })
}
