//! The base protocol during a session: the read loop answers Ping, ends on
//! Disconnect or silence, and hands capability messages to the multiplexer;
//! the write loop sends Pongs, Pings on a timer and the capabilities'
//! messages, each within the write deadline.

use futures::{Sink, SinkExt, Stream, StreamExt};
use tokio::sync::mpsc;

use crate::base::{self, DisconnectReason, BASE_PROTOCOL_LENGTH, DISCONNECT, HELLO, PING, PONG};
use crate::msg::Msg;
use crate::pipeline::{ConnectionEnd, MsgConn, Stage, StageError};

use super::config::SessionConfig;
use super::mux::{Inbound, Outbound};

fn local(reason: DisconnectReason) -> ConnectionEnd {
    ConnectionEnd::local(Stage::Session, reason)
}

/// Reads until the session ends; returns how.
pub(super) async fn read_loop<C: MsgConn>(
    mut stream: impl Stream<Item = Result<Msg, C::ConnError>> + Unpin,
    inbound: &Inbound,
    base_tx: mpsc::Sender<Msg>,
    config: &SessionConfig,
) -> ConnectionEnd {
    loop {
        let msg = match tokio::time::timeout(config.read_timeout, stream.next()).await {
            Err(_) => return local(DisconnectReason::PingTimeout),
            Ok(None) => {
                return ConnectionEnd::remote(Stage::Session, DisconnectReason::TcpSubsystemError)
            }
            Ok(Some(Err(err))) => {
                tracing::debug!(%err, "read failed");
                // A failure the connection can still report (a MAC mismatch,
                // a message over a limit) gets its own reason; any other is
                // the network's.
                let reason =
                    C::disconnect_reason_for(&err).unwrap_or(DisconnectReason::TcpSubsystemError);
                return local(reason).with_error(StageError::new(err));
            }
            Ok(Some(Ok(msg))) => msg,
        };
        match msg.code {
            PING => {
                if base_tx.send(base::pong_msg()).await.is_err() {
                    return local(DisconnectReason::TcpSubsystemError);
                }
            }
            PONG => {}
            DISCONNECT => {
                let reason = DisconnectReason::decode_payload(&msg.payload)
                    .unwrap_or(DisconnectReason::ProtocolError);
                return ConnectionEnd::remote(Stage::Session, reason);
            }
            HELLO => return local(DisconnectReason::ProtocolError),
            // Base codes not defined yet: ignored, as go-ethereum does.
            code if code < BASE_PROTOCOL_LENGTH => {}
            _ => {
                if let Err(code) = inbound.route(msg).await {
                    tracing::debug!(code, "message code outside every capability");
                    return local(DisconnectReason::ProtocolError);
                }
            }
        }
    }
}

/// Writes until the session ends; returns how.
pub(super) async fn write_loop<S>(
    sink: &mut S,
    mut base_rx: mpsc::Receiver<Msg>,
    mut outbound: Outbound,
    config: &SessionConfig,
) -> ConnectionEnd
where
    S: Sink<Msg> + Unpin,
    S::Error: std::error::Error + Send + Sync + 'static,
{
    let mut ping = tokio::time::interval(config.ping_interval);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ping.tick().await;
    loop {
        let msg = tokio::select! {
            biased;
            Some(msg) = base_rx.recv() => msg,
            _ = ping.tick() => base::ping_msg(),
            msg = outbound.next() => msg,
        };
        let event = outbound.sent_event(&msg);
        match tokio::time::timeout(config.write_timeout, sink.send(msg)).await {
            Ok(Ok(())) => {
                if let Some((event, events)) = event {
                    let _ = events.send(event);
                }
            }
            Ok(Err(err)) => {
                tracing::debug!(%err, "write failed");
                return local(DisconnectReason::TcpSubsystemError).with_error(StageError::new(err));
            }
            Err(_) => return local(DisconnectReason::TcpSubsystemError),
        }
    }
}
