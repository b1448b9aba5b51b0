//! go-ethereum on loopback, for the interop tests and the comparison
//! benchmarks: the pinned `geth` and `devp2p` tools (see
//! `scripts/install-go-ethereum.sh`), a geth node serving the eth suite's
//! test chain, and a node of ours on the same genesis.
//!
//! Reads two variables that `scripts/test.sh` sets: `GO_ETHEREUM_BIN` (the
//! directory holding `geth` and `devp2p`) and `GO_ETHEREUM_TESTDATA` (the
//! test chain go-ethereum's eth suite ships: `genesis.json`, `chain.rlp`, …).

#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use p2p_core::config::Config;
use p2p_core::{Enode, NodeKey, PeerId, Server};
use p2p_protocols::eth::chain::MemoryChain;
use p2p_protocols::eth::genesis::Genesis;
use p2p_protocols::eth::protocol::{EthEvent, EthPeer};
use p2p_rlpx::RlpxTransport;
use primitive_types::H256;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::broadcast;
use tokio::time::timeout;

/// Bound of every wait for geth or a peer (geth starts, imports and bonds
/// in that time).
pub const WAIT: Duration = Duration::from_secs(30);

/// Where the pinned go-ethereum tools and test chain are.
pub struct GoEthereum {
    /// The directory of `geth` and `devp2p`.
    pub bin: PathBuf,
    /// The eth suite's test chain.
    pub testdata: PathBuf,
}

/// The pinned tools and test chain, from the environment; panics with what
/// to run when they are missing.
pub fn go_ethereum() -> GoEthereum {
    let var = |name: &str| {
        PathBuf::from(std::env::var_os(name).unwrap_or_else(|| {
            panic!(
                "{name} is not set: run the tests with ./scripts/test.sh, or \
                 `eval \"$(./scripts/install-go-ethereum.sh)\"` first"
            )
        }))
    };
    let ge = GoEthereum {
        bin: var("GO_ETHEREUM_BIN"),
        testdata: var("GO_ETHEREUM_TESTDATA"),
    };
    for tool in ["geth", "devp2p"] {
        assert!(ge.bin.join(tool).exists(), "no {tool} in {:?}", ge.bin);
    }
    ge
}

impl GoEthereum {
    pub fn tool(&self, name: &str) -> Command {
        let mut cmd = Command::new(self.bin.join(name));
        cmd.kill_on_drop(true).stdin(Stdio::null());
        cmd
    }

    pub fn genesis(&self) -> Genesis {
        Genesis::from_json(&std::fs::read(self.testdata.join("genesis.json")).unwrap()).unwrap()
    }

    pub fn chain_export(&self) -> Vec<u8> {
        std::fs::read(self.testdata.join("chain.rlp")).unwrap()
    }

    /// The block whose receipts are over 10 MiB, from the suite's
    /// `txinfo.json` (for eth/70's partial receipts).
    pub fn large_receipt_block(&self) -> Option<u64> {
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(self.testdata.join("txinfo.json")).unwrap())
                .unwrap();
        json["tx-largereceipt"].as_u64()
    }

    /// The test chain's head hash, from the suite's `headblock.json`.
    pub fn head_hash(&self) -> H256 {
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(self.testdata.join("headblock.json")).unwrap())
                .unwrap();
        let hex = json["hash"].as_str().unwrap().trim_start_matches("0x");
        H256::from_slice(&hex::decode(hex).unwrap())
    }
}

