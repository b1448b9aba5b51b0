//! One connection as data flowing through a chain of typed stages, each a
//! tower service whose request type says how far the connection has come:
//!
//! ```text
//! Connecting<Io>        accepted or dialed; the setup layers (peer filter,
//!   │                   inbound throttle, pending limit) wrap the next stage
//!   ▼ encryption stage  RLPx (p2p-rlpx) or any other transport
//! Authenticated<C>      the remote's key is proven
//!   ▼ checkpoint 1      ourselves? already connected? too many peers?
//!   ▼ Hello stage       Hello both ways, id check, snappy, capability matching
//! Negotiated<C>         the remote's Hello and the matched CapabilityTable
//!   ▼ checkpoint 2      a capability in common?
//! Established<C>        admitted
//!   ▼ session stage     base protocol and capability multiplexer
//! ConnectionEnd         the stage, side, reason and error it ended with
//! ```
//!
//! The checkpoints belong to the server (they read and change its peer set);
//! every stage between them is a service a server can wrap in layers or
//! replace. A stage that fails returns an error the server turns into a
//! [`ConnectionEnd`]; a stage that refuses a peer whose connection can
//! still carry a message sends the Disconnect itself ([`send_disconnect`],
//! [`Negotiated::refuse`]).

pub mod conn;
pub mod connecting;
pub mod end;
pub mod established;
pub mod hello;
pub mod inspect;
pub mod start;

pub use conn::{send_disconnect, MsgConn, DISCONNECT_WRITE_TIMEOUT};
pub use connecting::{Authenticated, ConnGuards, Connecting, Direction};
pub use end::{ConnectionEnd, HandshakeTimeout, Side, Stage, StageError};
pub use established::Established;
pub use hello::{exchange_hello, HelloError, HelloStage, Negotiated};
pub use inspect::{InspectConn, InspectError, MessageCheck};
pub use start::{StartSignal, StartWatch};
