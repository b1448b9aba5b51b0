//! The base protocol's messages a peer sends before and around its session:
//! Hello and Disconnect payloads. Any bytes must be refused cleanly or
//! decode to a value that encodes and decodes back to itself. The first
//! input byte picks the message (even: Hello, odd: Disconnect).
#![no_main]

use libfuzzer_sys::fuzz_target;
use p2p_core::base::{DisconnectReason, Hello};

fuzz_target!(|data: &[u8]| {
    let Some((&which, payload)) = data.split_first() else {
        return;
    };
    if which % 2 == 0 {
        if let Ok(hello) = Hello::decode_payload(payload) {
            let again = Hello::decode_payload(&hello.to_msg().payload).expect("re-encoded Hello");
            assert_eq!(again, hello);
        }
    } else if let Ok(reason) = DisconnectReason::decode_payload(payload) {
        let again =
            DisconnectReason::decode_payload(&reason.to_msg().payload).expect("re-encoded reason");
        assert_eq!(again, reason);
    }
});
