//! Which chain a node serves: a public network's, a genesis file's, or the
//! devnet's, each as the eth capability's chain spec and a chain in memory.

use std::sync::Arc;

use p2p_protocols::eth::chain::MemoryChain;
use p2p_protocols::eth::genesis::Genesis;
use p2p_protocols::eth::handshake::ChainSpec;
use p2p_protocols::eth::networks::Network;
use p2p_protocols::eth::protocol::{Eth, EthConfig};

use crate::ChainSetupError;

/// The chain a node serves and the name of the network it is on.
#[derive(Clone, Debug)]
pub struct ChainSetup {
    /// The network's name for people: `mainnet`, `devnet`, `chain 1337`.
    pub name: String,
    /// Network id, genesis and fork schedule, as the eth handshake checks
    /// them.
    pub spec: ChainSpec,
    /// The blocks served.
    pub chain: Arc<MemoryChain>,
}

impl ChainSetup {
    /// A public network, as a node that has not synced yet: its chain is
    /// the genesis block, and it announces the fork id of an unsynced node,
    /// which the network's peers accept (EIP-2124's rule for a remote that
    /// is syncing).
    pub fn network(network: &Network) -> Self {
        ChainSetup {
            name: network.name.to_owned(),
            spec: network.spec.clone(),
            chain: Arc::new(MemoryChain::new(network.genesis.clone())),
        }
    }

    /// The chain of a genesis file, named by its chain id.
    pub fn genesis(genesis: &Genesis) -> Result<Self, ChainSetupError> {
        let spec = genesis.chain_spec()?;
        Ok(ChainSetup {
            name: format!("chain {}", spec.network_id),
            spec,
            chain: Arc::new(MemoryChain::new(genesis.header()?)),
        })
    }

    /// The eth capability (eth/68 to eth/71) serving this chain.
    pub fn eth(&self) -> Eth {
        Eth::new(EthConfig::new(self.spec.clone()), self.chain.clone())
    }
}
