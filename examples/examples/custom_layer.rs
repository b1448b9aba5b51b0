//! A layer of your own in each of a server's stacks, one line each.
//!
//! - In the setup stack, [`ConnectionLogLayer`] writes a line for every
//!   connection: its address and direction, and whether the encryption
//!   handshake proved who is on the other end.
//! - In the session stack, [`MessageBudgetLayer`] gives each peer a budget of
//!   inbound messages per capability. It reads the capability of each message
//!   from the peer's capability table (matched once, by the Hello stage), and
//!   ends a peer that overspends with `SubprotocolError`.
//!
//! The program starts two servers on loopback. The second one says five
//! things on `chat/1`; the first one's budget allows three.
//!
//! ```sh
//! cargo run -p examples --example custom_layer
//! ```

use std::fmt::Display;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use p2p_core::capability::CapabilityTable;
use p2p_core::config::Config;
use p2p_core::pipeline::{InspectConn, MessageCheck};
use p2p_core::protocol::{CapabilityConn, Protocol, ProtocolFuture};
use p2p_core::{
    Authenticated, Capability, CapabilityMessage, Connecting, ConnectionEnd, DisconnectReason,
    Established, Msg, MsgConn, NodeKey, Peer, PeerEvent, Server,
};
use p2p_rlpx::RlpxTransport;
use tower::{Layer, Service};

// ---------------------------------------------------------------------------
// The setup-stack layer: a connection log.

/// The lines [`ConnectionLogLayer`] wrote, shared with whoever reads them.
#[derive(Clone, Debug, Default)]
pub struct ConnectionLog(Arc<Mutex<Vec<String>>>);

impl ConnectionLog {
    fn push(&self, line: String) {
        println!("connection log: {line}");
        self.0.lock().expect("log lock").push(line);
    }

    /// Every line so far.
    pub fn lines(&self) -> Vec<String> {
        self.0.lock().expect("log lock").clone()
    }
}

/// Logs every connection through the encryption stage it wraps.
#[derive(Clone, Debug)]
pub struct ConnectionLogLayer(ConnectionLog);

impl<S> Layer<S> for ConnectionLogLayer {
    type Service = Logged<S>;

    fn layer(&self, inner: S) -> Logged<S> {
        Logged {
            inner,
            log: self.0.clone(),
        }
    }
}

/// The encryption stage with its connections logged.
#[derive(Clone, Debug)]
pub struct Logged<S> {
    inner: S,
    log: ConnectionLog,
}

impl<S, Io, C> Service<Connecting<Io>> for Logged<S>
where
    S: Service<Connecting<Io>, Response = Authenticated<C>>,
    S::Future: Send + 'static,
    S::Error: Display,
    C: MsgConn,
{
    type Response = Authenticated<C>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Authenticated<C>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, conn: Connecting<Io>) -> Self::Future {
        let line = format!("{} {:?}", conn.remote_addr, conn.direction);
        let log = self.log.clone();
        let handshake = self.inner.call(conn);
        Box::pin(async move {
            let result = handshake.await;
            match &result {
                Ok(done) => log.push(format!("{line}: authenticated {}", done.conn.remote_id())),
                Err(err) => log.push(format!("{line}: failed: {err}")),
            }
            result
        })
    }
}

// ---------------------------------------------------------------------------
// The session-stack layer: a message budget per capability.

/// Ends a peer that sends more than `per_capability` messages on any one of
/// its capabilities.
#[derive(Clone, Copy, Debug)]
pub struct MessageBudgetLayer {
    per_capability: u64,
}

impl<S> Layer<S> for MessageBudgetLayer {
    type Service = MessageBudget<S>;

    fn layer(&self, inner: S) -> MessageBudget<S> {
        MessageBudget {
            inner,
            per_capability: self.per_capability,
        }
    }
}

/// The session stage with a message budget on every peer.
#[derive(Clone, Debug)]
pub struct MessageBudget<S> {
    inner: S,
    per_capability: u64,
}

/// One peer's spending, by capability.
#[derive(Debug)]
pub struct Spending {
    table: CapabilityTable,
    spent: Vec<u64>,
    limit: u64,
}

