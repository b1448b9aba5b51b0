//! Node discovery protocol v4 (`discv4.md` in the devp2p specifications).

pub mod lookup;
pub mod service;
pub mod table;
pub mod wire;
