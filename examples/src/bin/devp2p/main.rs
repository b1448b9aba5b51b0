//! `devp2p`: the command-line tool for poking at devp2p networks, with
//! go-ethereum's `cmd/devp2p` subcommand names and, where it has them, its
//! file formats (key files, `nodes.json`, `enrtree-info.json`, TXT records),
//! so that scripts and files move between the two tools.
//!
//! ```text
//! devp2p key generate node.key
//! devp2p key to-enr --ip 127.0.0.1 --tcp 30303 --udp 30303 node.key
//! devp2p enrdump enr:-Iu4Q…
//! devp2p rlpx ping enode://…@127.0.0.1:30303
//! devp2p dns sign tree/ list.key --domain nodes.example.org
//! ```
//!
//! Every failure is one line on standard error naming the input at fault,
//! and exit code 1.

mod discv4;
mod discv5;
mod dns;
mod enrdump;
mod key;
mod local;
mod node_arg;
mod nodeset;
mod progress;
mod rlpx;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "devp2p",
    version,
    about = "Tools for devp2p networks: keys, node records, discovery, RLPx and EIP-1459 DNS lists",
    after_help = "Logs go to standard error; RUST_LOG (e.g. RUST_LOG=debug) sets how much."
)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Node key files: generate one, or print its id, enode URL or record.
    #[command(subcommand)]
    Key(key::KeyCommand),
    /// Prints every key of a node record, decoded.
    Enrdump(enrdump::EnrdumpArgs),
    /// Discovery v4: ping a node, ask for its record, resolve it, crawl
    /// the network into a node set.
    #[command(subcommand)]
    Discv4(discv4::Discv4Command),
    /// Discovery v5: ping a node, resolve its record, crawl the network
    /// into a node set.
    #[command(subcommand)]
    Discv5(discv5::Discv5Command),
    /// Node sets (`nodes.json`): what one holds, and filtering it.
    #[command(subcommand)]
    Nodeset(nodeset::NodesetCommand),
    /// RLPx: dial a node and read its Hello.
    #[command(subcommand)]
    Rlpx(rlpx::RlpxCommand),
    /// EIP-1459 node lists: sync one over DNS, sign one, print its TXT
    /// records, serve them.
    #[command(subcommand)]
    Dns(dns::DnsCommand),
}

/// What went wrong, in words for the terminal.
type Failure = String;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let Args { command } = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("devp2p: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match command {
            Command::Key(command) => key::run(command),
            Command::Enrdump(args) => enrdump::run(args),
            Command::Discv4(command) => discv4::run(command).await,
            Command::Discv5(command) => discv5::run(command).await,
            Command::Nodeset(command) => nodeset::run(command),
            Command::Rlpx(command) => rlpx::run(command).await,
            Command::Dns(command) => dns::run(command).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("devp2p: {message}");
            ExitCode::FAILURE
        }
    }
}
