//! The node program's command line as a user meets it: a bad flag or file is
//! named in one readable line and the program exits with failure, before it
//! opens a socket.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;
use tokio::time::timeout;

/// Runs the node with `args` in a fresh data directory; returns whether it
/// succeeded and what it wrote to stderr.
async fn node(args: &[&str]) -> (bool, String) {
    let datadir = std::env::temp_dir().join(format!("node-cli-{:016x}", rand::random::<u64>()));
    let child = Command::new(env!("CARGO_BIN_EXE_node"))
        .arg("--datadir")
        .arg(&datadir)
        .args(["--listen", "127.0.0.1:0", "--no-discovery"])
        .args(args)
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
    let _ = std::fs::remove_dir_all(&datadir);
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
