//! Shared pieces of the example programs.

use std::sync::Arc;

use p2p_core::Protocol;

/// The capabilities the example node offers.
pub fn default_protocols() -> Vec<Arc<dyn Protocol>> {
    Vec::new()
}
