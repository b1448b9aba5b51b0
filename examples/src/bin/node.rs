//! A devp2p node over RLPx: listens, dials, authenticates every peer with the
//! ECIES handshake, exchanges Hello (snappy on with version-5 peers) and keeps
//! each session alive with Ping/Pong, answering what the base protocol asks.
//!
//! Runs with no flags: the node key lives in the data directory (created on
//! first start), and the node listens on 0.0.0.0:30303.
//!
//! ```text
//! cargo run --release -p examples --bin node -- --help
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use futures::{SinkExt, StreamExt};
use p2p_core::base::{self, BASE_PROTOCOL_VERSION, DISCONNECT, PING};
use p2p_core::{
    exchange_hello, keyfile, Capability, Connecting, DisconnectReason, Enode, Hello, MsgConn,
};
use p2p_rlpx::{RlpxStream, RlpxTransport};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tower::limit::ConcurrencyLimitLayer;
use tower::{Service, ServiceBuilder, ServiceExt};
use tracing::{info, warn, Instrument};

/// How often an idle session is pinged (as go-ethereum).
const PING_INTERVAL: Duration = Duration::from_secs(15);
/// A session silent for this long is dropped (go-ethereum's frame read timeout).
const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the encryption and Hello handshakes may take together.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Parser, Debug)]
#[command(about = "A devp2p node speaking RLPx")]
struct Args {
    /// Directory holding the node key (`nodekey`, hex, as go-ethereum writes it).
    #[arg(long, default_value = "devp2p-data")]
    datadir: PathBuf,
    /// TCP address to listen on.
    #[arg(long, default_value = "0.0.0.0:30303")]
    listen: SocketAddr,
    /// Nodes to dial at start, as `enode://` URLs (repeatable).
    #[arg(long = "dial")]
    dial: Vec<Enode>,
    /// Most sessions at once.
    #[arg(long, default_value_t = 50)]
    max_peers: usize,
    /// Most handshakes in progress at once (go-ethereum's MaxPendingPeers).
    #[arg(long, default_value_t = 50)]
    max_pending: usize,
    /// Capabilities to announce, as `name/version` (repeatable).
    #[arg(long = "cap", value_parser = parse_cap)]
    caps: Vec<Capability>,
}

fn parse_cap(s: &str) -> Result<Capability, String> {
    let (name, version) = s.split_once('/').ok_or("expected name/version")?;
    let version = version.parse().map_err(|e| format!("bad version: {e}"))?;
    Ok(Capability::new(name, version))
}

/// What every session shares.
struct Node {
    hello: Hello,
    slots: Semaphore,
    shutdown: watch::Receiver<bool>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();

    let key = Arc::new(keyfile::load_or_generate(&args.datadir.join("nodekey"))?);
    let listener = TcpListener::bind(args.listen).await?;
    let local = listener.local_addr()?;
    let local_ip = if local.ip().is_unspecified() {
        "127.0.0.1".parse()?
    } else {
        local.ip()
    };
    info!(enode = %Enode::new(key.id(), local_ip, local.port(), local.port()), "listening");

    let (stop, shutdown) = watch::channel(false);
    let node = Arc::new(Node {
        hello: Hello {
            protocol_version: BASE_PROTOCOL_VERSION,
            client_id: format!("devp2p-rs/v{}", env!("CARGO_PKG_VERSION")),
            capabilities: args.caps.clone(),
            listen_port: local.port(),
            id: key.id(),
        },
        slots: Semaphore::new(args.max_peers),
        shutdown,
    });
    // The setup stack: at most `max_pending` handshakes at once, each within
    // its deadline (inside the transport).
    let setup = ServiceBuilder::new()
        .layer(ConcurrencyLimitLayer::new(args.max_pending))
        .service(RlpxTransport::new(key).with_handshake_timeout(HANDSHAKE_TIMEOUT));

