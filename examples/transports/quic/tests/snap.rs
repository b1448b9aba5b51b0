//! snap beside eth over QUIC: two capabilities, so in the per-capability
//! mode two streams each way, with the plugins unchanged from RLPx.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::quic_node;
use p2p_core::PeerId;
use p2p_protocols::eth::chain::MemoryChain;
use p2p_protocols::eth::handshake::ChainSpec;
use p2p_protocols::eth::protocol::{Eth, EthConfig};
use p2p_protocols::forkid::mainnet;
use p2p_protocols::snap::{
    keccak256, MemorySnapState, SlimAccount, Snap, SnapConfig, SnapEvent, SnapPeer,
};
use primitive_types::{H256, U256};
use quic_transport::{QuicConfig, StreamMode};
use tokio::sync::broadcast;

struct SnapNode {
    node: common::Node,
    _eth: Eth,
    events: broadcast::Receiver<SnapEvent>,
}

async fn snap_node(state: Arc<MemorySnapState>, quic: QuicConfig) -> SnapNode {
    let chain = Arc::new(MemoryChain::new(MemoryChain::mainnet_genesis()));
    let eth = Eth::new(
        EthConfig::new(ChainSpec::new(1, mainnet::petersburg())),
        chain,
    );
    let snap = Snap::new(SnapConfig::default(), state);
    let events = snap.subscribe();
    let mut protocols = eth.protocols();
    protocols.push(snap.protocol());
    let node = quic_node(quic, protocols, |c| c).await;
    SnapNode {
        node,
        _eth: eth,
        events,
    }
}

async fn ready(node: &mut SnapNode, id: PeerId) -> SnapPeer {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let SnapEvent::Ready(peer) = node.events.recv().await.unwrap() {
                if peer.id() == id {
                    return peer;
                }
            }
        }
    })
    .await
    .expect("snap ready within 10 s")
}

fn hash(tag: &str, i: u64) -> H256 {
    keccak256(format!("{tag} {i}").as_bytes())
}

/// 500 accounts, every tenth with code, served in pages of 4 KiB.
async fn accounts_and_codes(streams: StreamMode) {
    let quic = QuicConfig {
        streams,
        ..QuicConfig::default()
    };
    let mut state = MemorySnapState::new(hash("root", 0));
    let mut codes = Vec::new();
    let mut expected = Vec::new();
    for i in 0..500u64 {
        let code_hash = (i % 10 == 0).then(|| {
            let code = Bytes::from(vec![i as u8; 100 + i as usize]);
            let hash = state.insert_code(code.clone());
            codes.push((hash, code));
            hash
        });
        let account = SlimAccount {
            nonce: i,
            balance: U256::from(i),
            storage_root: None,
            code_hash,
        };
        let account_hash = hash("account", i);
        state.insert_account(account_hash, account);
        expected.push(account_hash);
    }
    expected.sort();
    let root = state.root();
    let mut a = snap_node(Arc::new(MemorySnapState::new(H256::zero())), quic.clone()).await;
    let b = snap_node(Arc::new(state), quic).await;
    a.node.server.add_peer(b.node.addr()).await;
    let b_id = b.node.id();
    let b_seen_by_a = ready(&mut a, b_id).await;

    // Every account, page by page.
    let mut got = Vec::new();
    let mut origin = Some(H256::zero());
    while let Some(from) = origin {
        let range = b_seen_by_a
            .get_account_range(root, from, H256([0xff; 32]), 4 * 1024)
            .await
            .unwrap();
        let Some(last) = range.accounts.last() else {
            break;
        };
        origin = (last.hash != H256([0xff; 32])).then(|| {
            let mut next = last.hash;
            for byte in next.0.iter_mut().rev() {
                *byte = byte.wrapping_add(1);
                if *byte != 0 {
                    break;
                }
            }
            next
        });
        got.extend(range.accounts.iter().map(|entry| entry.hash));
    }
    assert_eq!(got, expected);

    // The codes, checked against their hashes on receipt.
    let hashes: Vec<H256> = codes.iter().map(|(hash, _)| *hash).collect();
    let fetched = b_seen_by_a.get_byte_codes(hashes, 1 << 20).await.unwrap();
    assert_eq!(fetched, codes);

    a.node.server.stop().await;
    b.node.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snap_accounts_and_codes_over_one_stream() {
    accounts_and_codes(StreamMode::OneStream).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snap_accounts_and_codes_over_a_stream_per_capability() {
    accounts_and_codes(StreamMode::PerCapability).await;
}
