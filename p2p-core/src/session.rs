//! A peer's session: the base protocol (Ping/Pong keepalive, Disconnect) and
//! the capability multiplexer, from the end of the Hello exchange to the end
//! of the connection.
//!
//! One connection carries one message stream; the session splits it into one
//! stream per shared capability (codes made relative to the capability) and
//! merges what the capabilities send back, taking from each in turn so that a
//! chatty capability cannot starve the others. Reading and writing run
//! concurrently, so two peers sending large messages at each other never
//! deadlock, and every queue is bounded: a slow capability handler slows the
//! reading of its peer (TCP back-pressure) instead of growing memory.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::SelectAll;
use futures::Stream;
use futures::{SinkExt, StreamExt};
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinSet;

use crate::base::{self, DisconnectReason, DISCONNECT, HELLO, PING, PONG};
use crate::capability::owner;
use crate::msg::Msg;
use crate::peer::{Peer, PeerEvent, PeerInfo};
use crate::protocol::{CapabilityConn, Protocol};
use crate::transport::MsgConn;

/// How often an idle peer is pinged (go-ethereum's `pingInterval`).
pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(15);
/// A peer silent for this long is dropped (go-ethereum's `frameReadTimeout`);
/// our Pings make a live peer answer well within it.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest a single message may take to write (go-ethereum's
/// `frameWriteTimeout`): a peer that does not read is dropped.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(20);
/// Messages queued per capability and direction before the producer waits.
pub const DEFAULT_QUEUE: usize = 64;
/// How long capability handlers get to finish after the session ends before
/// they are aborted.
pub const HANDLER_GRACE: Duration = Duration::from_secs(5);
/// How long the final Disconnect may take to write.
const DISCONNECT_WRITE_TIMEOUT: Duration = Duration::from_secs(1);

/// Timing and queueing of a session.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// How often the peer is pinged.
    pub ping_interval: Duration,
    /// How long the peer may stay silent.
    pub read_timeout: Duration,
    /// How long one message may take to write.
    pub write_timeout: Duration,
    /// Messages queued per capability and direction.
    pub queue: usize,
    /// Where to publish an event per capability message, if anywhere.
    pub msg_events: Option<broadcast::Sender<PeerEvent>>,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            ping_interval: DEFAULT_PING_INTERVAL,
            read_timeout: DEFAULT_READ_TIMEOUT,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            queue: DEFAULT_QUEUE,
            msg_events: None,
        }
    }
}

/// How a session ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionEnd {
    /// The disconnect reason: the one we sent, or the one the peer sent.
    pub reason: DisconnectReason,
    /// Whether the peer ended it (sent Disconnect or closed the connection).
    pub by_remote: bool,
}

impl SessionEnd {
    fn local(reason: DisconnectReason) -> Self {
        SessionEnd {
            reason,
            by_remote: false,
        }
    }

    fn remote(reason: DisconnectReason) -> Self {
        SessionEnd {
            reason,
            by_remote: true,
        }
    }
}

/// A capability's outbound queue as a stream, for round-robin merging.
struct QueueStream(mpsc::Receiver<Msg>);

impl Stream for QueueStream {
    type Item = Msg;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Msg>> {
        self.0.poll_recv(cx)
    }
}

