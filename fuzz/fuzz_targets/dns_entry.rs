//! EIP-1459 tree entries as a DNS server (anyone who controls a zone) can
//! serve them: any text must be rejected cleanly or parsed into an entry that
//! prints back to text parsing to the same entry.
#![no_main]

use libfuzzer_sys::fuzz_target;
use p2p_discovery::dns::tree::Entry;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(entry) = Entry::parse(text) else {
        return;
    };
    let printed = entry.to_string();
    let again = Entry::parse(&printed).expect("a printed entry parses");
    assert_eq!(again, entry);
});
