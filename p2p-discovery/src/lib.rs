//! Node discovery for devp2p: discovery v4 and v5, DNS discovery (EIP-1459) and the node database.
#![warn(missing_docs)]

pub mod dns;
pub mod nodedb;
pub mod v4;
