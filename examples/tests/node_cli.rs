//! The node program's command line as a user meets it: a bad flag or file is
//! named in one readable line and the program exits with failure, before it
//! opens a socket.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;
use tokio::time::timeout;

/// The devnet's genesis file in `dir` (a private chain, id 1337), so that a
/// single node never takes a public network's bootnodes.
fn genesis_file(dir: &std::path::Path) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("genesis.json");
    std::fs::write(&path, examples::node::devnet::genesis_json()).unwrap();
    path
}

/// One node on the devnet's chain in `datadir`, on a port of 127.0.0.1 the
/// system picks, without discovery; callers add the flags under test.
fn single_node(datadir: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_node"));
    command
        .arg("--datadir")
        .arg(datadir)
        .arg("--genesis")
        .arg(genesis_file(datadir))
        .args(["--listen", "127.0.0.1:0", "--no-discovery"]);
    command
}

fn scratch_dir() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("node-cli-{:016x}", rand::random::<u64>()))
}

/// Runs one node (on a private chain unless `args` name a genesis file) with
/// `args` in a fresh data directory; returns whether it succeeded and what
/// it wrote to stderr.
async fn node(args: &[&str]) -> (bool, String) {
    let datadir = scratch_dir();
    let mut command = Command::new(env!("CARGO_BIN_EXE_node"));
    command.arg("--datadir").arg(&datadir);
    if !args.contains(&"--genesis") {
        command.arg("--genesis").arg(genesis_file(&datadir));
    }
    let out = run(command
        .args(["--listen", "127.0.0.1:0", "--no-discovery"])
        .args(args))
    .await;
    let _ = std::fs::remove_dir_all(&datadir);
    out
}

/// Runs `command` to its end (bounded); whether it succeeded and its stderr.
async fn run(command: &mut Command) -> (bool, String) {
    let child = command
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let out = timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("the node exits on a bad argument")
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The error is one line of words naming `what`, not a debug structure.
fn names(stderr: &str, what: &str) {
    assert!(stderr.contains(what), "{what} not named in: {stderr}");
    assert!(
        !stderr.contains("Os {") && !stderr.contains("kind:"),
        "a debug structure instead of words: {stderr}"
    );
}

#[tokio::test]
async fn a_missing_genesis_file_is_named_with_its_flag() {
    let (ok, stderr) = node(&["--genesis", "/nonexistent/genesis.json"]).await;
    assert!(!ok);
    names(&stderr, "--genesis /nonexistent/genesis.json");
    names(&stderr, "No such file or directory");
}

#[tokio::test]
async fn a_bad_discv5_bootnode_is_refused_naming_the_flag() {
    let (ok, stderr) = node(&["--discv5-port", "0", "--discv5-bootnode", "enr:garbage"]).await;
    assert!(!ok);
    names(&stderr, "--discv5-bootnode");
}

#[tokio::test]
async fn flags_that_would_do_nothing_are_refused() {
    // Discovery v5 bootnodes without discovery v5.
    let (ok, stderr) = node(&[
        "--discv5-bootnode",
        "enr:-IS4QHCYrYZbAKWCBRlAy5zzaDZXJBGkcnh4MHcBFZntXNFrdvJjX04jRzjzCBOonrkTfj499SZuOh8R33Ls8RRcy5wBgmlkgnY0gmlwhH8AAAGJc2VjcDI1NmsxoQPKY0yuDUmstAHYpMa2_oxVtw0RW_QAdpzBQA8yWM0xOIN1ZHCCdl8",
    ])
    .await;
    assert!(!ok);
    names(&stderr, "--discv5-port");
    // A DNS tree with discovery off.
    let (ok, stderr) = node(&[
        "--dns-tree",
        "enrtree://AM5FCQLWIZX2QFPNJAP7VUERCCRNGRHWZG3YYHIUV7BVDQ5FDPRT2@nodes.example.org",
    ])
    .await;
    assert!(!ok);
    names(&stderr, "--no-discovery");
}

#[tokio::test]
async fn version_names_the_program() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_node"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("node "), "{text}");
    assert!(text.contains(env!("CARGO_PKG_VERSION")), "{text}");
}

#[tokio::test]
async fn a_bad_verbosity_is_refused_naming_the_levels() {
    let (ok, stderr) = node(&["--verbosity", "loud"]).await;
    assert!(!ok);
    names(&stderr, "--verbosity");
    names(&stderr, "debug");
}

#[tokio::test]
async fn an_unknown_network_is_refused_naming_the_known_ones() {
    let (ok, stderr) =
        run(Command::new(env!("CARGO_BIN_EXE_node")).args(["--network", "ropsten"])).await;
    assert!(!ok);
    names(&stderr, "--network");
    names(&stderr, "mainnet, sepolia, hoodi");
}

