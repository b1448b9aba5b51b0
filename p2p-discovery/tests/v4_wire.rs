//! Discovery v4 wire format: EIP-8 vectors, round trips and rejection of bad
//! datagrams.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytes::Bytes;
use p2p_core::{keccak256, NodeKey, PeerId};
use p2p_discovery::v4::wire::{
    decode, encode, is_expired, neighbors_chunks, seal, Endpoint, EnrRequest, EnrResponse,
    FindNode, Neighbors, NodeRecordV4, Packet, Ping, Pong, WireError, ENR_REQUEST_TYPE,
    MAX_NEIGHBORS, MAX_PACKET_SIZE, MIN_PACKET_SIZE, PING_TYPE,
};
use proptest::prelude::*;

const EXPIRATION: u64 = 1136239445;

fn vectors() -> serde_json::Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/eip8.json");
    let text = std::fs::read_to_string(path).expect("read testdata/eip8.json");
    let json: serde_json::Value = serde_json::from_str(&text).expect("parse eip8.json");
    json["discv4_packets"].clone()
}

fn vector(name: &str) -> (Vec<u8>, NodeKey) {
    let v = vectors();
    let key: NodeKey = v["signing_key"].as_str().unwrap().parse().unwrap();
    let packet = hex::decode(v[name].as_str().unwrap()).unwrap();
    (packet, key)
}

