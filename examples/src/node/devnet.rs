//! A devnet: many nodes in one process on 127.0.0.1, with no way out to
//! any other address, showing the whole stack at work. Each node runs
//! discovery v4 and v5 and finds the others from the first node's record
//! alone; they connect over RLPx, agree on a small generated chain in the
//! eth Status exchange, and the nodes behind fetch the headers, bodies and
//! receipts they lack from their peers while the first node adds a block
//! every few seconds.
//!
//! It is also the in-process network simulation: `--nodes 100` runs a
//! hundred nodes on two cores.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use p2p_core::config::Config;
use p2p_core::NodeKey;
use p2p_protocols::eth::chain::MemoryChain;
use p2p_protocols::eth::genesis::Genesis;
use p2p_protocols::eth::handler::EthHandler;
use p2p_protocols::eth::protocol::{Eth, EthPeer};
use p2p_protocols::eth::roots;
use p2p_protocols::eth::types::HashOrNumber;
use rand::seq::SliceRandom;
use tokio::task::JoinHandle;
use tracing::debug;

use super::{ChainSetup, DiscoverySettings, NodeError, NodeSettings, NodeStatus, RunningNode};

/// Nodes in a devnet unless told otherwise: enough for discovery to have
/// work to do and for the topology to be worth a look, few enough to read in
/// one terminal.
pub const DEFAULT_NODES: usize = 16;
/// Peers per node: fewer than the nodes, so that the peer graph is a mesh
/// discovery built rather than everyone connected to everyone.
pub const DEFAULT_MAX_PEERS: usize = 8;
/// The devnet's chain id (and network id): the one development chains
/// conventionally use.
pub const CHAIN_ID: u64 = 1337;
/// Blocks the first node starts with; the others start with fewer and
/// catch up from their peers.
pub const INITIAL_BLOCKS: u64 = 64;
/// Transactions per generated block: enough that bodies and receipts are
/// more than empty lists.
const TXS_PER_BLOCK: usize = 2;
/// How often the first node adds a block.
pub const DEFAULT_BLOCK_INTERVAL: Duration = Duration::from_secs(6);
/// How often a node asks its peers for the blocks above its head.
const SYNC_INTERVAL: Duration = Duration::from_secs(1);
/// Headers asked for at once; a node more than this behind catches up over
/// several rounds.
const SYNC_BATCH: u64 = 64;

/// The devnet's genesis file, as `geth init` takes it: every block fork
/// active from block 0, no time forks, an empty allocation. Also what a
/// single node on a private chain can be started from (`--genesis`).
pub fn genesis_json() -> String {
    format!(
        r#"{{
  "config": {{
    "chainId": {CHAIN_ID},
    "homesteadBlock": 0, "eip150Block": 0, "eip155Block": 0,
    "eip158Block": 0, "byzantiumBlock": 0, "constantinopleBlock": 0,
    "petersburgBlock": 0, "istanbulBlock": 0, "berlinBlock": 0,
    "londonBlock": 0
  }},
  "difficulty": "0x20000",
  "gasLimit": "0x1c9c380",
  "timestamp": "0x6759b800",
  "extraData": "0x6465766e6574",
  "alloc": {{}}
}}
"#
    )
}

/// The devnet's genesis, read from [`genesis_json`].
pub fn genesis() -> Genesis {
    Genesis::from_json(genesis_json().as_bytes()).expect("the devnet genesis is valid")
}

/// How a devnet is made.
#[derive(Clone, Debug)]
pub struct DevnetSettings {
    /// How many nodes.
    pub nodes: usize,
    /// Peers per node.
    pub max_peers: usize,
    /// How often the first node adds a block.
    pub block_interval: Duration,
}

impl Default for DevnetSettings {
    fn default() -> Self {
        DevnetSettings {
            nodes: DEFAULT_NODES,
            max_peers: DEFAULT_MAX_PEERS,
            block_interval: DEFAULT_BLOCK_INTERVAL,
        }
    }
}

