//! Keeps the `eth` entry of the node's records (v4 and v5) at the fork id of
//! its head, as go-ethereum does: its eth dialer skips discovered nodes whose
//! entry is missing or does not match its chain.

use std::sync::Arc;
use std::time::Duration;

use p2p_core::record::ForkId;
use p2p_discovery::v4::service::Discv4Handle;
use p2p_discovery::v5::Discv5Service;
use p2p_protocols::eth::chain::MemoryChain;
use p2p_protocols::eth::handler::EthHandler;
use p2p_protocols::eth::handshake::ChainSpec;
use tracing::{debug, warn};

/// How often the head is checked against the fork schedule: a fork is
/// crossed by a block (at most one every 12 s on the public networks), and a
/// record a few seconds late costs nothing.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(5);

/// The fork id of `chain`'s head under `spec`.
pub fn head_fork_id(spec: &ChainSpec, chain: &MemoryChain) -> ForkId {
    let head = chain.head();
    spec.forks().fork_id(head.number, head.timestamp)
}

/// Re-announces the fork id in both records whenever the head crosses a
/// fork, until the task is aborted.
pub async fn follow_head(
    spec: ChainSpec,
    chain: Arc<MemoryChain>,
    v4: Option<Discv4Handle>,
    v5: Option<Arc<Discv5Service>>,
    mut announced: ForkId,
) {
    let mut tick = tokio::time::interval(CHECK_INTERVAL);
    loop {
        tick.tick().await;
        let now = head_fork_id(&spec, &chain);
        if now == announced {
            continue;
        }
        debug!(?now, "the head crossed a fork: updating the node records");
        if let Some(v4) = &v4 {
            if let Err(e) = v4.set_fork_id(now).await {
                warn!("cannot update the discovery v4 record: {e}");
            }
        }
        if let Some(v5) = &v5 {
            if let Err(e) = v5.set_fork_id(now) {
                warn!("cannot update the discovery v5 record: {e}");
            }
        }
        announced = now;
    }
}
