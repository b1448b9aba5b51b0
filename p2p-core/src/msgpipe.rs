//! A message pipe for testing capability plugins, as go-ethereum's
//! `p2p.MsgPipe` and `p2p.ExpectMsg`: the plugin gets a [`CapabilityConn`],
//! the test the other end, a [`PipeEnd`] that sends messages to the plugin and
//! checks what it sends back.
//!
//! Codes on both ends are the capability's own (`0..message_count`): there is
//! no session and no offset in between. Every wait is bounded
//! ([`DEFAULT_PIPE_TIMEOUT`], configurable), so a plugin that stays silent
//! fails the test instead of hanging it. The wait is measured on the Tokio
//! clock, so under a paused clock (`#[tokio::test(start_paused = true)]`) it
//! costs no real time — but it also races the plugin's own timers: a plugin
//! that answers only after a longer virtual delay needs a longer pipe timeout.
//!
//! ```
//! use std::sync::Arc;
//!
//! use p2p_core::msgpipe::{peer_info_for, run_plugin};
//! use p2p_core::protocol::{CapabilityConn, Protocol, ProtocolFuture};
//! use p2p_core::{Capability, DisconnectReason, Msg, Peer};
//!
//! /// Answers code 0 with code 1 and the same payload; any other code is a
//! /// breach of the capability.
//! struct Echo;
//!
//! impl Protocol for Echo {
//!     fn capability(&self) -> Capability {
//!         Capability::new("echo", 1)
//!     }
//!     fn message_count(&self) -> u64 {
//!         2
//!     }
//!     fn run(&self, _peer: Peer, mut conn: CapabilityConn) -> ProtocolFuture {
//!         Box::pin(async move {
//!             while let Some(msg) = conn.recv().await {
//!                 if msg.code != 0 {
//!                     return Err(DisconnectReason::SubprotocolError);
//!                 }
//!                 conn.send(Msg::new(1, msg.payload)).await?;
//!             }
//!             Ok(())
//!         })
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let mut plugin = run_plugin(Arc::new(Echo), peer_info_for(&Echo));
//! plugin.pipe.send(0, &"hello").await.unwrap();
//! plugin.pipe.expect(1, &"hello").await.unwrap();
//!
//! // A mismatch says what was expected and what came.
//! plugin.pipe.send(0, &7u64).await.unwrap();
//! let err = plugin.pipe.expect(1, &8u64).await.unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "message 0x1: expected payload 0x08 (08), got 0x07 (07)"
//! );
//!
//! // A code the capability does not define ends the peer.
//! plugin.pipe.send(1, &0u64).await.unwrap();
//! assert_eq!(
//!     plugin.expect_disconnect().await,
//!     Ok(DisconnectReason::SubprotocolError)
//! );
//! # }
//! ```

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rlp::{Encodable, Rlp};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::base::{Capability, DisconnectReason};
use crate::capability::{CapabilityTable, SharedCapability};
use crate::identity::NodeKey;
use crate::msg::Msg;
use crate::peer::{Peer, PeerInfo};
use crate::pipeline::Direction;
use crate::protocol::{CapabilityConn, Protocol};
use crate::session::DEFAULT_QUEUE;

/// How long a [`PipeEnd`] waits for the plugin unless told otherwise.
pub const DEFAULT_PIPE_TIMEOUT: Duration = Duration::from_secs(5);

/// Payloads longer than this are cut in error messages, so one wrong block
/// body does not bury the test output.
const SHOWN_PAYLOAD: usize = 512;

