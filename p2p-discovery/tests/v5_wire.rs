//! The discovery v5 wire test vectors (`testdata/discv5_wire.json`, from the
//! devp2p specification) against the `discv5` crate this node runs: the
//! vector's node B, run as our discovery v5 service, must read the
//! specification's message packet from node A and answer it as the
//! specification says a node without a session does, with a WHOAREYOU for
//! that packet's nonce.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use aes::cipher::{KeyIvInit, StreamCipher};
use p2p_core::NodeKey;
use p2p_discovery::v5::{Discv5Config, Discv5Service};
use tokio::net::UdpSocket;
use tokio::time::timeout;

/// AES-128-CTR with the whole 16-byte IV as the counter: the header masking.
type Masking = ctr::Ctr128BE<aes::Aes128>;

/// The static header: protocol id (6), version (2), flag (1), nonce (12),
/// authdata size (2).
const STATIC_HEADER: usize = 23;

fn vectors() -> serde_json::Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/discv5_wire.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn unhex(value: &serde_json::Value) -> Vec<u8> {
    hex::decode(value.as_str().unwrap().trim_start_matches("0x")).unwrap()
}

#[tokio::test]
async fn node_b_answers_the_spec_message_packet_with_a_whoareyou_for_its_nonce() {
    let vectors = vectors();
    let key_b =
        NodeKey::from_bytes(unhex(&vectors["keys"]["node-b-key"]).try_into().unwrap()).unwrap();
    let ping = &vectors["packets"][0];
    assert_eq!(ping["name"], "Ping message packet (flag 0)");
    let inputs = &ping["inputs"];
    // The node id scheme: node B's key gives the id the packet is for.
    assert_eq!(
        key_b.id().node_id().as_bytes().to_vec(),
        unhex(&inputs["dest-node-id"])
    );

    let config = Discv5Config {
        listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        ..Discv5Config::default()
    };
    let node_b = Discv5Service::start(&key_b, config).await.unwrap();
    let node_a = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    node_a
        .send_to(&unhex(&ping["hex"]), node_b.local_addr())
        .await
        .unwrap();
    let mut reply = vec![0u8; 1280];
    let (len, from) = timeout(Duration::from_secs(5), node_a.recv_from(&mut reply))
        .await
        .expect("node B answers")
        .unwrap();
    assert_eq!(from, node_b.local_addr());
    let reply = &reply[..len];

    // Unmask with node A's id, the reply's destination.
    let src_id = unhex(&inputs["src-node-id"]);
    let (iv, masked) = reply.split_at(16);
    let mut header = masked[..STATIC_HEADER + 24].to_vec();
    Masking::new(src_id[..16].try_into().unwrap(), iv.try_into().unwrap())
        .apply_keystream(&mut header);
    assert_eq!(&header[..6], b"discv5", "protocol id");
    assert_eq!(&header[6..8], &[0, 1], "version");
    assert_eq!(header[8], 1, "flag: WHOAREYOU");
    assert_eq!(
        &header[9..21],
        &unhex(&inputs["nonce"])[..],
        "the ping's nonce"
    );
    assert_eq!(&header[21..23], &[0, 24], "authdata: id-nonce and enr-seq");
    assert_eq!(len, 16 + STATIC_HEADER + 24, "a WHOAREYOU has no message");
    // Node B knows no record of node A.
    assert_eq!(&header[STATIC_HEADER + 16..], &[0; 8], "enr-seq");
    node_b.shutdown();
}
