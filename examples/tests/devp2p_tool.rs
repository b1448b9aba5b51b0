//! The `devp2p` tool beside go-ethereum's: the same key files give the same
//! node ids, URLs and records; the same records dump to the same text; bad
//! input is named in one line with a non-zero exit.

use std::net::Ipv4Addr;
use std::path::Path;

use p2p_core::record::{ForkId, LocalRecord};
use p2p_core::{record::Endpoint, NodeKey};
use tokio::process::Command;

mod common;
use common::geth::{go_ethereum, our_node, run, stdout_of, GoEthereum, ScratchDir, WAIT};

fn ours() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_devp2p"));
    cmd.kill_on_drop(true);
    cmd
}

async fn both(ge: &GoEthereum, args: &[&str]) -> (String, String) {
    let mut theirs = ge.tool("devp2p");
    theirs.args(args);
    let mut mine = ours();
    mine.args(args);
    (stdout_of(mine).await, stdout_of(theirs).await)
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[tokio::test]
async fn key_files_name_the_same_node_in_both_tools() {
    let ge = go_ethereum();
    let dir = ScratchDir::new("tool-keys");
    // One key file from each tool; each tool reads both.
    let mine = dir.0.join("ours.key");
    let theirs = dir.0.join("geth.key");
    stdout_of({
        let mut c = ours();
        c.args(["key", "generate", path(&mine)]);
        c
    })
    .await;
    stdout_of({
        let mut c = ge.tool("devp2p");
        c.args(["key", "generate", path(&theirs)]);
        c
    })
    .await;
    for key in [&mine, &theirs] {
        let key = path(key);
        for args in [
            vec!["key", "to-id", key],
            vec!["key", "to-enode", key],
            vec!["key", "to-enode", "--ip", "::1", "--tcp", "30304", key],
            vec!["key", "to-enr", key],
            vec!["key", "to-enr", "--ip", "10.1.2.3", "--udp", "0", key],
            vec!["key", "to-enr", "--ip", "", key],
        ] {
            let (mine, theirs) = both(&ge, &args).await;
            assert_eq!(mine, theirs, "{args:?}");
        }
    }
}

#[tokio::test]
async fn records_dump_to_the_same_text_in_both_tools() {
    let ge = go_ethereum();
    let dir = ScratchDir::new("tool-enrdump");
    let key = dir.0.join("geth.key");
    stdout_of({
        let mut c = ge.tool("devp2p");
        c.args(["key", "generate", path(&key)]);
        c
    })
    .await;
    // A record go-ethereum made, one of ours with an eth entry and a QUIC
    // port, and EIP-778's example.
    let geth_record = stdout_of({
        let mut c = ge.tool("devp2p");
        c.args(["key", "to-enr", "--ip", "127.0.0.1", path(&key)]);
        c
    })
    .await;
    let endpoint = Endpoint {
        ip: Some(Ipv4Addr::LOCALHOST.into()),
        tcp: Some(30303),
        udp: Some(30301),
        quic: Some(30302),
    };
    let mut local = LocalRecord::new(NodeKey::random(), endpoint, 41).unwrap();
    local
        .set_fork_id(ForkId {
            hash: [0xfc, 0x64, 0xec, 0x04],
            next: 1_150_000,
        })
        .unwrap();
    let eip778 = "enr:-IS4QHCYrYZbAKWCBRlAy5zzaDZXJBGkcnh4MHcBFZntXNFrdvJjX04jRzjzCBOonrkTfj499SZuOh8R33Ls8RRcy5wBgmlkgnY0gmlwhH8AAAGJc2VjcDI1NmsxoQPKY0yuDUmstAHYpMa2_oxVtw0RW_QAdpzBQA8yWM0xOIN1ZHCCdl8";
    for record in [
        geth_record.trim().to_owned(),
        local.record().to_base64(),
        eip778.to_owned(),
    ] {
        let (mine, theirs) = both(&ge, &["enrdump", &record]).await;
        assert_eq!(mine, theirs, "{record}");
        assert!(mine.starts_with("Node ID: "), "{mine}");
    }
    // A record from a file, as go-ethereum's --file reads it.
    let file = dir.0.join("record.txt");
    std::fs::write(&file, format!("{eip778}\n")).unwrap();
    let (mine, theirs) = both(&ge, &["enrdump", "--file", path(&file)]).await;
    assert_eq!(mine, theirs);
}

/// Bad input gets a message naming it and exit code 1, never a panic.
#[tokio::test]
async fn bad_input_is_named_with_a_non_zero_exit() {
    let dir = ScratchDir::new("tool-errors");
    let bad_key = dir.0.join("bad.key");
    std::fs::write(&bad_key, "not a key").unwrap();
    let existing = dir.0.join("existing.key");
    std::fs::write(&existing, "").unwrap();
    let missing = dir.0.join("missing.key");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["key", "to-id", path(&bad_key)], "bad.key"),
        (vec!["key", "to-id", path(&missing)], "missing.key"),
        (vec!["key", "generate", path(&existing)], "exists"),
        (
            vec!["key", "to-enr", "--ip", "300.1.1.1", path(&bad_key)],
            "bad.key",
        ),
        (
            vec!["enrdump", "enr:!!!"],
            "neither an enode:// URL nor a node record",
        ),
        (vec!["enrdump", "0xc180"], "INVALID"),
        (
            vec!["rlpx", "ping", "enode://1234@127.0.0.1:1"],
            "not a valid enode URL",
        ),
        (vec!["dns", "to-txt", path(&dir.0)], "nodes.json"),
        (vec!["dns", "sync", "enrtree://nothing"], "enrtree"),
    ];
    for (args, expected) in cases {
        let mut cmd = ours();
        cmd.args(&args);
        let (ok, out) = run(cmd, WAIT).await;
        assert!(!ok, "{args:?} succeeded:\n{out}");
        assert!(out.contains(expected), "{args:?}: {out}");
        assert!(!out.contains("panicked"), "{args:?}: {out}");
    }
}

