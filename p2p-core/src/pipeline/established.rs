//! [`Established`]: a peer both checkpoints admitted, as the session stage
//! takes it.

use std::sync::Arc;

use futures::future::BoxFuture;

use crate::base::DisconnectReason;
use crate::peer::PeerInfo;
use crate::protocol::Protocol;

/// A peer the checkpoints admitted, ready for its session.
pub struct Established<C> {
    /// The message connection.
    pub conn: C,
    /// What the handshakes revealed, with the capability table the Hello
    /// stage matched ([`PeerInfo::shared`]) and the trusted flag the
    /// checkpoint set.
    pub info: Arc<PeerInfo>,
    /// The protocol running each entry of `info.shared`, in the same order.
    pub protocols: Vec<Arc<dyn Protocol>>,
    /// Resolves with the reason to end the session from our side (the server
    /// stopping, the peer removed, a newer connection replacing this one).
    pub stop: BoxFuture<'static, DisconnectReason>,
}

impl<C> Established<C> {
    /// The same peer over `conn`: what a session layer that wraps the
    /// connection (to count or limit its messages) hands inward.
    pub fn map_conn<D>(self, wrap: impl FnOnce(C) -> D) -> Established<D> {
        Established {
            conn: wrap(self.conn),
            info: self.info,
            protocols: self.protocols,
            stop: self.stop,
        }
    }
}

impl<C> std::fmt::Debug for Established<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Established")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}
