//! Capabilities written as tower [`Service`]s over inbound messages.
//!
//! A plugin whose work is "answer each message" need not write the receive
//! loop of [`Protocol::run`] itself: it can be a `Service<Msg, Response =
//! Option<Msg>>` (a reply, or none) adapted by [`ServiceProtocol`]. Per-message
//! tower layers — [`TimeoutLayer`](tower::timeout::TimeoutLayer),
//! [`RateLimitLayer`](tower::limit::RateLimitLayer), a load shedder, metrics —
//! then apply to it directly. The service is made once per peer, so each peer
//! gets its own rate limit or timeout budget.
//!
//! ```
//! use std::time::Duration;
//!
//! use p2p_core::service::ServiceProtocol;
//! use p2p_core::{Capability, Msg};
//! use tower::ServiceBuilder;
//!
//! // Code 0 is a request, answered with code 1 carrying the same payload;
//! // a handler slower than a second disconnects the peer.
//! let echo = ServiceProtocol::new(Capability::new("echo", 1), 2, |_peer, _sender| {
//!     ServiceBuilder::new()
//!         .timeout(Duration::from_secs(1))
//!         .service_fn(|msg: Msg| async move {
//!             Ok::<_, std::convert::Infallible>((msg.code == 0).then(|| Msg::new(1, msg.payload)))
//!         })
//! });
//! # let _: std::sync::Arc<dyn p2p_core::Protocol> = std::sync::Arc::new(echo);
//! ```
//!
//! # One request at a time
//!
//! Messages of a peer are handled strictly in order: the next one is taken
//! only after the previous reply has been queued. devp2p request/response
//! pairs that carry no request id rely on replies coming back in the order of
//! the requests, and handling in order also makes the handler's effects
//! happen in the order the peer meant. It also gives natural back-pressure:
//! while a handler is busy the peer's inbound queue fills and the session
//! stops reading from its socket. A service that wants to overlap slow work
//! can spawn it and answer later through the [`CapabilitySender`] it was made
//! with.
//!
//! # Readiness
//!
//! `poll_ready` is driven only once a message is in hand, immediately before
//! `call`. Reserving readiness earlier (and then waiting for a message) would
//! hold a slot of a shared limiter or buffer for as long as the peer is idle,
//! which is how `tower::buffer` users end up with hangs.
//!
//! # Errors
//!
//! An error from the service (from `poll_ready`, `call` or its future)
//! disconnects the peer. The reason is found by walking the error and its
//! [`source`](std::error::Error::source) chain: a [`Disconnect`] gives its
//! reason, a [`SendError`] its usual one, and anything else — a timeout, a
//! handler failure — gives [`DisconnectReason::SubprotocolError`], as
//! go-ethereum does for an error returned by a protocol.

use std::error::Error as StdError;
use std::fmt;

use tower::{BoxError, Service, ServiceExt};

use crate::base::{Capability, DisconnectReason};
use crate::msg::Msg;
use crate::peer::Peer;
use crate::protocol::{CapabilityConn, CapabilitySender, Protocol, ProtocolFuture, SendError};

/// An error a service returns to disconnect its peer with a chosen reason
/// (other errors disconnect with [`DisconnectReason::SubprotocolError`]).
///
/// It is found anywhere in the error's source chain, so it survives layers
/// that wrap errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("disconnect the peer: {0}")]
pub struct Disconnect(pub DisconnectReason);

impl From<Disconnect> for DisconnectReason {
    fn from(err: Disconnect) -> Self {
        err.0
    }
}

/// The reason to disconnect a peer whose service failed with `err`: the first
/// [`Disconnect`] or [`SendError`] in its source chain, else
/// [`DisconnectReason::SubprotocolError`].
pub fn disconnect_reason(err: &(dyn StdError + 'static)) -> DisconnectReason {
    let mut current = Some(err);
    while let Some(err) = current {
        if let Some(Disconnect(reason)) = err.downcast_ref::<Disconnect>() {
            return *reason;
        }
        if let Some(send) = err.downcast_ref::<SendError>() {
            return send.clone().into();
        }
        current = err.source();
    }
    DisconnectReason::SubprotocolError
}

/// A [`Protocol`] made of a tower [`Service`] per peer; see the
/// [module documentation](self).
///
/// `make_service` is called once for each peer the capability runs with, with
/// the peer's handle and a sender for messages the service wants to send
/// outside a reply (announcements, late answers of spawned work).
pub struct ServiceProtocol<F> {
    capability: Capability,
    message_count: u64,
    make_service: F,
}

impl<F> ServiceProtocol<F> {
    /// A capability named `capability` with codes `0..message_count`, whose
    /// peers are each served by a service from `make_service`.
    // The bounds are repeated here, not only on the `Protocol` impl, so that a
    // closure passed in is inferred to take a `&Peer` of any lifetime, and a
    // wrong service type is reported where it is written.
    pub fn new<S>(capability: Capability, message_count: u64, make_service: F) -> Self
    where
        F: Fn(&Peer, CapabilitySender) -> S + Send + Sync + 'static,
        S: Service<Msg, Response = Option<Msg>> + Send + 'static,
        S::Error: Into<BoxError>,
        S::Future: Send + 'static,
    {
        ServiceProtocol {
            capability,
            message_count,
            make_service,
        }
    }
}

impl<F> fmt::Debug for ServiceProtocol<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceProtocol")
            .field("capability", &self.capability)
            .field("message_count", &self.message_count)
            .finish_non_exhaustive()
    }
}

