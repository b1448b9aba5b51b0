//! The supervisor task: the one owner of the peer set, the dial scheduler
//! and the static and trusted sets. It answers the checkpoints, starts
//! dials and connection tasks, publishes events, and stops everything.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinSet;
use tracing::debug;

use super::connection::{closed, connection, Context, Stages};
use super::early_end::EarlyEnds;
use super::peers::{Admitted, Limits, PeerSet};
use super::stats::StatsCounters;
use super::{Command, HelloStack, SessionStack, SetupStack, COMMAND_QUEUE};
use crate::base::DisconnectReason;
use crate::candidates::{FairMix, FairMixAdder};
use crate::config::Config;
use crate::dial::{DialConfig, DialScheduler};
use crate::identity::PeerId;
use crate::network::{NetListener, Network};
use crate::node_addr::NodeAddr;
use crate::peer::{PeerEvent, PeerInfo};
use crate::pipeline::{Connecting, ConnectionEnd, Direction, MsgConn, Stage};

/// The supervisor's state; see the [module documentation](self).
pub(super) struct Supervisor<N, T, H, S> {
    /// The `instance` label of this server's metrics.
    metrics_instance: String,
    network: N,
    stages: Stages<T, H, S>,
    context: Arc<Context>,
    config: Config,
    peers: PeerSet,
    trusted: HashSet<PeerId>,
    dial: DialScheduler,
    events: broadcast::Sender<PeerEvent>,
    tasks: JoinSet<()>,
    commands: mpsc::Receiver<Command>,
    closing: watch::Sender<bool>,
    /// The candidate sources, mixed. The supervisor reads them itself, and
    /// only while the dial scheduler wants candidates: discovery then does its
    /// work (lookups, DNS queries) only when its results will be used, as
    /// go-ethereum's dialer reads its node iterator only with free slots.
    candidates: FairMix<NodeAddr>,
}

