//! The per-capability mode: each capability's messages on a unidirectional
//! stream of their own in each direction, so that a large message of one
//! capability does not hold back another's (QUIC interleaves the streams;
//! a TCP byte stream, or one QUIC stream, delivers in order).
//!
//! The base protocol (Hello, Disconnect, Ping, Pong) stays on the message
//! stream. A capability's stream starts with [`CAPABILITY_STREAM`] and the
//! capability's index in the table both sides matched from the two Hellos,
//! and carries that capability's messages, framed as on the message stream
//! and with their connection-level codes. A side opens its stream for a
//! capability when it first sends on it.
//!
//! Order holds within a capability, not across capabilities or between a
//! capability and the base protocol: a Disconnect may overtake the messages
//! of a capability queued before it.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use p2p_core::capability::CapabilityTable;
use p2p_core::Msg;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio_util::codec::{FramedRead, FramedWrite};
use tokio_util::sync::PollSender;

use crate::error::QuicError;
use crate::frame::MessageCodec;

/// The first byte of a capability's stream.
pub(crate) const CAPABILITY_STREAM: u8 = 0x01;

/// Messages of one capability queued for its stream: enough to keep the
/// stream busy, few enough that a stalled stream pushes back on the session
/// soon.
const LANE_QUEUE: usize = 16;

/// Messages read from all capability streams and not yet taken by the
/// session.
const INCOMING_QUEUE: usize = 64;

/// How long a peer has to write the header of a stream it opened.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// What the lanes learn from the Hello: snappy and the capability table.
#[derive(Clone, Debug)]
struct Settings {
    snappy: bool,
    table: CapabilityTable,
}

/// The per-capability streams of one connection.
pub(crate) struct Lanes {
    connection: quinn::Connection,
    max_message: usize,
    snappy: bool,
    settings: watch::Sender<Option<Settings>>,
    table: CapabilityTable,
    /// A sender per capability, once the table is known.
    outgoing: Vec<PollSender<Msg>>,
    /// A message taken by `start_send`, waiting for room in its lane.
    pub(crate) pending: Option<(usize, Msg)>,
    incoming: mpsc::Receiver<Result<Msg, QuicError>>,
    /// Given to each writer task, for its errors.
    errors: mpsc::Sender<Result<Msg, QuicError>>,
    tasks: JoinSet<()>,
}

impl Lanes {
    /// Starts accepting the peer's capability streams (their contents wait
    /// for the table).
    pub(crate) fn new(connection: quinn::Connection, max_message: usize) -> Self {
        let (settings, settings_rx) = watch::channel(None);
        let (tx, incoming) = mpsc::channel(INCOMING_QUEUE);
        let mut tasks = JoinSet::new();
        tasks.spawn(accept(
            connection.clone(),
            settings_rx,
            tx.clone(),
            max_message,
        ));
        Lanes {
            connection,
            max_message,
            snappy: false,
            settings,
            table: CapabilityTable::default(),
            outgoing: Vec::new(),
            pending: None,
            incoming,
            errors: tx,
            tasks,
        }
    }

    pub(crate) fn set_snappy(&mut self, enabled: bool) {
        self.snappy = enabled;
    }

    /// Starts a writer per capability and lets the acceptor read.
    pub(crate) fn set_capabilities(&mut self, table: &CapabilityTable) {
        self.table = table.clone();
        self.outgoing = (0..table.len())
            .map(|index| {
                let (tx, rx) = mpsc::channel(LANE_QUEUE);
                self.tasks.spawn(write(
                    self.connection.clone(),
                    index,
                    rx,
                    MessageCodec::with_snappy(self.max_message, self.snappy),
                    self.errors.clone(),
                ));
                PollSender::new(tx)
            })
            .collect();
        self.settings.send_replace(Some(Settings {
            snappy: self.snappy,
            table: table.clone(),
        }));
    }

    /// The lane of `msg`, if it belongs to a capability (else it goes on the
    /// message stream).
    pub(crate) fn lane_of(&self, msg: &Msg) -> Option<usize> {
        if self.outgoing.is_empty() {
            return None;
        }
        self.table.owner(msg.code).map(|(index, _)| index)
    }

    /// Moves the pending message into its lane once there is room.
    pub(crate) fn poll_pending(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), QuicError>> {
        use std::task::Poll;
        let Some((index, _)) = &self.pending else {
            return Poll::Ready(Ok(()));
        };
        let sender = &mut self.outgoing[*index];
        match sender.poll_reserve(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(_)) => Poll::Ready(Err(lane_gone())),
            Poll::Ready(Ok(())) => {
                let (_, msg) = self.pending.take().expect("checked above");
                sender.send_item(msg).map_err(|_| lane_gone())?;
                Poll::Ready(Ok(()))
            }
        }
    }

    /// The next message read from a capability stream, or the error that
    /// ends the connection.
    pub(crate) fn poll_incoming(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Msg, QuicError>>> {
        self.incoming.poll_recv(cx)
    }

    /// Lets the writers finish their streams: no more messages.
    pub(crate) fn close(&mut self) {
        for sender in &mut self.outgoing {
            sender.close();
        }
    }
}

