//! The `pingpong/1` capability: each side pings the other every so often and
//! measures how long the answer takes.
//!
//! It is also the example of a capability plugin living in a crate of its own
//! that depends only on `p2p-core`.
//!
//! | code | message | payload         |
//! |------|---------|-----------------|
//! | 0    | Ping    | `[nonce: u64]`  |
//! | 1    | Pong    | `[nonce: u64]`  |
//!
//! A Ping is answered with a Pong carrying its nonce. Payloads are RLP lists so
//! that later versions can add fields; extra fields are ignored (as EIP-8 asks).
//!
//! Round-trip times are published in a [`watch`] channel holding the latest
//! time of every connected peer ([`PingPong::subscribe`]), and optionally to a
//! callback called with every measurement ([`PingPong::on_rtt`]).
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! use p2p_core::Protocol;
//! use ping_pong_plugin::{PingPong, PingPongConfig};
//!
//! let config = PingPongConfig {
//!     interval: Duration::from_secs(5),
//!     ..PingPongConfig::default()
//! };
//! let plugin = PingPong::new(config).on_rtt(|peer, rtt| println!("{peer:?}: {rtt:?}"));
//! let rtts = plugin.subscribe();
//! // Handed to the server with the other capabilities.
//! let protocols: Vec<Arc<dyn Protocol>> = vec![Arc::new(plugin)];
//! assert!(rtts.borrow().is_empty());
//! # drop(protocols);
//! ```
//!
//! # Misbehaving peers
//!
//! A message that does not decode, or a code the capability does not define,
//! ends the peer with [`DisconnectReason::SubprotocolError`], not
//! `ProtocolError`. That is what go-ethereum sends when a capability handler
//! fails on a bad message (its `eth` handler's decode errors become
//! `DiscSubprotocolError`), and it keeps `ProtocolError` for breaches of the
//! base protocol, so the remote can tell which layer it got wrong. A Ping left
//! unanswered for [`PingPongConfig::pong_timeout`] ends the peer with
//! [`DisconnectReason::PingTimeout`], the reason the base protocol uses for the
//! same failure. A Pong that answers no Ping of ours is ignored: it may be a
//! late answer, and it costs nothing.
#![warn(missing_docs)]

use std::collections::hash_map::RandomState;
use std::collections::BTreeMap;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Duration;

use p2p_core::protocol::{CapabilityConn, Protocol, ProtocolFuture};
use p2p_core::{Capability, DisconnectReason, Msg, Peer, PeerId};
use rlp::{DecoderError, Rlp, RlpStream};
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};

/// The capability's name.
pub const NAME: &str = "pingpong";
/// The capability's version.
pub const VERSION: u32 = 1;
/// How many message codes the capability uses.
pub const MESSAGE_COUNT: u64 = 2;
/// Code of the Ping message.
pub const PING: u64 = 0;
/// Code of the Pong message.
pub const PONG: u64 = 1;

/// Asks the peer to answer with a [`Pong`] carrying the same nonce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ping {
    /// Chosen by the sender; echoed in the Pong.
    pub nonce: u64,
}

/// The answer to a [`Ping`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pong {
    /// The nonce of the Ping answered.
    pub nonce: u64,
}

/// Both messages are a list whose first element is the nonce.
fn append_nonce(s: &mut RlpStream, nonce: u64) {
    s.begin_list(1);
    s.append(&nonce);
}

fn decode_nonce(rlp: &Rlp<'_>) -> Result<u64, DecoderError> {
    if !rlp.is_list() {
        return Err(DecoderError::RlpExpectedToBeList);
    }
    // Extra elements are allowed for forward compatibility (EIP-8).
    rlp.val_at(0)
}

impl rlp::Encodable for Ping {
    fn rlp_append(&self, s: &mut RlpStream) {
        append_nonce(s, self.nonce);
    }
}

impl rlp::Decodable for Ping {
    fn decode(rlp: &Rlp<'_>) -> Result<Self, DecoderError> {
        decode_nonce(rlp).map(|nonce| Ping { nonce })
    }
}

impl rlp::Encodable for Pong {
    fn rlp_append(&self, s: &mut RlpStream) {
        append_nonce(s, self.nonce);
    }
}

impl rlp::Decodable for Pong {
    fn decode(rlp: &Rlp<'_>) -> Result<Self, DecoderError> {
        decode_nonce(rlp).map(|nonce| Pong { nonce })
    }
}

/// A `pingpong/1` message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Message {
    /// Code 0.
    Ping(Ping),
    /// Code 1.
    Pong(Pong),
}

