//! EIP-1459 node lists: sign one, and serve one over DNS to try it.
//!
//! `dnstree sign` builds the tree of a list of node records, signs its root
//! with a key file and prints the TXT records to publish as a JSON object of
//! name to text (the format of go-ethereum's `devp2p dns to-txt`); the
//! list's `enrtree://` URL goes to standard error.
//!
//! `dnstree serve` answers DNS queries (UDP and TCP) for such a JSON object,
//! so that a list can be read by clients before it is published, or in tests
//! with a resolver pointed at it.
//!
//! ```text
//! dnstree sign --key list.key --domain nodes.example.org --seq 3 enr:-Iu4Q… > records.json
//! dnstree serve --zone records.json --listen 127.0.0.1:5353
//! ```

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use hickory_server::authority::{Catalog, ZoneType};
use hickory_server::proto::rr::rdata::{SOA, TXT};
use hickory_server::proto::rr::{LowerName, Name, RData, Record};
use hickory_server::store::in_memory::InMemoryAuthority;
use hickory_server::ServerFuture;
use p2p_core::keyfile;
use p2p_core::record::NodeRecord;
use p2p_discovery::dns::publish::SignedTree;
use p2p_discovery::dns::tree::TreeUrl;
use tokio::net::{TcpListener, UdpSocket};

#[derive(Parser, Debug)]
#[command(about = "Sign and serve EIP-1459 node lists")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Builds and signs a tree; prints its TXT records as JSON.
    Sign {
        /// The list's key (hex, as a node key file).
        #[arg(long)]
        key: PathBuf,
        /// The domain the list is published at.
        #[arg(long)]
        domain: String,
        /// The root's sequence number; raise it with every change.
        #[arg(long, default_value_t = 1)]
        seq: u64,
        /// Other lists to link, as `enrtree://` URLs (repeatable).
        #[arg(long = "link")]
        links: Vec<TreeUrl>,
        /// A file of node records (`enr:` texts), one per line.
        #[arg(long)]
        nodes: Option<PathBuf>,
        /// Node records (`enr:` texts).
        records: Vec<String>,
    },
    /// Serves a JSON object of TXT records (name to text) over DNS.
    Serve {
        /// The records, as `sign` prints them.
        #[arg(long)]
        zone: PathBuf,
        /// UDP and TCP address to answer on.
        #[arg(long, default_value = "127.0.0.1:5353")]
        listen: SocketAddr,
    },
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    match Args::parse().command {
        Command::Sign {
            key,
            domain,
            seq,
            links,
            nodes,
            records,
        } => {
            let key = keyfile::load(&key)?;
            let mut texts = records;
            if let Some(path) = nodes {
                let file = std::fs::read_to_string(path)?;
                texts.extend(
                    file.lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty())
                        .map(String::from),
                );
            }
            let records = texts
                .iter()
                .map(|text| text.parse::<NodeRecord>())
                .collect::<Result<Vec<_>, _>>()?;
            let tree = SignedTree::build(key.secret(), &domain, seq, &records, &links)?;
            println!("{}", serde_json::to_string_pretty(&tree.txt_records())?);
            eprintln!("{}", tree.url());
            Ok(())
        }
        Command::Serve { zone, listen } => {
            let records: BTreeMap<String, String> = serde_json::from_slice(&std::fs::read(zone)?)?;
            serve(records, listen).await
        }
    }
}

/// Serves `records` until killed. The zone's origin is the shortest name
/// (the list's domain, which holds the root).
async fn serve(
    records: BTreeMap<String, String>,
    listen: SocketAddr,
) -> Result<(), Box<dyn std::error::Error>> {
    let origin = records
        .keys()
        .min_by_key(|name| name.len())
        .ok_or("no records to serve")?;
    let fqdn = |name: &str| Name::from_ascii(format!("{}.", name.trim_end_matches('.')));
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
    let udp = UdpSocket::bind(listen).await?;
    let bound = udp.local_addr()?;
    server.register_socket(udp);
    server.register_listener(TcpListener::bind(bound).await?, Duration::from_secs(10));
    println!("listening {bound} ({} records for {origin})", records.len());
    std::io::stdout().flush()?;
    server.block_until_done().await?;
    Ok(())
}
