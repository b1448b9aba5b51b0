//! Connection metrics through the [`metrics`] facade: messages and bytes per
//! direction and message, handshake durations and failures, and peer counts.
//!
//! Nothing here installs a recorder: the application picks an exporter
//! (Prometheus, StatsD, ...) and installs it; without one every call is a
//! no-op. The metrics are per server instance rather than per process: every
//! metric carries an `instance` label, the name given to [`MetricsLayer`] (a
//! node id prefix, a user string), so several servers in one process report
//! separately.
//!
//! One [`MetricsLayer`] serves in two places of a server:
//!
//! ```text
//! let metrics = MetricsLayer::new("node-a");
//! Server::builder(key)
//!     .setup_layer(metrics.clone())    // handshake durations and failures
//!     .session_layer(metrics)          // messages and bytes, by capability
//! ```
//!
//! In the setup stack it times the encryption stage; placed by
//! [`setup_layer`](crate::server::ServerBuilder::setup_layer) it sits inside
//! the built-in peer filter and throttle, so a handshake failure is one of
//! the transport, not a policy refusal. In the session stack it wraps each
//! peer's connection in a [`MeteredConn`] labelled with the capability table
//! the Hello stage matched ([`PeerInfo::shared`](crate::peer::PeerInfo::shared)):
//! nothing is matched or decoded again.
//!
//! # Metrics
//!
//! | name | kind | labels |
//! | --- | --- | --- |
//! | [`MESSAGES`] | counter | `instance`, `direction` (`ingress`, `egress`), `protocol`, `code` |
//! | [`MESSAGE_BYTES`] | counter | the same |
//! | [`HANDSHAKE_DURATION`] | histogram, seconds | `instance`, `direction` (`inbound`, `outbound`) |
//! | [`HANDSHAKE_FAILURES`] | counter | `instance`, `direction`, `reason` |
//! | [`PEERS`] | gauge | `instance`, `direction` (`inbound`, `outbound`) |
//! | [`CONNECTIONS_ENDED_EARLY`] | counter | `instance`, `direction`, `stage`, `reason` |
//!
//! Message flow is `ingress`/`egress` and connection direction is
//! `inbound`/`outbound`, so the two `direction` labels cannot be confused.
//!
//! # Message labels
//!
//! `protocol` and `code` name the message as an operator thinks of it:
//! base-protocol messages (codes below 0x10) are `protocol="p2p"` with their
//! code; a message of a shared capability is `protocol="eth/68"` with its code
//! relative to the capability (`code="3"` is eth's GetBlockHeaders whatever
//! the capability's offset on the connection). Codes no capability owns are `protocol="unknown"` with the connection-level code, and codes
//! from [`MAX_UNKNOWN_CODE`] up share `code="other"`: a peer chooses the codes
//! it sends, and must not be able to create unbounded label values.
//!
//! Bytes are payload bytes as the transport yields and takes them: before
//! compression on the way out, after decompression on the way in. Framing,
//! MACs and padding are not counted, nor are the Hello messages, which pass
//! before the session.
//!
//! # Handshake failures
//!
//! The `reason` label is the name of the inner error's variant (the leading
//! identifier of its `Debug` output: `HandshakeTimeout`, `Io`, `Ecies` for
//! `RlpxError`), not its `Display`: messages embed addresses, sizes and OS
//! error text, which would make a new time series per failure. A handshake
//! abandoned before it finished (the server's setup timeout, the server
//! stopping) is counted with reason [`CANCELLED_REASON`].

mod conn;
mod handshake;
mod layer;

use std::fmt::Debug;

use metrics::{SharedString, Unit};

pub use conn::MeteredConn;
pub use handshake::HandshakeFuture;
pub use layer::{Metrics, MetricsLayer, SessionFuture};

use crate::pipeline::Direction;