/// Why a [`PipeEnd`] operation did not get what the test expected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExpectError {
    /// Nothing happened within the pipe's timeout.
    #[error("nothing from the plugin within {0:?}")]
    Timeout(Duration),
    /// The plugin's end is gone (it returned or dropped its connection), or
    /// the test closed its sending side.
    #[error("the pipe is closed")]
    Closed,
    /// A message came with another code.
    #[error("expected message {expected:#x}, got {:#x} with payload {}", .got.code, show(&.got.payload))]
    WrongCode {
        /// The code expected.
        expected: u64,
        /// The message that came.
        got: Msg,
    },
    /// A message came with the code expected but another payload.
    #[error("message {code:#x}: expected payload {}, got {}", show(.expected), show(.got))]
    WrongPayload {
        /// The code of both.
        code: u64,
        /// The payload expected.
        expected: Bytes,
        /// The payload that came.
        got: Bytes,
    },
    /// A message came with the code expected but did not decode as asked.
    #[error("message {code:#x} does not decode ({error}): payload {}", show(.payload))]
    Undecodable {
        /// The code of the message.
        code: u64,
        /// Its payload.
        payload: Bytes,
        /// What the decoder said.
        error: rlp::DecoderError,
    },
    /// A message came when none was expected.
    #[error("expected no message, got {:#x} with payload {}", .0.code, show(&.0.payload))]
    Unexpected(Msg),
}

/// A payload as its RLP structure (lists in brackets, strings in hex) and its
/// raw bytes, or only the raw bytes when it is not RLP.
fn show(payload: &[u8]) -> String {
    if payload.is_empty() {
        return "(empty)".into();
    }
    let raw = hex::encode(&payload[..payload.len().min(SHOWN_PAYLOAD)]);
    let cut = if payload.len() > SHOWN_PAYLOAD {
        format!("… ({} bytes)", payload.len())
    } else {
        String::new()
    };
    let mut structure = String::new();
    let rlp = Rlp::new(payload);
    if rlp.payload_info().map(|i| i.total()) != Ok(payload.len()) {
        return format!("{raw}{cut} (not RLP)");
    }
    if write_rlp(&rlp, &mut structure).is_err() {
        return format!("{raw}{cut} (not RLP)");
    }
    if structure.len() > 2 * SHOWN_PAYLOAD {
        let mut end = 2 * SHOWN_PAYLOAD;
        while !structure.is_char_boundary(end) {
            end -= 1;
        }
        structure.truncate(end);
        structure.push('…');
    }
    format!("{structure} ({raw}{cut})")
}

fn write_rlp(rlp: &Rlp<'_>, out: &mut String) -> Result<(), rlp::DecoderError> {
    if rlp.is_list() {
        out.push('[');
        for (i, item) in rlp.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            write_rlp(&item, out)?;
        }
        out.push(']');
    } else {
        let data = rlp.data()?;
        let _ = write!(out, "0x{}", hex::encode(data));
    }
    Ok(())
}

/// A connection for a plugin under test, and the test's end of it.
///
/// The plugin runs `capability` with codes `0..message_count`; it cannot
/// send outside them, as in a session. The test's end may send any code, to
/// test how the plugin copes.
pub fn capability_pipe(capability: Capability, message_count: u64) -> (CapabilityConn, PipeEnd) {
    let (in_tx, in_rx) = mpsc::channel(DEFAULT_QUEUE);
    let (out_tx, out_rx) = mpsc::channel(DEFAULT_QUEUE);
    let shared = SharedCapability {
        capability,
        offset: 0,
        length: message_count,
    };
    let conn = CapabilityConn::new(in_rx, out_tx, &shared);
    let end = PipeEnd {
        tx: Some(in_tx),
        rx: out_rx,
        timeout: DEFAULT_PIPE_TIMEOUT,
    };
    (conn, end)
}

/// The test's end of a [`capability_pipe`]: plays the remote peer.
///
/// Dropping it ends the plugin's `recv` with `None` and fails its sends, as a
/// session ending does.
#[derive(Debug)]
pub struct PipeEnd {
    /// `None` once [`PipeEnd::close`] has been called.
    tx: Option<mpsc::Sender<Msg>>,
    rx: mpsc::Receiver<Msg>,
    timeout: Duration,
}

impl PipeEnd {
    /// How long each operation waits for the plugin.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sets how long each operation waits for the plugin.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// The pipe end with another timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sends the plugin message `code` with the RLP encoding of `value`.
    pub async fn send<T: Encodable>(&self, code: u64, value: &T) -> Result<(), ExpectError> {
        self.send_msg(Msg::encode(code, value)).await
    }

