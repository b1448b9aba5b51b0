//! Shared pieces of the example programs.

use std::sync::Arc;

use p2p_core::Protocol;
use p2p_protocols::eth::chain::MemoryChain;
use p2p_protocols::eth::handshake::ChainSpec;
use p2p_protocols::eth::protocol::{Eth, EthConfig};
use p2p_protocols::forkid::mainnet;
use ping_pong_plugin::{PingPong, PingPongConfig};

/// The capabilities the example node offers: `pingpong/1`, a plugin crate
/// that depends only on `p2p-core`, measuring each peer's round-trip time.
pub fn default_protocols() -> Vec<Arc<dyn Protocol>> {
    vec![Arc::new(PingPong::new(PingPongConfig::default()))]
}

/// The eth capability (eth/68 and eth/69) for Ethereum mainnet, serving a
/// chain that holds only the mainnet genesis block.
///
/// Such a node announces the fork id of an unsynced mainnet node, which
/// mainnet peers accept (EIP-2124's rule for a remote that is syncing), and
/// answers their requests with what it has. It is what a node that has just
/// started syncing looks like on the network, which is what this example is.
pub fn mainnet_eth() -> (Eth, Arc<MemoryChain>) {
    let chain = Arc::new(MemoryChain::new(MemoryChain::mainnet_genesis()));
    let eth = Eth::new(
        EthConfig::new(ChainSpec::new(1, mainnet::chain())),
        chain.clone(),
    );
    (eth, chain)
}