impl<F, S> Protocol for ServiceProtocol<F>
where
    F: Fn(&Peer, CapabilitySender) -> S + Send + Sync + 'static,
    S: Service<Msg, Response = Option<Msg>> + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    fn capability(&self) -> Capability {
        self.capability.clone()
    }

    fn message_count(&self) -> u64 {
        self.message_count
    }

    fn run(&self, peer: Peer, conn: CapabilityConn) -> ProtocolFuture {
        let service = (self.make_service)(&peer, conn.sender());
        Box::pin(serve(service, conn))
    }
}

/// Feeds every message of `conn` to `service`, one at a time, and sends its
/// replies, until the session ends (`Ok`) or the service fails (the reason to
/// disconnect, as described in the [module documentation](self)).
///
/// [`ServiceProtocol`] runs this; a hand-written [`Protocol::run`] may call it
/// too, e.g. after a status exchange.
pub async fn serve<S>(mut service: S, mut conn: CapabilityConn) -> Result<(), DisconnectReason>
where
    S: Service<Msg, Response = Option<Msg>>,
    S::Error: Into<BoxError>,
{
    while let Some(msg) = conn.recv().await {
        let code = msg.code;
        // Readiness is reserved only now that there is a message to hand over.
        // Errors become reasons within each statement, so that no `S::Error`
        // lives across an await and it need not be `Send`.
        let ready = service.ready().await.map_err(|err| failed(code, err))?;
        let reply = ready.call(msg).await.map_err(|err| failed(code, err))?;
        if let Some(reply) = reply {
            conn.send(reply).await?;
        }
    }
    Ok(())
}