    /// Sends the plugin `msg` as it is (e.g. a malformed payload). Waits, at
    /// most the timeout, while the plugin's inbound queue is full.
    pub async fn send_msg(&self, msg: Msg) -> Result<(), ExpectError> {
        let tx = self.tx.as_ref().ok_or(ExpectError::Closed)?;
        match tokio::time::timeout(self.timeout, tx.send(msg)).await {
            Err(_) => Err(ExpectError::Timeout(self.timeout)),
            Ok(Err(_)) => Err(ExpectError::Closed),
            Ok(Ok(())) => Ok(()),
        }
    }

    /// Ends the plugin's inbound stream (its `recv` returns `None`, as when
    /// the session ends) while still letting the test read what it sends.
    pub fn close(&mut self) {
        self.tx = None;
    }

    /// The next message the plugin sends, waiting at most the timeout.
    pub async fn recv(&mut self) -> Result<Msg, ExpectError> {
        match tokio::time::timeout(self.timeout, self.rx.recv()).await {
            Err(_) => Err(ExpectError::Timeout(self.timeout)),
            Ok(None) => Err(ExpectError::Closed),
            Ok(Some(msg)) => Ok(msg),
        }
    }

    /// The next message, which must have `code`.
    pub async fn expect_code(&mut self, code: u64) -> Result<Msg, ExpectError> {
        let msg = self.recv().await?;
        if msg.code != code {
            return Err(ExpectError::WrongCode {
                expected: code,
                got: msg,
            });
        }
        Ok(msg)
    }

    /// The next message, which must be `code` with the RLP encoding of
    /// `value` as its payload (byte for byte, as go-ethereum's `ExpectMsg`).
    pub async fn expect<T: Encodable>(&mut self, code: u64, value: &T) -> Result<(), ExpectError> {
        self.expect_msg(&Msg::encode(code, value)).await
    }

    /// The next message, which must equal `expected`.
    pub async fn expect_msg(&mut self, expected: &Msg) -> Result<(), ExpectError> {
        let got = self.expect_code(expected.code).await?;
        if got.payload != expected.payload {
            return Err(ExpectError::WrongPayload {
                code: got.code,
                expected: expected.payload.clone(),
                got: got.payload,
            });
        }
        Ok(())
    }

    /// The next message, which must be `code`, decoded as `T` (for messages
    /// with parts the test cannot predict, such as a random nonce).
    pub async fn expect_decode<T: rlp::Decodable>(&mut self, code: u64) -> Result<T, ExpectError> {
        let msg = self.expect_code(code).await?;
        msg.decode().map_err(|error| ExpectError::Undecodable {
            code,
            payload: msg.payload,
            error,
        })
    }

    /// Succeeds if the plugin sends nothing for `wait` (whatever the pipe's
    /// timeout); a plugin that has closed its end counts as silent.
    pub async fn expect_silence(&mut self, wait: Duration) -> Result<(), ExpectError> {
        match tokio::time::timeout(wait, self.rx.recv()).await {
            Err(_) | Ok(None) => Ok(()),
            Ok(Some(msg)) => Err(ExpectError::Unexpected(msg)),
        }
    }

    /// Waits, at most the timeout, for the plugin to close its end (return or
    /// drop its connection) without sending anything more.
    pub async fn expect_closed(&mut self) -> Result<(), ExpectError> {
        match tokio::time::timeout(self.timeout, self.rx.recv()).await {
            Err(_) => Err(ExpectError::Timeout(self.timeout)),
            Ok(None) => Ok(()),
            Ok(Some(msg)) => Err(ExpectError::Unexpected(msg)),
        }
    }
}

