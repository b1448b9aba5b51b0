//! Shared pieces of the example programs.

use std::sync::Arc;

use p2p_core::Protocol;
use ping_pong_plugin::{PingPong, PingPongConfig};

/// The capabilities the example node offers: `pingpong/1`, a plugin crate
/// that depends only on `p2p-core`, measuring each peer's round-trip time.
pub fn default_protocols() -> Vec<Arc<dyn Protocol>> {
    vec![Arc::new(PingPong::new(PingPongConfig::default()))]
}
