//! Capability messages as a peer can send them: eth/68 to eth/71 and snap/1.
//!
//! The first input byte picks the capability, the second the message code;
//! the rest is the payload. Decoding must fail cleanly or give a message that
//! encodes back to a payload decoding to the same message.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use p2p_protocols::eth::messages::EthMessage;
use p2p_protocols::eth::EthVersion;
use p2p_protocols::snap::SnapMessage;

fuzz_target!(|data: &[u8]| {
    let [which, code, payload @ ..] = data else {
        return;
    };
    let code = u64::from(*code % 0x14);
    let which = usize::from(*which) % (EthVersion::ALL.len() + 1);
    match EthVersion::ALL.get(which) {
        Some(&version) => {
            let payload = Bytes::copy_from_slice(payload);
            if let Ok(message) = EthMessage::decode(version, code, &payload) {
                assert_eq!(message.code(), code);
                let again = message.encode_payload();
                let reparsed = EthMessage::decode(version, code, &again)
                    .expect("a re-encoded message decodes");
                assert_eq!(reparsed, message);
            }
        }
        None => {
            if let Ok(message) = SnapMessage::decode(code, payload) {
                let again = message.encode();
                let reparsed =
                    SnapMessage::decode(code, &again).expect("a re-encoded message decodes");
                assert_eq!(reparsed, message);
            }
        }
    }
});
