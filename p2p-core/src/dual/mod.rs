//! Two transports in one server: RLPx over TCP and QUIC over UDP, say,
//! listening side by side and sharing one peer set.
//!
//! A [`DualNetwork`] listens on both networks and dials through whichever the
//! node's record offers (the first network when it offers both); its raw
//! connections are an [`Either`](futures::future::Either) of the two. A
//! [`DualStage`] hands each to its own transport's encryption stage, and the
//! connections come out as one type, [`EitherConn`], so the Hello stage, the
//! checkpoints and the session above see one kind of connection. Since the
//! peer set is the server's, a node connected over one transport is a
//! duplicate over the other, and the peer limits count both.
//!
//! ```
//! use p2p_core::dual::{DualNetwork, DualStage};
//! use p2p_core::network::{MemNetwork, TcpNetwork};
//!
//! // The second network listens on the first one's port + 1 unless told.
//! let network = DualNetwork::new(TcpNetwork::new(), MemNetwork::new()).second_port(Some(9001));
//! # let _ = network;
//! ```

mod conn;
mod network;
mod stage;

pub use conn::{EitherConn, EitherError};
pub use network::{DualListener, DualNetwork};
pub use stage::DualStage;
