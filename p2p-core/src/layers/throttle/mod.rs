//! The inbound throttle: at most one inbound connection attempt per remote IP
//! per window (30 s, go-ethereum's `inboundThrottleTime`).
//!
//! A remote that reconnects in a loop costs us a handshake (an ECDH and a
//! signature recovery) each time; the throttle turns it away before a byte is
//! read. As in go-ethereum, the attempt is recorded whether or not the
//! connection then succeeds, a refused attempt does not extend the window, and
//! outbound connections are never throttled (we chose to dial them). Loopback
//! and LAN addresses are exempt by default, so local clusters and tests can
//! reconnect freely.
//!
//! [`InboundHistory`] is the pure state, driven by an explicit clock;
//! [`InboundThrottleLayer`] applies it to a setup pipeline, refusing with
//! [`FilterError::Refused`](crate::layers::filter::FilterError::Refused)`(`[`Refused::Throttled`](crate::layers::filter::Refused::Throttled)`)`, the same error as the
//! peer filter's so the two stack (see [`FilterError::flatten`](crate::layers::filter::FilterError::flatten)).
//!
//! ```
//! use std::convert::Infallible;
//! use p2p_core::layers::filter::{FilterError, PeerFilterConfig, PeerFilterLayer};
//! use p2p_core::layers::throttle::{InboundThrottleLayer, ThrottleConfig};
//! use p2p_core::Connecting;
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // The filter first: an address netrestrict refuses takes no room in the
//! // throttle's history.
//! let setup = ServiceBuilder::new()
//!     .map_err(FilterError::flatten)
//!     .layer(PeerFilterLayer::new(PeerFilterConfig::default()))
//!     .layer(InboundThrottleLayer::new(ThrottleConfig::default()))
//!     .service_fn(|conn: Connecting<()>| async move { Ok::<_, Infallible>(conn.remote_addr) });
//!
//! let remote = "203.0.113.7:30303".parse().unwrap();
//! assert!(setup.clone().oneshot(Connecting::inbound((), remote)).await.is_ok());
//! let err = setup.oneshot(Connecting::inbound((), remote)).await.unwrap_err();
//! assert!(err.refused().is_some());
//! # }
//! ```

mod config;
mod history;
mod layer;

pub use config::*;
pub use history::*;
pub use layer::*;