impl Message {
    /// Reads a message (its code relative to the capability).
    pub fn decode(msg: &Msg) -> Result<Self, MessageError> {
        let rlp = Rlp::new(&msg.payload);
        let malformed = |error| MessageError::Malformed {
            code: msg.code,
            error,
        };
        // The RLP decoder does not look past the first item; bytes after it
        // are as much a malformed message as bytes missing.
        let total = rlp.payload_info().map_err(malformed)?.total();
        if total != msg.payload.len() {
            return Err(malformed(DecoderError::RlpInconsistentLengthAndData));
        }
        match msg.code {
            PING => rlp.as_val().map(Message::Ping).map_err(malformed),
            PONG => rlp.as_val().map(Message::Pong).map_err(malformed),
            code => Err(MessageError::UnknownCode(code)),
        }
    }

    /// The message to send.
    pub fn to_msg(&self) -> Msg {
        match self {
            Message::Ping(ping) => Msg::encode(PING, ping),
            Message::Pong(pong) => Msg::encode(PONG, pong),
        }
    }
}

/// Why a message could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MessageError {
    /// The code is not one of the capability's.
    UnknownCode(u64),
    /// The payload is not what the code calls for.
    Malformed {
        /// The message code.
        code: u64,
        /// What the decoder said.
        error: DecoderError,
    },
}

impl fmt::Display for MessageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MessageError::UnknownCode(code) => write!(f, "unknown {NAME} message code {code}"),
            MessageError::Malformed { code, error } => {
                write!(f, "malformed {NAME} message {code}: {error}")
            }
        }
    }
}

impl std::error::Error for MessageError {}

/// How often to ping and how long to wait for the answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PingPongConfig {
    /// Time between Pings to a peer; the first goes out as soon as the peer
    /// connects. Must not be zero.
    pub interval: Duration,
    /// How long a Ping may stay unanswered before the peer is dropped. Only
    /// one Ping is in flight at a time: while one waits, the interval's ticks
    /// send nothing, so a slow peer is not flooded.
    pub pong_timeout: Duration,
}

impl Default for PingPongConfig {
    fn default() -> Self {
        PingPongConfig {
            interval: Duration::from_secs(15),
            pong_timeout: Duration::from_secs(20),
        }
    }
}

/// The latest round-trip time of every connected peer.
pub type RttTable = BTreeMap<PeerId, Duration>;

type Observer = Arc<dyn Fn(PeerId, Duration) + Send + Sync>;

/// The `pingpong/1` capability; see the [crate documentation](crate).
pub struct PingPong {
    config: PingPongConfig,
    rtts: Arc<watch::Sender<RttTable>>,
    observer: Option<Observer>,
}

impl PingPong {
    /// The capability with `config`.
    ///
    /// # Panics
    ///
    /// If `config.interval` is zero.
    pub fn new(config: PingPongConfig) -> Self {
        assert!(!config.interval.is_zero(), "ping interval must not be zero");
        PingPong {
            config,
            rtts: Arc::new(watch::Sender::new(RttTable::new())),
            observer: None,
        }
    }

    /// Calls `observer` with every round-trip time measured, with the peer it
    /// was measured on (for histograms; the [`watch`] keeps only the latest).
    pub fn on_rtt(mut self, observer: impl Fn(PeerId, Duration) + Send + Sync + 'static) -> Self {
        self.observer = Some(Arc::new(observer));
        self
    }

    /// The latest round-trip time of each connected peer. A peer appears
    /// after its first answered Ping and leaves when its connection ends.
    pub fn subscribe(&self) -> watch::Receiver<RttTable> {
        self.rtts.subscribe()
    }
}

impl fmt::Debug for PingPong {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PingPong")
            .field("config", &self.config)
            .field("rtts", &*self.rtts.borrow())
            .finish_non_exhaustive()
    }
}

impl Protocol for PingPong {
    fn capability(&self) -> Capability {
        Capability::new(NAME, VERSION)
    }

    fn message_count(&self) -> u64 {
        MESSAGE_COUNT
    }

    fn run(&self, peer: Peer, conn: CapabilityConn) -> ProtocolFuture {
        let reporter = Reporter {
            peer: peer.id(),
            rtts: self.rtts.clone(),
            observer: self.observer.clone(),
        };
        Box::pin(run_peer(self.config.clone(), reporter, conn))
    }
}

/// Publishes one peer's round-trip times, and withdraws them when dropped,
/// i.e. however the peer's run ends.
struct Reporter {
    peer: PeerId,
    rtts: Arc<watch::Sender<RttTable>>,
    observer: Option<Observer>,
}

impl Reporter {
    fn report(&self, rtt: Duration) {
        self.rtts.send_modify(|table| {
            table.insert(self.peer, rtt);
        });
        if let Some(observer) = &self.observer {
            observer(self.peer, rtt);
        }
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        self.rtts
            .send_if_modified(|table| table.remove(&self.peer).is_some());
    }
}

