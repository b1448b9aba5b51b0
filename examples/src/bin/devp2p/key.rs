//! `devp2p key`: node key files in go-ethereum's format (64 hex characters,
//! no newline, readable by the owner only), and what they name.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use p2p_core::keyfile;
use p2p_core::record::{self, Endpoint, NodeRecord};
use p2p_core::NodeKey;

use crate::Failure;

/// The subcommands of `devp2p key`.
#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// Writes a new random node key to a file that does not exist yet.
    Generate {
        /// Where to write the key.
        file: PathBuf,
    },
    /// Prints the node id (keccak-256 of the public key) of a key file.
    ToId {
        /// The key file.
        file: PathBuf,
    },
    /// Prints the enode URL of a key file at the given endpoint.
    ToEnode {
        /// The key file.
        file: PathBuf,
        #[command(flatten)]
        endpoint: EndpointArgs,
    },
    /// Prints the signed node record (sequence number 0) of a key file at the
    /// given endpoint; the same key and endpoint give the same record.
    ToEnr {
        /// The key file.
        file: PathBuf,
        #[command(flatten)]
        endpoint: EndpointArgs,
    },
}

/// The endpoint a record or URL is made for, with go-ethereum's defaults.
#[derive(Args, Debug)]
pub struct EndpointArgs {
    /// IP address of the node; an empty value leaves it out.
    #[arg(long, default_value = "127.0.0.1")]
    ip: String,
    /// TCP (RLPx) port of the node; 0 leaves it out.
    #[arg(long, default_value_t = 30303)]
    tcp: u16,
    /// UDP (discovery) port of the node; 0 leaves it out.
    #[arg(long, default_value_t = 30303)]
    udp: u16,
}

impl EndpointArgs {
    fn endpoint(&self) -> Result<Endpoint, Failure> {
        let ip = match self.ip.as_str() {
            "" => None,
            text => Some(
                text.parse::<IpAddr>()
                    .map_err(|_| format!("--ip {text}: not an IP address"))?,
            ),
        };
        Ok(Endpoint {
            ip,
            tcp: (self.tcp != 0).then_some(self.tcp),
            udp: (self.udp != 0).then_some(self.udp),
            quic: None,
        })
    }
}

/// Runs one `devp2p key` subcommand.
pub fn run(command: KeyCommand) -> Result<(), Failure> {
    match command {
        KeyCommand::Generate { file } => {
            // go-ethereum overwrites; a node's identity lost to a typo is
            // worth one more command.
            if file.exists() {
                return Err(format!(
                    "{} exists; remove it first to replace the key",
                    file.display()
                ));
            }
            keyfile::save(&file, &NodeKey::random()).map_err(|e| e.to_string())
        }
        KeyCommand::ToId { file } => {
            println!("{}", load(&file)?.id().node_id());
            Ok(())
        }
        KeyCommand::ToEnode { file, endpoint } => {
            println!("{}", url(&make_record(&file, &endpoint)?));
            Ok(())
        }
        KeyCommand::ToEnr { file, endpoint } => {
            println!("{}", make_record(&file, &endpoint)?.to_base64());
            Ok(())
        }
    }
}

fn load(file: &std::path::Path) -> Result<NodeKey, Failure> {
    keyfile::load(file).map_err(|e| e.to_string())
}

/// The record go-ethereum's tool makes for a key and endpoint: sequence
/// number 0; `ip` or `ip6`, and the ports under `tcp` and `udp` whatever the
/// address family; signed deterministically (RFC 6979), so that both tools
/// print the same text for the same key.
fn make_record(file: &std::path::Path, endpoint: &EndpointArgs) -> Result<NodeRecord, Failure> {
    let key = load(file)?;
    let endpoint = endpoint.endpoint()?;
    let mut builder = enr::Enr::builder();
    builder.seq(0);
    if let Some(ip) = endpoint.ip {
        builder.ip(ip);
    }
    if let Some(tcp) = endpoint.tcp {
        builder.tcp4(tcp);
    }
    if let Some(udp) = endpoint.udp {
        builder.udp4(udp);
    }
    let record = builder
        .build(key.secret())
        .map_err(|e| format!("cannot make a record: {e}"))?;
    sign_deterministically(&record, &key)
}

/// `record` signed again with RFC 6979 nonces alone. The record crate mixes
/// random data into its nonces (which is as safe, but gives a new text
/// each time).
fn sign_deterministically(record: &NodeRecord, key: &NodeKey) -> Result<NodeRecord, Failure> {
    let raw = crate::node_arg::record_bytes(&record.to_base64())?;
    let list = rlp::Rlp::new(&raw);
    let content: Vec<&[u8]> = list.iter().skip(1).map(|item| item.as_raw()).collect();
    let mut signed = rlp::RlpStream::new_list(content.len());
    for item in &content {
        signed.append_raw(item, 1);
    }
    let digest = p2p_core::keccak256(&signed.out());
    let signature = secp256k1::ecdsa::sign(secp256k1::Message::from_digest(digest), key.secret());
    let mut out = rlp::RlpStream::new_list(content.len() + 1);
    out.append(&signature.serialize_compact().as_slice());
    for item in &content {
        out.append_raw(item, 1);
    }
    record::from_rlp(&out.out()).map_err(|e| format!("cannot make a record: {e}"))
}

/// The enode URL of a record, or, without an IP address, the bare
/// `enode://<public key>` go-ethereum prints then.
pub fn url(record: &NodeRecord) -> String {
    match record::enode(record) {
        Some(enode) => enode.to_string(),
        None => format!("enode://{}", record::peer_id(record)),
    }
}