/// The [`PeerInfo`] of a made-up inbound peer that runs `protocol`'s
/// capability (at the first capability offset, `0x10`) and nothing else.
pub fn peer_info_for(protocol: &dyn Protocol) -> PeerInfo {
    let capability = protocol.capability();
    PeerInfo {
        id: NodeKey::random().id(),
        remote_addr: SocketAddr::from(([127, 0, 0, 1], 30303)),
        direction: Direction::Inbound,
        client_id: "msgpipe-test-peer".into(),
        capabilities: vec![capability.clone()],
        shared: CapabilityTable::new(vec![SharedCapability {
            capability,
            offset: crate::base::BASE_PROTOCOL_LENGTH,
            length: protocol.message_count(),
        }]),
        listen_port: 0,
        trusted: false,
    }
}

/// A plugin running against a pipe; see [`run_plugin`].
#[derive(Debug)]
pub struct RunningPlugin {
    /// The test's end of the plugin's connection.
    pub pipe: PipeEnd,
    /// The reasons the plugin asked to disconnect its peer with
    /// ([`Peer::disconnect`]). As in a session, a request made while one is
    /// still unread is dropped.
    pub disconnects: mpsc::Receiver<DisconnectReason>,
    task: Option<JoinHandle<Result<(), DisconnectReason>>>,
    /// What `run` returned, once it has.
    outcome: Option<Result<(), DisconnectReason>>,
}

/// Runs `protocol` with a peer described by `info` (see [`peer_info_for`])
/// over a fresh [`capability_pipe`], in a task of its own.
///
/// Must be called within a Tokio runtime.
pub fn run_plugin(protocol: Arc<dyn Protocol>, info: impl Into<Arc<PeerInfo>>) -> RunningPlugin {
    let (conn, pipe) = capability_pipe(protocol.capability(), protocol.message_count());
    // Capacity one, as in a session: the first request wins.
    let (disconnect_tx, disconnects) = mpsc::channel(1);
    let peer = Peer::new(info.into(), disconnect_tx);
    let task = tokio::spawn(protocol.run(peer, conn));
    RunningPlugin {
        pipe,
        disconnects,
        task: Some(task),
        outcome: None,
    }
}

impl RunningPlugin {
    /// What the plugin's `run` returned, waiting at most the pipe's timeout.
    /// A panic in the plugin is passed on to the test.
    pub async fn outcome(&mut self) -> Result<Result<(), DisconnectReason>, ExpectError> {
        if let Some(task) = &mut self.task {
            let joined = tokio::time::timeout(self.pipe.timeout, task)
                .await
                .map_err(|_| ExpectError::Timeout(self.pipe.timeout))?;
            self.finished(joined);
        }
        Ok(self.outcome.unwrap_or(Ok(())))
    }

    /// The reason the session would disconnect the peer with, waiting at most
    /// the pipe's timeout for the plugin to either request a disconnect or
    /// return (an `Ok` return gives [`DisconnectReason::ClientQuitting`], as
    /// the session does).
    pub async fn expect_disconnect(&mut self) -> Result<DisconnectReason, ExpectError> {
        if let Ok(reason) = self.disconnects.try_recv() {
            return Ok(reason);
        }
        if let Some(task) = &mut self.task {
            let wait = self.pipe.timeout;
            let first = tokio::time::timeout(wait, async {
                tokio::select! {
                    Some(reason) = self.disconnects.recv() => Err(reason),
                    joined = task => Ok(joined),
                }
            })
            .await
            .map_err(|_| ExpectError::Timeout(wait))?;
            match first {
                Err(reason) => return Ok(reason),
                Ok(joined) => self.finished(joined),
            }
        }
        Ok(match self.outcome.unwrap_or(Ok(())) {
            Ok(()) => DisconnectReason::ClientQuitting,
            Err(reason) => reason,
        })
    }

    /// Whether the plugin's `run` has returned.
    pub fn is_finished(&self) -> bool {
        self.task.as_ref().is_none_or(|task| task.is_finished())
    }

    /// Stops the plugin's task.
    pub fn abort(&self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }

    fn finished(&mut self, joined: Result<Result<(), DisconnectReason>, tokio::task::JoinError>) {
        self.task = None;
        match joined {
            Ok(outcome) => self.outcome = Some(outcome),
            Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
            // Aborted: it never returned a reason.
            Err(_) => self.outcome = Some(Ok(())),
        }
    }
}

