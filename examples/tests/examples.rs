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
