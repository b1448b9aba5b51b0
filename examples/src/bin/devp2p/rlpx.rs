//! `devp2p rlpx ping`: dial a node, run the ECIES handshake and the Hello
//! exchange, print the node's Hello (or the reason it gave for hanging up),
//! then say goodbye with `DisconnectRequested`. The quickest way to see
//! whether a node speaks RLPx with us at all and what it offers.

use std::io::ErrorKind;
use std::sync::Arc;
use std::time::Duration;

use clap::Subcommand;
use futures::SinkExt;
use p2p_core::base::BASE_PROTOCOL_VERSION;
use p2p_core::{exchange_hello, Connecting, DisconnectReason, Enode, Hello, HelloError, NodeKey};
use p2p_rlpx::{RlpxError, RlpxTransport};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tower::Service;

use crate::node_arg::NodeArg;
use crate::Failure;

/// The subcommands of `devp2p rlpx`.
#[derive(Subcommand, Debug)]
pub enum RlpxCommand {
    /// Connects to a node, exchanges Hello and prints the node's Hello.
    Ping {
        /// The node: an `enode://` URL or an `enr:` record.
        node: NodeArg,
        /// How long the whole exchange may take.
        #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
        timeout: Duration,
    },
}

/// Runs one `devp2p rlpx` subcommand.
pub async fn run(command: RlpxCommand) -> Result<(), Failure> {
    match command {
        RlpxCommand::Ping {
            node,
            timeout: limit,
        } => {
            let enode = node.enode()?;
            if enode.tcp == 0 {
                return Err(format!("{node}: the node has no TCP port"));
            }
            let hello = timeout(limit, ping(&enode))
                .await
                .map_err(|_| format!("{enode}: no Hello within {limit:?}"))?
                .map_err(|e| format!("{enode}: {e}"))?;
            print_hello(&hello);
            Ok(())
        }
    }
}

/// Dials `node` with a fresh key, exchanges Hello and disconnects.
async fn ping(node: &Enode) -> Result<Hello, Failure> {
    let key = NodeKey::random();
    let addr = node.tcp_addr();
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    let mut transport = RlpxTransport::new(Arc::new(key.clone()));
    let mut conn = transport
        .call(Connecting::outbound(tcp, addr, node.id))
        .await
        .map_err(|e| handshake_failure(&e))?
        .conn;
    let ours = Hello {
        protocol_version: BASE_PROTOCOL_VERSION,
        client_id: format!("devp2p-rs/v{}", env!("CARGO_PKG_VERSION")),
        capabilities: Vec::new(),
        listen_port: 0,
        id: key.id(),
    };
    let theirs = exchange_hello(&mut conn, &ours)
        .await
        .map_err(|e| match e {
            HelloError::Disconnected(reason) => {
                format!(
                    "the node disconnected instead of sending Hello: {}",
                    reason.name()
                )
            }
            other => format!("Hello exchange: {other}"),
        })?;
    // Best effort: the remote may already have hung up on a peer with no
    // capabilities, which is no failure of the ping.
    let _ = conn.send(DisconnectReason::Requested.to_msg()).await;
    let _ = conn.close().await;
    Ok(theirs)
}

/// A failed handshake in words. A node that receives an auth message sealed
/// to another key cannot open it and just hangs up, so a connection closed
/// before the ack almost always means the node id in the URL is wrong.
fn handshake_failure(e: &RlpxError) -> Failure {
    match e {
        RlpxError::Io(io)
            if matches!(
                io.kind(),
                ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset | ErrorKind::BrokenPipe
            ) =>
        {
            "the node closed the connection during the RLPx handshake: is the node id right? \
             (a node hangs up on a handshake meant for another key)"
                .to_owned()
        }
        other => format!("RLPx handshake: {other}"),
    }
}

/// One line per field, stable enough for scripts to read.
fn print_hello(hello: &Hello) {
    println!("id: {}", hello.id);
    println!("client: {}", hello.client_id);
    println!("protocol version: {}", hello.protocol_version);
    let caps: Vec<String> = hello.capabilities.iter().map(|c| c.to_string()).collect();
    println!("capabilities: {}", caps.join(" "));
    println!("listen port: {}", hello.listen_port);
}
