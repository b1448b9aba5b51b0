//! The RLPx transport of devp2p (`rlpx.md`): the ECIES encryption handshake
//! (EIP-8, and the legacy format on receive), the authenticated frame codec
//! and snappy compression, offered as the encryption stage of the connection
//! pipeline ([`RlpxTransport`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use futures::{SinkExt, StreamExt};
//! use p2p_core::{base, NodeKey, PeerId};
//! use p2p_rlpx::RlpxStream;
//!
//! let key = NodeKey::random();
//! let remote: PeerId = "ca634cae0d49acb401d8a4c6b6fe8c55b70d115bf400769cc1400f3258cd31387574077f301b421bc84df7266c44e9e6d569fc56be00812904767bf5ccd1fc7f".parse()?;
//! let tcp = tokio::net::TcpStream::connect("127.0.0.1:30303").await?;
//! let mut conn = RlpxStream::connect(tcp, &key, remote).await?;
//! conn.send(base::ping_msg()).await?;
//! let reply = conn.next().await;
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

pub mod codec;
pub mod ecies;
pub mod error;
pub mod handshake;
pub mod mac;
pub mod secp;
pub mod service;
pub mod stream;

pub use codec::{FrameCodec, MAX_FRAME_SIZE, MAX_MESSAGE_SIZE};
pub use error::RlpxError;
pub use handshake::Secrets;
pub use service::{RlpxTransport, DEFAULT_HANDSHAKE_TIMEOUT};
pub use stream::{RlpxStream, FRAME_STALL_TIMEOUT};
