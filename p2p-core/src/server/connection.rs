//! One connection task: a connection driven through the stages and the two
//! checkpoints, from its first byte to its end.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tower::{BoxError, ServiceExt};
use tracing::{debug, Instrument};

use super::early_end::EarlyEnds;
use super::peers::Admitted;
use super::{Command, HelloStack, SessionStack, SetupStack};
use crate::base::DisconnectReason;
use crate::identity::PeerId;
use crate::peer::PeerInfo;
use crate::pipeline::{
    send_disconnect, ConnGuards, Connecting, ConnectionEnd, Direction, Established,
    HandshakeTimeout, HelloError, MsgConn, Side, Stage, StageError,
};
use crate::service::disconnect_reason;

/// What every connection task needs, shared read-only.
pub(super) struct Context {
    pub commands: mpsc::Sender<Command>,
    pub handshake_timeout: Duration,
    /// Turns true when the server stops: handshakes in progress give up.
    pub closing: watch::Receiver<bool>,
    /// Connections that ended before their session.
    pub early_ends: EarlyEnds,
    /// The server's counts, shared with its handle.
    pub stats: Arc<super::stats::StatsCounters>,
}

/// The three stacks a connection passes through.
#[derive(Clone)]
pub(super) struct Stages<T, H, S> {
    pub setup: T,
    pub hello: H,
    pub session: S,
}

/// Resolves when the server starts closing.
pub(super) async fn closed(mut closing: watch::Receiver<bool>) {
    let _ = closing.wait_for(|closing| *closing).await;
}

/// One connection from its first byte to its end, as a task for the
/// supervisor. For dials (`dialed` is the target), reports the outcome to
/// the dial scheduler.
pub(super) fn connection<Io, C, T, H, S>(
    context: Arc<Context>,
    stages: Stages<T, H, S>,
    conn: Connecting<Io>,
    dialed: Option<PeerId>,
) -> BoxFuture<'static, ()>
where
    Io: Send + 'static,
    C: MsgConn + 'static,
    T: SetupStack<Io, C>,
    H: HelloStack<C>,
    S: SessionStack<C>,
{
    let span = tracing::info_span!("peer", addr = %conn.remote_addr, dir = ?conn.direction);
    Box::pin(
        async move {
            let admitted = run(&context, stages, conn).await;
            if let Some(id) = dialed {
                let _ = context.commands.send(Command::DialDone(id, admitted)).await;
            }
        }
        .instrument(span),
    )
}

/// Runs the stages; returns whether the peer was admitted.
///
/// The handshake runs boxed: its state (the connection in the hands of each
/// stage in turn, several kilobytes) is freed when it ends instead of being
/// laid out in this task for the whole session, and the session is called
/// directly rather than through `oneshot`, whose state would keep a second
/// slot the size of the connection. An idle peer costs what its session
/// holds and little more.
async fn run<Io, C, T, H, S>(
    context: &Context,
    stages: Stages<T, H, S>,
    conn: Connecting<Io>,
) -> bool
where
    Io: Send + 'static,
    C: MsgConn + 'static,
    T: SetupStack<Io, C>,
    H: HelloStack<C>,
    S: SessionStack<C>,
{
    let Stages {
        setup,
        hello,
        mut session,
    } = stages;
    let Some(admission) = Box::pin(handshake(context, setup, hello, conn)).await else {
        return false;
    };
    let end = match session.ready().await {
        Ok(ready) => match ready.call(admission.established).await {
            Ok(end) => end,
            Err(err) => session_failed(err.into()),
        },
        Err(err) => session_failed(err.into()),
    };
    drop(admission.guards);
    context.left(admission.id, admission.serial, end).await;
    true
}

/// A connection through both checkpoints, ready for its session.
struct Admission<C> {
    established: Established<C>,
    id: PeerId,
    serial: u64,
    /// What the Hello stack's layers hold until the session ends.
    guards: ConnGuards,
}

/// The setup and Hello stages and both checkpoints, within the handshake
/// deadline; `None` (the end recorded) when the connection ends on the way.
async fn handshake<Io, C, T, H>(
    context: &Context,
    setup: T,
    hello: H,
    conn: Connecting<Io>,
) -> Option<Box<Admission<C>>>
where
    Io: Send + 'static,
    C: MsgConn + 'static,
    T: SetupStack<Io, C>,
    H: HelloStack<C>,
{
    let deadline = Instant::now() + context.handshake_timeout;
    let direction = conn.direction;
    let ended_early = |end: ConnectionEnd| {
        context.early_ends.record(direction, &end);
        None
    };
    let mut authenticated = match context.within(deadline, setup.oneshot(conn)).await {
        Some(Ok(authenticated)) => authenticated,
        Some(Err(err)) => return ended_early(setup_end(err.into())),
        None => return ended_early(context.timed_out(Stage::Setup)),
    };
    let id = authenticated.conn.remote_id();
    let serial = match context.reserve(id, authenticated.direction).await {
        Ok(serial) => serial,
        Err(reason) => {
            // Refused before any Hello, as go-ethereum does.
            send_disconnect(&mut authenticated.conn, reason).await;
            return ended_early(ConnectionEnd::local(Stage::Admission, reason));
        }
    };
    let negotiated = match context.within(deadline, hello.oneshot(authenticated)).await {
        Some(Ok(negotiated)) => negotiated,
        Some(Err(err)) => {
            let end = hello_end::<C>(err.into());
            return context.left_early(id, serial, direction, end).await;
        }
        None => {
            let end = context.timed_out(Stage::Hello);
            return context.left_early(id, serial, direction, end).await;
        }
    };
    let mut conn = negotiated.conn;
    // The second checkpoint's own identity check: whatever Hello stack ran,
    // the peer is admitted under the key the encryption stage proved.
    let verdict = if negotiated.info.id == id {
        context.admit(serial, negotiated.info).await
    } else {
        Err(DisconnectReason::UnexpectedIdentity)
    };
    let Admitted { info, stop } = match verdict {
        Ok(admitted) => admitted,
        Err(reason) => {
            send_disconnect(&mut conn, reason).await;
            let end = ConnectionEnd::local(Stage::Checkpoint, reason);
            return context.left_early(id, serial, direction, end).await;
        }
    };
    let established = Established {
        conn,
        info,
        protocols: negotiated.protocols,
        stop: Box::pin(async move { stop.await.unwrap_or(DisconnectReason::ClientQuitting) }),
    };
    Some(Box::new(Admission {
        established,
        id,
        serial,
        guards: negotiated.guards,
    }))
}