impl Drop for Lanes {
    fn drop(&mut self) {
        self.tasks.abort_all();
    }
}

fn lane_gone() -> QuicError {
    QuicError::Stream(std::io::Error::new(
        std::io::ErrorKind::BrokenPipe,
        "capability stream closed",
    ))
}

/// Writes one capability's messages on a stream opened for its first one.
async fn write(
    connection: quinn::Connection,
    index: usize,
    mut queue: mpsc::Receiver<Msg>,
    codec: MessageCodec,
    errors: mpsc::Sender<Result<Msg, QuicError>>,
) {
    let result = async {
        let Some(first) = queue.recv().await else {
            return Ok(());
        };
        let mut send = connection.open_uni().await?;
        let index = u8::try_from(index).map_err(|_| QuicError::TooManyStreams)?;
        send.write_all(&[CAPABILITY_STREAM, index])
            .await
            .map_err(|err| QuicError::Stream(err.into()))?;
        let mut sink = FramedWrite::new(send, codec);
        sink.feed(first).await?;
        loop {
            // Written in batches: flushed when the queue runs dry.
            match queue.try_recv() {
                Ok(msg) => sink.feed(msg).await?,
                Err(mpsc::error::TryRecvError::Empty) => {
                    sink.flush().await?;
                    match queue.recv().await {
                        Some(msg) => sink.feed(msg).await?,
                        None => break,
                    }
                }
                Err(mpsc::error::TryRecvError::Disconnected) => break,
            }
        }
        sink.close().await
    }
    .await;
    if let Err(err) = result {
        let _ = errors.send(Err(err)).await;
    }
}

/// Accepts the peer's capability streams, and reads each in a task of its
/// own. A stream with a bad header, for a capability out of the table or
/// one already open ends the connection.
async fn accept(
    connection: quinn::Connection,
    mut settings: watch::Receiver<Option<Settings>>,
    incoming: mpsc::Sender<Result<Msg, QuicError>>,
    max_message: usize,
) {
    let opened = Arc::new(Mutex::new(Vec::<bool>::new()));
    let mut readers = JoinSet::new();
    loop {
        // A closed connection is reported by the message stream.
        let Ok(mut recv) = connection.accept_uni().await else {
            return;
        };
        let result = async {
            let mut header = [0u8; 2];
            tokio::time::timeout(HEADER_TIMEOUT, recv.read_exact(&mut header))
                .await
                .map_err(|_| QuicError::Malformed("stream header timed out"))?
                .map_err(|_| QuicError::Malformed("stream header"))?;
            if header[0] != CAPABILITY_STREAM {
                return Err(QuicError::StreamHeader(header[0]));
            }
            // The peer opens a capability's stream after its Hello, which
            // may still be on its way to us: wait for ours to be read.
            let Ok(known) = settings.wait_for(Option::is_some).await else {
                return Err(lane_gone());
            };
            let known = known.clone().expect("waited for");
            let index = usize::from(header[1]);
            if index >= known.table.len() {
                return Err(QuicError::StreamHeader(header[1]));
            }
            let mut opened = opened.lock().unwrap_or_else(PoisonError::into_inner);
            opened.resize(known.table.len(), false);
            if std::mem::replace(&mut opened[index], true) {
                return Err(QuicError::TooManyStreams);
            }
            Ok((index, known))
        }
        .await;
        match result {
            Ok((index, known)) => {
                readers.spawn(read(recv, index, known, max_message, incoming.clone()));
            }
            Err(err) => {
                let _ = incoming.send(Err(err)).await;
                return;
            }
        }
    }
}

/// Reads one capability's stream into the incoming queue.
async fn read(
    recv: quinn::RecvStream,
    index: usize,
    settings: Settings,
    max_message: usize,
    incoming: mpsc::Sender<Result<Msg, QuicError>>,
) {
    let capability = settings.table[index].clone();
    let mut messages = FramedRead::new(
        recv,
        MessageCodec::with_snappy(max_message, settings.snappy),
    );
    while let Some(read) = messages.next().await {
        let read = read.and_then(|msg| {
            if capability.owns(msg.code) {
                Ok(msg)
            } else {
                Err(QuicError::Malformed("a message of another capability"))
            }
        });
        let failed = read.is_err();
        if incoming.send(read).await.is_err() || failed {
            return;
        }
    }
}