/// The README's examples of the tool, run as the shell script they are,
/// with our `devp2p` first on the path and `NODE` naming a running node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_examples_run() {
    let ge = go_ethereum();
    let node = our_node(&ge, false).await;
    let discv4 = common::discv4_node(Vec::new()).await;
    let discv5 = p2p_discovery::v5::Discv5Service::start(
        &p2p_core::NodeKey::random(),
        p2p_discovery::v5::Discv5Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let readme = include_str!("../../README.md");
    let block = readme
        .split("<!-- devp2p tool examples: begin -->")
        .nth(1)
        .and_then(|rest| rest.split("<!-- devp2p tool examples: end -->").next())
        .expect("the README marks its devp2p tool examples");
    let script = block
        .lines()
        .filter(|line| !line.starts_with("```"))
        .collect::<Vec<_>>()
        .join("\n");
    let dir = ScratchDir::new("tool-readme");
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_devp2p")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new("sh");
    cmd.kill_on_drop(true)
        .args(["-e", "-c", &script])
        .current_dir(&dir.0)
        .env("PATH", path)
        .env("NODE", node.enode().to_string())
        .env(
            "DISCV4_NODE",
            format!("enode://{}@{}", discv4.local_id(), discv4.local_addr()),
        )
        .env("DISCV5_NODE", discv5.local_enr().to_base64());
    let (ok, out) = run(cmd, WAIT).await;
    assert!(ok, "the README's examples:\n{out}");
    assert!(out.contains("Node ID: "), "{out}");
    assert!(out.contains("client: devp2p-rs/"), "{out}");
    assert!(out.contains("enrtree-root:v1"), "{out}");
    assert!(out.contains("1 nodes and 0 links"), "{out}");
    let synced = examples::nodeset::NodeSet::load(&dir.0.join("synced/nodes.json")).unwrap();
    assert_eq!(synced.len(), 1);
    assert!(out.contains("node responded to ping"), "{out}");
    let local = examples::nodeset::NodeSet::load(&dir.0.join("local.json")).unwrap();
    assert_eq!(local.len(), 1, "the v4 node, crawled and kept");
    let crawled5 = examples::nodeset::NodeSet::load(&dir.0.join("crawled5.json")).unwrap();
    assert_eq!(crawled5.len(), 1, "the v5 node");
    discv4.shutdown().await;
    discv5.shutdown();
}
