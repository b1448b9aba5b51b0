//! The dial scheduler: which nodes to dial, and when.
//!
//! [`DialScheduler`] is pure state. It does no I/O, spawns nothing and never
//! reads the clock: every method that depends on time takes the current
//! [`Instant`](std::time::Instant) as an argument. That keeps the rules below testable with a
//! fake clock, and leaves the mechanics (sockets, timers, cancellation) to
//! the supervisor task that owns the scheduler. The supervisor's loop is:
//!
//! 1. feed every event in ([`add_static`](DialScheduler::add_static),
//!    [`add_candidate`](DialScheduler::add_candidate),
//!    [`peer_added`](DialScheduler::peer_added),
//!    [`peer_removed`](DialScheduler::peer_removed),
//!    [`dial_finished`](DialScheduler::dial_finished), ...);
//! 2. call [`poll_dials`](DialScheduler::poll_dials) and start the dials it
//!    returns;
//! 3. sleep until the next event or [`next_wakeup`](DialScheduler::next_wakeup),
//!    whichever comes first, and go to 1.
//!
//! The rules follow go-ethereum's dial scheduler (`p2p/dial.go`):
//!
//! * at most [`DialConfig::max_active_dials`] dials run at once;
//! * static nodes come first, and are not limited by
//!   [`DialConfig::max_outbound`];
//! * dynamic candidates (from discovery) are dialed while the outbound peers
//!   plus the running dynamic dials stay below [`DialConfig::max_outbound`];
//! * nobody is dialed who is ourselves, already connected (in either
//!   direction) or already being dialed;
//! * a dynamic candidate is not dialed again within
//!   [`DialConfig::history_expiration`] of its last dial attempt;
//! * a static node whose dial failed waits a backoff that doubles with every
//!   failure, and a static node that disconnects is redialed once the history
//!   time since its last dial attempt has passed.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use p2p_core::dial::{DialConfig, DialScheduler};
//! use p2p_core::{Direction, Enode, NodeKey};
//!
//! let me = NodeKey::random();
//! let mut dialer = DialScheduler::new(DialConfig::from_peers(50, 3).with_self_id(me.id()));
//! let node = Enode::new(NodeKey::random().id(), "10.0.0.1".parse().unwrap(), 30303, 30303);
//!
//! let t0 = Instant::now();
//! dialer.add_static(node);
//! assert_eq!(dialer.poll_dials(t0), vec![node.into()]);
//! // The dial fails: the node is retried after the initial backoff.
//! dialer.dial_finished(&node.id, false, t0);
//! assert!(dialer.poll_dials(t0).is_empty());
//! assert_eq!(dialer.next_wakeup(), Some(t0 + Duration::from_secs(1)));
//! assert_eq!(dialer.poll_dials(t0 + Duration::from_secs(1)), vec![node.into()]);
//! // This time it works.
//! dialer.dial_finished(&node.id, true, t0 + Duration::from_secs(2));
//! dialer.peer_added(node.id, Direction::Outbound, t0 + Duration::from_secs(2));
//! assert!(dialer.is_connected(&node.id));
//! ```

mod config;
mod scheduler;

pub use config::*;
pub use scheduler::*;
