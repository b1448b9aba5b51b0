//! Servers over QUIC on 127.0.0.1 for the tests.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use p2p_core::config::Config;
use p2p_core::record::{Endpoint, LocalRecord};
use p2p_core::{NodeAddr, NodeKey, PeerEvent, PeerId, Protocol, Server};
use quic_transport::QuicConfig;
use tokio::sync::broadcast;

/// A running server and what the tests need of it.
pub struct Node {
    pub server: Server,
    pub key: NodeKey,
    pub events: broadcast::Receiver<PeerEvent>,
}

impl Node {
    /// The node as a dialer finds it: a record announcing its QUIC port.
    pub fn addr(&self) -> NodeAddr {
        let port = self
            .server
            .node_info()
            .listen_addr
            .expect("listening")
            .port();
        let endpoint = Endpoint {
            ip: Some("127.0.0.1".parse().unwrap()),
            quic: Some(port),
            ..Endpoint::default()
        };
        let record = LocalRecord::new(self.key.clone(), endpoint, 1).unwrap();
        NodeAddr::from_record(record.record().clone()).unwrap()
    }

    pub fn id(&self) -> PeerId {
        self.key.id()
    }

    /// The next event about a peer session, within 10 s.
    pub async fn next_event(&mut self) -> PeerEvent {
        loop {
            match tokio::time::timeout(Duration::from_secs(10), self.events.recv())
                .await
                .expect("an event within 10 s")
            {
                Ok(PeerEvent::Message { .. }) => continue,
                Ok(event) => return event,
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(err) => panic!("events ended: {err}"),
            }
        }
    }

    /// Waits for the session with `id` to start.
    pub async fn added(&mut self, id: PeerId) {
        loop {
            if let PeerEvent::Added(info) = self.next_event().await {
                if info.id == id {
                    return;
                }
            }
        }
    }
}

/// A server over QUIC listening on 127.0.0.1, offering `protocols`.
pub async fn quic_node(
    quic: QuicConfig,
    protocols: Vec<Arc<dyn Protocol>>,
    configure: impl FnOnce(p2p_core::config::ConfigBuilder) -> p2p_core::config::ConfigBuilder,
) -> Node {
    let key = NodeKey::random();
    let config = configure(
        Config::builder().listen_addr("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap()),
    )
    .build()
    .unwrap();
    let server = Server::builder(key.clone())
        .config(config)
        .protocols(protocols)
        .transport(quic_transport::transport(quic).unwrap())
        .start()
        .await
        .unwrap();
    let events = server.subscribe_events();
    Node {
        server,
        key,
        events,
    }
}
