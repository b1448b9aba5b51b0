//! The capability multiplexer: one message stream split into one stream per
//! shared capability, and the capabilities' sends merged back.
//!
//! Inbound, a message goes to the capability the [`CapabilityTable`] says
//! owns its code, with the code made relative to the capability. Outbound,
//! the capabilities' queues are read in turn, so that a chatty capability
//! cannot starve the others. Every queue is bounded: a slow handler slows
//! the reading of its peer (transport back-pressure) instead of growing
//! memory.
//!
//! [`CapabilityTable`]: crate::capability::CapabilityTable

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::stream::SelectAll;
use futures::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::base::DisconnectReason;
use crate::msg::Msg;
use crate::peer::{Peer, PeerEvent, PeerInfo};
use crate::protocol::{CapabilityConn, Protocol};

use super::config::HANDLER_GRACE;

/// The capability handlers of one peer, each a task.
pub(super) struct Handlers(JoinSet<Result<(), DisconnectReason>>);

impl Handlers {
    /// The reason to end the session with once a handler has returned, or
    /// `None` when there are none (then this never resolves to `Some`).
    pub(super) async fn first_end(&mut self) -> Option<DisconnectReason> {
        let result = self.0.join_next().await?;
        Some(match result {
            // A capability that is done with the peer takes it along, as in
            // go-ethereum.
            Ok(Ok(())) => DisconnectReason::ClientQuitting,
            Ok(Err(reason)) => reason,
            Err(_) => DisconnectReason::SubprotocolError,
        })
    }

    /// Waits up to [`HANDLER_GRACE`] for every handler to return, then aborts
    /// those that have not.
    pub(super) async fn drain(mut self) {
        let drained = tokio::time::timeout(HANDLER_GRACE, async {
            while self.0.join_next().await.is_some() {}
        });
        if drained.await.is_err() {
            self.0.shutdown().await;
        }
    }
}

/// The inbound side: a queue per capability.
pub(super) struct Inbound {
    queues: Vec<mpsc::Sender<Msg>>,
    info: Arc<PeerInfo>,
    events: Option<tokio::sync::broadcast::Sender<PeerEvent>>,
}

impl Inbound {
    /// Routes connection-level message `msg` to its capability. `Err` when no
    /// capability owns its code: a breach of protocol.
    pub(super) async fn route(&self, msg: Msg) -> Result<(), u64> {
        let Some((index, shared)) = self.info.shared.owner(msg.code) else {
            return Err(msg.code);
        };
        let msg = Msg::new(msg.code - shared.offset, msg.payload);
        if let Some(events) = &self.events {
            let _ = events.send(PeerEvent::Message {
                id: self.info.id,
                capability: shared.capability.clone(),
                code: msg.code,
                size: msg.payload.len(),
                inbound: true,
            });
        }
        // A handler that has stopped reading has ended; its messages are
        // dropped until the session ends.
        let _ = self.queues[index].send(msg).await;
        Ok(())
    }
}

/// A capability's outbound queue as a stream, for round-robin merging.
struct QueueStream(mpsc::Receiver<Msg>);

impl Stream for QueueStream {
    type Item = Msg;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Msg>> {
        self.0.poll_recv(cx)
    }
}

/// The outbound side: the capabilities' queues, merged fairly.
pub(super) struct Outbound {
    queues: SelectAll<QueueStream>,
    info: Arc<PeerInfo>,
    events: Option<tokio::sync::broadcast::Sender<PeerEvent>>,
}

impl Outbound {
    /// The next message a capability sends (codes already connection-level);
    /// pending forever once every capability has closed its queue.
    pub(super) async fn next(&mut self) -> Msg {
        match self.queues.next().await {
            Some(msg) => msg,
            None => std::future::pending().await,
        }
    }

    /// The event announcing that `msg` was sent, if message events are on.
    pub(super) fn sent_event(
        &self,
        msg: &Msg,
    ) -> Option<(PeerEvent, &tokio::sync::broadcast::Sender<PeerEvent>)> {
        let events = self.events.as_ref()?;
        let (_, shared) = self.info.shared.owner(msg.code)?;
        let event = PeerEvent::Message {
            id: self.info.id,
            capability: shared.capability.clone(),
            code: msg.code - shared.offset,
            size: msg.payload.len(),
            inbound: false,
        };
        Some((event, events))
    }
}

/// Starts one handler per shared capability: `protocols[i]` runs
/// `info.shared[i]` with `peer`, over queues of `queue` messages.
pub(super) fn start(
    info: &Arc<PeerInfo>,
    protocols: &[Arc<dyn Protocol>],
    peer: &Peer,
    queue: usize,
    events: Option<tokio::sync::broadcast::Sender<PeerEvent>>,
) -> (Handlers, Inbound, Outbound) {
    let mut handlers = JoinSet::new();
    let mut inbound = Vec::with_capacity(protocols.len());
    let mut outbound = SelectAll::new();
    for (shared, protocol) in info.shared.iter().zip(protocols) {
        let (in_tx, in_rx) = mpsc::channel(queue);
        let (out_tx, out_rx) = mpsc::channel(queue);
        let conn = CapabilityConn::new(in_rx, out_tx, shared);
        handlers.spawn(protocol.run(peer.clone(), conn));
        inbound.push(in_tx);
        outbound.push(QueueStream(out_rx));
    }
    (
        Handlers(handlers),
        Inbound {
            queues: inbound,
            info: info.clone(),
            events: events.clone(),
        },
        Outbound {
            queues: outbound,
            info: info.clone(),
            events,
        },
    )
}
