//! The session stage: a peer's life after both checkpoints, from the end of
//! the Hello exchange to the end of the connection.
//!
//! [`SessionService`] is the stage as a tower service: an [`Established`]
//! peer in, its [`ConnectionEnd`] out, the future living as long as the
//! peer. It runs the base protocol (Ping/Pong keepalive, Disconnect, read and
//! write deadlines) and the capability multiplexer that feeds one handler task per shared capability. Reading and
//! writing run concurrently, so two peers sending large messages at each
//! other never deadlock.
//!
//! Layers wrapped around the service see each peer's whole session (tracing
//! spans, a limit on concurrent sessions, a wrapper on the connection that
//! reads the capability table from [`PeerInfo::shared`]); a server may also
//! replace the service with its own multiplexer.

mod base;
mod config;
mod mux;

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use futures::StreamExt;
use tokio::sync::mpsc;

pub use config::{
    SessionConfig, DEFAULT_PING_INTERVAL, DEFAULT_QUEUE, DEFAULT_READ_TIMEOUT,
    DEFAULT_WRITE_TIMEOUT, HANDLER_GRACE,
};

use crate::base::DisconnectReason;
use crate::peer::{Peer, PeerInfo};
use crate::pipeline::{send_disconnect, ConnectionEnd, Established, MsgConn, Stage};
use crate::protocol::Protocol;

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
) -> ConnectionEnd
where
    C: MsgConn,
    S: Future<Output = DisconnectReason>,
{
    assert_eq!(
        protocols.len(),
        info.shared.len(),
        "one protocol per shared capability"
    );
    let (disconnect_tx, mut disconnect_rx) = mpsc::channel(1);
    let peer = Peer::new(info.clone(), disconnect_tx);
    let (mut handlers, inbound, outbound) = mux::start(
        &info,
        &protocols,
        &peer,
        config.queue,
        config.msg_events.clone(),
    );
    let (mut sink, stream) = conn.split();
    let (base_tx, base_rx) = mpsc::channel(config.queue);
    let end = {
        let reader = base::read_loop::<C>(stream, &inbound, base_tx, config);
        let writer = base::write_loop(&mut sink, base_rx, outbound, config);
        tokio::pin!(reader, writer, shutdown);
        tokio::select! {
            end = &mut reader => end,
            end = &mut writer => end,
            Some(reason) = disconnect_rx.recv() => ConnectionEnd::local(Stage::Session, reason),
            Some(reason) = handlers.first_end() => ConnectionEnd::local(Stage::Session, reason),
            reason = &mut shutdown => ConnectionEnd::local(Stage::Session, reason),
        }
    };
    if !end.by_remote() {
        if let Some(reason) = end.reason {
            send_disconnect(&mut sink, reason).await;
        }
    }
    // Closing the queues ends every handler's `recv` and fails its `send`.
    drop(inbound);
    handlers.drain().await;
    end
}

/// The session stage as a tower service; see the [module
/// documentation](self).
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

    /// The configuration sessions run with.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }
}

impl<C: MsgConn + 'static> tower::Service<Established<C>> for SessionService {
    type Response = ConnectionEnd;
    type Error = std::convert::Infallible;
    type Future = BoxFuture<'static, Result<ConnectionEnd, Self::Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, peer: Established<C>) -> Self::Future {
        let config = self.config.clone();
        Box::pin(async move {
            Ok(run_session(peer.conn, peer.info, peer.protocols, &config, peer.stop).await)
        })
    }
}
