//! Shared pieces of the example programs.

use std::sync::Arc;

use p2p_core::Protocol;
use p2p_protocols::eth::chain::{ChainError, MemoryChain};
use p2p_protocols::eth::genesis::{Genesis, GenesisError};
use p2p_protocols::eth::handshake::ChainSpec;
use p2p_protocols::eth::protocol::{Eth, EthConfig};
use p2p_protocols::forkid::mainnet;
use ping_pong_plugin::{PingPong, PingPongConfig};

/// The capabilities the example node offers: `pingpong/1`, a plugin crate
/// that depends only on `p2p-core`, measuring each peer's round-trip time.
pub fn default_protocols() -> Vec<Arc<dyn Protocol>> {
    vec![Arc::new(PingPong::new(PingPongConfig::default()))]
}

/// The eth capability (eth/68 to eth/71) for Ethereum mainnet, serving a
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

/// Why [`genesis_eth`] could not build the capability.
#[derive(Debug, thiserror::Error)]
pub enum ChainSetupError {
    /// The genesis file is unusable.
    #[error(transparent)]
    Genesis(#[from] GenesisError),
    /// The chain export does not fit the genesis.
    #[error("chain import: {0}")]
    Import(#[from] ChainError),
}

/// The eth capability for the chain of a genesis file (the JSON `geth init`
/// takes), serving the genesis block and the blocks of `export`, if given
/// (RLP blocks in a row, as `geth export` writes them).
///
/// The network id is the chain id, as go-ethereum sets it unless told
/// otherwise; the fork id follows from the configuration's forks and the
/// head of the imported chain.
pub fn genesis_eth(
    genesis: &Genesis,
    export: Option<&[u8]>,
) -> Result<(Eth, Arc<MemoryChain>), ChainSetupError> {
    let chain = Arc::new(MemoryChain::new(genesis.header()?));
    if let Some(export) = export {
        chain.import_export(export)?;
    }
    let eth = Eth::new(EthConfig::new(genesis.chain_spec()?), chain.clone());
    Ok((eth, chain))
}
