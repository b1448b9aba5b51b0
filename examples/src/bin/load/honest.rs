//! An honest peer: RLPx, Hello, the eth Status exchange, then a steady
//! stream of requests whose round trips are measured.
//!
//! The peer mirrors the target's Status (same network, genesis, fork id and
//! head), so one load program passes the Status check of any node on any
//! chain, ours and go-ethereum's alike, without being configured for it.

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use p2p_core::base::{self, BASE_PROTOCOL_VERSION};
use p2p_core::{exchange_hello, Capability, DisconnectReason, Enode, Hello, Msg, NodeKey};
use p2p_protocols::eth::messages::{EthMessage, GetBlockHeaders};
use p2p_protocols::eth::types::HashOrNumber;
use p2p_rlpx::{RlpxError, RlpxStream};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::latency::Latencies;
use crate::sources;

/// Where eth's messages start: right after the base protocol's 16 codes, eth
/// being the only capability the load peer offers.
const ETH: u64 = base::BASE_PROTOCOL_LENGTH;
/// eth's Status, relative to the capability.
const STATUS: u64 = 0x00;
/// eth's BlockHeaders, relative to the capability.
const BLOCK_HEADERS: u64 = 0x04;
/// The eth versions offered; the target picks the highest it shares.
const ETH_VERSIONS: [u32; 2] = [68, 69];
/// Requests in flight at once per peer past which the peer stops sending:
/// a target that answers nothing must not make the load grow without bound.
const MAX_IN_FLIGHT: usize = 16;

/// Why an honest peer failed or left.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// The TCP connection failed.
    #[error("connect: {0}")]
    Connect(std::io::Error),
    /// The encryption handshake or a frame failed.
    #[error("rlpx: {0}")]
    Rlpx(#[from] RlpxError),
    /// The Hello exchange failed.
    #[error("hello: {0}")]
    Hello(String),
    /// The target shares no eth version with the load.
    #[error("no shared eth version")]
    NoEth,
    /// The target sent Disconnect.
    #[error("disconnected: {0}")]
    Disconnected(DisconnectReason),
    /// The target closed the connection without a Disconnect.
    #[error("connection closed")]
    Closed,
    /// A step took longer than allowed.
    #[error("timed out")]
    Timeout,
}

impl PeerError {
    /// A short name for counting failures by kind.
    pub fn kind(&self) -> String {
        match self {
            PeerError::Connect(e) => format!("connect: {}", e.kind()),
            PeerError::Rlpx(_) => "rlpx".into(),
            PeerError::Hello(_) => "hello".into(),
            PeerError::NoEth => "no eth".into(),
            PeerError::Disconnected(reason) => format!("disconnect: {}", reason.name()),
            PeerError::Closed => "closed".into(),
            PeerError::Timeout => "timeout".into(),
        }
    }
}

/// A peer past its handshakes, ready to send requests.
pub struct EthPeer {
    conn: RlpxStream<TcpStream>,
    next_id: u64,
    /// When each request in flight was sent, oldest first.
    in_flight: VecDeque<(u64, Instant)>,
}

/// Connects from `source` to `target` as a new node, and runs the RLPx
/// handshake, Hello and the eth Status exchange, all within `limit`.
pub async fn connect(
    target: &Enode,
    source: Ipv4Addr,
    limit: Duration,
) -> Result<EthPeer, PeerError> {
    tokio::time::timeout(limit, handshakes(target, source))
        .await
        .map_err(|_| PeerError::Timeout)?
}

async fn handshakes(target: &Enode, source: Ipv4Addr) -> Result<EthPeer, PeerError> {
    let key = NodeKey::random();
    let tcp = sources::connect(source, target.tcp_addr())
        .await
        .map_err(PeerError::Connect)?;
    let mut conn = RlpxStream::connect(tcp, &key, target.id).await?;
    let ours = Hello {
        protocol_version: BASE_PROTOCOL_VERSION,
        client_id: format!("devp2p-rs-load/v{}", env!("CARGO_PKG_VERSION")),
        capabilities: ETH_VERSIONS
            .iter()
            .map(|&v| Capability::new("eth", v))
            .collect(),
        listen_port: 0,
        id: key.id(),
    };
    let theirs = exchange_hello(&mut conn, &ours)
        .await
        .map_err(|e| match e {
            p2p_core::HelloError::Disconnected(reason) => PeerError::Disconnected(reason),
            p2p_core::HelloError::Closed => PeerError::Closed,
            p2p_core::HelloError::Transport(e) => PeerError::Rlpx(e),
            other => PeerError::Hello(other.to_string()),
        })?;
    if !theirs
        .capabilities
        .iter()
        .any(|c| c.name == "eth" && ETH_VERSIONS.contains(&c.version))
    {
        return Err(PeerError::NoEth);
    }
    let mut peer = EthPeer {
        conn,
        next_id: 1,
        in_flight: VecDeque::new(),
    };
    // The target's Status, sent back as ours.
    loop {
        let msg = peer.next_msg().await?;
        if msg.code == ETH + STATUS {
            peer.conn.send(msg).await?;
            return Ok(peer);
        }
    }
}

