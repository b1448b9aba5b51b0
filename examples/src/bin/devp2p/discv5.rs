//! `devp2p discv5`: talk to nodes with discovery v5, and crawl a network
//! into a `nodes.json` node set.

use std::sync::Arc;
use std::time::Instant;

use clap::Subcommand;
use examples::crawl::{self, Crawl, REVALIDATE_INTERVAL};
use p2p_discovery::v5::{Discv5Config, Discv5Service, Enr};

use crate::local::CrawlArgs;
use crate::local::{to_v5, LocalNode};
use crate::node_arg::NodeArg;
use crate::nodeset;
use crate::progress::CrawlProgress;
use crate::Failure;

/// The subcommands of `devp2p discv5`.
#[derive(Subcommand, Debug)]
pub enum Discv5Command {
    /// Pings a node and waits for its PONG.
    Ping {
        /// The node's record (`enr:`).
        node: NodeArg,
        #[command(flatten)]
        local: LocalNode,
    },
    /// Finds a node's current record: from the node itself, else by a
    /// lookup of its id from the bootnodes. Prints the input unchanged if
    /// neither finds it, as go-ethereum's tool does.
    Resolve {
        /// The node's record (`enr:`).
        node: NodeArg,
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

/// Starts discovery v5 with the flags' bootnodes and `more`.
async fn start(local: &LocalNode, more: Vec<Enr>) -> Result<Discv5Service, Failure> {
    let mut bootnodes = local.v5_bootnodes()?;
    bootnodes.extend(more);
    let config = Discv5Config {
        listen: local.addr,
        bootnodes,
        ..Discv5Config::default()
    };
    Discv5Service::start(&local.key()?, config)
        .await
        .map_err(|e| format!("cannot start discovery v5 on {}: {e}", local.addr))
}

/// Runs one `devp2p discv5` subcommand.
pub async fn run(command: Discv5Command) -> Result<(), Failure> {
    match command {
        Discv5Command::Ping { node, local } => {
            let enr = node.v5_record()?;
            let disc = start(&local, Vec::new()).await?;
            let started = Instant::now();
            let result = disc.ping(enr).await;
            disc.shutdown();
            result.map_err(|e| format!("{node}: the node did not answer: {e}"))?;
            println!("node responded to ping (RTT {:?}).", started.elapsed());
            Ok(())
        }
        Discv5Command::Resolve { node, local } => {
            let enr = node.v5_record()?;
            let disc = start(&local, Vec::new()).await?;
            let found = resolve(&disc, enr).await;
            disc.shutdown();
            match found {
                Some(record) => println!("{}", record.to_base64()),
                None => println!("{node}"),
            }
            Ok(())
        }
        Discv5Command::Crawl {
            crawl:
                CrawlArgs {
                    file,
                    timeout,
                    parallel,
                },
            local,
        } => {
            let mut set = nodeset::load_or_empty(&file)?;
            let known: Vec<Enr> = set.records().iter().map(to_v5).collect::<Result<_, _>>()?;
            let bootnodes = local.v5_bootnodes()?;
            if known.is_empty() && bootnodes.is_empty() {
                return Err(format!(
                    "no nodes to start crawling from: {} has none; give --bootnodes or --network",
                    file.display()
                ));
            }
            let disc = Arc::new(start(&local, known.clone()).await?);
            let mut seeds = known;
            seeds.extend(bootnodes);
            let crawl = Crawl {
                seeds,
                lookup: Some(|| {
                    let disc = disc.clone();
                    async move {
                        let mut found =
                            disc.lookup(enr::NodeId::random()).await.unwrap_or_default();
                        // A lookup asks each node for a few log distances
                        // around the target, so in a small network it can
                        // miss nodes for many rounds; the table holds every
                        // node that answered or contacted us.
                        found.extend(disc.table_entries());
                        found
                    }
                }),
                check: |node: Enr| {
                    let disc = disc.clone();
                    async move { crawl::discv5::check(&disc, node).await }
                },
                id: crawl::discv5::id,
                parallel,
                revalidate_interval: REVALIDATE_INTERVAL,
                deadline: Some(Instant::now() + timeout),
            };
            CrawlProgress::run(crawl, &mut set).await;
            disc.shutdown();
            nodeset::save(&file, &set)
        }
    }
}

/// The node's current record from the node, else from whoever a lookup of
/// its id finds.
async fn resolve(disc: &Discv5Service, enr: Enr) -> Option<Enr> {
    let id = enr.node_id();
    if let Ok(current) = disc.request_enr(enr).await {
        return Some(current);
    }
    let found = disc.lookup(id).await.ok()?;
    found.into_iter().find(|r| r.node_id() == id)
}