/// Counter of messages, labelled `instance`, `direction`, `protocol`, `code`.
pub const MESSAGES: &str = "p2p_messages_total";
/// Counter of payload bytes, with the labels of [`MESSAGES`].
pub const MESSAGE_BYTES: &str = "p2p_message_bytes_total";
/// Histogram of successful transport handshake durations in seconds,
/// labelled `instance`, `direction`.
pub const HANDSHAKE_DURATION: &str = "p2p_handshake_duration_seconds";
/// Counter of failed transport handshakes, labelled `instance`, `direction`,
/// `reason`.
pub const HANDSHAKE_FAILURES: &str = "p2p_handshake_failures_total";
/// Gauge of connected peers, labelled `instance`, `direction`.
pub const PEERS: &str = "p2p_peers";
/// Counter of connections that ended before their session (refused by a
/// built-in layer or a checkpoint, timed out, failed their handshake or
/// Hello), labelled `instance`, `direction`, `stage`, `reason`. The server
/// counts these itself, with or without a [`MetricsLayer`].
pub const CONNECTIONS_ENDED_EARLY: &str = "p2p_connections_ended_early_total";

/// The `protocol` label of base-protocol messages.
pub const BASE_PROTOCOL_LABEL: &str = "p2p";
/// The `protocol` label of messages no known capability owns.
pub const UNKNOWN_PROTOCOL_LABEL: &str = "unknown";
/// Unowned codes from this one up are all labelled `code="other"`.
pub const MAX_UNKNOWN_CODE: u64 = 0x100;
/// The `reason` of a handshake abandoned before it finished.
pub const CANCELLED_REASON: &str = "cancelled";

/// The `reason` label's longest value; a hand-written `Debug` could start
/// with a long identifier.
pub(crate) const MAX_REASON_LEN: usize = 48;
/// The cache key standing for every unowned code from [`MAX_UNKNOWN_CODE`]
/// up; no capability can own it (its range would end past `u64::MAX`).
pub(crate) const OTHER_CODE_KEY: u64 = u64::MAX;

/// Registers the descriptions and units of these metrics with the current
/// recorder. Optional: exporters that show help text use them.
pub fn describe() {
    metrics::describe_counter!(
        MESSAGES,
        Unit::Count,
        "devp2p messages, by direction and message"
    );
    metrics::describe_counter!(
        MESSAGE_BYTES,
        Unit::Bytes,
        "devp2p message payload bytes (uncompressed), by direction and message"
    );
    metrics::describe_histogram!(
        HANDSHAKE_DURATION,
        Unit::Seconds,
        "duration of successful transport handshakes"
    );
    metrics::describe_counter!(
        HANDSHAKE_FAILURES,
        Unit::Count,
        "failed or abandoned transport handshakes, by reason"
    );
    metrics::describe_counter!(
        CONNECTIONS_ENDED_EARLY,
        Unit::Count,
        "connections that ended before their session, by stage and reason"
    );
    metrics::describe_gauge!(
        PEERS,
        Unit::Count,
        "connected peers, by connection direction"
    );
}

/// The `instance` label a server reports under by default: the first eight
/// bytes of its node's id in hex. Use it for a [`MetricsLayer`] in the
/// server's transport stack so that all of one node's metrics line up.
pub fn instance_label(id: &crate::identity::PeerId) -> String {
    hex::encode(&id.as_bytes()[..8])
}

/// Sets the peer gauges of `instance`: how many inbound and outbound peers
/// are connected. Meant to be called by the server whenever its peer set
/// changes.
pub fn record_peers(instance: &str, inbound: usize, outbound: usize) {
    let instance = SharedString::from(instance.to_owned());
    metrics::gauge!(PEERS, "instance" => instance.clone(), "direction" => "inbound")
        .set(inbound as f64);
    metrics::gauge!(PEERS, "instance" => instance, "direction" => "outbound").set(outbound as f64);
}

/// The `direction` label of a connection.
pub(crate) fn connection_direction(direction: Direction) -> &'static str {
    match direction {
        Direction::Inbound => "inbound",
        Direction::Outbound => "outbound",
    }
}

/// The `reason` label of a handshake error: the leading identifier of its
/// `Debug` output, the variant name of a derived `Debug` enum.
pub(crate) fn reason_label(err: &impl Debug) -> String {
    let text = format!("{err:?}");
    let name: String = text
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(MAX_REASON_LEN)
        .collect();
    if name.is_empty() {
        "other".to_owned()
    } else {
        name
    }
}

#[cfg(test)]
mod tests;
