//! Static peers given by name (`enode://<key>@node-1.example.org:30303`)
//! are resolved again from time to time, as go-ethereum does before each
//! static dial, so that a peer whose address changes behind its name is
//! reached at the new one.

use std::time::Duration;

use p2p_core::NodeUrl;
use tracing::{info, warn};

use super::NodeHandle;

/// How often names are resolved again: often enough to follow a moved
/// peer within a minute, rarely enough to cost the resolver nothing.
pub const RESOLVE_INTERVAL: Duration = Duration::from_secs(60);

/// Resolves every named URL of `peers` every [`RESOLVE_INTERVAL`] and
/// points the node's static peer at the new address when it changed. Runs
/// until aborted.
pub async fn keep_resolved(node: NodeHandle, peers: Vec<NodeUrl>) {
    let mut named: Vec<(NodeUrl, Option<p2p_core::Enode>)> = peers
        .into_iter()
        .filter(NodeUrl::has_name)
        .map(|url| (url, None))
        .collect();
    if named.is_empty() {
        return;
    }
    let mut tick = tokio::time::interval(RESOLVE_INTERVAL);
    loop {
        tick.tick().await;
        for (url, last) in &mut named {
            match url.resolve().await {
                Ok(enode) if Some(enode) != *last => {
                    if last.is_some() {
                        info!(%url, ip = %enode.ip, "static peer's address changed");
                    }
                    node.add_static_peer(enode).await;
                    *last = Some(enode);
                }
                Ok(_) => {}
                Err(e) => warn!(%url, "static peer: {e}"),
            }
        }
    }
}
