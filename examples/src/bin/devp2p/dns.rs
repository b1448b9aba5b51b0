//! `devp2p dns`: EIP-1459 node lists in go-ethereum's tree definition
//! format, a directory holding
//!
//! - `nodes.json`: the records, as a node set (see [`examples::nodeset`]);
//! - `enrtree-info.json`: the list's URL, sequence number, root signature
//!   and links to other lists.
//!
//! `sync` reads a published list into such a directory, `sign` signs one,
//! `to-txt` prints the TXT records to publish, and `serve` answers DNS
//! queries for them, so that a list can be tried before it is published.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use clap::Subcommand;
use examples::nodeset::{go_json, NodeEntry, NodeSet, Timestamp};
use hickory_server::authority::{Catalog, ZoneType};
use hickory_server::proto::rr::rdata::{SOA, TXT};
use hickory_server::proto::rr::{LowerName, Name, RData, Record};
use hickory_server::store::in_memory::InMemoryAuthority;
use hickory_server::ServerFuture;
use p2p_core::keyfile;
use p2p_discovery::dns::client::{DnsClient, DnsConfig, HickoryResolver};
use p2p_discovery::dns::publish::{SignedTree, TreeLayout};
use p2p_discovery::dns::tree::{Root, TreeUrl};
use serde::{Deserialize, Serialize};
use tokio::net::{TcpListener, UdpSocket};

use crate::Failure;

/// The subcommands of `devp2p dns`.
#[derive(Subcommand, Debug)]
pub enum DnsCommand {
    /// Downloads a list over DNS into a tree directory.
    Sync {
        /// The list's `enrtree://` URL.
        url: TreeUrl,
        /// Where to write it (default: a directory named after the domain).
        dir: Option<PathBuf>,
        /// Ask this DNS server (`ip:port`) instead of the system's.
        #[arg(long)]
        nameserver: Option<SocketAddr>,
        /// How long one DNS lookup may take.
        #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
        timeout: Duration,
    },
    /// Signs a tree directory's list with a node key file; writes its
    /// `enrtree-info.json` and prints the list's `enrtree://` URL.
    Sign {
        /// The tree directory (holding `nodes.json`).
        dir: PathBuf,
        /// The list's key: a node key file (`devp2p key generate`).
        key: PathBuf,
        /// The domain the list is published at (default: the one in its URL,
        /// else the directory's name).
        #[arg(long)]
        domain: Option<String>,
        /// The root's sequence number (default: one more than before).
        #[arg(long)]
        seq: Option<u64>,
    },
    /// Prints the TXT records of a signed tree directory as a JSON object of
    /// name to text (to a file if one is given).
    ToTxt {
        /// The tree directory.
        dir: PathBuf,
        /// Where to write the records (default: standard output).
        out: Option<PathBuf>,
    },
    /// Answers DNS queries (UDP and TCP) for a list, until stopped.
    Serve {
        /// A signed tree directory, or a JSON file of TXT records as `to-txt`
        /// writes it.
        zone: PathBuf,
        /// Address to answer on.
        #[arg(long, default_value = "127.0.0.1:5353")]
        listen: SocketAddr,
    },
}

/// Runs one `devp2p dns` subcommand.
pub async fn run(command: DnsCommand) -> Result<(), Failure> {
    match command {
        DnsCommand::Sync {
            url,
            dir,
            nameserver,
            timeout,
        } => {
            let dir = dir.unwrap_or_else(|| PathBuf::from(&url.domain));
            sync(&url, &dir, nameserver, timeout).await
        }
        DnsCommand::Sign {
            dir,
            key,
            domain,
            seq,
        } => sign(&dir, &key, domain, seq),
        DnsCommand::ToTxt { dir, out } => {
            let tree = load_signed(&dir)?;
            let text = go_json(&tree.txt_records());
            match out {
                Some(path) => {
                    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))
                }
                None => {
                    println!("{text}");
                    Ok(())
                }
            }
        }
        DnsCommand::Serve { zone, listen } => {
            let records = if zone.is_dir() {
                load_signed(&zone)?.txt_records()
            } else {
                let text = std::fs::read(&zone).map_err(|e| format!("{}: {e}", zone.display()))?;
                serde_json::from_slice(&text).map_err(|e| {
                    format!("{}: not a JSON object of TXT records: {e}", zone.display())
                })?
            };
            serve(records, listen).await
        }
    }
}

