//! `enode://` URLs from bootnode lists, static-node files and admin calls:
//! any text must be refused cleanly or parse to a node whose printed URL
//! parses back to it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use p2p_core::Enode;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(node) = text.parse::<Enode>() else {
        return;
    };
    let again: Enode = node.to_string().parse().expect("a printed URL parses");
    assert_eq!(again, node);
});
