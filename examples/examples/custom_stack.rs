//! A server composed by hand, stage by stage, with one stage changed and one
//! built-in layer taken out:
//!
//! - the encryption stage is RLPx;
//! - the Hello stage is the built-in one wrapped in an admission rule of our
//!   own ([`ClientAllowList`]): after the Hello exchange, a peer whose client
//!   name has none of the allowed prefixes is refused with `UselessPeer`,
//!   before it takes a peer slot or starts a capability;
//! - the built-in inbound throttle is removed (say, for a private cluster
//!   whose nodes all reach us from behind one address and reconnect often);
//!   the peer filter and the pending-handshake limit stay;
//! - the session stage is the built-in one.
//!
//! The program starts the server and two clients on loopback, a friend and a
//! stranger, and shows who got in.
//!
//! ```sh
//! cargo run -p examples --example custom_stack
//! ```

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use p2p_core::config::Config;
use p2p_core::{ConnectionEnd, DisconnectReason, MsgConn, Negotiated, NodeKey, PeerEvent, Server};
use p2p_rlpx::RlpxTransport;
use ping_pong_plugin::{PingPong, PingPongConfig};
use tower::{BoxError, Layer, Service};

/// Admits only peers whose client name starts with one of `prefixes`.
#[derive(Clone, Debug)]
pub struct ClientAllowList {
    prefixes: Arc<[String]>,
}

impl<S> Layer<S> for ClientAllowList {
    type Service = AllowListed<S>;

    fn layer(&self, inner: S) -> AllowListed<S> {
        AllowListed {
            inner,
            prefixes: self.prefixes.clone(),
        }
    }
}

/// A Hello stage with the allow list applied to what it negotiated.
#[derive(Clone, Debug)]
pub struct AllowListed<S> {
    inner: S,
    prefixes: Arc<[String]>,
}

impl<S, A, C> Service<A> for AllowListed<S>
where
    S: Service<A, Response = Negotiated<C>>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    C: MsgConn + 'static,
{
    type Response = Negotiated<C>;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Negotiated<C>, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, authenticated: A) -> Self::Future {
        let prefixes = self.prefixes.clone();
        let hello = self.inner.call(authenticated);
        Box::pin(async move {
            let negotiated = hello.await.map_err(Into::into)?;
            let name = &negotiated.info.client_id;
            if prefixes
                .iter()
                .any(|prefix| name.starts_with(prefix.as_str()))
            {
                Ok(negotiated)
            } else {
                // The refusal reaches the peer as a Disconnect; the server
                // reads the reason from the error.
                Err(negotiated
                    .refuse(DisconnectReason::UselessPeer)
                    .await
                    .into())
            }
        })
    }
}

/// What the run showed.
#[derive(Debug)]
pub struct Outcome {
    /// Client names of the peers the server admitted.
    pub admitted: Vec<String>,
    /// How the stranger's session with the server ended, as the stranger
    /// saw it.
    pub stranger_end: ConnectionEnd,
}

fn config(client_id: &str) -> Result<Config, Box<dyn std::error::Error>> {
    Ok(Config::builder()
        .client_id(client_id)
        .listen_addr("127.0.0.1:0".parse::<std::net::SocketAddr>()?)
        .build()?)
}

/// A client: ping-pong over RLPx, every stage built in.
async fn client(name: &str) -> Result<Server, Box<dyn std::error::Error>> {
    Ok(Server::builder(NodeKey::random())
        .config(config(name)?)
        .protocol(PingPong::new(PingPongConfig::default()))
        .encryption(RlpxTransport::new)
        .start()
        .await?)
}

/// Starts the server and both clients; returns once the stranger is refused.
pub async fn run() -> Result<Outcome, Box<dyn std::error::Error>> {
    let server = Server::builder(NodeKey::random())
        .config(config("gatekeeper/1.0")?)
        .protocol(PingPong::new(PingPongConfig::default()))
        // Setup stack: peer filter, pending limit, RLPx.
        .without_inbound_throttle()
        .encryption(RlpxTransport::new)
        // Hello stack: the allow list around the built-in Hello stage.
        .hello_layer(ClientAllowList {
            prefixes: Arc::from(["friend/".to_owned()]),
        })
        // Session stack: as built in.
        .start()
        .await?;
    let address = server.local_enode().ok_or("not listening")?;
    let mut events = server.subscribe_events();

    let friend = client("friend/0.1").await?;
    friend.add_peer(address).await;
    let admitted = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Ok(PeerEvent::Added(peer)) = events.recv().await {
                return peer;
            }
        }
    })
    .await?;
    println!("admitted {}", admitted.client_id);

    let stranger = client("stranger/6.6").await?;
    let mut stranger_events = stranger.subscribe_events();
    stranger.add_peer(address).await;
    let stranger_end = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Ok(PeerEvent::Dropped { end, .. }) = stranger_events.recv().await {
                return end;
            }
        }
    })
    .await?;
    println!("the stranger's session: {stranger_end}");

    let admitted = server
        .peers()
        .await
        .iter()
        .map(|peer| peer.client_id.clone())
        .collect();
    for node in [&stranger, &friend, &server] {
        node.stop().await;
    }
    Ok(Outcome {
        admitted,
        stranger_end,
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let outcome = run().await?;
    println!("peers of the server: {:?}", outcome.admitted);
    Ok(())
}