    let mut tasks = JoinSet::new();
    for enode in args.dial {
        let (node, setup) = (node.clone(), setup.clone());
        tasks.spawn(async move {
            let addr = enode.tcp_addr();
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, TcpStream::connect(addr)).await {
                Ok(Ok(tcp)) => {
                    connection(node, setup, Connecting::outbound(tcp, addr, enode.id)).await
                }
                Ok(Err(err)) => warn!(%addr, %err, "dial failed"),
                Err(_) => warn!(%addr, "dial timed out"),
            }
        });
    }

    let mut ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, remote)) => {
                    let (node, setup) = (node.clone(), setup.clone());
                    tasks.spawn(connection(node, setup, Connecting::inbound(tcp, remote)));
                }
                Err(err) => warn!(%err, "accept failed"),
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            _ = &mut ctrl_c => break,
        }
    }
    info!(sessions = tasks.len(), "stopping");
    drop(listener);
    stop.send(true)?;
    while tasks.join_next().await.is_some() {}
    Ok(())
}

/// One connection from its first byte to its end.
async fn connection<S>(node: Arc<Node>, mut setup: S, conn: Connecting<TcpStream>)
where
    S: Service<
        Connecting<TcpStream>,
        Response = p2p_core::Authenticated<RlpxStream<TcpStream>>,
        Error = p2p_rlpx::RlpxError,
    >,
{
    let span = tracing::info_span!("peer", addr = %conn.remote_addr, dir = ?conn.direction);
    async move {
        let established = match setup.ready().await {
            Ok(svc) => svc.call(conn).await,
            Err(err) => Err(err),
        };
        let mut conn = match established {
            Ok(established) => established.conn,
            Err(err) => return info!(%err, "handshake failed"),
        };
        let hello = tokio::time::timeout(HANDSHAKE_TIMEOUT, exchange_hello(&mut conn, &node.hello));
        let theirs = match hello.await {
            Ok(Ok(theirs)) => theirs,
            Ok(Err(err)) => return info!(%err, "hello failed"),
            Err(_) => return info!("hello timed out"),
        };
        let id = theirs.id;
        let Ok(_slot) = node.slots.try_acquire() else {
            let _ = conn.send(DisconnectReason::TooManyPeers.to_msg()).await;
            return info!(%id, "refused: too many peers");
        };
        info!(%id, client = %theirs.client_id, caps = ?theirs.capabilities, snappy = conn.codec_mut().snappy(), "session up");
        let reason = session(&mut conn, node.shutdown.clone()).await;
        info!(%id, %reason, "session ended");
    }
    .instrument(span)
    .await
}

/// Runs the base protocol until either side ends the session; returns why.
async fn session<C: MsgConn>(
    conn: &mut C,
    mut shutdown: watch::Receiver<bool>,
) -> DisconnectReason {
    let mut ping = tokio::time::interval(PING_INTERVAL);
    ping.tick().await;
    let ours = loop {
        tokio::select! {
            next = tokio::time::timeout(READ_TIMEOUT, conn.next()) => match next {
                Err(_) => break DisconnectReason::PingTimeout,
                Ok(None) => return DisconnectReason::TcpSubsystemError,
                Ok(Some(Err(err))) => {
                    warn!(%err, "read failed");
                    break DisconnectReason::ProtocolError;
                }
                Ok(Some(Ok(msg))) => match msg.code {
                    PING => {
                        if conn.send(base::pong_msg()).await.is_err() {
                            return DisconnectReason::TcpSubsystemError;
                        }
                    }
                    DISCONNECT => {
                        return DisconnectReason::decode_payload(&msg.payload)
                            .unwrap_or(DisconnectReason::ProtocolError);
                    }
                    code => tracing::debug!(code, len = msg.payload.len(), "message"),
                },
            },
            _ = ping.tick() => {
                if conn.send(base::ping_msg()).await.is_err() {
                    return DisconnectReason::TcpSubsystemError;
                }
            }
            _ = shutdown.changed() => break DisconnectReason::ClientQuitting,
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), conn.send(ours.to_msg())).await;
    ours
}
