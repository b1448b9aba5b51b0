//! Node discovery for devp2p: discovery v4 and v5, DNS discovery (EIP-1459) and the node database.
//!
//! Every mechanism offers the same interface to the dialer: an endless
//! stream of dial candidates (`Stream<Item = Enode>`), which
//! `p2p_core::Server::add_candidate_source` takes and mixes fairly with the
//! others.
#![warn(missing_docs)]

pub mod dns;
pub mod endpoint;
pub mod netutil;
pub mod nodedb;
pub mod socket;
pub mod testing;
pub mod v4;
pub mod v5;
pub mod walk;