/// The reason for a service error, logged because the peer only sees the
/// reason.
fn failed(code: u64, err: impl Into<BoxError>) -> DisconnectReason {
    let err: BoxError = err.into();
    let reason = disconnect_reason(&*err);
    tracing::debug!(code, %err, %reason, "capability service failed");
    reason
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::sync::Arc;
    use std::time::Duration;

    use futures::{SinkExt, StreamExt};
    use tokio::time::Instant;
    use tower::limit::RateLimitLayer;
    use tower::timeout::TimeoutLayer;
    use tower::{service_fn, Layer};

    use super::*;
    use crate::base::{Hello, DISCONNECT, PING};
    use crate::capability::match_capabilities;
    use crate::msgpipe::{peer_info_for, run_plugin};
    use crate::pipeline::Direction;
    use crate::session::{run_session, SessionConfig};
    use crate::testing::mem_pair;
    use crate::{NodeKey, PeerInfo};

    /// Code 0 is answered with code 1 and the same payload; code 2 waits for
    /// the number of seconds in its payload first; code 3 fails the handler.
    async fn handle(msg: Msg) -> Result<Option<Msg>, std::io::Error> {
        match msg.code {
            0 => Ok(Some(Msg::new(1, msg.payload))),
            2 => {
                tokio::time::sleep(Duration::from_secs(msg.payload[0].into())).await;
                Ok(Some(Msg::new(1, msg.payload)))
            }
            3 => Err(std::io::Error::other("handler failed")),
            _ => Ok(None),
        }
    }

    fn echo_protocol() -> Arc<dyn Protocol> {
        Arc::new(ServiceProtocol::new(
            Capability::new("echo", 1),
            4,
            |_, _| service_fn(handle),
        ))
    }

    #[tokio::test]
    async fn echo_service_answers_each_message() {
        let mut plugin = run_plugin(echo_protocol(), peer_info_for(&*echo_protocol()));
        plugin.pipe.send_msg(Msg::new(0, vec![0xaa])).await.unwrap();
        plugin
            .pipe
            .expect_msg(&Msg::new(1, vec![0xaa]))
            .await
            .unwrap();
        // No reply for code 1, and none invented.
        plugin.pipe.send_msg(Msg::new(1, vec![])).await.unwrap();
        plugin
            .pipe
            .expect_silence(Duration::from_millis(50))
            .await
            .unwrap();
        // The session ending ends the service's loop cleanly.
        plugin.pipe.close();
        assert_eq!(plugin.outcome().await.unwrap(), Ok(()));
    }

    #[tokio::test(start_paused = true)]
    async fn replies_keep_the_order_of_requests() {
        let mut plugin = run_plugin(echo_protocol(), peer_info_for(&*echo_protocol()));
        // A slow request first, a fast one second: the fast one waits its turn.
        plugin.pipe.send_msg(Msg::new(2, vec![3])).await.unwrap();
        plugin.pipe.send_msg(Msg::new(0, vec![9])).await.unwrap();
        plugin.pipe.expect_msg(&Msg::new(1, vec![3])).await.unwrap();
        plugin.pipe.expect_msg(&Msg::new(1, vec![9])).await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn timeout_layer_turns_a_slow_handler_into_subprotocol_error() {
        let protocol: Arc<dyn Protocol> = Arc::new(ServiceProtocol::new(
            Capability::new("echo", 1),
            4,
            |_, _| TimeoutLayer::new(Duration::from_secs(1)).layer(service_fn(handle)),
        ));
        let mut plugin = run_plugin(protocol.clone(), peer_info_for(&*protocol));
        // Within the deadline: answered.
        plugin.pipe.send_msg(Msg::new(0, vec![1])).await.unwrap();
        plugin.pipe.expect_msg(&Msg::new(1, vec![1])).await.unwrap();
        // Two seconds of work against a one-second deadline.
        plugin.pipe.send_msg(Msg::new(2, vec![2])).await.unwrap();
        assert_eq!(
            plugin.expect_disconnect().await,
            Ok(DisconnectReason::SubprotocolError)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn rate_limit_layer_applies_per_message_and_per_peer() {
        let protocol: Arc<dyn Protocol> = Arc::new(ServiceProtocol::new(
            Capability::new("echo", 1),
            4,
            |_, _| RateLimitLayer::new(2, Duration::from_secs(10)).layer(service_fn(handle)),
        ));
        let mut first = run_plugin(protocol.clone(), peer_info_for(&*protocol));
        let mut second = run_plugin(protocol.clone(), peer_info_for(&*protocol));
        // The pipe's own wait must outlast the limiter's period.
        first.pipe.set_timeout(Duration::from_secs(30));
        let start = Instant::now();
        for byte in 0..3u8 {
            first.pipe.send_msg(Msg::new(0, vec![byte])).await.unwrap();
        }
        for byte in 0..2u8 {
            first
                .pipe
                .expect_msg(&Msg::new(1, vec![byte]))
                .await
                .unwrap();
        }
        assert!(start.elapsed() < Duration::from_secs(1));
        // The third message of the period waits for the next one.
        first.pipe.expect_msg(&Msg::new(1, vec![2])).await.unwrap();
        assert!(start.elapsed() >= Duration::from_secs(10));

        // The other peer has a limiter of its own, untouched by the first.
        let start = Instant::now();
        for byte in 0..2u8 {
            second.pipe.send_msg(Msg::new(0, vec![byte])).await.unwrap();
            second
                .pipe
                .expect_msg(&Msg::new(1, vec![byte]))
                .await
                .unwrap();
        }
        assert!(start.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn a_failing_handler_disconnects_with_subprotocol_error() {
        let mut plugin = run_plugin(echo_protocol(), peer_info_for(&*echo_protocol()));
        plugin.pipe.send_msg(Msg::new(3, vec![])).await.unwrap();
        assert_eq!(
            plugin.outcome().await.unwrap(),
            Err(DisconnectReason::SubprotocolError)
        );
    }

    /// An error that wraps another, as layers do.
    #[derive(Debug, thiserror::Error)]
    #[error("wrapped")]
    struct Wrapped(#[source] Disconnect);

    #[tokio::test]
    async fn a_disconnect_error_chooses_the_reason_even_when_wrapped() {
        let protocol: Arc<dyn Protocol> = Arc::new(ServiceProtocol::new(
            Capability::new("picky", 1),
            2,
            |_, _| {
                service_fn(|msg: Msg| async move {
                    match msg.code {
                        0 => Err::<Option<Msg>, BoxError>(
                            Disconnect(DisconnectReason::TooManyPeers).into(),
                        ),
                        _ => Err(Wrapped(Disconnect(DisconnectReason::UselessPeer)).into()),
                    }
                })
            },
        ));
        for (code, reason) in [
            (0, DisconnectReason::TooManyPeers),
            (1, DisconnectReason::UselessPeer),
        ] {
            let mut plugin = run_plugin(protocol.clone(), peer_info_for(&*protocol));
            plugin.pipe.send_msg(Msg::new(code, vec![])).await.unwrap();
            assert_eq!(plugin.expect_disconnect().await, Ok(reason));
        }
    }

    #[tokio::test]
    async fn a_reply_outside_the_capability_is_a_subprotocol_error() {
        let protocol: Arc<dyn Protocol> = Arc::new(ServiceProtocol::new(
            Capability::new("bad", 1),
            2,
            |_, _| service_fn(|_: Msg| async { Ok::<_, Infallible>(Some(Msg::new(7, vec![]))) }),
        ));
        let mut plugin = run_plugin(protocol.clone(), peer_info_for(&*protocol));
        plugin.pipe.send_msg(Msg::new(0, vec![])).await.unwrap();
        assert_eq!(
            plugin.expect_disconnect().await,
            Ok(DisconnectReason::SubprotocolError)
        );
    }

    #[tokio::test]
    async fn the_service_gets_its_peer_and_a_sender() {
        let protocol: Arc<dyn Protocol> = Arc::new(ServiceProtocol::new(
            Capability::new("greet", 1),
            2,
            |peer, sender| {
                let name = peer.name().to_owned();
                service_fn(move |msg: Msg| {
                    let (sender, name) = (sender.clone(), name.clone());
                    async move {
                        // Something besides the reply, through the sender.
                        sender.send(Msg::new(0, name.into_bytes())).await?;
                        Ok::<_, SendError>(Some(Msg::new(1, msg.payload)))
                    }
                })
            },
        ));
        let info = peer_info_for(&*protocol);
        let name = info.client_id.clone();
        let mut plugin = run_plugin(protocol, info);
        plugin.pipe.send_msg(Msg::new(0, vec![5])).await.unwrap();
        plugin
            .pipe
            .expect_msg(&Msg::new(0, name.into_bytes()))
            .await
            .unwrap();
        plugin.pipe.expect_msg(&Msg::new(1, vec![5])).await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn in_a_session_a_timed_out_handler_sends_disconnect_on_the_wire() {
        let protocol: Arc<dyn Protocol> = Arc::new(ServiceProtocol::new(
            Capability::new("echo", 1),
            4,
            |_, _| TimeoutLayer::new(Duration::from_secs(1)).layer(service_fn(handle)),
        ));
        let (ours, mut theirs) = mem_pair(NodeKey::random().id(), NodeKey::random().id());
        let caps = [protocol.capability()];
        let shared = match_capabilities(&[(protocol.capability(), 4)], &caps);
        let hello = Hello {
            protocol_version: 5,
            client_id: "remote".into(),
            capabilities: caps.to_vec(),
            listen_port: 0,
            id: NodeKey::random().id(),
        };
        let info = Arc::new(PeerInfo::new(
            &hello,
            "127.0.0.1:30303".parse().unwrap(),
            Direction::Inbound,
            crate::capability::CapabilityTable::new(shared),
        ));
        let session = tokio::spawn(async move {
            run_session(
                ours,
                info,
                vec![protocol],
                &SessionConfig::default(),
                std::future::pending(),
            )
            .await
        });
        // The capability owns 0x10..0x14: echo, then a handler too slow.
        theirs.send(Msg::new(0x10, vec![1])).await.unwrap();
        theirs.send(Msg::new(0x12, vec![5])).await.unwrap();
        let mut got = Vec::new();
        while let Some(Ok(msg)) = theirs.next().await {
            if msg.code != PING {
                got.push(msg);
            }
        }
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0], Msg::new(0x11, vec![1]));
        assert_eq!(got[1].code, DISCONNECT);
        assert_eq!(
            DisconnectReason::decode_payload(&got[1].payload),
            Ok(DisconnectReason::SubprotocolError)
        );
        assert_eq!(
            session.await.unwrap().reason,
            Some(DisconnectReason::SubprotocolError)
        );
    }

    #[test]
    fn reasons_come_from_the_source_chain() {
        let timeout: BoxError = Box::new(tower::timeout::error::Elapsed::new());
        assert_eq!(
            disconnect_reason(&*timeout),
            DisconnectReason::SubprotocolError
        );
        let closed: BoxError = Box::new(SendError::Closed);
        assert_eq!(disconnect_reason(&*closed), DisconnectReason::Requested);
        let wrapped = Wrapped(Disconnect(DisconnectReason::AlreadyConnected));
        assert_eq!(
            disconnect_reason(&wrapped),
            DisconnectReason::AlreadyConnected
        );
    }
}
