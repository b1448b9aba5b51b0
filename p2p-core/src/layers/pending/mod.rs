//! The limit on inbound connections in their encryption handshake: a table
//! of them, capped per pool and per address, that drops its oldest entry
//! for a newcomer instead of making the newcomer queue.
//!
//! A queue of handshake slots handed out in arrival order (a semaphore, as
//! go-ethereum's `MaxPendingPeers` is) lets anyone who opens connections
//! and sends nothing hold every slot until the handshake deadline, so an
//! honest peer behind them waits or times out, and a silent connection
//! costs its opener nothing. Here:
//!
//! - a connection enters the table at once as *waiting*, and costs no
//!   handshake work until its peer sends a byte
//!   ([`FirstBytes`](crate::network::FirstBytes)) and, for a stage that
//!   says so ([`StartSignal`](crate::StartSignal); RLPx does), until its
//!   first message is complete;
//! - it then moves to *working*; each pool has its cap
//!   ([`PendingConfig::max_waiting`], [`PendingConfig::max`]), and a pool
//!   that is full drops its oldest entry for the newcomer. Silent and
//!   trickling connections only ever push out each other; an honest
//!   handshake sends its first message at once and lasts milliseconds, so
//!   it is almost never the oldest at work, while a stalled one soon is;
//! - per IP and per subnet caps refuse a newcomer at once, so one address
//!   or network cannot cycle the whole table;
//! - the handshake deadline runs from the accept, and no time is spent
//!   waiting for a slot.
//!
//! [`PendingTable`] is the pure state; [`PendingLimitLayer`] applies it to
//! a setup pipeline, refusing with
//! [`FilterError::Refused`](crate::layers::filter::FilterError::Refused),
//! like the peer filter and the throttle.
//!
//! ```
//! use std::convert::Infallible;
//! use p2p_core::layers::filter::{FilterError, Refused};
//! use p2p_core::layers::pending::{PendingConfig, PendingLimitLayer};
//! use p2p_core::Connecting;
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let config = PendingConfig { max_per_ip: 1, ..PendingConfig::default() };
//! // A handshake that never ends, holding its address's one place.
//! let setup = ServiceBuilder::new()
//!     .layer(PendingLimitLayer::new(config))
//!     .service_fn(|_: Connecting<()>| std::future::pending::<Result<(), Infallible>>());
//!
//! let remote = "203.0.113.7:30303".parse().unwrap();
//! let first = tokio::spawn(setup.clone().oneshot(Connecting::inbound((), remote)));
//! tokio::task::yield_now().await;
//! let err = setup.oneshot(Connecting::inbound((), remote)).await.unwrap_err();
//! assert!(matches!(err, FilterError::Refused(Refused::PendingPerIp { .. })));
//! first.abort();
//! # }
//! ```

mod config;
mod layer;
mod table;

pub use config::*;
pub use layer::*;
pub use table::*;