#[tokio::test]
async fn single_node_flags_are_refused_by_the_devnet() {
    // No --network and no --genesis: the devnet, which picks its nodes'
    // addresses and peers itself.
    let (ok, stderr) = run(Command::new(env!("CARGO_BIN_EXE_node")).args([
        "--listen",
        "127.0.0.1:0",
        "--no-discovery",
    ]))
    .await;
    assert!(!ok);
    names(&stderr, "--listen, --no-discovery");
    names(&stderr, "devnet");
}

/// Reads `out` line by line until one contains every one of `wanted`;
/// returns the lines read. Bounded by the caller's timeout.
async fn read_until(
    out: &mut (impl tokio::io::AsyncBufRead + Unpin),
    wanted: &[&str],
    seen: &mut Vec<String>,
) {
    use tokio::io::AsyncBufReadExt;
    loop {
        let mut line = String::new();
        let n = out.read_line(&mut line).await.unwrap();
        assert!(n > 0, "output ended before {wanted:?}: {seen:#?}");
        let found = wanted.iter().all(|w| line.contains(w));
        seen.push(line);
        if found {
            return;
        }
    }
}

/// Starting a node whose log lines a test reads from its stdout.
trait SpawnLogging {
    fn spawn_logging(&mut self) -> tokio::process::Child;
}

impl SpawnLogging for Command {
    fn spawn_logging(&mut self) -> tokio::process::Child {
        self.env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap()
    }
}

