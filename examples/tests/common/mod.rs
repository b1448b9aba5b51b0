//! Shared by the interop tests: drives `interop/ethereumjs/rlpx-peer.mjs`, an
//! RLPx peer built on `@ethereumjs/devp2p`, and `dpt-peer.mjs`, its discovery
//! v4 node, over stdin (commands) and stdout (JSON events, one per line). See
//! the scripts' headers for both.
//!
//! Needs Node.js and `npm ci --prefix interop/ethereumjs`.

// Each test binary that includes this module uses a different part of it.
#![allow(dead_code)]

pub mod geth;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use p2p_core::NodeKey;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::time::timeout;

/// Every wait is bounded by this; the peer process also exits by itself after 60 s.
pub const WAIT: Duration = Duration::from_secs(15);

fn harness_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../interop/ethereumjs")
}

/// A running ethereumjs peer; killed when dropped.
pub struct JsPeer {
    child: Child,
    stdin: ChildStdin,
    events: Lines<BufReader<ChildStdout>>,
}

impl JsPeer {
    /// A peer with `key` offering the `demo/1` capability, listening on a free
    /// loopback port; returns it with that port, having checked it reports
    /// the identity of `key`.
    pub async fn listening(key: &NodeKey) -> (Self, u16) {
        let mut js = Self::with_key(key, &["--listen", "0"]);
        let listening = js.expect("listening").await;
        assert_eq!(listening["id"], key.id().to_string());
        let port = listening["port"].as_u64().expect("a port") as u16;
        (js, port)
    }

    /// A peer with `key` offering `demo/1` that dials `enode`; returns once it
    /// has started, having checked it reports the identity of `key`.
    pub async fn dialing(key: &NodeKey, enode: &str) -> Self {
        let mut js = Self::with_key(key, &["--dial", enode]);
        assert_eq!(js.expect("listening").await["id"], key.id().to_string());
        js
    }

    fn with_key(key: &NodeKey, args: &[&str]) -> Self {
        let secret = hex::encode(key.secret_bytes());
        let mut all = vec!["--key", secret.as_str(), "--cap", "demo/1"];
        all.extend_from_slice(args);
        Self::spawn(&all)
    }

    pub fn spawn(args: &[&str]) -> Self {
        Self::spawn_script("rlpx-peer.mjs", args)
    }

    /// Runs another script of the harness directory with `args`; it must speak
    /// the same JSON-lines protocol (events out, commands in).
    pub fn spawn_script(script: &str, args: &[&str]) -> Self {
        let dir = harness_dir();
        assert!(
            dir.join("node_modules/@ethereumjs/devp2p").exists(),
            "run `npm ci --prefix interop/ethereumjs` first"
        );
        let mut child = Command::new("node")
            .arg(dir.join(script))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs");
        let stdin = child.stdin.take().unwrap();
        let events = BufReader::new(child.stdout.take().unwrap()).lines();
        JsPeer {
            child,
            stdin,
            events,
        }
    }

    /// The next event named `name`, skipping others; an `error` or an
    /// unexpected `disconnect` on the way fails the test.
    pub async fn expect(&mut self, name: &str) -> Value {
        loop {
            let line = timeout(WAIT, self.events.next_line())
                .await
                .unwrap_or_else(|_| panic!("no `{name}` event in time"))
                .unwrap()
                .unwrap_or_else(|| panic!("peer exited before `{name}`"));
            let event: Value = serde_json::from_str(&line).unwrap();
            if event["event"] == name {
                return event;
            }
            assert_ne!(event["event"], "error", "ethereumjs reported: {event}");
            assert_ne!(event["event"], "disconnect", "unexpected: {event}");
        }
    }

    /// The next event, whatever it is.
    pub async fn next_event(&mut self) -> Value {
        let line = timeout(WAIT, self.events.next_line())
            .await
            .expect("an event in time")
            .unwrap()
            .expect("peer still running");
        serde_json::from_str(&line).unwrap()
    }

    /// The next message received on the demo capability: its code (relative
    /// to the capability) and payload.
    pub async fn expect_message(&mut self) -> (u64, Vec<u8>) {
        let event = self.expect("message").await;
        assert_eq!(event["cap"], "demo", "{event}");
        let code = event["code"].as_u64().expect("numeric code");
        let payload = hex::decode(event["payload"].as_str().expect("hex payload")).unwrap();
        (code, payload)
    }

    pub async fn command(&mut self, line: &str) {
        self.stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
        self.stdin.flush().await.unwrap();
    }

    pub async fn quit(mut self) {
        self.command("quit").await;
        let status = timeout(WAIT, self.child.wait()).await.unwrap().unwrap();
        assert!(status.success(), "{status}");
    }
}

/// A discovery v4 node of ours on a free loopback port, with a random key.
pub async fn discv4_node(
    bootnodes: Vec<p2p_discovery::v4::wire::NodeRecordV4>,
) -> p2p_discovery::v4::service::Discv4 {
    p2p_discovery::v4::service::Discv4::bind(
        NodeKey::random(),
        std::net::SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, 0)),
        p2p_discovery::v4::service::Discv4Config {
            bootnodes,
            ..Default::default()
        },
    )
    .await
    .unwrap()
}

/// Waits (at most `limit`) until `node`'s table holds `id`.
pub async fn until_in_table(
    node: &p2p_discovery::v4::service::Discv4,
    id: p2p_core::PeerId,
    limit: Duration,
) {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let closest = node.closest(id.node_id(), 1).await.unwrap();
        if closest.first().is_some_and(|n| n.id == id) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{id} never entered the table"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
