//! Shared pieces of the example programs.

pub mod crawl;
pub mod metrics_endpoint;
pub mod node;
pub mod node_filter;
pub mod nodeset;
pub mod process;

use std::sync::Arc;

use p2p_core::Protocol;
use p2p_protocols::eth::chain::{ChainError, MemoryChain};
use p2p_protocols::eth::genesis::{Genesis, GenesisError};
use p2p_protocols::eth::handshake::ChainSpec;
use p2p_protocols::eth::protocol::{Eth, EthConfig};
use p2p_protocols::forkid::mainnet;
use ping_pong_plugin::{PingPong, PingPongConfig, RttTable};

/// The capabilities the example node offers: `pingpong/1`, a plugin crate
/// that depends only on `p2p-core`, measuring each peer's round-trip time.
pub fn default_protocols() -> Vec<Arc<dyn Protocol>> {
    vec![ping_pong().0]
}

/// The `pingpong/1` capability and the round-trip times it measures, by
/// peer.
pub fn ping_pong() -> (Arc<dyn Protocol>, tokio::sync::watch::Receiver<RttTable>) {
    let plugin = PingPong::new(PingPongConfig::default());
    let rtts = plugin.subscribe();
    (Arc::new(plugin), rtts)
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

/// Raises the soft limit on open files to the hard limit. Every peer, every
/// handshake in progress (up to 1,024 by default) and every socket of
/// discovery holds a descriptor, and the usual soft limit of 1,024 would
/// make accepts fail under load long before a node's own limits apply (or,
/// for a load program, long before it has opened the connections asked of
/// it).
pub fn raise_fd_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit with a valid pointer to an rlimit.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return;
        }
        let before = limit.rlim_cur;
        if before >= limit.rlim_max {
            return;
        }
        limit.rlim_cur = limit.rlim_max;
        if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
            tracing::debug!(
                before,
                after = limit.rlim_cur,
                "raised the open files limit"
            );
        } else {
            tracing::warn!(
                limit = before,
                "could not raise the open files limit; under load, connections may be refused"
            );
        }
    }
}

/// How often [`return_freed_memory`] hands freed memory back.
pub const TRIM_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

/// Hands memory the process has freed back to the system every
/// [`TRIM_INTERVAL`], for as long as the runtime runs.
///
/// glibc's allocator keeps what a burst of peers freed inside its arenas
/// (only the main arena's top is returned on its own), so without this a
/// node that once held 10,000 peers stays at that size after they left.
/// `malloc_trim` releases the free pages of every arena; when there is
/// nothing to release it costs a few microseconds. Other allocators, and
/// other C libraries, do their own returning: there this does nothing.
pub fn return_freed_memory() {
    #[cfg(all(
        target_os = "linux",
        target_env = "gnu",
        not(feature = "jemalloc"),
        not(feature = "mimalloc")
    ))]
    tokio::spawn(async {
        let mut ticks = tokio::time::interval(TRIM_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            // SAFETY: malloc_trim has no preconditions.
            let _ = tokio::task::spawn_blocking(|| unsafe { libc::malloc_trim(0) }).await;
        }
    });
}