/// `enrtree-info.json`: what a tree directory knows of its list beside the
/// records, with go-ethereum's field names.
#[derive(Debug, Default, Serialize, Deserialize)]
struct TreeInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(default)]
    seq: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    signature: Option<String>,
    #[serde(default)]
    links: Vec<String>,
    #[serde(rename = "lastModified", default)]
    last_modified: Timestamp,
}

const INFO_FILE: &str = "enrtree-info.json";
const NODES_FILE: &str = "nodes.json";

/// A tree directory's contents.
struct TreeDefinition {
    info: TreeInfo,
    links: Vec<TreeUrl>,
    nodes: NodeSet,
}

fn load_definition(dir: &Path) -> Result<TreeDefinition, Failure> {
    let info_path = dir.join(INFO_FILE);
    let info: TreeInfo = match std::fs::read(&info_path) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", info_path.display()))?
        }
        // A new list has no info yet; `sign` writes it.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => TreeInfo::default(),
        Err(e) => return Err(format!("{}: {e}", info_path.display())),
    };
    let links = info
        .links
        .iter()
        .map(|text| {
            text.parse()
                .map_err(|e| format!("{}: link {text:?}: {e}", info_path.display()))
        })
        .collect::<Result<_, Failure>>()?;
    let nodes = NodeSet::load(&dir.join(NODES_FILE)).map_err(|e| e.to_string())?;
    Ok(TreeDefinition { info, links, nodes })
}

fn save_info(dir: &Path, info: &TreeInfo) -> Result<(), Failure> {
    let path = dir.join(INFO_FILE);
    std::fs::write(&path, go_json(info)).map_err(|e| format!("{}: {e}", path.display()))
}

fn signature_text(root: &Root) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(root.signature)
}

fn sign(dir: &Path, key: &Path, domain: Option<String>, seq: Option<u64>) -> Result<(), Failure> {
    let def = load_definition(dir)?;
    let key = keyfile::load(key).map_err(|e| e.to_string())?;
    let domain = match (domain, &def.info.url) {
        (Some(domain), _) => domain,
        (None, Some(url)) => {
            url.parse::<TreeUrl>()
                .map_err(|e| format!("{}: url {url:?}: {e}", dir.join(INFO_FILE).display()))?
                .domain
        }
        (None, None) => std::path::absolute(dir)
            .ok()
            .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
            .ok_or_else(|| format!("{}: give the list's domain with --domain", dir.display()))?,
    };
    let seq = seq.unwrap_or(def.info.seq + 1);
    let tree = TreeLayout::new(&def.nodes.records(), &def.links)
        .sign(key.secret(), &domain, seq)
        .map_err(|e| format!("cannot sign for {domain:?}: {e}"))?;
    let info = TreeInfo {
        url: Some(tree.url().to_string()),
        seq,
        signature: Some(signature_text(tree.root())),
        links: def.info.links,
        last_modified: Timestamp::now(),
    };
    save_info(dir, &info)?;
    println!("{}", tree.url());
    Ok(())
}

/// The signed tree a directory defines, its signature checked against the
/// records it holds now.
fn load_signed(dir: &Path) -> Result<SignedTree, Failure> {
    let def = load_definition(dir)?;
    let info_path = dir.join(INFO_FILE);
    let url: TreeUrl = def
        .info
        .url
        .as_deref()
        .ok_or_else(|| format!("{}: no url; run devp2p dns sign first", info_path.display()))?
        .parse()
        .map_err(|e| format!("{}: url: {e}", info_path.display()))?;
    let signature = def.info.signature.as_deref().ok_or_else(|| {
        format!(
            "{}: no signature; run devp2p dns sign first",
            info_path.display()
        )
    })?;
    let layout = TreeLayout::new(&def.nodes.records(), &def.links);
    let root: Root = format!(
        "enrtree-root:v1 e={} l={} seq={} sig={signature}",
        layout.enr_root(),
        layout.link_root(),
        def.info.seq
    )
    .parse()
    .map_err(|e| format!("{}: signature: {e}", info_path.display()))?;
    layout.with_root(url, root).map_err(|_| {
        format!(
            "{}: the signature does not cover these records; run devp2p dns sign to update it",
            dir.display()
        )
    })
}

