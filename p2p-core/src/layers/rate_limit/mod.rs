//! A per-peer inbound rate limit: token buckets for messages per second and
//! bytes per second on what a peer sends us.
//!
//! go-ethereum has no such limit; a peer that floods us with messages costs
//! decryption, decompression and decoding for each one, and the capability
//! queues only push back once a handler is slow. This layer caps what each
//! connection may deliver, whatever the handlers do.
//!
//! [`RateLimitLayer`] goes into the setup stack around the transport and wraps
//! the connection the transport yields in a [`RateLimitedConn`], which the
//! Hello exchange and the session then read:
//!
//! ```text
//! ServiceBuilder::new()
//!     .layer(RateLimitLayer::new(RateLimitConfig::default()))
//!     .service(RlpxTransport::new(key))
//! ```
//!
//! # Policies
//!
//! - [`RateLimitPolicy::Delay`]: a message that finds too few tokens is held
//!   until they have refilled, and the connection is not read meanwhile, so
//!   TCP back-pressure slows the peer down. Nothing is lost and nothing is
//!   reordered (but see the exemptions below).
//! - [`RateLimitPolicy::Disconnect`]: such a message is dropped and reading
//!   yields [`RateLimitError::RateExceeded`], which ends the session.
//!
//! # Which disconnect reason
//!
//! [`RateLimitError::disconnect_reason`] gives
//! [`DisconnectReason::SubprotocolError`](crate::DisconnectReason::SubprotocolError) for an exceeded rate, not
//! `ProtocolError`: the peer broke no rule of the wire protocol, it sent more
//! capability traffic than our local policy accepts, and go-ethereum reports
//! its own capability-level "too much" errors (an eth message over the size
//! limit, say) the same way, since every non-`DiscReason` error of a
//! capability handler becomes `DiscSubprotocolError`. `ProtocolError` would
//! send the remote's operator looking for an encoding bug. The session asks
//! [`MsgConn::disconnect_reason_for`](crate::MsgConn::disconnect_reason_for) which reason a read error deserves.
//!
//! # Base-protocol messages
//!
//! Every message is charged against the buckets. Only Disconnect and Hello no
//! larger than [`BASE_PROTOCOL_MAX_MSG_SIZE`](crate::base::BASE_PROTOCOL_MAX_MSG_SIZE) are exempt from waiting and from
//! refusal: a Disconnect must get through so the session ends with the
//! remote's own reason, and each of them occurs at most once on a connection,
//! so the exemption cannot be used to flood. While a message is held, the
//! next message is read ahead so that a Disconnect right behind it overtakes
//! it (the held message is then lost with the session, which is ending
//! anyway). Ping and Pong are limited like capability messages: at honest
//! rates (one per 15 s) they never come near a limit, and a flood of them is
//! what a limit is for.
//!
//! # Byte counts
//!
//! Bytes are payload bytes as the transport yields them, after snappy
//! decompression: the cost of handling a message grows with its decompressed
//! size, which is also what a compression bomb inflates.
//!
//! # Interaction with the session's read timeout
//!
//! A delayed message counts as silence to the session's read timeout
//! ([`crate::session::DEFAULT_READ_TIMEOUT`], 30 s). A message larger than the
//! byte burst is admitted once the bucket is full and leaves the bucket in
//! debt, so the next message waits for `(size - burst) / rate` seconds; keep
//! that well under the read timeout for the largest message you accept.

mod bucket;
mod config;
mod conn;
mod error;
mod layer;

pub use bucket::*;
pub use config::*;
pub use conn::*;
pub use error::*;
pub use layer::*;
