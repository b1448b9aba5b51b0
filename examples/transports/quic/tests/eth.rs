//! eth over QUIC: the Status handshake and requests for headers and bodies,
//! with the eth plugin unchanged from its use over RLPx.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::quic_node;
use p2p_protocols::eth::chain::MemoryChain;
use p2p_protocols::eth::handler::EthHandler;
use p2p_protocols::eth::handshake::ChainSpec;
use p2p_protocols::eth::protocol::{Eth, EthConfig, EthEvent, EthPeer};
use p2p_protocols::eth::types::{BlockHeader, HashOrNumber};
use p2p_protocols::eth::EthVersion;
use p2p_protocols::forkid::mainnet;
use quic_transport::{QuicConfig, StreamMode};
use tokio::sync::broadcast;

struct EthNode {
    node: common::Node,
    chain: Arc<MemoryChain>,
    events: broadcast::Receiver<EthEvent>,
}

async fn eth_node(chain: Arc<MemoryChain>, quic: QuicConfig) -> EthNode {
    let eth = Eth::new(
        EthConfig::new(ChainSpec::new(1, mainnet::petersburg())),
        chain.clone(),
    );
    let events = eth.subscribe();
    let node = quic_node(quic, eth.protocols(), |c| c).await;
    EthNode {
        node,
        chain,
        events,
    }
}

async fn ready(node: &mut EthNode) -> EthPeer {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), node.events.recv())
            .await
            .expect("eth ready within 10 s")
            .expect("eth events");
        if let EthEvent::Ready(peer) = event {
            return peer;
        }
    }
}

async fn status_headers_and_bodies(streams: StreamMode) {
    let quic = QuicConfig {
        streams,
        ..QuicConfig::default()
    };
    let served = Arc::new(MemoryChain::new(MemoryChain::mainnet_genesis()));
    served.grow(300, 3);
    let mut a = eth_node(
        Arc::new(MemoryChain::new(MemoryChain::mainnet_genesis())),
        quic.clone(),
    )
    .await;
    let mut b = eth_node(served, quic).await;
    a.node.server.add_peer(b.node.addr()).await;
    let b_seen_by_a = ready(&mut a).await;
    let a_seen_by_b = ready(&mut b).await;

    // Status: both on mainnet's genesis, the newest version both offer.
    assert_eq!(b_seen_by_a.version(), EthVersion::Eth71);
    assert_eq!(a_seen_by_b.id(), a.node.id());
    assert_eq!(b_seen_by_a.status().genesis, a.chain.genesis_hash());

    // 200 headers (about 100 kB, several QUIC packets), then by hash.
    let headers = b_seen_by_a
        .get_block_headers(HashOrNumber::Number(1), 200, 0, false)
        .await
        .unwrap();
    assert_eq!(headers.len(), 200);
    for (i, header) in headers.iter().enumerate() {
        assert_eq!(
            Some(header),
            b.chain.header_by_number(i as u64 + 1).as_ref()
        );
    }
    let by_hash = b_seen_by_a
        .get_block_headers(HashOrNumber::Hash(headers[149].hash()), 1, 0, false)
        .await
        .unwrap();
    assert_eq!(by_hash, vec![headers[149].clone()]);

    // Bodies, one unknown hash skipped.
    let mut hashes: Vec<_> = headers[..20].iter().map(BlockHeader::hash).collect();
    hashes.insert(5, primitive_types::H256::repeat_byte(0xee));
    let bodies = b_seen_by_a.get_block_bodies(hashes).await.unwrap();
    assert_eq!(bodies.len(), 20);
    assert_eq!(bodies[19], b.chain.block_body(&headers[19].hash()).unwrap());
    assert_eq!(bodies[19].transactions.len(), 3);

    a.node.server.stop().await;
    b.node.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eth_status_headers_and_bodies_over_one_stream() {
    status_headers_and_bodies(StreamMode::OneStream).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eth_status_headers_and_bodies_over_a_stream_per_capability() {
    status_headers_and_bodies(StreamMode::PerCapability).await;
}