async fn sync(
    url: &TreeUrl,
    dir: &Path,
    nameserver: Option<SocketAddr>,
    timeout: Duration,
) -> Result<(), Failure> {
    let resolver = match nameserver {
        Some(addr) => HickoryResolver::with_nameservers(&[addr]),
        None => HickoryResolver::from_system_conf()
            .map_err(|e| format!("the system's DNS configuration: {e}"))?,
    };
    let config = DnsConfig {
        query_timeout: timeout,
        ..DnsConfig::default()
    };
    let client = DnsClient::new(resolver, config);
    let synced = client
        .sync_tree(url)
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut nodes = NodeSet::new();
    for record in synced.records {
        nodes.insert(NodeEntry::new(record));
    }
    nodes
        .save(&dir.join(NODES_FILE))
        .map_err(|e| e.to_string())?;
    let info = TreeInfo {
        url: Some(url.to_string()),
        seq: synced.root.seq,
        signature: Some(signature_text(&synced.root)),
        links: synced.links.iter().map(TreeUrl::to_string).collect(),
        last_modified: Timestamp::now(),
    };
    save_info(dir, &info)?;
    println!(
        "{} nodes and {} links of {url} (seq {}) in {}",
        nodes.len(),
        info.links.len(),
        info.seq,
        dir.display()
    );
    Ok(())
}

/// Serves `records` until stopped. The zone's origin is the shortest name
/// (the list's domain, which holds the root).
async fn serve(records: BTreeMap<String, String>, listen: SocketAddr) -> Result<(), Failure> {
    let origin = records
        .keys()
        .min_by_key(|name| name.len())
        .ok_or("no records to serve")?;
    let fqdn = |name: &str| {
        Name::from_ascii(format!("{}.", name.trim_end_matches('.')))
            .map_err(|e| format!("{name:?} is not a domain name: {e}"))
    };
    let apex = fqdn(origin)?;
    let zone = InMemoryAuthority::empty(apex.clone(), ZoneType::Primary, false);
    let soa = SOA::new(
        apex.clone(),
        fqdn(&format!("hostmaster.{origin}"))?,
        1,
        3600,
        600,
        86400,
        0,
    );
    zone.upsert(Record::from_rdata(apex.clone(), 0, RData::SOA(soa)), 1)
        .await;
    for (name, text) in &records {
        // A TXT character-string holds at most 255 bytes; longer texts
        // (large records) are split, and resolvers join them again.
        let strings = text
            .as_bytes()
            .chunks(255)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect();
        // TTL 0: a list under test changes; nothing should cache it.
        let record = Record::from_rdata(fqdn(name)?, 0, RData::TXT(TXT::new(strings)));
        zone.upsert(record, 1).await;
    }
    let mut catalog = Catalog::new();
    catalog.upsert(LowerName::new(&apex), vec![Arc::new(zone)]);
    let mut server = ServerFuture::new(catalog);
    let udp = UdpSocket::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let bound = udp.local_addr().map_err(|e| e.to_string())?;
    server.register_socket(udp);
    let tcp = TcpListener::bind(bound)
        .await
        .map_err(|e| format!("cannot listen on {bound} (TCP): {e}"))?;
    server.register_listener(tcp, Duration::from_secs(10));
    println!("listening {bound} ({} records for {origin})", records.len());
    let _ = std::io::stdout().flush();
    server
        .block_until_done()
        .await
        .map_err(|e| format!("DNS server: {e}"))
}