impl EthPeer {
    /// The next message that is not the base protocol's Ping (answered) or
    /// Pong; a Disconnect or the end of the stream ends the peer.
    async fn next_msg(&mut self) -> Result<Msg, PeerError> {
        loop {
            let msg = self.conn.next().await.ok_or(PeerError::Closed)??;
            match msg.code {
                base::PING => self.conn.send(base::pong_msg()).await?,
                base::PONG => {}
                base::DISCONNECT => {
                    let reason = DisconnectReason::decode_payload(&msg.payload)
                        .unwrap_or(DisconnectReason::Requested);
                    return Err(PeerError::Disconnected(reason));
                }
                _ => return Ok(msg),
            }
        }
    }

    /// Sends one GetBlockHeaders for the genesis header (every chain has
    /// it), unless too many are in flight already.
    async fn request(&mut self) -> Result<(), PeerError> {
        if self.in_flight.len() >= MAX_IN_FLIGHT {
            return Ok(());
        }
        let request_id = self.next_id;
        self.next_id += 1;
        let request = EthMessage::GetBlockHeaders(GetBlockHeaders {
            request_id,
            start: HashOrNumber::Number(0),
            limit: 1,
            skip: 0,
            reverse: false,
        });
        let mut msg = request.to_msg();
        msg.code += ETH;
        self.in_flight.push_back((request_id, Instant::now()));
        self.conn.send(msg).await?;
        Ok(())
    }

    /// The round trip of the request a BlockHeaders answers, if it answers
    /// one in flight.
    fn answered(&mut self, msg: &Msg) -> Option<Duration> {
        let id = rlp::Rlp::new(&msg.payload).val_at::<u64>(0).ok()?;
        let at = self.in_flight.iter().position(|(sent, _)| *sent == id)?;
        let (_, sent_at) = self.in_flight.remove(at)?;
        Some(sent_at.elapsed())
    }

    /// Once `go` turns true, sends a request every `every` (the first after
    /// a random part of it, so that peers spread their requests); answers
    /// pings all along; when `leave` turns true, says goodbye. Returns early
    /// with the reason if the target ends the connection.
    pub async fn run(
        mut self,
        every: Option<Duration>,
        latencies: &Latencies,
        mut go: watch::Receiver<bool>,
        mut leave: watch::Receiver<bool>,
    ) -> Result<(), PeerError> {
        let period = every.unwrap_or(Duration::from_secs(3600));
        let mut streaming = false;
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                msg = self.next_msg() => {
                    let msg = msg?;
                    if msg.code == ETH + BLOCK_HEADERS {
                        if let Some(took) = self.answered(&msg) {
                            latencies.record(took);
                        }
                    }
                }
                _ = async { go.wait_for(|go| *go).await.map(drop) }, if !streaming && every.is_some() => {
                    streaming = true;
                    let first = period.mul_f64(rand::random::<f64>());
                    ticks.reset_at(tokio::time::Instant::now() + first);
                }
                _ = ticks.tick(), if streaming => self.request().await?,
                _ = async { leave.wait_for(|leave| *leave).await.map(drop) } => break,
            }
        }
        self.leave().await;
        Ok(())
    }

    /// Sends one request and waits for its answer; returns the round trip.
    pub async fn round_trip(&mut self) -> Result<Duration, PeerError> {
        self.request().await?;
        let mut took = Duration::ZERO;
        while !self.in_flight.is_empty() {
            let msg = self.next_msg().await?;
            if msg.code == ETH + BLOCK_HEADERS {
                if let Some(answered) = self.answered(&msg) {
                    took = answered;
                }
            }
        }
        Ok(took)
    }

    /// Says goodbye (`DisconnectRequested`) and closes, best effort.
    pub async fn leave(mut self) {
        let _ = self.conn.send(DisconnectReason::Requested.to_msg()).await;
        let _ = self.conn.close().await;
    }
}
