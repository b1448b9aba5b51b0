//! The example programs of `examples/examples`, run: each does what its top
//! comment says, and the README's server is the one in `minimal_server`.

#[allow(dead_code)]
#[path = "../examples/custom_layer.rs"]
mod custom_layer;
#[allow(dead_code)]
#[path = "../examples/custom_stack.rs"]
mod custom_stack;
#[allow(dead_code)]
#[path = "../examples/minimal_server.rs"]
mod minimal_server;

use p2p_core::pipeline::InspectError;
use p2p_core::{DisconnectReason, Side, Stage};

#[tokio::test]
async fn custom_layer_logs_the_connection_and_ends_the_overspending_peer() {
    let outcome = custom_layer::run().await.unwrap();
    // One inbound connection, logged by the setup-stack layer.
    assert_eq!(outcome.log.len(), 1, "{:?}", outcome.log);
    assert!(
        outcome.log[0].contains("Inbound: authenticated"),
        "{:?}",
        outcome.log
    );
    // Three lines allowed: the fourth ends the session from our side.
    assert_eq!(outcome.heard, 3);
    let end = outcome.end;
    assert_eq!(
        (end.stage, end.side, end.reason),
        (
            Stage::Session,
            Side::Local,
            Some(DisconnectReason::SubprotocolError)
        )
    );
    let error = end.error.expect("the budget's refusal");
    assert!(
        matches!(
            error.find::<InspectError<p2p_rlpx::RlpxError>>(),
            Some(InspectError::Refused { .. })
        ),
        "{error}"
    );
}

#[tokio::test]
async fn custom_stack_admits_the_friend_and_refuses_the_stranger() {
    let outcome = custom_stack::run().await.unwrap();
    assert_eq!(outcome.admitted, vec!["friend/0.1".to_owned()]);
    // The stranger heard the Hello stage's refusal.
    let end = outcome.stranger_end;
    assert_eq!(
        (end.side, end.reason),
        (Side::Remote, Some(DisconnectReason::UselessPeer))
    );
}

#[tokio::test]
async fn the_readme_server_runs_and_is_the_readme_text() {
    let other = minimal_server::other().await.unwrap();
    let server = minimal_server::start_and_join(&other).await.unwrap();
    assert_eq!(server.peer_count().await, 1);
    server.stop().await;
    other.stop().await;

    let source = include_str!("../examples/minimal_server.rs");
    let start = source.find("// README:start\n").unwrap() + "// README:start\n".len();
    let end = source.find("    // README:end").unwrap();
    let snippet: String = source[start..end]
        .lines()
        .map(|line| format!("{}\n", line.strip_prefix("    ").unwrap_or(line)))
        .collect();
    let readme = include_str!("../../README.md");
    assert!(
        readme.contains(&format!("```rust,ignore\n{snippet}```")),
        "README's server differs from examples/examples/minimal_server.rs:\n{snippet}"
    );
}

/// The shell lines of the README's `sh` blocks, comments cut; but for the
/// devp2p tool's examples, which `tests/devp2p_tool.rs` runs whole.
fn readme_commands() -> Vec<String> {
    let full = include_str!("../../README.md");
    let (before, rest) = full
        .split_once("<!-- devp2p tool examples: begin -->")
        .expect("the README marks its devp2p tool examples");
    let (_, after) = rest
        .split_once("<!-- devp2p tool examples: end -->")
        .expect("the devp2p tool examples end");
    let readme = format!("{before}{after}");
    let mut commands = Vec::new();
    let mut in_sh = false;
    for line in readme.lines() {
        match line.trim() {
            "```sh" => in_sh = true,
            "```" => in_sh = false,
            text if in_sh && !text.is_empty() => {
                commands.push(text.split(" #").next().unwrap().trim().to_owned())
            }
            _ => {}
        }
    }
    commands
}

/// Every command the README shows names what exists: its scripts are in the
/// repository and executable, its bench targets and binaries are declared,
/// its fuzz targets have sources, and the load program takes every flag the
/// README gives it. (The test command and the node's run command are run by
/// `.ci/run` and `tests/node_cli.rs`; the benches, load runs and long fuzz
/// runs take minutes to hours and are run by hand.) A new kind of command
/// fails here until it is checked.
#[test]
fn every_readme_command_names_what_exists() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let load_help = std::process::Command::new(env!("CARGO_BIN_EXE_load"))
        .arg("--help")
        .output()
        .unwrap();
    let load_help = String::from_utf8_lossy(&load_help.stdout).into_owned();
    let commands = readme_commands();
    assert!(commands.len() >= 10, "{commands:#?}");
    for command in &commands {
        let words: Vec<&str> = command.split_whitespace().collect();
        let after = |flag: &str| {
            let at = words.iter().position(|w| *w == flag);
            at.and_then(|i| words.get(i + 1)).copied()
        };
        if let Some(script) = words.first().filter(|w| w.starts_with("./")) {
            let path = root.join(script);
            let mode = std::fs::metadata(&path)
                .unwrap_or_else(|_| panic!("{command}: no {script}"))
                .permissions();
            assert!(
                std::os::unix::fs::PermissionsExt::mode(&mode) & 0o111 != 0,
                "{script} is not executable"
            );
            if *script == "./scripts/load.sh" {
                for flag in words.iter().filter(|w| w.starts_with("--")) {
                    assert!(load_help.contains(flag), "load takes no {flag}");
                }
            }
        } else if command.starts_with("cargo bench") {
            let package = after("-p").unwrap();
            let bench = after("--bench").unwrap();
            let manifest = match package {
                "examples" => root.join("examples/Cargo.toml"),
                crate_dir => root.join(crate_dir).join("Cargo.toml"),
            };
            let manifest = std::fs::read_to_string(&manifest).unwrap();
            assert!(
                manifest.contains(&format!("[[bench]]\nname = \"{bench}\"")),
                "{command}: no bench {bench} in {package}"
            );
        } else if command.starts_with("cargo run") {
            let bin = after("--bin").unwrap();
            assert!(
                root.join(format!("examples/src/bin/{bin}.rs")).exists()
                    || root
                        .join(format!("examples/src/bin/{bin}/main.rs"))
                        .exists(),
                "{command}: no binary {bin}"
            );
        } else if command.starts_with("cd fuzz && cargo +nightly fuzz run") {
            let target = after("run").unwrap();
            assert!(
                root.join(format!("fuzz/fuzz_targets/{target}.rs")).exists(),
                "{command}: no fuzz target {target}"
            );
        } else {
            panic!("a README command of a kind this test does not check: {command}");
        }
    }
}
