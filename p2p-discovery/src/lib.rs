//! Node discovery for devp2p: discovery v4 and v5, DNS discovery (EIP-1459) and the node database.
#![warn(missing_docs)]

pub mod dns;
pub mod endpoint;
pub mod netutil;
pub mod nodedb;
pub mod socket;
pub mod testing;
pub mod v4;