/// A nonce the peer cannot predict, so it cannot answer a Ping before it has
/// seen it and fake a short round trip. std's `RandomState` is randomly keyed
/// per process and advanced per instance, which is enough here and spares a
/// dependency on a random number crate.
fn random_nonce() -> u64 {
    RandomState::new().build_hasher().finish()
}

async fn run_peer(
    config: PingPongConfig,
    reporter: Reporter,
    mut conn: CapabilityConn,
) -> Result<(), DisconnectReason> {
    let mut ticker = tokio::time::interval(config.interval);
    // After a stall, one Ping, not a burst to catch up.
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // The Ping in flight: its nonce and when it was sent.
    let mut in_flight: Option<(u64, Instant)> = None;
    loop {
        let deadline = in_flight.map(|(_, sent)| sent + config.pong_timeout);
        tokio::select! {
            msg = conn.recv() => {
                // The session has ended.
                let Some(msg) = msg else { return Ok(()) };
                match Message::decode(&msg) {
                    Err(_) => return Err(DisconnectReason::SubprotocolError),
                    Ok(Message::Ping(Ping { nonce })) => {
                        conn.send(Message::Pong(Pong { nonce }).to_msg()).await?;
                    }
                    Ok(Message::Pong(Pong { nonce })) => match in_flight {
                        Some((expected, sent)) if expected == nonce => {
                            in_flight = None;
                            reporter.report(sent.elapsed());
                        }
                        _ => {}
                    },
                }
            }
            _ = ticker.tick(), if in_flight.is_none() => {
                let nonce = random_nonce();
                conn.send(Message::Ping(Ping { nonce }).to_msg()).await?;
                in_flight = Some((nonce, Instant::now()));
            }
            _ = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                return Err(DisconnectReason::PingTimeout);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use p2p_core::msgpipe::{peer_info_for, run_plugin, ExpectError, RunningPlugin};

    use super::*;

    fn config(interval: u64, pong_timeout: u64) -> PingPongConfig {
        PingPongConfig {
            interval: Duration::from_secs(interval),
            pong_timeout: Duration::from_secs(pong_timeout),
        }
    }

    fn start(plugin: PingPong) -> (RunningPlugin, PeerId) {
        let info = peer_info_for(&plugin);
        let id = info.id;
        (run_plugin(Arc::new(plugin), info), id)
    }

    #[test]
    fn messages_round_trip_and_tolerate_extra_fields() {
        for message in [
            Message::Ping(Ping { nonce: 0 }),
            Message::Pong(Pong { nonce: u64::MAX }),
        ] {
            assert_eq!(Message::decode(&message.to_msg()), Ok(message));
        }
        assert_eq!(
            Msg::encode(PING, &Ping { nonce: 1 }).payload[..],
            [0xc1, 0x01]
        );

        let mut s = RlpStream::new_list(2);
        s.append(&7u64).append(&"from a later version");
        let msg = Msg::new(PONG, s.out().freeze());
        assert_eq!(Message::decode(&msg), Ok(Message::Pong(Pong { nonce: 7 })));
    }

    #[test]
    fn malformed_messages_are_refused() {
        // A bare integer, an empty list, trailing bytes, a nonce too big, an
        // unknown code.
        for msg in [
            Msg::new(PING, vec![0x07]),
            Msg::new(PING, vec![0xc0]),
            Msg::new(PONG, vec![0xc1, 0x01, 0x02]),
            Msg::new(PING, vec![0xca, 0x89, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
            Msg::new(PING, vec![]),
        ] {
            assert!(
                matches!(Message::decode(&msg), Err(MessageError::Malformed { .. })),
                "{msg:?}"
            );
        }
        assert_eq!(
            Message::decode(&Msg::new(2, vec![0xc1, 0x01])),
            Err(MessageError::UnknownCode(2))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn answers_a_ping_with_its_nonce() {
        let (mut plugin, _) = start(PingPong::new(config(60, 60)));
        // Its own first Ping comes at once.
        plugin.pipe.expect_decode::<Ping>(PING).await.unwrap();
        plugin.pipe.send(PING, &Ping { nonce: 42 }).await.unwrap();
        plugin.pipe.expect(PONG, &Pong { nonce: 42 }).await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn pings_every_interval_with_fresh_nonces() {
        let (mut plugin, _) = start(PingPong::new(config(2, 60)));
        let start = Instant::now();
        let mut nonces = Vec::new();
        for round in 0..3u32 {
            let ping: Ping = plugin.pipe.expect_decode(PING).await.unwrap();
            assert_eq!(start.elapsed(), Duration::from_secs(2) * round);
            plugin
                .pipe
                .send(PONG, &Pong { nonce: ping.nonce })
                .await
                .unwrap();
            nonces.push(ping.nonce);
        }
        nonces.dedup();
        assert_eq!(nonces.len(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn round_trip_times_are_published_per_peer() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let protocol = Arc::new(
            PingPong::new(config(60, 60))
                .on_rtt(move |peer, rtt| log.lock().unwrap().push((peer, rtt))),
        );
        let mut rtts = protocol.subscribe();
        let (info_a, info_b) = (peer_info_for(&*protocol), peer_info_for(&*protocol));
        let (a, b) = (info_a.id, info_b.id);
        let mut peer_a = run_plugin(protocol.clone(), info_a);
        let mut peer_b = run_plugin(protocol.clone(), info_b);

        let ping_a: Ping = peer_a.pipe.expect_decode(PING).await.unwrap();
        let ping_b: Ping = peer_b.pipe.expect_decode(PING).await.unwrap();
        tokio::time::sleep(Duration::from_millis(250)).await;
        peer_a
            .pipe
            .send(
                PONG,
                &Pong {
                    nonce: ping_a.nonce,
                },
            )
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(250)).await;
        peer_b
            .pipe
            .send(
                PONG,
                &Pong {
                    nonce: ping_b.nonce,
                },
            )
            .await
            .unwrap();

        let expected = RttTable::from([
            (a, Duration::from_millis(250)),
            (b, Duration::from_millis(500)),
        ]);
        tokio::time::timeout(Duration::from_secs(5), rtts.wait_for(|t| t.len() == 2))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(*rtts.borrow(), expected);
        assert_eq!(
            *seen.lock().unwrap(),
            [
                (a, Duration::from_millis(250)),
                (b, Duration::from_millis(500))
            ]
        );

        // A peer that leaves leaves the table.
        peer_a.pipe.close();
        assert_eq!(peer_a.outcome().await, Ok(Ok(())));
        assert_eq!(
            *rtts.borrow_and_update(),
            RttTable::from([(b, Duration::from_millis(500))])
        );
    }

    #[tokio::test(start_paused = true)]
    async fn pongs_that_answer_nothing_are_ignored() {
        let protocol = PingPong::new(config(60, 60));
        let rtts = protocol.subscribe();
        let (mut plugin, _) = start(protocol);
        let ping: Ping = plugin.pipe.expect_decode(PING).await.unwrap();
        plugin
            .pipe
            .send(
                PONG,
                &Pong {
                    nonce: ping.nonce.wrapping_add(1),
                },
            )
            .await
            .unwrap();
        plugin
            .pipe
            .expect_silence(Duration::from_secs(1))
            .await
            .unwrap();
        assert!(rtts.borrow().is_empty());
        assert!(!plugin.is_finished());
        // The right one still counts.
        plugin
            .pipe
            .send(PONG, &Pong { nonce: ping.nonce })
            .await
            .unwrap();
        plugin.pipe.send(PING, &Ping { nonce: 1 }).await.unwrap();
        plugin.pipe.expect(PONG, &Pong { nonce: 1 }).await.unwrap();
        assert_eq!(rtts.borrow().len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn an_unanswered_ping_ends_the_peer_with_ping_timeout() {
        let (mut plugin, _) = start(PingPong::new(config(1, 3)));
        let start = Instant::now();
        plugin.pipe.expect_decode::<Ping>(PING).await.unwrap();
        assert_eq!(
            plugin.expect_disconnect().await,
            Ok(DisconnectReason::PingTimeout)
        );
        assert_eq!(start.elapsed(), Duration::from_secs(3));
        // No second Ping while the first was unanswered.
        plugin.pipe.expect_closed().await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_malformed_message_ends_the_peer_with_subprotocol_error() {
        for bad in [
            Msg::new(PING, vec![0x07]),
            Msg::new(PONG, vec![0xc1, 0x01, 0x02]),
            Msg::new(5, vec![0xc1, 0x01]),
        ] {
            let (mut plugin, _) = start(PingPong::new(config(60, 60)));
            plugin.pipe.expect_code(PING).await.unwrap();
            plugin.pipe.send_msg(bad).await.unwrap();
            assert_eq!(
                plugin.expect_disconnect().await,
                Ok(DisconnectReason::SubprotocolError)
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_session_ending_ends_the_plugin() {
        let (mut plugin, _) = start(PingPong::new(config(60, 60)));
        plugin.pipe.expect_code(PING).await.unwrap();
        plugin.pipe.close();
        assert_eq!(plugin.outcome().await, Ok(Ok(())));
        assert_eq!(plugin.pipe.recv().await, Err(ExpectError::Closed));
    }
}
