//! Per-peer traffic: how many messages and payload bytes each connected peer
//! sent and received, readable in-process while the peer is connected, and
//! the node's totals since it started, in all and by message.
//!
//! The [`metrics`](super::metrics) layer reports through a recorder for an
//! exporter to scrape, labelled by capability and code; this one answers
//! the questions a program asks about its own peers ("how much has this
//! peer sent us?", for an admin API, a dashboard or a status line) without
//! a recorder, at the cost of four atomic counters per peer.
//!
//! ```
//! use p2p_core::layers::traffic::TrafficLayer;
//! use p2p_core::{NodeKey, Server};
//!
//! let traffic = TrafficLayer::new();
//! let builder = Server::builder(NodeKey::random()).session_layer(traffic.clone());
//! // ... later, for a connected peer `id`: traffic.peer(&id)
//! assert_eq!(traffic.total().ingress_bytes, 0);
//! # drop(builder);
//! ```
//!
//! Bytes are payload bytes as the transport yields and takes them, as the
//! metrics layer counts them: framing, MACs and the Hello exchange are not
//! counted.

mod conn;
mod layer;
mod stats;

pub use conn::CountedConn;
pub use layer::{MessageKey, Traffic, TrafficLayer};
pub use stats::TrafficStats;

#[cfg(test)]
mod tests;