impl<N, T, H, S> Supervisor<N, T, H, S>
where
    N: Network,
    H: Clone + Send + 'static,
    S: Clone + Send + 'static,
    T: Clone + Send + 'static,
{
    /// A supervisor for the node `local_id`, with the channels the handle
    /// talks to it through: its command queue and the candidate sources.
    pub(super) fn new(
        local_id: PeerId,
        network: N,
        stages: Stages<T, H, S>,
        config: Config,
        events: broadcast::Sender<PeerEvent>,
    ) -> (
        Self,
        mpsc::Sender<Command>,
        FairMixAdder<NodeAddr>,
        Arc<StatsCounters>,
    ) {
        let (commands, command_rx) = mpsc::channel(COMMAND_QUEUE);
        let (closing_tx, closing) = watch::channel(false);
        let (candidates, candidate_sources) = FairMix::new();
        let mut dial = DialScheduler::new(
            DialConfig::from_peers(config.max_peers, config.dial_ratio).with_self_id(local_id),
        );
        for node in &config.static_nodes {
            dial.add_static(*node);
        }
        let metrics_instance = crate::layers::metrics::instance_label(&local_id);
        let stats = Arc::new(StatsCounters::default());
        let supervisor = Supervisor {
            network,
            stages,
            context: Arc::new(Context {
                commands: commands.clone(),
                handshake_timeout: config.handshake_timeout,
                closing,
                early_ends: EarlyEnds::new(&metrics_instance, stats.clone()),
                stats: stats.clone(),
            }),
            metrics_instance,
            peers: PeerSet::new(local_id),
            trusted: config.trusted_nodes.iter().map(|n| n.id).collect(),
            config,
            dial,
            events,
            tasks: JoinSet::new(),
            commands: command_rx,
            closing: closing_tx,
            candidates,
        };
        (supervisor, commands, candidate_sources, stats)
    }

    pub(super) async fn run<C>(mut self, listener: Option<N::Listener>)
    where
        C: MsgConn + 'static,
        T: SetupStack<N::Io, C>,
        H: HelloStack<C>,
        S: SessionStack<C>,
    {
        let context = self.context.clone();
        self.tasks
            .spawn(async move { context.early_ends.summarise(context.closing.clone()).await });
        if let Some(listener) = listener {
            let (context, stages) = (self.context.clone(), self.stages.clone());
            let closing = self.context.closing.clone();
            self.tasks.spawn(async move {
                tokio::select! {
                    _ = accept_loop(listener, context, stages) => {}
                    _ = closed(closing) => {}
                }
            });
        }
        let stop_reply = loop {
            self.start_dials();
            let wants_candidates = self.dial.wants_candidates();
            let wakeup = self.dial.next_wakeup();
            let sleep = async {
                match wakeup {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            let command = tokio::select! {
                command = self.commands.recv() => command,
                _ = sleep => continue,
                Some(_) = self.tasks.join_next(), if !self.tasks.is_empty() => continue,
                Some(node) = self.candidates.next(), if wants_candidates => {
                    self.dial.add_candidate(node, Instant::now());
                    continue;
                }
            };
            match command {
                Some(Command::Stop(reply)) => break Some(reply),
                Some(command) => self.handle(command),
                None => break None,
            }
        };
        self.shutdown().await;
        if let Some(reply) = stop_reply {
            let _ = reply.send(());
        }
    }

    fn handle(&mut self, command: Command) {
        let now = Instant::now();
        match command {
            Command::Spawn(task) => {
                self.tasks.spawn(task);
            }
            Command::Reserve {
                id,
                direction,
                reply,
            } => {
                let _ = reply.send(self.reserve(id, direction));
            }
            Command::Admit {
                serial,
                info,
                reply,
            } => {
                let _ = reply.send(self.admit(serial, *info, now));
            }
            Command::Left { id, serial, end } => self.left(id, serial, end, now),
            Command::DialDone(id, admitted) => {
                self.dial.dial_finished(&id, admitted, now);
            }
            Command::AddPeer(node) => {
                self.dial.add_static(node);
            }
            Command::RemovePeer(id) => {
                self.dial.remove_static(&id);
                self.peers.stop(&id, DisconnectReason::Requested);
            }
            Command::AddTrusted(id) => {
                self.trusted.insert(id);
            }
            Command::RemoveTrusted(id) => {
                self.trusted.remove(&id);
            }
            Command::Peers(reply) => {
                let _ = reply.send(self.peers.peers());
            }
            Command::Stop(_) => unreachable!("handled by the loop"),
        }
    }

    /// The first checkpoint.
    fn reserve(&mut self, id: PeerId, direction: Direction) -> Result<u64, DisconnectReason> {
        let limits = Limits {
            max_peers: self.config.max_peers,
            max_inbound: self.config.max_inbound(),
            max_outbound: self.config.max_outbound(),
        };
        let trusted = self.trusted.contains(&id);
        let is_static = self.dial.is_static(&id);
        let reservation = self
            .peers
            .reserve(id, direction, trusted, is_static, limits)?;
        if let Some(replaced) = reservation.replaced {
            debug!(%id, kept = ?direction, "simultaneous connections: keeping the one the lower id dialed");
            if let Some(stop) = replaced.stop {
                let _ = stop.send(DisconnectReason::AlreadyConnected);
            }
            self.record_peers();
            let end = ConnectionEnd::local(Stage::Session, DisconnectReason::AlreadyConnected);
            debug!(%id, %end, "peer replaced by a newer connection");
            let _ = self.events.send(PeerEvent::Dropped { id, end });
        }
        Ok(reservation.serial)
    }

    /// The second checkpoint.
    fn admit(
        &mut self,
        serial: u64,
        info: PeerInfo,
        now: Instant,
    ) -> Result<Admitted, DisconnectReason> {
        let admitted = self.peers.admit(serial, info)?;
        let info = &admitted.info;
        self.dial.peer_added(info.id, info.direction, now);
        self.context.stats.became_peer(info.direction);
        self.record_peers();
        // Per-peer lines are debug: the application hears of each peer
        // through `PeerEvent` and logs it as it likes; a library line at
        // info as well would print every peer twice.
        debug!(id = %info.id, addr = %info.remote_addr, dir = ?info.direction, client = %info.client_id, "peer added");
        let _ = self.events.send(PeerEvent::Added(info.clone()));
        Ok(admitted)
    }

    /// A connection that passed the first checkpoint ended.
    fn left(&mut self, id: PeerId, serial: u64, end: ConnectionEnd, now: Instant) {
        let Some(left) = self.peers.leave(&id, serial) else {
            return;
        };
        if left.was_connected {
            self.dial.peer_removed(&id, now);
        }
        if left.info.is_some() {
            self.record_peers();
            debug!(%id, %end, "peer dropped");
            let _ = self.events.send(PeerEvent::Dropped { id, end });
        }
    }

    /// Publishes the peer counts by direction (a no-op without a metrics
    /// recorder).
    fn record_peers(&self) {
        let (inbound, outbound) = self.peers.active_counts();
        crate::layers::metrics::record_peers(&self.metrics_instance, inbound, outbound);
    }

    fn start_dials<C>(&mut self)
    where
        C: MsgConn + 'static,
        T: SetupStack<N::Io, C>,
        H: HelloStack<C>,
        S: SessionStack<C>,
    {
        if self.config.no_dial {
            return;
        }
        for node in self.dial.poll_dials(Instant::now()) {
            let id = node.id();
            let Some(addr) = self.network.dial_addr(&node) else {
                debug!(%node, "no address for this transport");
                self.dial.dial_finished(&id, false, Instant::now());
                continue;
            };
            if !self.config.allows_ip(addr.ip()) {
                self.dial.dial_finished(&id, false, Instant::now());
                continue;
            }
            let (context, stages) = (self.context.clone(), self.stages.clone());
            context.stats.dialed();
            let dial_timeout = self.config.dial_timeout;
            let network = self.network.clone();
            self.tasks.spawn(async move {
                let connect = tokio::time::timeout(dial_timeout, network.connect(&node, addr));
                let connected = tokio::select! {
                    connected = connect => connected,
                    _ = closed(context.closing.clone()) => return,
                };
                match connected {
                    Ok(Ok(io)) => {
                        let conn = Connecting::outbound(io, addr, id);
                        connection(context, stages, conn, Some(id)).await
                    }
                    Ok(Err(err)) => {
                        debug!(%addr, %err, "dial failed");
                        context.stats.dial_failed();
                        let _ = context.commands.send(Command::DialDone(id, false)).await;
                    }
                    Err(_) => {
                        debug!(%addr, "dial timed out");
                        context.stats.dial_failed();
                        let _ = context.commands.send(Command::DialDone(id, false)).await;
                    }
                }
            });
        }
    }

    /// Stops accepting and dialing, disconnects every peer, and waits for
    /// every task to end while still serving their last requests.
    async fn shutdown(&mut self) {
        debug!(peers = self.peers.len(), "stopping");
        // Stops the accept loop, dials and handshakes in progress.
        let _ = self.closing.send(true);
        self.peers.stop_all(DisconnectReason::ClientQuitting);
        let deadline = tokio::time::sleep(crate::session::HANDLER_GRACE * 2);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                joined = self.tasks.join_next() => {
                    if joined.is_none() {
                        break;
                    }
                }
                Some(command) = self.commands.recv() => self.handle_while_stopping(command),
                _ = &mut deadline => {
                    // Only a task ignoring every signal gets here; cut it short.
                    self.tasks.abort_all();
                }
            }
        }
        // Tasks queue their last words (a session's end) before they finish:
        // every one of them is in the queue by now.
        while let Ok(command) = self.commands.try_recv() {
            self.handle_while_stopping(command);
        }
    }

    /// Serves what still arrives while stopping: sessions ending are reported,
    /// newcomers refused, queries answered.
    fn handle_while_stopping(&mut self, command: Command) {
        match command {
            Command::Reserve { reply, .. } => {
                let _ = reply.send(Err(DisconnectReason::ClientQuitting));
            }
            Command::Admit { reply, .. } => {
                let _ = reply.send(Err(DisconnectReason::ClientQuitting));
            }
            Command::Left { id, serial, end } => self.left(id, serial, end, Instant::now()),
            Command::Stop(reply) => {
                let _ = reply.send(());
            }
            Command::Peers(reply) => {
                let _ = reply.send(self.peers.peers());
            }
            // Accepted connections are dropped unstarted: we are closing.
            _ => {}
        }
    }
}

/// Accepts inbound connections and hands their tasks to the supervisor.
async fn accept_loop<L, C, T, H, S>(mut listener: L, context: Arc<Context>, stages: Stages<T, H, S>)
where
    L: NetListener,
    L::Io: Send + 'static,
    C: MsgConn + 'static,
    T: SetupStack<L::Io, C>,
    H: HelloStack<C>,
    S: SessionStack<C>,
{
    loop {
        match listener.accept().await {
            Ok((io, remote)) => {
                context.stats.accepted();
                let conn = Connecting::inbound(io, remote);
                let task = connection(context.clone(), stages.clone(), conn, None);
                if context.commands.send(Command::Spawn(task)).await.is_err() {
                    return;
                }
            }
            Err(err) => {
                // Out of file descriptors and the like: back off a little
                // rather than spin.
                debug!(%err, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}
