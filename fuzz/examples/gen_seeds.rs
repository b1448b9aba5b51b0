//! Writes the seed inputs of the fuzz targets into `seeds/<target>/`:
//! `cargo run --example gen_seeds` (from `fuzz/`). The seeds are committed; the
//! fuzzers' own corpora (`corpus/`) are not.

use std::fs;
use std::path::Path;
use std::str::FromStr;

use p2p_rlpx::ecies::decrypt;

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/eip8.json");
const DISCV5_VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/discv5_wire.json");
const ENR_DNS_VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/enr_dns.json");

fn write(target: &str, name: &str, data: &[u8]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("seeds")
        .join(target);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(name), data).unwrap();
}

/// Every string value of `"key": "..."` in a vectors file, in order.
fn strings(text: &str, key: &str) -> Vec<String> {
    let key = format!("\"{key}\": \"");
    text.match_indices(&key)
        .map(|(at, _)| {
            let start = at + key.len();
            let end = start + text[start..].find('"').unwrap();
            text[start..end].to_string()
        })
        .collect()
}

/// The bytes of the hex string `"name": "..."` in a vectors file.
fn vector(text: &str, name: &str) -> Vec<u8> {
    let hex_text = strings(text, name)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("{name} missing"));
    hex::decode(hex_text).unwrap()
}

