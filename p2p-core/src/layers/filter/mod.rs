//! The peer filter: which remote addresses may hold a connection at all.
//!
//! Two checks run before a byte of a connection is read, in both directions:
//!
//! - **netrestrict** ([`NetRestrict`]): when a list of networks is configured,
//!   only addresses inside it are admitted (go-ethereum's `--netrestrict`).
//! - **subnet limits** ([`SubnetCounter`]): at most N live connections per
//!   IPv4 /24 and M per IPv6 /64, so that one operator (one hosting block, one
//!   subscriber's network) cannot fill our peer slots cheaply, which is the
//!   first step of an eclipse attack.
//!
//! IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`, what a dual-stack socket
//! reports for an IPv4 peer) are treated as the IPv4 address they carry
//! everywhere, so the same peer cannot dodge a rule by changing the socket
//! family.
//!
//! [`PeerFilterLayer`] applies both checks to a setup pipeline; a refusal is
//! [`FilterError::Refused`], anything the wrapped service fails with is
//! [`FilterError::Inner`]. The inbound throttle
//! ([`crate::layers::throttle`]) reports refusals with the same types.
//!
//! ```
//! use std::convert::Infallible;
//! use p2p_core::layers::filter::{PeerFilterConfig, PeerFilterLayer, FilterError, Refused};
//! use p2p_core::Connecting;
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let config = PeerFilterConfig {
//!     netrestrict: "10.0.0.0/8".parse().unwrap(),
//!     ..PeerFilterConfig::default()
//! };
//! let setup = ServiceBuilder::new()
//!     .layer(PeerFilterLayer::new(config))
//!     .service_fn(|conn: Connecting<()>| async move { Ok::<_, Infallible>(conn.remote_addr) });
//!
//! let outside = Connecting::inbound((), "192.0.2.1:30303".parse().unwrap());
//! let err = setup.clone().oneshot(outside).await.unwrap_err();
//! assert!(matches!(err, FilterError::Refused(Refused::NetRestrict { .. })));
//!
//! let inside = Connecting::inbound((), "10.1.2.3:30303".parse().unwrap());
//! assert!(setup.oneshot(inside).await.is_ok());
//! # }
//! ```

mod error;
mod layer;
mod netrestrict;
mod subnets;

pub use error::*;
pub use layer::*;
pub use netrestrict::*;
pub use subnets::*;