#[cfg(test)]
mod tests {
    use rlp::RlpStream;

    use super::*;
    use crate::base::Capability;
    use crate::protocol::ProtocolFuture;

    /// Code 0: answered with code 1 and the same payload. Code 2: asks to
    /// disconnect the peer with the reason in the payload and goes on. Code 3:
    /// returns with the reason in the payload. Code 4: returns `Ok`.
    struct Scripted;

    impl Protocol for Scripted {
        fn capability(&self) -> Capability {
            Capability::new("script", 1)
        }

        fn message_count(&self) -> u64 {
            5
        }

        fn run(&self, peer: Peer, mut conn: CapabilityConn) -> ProtocolFuture {
            Box::pin(async move {
                while let Some(msg) = conn.recv().await {
                    match msg.code {
                        0 => conn.send(Msg::new(1, msg.payload)).await?,
                        2 => peer.disconnect(DisconnectReason::from_code(msg.payload[0])),
                        3 => return Err(DisconnectReason::from_code(msg.payload[0])),
                        4 => return Ok(()),
                        _ => {}
                    }
                }
                Ok(())
            })
        }
    }

    /// A list of integers, as RLP lists are not `Encodable` out of the box.
    #[derive(Debug, PartialEq)]
    struct Nums(Vec<u64>);

    impl Encodable for Nums {
        fn rlp_append(&self, s: &mut RlpStream) {
            s.append_list::<u64, u64>(&self.0);
        }
    }

    impl rlp::Decodable for Nums {
        fn decode(rlp: &Rlp<'_>) -> Result<Self, rlp::DecoderError> {
            rlp.as_list().map(Nums)
        }
    }

    fn start() -> RunningPlugin {
        run_plugin(Arc::new(Scripted), peer_info_for(&Scripted))
    }

    #[tokio::test]
    async fn expect_matches_code_and_payload() {
        let mut plugin = start();
        plugin.pipe.send(0, &Nums(vec![1, 2, 3])).await.unwrap();
        plugin.pipe.expect(1, &Nums(vec![1, 2, 3])).await.unwrap();
        plugin.pipe.send(0, &42u64).await.unwrap();
        assert_eq!(plugin.pipe.expect_decode::<u64>(1).await, Ok(42));
    }

    #[tokio::test]
    async fn mismatches_show_both_sides() {
        let mut plugin = start();
        plugin.pipe.send(0, &Nums(vec![1, 2])).await.unwrap();
        let err = plugin.pipe.expect(1, &Nums(vec![1, 3])).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "message 0x1: expected payload [0x01, 0x03] (c20103), got [0x01, 0x02] (c20102)"
        );