impl Context {
    /// Runs `step` until the handshake `deadline` or the server's stop;
    /// `None` when either comes first.
    async fn within<F: std::future::Future>(
        &self,
        deadline: Instant,
        step: F,
    ) -> Option<F::Output> {
        tokio::select! {
            outcome = tokio::time::timeout_at(deadline, step) => outcome.ok(),
            _ = closed(self.closing.clone()) => None,
        }
    }

    fn timed_out(&self, stage: Stage) -> ConnectionEnd {
        let err = HandshakeTimeout(self.handshake_timeout);
        ConnectionEnd::failed(stage, Side::Local, StageError::new(err))
    }

    /// The first checkpoint: the supervisor's verdict on `id`.
    async fn reserve(&self, id: PeerId, direction: Direction) -> Result<u64, DisconnectReason> {
        self.ask(|reply| Command::Reserve {
            id,
            direction,
            reply,
        })
        .await
    }

    /// The second checkpoint: the supervisor's verdict on the reserved
    /// connection `serial`.
    async fn admit(&self, serial: u64, info: PeerInfo) -> Result<Admitted, DisconnectReason> {
        self.ask(|reply| Command::Admit {
            serial,
            info: Box::new(info),
            reply,
        })
        .await
    }

    /// Sends the supervisor the command `make` builds around a reply
    /// channel, and waits for the verdict; a supervisor that is gone means
    /// the server is stopping.
    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, DisconnectReason>>) -> Command,
    ) -> Result<T, DisconnectReason> {
        let (reply, verdict) = oneshot::channel();
        if self.commands.send(make(reply)).await.is_err() {
            return Err(DisconnectReason::ClientQuitting);
        }
        verdict
            .await
            .unwrap_or(Err(DisconnectReason::ClientQuitting))
    }

    /// Tells the supervisor that the connection `serial` of `id` ended.
    async fn left(&self, id: PeerId, serial: u64, end: ConnectionEnd) {
        let _ = self.commands.send(Command::Left { id, serial, end }).await;
    }

    /// The same for a connection that ended after the first checkpoint but
    /// before its session, counted as such; returns no admission.
    async fn left_early<C>(
        &self,
        id: PeerId,
        serial: u64,
        direction: Direction,
        end: ConnectionEnd,
    ) -> Option<Box<Admission<C>>> {
        self.early_ends.record(direction, &end);
        self.left(id, serial, end).await;
        None
    }
}

/// The side a failure most likely came from: the peer when the connection
/// was closed or reset under us, else ours (we detected the fault).
fn side_of(err: &StageError) -> Side {
    use std::io::ErrorKind::*;
    match err.find::<std::io::Error>().map(|err| err.kind()) {
        Some(UnexpectedEof | ConnectionReset | ConnectionAborted | BrokenPipe) => Side::Remote,
        _ => Side::Local,
    }
}

/// How a connection ends whose setup stack failed.
fn setup_end(err: BoxError) -> ConnectionEnd {
    let err = StageError::new(err);
    ConnectionEnd::failed(Stage::Setup, side_of(&err), err)
}

/// How a connection ends whose Hello stack failed: the remote's Disconnect,
/// the reason our stage sent, or a transport failure.
fn hello_end<C: MsgConn>(err: BoxError) -> ConnectionEnd {
    let err = StageError::new(err);
    let (side, reason) = match err.find::<HelloError<C::ConnError>>() {
        Some(HelloError::Disconnected(reason)) => (Side::Remote, Some(*reason)),
        Some(HelloError::Closed) => (Side::Remote, None),
        Some(hello) => (side_of(&err), hello.disconnect_reason()),
        // A layer around the Hello stage refused the peer.
        None => (Side::Local, Some(disconnect_reason(err.get()))),
    };
    ConnectionEnd {
        stage: Stage::Hello,
        side,
        reason,
        error: Some(err),
    }
}

/// How a session ends whose stack failed instead of returning an end.
fn session_failed(err: BoxError) -> ConnectionEnd {
    let reason = disconnect_reason(&*err);
    debug!(%err, %reason, "session stack failed");
    ConnectionEnd::local(Stage::Session, reason).with_error(StageError::new(err))
}
