//! How a connection ends: [`ConnectionEnd`], the typed reason carried from
//! the stage that ended it up to the server's events and logs.
//!
//! A string would be enough for a log line, but not for a program that acts
//! on it: a peer manager wants to know whether the remote refused us (and
//! with which reason), whether we refused it, or whether the transport
//! failed, and a test wants to tell a MAC failure from a timeout. So the end
//! keeps the stage, the side, the Disconnect reason and the error itself,
//! which stays downcastable to the transport's own type
//! ([`StageError::find`]).

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

use crate::base::DisconnectReason;

/// Where in the pipeline a connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Before or during the encryption handshake: the setup layers (peer
    /// filter, throttle, pending limit) or the transport itself.
    Setup,
    /// At the first checkpoint, right after the encryption handshake:
    /// ourselves, already connected, too many peers.
    Admission,
    /// During the Hello exchange (or a layer around the Hello stage).
    Hello,
    /// At the second checkpoint, after the Hello: no capability in common.
    Checkpoint,
    /// During the session of an admitted peer.
    Session,
}

impl Stage {
    /// A short lowercase name, for logs and metric labels.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Setup => "setup",
            Stage::Admission => "admission",
            Stage::Hello => "hello",
            Stage::Checkpoint => "checkpoint",
            Stage::Session => "session",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which side ended a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// We did: a refusal, a limit, a protocol breach by the peer that we
    /// detected, or our own shutdown.
    Local,
    /// The peer did: it sent Disconnect or closed the connection.
    Remote,
}

/// The error behind a connection's end, kept whole: its type, its source
/// chain and its message. Cheap to clone.
///
/// Two `StageError`s are equal only when they are the same occurrence
/// (clones of one error).
#[derive(Clone)]
pub struct StageError(Arc<dyn StdError + Send + Sync + 'static>);

impl StageError {
    /// Wraps `err`.
    pub fn new(err: impl Into<Box<dyn StdError + Send + Sync + 'static>>) -> Self {
        StageError(Arc::from(err.into()))
    }

    /// The error itself.
    pub fn get(&self) -> &(dyn StdError + Send + Sync + 'static) {
        &*self.0
    }

    /// The first error of type `T` in the error and its source chain: how a
    /// program reads the transport's own error (`find::<RlpxError>()`).
    pub fn find<T: StdError + 'static>(&self) -> Option<&T> {
        let mut current: Option<&(dyn StdError + 'static)> = Some(self.get());
        while let Some(err) = current {
            if let Some(found) = err.downcast_ref::<T>() {
                return Some(found);
            }
            current = err.source();
        }
        None
    }
}

impl fmt::Display for StageError {
    /// The error and each of its sources, separated by `: `.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(err) = source {
            write!(f, ": {err}")?;
            source = err.source();
        }
        Ok(())
    }
}

impl fmt::Debug for StageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl PartialEq for StageError {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for StageError {}

/// The handshake deadline passed: the setup stack and the Hello exchange
/// together took longer than the server's `handshake_timeout`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("handshake deadline of {0:?} passed")]
pub struct HandshakeTimeout(pub std::time::Duration);

/// How a connection ended: the stage, the side, the Disconnect reason sent
/// or received (none when the connection ended without one, as when the
/// encryption handshake fails), and the error behind it, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionEnd {
    /// Where it ended.
    pub stage: Stage,
    /// Who ended it.
    pub side: Side,
    /// The Disconnect reason we sent or the peer sent.
    pub reason: Option<DisconnectReason>,
    /// The failure behind it (a transport error, a refusal by a layer), if
    /// any.
    pub error: Option<StageError>,
}

impl ConnectionEnd {
    /// We ended it at `stage` with `reason`.
    pub fn local(stage: Stage, reason: DisconnectReason) -> Self {
        ConnectionEnd {
            stage,
            side: Side::Local,
            reason: Some(reason),
            error: None,
        }
    }

    /// The peer ended it at `stage` with `reason`.
    pub fn remote(stage: Stage, reason: DisconnectReason) -> Self {
        ConnectionEnd {
            stage,
            side: Side::Remote,
            reason: Some(reason),
            error: None,
        }
    }

    /// It ended at `stage` because of `error`, on `side`.
    pub fn failed(stage: Stage, side: Side, error: StageError) -> Self {
        ConnectionEnd {
            stage,
            side,
            reason: None,
            error: Some(error),
        }
    }

    /// The same end with `error` attached.
    pub fn with_error(mut self, error: StageError) -> Self {
        self.error = Some(error);
        self
    }

    /// Whether the peer ended it.
    pub fn by_remote(&self) -> bool {
        self.side == Side::Remote
    }
}

impl fmt::Display for ConnectionEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let side = match self.side {
            Side::Local => "we ended it",
            Side::Remote => "the peer ended it",
        };
        write!(f, "{side} at {}", self.stage)?;
        if let Some(reason) = self.reason {
            write!(f, " with {reason}")?;
        }
        if let Some(err) = &self.error {
            write!(f, " ({err})")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn the_transport_error_is_found_through_wrappers() {
        let err = StageError::new(Outer(std::io::Error::other("mac mismatch")));
        assert!(err.find::<Outer>().is_some());
        assert_eq!(
            err.find::<std::io::Error>().unwrap().to_string(),
            "mac mismatch"
        );
        assert!(err.find::<std::fmt::Error>().is_none());
        assert_eq!(err.to_string(), "outer: mac mismatch");
        assert_eq!(err, err.clone());
        assert_ne!(err, StageError::new(Outer(std::io::Error::other("x"))));
    }

    #[test]
    fn ends_read_as_sentences() {
        let end = ConnectionEnd::remote(Stage::Session, DisconnectReason::TooManyPeers);
        assert!(end.by_remote());
        assert_eq!(
            end.to_string(),
            "the peer ended it at session with too many peers (0x04)"
        );
        let failed = ConnectionEnd::failed(
            Stage::Setup,
            Side::Local,
            StageError::new(std::io::Error::other("refused")),
        );
        assert_eq!(failed.to_string(), "we ended it at setup (refused)");
    }
}