        plugin.pipe.send(0, &"ab").await.unwrap();
        let err = plugin.pipe.expect(0, &"ab").await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "expected message 0x0, got 0x1 with payload 0x6162 (826162)"
        );

        plugin.pipe.send(0, &Nums(vec![1])).await.unwrap();
        let err = plugin.pipe.expect_decode::<u64>(1).await.unwrap_err();
        assert!(matches!(err, ExpectError::Undecodable { code: 1, .. }));
        assert!(err.to_string().ends_with("payload [0x01] (c101)"), "{err}");

        // Bytes that are not RLP at all are shown raw.
        assert_eq!(show(&[0xc5, 0x01]), "c501 (not RLP)");
        assert_eq!(show(&[]), "(empty)");
    }

    #[tokio::test]
    async fn long_payloads_are_cut_in_errors() {
        let mut stream = RlpStream::new_list(1000);
        for i in 0..1000u64 {
            stream.append(&i);
        }
        let text = show(&stream.out());
        assert!(text.len() < 4 * SHOWN_PAYLOAD + 100, "{}", text.len());
        assert!(text.contains("… ("), "{text}");
    }

    #[tokio::test(start_paused = true)]
    async fn silence_times_out_instead_of_hanging() {
        let mut plugin = start();
        plugin.pipe.set_timeout(Duration::from_secs(2));
        let before = tokio::time::Instant::now();
        assert_eq!(
            plugin.pipe.recv().await,
            Err(ExpectError::Timeout(Duration::from_secs(2)))
        );
        assert_eq!(before.elapsed(), Duration::from_secs(2));
        plugin
            .pipe
            .expect_silence(Duration::from_secs(1))
            .await
            .unwrap();
        plugin.pipe.send(0, &1u64).await.unwrap();
        assert!(matches!(
            plugin.pipe.expect_silence(Duration::from_secs(1)).await,
            Err(ExpectError::Unexpected(msg)) if msg.code == 1
        ));
    }

    #[tokio::test]
    async fn closing_the_pipe_ends_the_plugins_recv() {
        let mut plugin = start();
        plugin.pipe.close();
        assert_eq!(plugin.pipe.send(0, &1u64).await, Err(ExpectError::Closed));
        plugin.pipe.expect_closed().await.unwrap();
        assert_eq!(plugin.outcome().await, Ok(Ok(())));
        assert!(plugin.is_finished());
    }

    #[tokio::test]
    async fn dropping_the_pipe_end_ends_the_plugin() {
        let (conn, end) = capability_pipe(Capability::new("test", 1), 2);
        let (tx, rx) = mpsc::channel(1);
        let peer = Peer::new(Arc::new(peer_info_for(&Scripted)), tx);
        let task = tokio::spawn(Scripted.run(peer, conn));
        drop(end);
        assert_eq!(task.await.unwrap(), Ok(()));
        drop(rx);
    }

    #[tokio::test]
    async fn plugin_sends_stay_within_its_codes() {
        let (conn, mut end) = capability_pipe(Capability::new("test", 1), 2);
        assert!(conn.send(Msg::new(2, vec![])).await.is_err());
        conn.send(Msg::new(1, vec![])).await.unwrap();
        assert_eq!(end.recv().await, Ok(Msg::new(1, vec![])));
    }

    #[tokio::test]
    async fn disconnect_requests_and_returns_are_seen() {
        let mut plugin = start();
        plugin.pipe.send_msg(Msg::new(2, vec![0x04])).await.unwrap();
        assert_eq!(
            plugin.expect_disconnect().await,
            Ok(DisconnectReason::TooManyPeers)
        );
        // The plugin went on; it returns with a reason of its own.
        plugin.pipe.send_msg(Msg::new(3, vec![0x10])).await.unwrap();
        assert_eq!(
            plugin.expect_disconnect().await,
            Ok(DisconnectReason::SubprotocolError)
        );
        assert_eq!(
            plugin.outcome().await,
            Ok(Err(DisconnectReason::SubprotocolError))
        );

        // Returning Ok ends the session as ClientQuitting.
        let mut plugin = start();
        plugin.pipe.send_msg(Msg::new(4, vec![])).await.unwrap();
        assert_eq!(
            plugin.expect_disconnect().await,
            Ok(DisconnectReason::ClientQuitting)
        );
    }

    #[tokio::test]
    async fn a_disconnect_request_is_visible_on_the_receiver() {
        let mut plugin = start();
        plugin.pipe.send_msg(Msg::new(2, vec![0x03])).await.unwrap();
        let reason = tokio::time::timeout(DEFAULT_PIPE_TIMEOUT, plugin.disconnects.recv())
            .await
            .unwrap();
        assert_eq!(reason, Some(DisconnectReason::UselessPeer));
    }

    #[tokio::test]
    #[should_panic(expected = "plugin bug")]
    async fn a_panicking_plugin_fails_the_test() {
        struct Panics;
        impl Protocol for Panics {
            fn capability(&self) -> Capability {
                Capability::new("panics", 1)
            }
            fn message_count(&self) -> u64 {
                1
            }
            fn run(&self, _: Peer, _: CapabilityConn) -> ProtocolFuture {
                Box::pin(async { panic!("plugin bug") })
            }
        }
        let mut plugin = run_plugin(Arc::new(Panics), peer_info_for(&Panics));
        let _ = plugin.outcome().await;
    }
}
