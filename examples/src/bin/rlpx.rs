//! RLPx tools for checking a remote node by hand.
//!
//! `rlpx ping <enode>` dials the node, runs the ECIES handshake and the Hello
//! exchange, prints the remote's Hello and says goodbye with
//! `DisconnectRequested` (reason 0). It is what go-ethereum's `devp2p rlpx ping` does,
//! and the quickest way to see whether a node speaks RLPx with us at all and
//! which capabilities it offers.
//!
//! ```text
//! cargo run -p examples --bin rlpx -- ping enode://<id>@127.0.0.1:30303
//! ```

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use futures::SinkExt;
use p2p_core::base::BASE_PROTOCOL_VERSION;
use p2p_core::{exchange_hello, Connecting, DisconnectReason, Enode, Hello, NodeKey};
use p2p_rlpx::RlpxTransport;
use tokio::net::TcpStream;
use tokio::time::timeout;
use tower::Service;

#[derive(Parser, Debug)]
#[command(about = "RLPx tools")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Connects to a node, exchanges Hello and prints the node's Hello.
    Ping {
        /// The node, as an `enode://` URL.
        node: Enode,
        /// Seconds the whole exchange may take.
        #[arg(long, default_value_t = 10)]
        timeout: u64,
    },
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let Args { command } = Args::parse();
    match command {
        Command::Ping {
            node,
            timeout: secs,
        } => match timeout(Duration::from_secs(secs), ping(&node)).await {
            Ok(Ok(hello)) => {
                print_hello(&hello);
                ExitCode::SUCCESS
            }
            Ok(Err(e)) => {
                eprintln!("rlpx ping {node}: {e}");
                ExitCode::FAILURE
            }
            Err(_) => {
                eprintln!("rlpx ping {node}: no Hello within {secs} s");
                ExitCode::FAILURE
            }
        },
    }
}

/// Dials `node` with a fresh key, exchanges Hello and disconnects.
async fn ping(node: &Enode) -> Result<Hello, Box<dyn std::error::Error>> {
    let key = NodeKey::random();
    let addr = node.tcp_addr();
    let tcp = TcpStream::connect(addr).await?;
    let mut transport = RlpxTransport::new(Arc::new(key.clone()));
    let mut conn = transport
        .call(Connecting::outbound(tcp, addr, node.id))
        .await?
        .conn;
    let ours = Hello {
        protocol_version: BASE_PROTOCOL_VERSION,
        client_id: format!("devp2p-rs-rlpx/v{}", env!("CARGO_PKG_VERSION")),
        capabilities: Vec::new(),
        listen_port: 0,
        id: key.id(),
    };
    let theirs = exchange_hello(&mut conn, &ours)
        .await
        .map_err(|e| format!("Hello exchange: {e}"))?;
    // Best effort: the remote may already have hung up on a peer with no
    // capabilities, which is no failure of the ping.
    let _ = conn.send(DisconnectReason::Requested.to_msg()).await;
    let _ = conn.close().await;
    Ok(theirs)
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
