//! Discovery v4 packets as a remote node can send them.
//!
//! The first input byte picks the mode: whole datagrams (hash, signature and
//! all: the hash and signature checks must reject almost everything without a
//! panic), or packet bodies sealed with a valid hash and signature so that the
//! RLP decoding of each packet type is reached. A body that decodes must
//! encode back to a packet that decodes to the same value.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use p2p_core::NodeKey;
use p2p_discovery::v4::wire::{self, Packet, MAX_PACKET_SIZE};

fn key() -> &'static NodeKey {
    static KEY: OnceLock<NodeKey> = OnceLock::new();
    KEY.get_or_init(|| NodeKey::from_bytes([7; 32]).expect("valid key"))
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        if let Ok(decoded) = wire::decode(rest) {
            assert!(rest.len() <= MAX_PACKET_SIZE);
            let _ = decoded.packet.name();
        }
        return;
    }
    let Some((&packet_type, body)) = rest.split_first() else {
        return;
    };
    let Ok((datagram, hash)) = wire::seal(key(), packet_type, body) else {
        return;
    };
    let Ok(decoded) = wire::decode(&datagram) else {
        return;
    };
    assert_eq!(decoded.hash, hash);
    assert_eq!(decoded.sender, key().id());
    let packet: Packet = decoded.packet;
    if let Ok(again) = packet.encode_data() {
        let reparsed =
            Packet::decode_data(packet.packet_type(), &again).expect("a re-encoded packet decodes");
        assert_eq!(reparsed, packet);
    }
});
