//! Connections that cost a target without ever becoming peers.
//!
//! Each kind is what an attacker can open for next to nothing: a socket
//! that says nothing, an encryption handshake started and abandoned, bytes
//! trickled to stay under every deadline, or garbage sent and hung up on.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use p2p_core::{Enode, NodeKey};
use p2p_rlpx::handshake::encode_auth;
use rand::RngCore;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::sources;

/// What a hostile connection does once connected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hostile {
    /// Sends nothing and waits to be closed.
    Silent,
    /// Sends a valid EIP-8 auth message (the target does its key agreement
    /// and answers), then nothing more.
    HalfAuth,
    /// Trickles a valid auth message one byte a second.
    Slowloris,
    /// Sends 300 random bytes and closes at once.
    Garbage,
}

/// Pause between the bytes of a slowloris connection: well under any read
/// deadline, so only a deadline on the whole handshake can end it.
const TRICKLE: Duration = Duration::from_secs(1);

/// Counters of one kind of hostile connection, shared by its tasks.
#[derive(Default)]
pub struct HostileStats {
    /// Connections opened.
    pub opened: AtomicU64,
    /// Connections that failed to connect.
    pub connect_failed: AtomicU64,
    /// Connections the target closed, and their total lifetime in ms.
    pub closed_by_target: AtomicU64,
    lifetime_ms: AtomicU64,
}

impl HostileStats {
    /// The mean time the target took to close a connection of this kind.
    pub fn mean_lifetime(&self) -> Duration {
        let closed = self.closed_by_target.load(Ordering::Relaxed);
        let total = self.lifetime_ms.load(Ordering::Relaxed);
        Duration::from_millis(total.checked_div(closed).unwrap_or(0))
    }
}

/// An auth message to `target` from a throwaway key.
fn auth_for(target: &Enode) -> Vec<u8> {
    let mut rng = rand::rng();
    let remote = target.id.public_key().expect("the target's id is a key");
    let key = NodeKey::random();
    let ephemeral = secp256k1::SecretKey::new(&mut rng);
    let mut nonce = [0u8; 32];
    rng.fill_bytes(&mut nonce);
    encode_auth(&key, &remote, &ephemeral, &nonce, &mut rng)
}

/// Opens one connection of `kind` and behaves so until the target closes
/// it or `until` passes.
pub async fn once(kind: Hostile, target: &Enode, until: Instant, stats: &HostileStats) {
    let addr: SocketAddr = target.tcp_addr();
    let Ok(Ok(mut tcp)) = tokio::time::timeout(
        Duration::from_secs(5),
        sources::connect(sources::HOSTILE.next(), addr),
    )
    .await
    else {
        stats.connect_failed.fetch_add(1, Ordering::Relaxed);
        // A refused connect comes back at once; do not spin on it.
        tokio::time::sleep(Duration::from_millis(100)).await;
        return;
    };
    stats.opened.fetch_add(1, Ordering::Relaxed);
    let opened = Instant::now();
    let deadline = tokio::time::Instant::from_std(until);
    let closed = match kind {
        Hostile::Garbage => {
            let mut junk = [0u8; 300];
            rand::rng().fill_bytes(&mut junk);
            let _ = tcp.write_all(&junk).await;
            return;
        }
        Hostile::Silent => tokio::time::timeout_at(deadline, wait_closed(&mut tcp)).await,
        Hostile::HalfAuth => {
            let auth = auth_for(target);
            if tcp.write_all(&auth).await.is_err() {
                Ok(())
            } else {
                tokio::time::timeout_at(deadline, wait_closed(&mut tcp)).await
            }
        }
        Hostile::Slowloris => {
            let auth = auth_for(target);
            tokio::time::timeout_at(deadline, trickle(&mut tcp, &auth)).await
        }
    };
    if closed.is_ok() {
        stats.closed_by_target.fetch_add(1, Ordering::Relaxed);
        stats
            .lifetime_ms
            .fetch_add(opened.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
}

/// Reads (and drops) whatever the target sends until it closes.
async fn wait_closed(reader: &mut (impl AsyncRead + Unpin)) {
    let mut buf = [0u8; 1024];
    while matches!(reader.read(&mut buf).await, Ok(n) if n > 0) {}
}

/// Sends `bytes` one at a time, [`TRICKLE`] apart, then waits to be closed.
async fn trickle(tcp: &mut TcpStream, bytes: &[u8]) {
    let (mut reader, mut writer) = tcp.split();
    let send = async {
        for byte in bytes {
            if writer.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(TRICKLE).await;
        }
        std::future::pending::<()>().await
    };
    tokio::select! {
        _ = send => {}
        _ = wait_closed(&mut reader) => {}
    }
}

/// Keeps `count` connections of `kind` open until `until`, opening a new
/// one whenever the target closes one.
pub async fn hold(
    kind: Hostile,
    count: usize,
    target: Enode,
    until: Instant,
    stats: std::sync::Arc<HostileStats>,
) {
    let mut slots = tokio::task::JoinSet::new();
    for _ in 0..count {
        let stats = stats.clone();
        slots.spawn(async move {
            while Instant::now() < until {
                once(kind, &target, until, &stats).await;
            }
        });
    }
    while slots.join_next().await.is_some() {}
}

/// Opens `per_second` connections of `kind` a second until `until`, each
/// behaving on its own task.
pub async fn churn(
    kind: Hostile,
    per_second: u32,
    target: Enode,
    until: Instant,
    stats: std::sync::Arc<HostileStats>,
) {
    crate::rate::spawn_at_rate(per_second, until, |_| {
        let stats = stats.clone();
        async move { once(kind, &target, until, &stats).await }
    })
    .await;
}
