//! Capability plugins for devp2p, written against p2p-core's public plugin
//! API as any third-party capability would be:
//!
//! - [`eth`]: the Ethereum wire protocol, eth/68 and eth/69 (typed codecs,
//!   the Status handshake with EIP-2124 fork-id checks, a request client with
//!   a tracker, serving through [`eth::handler::EthHandler`], an in-memory
//!   chain);
//! - [`snap`]: the state snapshot protocol, snap/1;
//! - [`forkid`]: EIP-2124 fork identifiers;
//! - [`codec`]: the strict decoding both capabilities share.
//!
//! The demo capability, `pingpong/1`, is a crate of its own
//! (`examples/plugins/ping-pong`) to show a plugin that needs nothing but
//! p2p-core.
#![warn(missing_docs)]

pub mod codec;
pub mod eth;
pub mod forkid;
mod peers;
pub mod snap;
