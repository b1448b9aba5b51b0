//! EIP-778 node records as peers hand them over: raw RLP (discv4's
//! ENRResponse, discv5's NODES) or `enr:` text (DNS trees, bootnode lists).
//! Anything must be refused cleanly; a record that is accepted must print
//! back to text that parses to the same record, within the size limit, and
//! its fields must be readable without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use p2p_core::record::{self, NodeRecord};

fuzz_target!(|data: &[u8]| {
    let parsed = match std::str::from_utf8(data) {
        Ok(text) if text.starts_with("enr:") => text.parse::<NodeRecord>(),
        // Raw RLP, read as discovery reads it.
        _ => record::from_rlp(data),
    };
    let Ok(record) = parsed else {
        return;
    };
    let again: NodeRecord = record.to_base64().parse().expect("a printed record parses");
    assert_eq!(again, record);
    let _ = record::peer_id(&record);
    let _ = record::enode(&record);
    let _ = record::eth_fork_id(&record);
});