/// Ends `child` as a service manager would (SIGTERM) and checks that it
/// stops cleanly.
async fn terminate(mut child: tokio::process::Child) {
    let pid = child.id().unwrap() as i32;
    // SAFETY: kill with a live child's pid and a valid signal.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let status = timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("stops on SIGTERM")
        .unwrap();
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn a_node_with_nobody_to_find_says_so_and_prints_its_enode_and_record() {
    let datadir = scratch_dir();
    let mut child = single_node(&datadir)
        .args(["--status-interval", "1s"])
        .args(["--rpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"])
        .spawn_logging();
    let mut out = tokio::io::BufReader::new(child.stdout.take().unwrap());
    let mut seen = Vec::new();
    timeout(Duration::from_secs(30), async {
        read_until(
            &mut out,
            &["network=chain 1337", "will find no peers"],
            &mut seen,
        )
        .await;
        read_until(&mut out, &["listening", "enode://"], &mut seen).await;
        read_until(&mut out, &["node record", "enr:"], &mut seen).await;
        read_until(&mut out, &["admin API at http://127.0.0.1:"], &mut seen).await;
        read_until(&mut out, &["peers 0 (in 0, out 0)", "head #0"], &mut seen).await;
    })
    .await
    .unwrap_or_else(|_| panic!("missing lines in {seen:#?}"));
    terminate(child).await;
    let _ = std::fs::remove_dir_all(&datadir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_command_runs_a_devnet_whose_nodes_connect() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_node"))
        .args(["--nodes", "4", "--status-interval", "1s"])
        .args(["--rpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"])
        .spawn_logging();
    let mut out = tokio::io::BufReader::new(child.stdout.take().unwrap());
    let mut seen = Vec::new();
    timeout(Duration::from_secs(60), async {
        read_until(&mut out, &["starting a devnet", "nodes=4"], &mut seen).await;
        read_until(&mut out, &["devnet bootnode", "enode://"], &mut seen).await;
        // A table row for the last node showing peers: its columns are
        // node, id, peers, ...
        loop {
            read_until(&mut out, &["…"], &mut seen).await;
            let row: Vec<&str> = seen.last().unwrap().split_whitespace().collect();
            if row[0] == "3" && row[2].parse::<u32>().unwrap() > 0 {
                break;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the devnet's nodes did not connect: {seen:#?}"));
    terminate(child).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_peer_given_by_host_name_is_resolved_and_connected() {
    let single = |datadir: &std::path::Path| {
        let mut command = single_node(datadir);
        command.args(["--no-rpc", "--no-http"]);
        command
    };
    let (dir_a, dir_b) = (scratch_dir(), scratch_dir());
    let mut a = single(&dir_a).spawn_logging();
    let mut a_out = tokio::io::BufReader::new(a.stdout.take().unwrap());
    let mut seen = Vec::new();
    timeout(
        Duration::from_secs(30),
        read_until(&mut a_out, &["listening", "enode://"], &mut seen),
    )
    .await
    .unwrap();
    let line = seen.last().unwrap();
    let enode: p2p_core::Enode = line[line.find("enode://").unwrap()..]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let by_name = format!("enode://{}@localhost:{}", enode.id, enode.tcp);
    let mut b = single(&dir_b).args(["--peer", &by_name]).spawn_logging();
    let mut b_out = tokio::io::BufReader::new(b.stdout.take().unwrap());
    let a_id = enode.id.to_string();
    timeout(
        Duration::from_secs(30),
        read_until(&mut b_out, &["peer connected", &a_id], &mut seen),
    )
    .await
    .unwrap_or_else(|_| panic!("no connection to {by_name}: {seen:#?}"));
    terminate(b).await;
    terminate(a).await;
    let _ = std::fs::remove_dir_all(&dir_a);
    let _ = std::fs::remove_dir_all(&dir_b);
}

#[tokio::test]
async fn a_chain_export_is_imported_and_served_from_its_head() {
    use p2p_protocols::eth::chain::MemoryChain;
    let datadir = scratch_dir();
    let genesis = genesis_file(&datadir);
    // 300 generated blocks of the devnet's chain, as `geth export` writes.
    let source = MemoryChain::new(examples::node::devnet::genesis().header().unwrap());
    source.grow(300, 3);
    let export = datadir.join("chain.rlp");
    source
        .export_to(std::io::BufWriter::new(
            std::fs::File::create(&export).unwrap(),
        ))
        .unwrap();
    let mut child = single_node(&datadir)
        .arg("--import")
        .arg(&export)
        .args(["--no-rpc", "--no-http"])
        .spawn_logging();
    let mut out = tokio::io::BufReader::new(child.stdout.take().unwrap());
    let mut seen = Vec::new();
    timeout(Duration::from_secs(30), async {
        read_until(
            &mut out,
            &["chain imported", "blocks=300", "head=300"],
            &mut seen,
        )
        .await;
        read_until(&mut out, &["serving the chain", "head=300"], &mut seen).await;
    })
    .await
    .unwrap_or_else(|_| panic!("missing lines in {seen:#?}"));
    terminate(child).await;

    // A truncated export is named with its flag, and the node does not start.
    let bytes = std::fs::read(&export).unwrap();
    std::fs::write(&export, &bytes[..bytes.len() - 10]).unwrap();
    let (ok, stderr) = node(&[
        "--genesis",
        genesis.to_str().unwrap(),
        "--import",
        export.to_str().unwrap(),
    ])
    .await;
    assert!(!ok);
    names(&stderr, "--import");
    names(&stderr, "block 299");
    let _ = std::fs::remove_dir_all(&datadir);
}

/// The sample configuration in the repository.
fn sample_config() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("node.toml")
}

#[test]
fn the_sample_configuration_reads_and_shows_the_defaults() {
    use p2p_core::config::Config;
    let sample = Config::from_toml_file(&sample_config()).unwrap();
    let default = Config::default();
    // It says so in its comments: every value is the default but the name.
    assert_eq!(sample.client_id, "devp2p-rs/sample");
    assert_eq!(sample.listen_addr, default.listen_addr);
    assert_eq!(sample.max_peers, default.max_peers);
    assert_eq!(sample.dial_ratio, default.dial_ratio);
    assert_eq!(sample.max_pending_peers, default.max_pending_peers);
    assert_eq!(sample.no_dial, default.no_dial);
    assert_eq!(sample.dial_timeout, default.dial_timeout);
    assert_eq!(sample.handshake_timeout, default.handshake_timeout);
    assert_eq!(sample.frame_read_timeout, default.frame_read_timeout);
    assert_eq!(sample.frame_write_timeout, default.frame_write_timeout);
    assert_eq!(sample.ping_interval, default.ping_interval);
    assert_eq!(sample.enable_msg_events, default.enable_msg_events);
    assert_eq!(sample.inbound_throttle, default.inbound_throttle);
    assert_eq!(sample.subnet_limits, default.subnet_limits);
    assert!(sample.static_nodes.is_empty() && sample.bootnodes.is_empty());
}

#[tokio::test]
async fn the_node_starts_from_the_sample_configuration() {
    let datadir = scratch_dir();
    let mut child = single_node(&datadir)
        .arg("--config")
        .arg(sample_config())
        .args(["--no-rpc", "--no-http"])
        .spawn_logging();
    let mut out = tokio::io::BufReader::new(child.stdout.take().unwrap());
    let mut seen = Vec::new();
    timeout(
        Duration::from_secs(30),
        read_until(&mut out, &["listening", "enode://"], &mut seen),
    )
    .await
    .unwrap_or_else(|_| panic!("did not start: {seen:#?}"));
    terminate(child).await;
    let _ = std::fs::remove_dir_all(&datadir);
}