/// A running devnet; [`stop`](Self::stop) ends every node.
pub struct Devnet {
    /// The nodes; the first is every other node's bootnode and adds the
    /// blocks.
    pub nodes: Vec<RunningNode>,
    /// Blocks each node fetched from its peers, by node.
    imported: Vec<Arc<AtomicU64>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Devnet {
    /// Starts `settings.nodes` nodes on 127.0.0.1, each on ports the system
    /// chooses.
    pub async fn start(settings: DevnetSettings) -> Result<Devnet, NodeError> {
        if settings.nodes == 0 {
            return Err("a devnet needs at least one node".into());
        }
        let genesis = genesis();
        let mut nodes: Vec<RunningNode> = Vec::with_capacity(settings.nodes);
        for index in 0..settings.nodes {
            let key = NodeKey::random();
            let (ping_pong, rtts) = crate::ping_pong();
            let first = nodes.first();
            let config = Config {
                private_key: Some(key.clone()),
                listen_addr: Some(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))),
                max_peers: settings.max_peers,
                // Half the slots for dials (go-ethereum's third leaves a
                // small devnet's nodes one dial each, and the graph a chain
                // of stars).
                dial_ratio: 2,
                client_id: format!("devp2p-rs-devnet/node-{index}"),
                bootnodes: first.and_then(|node| node.enode()).into_iter().collect(),
                ..Config::default()
            };
            let v5_bootnodes = first
                .and_then(|node| node.discv5())
                .map(|v5| v5.local_enr())
                .into_iter()
                .collect();
            let mut chain = ChainSetup::genesis(&genesis)?;
            chain.name = "devnet".to_owned();
            // The first node holds the longest chain; the others hold a
            // prefix of it (the generated blocks are the same everywhere)
            // and fetch the rest.
            chain.chain.grow(start_height(index), TXS_PER_BLOCK);
            let node = RunningNode::start(NodeSettings {
                key,
                config,
                chain,
                discovery: DiscoverySettings {
                    v4: true,
                    v5_port: Some(0),
                    v5_bootnodes,
                    ..DiscoverySettings::default()
                },
                quic_port: None,
                protocols: vec![ping_pong],
                rtts: Some(rtts),
            })
            .await?;
            nodes.push(node);
        }
        let mut tasks = Vec::new();
        let mut imported = Vec::new();
        for node in &nodes {
            let counter = Arc::new(AtomicU64::new(0));
            tasks.push(tokio::spawn(follow_peers(
                node.eth.clone(),
                node.chain.chain.clone(),
                counter.clone(),
            )));
            imported.push(counter);
        }
        tasks.push(tokio::spawn(add_blocks(
            nodes[0].eth.clone(),
            nodes[0].chain.chain.clone(),
            settings.block_interval,
        )));
        Ok(Devnet {
            nodes,
            imported,
            tasks,
        })
    }

    /// Each node's status, in node order.
    pub async fn statuses(&self) -> Vec<NodeStatus> {
        futures::future::join_all(self.nodes.iter().map(|node| node.status())).await
    }

    /// Blocks node `index` fetched from its peers so far.
    pub fn imported(&self, index: usize) -> u64 {
        self.imported
            .get(index)
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Stops every node, each telling its peers it is quitting.
    pub async fn stop(self) {
        for task in &self.tasks {
            task.abort();
        }
        futures::future::join_all(self.nodes.into_iter().map(RunningNode::stop)).await;
    }
}

/// The height node `index` of `nodes` starts at: the first node at
/// [`INITIAL_BLOCKS`], the others spread below it.
fn start_height(index: usize) -> u64 {
    if index == 0 {
        INITIAL_BLOCKS
    } else {
        INITIAL_BLOCKS * (index % 4) as u64 / 4
    }
}

/// The first node's block production: one made-up block every `interval`,
/// announced to its peers (eth/69's block range update).
async fn add_blocks(eth: Eth, chain: Arc<MemoryChain>, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.tick().await;
    loop {
        tick.tick().await;
        chain.grow(1, TXS_PER_BLOCK);
        debug!(head = chain.head_number(), "devnet block added");
        eth.announce_block_range().await;
    }
}

/// A node's catching up: every [`SYNC_INTERVAL`], asks its ready eth peers
/// in random order for the blocks above its head until one has some, checks
/// each body and receipt list against its header, and appends them.
async fn follow_peers(eth: Eth, chain: Arc<MemoryChain>, imported: Arc<AtomicU64>) {
    let mut tick = tokio::time::interval(SYNC_INTERVAL);
    loop {
        tick.tick().await;
        let mut peers = eth.peers();
        peers.shuffle(&mut rand::rng());
        for peer in peers {
            match fetch_above_head(&peer, &chain).await {
                Ok(0) => continue,
                Ok(count) => {
                    imported.fetch_add(count, Ordering::Relaxed);
                    debug!(peer = %peer.id(), count, head = chain.head_number(), "blocks fetched");
                    eth.announce_block_range().await;
                    break;
                }
                Err(e) => {
                    debug!(peer = %peer.id(), "fetching blocks failed: {e}");
                }
            }
        }
    }
}

/// Fetches and appends the blocks `peer` has above our head (at most
/// [`SYNC_BATCH`]); returns how many.
async fn fetch_above_head(peer: &EthPeer, chain: &MemoryChain) -> Result<u64, String> {
    let head = chain.head();
    let headers = peer
        .get_block_headers(HashOrNumber::Number(head.number + 1), SYNC_BATCH, 0, false)
        .await
        .map_err(|e| e.to_string())?;
    if headers.is_empty() {
        return Ok(0);
    }
    let mut parent = head.hash;
    for header in &headers {
        if header.parent_hash != parent {
            return Err(format!(
                "header #{} does not extend our chain",
                header.number
            ));
        }
        parent = header.hash();
    }
    let hashes: Vec<_> = headers.iter().map(|h| h.hash()).collect();
    let bodies = peer
        .get_block_bodies(hashes.clone())
        .await
        .map_err(|e| e.to_string())?;
    let receipts = peer.get_receipts(hashes).await.map_err(|e| e.to_string())?;
    let mut count = 0;
    for ((header, body), receipts) in headers.into_iter().zip(bodies).zip(receipts) {
        if !roots::body_matches(&header, &body)
            || roots::receipts_root(&receipts) != header.receipts_root
        {
            return Err(format!(
                "block #{} does not match its header",
                header.number
            ));
        }
        chain
            .push_block(header, body, receipts)
            .map_err(|e| e.to_string())?;
        count += 1;
    }
    Ok(count)
}
