//! A load program for devp2p nodes: thousands of real RLPx peers, churn,
//! stalled and garbage connections against one node over loopback, with
//! what the node paid for it read from `/proc`.
//!
//! Run against nodes it starts itself, ours and go-ethereum's side by side
//! (`scripts/load.sh` sets up geth and the chain):
//!
//! ```text
//! cargo build --release -p examples --bins
//! target/release/load --against ours,geth --scenarios hold,churn,stall,garbage,burst
//! ```
//!
//! or against a node already running (`--target enode://… --pid N`). With
//! `LOAD_KEEP_LOGS` set, the data directories and logs of the nodes it
//! started are kept.
//!
//! Every connection comes from its own address in 127.0.0.0/8 (honest
//! peers, churn and hostile connections in separate ranges), every loop is
//! bounded by the scenario's duration, and the nodes it starts are killed
//! when it ends. The peers speak eth (68 or 69) and mirror the target's
//! Status, so they pass its chain checks on any chain.

mod honest;
mod hostile;
mod latency;
mod probe;
mod rate;
mod report;
mod scenarios;
mod soak;
mod sources;
mod targets;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use p2p_core::Enode;

use report::Report;
use scenarios::Params;
use targets::{Kind, Launch, Target};

#[derive(Parser, Debug)]
#[command(about = "Load, churn and hostile connections against a devp2p node, over loopback")]
struct Args {
    /// Nodes to start, one fresh for each scenario (ours, geth).
    #[arg(long, value_delimiter = ',', default_value = "ours")]
    against: Vec<Kind>,
    /// A node already running, instead of starting one.
    #[arg(long, requires = "pid")]
    target: Option<Enode>,
    /// The process id of `--target`, to read what it costs.
    #[arg(long)]
    pid: Option<u32>,
    /// The scenarios to run, in order.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "hold,churn,stall,garbage,burst"
    )]
    scenarios: Vec<Scenario>,
    /// The peer limit of the nodes started.
    #[arg(long, default_value_t = 15_000)]
    max_peers: usize,
    /// `hold`: peers to connect.
    #[arg(long, default_value_t = 10_000)]
    peers: usize,
    /// `hold`: how often each peer sends a request.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
    request_every: Duration,
    /// `hold`: how long peers stream requests.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "60s")]
    hold: Duration,
    /// `hold`: how long after the peers left memory is read again.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "60s")]
    recovery: Duration,
    /// `churn`: connection attempts a second.
    #[arg(long, default_value_t = 1_000)]
    attempts: u32,
    /// `churn`: the source addresses the attempts cycle through.
    #[arg(long, default_value_t = 1_000)]
    churn_addresses: u32,
    /// `churn`, `stall`, `garbage`: how long each runs.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "60s")]
    duration: Duration,
    /// `stall`: hostile connections held open.
    #[arg(long, default_value_t = 2_500)]
    stalled: usize,
    /// Honest probe handshakes a second during churn, stall and garbage.
    #[arg(long, default_value_t = 10)]
    probe_rate: u32,
    /// `garbage`: garbage connections a second.
    #[arg(long, default_value_t = 5_000)]
    garbage: u32,
    /// `burst`: connections opened at once.
    #[arg(long, default_value_t = 10_000)]
    burst: usize,
    /// `soak`: how long peers keep joining, exchanging and leaving.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30m")]
    soak: Duration,
    /// `soak`: about how many peers are connected at a time.
    #[arg(long, default_value_t = 200)]
    soak_peers: usize,
    /// Exit with an error if an honest peer was refused or dropped.
    #[arg(long)]
    check: bool,
}

/// A load to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// Many peers connect, hold on while streaming requests, and leave.
    Hold,
    /// Peers connect, make a request and leave at a fixed rate.
    Churn,
    /// Silent, half-auth and slowloris connections held against honest
    /// handshakes.
    Stall,
    /// Garbage connections churn while a healthy peer measures round trips.
    Garbage,
    /// Thousands of connections opened at once.
    Burst,
    /// Peers join, exchange and leave at random for a long while (not in
    /// the default list: it runs 30 minutes unless `--soak` says otherwise).
    Soak,
}

