//! `devp2p discv4`: talk to nodes with discovery v4, and crawl a network
//! into a `nodes.json` node set.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Subcommand;
use examples::crawl::{self, Checked, Crawl, REVALIDATE_INTERVAL};
use p2p_core::record::{self, NodeRecord};
use p2p_core::NodeKey;
use p2p_discovery::v4::service::{Discv4, Discv4Config, Discv4Handle};
use p2p_discovery::v4::wire::NodeRecordV4;

use crate::local::CrawlArgs;
use crate::local::LocalNode;
use crate::node_arg::NodeArg;
use crate::nodeset;
use crate::progress::CrawlProgress;
use crate::Failure;

/// The subcommands of `devp2p discv4`.
#[derive(Subcommand, Debug)]
pub enum Discv4Command {
    /// Pings a node and waits for its Pong.
    Ping {
        /// The node: an `enode://` URL or an `enr:` record.
        node: NodeArg,
        #[command(flatten)]
        local: LocalNode,
    },
    /// Asks a node for its signed record (EIP-868) and prints it.
    Requestenr {
        /// The node: an `enode://` URL or an `enr:` record.
        node: NodeArg,
        #[command(flatten)]
        local: LocalNode,
    },
    /// Finds a node's current record: from the node itself, else by a
    /// lookup of its id from the bootnodes. Prints the input unchanged if
    /// neither finds it, as go-ethereum's tool does.
    Resolve {
        /// The node: an `enode://` URL or an `enr:` record.
        node: NodeArg,
        #[command(flatten)]
        local: LocalNode,
    },
    /// Asks every node of a node set (and any nodes given) for its current
    /// record, one at a time, and updates the set: answers raise a node's
    /// score, silences halve it.
    ResolveJson {
        /// The node set to update (created if missing).
        file: PathBuf,
        /// More nodes to ask (`enode://` or `enr:`).
        nodes: Vec<NodeArg>,
        #[command(flatten)]
        local: LocalNode,
    },
    /// Crawls the network into a node set (go-ethereum's `nodes.json`): the
    /// set's nodes and the bootnodes are checked, then every node they and
    /// random lookups name, each live one asked for its own table's nodes,
    /// until the time is up. The file is read first if it exists, and
    /// written at the end.
    Crawl {
        #[command(flatten)]
        crawl: CrawlArgs,
        #[command(flatten)]
        local: LocalNode,
    },
}

/// Starts discovery with the flags' bootnodes and `more`.
async fn start(local: &LocalNode, more: &[NodeRecordV4]) -> Result<Discv4, Failure> {
    let mut bootnodes: Vec<NodeRecordV4> = local
        .v4_bootnodes()?
        .into_iter()
        .map(NodeRecordV4::from)
        .collect();
    bootnodes.extend_from_slice(more);
    let config = Discv4Config {
        bootnodes,
        // A tool asks; it does not keep a table alive.
        revalidate_interval: Duration::ZERO,
        refresh_interval: Duration::ZERO,
        ..Discv4Config::default()
    };
    Discv4::bind(local.key()?, local.addr, config)
        .await
        .map_err(|e| format!("cannot start discovery on {}: {e}", local.addr))
}

/// Runs one `devp2p discv4` subcommand.
pub async fn run(command: Discv4Command) -> Result<(), Failure> {
    match command {
        Discv4Command::Ping { node, local } => {
            let enode = node.enode()?;
            let disc = start(&local, &[]).await?;
            let started = Instant::now();
            let result = disc.handle().ping(enode.into()).await;
            disc.shutdown().await;
            result.map_err(|e| format!("{enode}: the node did not answer: {e}"))?;
            println!("node responded to ping (RTT {:?}).", started.elapsed());
            Ok(())
        }
        Discv4Command::Requestenr { node, local } => {
            let enode = node.enode()?;
            let disc = start(&local, &[]).await?;
            let result = disc.handle().request_enr(enode.into()).await;
            disc.shutdown().await;
            let record = result.map_err(|e| format!("{enode}: no record: {e}"))?;
            println!("{}", record.to_base64());
            Ok(())
        }
        Discv4Command::Resolve { node, local } => {
            let disc = start(&local, &[]).await?;
            let found = resolve(&disc.handle(), &node).await;
            disc.shutdown().await;
            match found {
                Some(record) => println!("{}", record.to_base64()),
                None => println!("{node}"),
            }
            Ok(())
        }
        Discv4Command::ResolveJson { file, nodes, local } => {
            let mut set = nodeset::load_or_empty(&file)?;
            let mut seeds = set_nodes(set.records());
            for node in &nodes {
                seeds.push(node.enode()?.into());
            }
            let disc = start(&local, &[]).await?;
            let handle = disc.handle();
            let crawl = Crawl {
                seeds,
                lookup: None::<fn() -> std::future::Ready<Vec<NodeRecordV4>>>,
                check: |node: NodeRecordV4| {
                    let handle = handle.clone();
                    async move { Checked::record(handle.request_enr(node).await.ok()) }
                },
                id: crawl::discv4::id,
                parallel: 1,
                revalidate_interval: Duration::ZERO,
                deadline: None,
            };
            CrawlProgress::run(crawl, &mut set).await;
            disc.shutdown().await;
            nodeset::save(&file, &set)
        }
        Discv4Command::Crawl {
            crawl:
                CrawlArgs {
                    file,
                    timeout,
                    parallel,
                },
            local,
        } => {
            let mut set = nodeset::load_or_empty(&file)?;
            let known = set_nodes(set.records());
            let bootnodes = local.v4_bootnodes()?;
            if known.is_empty() && bootnodes.is_empty() {
                return Err(format!(
                    "no nodes to start crawling from: {} has none; give --bootnodes or --network",
                    file.display()
                ));
            }
            // The set's nodes seed the lookups too, as bootnodes would.
            let disc = start(&local, &known).await?;
            let handle = disc.handle();
            let mut seeds = known;
            seeds.extend(bootnodes.into_iter().map(NodeRecordV4::from));
            let crawl = Crawl {
                seeds,
                lookup: Some(|| {
                    let handle = handle.clone();
                    async move {
                        handle
                            .lookup(NodeKey::random().id())
                            .await
                            .unwrap_or_default()
                    }
                }),
                check: |node: NodeRecordV4| {
                    let handle = handle.clone();
                    async move { crawl::discv4::check(&handle, node).await }
                },
                id: crawl::discv4::id,
                parallel,
                revalidate_interval: REVALIDATE_INTERVAL,
                deadline: Some(Instant::now() + timeout),
            };
            CrawlProgress::run(crawl, &mut set).await;
            disc.shutdown().await;
            nodeset::save(&file, &set)
        }
    }
}

/// The nodes of a set that have an endpoint to ask.
fn set_nodes(records: Vec<NodeRecord>) -> Vec<NodeRecordV4> {
    records
        .iter()
        .filter_map(record::enode)
        .map(NodeRecordV4::from)
        .collect()
}

/// The node's record from the node, else from whoever a lookup of its id
/// finds under that id.
async fn resolve(handle: &Discv4Handle, node: &NodeArg) -> Option<NodeRecord> {
    let enode = node.enode().ok()?;
    if let Ok(record) = handle.request_enr(enode.into()).await {
        return Some(record);
    }
    let found = handle.lookup(enode.id).await.ok()?;
    let moved = found.into_iter().find(|n| n.id == enode.id)?;
    handle.request_enr(moved).await.ok()
}
