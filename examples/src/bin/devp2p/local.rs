//! Our end of a discovery conversation: the flags `discv4` and `discv5`
//! share (bootnodes, network, key, address), as go-ethereum's tool has them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use p2p_core::record::NodeRecord;
use p2p_core::{Enode, NodeKey};
use p2p_discovery::v5::Enr;
use p2p_protocols::eth::networks::{self, Network};

use crate::node_arg::NodeArg;
use crate::Failure;

/// The flags of a crawl, v4 or v5.
#[derive(Args, Debug)]
pub struct CrawlArgs {
    /// The node set to update (`-` for standard output, starting empty).
    pub file: PathBuf,
    /// How long to crawl.
    #[arg(long, default_value = "30m", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// Nodes asked for their record at once.
    #[arg(long, default_value_t = 16)]
    pub parallel: usize,
}

/// Flags naming where to start and who we are.
#[derive(Args, Debug)]
pub struct LocalNode {
    /// Nodes to start from, comma-separated (`enode://` or `enr:`; discovery
    /// v5 needs `enr:` records).
    #[arg(long, value_delimiter = ',')]
    pub bootnodes: Vec<NodeArg>,
    /// Start from a public network's bootnodes (mainnet, sepolia, hoodi).
    #[arg(long, conflicts_with = "bootnodes")]
    pub network: Option<String>,
    /// Our node key, as 64 hex characters (default: a new random key).
    #[arg(long)]
    pub nodekey: Option<String>,
    /// The UDP address to send from and listen on.
    #[arg(long, default_value = "0.0.0.0:0")]
    pub addr: SocketAddr,
}

impl LocalNode {
    /// The key given, or a new one.
    pub fn key(&self) -> Result<NodeKey, Failure> {
        match &self.nodekey {
            Some(hex) => hex.parse().map_err(|e| format!("--nodekey: {e}")),
            None => Ok(NodeKey::random()),
        }
    }

    fn network(&self) -> Result<Option<Network>, Failure> {
        self.network
            .as_deref()
            .map(|name| {
                Network::by_name(name).ok_or_else(|| {
                    format!(
                        "--network {name}: not one of {}",
                        networks::NAMES.join(", ")
                    )
                })
            })
            .transpose()
    }

    /// The bootnodes for discovery v4: endpoints, from URLs or records.
    pub fn v4_bootnodes(&self) -> Result<Vec<Enode>, Failure> {
        match self.network()? {
            Some(network) => Ok(network.bootnode_enodes()),
            None => self.bootnodes.iter().map(NodeArg::enode).collect(),
        }
    }

    /// The bootnodes for discovery v5, which needs signed records: a
    /// network's are go-ethereum's v5 bootnodes.
    pub fn v5_bootnodes(&self) -> Result<Vec<Enr>, Failure> {
        if self.network()?.is_some() {
            return networks::V5_BOOTNODES
                .iter()
                .map(|text| text.parse::<Enr>().map_err(|e| format!("{text}: {e}")))
                .collect();
        }
        self.bootnodes.iter().map(NodeArg::v5_record).collect()
    }
}

impl NodeArg {
    /// The node as discovery v5 needs it: a signed record.
    pub fn v5_record(&self) -> Result<Enr, Failure> {
        match self {
            NodeArg::Url(_) => Err(format!(
                "{self}: discovery v5 needs the node's record (enr:...), not its URL"
            )),
            NodeArg::Record(record) => to_v5(record),
        }
    }
}

/// A record in the `discv5` crate's type (the same signed bytes).
pub fn to_v5(record: &NodeRecord) -> Result<Enr, Failure> {
    record
        .to_base64()
        .parse()
        .map_err(|e| format!("{}: {e}", record.to_base64()))
}