fn main() -> Result<std::process::ExitCode, Box<dyn std::error::Error>> {
    let args = Args::parse();
    examples::raise_fd_limit();
    // Two workers: the machines this runs on have two cores, shared with
    // the target.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let params = Params {
        peers: args.peers,
        request_every: args.request_every,
        hold: args.hold,
        recovery: args.recovery,
        attempts: args.attempts,
        churn_addresses: args.churn_addresses,
        duration: args.duration,
        stalled: args.stalled,
        probe_rate: args.probe_rate,
        garbage: args.garbage,
        burst: args.burst,
        soak: args.soak,
        soak_peers: args.soak_peers,
    };
    let chain = std::env::var_os("GO_ETHEREUM_TESTDATA").map(PathBuf::from);
    let geth_bin = std::env::var_os("GO_ETHEREUM_BIN").map(PathBuf::from);
    println!(
        "# devp2p load: {} cores, {:?}\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        params
    );
    let mut violations = Vec::new();
    for scenario in &args.scenarios {
        let mut columns: Vec<(String, Report)> = Vec::new();
        if let (Some(enode), Some(pid)) = (&args.target, args.pid) {
            let target = Target::running(*enode, pid);
            columns.push(("target".into(), run(&runtime, *scenario, &target, &params)));
        } else {
            for kind in &args.against {
                // The inbound throttle is measured off and on in churn (on
                // loopback it is exempt by default); go-ethereum exempts
                // loopback and LAN addresses without an option.
                let throttle = if *scenario == Scenario::Churn && *kind == Kind::Ours {
                    vec![false, true]
                } else {
                    vec![false]
                };
                for throttle_loopback in throttle {
                    let launch = Launch {
                        kind: *kind,
                        max_peers: args.max_peers,
                        throttle_loopback,
                        chain: chain.clone(),
                        geth_bin: geth_bin.clone(),
                    };
                    let name = match (kind, throttle_loopback) {
                        (Kind::Ours, true) => "ours, throttle on".to_string(),
                        (Kind::Ours, false) if *scenario == Scenario::Churn => {
                            "ours, throttle off".to_string()
                        }
                        (kind, _) => format!("{kind:?}").to_lowercase(),
                    };
                    eprintln!("load: {scenario:?} against {name}");
                    let target = targets::start(&launch)?;
                    let report = run(&runtime, *scenario, &target, &params);
                    if let (Some(log), Some(_)) = (target.log(), std::env::var_os("LOAD_KEEP_LOGS"))
                    {
                        eprintln!("load: {name} logged to {log:?}");
                    }
                    columns.push((name, report));
                }
            }
        }
        println!(
            "{}",
            report::table(&format!("{scenario:?}").to_lowercase(), &columns)
        );
        for (name, report) in &columns {
            for violation in &report.violations {
                violations.push(format!("{scenario:?} against {name}: {violation}"));
            }
        }
    }
    if args.check && !violations.is_empty() {
        for violation in &violations {
            eprintln!("load: {violation}");
        }
        return Ok(std::process::ExitCode::FAILURE);
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// Runs one scenario against one target.
fn run(
    runtime: &tokio::runtime::Runtime,
    scenario: Scenario,
    target: &Target,
    p: &Params,
) -> Report {
    runtime.block_on(async {
        match scenario {
            Scenario::Hold => scenarios::hold(target, p).await,
            Scenario::Churn => scenarios::churn(target, p).await,
            Scenario::Stall => scenarios::stall(target, p).await,
            Scenario::Garbage => scenarios::garbage(target, p).await,
            Scenario::Burst => scenarios::burst(target, p).await,
            Scenario::Soak => soak::soak(target, p).await,
        }
    })
}