fn main() {
    let text = fs::read_to_string(VECTORS).expect("EIP-8 vectors in ../testdata");
    let key_a = p2p_fuzz::node_key(p2p_fuzz::STATIC_KEY_A);
    let key_b = p2p_fuzz::node_key(p2p_fuzz::STATIC_KEY_B);

    // auth_ack: the plaintext bodies of the EIP-8 vectors, mode 1 (EIP-8) or 2 (legacy).
    for (name, key) in [
        ("auth1_legacy", &key_b),
        ("auth2_eip8_v4", &key_b),
        ("auth3_eip8_v56_extra", &key_b),
        ("ack1_legacy", &key_a),
        ("ack2_eip8_v4", &key_a),
        ("ack3_eip8_v57_extra", &key_a),
    ] {
        let wire = vector(&text, name);
        let (mode, plain) = if name.contains("legacy") {
            (2u8, decrypt(key.secret(), &wire, &[]).unwrap())
        } else {
            (1u8, decrypt(key.secret(), &wire[2..], &wire[..2]).unwrap())
        };
        write("auth_ack", name, &[&[mode][..], &plain].concat());
        write(
            "auth_ack",
            &format!("{name}_raw"),
            &[&[0u8][..], &wire].concat(),
        );
    }

    // frame: raw, tampered (flags: snappy, flip, truncate, warm-up; code shift)
    // and sealed frames.
    let snappy_hello = snap::raw::Encoder::new()
        .compress_vec(&[0xab; 300])
        .unwrap();
    write("frame", "raw", &[0u8; 64]);
    let field = |flags: u8, code: u64, payload: &[u8]| {
        let mut v = vec![1u8, flags];
        v.extend_from_slice(&code.to_le_bytes());
        v.extend_from_slice(&17u32.to_le_bytes());
        v.extend_from_slice(&40u32.to_le_bytes());
        v.push(0x80);
        v.extend_from_slice(payload);
        v
    };
    write("frame", "intact", &field(0x70, 0x10, b"\xc5\x83abc"));
    write("frame", "intact_snappy", &field(0x71, 0x10, &[0u8; 200]));
    write("frame", "flip", &field(0x72, 0x02, b"\xc0"));
    write(
        "frame",
        "truncate_snappy_warm",
        &field(0x7d, 0x11, &[7u8; 100]),
    );
    write("frame", "long_code", &field(0x00, u64::MAX, b"payload"));
    let sealed =
        |flags: u8, body: &[u8]| [&[2u8, flags][..], &[0xc2, 0x80, 0x80], &[0; 10], body].concat();
    write("frame", "sealed_ping", &sealed(0, b"\x02\xc0"));
    write("frame", "sealed_code", &sealed(0, b"\x82\x01\x00rest"));
    write(
        "frame",
        "sealed_snappy",
        &sealed(1, &[&[0x10][..], &snappy_hello].concat()),
    );
    write("frame", "sealed_empty", &sealed(0, b""));

    // snappy_payload: code byte, then a snappy block.
    let block = snap::raw::Encoder::new()
        .compress_vec(b"hello hello hello hello world")
        .unwrap();
    write("snappy_payload", "ok", &[&[0x10][..], &block].concat());
    write(
        "snappy_payload",
        "disconnect",
        &[&[0x01][..], &block].concat(),
    );
    write("snappy_payload", "hello", &[&[0x00][..], &block].concat());
    write(
        "snappy_payload",
        "long",
        &[&[0x20][..], &snappy_hello].concat(),
    );
    // Declares 16 MiB + 1 bytes (varint 0x81 0x80 0x80 0x08).
    write(
        "snappy_payload",
        "too_large",
        &[0x20, 0x81, 0x80, 0x80, 0x08, 0x00],
    );
    // Declares exactly 16 MiB, then a short literal.
    write(
        "snappy_payload",
        "at_limit",
        &[0x20, 0x80, 0x80, 0x80, 0x08, 0x0c, b'a', b'b', b'c', b'd'],
    );

    // discv4_packet: the EIP-8 datagrams whole (mode 0), and their bodies to be
    // sealed again (mode 1: packet type, then the RLP body after hash,
    // signature and type).
    for name in [
        "ping_v4_extra_fields",
        "ping_v555_extra_fields_and_data",
        "pong_extra_fields_and_data",
        "findnode_extra_fields_and_data",
        "neighbours_extra_fields_and_data",
    ] {
        let wire = vector(&text, name);
        write("discv4_packet", name, &[&[0u8][..], &wire].concat());
        write(
            "discv4_packet",
            &format!("{name}_body"),
            &[&[1u8][..], &wire[97..]].concat(),
        );
    }

    // discv5_packet: the wire spec's packets (addressed to node B, the
    // harness's node) whole, and a WHOAREYOU and a handshake header as
    // plaintext fields for the masked mode.
    let discv5 = fs::read_to_string(DISCV5_VECTORS).expect("discv5 vectors in ../testdata");
    for (i, packet) in strings(&discv5, "hex").iter().enumerate() {
        let wire = hex::decode(packet).unwrap();
        write(
            "discv5_packet",
            &format!("spec_{i}"),
            &[&[0u8][..], &wire].concat(),
        );
    }
    let masked = |flag: u8, authdata: &[u8], message: &[u8]| {
        let mut v = vec![1u8];
        v.extend_from_slice(&[0x22; 16]);
        v.push(flag);
        v.extend_from_slice(&[0x33; 12]);
        v.extend_from_slice(&(authdata.len() as u16).to_be_bytes());
        v.extend_from_slice(authdata);
        v.extend_from_slice(message);
        v
    };
    write(
        "discv5_packet",
        "masked_message",
        &masked(0, &[0xaa; 32], &[0x42; 32]),
    );
    write(
        "discv5_packet",
        "masked_whoareyou",
        &masked(1, &[0x01; 24], b""),
    );
    let record = &strings(&fs::read_to_string(ENR_DNS_VECTORS).unwrap(), "record")[0];
    let record_rlp = alloy_rlp::encode(
        p2p_core::record::NodeRecord::from_str(record).expect("the EIP-778 record parses"),
    );
    let mut handshake = vec![0xaa; 32];
    handshake.extend_from_slice(&[64, 33]);
    handshake.extend_from_slice(&[0x55; 64]);
    handshake.push(0x02);
    handshake.extend_from_slice(&[0x66; 32]);
    handshake.extend_from_slice(&record_rlp);
    write(
        "discv5_packet",
        "masked_handshake",
        &masked(2, &handshake, &[0x42; 32]),
    );

    // node_record and dns_entry: the EIP-778 record as text and as RLP; the
    // EIP-1459 example zone's entries.
    let enr_dns = fs::read_to_string(ENR_DNS_VECTORS).unwrap();
    write("node_record", "eip778_text", record.as_bytes());
    write("node_record", "eip778_rlp", &record_rlp);
    for (i, txt) in strings(&enr_dns, "txt").iter().enumerate() {
        write("dns_entry", &format!("eip1459_{i}"), txt.as_bytes());
    }

    // capability_message: capability (0..3 eth/68 to eth/71, 4 snap/1),
    // code, then a well-formed payload of that message.
    let hash = [0x11u8; 32];
    let list = |items: &[&[u8]]| -> Vec<u8> {
        let body: Vec<u8> = items.concat();
        assert!(body.len() < 56, "short lists only");
        [&[0xc0 + body.len() as u8][..], &body].concat()
    };
    let h = [&[0xa0u8][..], &hash].concat();
    let messages: [(&str, u8, Vec<u8>); 6] = [
        // GetBlockHeaders: request 1, from block 0, 10 headers, no skip, forwards.
        (
            "get_block_headers",
            0x03,
            list(&[&[0x01], &list(&[&[0x80], &[0x0a], &[0x80], &[0x80]])]),
        ),
        ("block_headers_empty", 0x04, list(&[&[0x01], &list(&[])])),
        ("new_block_hashes", 0x01, list(&[&list(&[&h, &[0x01]])])),
        ("transactions_empty", 0x02, list(&[])),
        ("get_receipts", 0x0f, list(&[&[0x01], &list(&[&h])])),
        // NewPooledTransactionHashes (eth/68 on): types, sizes, hashes.
        (
            "new_pooled_hashes",
            0x08,
            list(&[&[0x02], &list(&[&[0x64]]), &list(&[&h])]),
        ),
    ];
    for version in 0u8..4 {
        for (name, code, payload) in &messages {
            let seed = [&[version, *code][..], payload].concat();
            write(
                "capability_message",
                &format!("eth{}_{name}", 68 + version),
                &seed,
            );
        }
    }
    // snap GetAccountRange: request 1, root, origin, limit, 500,000 bytes.
    let mut range = vec![0x01];
    for _ in 0..3 {
        range.extend_from_slice(&h);
    }
    range.extend_from_slice(&[0x83, 0x07, 0xa1, 0x20]);
    let seed = [&[4u8, 0x00, 0xf8, range.len() as u8][..], &range].concat();
    write("capability_message", "snap_get_account_range", &seed);
}
