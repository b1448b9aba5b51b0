//! The server of the README, "a server in a few lines": a node key, a
//! capability, RLPx, and a layer in each stack. It listens on loopback,
//! dials a second server, and stops once the two are peers.
//!
//! ```sh
//! cargo run -p examples --example minimal_server
//! ```
//!
//! The lines between the `README` markers are the README's snippet, word for
//! word (a test keeps them so).

use std::time::Duration;

use p2p_core::config::Config;
use p2p_core::layers::metrics::{instance_label, MetricsLayer};
use p2p_core::layers::rate_limit::{RateLimitConfig, RateLimitLayer};
use p2p_core::{NodeKey, PeerEvent, Server};
use p2p_rlpx::RlpxTransport;
use ping_pong_plugin::{PingPong, PingPongConfig};

/// Starts a server as the README does, and connects it to `peer`; returns
/// once they are peers.
pub async fn start_and_join(peer: &Server) -> Result<Server, Box<dyn std::error::Error>> {
    let listen: std::net::SocketAddr = "127.0.0.1:0".parse()?;
    // README:start
    let key = NodeKey::random();
    let metrics = MetricsLayer::new(instance_label(&key.id()));
    let config = Config::builder()
        .listen_addr(listen)
        .max_peers(25)
        .build()?;
    let server = Server::builder(key)
        .config(config)
        .protocol(PingPong::new(PingPongConfig::default()))
        .encryption(RlpxTransport::new)
        // Layers go into the stack of their stage, one line each.
        .setup_layer(RateLimitLayer::new(RateLimitConfig::default()))
        .setup_layer(metrics.clone())
        .session_layer(metrics)
        .start()
        .await?;
    server.add_peer(peer.local_enode().ok_or("no enode")?).await;
    // README:end
    let mut events = server.subscribe_events();
    tokio::time::timeout(Duration::from_secs(10), async {
        while !matches!(events.recv().await, Ok(PeerEvent::Added(_))) {}
    })
    .await?;
    Ok(server)
}

/// A second server for the first to dial, everything built in.
pub async fn other() -> Result<Server, Box<dyn std::error::Error>> {
    Ok(Server::builder(NodeKey::random())
        .config(
            Config::builder()
                .listen_addr("127.0.0.1:0".parse::<std::net::SocketAddr>()?)
                .build()?,
        )
        .protocol(PingPong::new(PingPongConfig::default()))
        .encryption(RlpxTransport::new)
        .start()
        .await?)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let other = other().await?;
    let server = start_and_join(&other).await?;
    for peer in server.peers().await {
        println!("peer {} ({})", peer.id, peer.client_id);
    }
    server.stop().await;
    other.stop().await;
    Ok(())
}
