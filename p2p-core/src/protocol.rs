//! The plugin API: a capability is a value implementing [`Protocol`], run once
//! per peer that shares it, over its own [`CapabilityConn`].
//!
//! A plugin can live in its own crate that depends only on `p2p-core`:
//!
//! ```
//! use p2p_core::protocol::{CapabilityConn, Protocol, ProtocolFuture};
//! use p2p_core::{Capability, Msg, Peer};
//!
//! /// Answers every message with the same payload (code 0 = request, 1 = reply).
//! struct Echo;
//!
//! impl Protocol for Echo {
//!     fn capability(&self) -> Capability {
//!         Capability::new("echo", 1)
//!     }
//!     fn message_count(&self) -> u64 {
//!         2
//!     }
//!     fn run(&self, _peer: Peer, mut conn: CapabilityConn) -> ProtocolFuture {
//!         Box::pin(async move {
//!             while let Some(msg) = conn.recv().await {
//!                 if msg.code == 0 {
//!                     conn.send(Msg::new(1, msg.payload)).await?;
//!                 }
//!             }
//!             Ok(())
//!         })
//!     }
//! }
//! ```

use std::future::Future;
use std::pin::Pin;

use tokio::sync::mpsc;

use crate::base::{Capability, DisconnectReason};
use crate::capability::SharedCapability;
use crate::message::{CapabilityMessage, MessageError};
use crate::msg::Msg;
use crate::peer::Peer;

/// What [`Protocol::run`] returns: the capability's life with one peer. It
/// ends with `Ok(())` when the capability is done with the peer, or with the
/// reason to disconnect it.
pub type ProtocolFuture = Pin<Box<dyn Future<Output = Result<(), DisconnectReason>> + Send>>;

/// A capability plugin, as go-ethereum's `p2p.Protocol`.
pub trait Protocol: Send + Sync + 'static {
    /// The name and version announced in Hello.
    fn capability(&self) -> Capability;

    /// How many message codes the capability uses (its codes are
    /// `0..message_count` on its [`CapabilityConn`]).
    fn message_count(&self) -> u64;

    /// Runs the capability with one peer. Called once per peer that shares
    /// the capability, in a task of its own; the connection ends when it
    /// returns (as in go-ethereum, a capability that returns takes the peer
    /// with it).
    fn run(&self, peer: Peer, conn: CapabilityConn) -> ProtocolFuture;
}

/// Why a message could not be sent on a capability.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The code is outside the capability's range.
    #[error("message code {code} is outside the capability's {count} codes")]
    CodeOutOfRange {
        /// The code given.
        code: u64,
        /// The capability's number of codes.
        count: u64,
    },
    /// The session has ended.
    #[error("the peer session has ended")]
    Closed,
}

impl From<SendError> for DisconnectReason {
    fn from(err: SendError) -> Self {
        match err {
            SendError::CodeOutOfRange { .. } => DisconnectReason::SubprotocolError,
            SendError::Closed => DisconnectReason::Requested,
        }
    }
}

/// Sends messages on one capability of one peer; cheap to clone, so a plugin
/// can send from several tasks.
#[derive(Clone, Debug)]
pub struct CapabilitySender {
    tx: mpsc::Sender<Msg>,
    offset: u64,
    count: u64,
}

impl CapabilitySender {
    /// Sends `msg`, its code relative to the capability. Waits while the
    /// peer's send queue is full: a slow peer slows its senders down instead
    /// of growing memory.
    pub async fn send(&self, msg: Msg) -> Result<(), SendError> {
        let msg = self.to_connection(msg)?;
        self.tx.send(msg).await.map_err(|_| SendError::Closed)
    }

    fn to_connection(&self, mut msg: Msg) -> Result<Msg, SendError> {
        if msg.code >= self.count {
            return Err(SendError::CodeOutOfRange {
                code: msg.code,
                count: self.count,
            });
        }
        msg.code += self.offset;
        Ok(msg)
    }
}

/// One capability's view of a peer connection: its inbound messages and a way
/// to send, with codes relative to the capability.
///
/// `recv` returns `None` when the session ends.
#[derive(Debug)]
pub struct CapabilityConn {
    inbound: mpsc::Receiver<Msg>,
    sender: CapabilitySender,
    capability: Capability,
}

impl CapabilityConn {
    /// A connection for `shared`, fed by `inbound` (codes already relative)
    /// and sending to `outbound` with the capability's offset added. Sessions
    /// build these; tests may too.
    pub fn new(
        inbound: mpsc::Receiver<Msg>,
        outbound: mpsc::Sender<Msg>,
        shared: &SharedCapability,
    ) -> Self {
        CapabilityConn {
            inbound,
            sender: CapabilitySender {
                tx: outbound,
                offset: shared.offset,
                count: shared.length,
            },
            capability: shared.capability.clone(),
        }
    }

    /// The capability and version this connection runs.
    pub fn capability(&self) -> &Capability {
        &self.capability
    }

    /// The next inbound message, `None` once the session has ended.
    pub async fn recv(&mut self) -> Option<Msg> {
        self.inbound.recv().await
    }

    /// The next inbound message decoded as `M` for the version this
    /// connection runs; `None` once the session has ended. A message that
    /// does not decode is an error the plugin usually ends the peer with
    /// (`?` turns it into [`DisconnectReason::SubprotocolError`]).
    pub async fn recv_message<M: CapabilityMessage>(&mut self) -> Option<Result<M, MessageError>> {
        let msg = self.recv().await?;
        Some(M::decode(self.capability.version, &msg))
    }

    /// Sends `msg`, its code relative to the capability.
    pub async fn send(&self, msg: Msg) -> Result<(), SendError> {
        self.sender.send(msg).await
    }

    /// Sends a typed message.
    pub async fn send_message<M: CapabilityMessage>(&self, message: &M) -> Result<(), SendError> {
        self.sender.send(message.to_msg()).await
    }

    /// A clonable sender for this capability.
    pub fn sender(&self) -> CapabilitySender {
        self.sender.clone()
    }
}
