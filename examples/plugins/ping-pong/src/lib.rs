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

use p2p_core::message::CapabilityMessage;
use p2p_core::protocol::{CapabilityConn, Protocol, ProtocolFuture};
use p2p_core::tokio::sync::watch;
use p2p_core::tokio::time::{self, Instant, MissedTickBehavior};
use p2p_core::{Capability, DisconnectReason, Peer, PeerId};

/// The capability's name.
pub const NAME: &str = "pingpong";
/// The capability's version.
pub const VERSION: u32 = 1;

p2p_core::capability_messages! {
    /// A `pingpong/1` message.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Message {
        /// Asks the peer to answer with a Pong carrying the same nonce.
        Ping {
            /// Chosen by the sender; echoed in the Pong.
            nonce: u64,
        } = 0,
        /// The answer to a Ping.
        Pong {
            /// The nonce of the Ping answered.
            nonce: u64,
        } = 1,
    }
}

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
        Message::count(VERSION)
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
    let mut ticker = time::interval(config.interval);
    // After a stall, one Ping, not a burst to catch up.
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // The Ping in flight: its nonce and when it was sent.
    let mut in_flight: Option<(u64, Instant)> = None;
    loop {
        let deadline = in_flight.map(|(_, sent)| sent + config.pong_timeout);
        p2p_core::tokio::select! {
            message = conn.recv_message::<Message>() => match message {
                // The session has ended.
                None => return Ok(()),
                Some(Err(err)) => return Err(err.into()),
                Some(Ok(Message::Ping { nonce })) => conn.send_message(&Message::Pong { nonce }).await?,
                Some(Ok(Message::Pong { nonce })) => match in_flight {
                    Some((expected, sent)) if expected == nonce => {
                        in_flight = None;
                        reporter.report(sent.elapsed());
                    }
                    _ => {}
                },
            },
            _ = ticker.tick(), if in_flight.is_none() => {
                let nonce = random_nonce();
                conn.send_message(&Message::Ping { nonce }).await?;
                in_flight = Some((nonce, Instant::now()));
            }
            _ = time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                return Err(DisconnectReason::PingTimeout);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use p2p_core::msgpipe::{peer_info_for, run_plugin, ExpectError, PipeEnd, RunningPlugin};
    use p2p_core::{MessageError, Msg};

    use super::*;

    fn ping(nonce: u64) -> Msg {
        Message::Ping { nonce }.to_msg()
    }

    fn pong(nonce: u64) -> Msg {
        Message::Pong { nonce }.to_msg()
    }

    /// The nonce of the next message, which must be a Ping.
    async fn next_ping(pipe: &mut PipeEnd) -> u64 {
        let msg = pipe.expect_code(0).await.unwrap();
        match Message::decode(VERSION, &msg).unwrap() {
            Message::Ping { nonce } => nonce,
            other => panic!("expected a Ping, got {other:?}"),
        }
    }

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
        assert_eq!(Message::count(VERSION), 2);
        for message in [
            Message::Ping { nonce: 0 },
            Message::Pong { nonce: u64::MAX },
        ] {
            assert_eq!(Message::decode(VERSION, &message.to_msg()), Ok(message));
        }
        assert_eq!(ping(1), Msg::new(0, vec![0xc1, 0x01]));
        // A Pong from a later version with a second field.
        let msg = Msg::new(1, vec![0xc2, 0x07, 0x80]);
        assert_eq!(
            Message::decode(VERSION, &msg),
            Ok(Message::Pong { nonce: 7 })
        );
    }

    #[test]
    fn malformed_messages_are_refused() {
        // A bare integer, an empty list, trailing bytes, a nonce too big, an
        // empty payload.
        for msg in [
            Msg::new(0, vec![0x07]),
            Msg::new(0, vec![0xc0]),
            Msg::new(1, vec![0xc1, 0x01, 0x02]),
            Msg::new(0, vec![0xca, 0x89, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
            Msg::new(0, vec![]),
        ] {
            assert!(
                matches!(
                    Message::decode(VERSION, &msg),
                    Err(MessageError::Malformed { .. })
                ),
                "{msg:?}"
            );
        }
        assert!(matches!(
            Message::decode(VERSION, &Msg::new(2, vec![0xc1, 0x01])),
            Err(MessageError::UnknownCode { code: 2, .. })
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn answers_a_ping_with_its_nonce() {
        let (mut plugin, _) = start(PingPong::new(config(60, 60)));
        // Its own first Ping comes at once.
        next_ping(&mut plugin.pipe).await;
        plugin.pipe.send_msg(ping(42)).await.unwrap();
        plugin.pipe.expect_msg(&pong(42)).await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn pings_every_interval_with_fresh_nonces() {
        let (mut plugin, _) = start(PingPong::new(config(2, 60)));
        let start = Instant::now();
        let mut nonces = Vec::new();
        for round in 0..3u32 {
            let nonce = next_ping(&mut plugin.pipe).await;
            assert_eq!(start.elapsed(), Duration::from_secs(2) * round);
            plugin.pipe.send_msg(pong(nonce)).await.unwrap();
            nonces.push(nonce);
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

        let nonce_a = next_ping(&mut peer_a.pipe).await;
        let nonce_b = next_ping(&mut peer_b.pipe).await;
        time::sleep(Duration::from_millis(250)).await;
        peer_a.pipe.send_msg(pong(nonce_a)).await.unwrap();
        time::sleep(Duration::from_millis(250)).await;
        peer_b.pipe.send_msg(pong(nonce_b)).await.unwrap();

        let expected = RttTable::from([
            (a, Duration::from_millis(250)),
            (b, Duration::from_millis(500)),
        ]);
        time::timeout(Duration::from_secs(5), rtts.wait_for(|t| t.len() == 2))
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
        let nonce = next_ping(&mut plugin.pipe).await;
        plugin
            .pipe
            .send_msg(pong(nonce.wrapping_add(1)))
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
        plugin.pipe.send_msg(pong(nonce)).await.unwrap();
        plugin.pipe.send_msg(ping(1)).await.unwrap();
        plugin.pipe.expect_msg(&pong(1)).await.unwrap();
        assert_eq!(rtts.borrow().len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn an_unanswered_ping_ends_the_peer_with_ping_timeout() {
        let (mut plugin, _) = start(PingPong::new(config(1, 3)));
        let start = Instant::now();
        next_ping(&mut plugin.pipe).await;
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
            Msg::new(0, vec![0x07]),
            Msg::new(1, vec![0xc1, 0x01, 0x02]),
            Msg::new(5, vec![0xc1, 0x01]),
        ] {
            let (mut plugin, _) = start(PingPong::new(config(60, 60)));
            plugin.pipe.expect_code(0).await.unwrap();
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
        plugin.pipe.expect_code(0).await.unwrap();
        plugin.pipe.close();
        assert_eq!(plugin.outcome().await, Ok(Ok(())));
        assert_eq!(plugin.pipe.recv().await, Err(ExpectError::Closed));
    }
}