/// Runs a tool to its end, or kills it at `limit`; returns whether it
/// succeeded and everything it printed.
pub async fn run(mut cmd: Command, limit: Duration) -> (bool, String) {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = cmd.spawn().expect("tool starts");
    let out = timeout(limit, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{cmd:?} ran past {limit:?}"))
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A scratch directory, removed when dropped.
pub struct ScratchDir(pub PathBuf);

impl ScratchDir {
    pub fn new(what: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("devp2p-rs-{what}-{:016x}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        ScratchDir(dir)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A port free for both TCP and UDP on every address, found by binding the
/// wildcard address and releasing (geth cannot be asked which port it bound
/// for discovery, and it listens on every address: a port free on 127.0.0.1
/// alone may be held on another loopback address by a load or another test).
pub fn free_port() -> u16 {
    loop {
        let tcp = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
        let port = tcp.local_addr().unwrap().port();
        if std::net::UdpSocket::bind(("0.0.0.0", port)).is_ok() {
            return port;
        }
    }
}

/// Runs our `devp2p` tool with `args`; fails the test if it fails. Returns
/// its standard output and error together.
pub async fn our_tool<I, S>(args: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_devp2p"));
    cmd.kill_on_drop(true).args(args);
    let what = format!("{cmd:?}");
    let (ok, out) = run(cmd, WAIT).await;
    assert!(ok, "{what}:\n{out}");
    out
}

/// Runs `cmd` and returns its standard output alone; fails the test if it
/// fails (with its standard error) or runs past [`WAIT`].
pub async fn stdout_of(mut cmd: Command) -> String {
    let what = format!("{cmd:?}");
    cmd.kill_on_drop(true)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = timeout(WAIT, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("{what} ran past {WAIT:?}"))
        .unwrap();
    assert!(
        out.status.success(),
        "{what}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs go-ethereum's `devp2p dns sign` on `tree_dir` with `flags`, as it
/// requires: with a geth keystore key (made here in `scratch`, light KDF)
/// and its password on standard input. Returns whether it succeeded and
/// what it printed.
pub async fn geth_dns_sign(
    ge: &GoEthereum,
    scratch: &std::path::Path,
    tree_dir: &std::path::Path,
    flags: &[&str],
) -> (bool, String) {
    let password = scratch.join("password");
    std::fs::write(&password, "interop\n").unwrap();
    let keystore = scratch.join("keystore");
    let mut cmd = ge.tool("geth");
    cmd.args(["account", "new", "--lightkdf", "--keystore"])
        .arg(&keystore)
        .arg("--password")
        .arg(&password);
    let (ok, out) = run(cmd, WAIT).await;
    assert!(ok, "geth account new:\n{out}");
    let keyfile = std::fs::read_dir(&keystore)
        .unwrap()
        .next()
        .expect("a key file")
        .unwrap()
        .path();
    let mut cmd = ge.tool("devp2p");
    cmd.args(["dns", "sign"])
        .args(flags)
        .arg(tree_dir)
        .arg(&keyfile)
        .stdin(std::fs::File::open(&password).unwrap());
    run(cmd, WAIT).await
}

/// A running geth serving the eth suite's test chain on loopback, killed
/// (and its data directory removed) when dropped.
pub struct Geth {
    child: Child,
    /// geth's node URL.
    pub enode: Enode,
    ipc: PathBuf,
    log: Arc<Mutex<Vec<String>>>,
    _dir: ScratchDir,
}

/// How geth's discovery runs in a test.
pub enum GethDiscovery {
    /// `--nodiscover`: peers only by dialing.
    Off,
    /// Discovery v4 on the RLPx port, joining through these bootnodes.
    V4(Vec<String>),
    /// Discovery v5 alone on the RLPx port, joining through these
    /// bootnodes (`enr:` records).
    V5(Vec<String>),
}

impl Geth {
    pub async fn start(ge: &GoEthereum, discovery: GethDiscovery) -> Geth {
        let dir = ScratchDir::new("geth");
        let datadir = dir.0.join("data");
        let datadir_arg = datadir.to_str().unwrap();
        for (step, args) in [
            ("init", vec![ge.testdata.join("genesis.json")]),
            ("import", vec![ge.testdata.join("chain.rlp")]),
        ] {
            let mut cmd = ge.tool("geth");
            cmd.args(["--datadir", datadir_arg, step]).args(args);
            let (ok, out) = run(cmd, Duration::from_secs(60)).await;
            assert!(ok, "geth {step} failed:\n{out}");
        }
        let ipc = dir.0.join("geth.ipc");
        let port = free_port().to_string();
        let mut cmd = ge.tool("geth");
        cmd.args([
            "--datadir",
            datadir_arg,
            "--networkid",
            "3503995874084926",
            "--port",
            &port,
            "--nat",
            "none",
            "--maxpeers",
            "10",
            "--ipcpath",
            ipc.to_str().unwrap(),
            "--authrpc.port",
            "0",
            "--verbosity",
            "3",
        ]);
        match discovery {
            GethDiscovery::Off => {
                cmd.arg("--nodiscover");
            }
            // Bootnodes are always given: without them geth would join
            // mainnet through its built-in ones, and tests talk to loopback
            // only. DNS discovery is off for the same reason.
            GethDiscovery::V4(bootnodes) => {
                assert!(!bootnodes.is_empty(), "geth needs loopback bootnodes");
                cmd.args(["--discovery.v4", "--discovery.v5=false"])
                    .args(["--discovery.dns", ""])
                    .args(["--bootnodes", &bootnodes.join(",")]);
            }
            GethDiscovery::V5(bootnodes) => {
                assert!(!bootnodes.is_empty(), "geth needs loopback bootnodes");
                cmd.args(["--discovery.v4=false", "--discovery.v5"])
                    .args(["--discovery.dns", ""])
                    .args(["--bootnodes", &bootnodes.join(",")]);
            }
        }
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("geth starts");
        // geth logs to stderr; its own enode is on the "Started P2P
        // networking" line. The log is kept for failure messages.
        let log = Arc::new(Mutex::new(Vec::new()));
        let (enode_tx, enode_rx) = tokio::sync::oneshot::channel();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let keep = log.clone();
        tokio::spawn(async move {
            let mut enode_tx = Some(enode_tx);
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(at) = line.find("self=") {
                    let url = line[at + 5..].trim_matches('"');
                    let url = url.split(['?', '"', ' ']).next().unwrap().to_string();
                    if let Some(tx) = enode_tx.take() {
                        let _ = tx.send(url);
                    }
                }
                keep.lock().unwrap().push(line);
            }
        });
        let url = match timeout(WAIT, enode_rx).await {
            Ok(Ok(url)) => url,
            outcome => {
                let _ = child.start_kill();
                panic!(
                    "geth did not log its enode ({}):\n{}",
                    if outcome.is_err() {
                        "timed out"
                    } else {
                        "it exited"
                    },
                    log.lock().unwrap().join("\n")
                );
            }
        };
        let mut enode: Enode = url.parse().unwrap();
        enode.udp = enode.tcp;
        // The IPC socket appears a moment after P2P starts.
        let deadline = Instant::now() + WAIT;
        while !ipc.exists() {
            assert!(Instant::now() < deadline, "no geth IPC socket");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Geth {
            child,
            enode,
            ipc,
            log,
            _dir: dir,
        }
    }

    /// Runs JavaScript in geth's console over IPC; returns what it printed.
    pub async fn console(&self, ge: &GoEthereum, js: &str) -> String {
        let mut cmd = ge.tool("geth");
        cmd.args(["attach", "--exec", js, self.ipc.to_str().unwrap()]);
        let (ok, out) = run(cmd, WAIT).await;
        assert!(ok, "geth attach failed:\n{out}\ngeth log:\n{}", self.log());
        out
    }

    /// geth's node record (`admin.nodeInfo.enr`).
    pub async fn enr(&self, ge: &GoEthereum) -> String {
        let out = self.console(ge, "admin.nodeInfo.enr").await;
        out.trim().trim_matches('"').to_string()
    }

    /// What geth's `admin.peers` says of its peers' eth protocol, as JSON.
    pub async fn eth_peers(&self, ge: &GoEthereum) -> String {
        self.console(
            ge,
            "JSON.stringify(admin.peers.map(function(p){return p.protocols.eth}))",
        )
        .await
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

impl Drop for Geth {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// Our node: a server offering eth on the test chain's genesis, holding
/// the genesis block only or the whole exported chain.
pub struct OurNode {
    /// The server.
    pub server: Server,
    events: broadcast::Receiver<EthEvent>,
    /// The chain it serves.
    pub chain: Arc<MemoryChain>,
}

pub async fn our_node(ge: &GoEthereum, import: bool) -> OurNode {
    let export = import.then(|| ge.chain_export());
    let (eth, chain) = examples::genesis_eth(&ge.genesis(), export.as_deref()).unwrap();
    let events = eth.subscribe();
    let key = NodeKey::random();
    let config = Config::builder()
        .listen_addr(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .build()
        .unwrap();
    let server = Server::builder(key)
        .config(config)
        .protocols(eth.protocols())
        .encryption(RlpxTransport::new)
        .start()
        .await
        .unwrap();
    OurNode {
        server,
        events,
        chain,
    }
}

impl OurNode {
    pub fn enode(&self) -> Enode {
        self.server.local_enode().expect("listening")
    }

    /// The eth peer `id`, once its Status exchange succeeded.
    pub async fn ready(&mut self, id: PeerId, geth: &Geth) -> EthPeer {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match timeout(left, self.events.recv()).await {
                Ok(Ok(EthEvent::Ready(peer))) if peer.id() == id => return peer,
                Ok(Ok(EthEvent::HandshakeFailed { peer, error })) if peer == id => {
                    panic!(
                        "eth handshake with geth failed: {error}\ngeth log:\n{}",
                        geth.log()
                    )
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => panic!("eth events: {e}"),
                Err(_) => panic!("geth never became an eth peer\ngeth log:\n{}", geth.log()),
            }
        }
    }
}