/// Decodes a vector and checks the sender and hash.
fn decode_vector(name: &str) -> Packet {
    let (datagram, key) = vector(name);
    let decoded = decode(&datagram).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(decoded.sender, key.id(), "{name}: sender");
    assert_eq!(&decoded.hash[..], &datagram[..32], "{name}: hash");
    decoded.packet
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn peer(s: &str) -> PeerId {
    s.parse().unwrap()
}

fn test_key() -> NodeKey {
    "b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291"
        .parse()
        .unwrap()
}

fn sample_ping() -> Packet {
    Packet::Ping(Ping {
        version: 4,
        from: Endpoint::new(Ipv4Addr::new(10, 0, 0, 1), 30303, 30303),
        to: Endpoint::new(Ipv6Addr::LOCALHOST, 30304, 0),
        expiration: EXPIRATION,
        enr_seq: Some(7),
    })
}

fn worst_case_node(i: u8) -> NodeRecordV4 {
    NodeRecordV4 {
        endpoint: Endpoint::new(Ipv6Addr::from([0xff; 16]), u16::MAX, u16::MAX),
        id: PeerId([i | 0x80; 64]),
    }
}

// ---- EIP-8 vectors ----

#[test]
fn eip8_ping_v4_extra_fields() {
    // Extra elements 0x01, 0x02: since EIP-868 the first is the optional enr-seq
    // (go-ethereum decodes ENRSeq = 1 as well); 0x02 is ignored.
    let want = Packet::Ping(Ping {
        version: 4,
        from: Endpoint::new(ip("127.0.0.1"), 3322, 5544),
        to: Endpoint::new(ip("::1"), 2222, 3333),
        expiration: EXPIRATION,
        enr_seq: Some(1),
    });
    assert_eq!(decode_vector("ping_v4_extra_fields"), want);
}

#[test]
fn eip8_ping_v555_extra_fields_and_data() {
    // The fifth element is the list [1, 2, 3, 4, 5]: not an enr-seq, ignored.
    let want = Packet::Ping(Ping {
        version: 555,
        from: Endpoint::new(ip("2001:db8:3c4d:15::abcd:ef12"), 3322, 5544),
        to: Endpoint::new(ip("2001:db8:85a3:8d3:1319:8a2e:370:7348"), 2222, 33338),
        expiration: EXPIRATION,
        enr_seq: None,
    });
    assert_eq!(decode_vector("ping_v555_extra_fields_and_data"), want);
}

#[test]
fn eip8_pong_extra_fields_and_data() {
    let mut ping_hash = [0u8; 32];
    hex::decode_to_slice(
        "fbc914b16819237dcd8801d7e53f69e9719adecb3cc0e790c57e91ca4461c954",
        &mut ping_hash,
    )
    .unwrap();
    let want = Packet::Pong(Pong {
        to: Endpoint::new(ip("2001:db8:85a3:8d3:1319:8a2e:370:7348"), 2222, 33338),
        ping_hash,
        expiration: EXPIRATION,
        enr_seq: None,
    });
    assert_eq!(decode_vector("pong_extra_fields_and_data"), want);
}

#[test]
fn eip8_findnode_extra_fields_and_data() {
    let want = Packet::FindNode(FindNode {
        target: peer(
            "ca634cae0d49acb401d8a4c6b6fe8c55b70d115bf400769cc1400f3258cd3138\
             7574077f301b421bc84df7266c44e9e6d569fc56be00812904767bf5ccd1fc7f",
        ),
        expiration: EXPIRATION,
    });
    assert_eq!(decode_vector("findnode_extra_fields_and_data"), want);
}

#[test]
fn eip8_neighbours_extra_fields_and_data() {
    let node = |addr: &str, udp, tcp, id: &str| NodeRecordV4 {
        endpoint: Endpoint::new(ip(addr), udp, tcp),
        id: peer(id),
    };
    let want = Packet::Neighbors(Neighbors {
        nodes: vec![
            node(
                "99.33.22.55",
                4444,
                4445,
                "3155e1427f85f10a5c9a7755877748041af1bcd8d474ec065eb33df57a97babf\
                 54bfd2103575fa829115d224c523596b401065a97f74010610fce76382c0bf32",
            ),
            node(
                "1.2.3.4",
                1,
                1,
                "312c55512422cf9b8a4097e9a6ad79402e87a15ae909a4bfefa22398f03d2095\
                 1933beea1e4dfa6f968212385e829f04c2d314fc2d4e255e0d3bc08792b069db",
            ),
            node(
                "2001:db8:3c4d:15::abcd:ef12",
                3333,
                3333,
                "38643200b172dcfef857492156971f0e6aa2c538d8b74010f8e140811d53b98c\
                 765dd2d96126051913f44582e8c199ad7c6d6819e9a56483f637feaac9448aac",
            ),
            node(
                "2001:db8:85a3:8d3:1319:8a2e:370:7348",
                999,
                1000,
                "8dcab8618c3253b558d459da53bd8fa68935a719aff8b811197101a4b2b47dd2\
                 d47295286fc00cc081bb542d760717d1bdd6bec2c37cd72eca367d6dd3b9df73",
            ),
        ],
        expiration: EXPIRATION,
    });
    assert_eq!(decode_vector("neighbours_extra_fields_and_data"), want);
}

// ---- round trips ----

fn arb_ip() -> impl Strategy<Value = Option<IpAddr>> {
    prop_oneof![
        Just(None),
        any::<[u8; 4]>().prop_map(|b| Some(IpAddr::V4(Ipv4Addr::from(b)))),
        any::<[u8; 16]>().prop_map(|b| Some(IpAddr::V6(Ipv6Addr::from(b)))),
    ]
}

fn arb_endpoint() -> impl Strategy<Value = Endpoint> {
    (arb_ip(), any::<u16>(), any::<u16>()).prop_map(|(ip, udp_port, tcp_port)| Endpoint {
        ip,
        udp_port,
        tcp_port,
    })
}

fn arb_peer() -> impl Strategy<Value = PeerId> {
    proptest::collection::vec(any::<u8>(), 64).prop_map(|v| PeerId::from_slice(&v).unwrap())
}

fn arb_record() -> impl Strategy<Value = Bytes> {
    // [seq, key, value, ...] shaped like an ENR; content is opaque here.
    (any::<u64>(), proptest::collection::vec(any::<u8>(), 0..200)).prop_map(|(seq, v)| {
        let mut s = rlp::RlpStream::new_list(3);
        s.append(&seq);
        s.append(&"id");
        s.append(&v);
        s.out().freeze()
    })
}

fn arb_packet() -> impl Strategy<Value = Packet> {
    prop_oneof![
        (
            any::<u64>(),
            arb_endpoint(),
            arb_endpoint(),
            any::<u64>(),
            any::<Option<u64>>()
        )
            .prop_map(
                |(version, from, to, expiration, enr_seq)| Packet::Ping(Ping {
                    version,
                    from,
                    to,
                    expiration,
                    enr_seq
                })
            ),
        (
            arb_endpoint(),
            any::<[u8; 32]>(),
            any::<u64>(),
            any::<Option<u64>>()
        )
            .prop_map(|(to, ping_hash, expiration, enr_seq)| Packet::Pong(Pong {
                to,
                ping_hash,
                expiration,
                enr_seq
            })),
        (arb_peer(), any::<u64>())
            .prop_map(|(target, expiration)| Packet::FindNode(FindNode { target, expiration })),
        (
            proptest::collection::vec(
                (arb_endpoint(), arb_peer())
                    .prop_map(|(endpoint, id)| NodeRecordV4 { endpoint, id }),
                0..=MAX_NEIGHBORS
            ),
            any::<u64>()
        )
            .prop_map(|(nodes, expiration)| Packet::Neighbors(Neighbors { nodes, expiration })),
        any::<u64>().prop_map(|expiration| Packet::EnrRequest(EnrRequest { expiration })),
        (any::<[u8; 32]>(), arb_record()).prop_map(|(request_hash, record)| {
            Packet::EnrResponse(EnrResponse {
                request_hash,
                record,
            })
        }),
    ]
}

proptest! {
    #[test]
    fn every_packet_type_round_trips(packet in arb_packet()) {
        let key = test_key();
        let (datagram, hash) = encode(&key, &packet).unwrap();
        prop_assert!(datagram.len() <= MAX_PACKET_SIZE);
        prop_assert_eq!(&datagram[..32], &hash[..]);
        let decoded = decode(&datagram).unwrap();
        prop_assert_eq!(decoded.packet, packet);
        prop_assert_eq!(decoded.sender, key.id());
        prop_assert_eq!(decoded.hash, hash);
    }

    #[test]
    fn flipped_bit_anywhere_fails(bit in 0usize..(8 * 200)) {
        let (datagram, _) = encode(&test_key(), &sample_ping()).unwrap();
        let bit = bit % (8 * datagram.len());
        let mut bad = datagram.to_vec();
        bad[bit / 8] ^= 1 << (bit % 8);
        prop_assert_eq!(decode(&bad), Err(WireError::HashMismatch));
    }
}

#[test]
fn every_single_bit_flip_fails() {
    let (datagram, _) = encode(&test_key(), &sample_ping()).unwrap();
    for bit in 0..8 * datagram.len() {
        let mut bad = datagram.to_vec();
        bad[bit / 8] ^= 1 << (bit % 8);
        assert_eq!(decode(&bad), Err(WireError::HashMismatch), "bit {bit}");
    }
}

#[test]
fn empty_ip_endpoint_round_trips() {
    let packet = Packet::Pong(Pong {
        to: Endpoint {
            ip: None,
            udp_port: 1,
            tcp_port: 2,
        },
        ping_hash: [9; 32],
        expiration: 5,
        enr_seq: None,
    });
    let (datagram, _) = encode(&test_key(), &packet).unwrap();
    assert_eq!(decode(&datagram).unwrap().packet, packet);
}

// ---- rejections ----

/// Replaces the signature and recomputes a valid hash over it.
fn with_signature(datagram: &[u8], sig: &[u8; 65]) -> Vec<u8> {
    let mut out = datagram.to_vec();
    out[32..97].copy_from_slice(sig);
    let hash = keccak256(&out[32..]);
    out[..32].copy_from_slice(&hash);
    out
}

#[test]
fn valid_hash_over_bad_signature_fails() {
    let (datagram, _) = encode(&test_key(), &sample_ping()).unwrap();
    // r = s = 0.
    let zero = with_signature(&datagram, &[0; 65]);
    assert_eq!(decode(&zero), Err(WireError::InvalidSignature));
    // r and s above the curve order.
    let mut big = [0xff; 65];
    big[64] = 0;
    assert_eq!(
        decode(&with_signature(&datagram, &big)),
        Err(WireError::InvalidSignature)
    );
    // A real signature with an impossible recovery id.
    let mut sig: [u8; 65] = datagram[32..97].try_into().unwrap();
    sig[64] = 27;
    assert_eq!(
        decode(&with_signature(&datagram, &sig)),
        Err(WireError::InvalidSignature)
    );
}

#[test]
fn oversized_datagram_refused_before_any_work() {
    // Garbage would fail the hash check; the size check must come first.
    assert_eq!(
        decode(&[0u8; MAX_PACKET_SIZE + 1]),
        Err(WireError::TooLarge(1281))
    );
    assert_eq!(decode(&vec![0xaa; 65536]), Err(WireError::TooLarge(65536)));
    // A datagram of exactly the limit gets past the size check.
    assert_eq!(
        decode(&[0u8; MAX_PACKET_SIZE]),
        Err(WireError::HashMismatch)
    );
}

#[test]
fn oversized_packet_not_encoded() {
    let nodes: Vec<_> = (0..=MAX_NEIGHBORS as u8).map(worst_case_node).collect();
    let packet = Packet::Neighbors(Neighbors {
        nodes,
        expiration: u64::MAX,
    });
    assert!(
        matches!(encode(&test_key(), &packet), Err(WireError::TooLarge(n)) if n > MAX_PACKET_SIZE)
    );
}

#[test]
fn truncated_packets_refused() {
    let (datagram, _) = encode(&test_key(), &sample_ping()).unwrap();
    for len in 0..datagram.len() {
        let err = decode(&datagram[..len]).unwrap_err();
        if len < MIN_PACKET_SIZE {
            assert_eq!(err, WireError::TooShort(len));
        } else {
            assert_eq!(err, WireError::HashMismatch, "len {len}");
        }
    }
}

#[test]
fn truncated_rlp_with_valid_signature_refused() {
    let key = test_key();
    let data = sample_ping_data();
    for cut in 1..data.len() {
        let (datagram, _) = seal(&key, PING_TYPE, &data[..cut]).unwrap();
        assert!(
            matches!(decode(&datagram), Err(WireError::Rlp(_))),
            "cut at {cut}"
        );
    }
    // No packet data at all.
    let (datagram, _) = seal(&key, PING_TYPE, &[]).unwrap();
    assert!(matches!(decode(&datagram), Err(WireError::Rlp(_))));
}

fn sample_ping_data() -> Vec<u8> {
    sample_ping().encode_data().unwrap()
}

#[test]
fn missing_fields_refused() {
    let mut s = rlp::RlpStream::new_list(3);
    s.append(&4u64);
    s.begin_list(3)
        .append(&[127u8, 0, 0, 1].as_slice())
        .append(&1u16)
        .append(&2u16);
    s.begin_list(3)
        .append(&[127u8, 0, 0, 1].as_slice())
        .append(&1u16)
        .append(&2u16);
    let (datagram, _) = seal(&test_key(), PING_TYPE, &s.out()).unwrap();
    assert!(matches!(
        decode(&datagram),
        Err(WireError::MissingFields {
            needed: 4,
            got: 3,
            ..
        })
    ));
}

#[test]
fn bad_ip_length_refused() {
    let mut s = rlp::RlpStream::new_list(4);
    s.append(&4u64);
    s.begin_list(3)
        .append(&[127u8, 0, 0].as_slice())
        .append(&1u16)
        .append(&2u16);
    s.begin_list(3)
        .append(&[127u8, 0, 0, 1].as_slice())
        .append(&1u16)
        .append(&2u16);
    s.append(&EXPIRATION);
    let (datagram, _) = seal(&test_key(), PING_TYPE, &s.out()).unwrap();
    assert_eq!(decode(&datagram), Err(WireError::InvalidIpLength(3)));
}

#[test]
fn unknown_type_refused() {
    let key = test_key();
    let mut s = rlp::RlpStream::new_list(1);
    s.append(&EXPIRATION);
    let data = s.out();
    // The same body is fine as an ENRRequest.
    let (ok, _) = seal(&key, ENR_REQUEST_TYPE, &data).unwrap();
    assert!(decode(&ok).is_ok());
    for t in [0x00, 0x07, 0x80, 0xff] {
        let (datagram, _) = seal(&key, t, &data).unwrap();
        assert_eq!(decode(&datagram), Err(WireError::UnknownPacketType(t)));
    }
}

#[test]
fn extra_fields_and_trailing_data_ignored() {
    let key = test_key();
    let mut s = rlp::RlpStream::new_list(3);
    s.append(&EXPIRATION);
    s.append(&"future");
    s.begin_list(0);
    let mut data = s.out().to_vec();
    data.extend_from_slice(b"\xb5trailing junk");
    let (datagram, _) = seal(&key, ENR_REQUEST_TYPE, &data).unwrap();
    assert_eq!(
        decode(&datagram).unwrap().packet,
        Packet::EnrRequest(EnrRequest {
            expiration: EXPIRATION
        })
    );
}

#[test]
fn enr_response_record_must_be_a_list() {
    let packet = Packet::EnrResponse(EnrResponse {
        request_hash: [1; 32],
        record: Bytes::from_static(b"\x83abc"),
    });
    assert_eq!(encode(&test_key(), &packet), Err(WireError::InvalidEnr));
}

// ---- Neighbors splitting and expiry ----

#[test]
fn worst_case_neighbors_chunks_fit() {
    let nodes: Vec<_> = (0..30).map(worst_case_node).collect();
    let chunks = neighbors_chunks(&nodes, u64::MAX);
    assert_eq!(chunks.len(), 3);
    let mut seen = Vec::new();
    for chunk in &chunks {
        let (datagram, _) = encode(&test_key(), chunk).unwrap();
        assert!(
            datagram.len() <= MAX_PACKET_SIZE,
            "{} bytes",
            datagram.len()
        );
        match decode(&datagram).unwrap().packet {
            Packet::Neighbors(n) => {
                assert!(n.nodes.len() <= MAX_NEIGHBORS);
                assert_eq!(n.expiration, u64::MAX);
                seen.extend(n.nodes);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seen, nodes);
}

#[test]
fn empty_neighbors_gives_one_packet() {
    let chunks = neighbors_chunks(&[], 9);
    assert_eq!(
        chunks,
        vec![Packet::Neighbors(Neighbors {
            nodes: vec![],
            expiration: 9
        })]
    );
}

#[test]
fn expiration_is_callers_check() {
    let packet = Packet::EnrRequest(EnrRequest { expiration: 1 });
    let (datagram, _) = encode(&test_key(), &packet).unwrap();
    let decoded = decode(&datagram).unwrap();
    assert!(is_expired(
        decoded.packet.expiration().unwrap(),
        1_700_000_000
    ));
    assert!(!is_expired(1_700_000_001, 1_700_000_000));
}