impl MessageCheck for Spending {
    fn check(&mut self, msg: &Msg) -> Result<(), DisconnectReason> {
        // Base protocol messages (Ping, Pong) belong to no capability.
        let Some((index, _)) = self.table.owner(msg.code) else {
            return Ok(());
        };
        self.spent[index] += 1;
        if self.spent[index] > self.limit {
            return Err(DisconnectReason::SubprotocolError);
        }
        Ok(())
    }
}

impl<S, C> Service<Established<C>> for MessageBudget<S>
where
    S: Service<Established<InspectConn<C, Spending>>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, peer: Established<C>) -> S::Future {
        let spending = Spending {
            table: peer.info.shared.clone(),
            spent: vec![0; peer.info.shared.len()],
            limit: self.per_capability,
        };
        self.inner
            .call(peer.map_conn(|conn| InspectConn::new(conn, spending)))
    }
}

// ---------------------------------------------------------------------------
// A capability to spend the budget on.

p2p_core::capability_messages! {
    /// A `chat/1` message.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub enum ChatMessage {
        /// Says something.
        Say { text: String } = 0,
    }
}

/// `chat/1`: says `lines` things to each peer, and counts what it hears.
pub struct Chat {
    lines: usize,
    heard: Arc<AtomicUsize>,
}

impl Protocol for Chat {
    fn capability(&self) -> Capability {
        Capability::new("chat", 1)
    }

    fn message_count(&self) -> u64 {
        ChatMessage::count(1)
    }

    fn run(&self, _peer: Peer, mut conn: CapabilityConn) -> ProtocolFuture {
        let (lines, heard) = (self.lines, self.heard.clone());
        Box::pin(async move {
            for line in 0..lines {
                let text = format!("line {line}");
                conn.send_message(&ChatMessage::Say { text }).await?;
            }
            while let Some(message) = conn.recv_message::<ChatMessage>().await {
                message?;
                heard.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        })
    }
}

// ---------------------------------------------------------------------------

/// What the run showed.
#[derive(Debug)]
pub struct Outcome {
    /// The first server's connection log.
    pub log: Vec<String>,
    /// How many chat lines the first server's handler got.
    pub heard: usize,
    /// How the first server's session with the chatty one ended.
    pub end: ConnectionEnd,
}

/// Runs the two servers until the budget ends the chatty peer.
pub async fn run() -> Result<Outcome, Box<dyn std::error::Error>> {
    let loopback = || {
        Config::builder()
            .listen_addr(
                "127.0.0.1:0"
                    .parse::<std::net::SocketAddr>()
                    .expect("address"),
            )
            .build()
    };
    let log = ConnectionLog::default();
    let heard = Arc::new(AtomicUsize::new(0));
    let frugal = Server::builder(NodeKey::random())
        .config(loopback()?)
        .protocol(Chat {
            lines: 0,
            heard: heard.clone(),
        })
        .encryption(RlpxTransport::new)
        .setup_layer(ConnectionLogLayer(log.clone()))
        .session_layer(MessageBudgetLayer { per_capability: 3 })
        .start()
        .await?;
    let chatty = Server::builder(NodeKey::random())
        .config(loopback()?)
        .protocol(Chat {
            lines: 5,
            heard: Arc::new(AtomicUsize::new(0)),
        })
        .encryption(RlpxTransport::new)
        .start()
        .await?;
    let mut events = frugal.subscribe_events();
    chatty
        .add_peer(frugal.local_enode().ok_or("not listening")?)
        .await;
    let end = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let PeerEvent::Dropped { end, .. } = events.recv().await? {
                return Ok::<_, tokio::sync::broadcast::error::RecvError>(end);
            }
        }
    })
    .await??;
    println!("session ended: {end}");
    chatty.stop().await;
    frugal.stop().await;
    Ok(Outcome {
        log: log.lines(),
        heard: heard.load(Ordering::Relaxed),
        end,
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let outcome = run().await?;
    println!("the frugal server heard {} lines", outcome.heard);
    Ok(())
}