/// Runs the session of one peer until it ends, and returns how.
///
/// `protocols[i]` runs the capability `info.shared[i]`. `shutdown` resolving
/// ends the session with the reason it resolves to (the server's stop gives
/// [`DisconnectReason::ClientQuitting`], a removal
/// [`DisconnectReason::Requested`]). Every task the session spawns has ended
/// when this returns.
pub async fn run_session<C, S>(
    conn: C,
    info: Arc<PeerInfo>,
    protocols: Vec<Arc<dyn Protocol>>,
    config: &SessionConfig,
    shutdown: S,
) -> SessionEnd
where
    C: MsgConn,
    S: Future<Output = DisconnectReason>,
{
    assert_eq!(
        protocols.len(),
        info.shared.len(),
        "one protocol per shared capability"
    );
    let (mut sink, mut stream) = conn.split();
    let (disconnect_tx, mut disconnect_rx) = mpsc::channel(1);
    let peer = Peer::new(info.clone(), disconnect_tx);

    let mut handlers = JoinSet::new();
    let mut inbound = Vec::with_capacity(protocols.len());
    let mut outbound: SelectAll<_> = SelectAll::new();
    for (shared, protocol) in info.shared.iter().zip(&protocols) {
        let (in_tx, in_rx) = mpsc::channel(config.queue);
        let (out_tx, out_rx) = mpsc::channel(config.queue);
        let conn = CapabilityConn::new(in_rx, out_tx, shared.offset, shared.length);
        handlers.spawn(protocol.run(peer.clone(), conn));
        inbound.push(in_tx);
        outbound.push(QueueStream(out_rx));
    }
    let (base_tx, mut base_rx) = mpsc::channel::<Msg>(config.queue);

    let end = {
        let reader = async {
            loop {
                let msg = match tokio::time::timeout(config.read_timeout, stream.next()).await {
                    Err(_) => return SessionEnd::local(DisconnectReason::PingTimeout),
                    Ok(None) => return SessionEnd::remote(DisconnectReason::TcpSubsystemError),
                    Ok(Some(Err(err))) => {
                        tracing::debug!(%err, "read failed");
                        let reason = C::disconnect_reason_for(&err)
                            .unwrap_or(DisconnectReason::TcpSubsystemError);
                        return SessionEnd::local(reason);
                    }
                    Ok(Some(Ok(msg))) => msg,
                };
                match msg.code {
                    PING => {
                        if base_tx.send(base::pong_msg()).await.is_err() {
                            return SessionEnd::local(DisconnectReason::TcpSubsystemError);
                        }
                    }
                    PONG => {}
                    DISCONNECT => {
                        let reason = DisconnectReason::decode_payload(&msg.payload)
                            .unwrap_or(DisconnectReason::ProtocolError);
                        return SessionEnd::remote(reason);
                    }
                    HELLO => return SessionEnd::local(DisconnectReason::ProtocolError),
                    code if code < base::BASE_PROTOCOL_LENGTH => {
                        // Base codes not defined yet: ignored, as go-ethereum does.
                    }
                    code => match owner(&info.shared, code) {
                        Some((index, shared)) => {
                            let msg = Msg::new(code - shared.offset, msg.payload);
                            if let Some(events) = &config.msg_events {
                                let _ = events.send(PeerEvent::Message {
                                    id: info.id,
                                    capability: shared.capability.clone(),
                                    code: msg.code,
                                    size: msg.payload.len(),
                                    inbound: true,
                                });
                            }
                            // A handler that has stopped reading has ended; its
                            // messages are dropped until the session ends.
                            let _ = inbound[index].send(msg).await;
                        }
                        None => {
                            tracing::debug!(code, "message code outside every capability");
                            return SessionEnd::local(DisconnectReason::ProtocolError);
                        }
                    },
                }
            }
        };
        let writer = async {
            let mut ping = tokio::time::interval(config.ping_interval);
            ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ping.tick().await;
            loop {
                let msg = tokio::select! {
                    biased;
                    Some(msg) = base_rx.recv() => msg,
                    _ = ping.tick() => base::ping_msg(),
                    Some(msg) = outbound.next(), if !outbound.is_empty() => msg,
                };
                let event = config.msg_events.as_ref().and_then(|events| {
                    let (_, shared) = owner(&info.shared, msg.code)?;
                    let event = PeerEvent::Message {
                        id: info.id,
                        capability: shared.capability.clone(),
                        code: msg.code - shared.offset,
                        size: msg.payload.len(),
                        inbound: false,
                    };
                    Some((events, event))
                });
                match tokio::time::timeout(config.write_timeout, sink.send(msg)).await {
                    Ok(Ok(())) => {
                        if let Some((events, event)) = event {
                            let _ = events.send(event);
                        }
                    }
                    Ok(Err(err)) => {
                        tracing::debug!(%err, "write failed");
                        return SessionEnd::local(DisconnectReason::TcpSubsystemError);
                    }
                    Err(_) => return SessionEnd::local(DisconnectReason::TcpSubsystemError),
                }
            }
        };
        tokio::pin!(reader, writer, shutdown);
        tokio::select! {
            end = &mut reader => end,
            end = &mut writer => end,
            Some(reason) = disconnect_rx.recv() => SessionEnd::local(reason),
            Some(result) = handlers.join_next() => SessionEnd::local(match result {
                // A capability that is done with the peer takes it along, as
                // in go-ethereum.
                Ok(Ok(())) => DisconnectReason::ClientQuitting,
                Ok(Err(reason)) => reason,
                Err(_) => DisconnectReason::SubprotocolError,
            }),
            reason = &mut shutdown => SessionEnd::local(reason),
        }
    };

    if !end.by_remote {
        let goodbye = async {
            sink.send(end.reason.to_msg()).await?;
            sink.close().await
        };
        let _ = tokio::time::timeout(DISCONNECT_WRITE_TIMEOUT, goodbye).await;
    }
    // Closing the queues ends every handler's `recv` and fails its `send`.
    drop(inbound);
    drop(outbound);
    let drained = tokio::time::timeout(HANDLER_GRACE, async {
        while handlers.join_next().await.is_some() {}
    });
    if drained.await.is_err() {
        handlers.shutdown().await;
    }
    end
}

/// A peer the checkpoint admitted, ready for its session: what the session
/// service takes.
pub struct Established<C> {
    /// The message connection.
    pub conn: C,
    /// What the handshakes revealed.
    pub info: Arc<PeerInfo>,
    /// The protocol running each shared capability, in `info.shared` order.
    pub protocols: Vec<Arc<dyn Protocol>>,
    /// Resolves with the reason to end the session from our side (the server
    /// stopping, the peer removed).
    pub stop: futures::future::BoxFuture<'static, DisconnectReason>,
}

impl<C> std::fmt::Debug for Established<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Established")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// The session as a tower service: an [`Established`] peer in, its
/// [`SessionEnd`] out, the future living as long as the peer.
///
/// Layers wrapped around it see each peer's whole session (tracing spans,
/// a limit on concurrent sessions, accounting), never its messages: those
/// belong to the connection layers of the setup stack or to the capability
/// services.
#[derive(Clone, Debug, Default)]
pub struct SessionService {
    config: Arc<SessionConfig>,
}

impl SessionService {
    /// A session service with `config`.
    pub fn new(config: SessionConfig) -> Self {
        SessionService {
            config: Arc::new(config),
        }
    }
}

impl<C: MsgConn + 'static> tower::Service<Established<C>> for SessionService {
    type Response = SessionEnd;
    type Error = std::convert::Infallible;
    type Future = futures::future::BoxFuture<'static, Result<SessionEnd, Self::Error>>;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, peer: Established<C>) -> Self::Future {
        let config = self.config.clone();
        Box::pin(async move {
            Ok(run_session(peer.conn, peer.info, peer.protocols, &config, peer.stop).await)
        })
    }
}
