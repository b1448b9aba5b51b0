//! The node under load: one already running (given by its URL and process
//! id), or a fresh one started for each scenario, ours or go-ethereum's
//! `geth`, both on the same chain with the same peer limit.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use p2p_core::{keyfile, Enode, NodeKey};

/// How long a started node may take to listen.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Which node to start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// This project's node (`node`, built beside this program).
    Ours,
    /// go-ethereum's `geth` (from `GO_ETHEREUM_BIN`).
    Geth,
}

/// How to start a node.
#[derive(Clone, Debug)]
pub struct Launch {
    /// Which node.
    pub kind: Kind,
    /// Its peer limit.
    pub max_peers: usize,
    /// Whether our node's inbound throttle applies to loopback addresses
    /// (by default loopback is exempt, as every address the load uses is).
    pub throttle_loopback: bool,
    /// The chain to serve: go-ethereum's eth test chain directory
    /// (`genesis.json`, `chain.rlp`), or mainnet's genesis alone.
    pub chain: Option<PathBuf>,
    /// The directory holding `geth`.
    pub geth_bin: Option<PathBuf>,
}

/// A node under load.
pub struct Target {
    /// Its URL.
    pub enode: Enode,
    /// Its process, for reading what it costs.
    pub pid: u32,
    /// Its Prometheus endpoint, where it has one (ours), for what `/proc`
    /// cannot show: the tasks alive on its runtime.
    pub metrics: Option<SocketAddr>,
    child: Option<Child>,
    dir: Option<PathBuf>,
}

impl Target {
    /// A node started elsewhere.
    pub fn running(enode: Enode, pid: u32) -> Target {
        Target {
            enode,
            pid,
            metrics: None,
            child: None,
            dir: None,
        }
    }

    /// Where the node's log is, if this program started it.
    pub fn log(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|dir| dir.join("log"))
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(dir) = &self.dir {
            if std::env::var_os("LOAD_KEEP_LOGS").is_none() {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }
}

/// A free TCP port below the kernel's ephemeral range (32768 and up by
/// default). The load's own connections take their ports from that range,
/// bound to other loopback addresses, so a port picked there could be free
/// on 127.0.0.1 yet refuse go-ethereum, which listens on every address.
fn free_port() -> std::io::Result<u16> {
    for _ in 0..1000 {
        let port = 20_000 + rand::random::<u16>() % 12_000;
        if std::net::TcpListener::bind(("0.0.0.0", port)).is_ok() {
            return Ok(port);
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AddrInUse,
        "no free port in 20000..32000",
    ))
}

/// Starts a node as `launch` says and waits until it accepts connections.
pub fn start(launch: &Launch) -> Result<Target, Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!(
        "devp2p-rs-load-{:?}-{:016x}",
        launch.kind,
        rand::random::<u64>()
    ));
    std::fs::create_dir_all(&dir)?;
    let key = NodeKey::random();
    let port = free_port()?;
    let log = std::fs::File::create(dir.join("log"))?;
    let (mut cmd, metrics) = match launch.kind {
        Kind::Ours => {
            let metrics = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()?));
            (ours(launch, &dir, &key, port, metrics)?, Some(metrics))
        }
        Kind::Geth => (geth(launch, &dir, &key, port)?, None),
    };
    let child = cmd
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()?;
    let enode = Enode::new(key.id(), Ipv4Addr::LOCALHOST.into(), port, 0);
    let target = Target {
        enode,
        pid: child.id(),
        metrics,
        child: Some(child),
        dir: Some(dir),
    };
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let started = Instant::now();
    while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if started.elapsed() > START_TIMEOUT {
            return Err(format!("{:?} node did not listen on {addr} in time", launch.kind).into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // Let it finish starting (the probe connection above included).
    std::thread::sleep(Duration::from_secs(2));
    Ok(target)
}

/// Our node: no discovery, the given peer limit, metrics served at
/// `metrics`, per-peer log lines off (go-ethereum logs peers at debug level
/// only), optionally the throttle on loopback.
fn ours(
    launch: &Launch,
    dir: &Path,
    key: &NodeKey,
    port: u16,
    metrics: SocketAddr,
) -> Result<Command, Box<dyn std::error::Error>> {
    let node = std::env::current_exe()?.with_file_name("node");
    if !node.exists() {
        return Err(format!("no node program at {node:?}: build it with the load program").into());
    }
    keyfile::save(&dir.join("nodekey"), key)?;
    let config = dir.join("node.toml");
    let throttle = if launch.throttle_loopback {
        "[inbound_throttle]\nexempt_loopback = false\n"
    } else {
        ""
    };
    std::fs::write(&config, throttle)?;
    let mut cmd = Command::new(node);
    cmd.env("RUST_LOG", "info,node=warn")
        .arg("--datadir")
        .arg(dir)
        .arg("--config")
        .arg(&config)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--max-peers", &launch.max_peers.to_string()])
        .args(["--metrics-addr", &metrics.to_string()])
        .args(["--no-discovery", "--no-rpc"]);
    match &launch.chain {
        Some(chain) => {
            cmd.arg("--genesis")
                .arg(chain.join("genesis.json"))
                .arg("--import")
                .arg(chain.join("chain.rlp"));
        }
        None => {
            // A private chain of the genesis block alone: one node, no
            // public network's presets.
            let genesis = dir.join("genesis.json");
            std::fs::write(&genesis, examples::node::devnet::genesis_json())?;
            cmd.arg("--genesis").arg(genesis);
        }
    }
    Ok(cmd)
}

/// go-ethereum: the chain initialised and imported into a fresh data
/// directory, discovery and NAT off, no RPC, the given peer limit.
fn geth(
    launch: &Launch,
    dir: &Path,
    key: &NodeKey,
    port: u16,
) -> Result<Command, Box<dyn std::error::Error>> {
    let bin = launch
        .geth_bin
        .as_ref()
        .ok_or("GO_ETHEREUM_BIN is not set")?
        .join("geth");
    let chain = launch
        .chain
        .as_ref()
        .ok_or("geth needs the eth test chain (GO_ETHEREUM_TESTDATA)")?;
    let datadir = dir.join("data");
    for (step, file) in [("init", "genesis.json"), ("import", "chain.rlp")] {
        let out = Command::new(&bin)
            .arg("--datadir")
            .arg(&datadir)
            .arg(step)
            .arg(chain.join(file))
            .output()?;
        if !out.status.success() {
            return Err(format!("geth {step}: {}", String::from_utf8_lossy(&out.stderr)).into());
        }
    }
    let mut cmd = Command::new(bin);
    cmd.arg("--datadir")
        .arg(&datadir)
        .args(["--nodekeyhex", &hex::encode(key.secret_bytes())])
        .args(["--port", &port.to_string()])
        .args(["--maxpeers", &launch.max_peers.to_string()])
        .args(["--nodiscover", "--nat", "none", "--ipcdisable"])
        .args(["--authrpc.port", "0", "--verbosity", "2"]);
    Ok(cmd)
}
