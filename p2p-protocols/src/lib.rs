//! Capability plugins for devp2p: `eth`, `snap` and a demo capability.
#![warn(missing_docs)]

pub mod codec;
pub mod eth;
pub mod forkid;
pub mod snap;
