//! Typed capability messages: a capability declares its messages once, and
//! its code count, its encoding and its decoding (dispatch by code) all come
//! from that one definition.
//!
//! Messages come from peers nobody vouches for, so decoding is strict: the
//! payload must be exactly one RLP item (bytes after it are an error, not
//! ignored), and an unknown code is an error too. A message that fails to
//! decode earns its sender [`DisconnectReason::SubprotocolError`]
//! ([`MessageError::disconnect_reason`]), as go-ethereum answers a capability
//! handler's decode error, keeping `ProtocolError` for the base protocol.
//!
//! The [`capability_messages!`](crate::capability_messages) macro writes the
//! enum and its [`CapabilityMessage`] implementation from a list of
//! variants, each with its fields and its code. Each message is an RLP list
//! of its fields in order, as devp2p messages are; lists inside a message are
//! [`List`]s.
//!
//! ```
//! use p2p_core::message::{CapabilityMessage, List};
//! use p2p_core::Msg;
//!
//! p2p_core::capability_messages! {
//!     /// A `chat/1` message.
//!     #[derive(Clone, Debug, PartialEq, Eq)]
//!     pub enum Chat {
//!         /// Says something.
//!         Say { text: String } = 0,
//!         /// Asks for the last messages.
//!         History { request_id: u64, limit: u16 } = 1,
//!         /// Answers a History.
//!         Lines { request_id: u64, lines: List<String> } = 2,
//!     }
//! }
//!
//! assert_eq!(Chat::count(1), 3);
//! let msg = Chat::Say { text: "hi".into() }.to_msg();
//! assert_eq!((msg.code, &msg.payload[..]), (0, &[0xc3, 0x82, b'h', b'i'][..]));
//! assert_eq!(Chat::decode(1, &msg), Ok(Chat::Say { text: "hi".into() }));
//! // Bytes after the message are refused, and so is a code nobody defined.
//! let mut longer = msg.payload.to_vec();
//! longer.push(0x80);
//! assert!(Chat::decode(1, &Msg::new(0, longer)).is_err());
//! assert!(Chat::decode(1, &Msg::new(7, msg.payload.clone())).is_err());
//! ```
//!
//! As EIP-8 asks of devp2p messages, a list with more fields than the
//! variant has is accepted (a later version may add fields); one with fewer
//! is not.
//!
//! A capability whose messages differ between versions (eth) implements
//! [`CapabilityMessage`] by hand: `count` and `decode` take the version
//! spoken on the connection.

use bytes::Bytes;
use rlp::{Decodable, DecoderError, PayloadInfo, Rlp};

use crate::base::DisconnectReason;
use crate::msg::Msg;

/// Why a capability message could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// The code is not a message of the capability version spoken.
    #[error("message code {code:#04x} is not defined by {capability}")]
    UnknownCode {
        /// The code, relative to the capability.
        code: u64,
        /// The capability and version, for example `eth/69`.
        capability: String,
    },
    /// The payload is not the RLP the message's definition asks for.
    #[error("malformed message {code:#04x}: {error}")]
    Malformed {
        /// The code, relative to the capability.
        code: u64,
        /// What the RLP decoder found.
        error: DecoderError,
    },
    /// A list holds more items than the capability allows in that message.
    #[error("message {code:#04x} carries {count} items, more than the limit of {limit}")]
    TooManyItems {
        /// The code, relative to the capability.
        code: u64,
        /// How many items the list holds.
        count: usize,
        /// The limit.
        limit: usize,
    },
}

impl MessageError {
    /// The disconnect reason a peer that sent this earns: go-ethereum ends a
    /// peer whose capability message fails to decode with
    /// `SubprotocolError`, keeping `ProtocolError` for the base protocol.
    pub fn disconnect_reason(&self) -> DisconnectReason {
        DisconnectReason::SubprotocolError
    }

    /// Attaches `code` to a decoder error.
    pub fn malformed(code: u64) -> impl Fn(DecoderError) -> MessageError + Copy {
        move |error| MessageError::Malformed { code, error }
    }
}

impl From<MessageError> for DisconnectReason {
    fn from(err: MessageError) -> Self {
        err.disconnect_reason()
    }
}

/// Decodes `payload` as exactly one `T`: bytes after the first item are an
/// error.
pub fn decode_exact<T: Decodable>(payload: &[u8]) -> Result<T, DecoderError> {
    let rlp = Rlp::new(payload);
    check_whole(&rlp, payload.len())?;
    T::decode(&rlp)
}

/// Fails unless the item at the start of `rlp` spans exactly `len` bytes.
/// The item's length is summed with overflow checked: a header may claim up
/// to 2^64 - 1 bytes.
pub fn check_whole(rlp: &Rlp<'_>, len: usize) -> Result<(), DecoderError> {
    let info = rlp.payload_info()?;
    if info.header_len.checked_add(info.value_len) != Some(len) {
        return Err(DecoderError::RlpInconsistentLengthAndData);
    }
    Ok(())
}

/// Fails unless `rlp` is a list.
pub fn expect_list(rlp: &Rlp<'_>) -> Result<(), DecoderError> {
    if rlp.is_list() {
        Ok(())
    } else {
        Err(DecoderError::RlpExpectedToBeList)
    }
}

/// The items of list `rlp`, read in one pass: each item's header is parsed
/// straight from the list's payload, and an item that runs past the end of
/// the list is an error (not the silent end of the list it is for
/// `Rlp::iter`, which stops at the first item it cannot read, so that a list
/// with a broken tail would pass for a shorter one).
pub fn items<'a>(rlp: &Rlp<'a>) -> Result<Items<'a>, DecoderError> {
    expect_list(rlp)?;
    let info = rlp.payload_info()?;
    let end = info
        .header_len
        .checked_add(info.value_len)
        .ok_or(DecoderError::RlpIsTooShort)?;
    let payload = rlp
        .as_raw()
        .get(info.header_len..end)
        .ok_or(DecoderError::RlpIsTooShort)?;
    Ok(Items { rest: payload })
}

/// The RLP items written one after another in `bytes`, outside any list
/// (a chain export is such a stream of blocks), read as [`items`] reads a
/// list's: an item that runs past the end is an error.
pub fn stream(bytes: &[u8]) -> Items<'_> {
    Items { rest: bytes }
}

/// Iterator over the items of a list; see [`items`].
#[derive(Debug)]
pub struct Items<'a> {
    rest: &'a [u8],
}

impl<'a> Items<'a> {
    /// Bytes of the list not yet read.
    pub fn remaining(&self) -> usize {
        self.rest.len()
    }
}

impl<'a> Iterator for Items<'a> {
    type Item = Result<Rlp<'a>, DecoderError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        // A length field can claim up to 2^64 - 1 bytes: the sum is checked,
        // and so is that the item fits in what is left of the list.
        let item = PayloadInfo::from(self.rest).and_then(|info| {
            match info.header_len.checked_add(info.value_len) {
                Some(total) if total <= self.rest.len() => {
                    let (item, rest) = self.rest.split_at(total);
                    self.rest = rest;
                    Ok(Rlp::new(item))
                }
                _ => Err(DecoderError::RlpIsTooShort),
            }
        });
        if item.is_err() {
            // Nothing after a broken item can be read.
            self.rest = &[];
        }
        Some(item)
    }
}

/// The messages of one capability: their codes (relative to the
/// capability), how many codes each version uses, and how each message is
/// written and read. Written once per capability, by hand or with
/// [`capability_messages!`](crate::capability_messages).
pub trait CapabilityMessage: Sized {
    /// How many message codes version `version` of the capability uses:
    /// what its [`Protocol::message_count`](crate::Protocol::message_count)
    /// returns.
    fn count(version: u32) -> u64;

    /// This message's code.
    fn code(&self) -> u64;

    /// This message's payload.
    fn encode_payload(&self) -> Bytes;

    /// Reads `msg` (its code relative to the capability) as a message of
    /// version `version`, strictly.
    fn decode(version: u32, msg: &Msg) -> Result<Self, MessageError>;

    /// This message, ready to send on the capability.
    fn to_msg(&self) -> Msg {
        Msg::new(self.code(), self.encode_payload())
    }
}

/// A list inside a message: a `Vec` that encodes as an RLP list of its
/// items (the `rlp` crate encodes a bare `Vec<u8>` as a byte string, so a
/// field that is a list says so with this type).
///
/// Decoding allocates one item per item present in the payload, so its size
/// is bounded by the message's, which the transport bounds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct List<T>(pub Vec<T>);

impl<T: rlp::Encodable> rlp::Encodable for List<T> {
    fn rlp_append(&self, s: &mut rlp::RlpStream) {
        s.append_list(&self.0);
    }
}

impl<T: rlp::Decodable> rlp::Decodable for List<T> {
    /// Strict: the items must fill the list exactly (the `rlp` crate's own
    /// list reading stops quietly at an item it cannot read, so a list with
    /// a broken tail would pass for a shorter one).
    fn decode(rlp: &Rlp<'_>) -> Result<Self, DecoderError> {
        items(rlp)?
            .map(|item| T::decode(&item?))
            .collect::<Result<_, _>>()
            .map(List)
    }
}

impl<T> From<Vec<T>> for List<T> {
    fn from(items: Vec<T>) -> Self {
        List(items)
    }
}

impl<T> std::ops::Deref for List<T> {
    type Target = Vec<T>;

    fn deref(&self) -> &Vec<T> {
        &self.0
    }
}

/// Reads `payload` as the list of a message's fields: it must be one list
/// spanning the whole payload. Used by
/// [`capability_messages!`](crate::capability_messages).
pub fn fields<'a>(payload: &'a [u8]) -> Result<Rlp<'a>, DecoderError> {
    let rlp = Rlp::new(payload);
    check_whole(&rlp, payload.len())?;
    if !rlp.is_list() {
        return Err(DecoderError::RlpExpectedToBeList);
    }
    Ok(rlp)
}

/// Declares a capability's messages: an enum whose variants each list their
/// fields ([`rlp::Encodable`] and [`rlp::Decodable`] types, [`List`] for
/// lists) and name a code, and its
/// [`CapabilityMessage`](crate::message::CapabilityMessage) implementation:
/// the count is the highest code plus one, each message is the RLP list of
/// its fields, and decoding is strict. See the [module
/// documentation](crate::message).
#[macro_export]
macro_rules! capability_messages {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $(
                $(#[$variant_meta:meta])*
                $variant:ident { $( $(#[$field_meta:meta])* $field:ident : $field_ty:ty ),* $(,)? } = $code:expr
            ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis enum $name {
            $(
                $(#[$variant_meta])*
                $variant { $( $(#[$field_meta])* $field: $field_ty ),* },
            )+
        }

        impl $crate::message::CapabilityMessage for $name {
            fn count(_version: u32) -> u64 {
                let mut count = 0;
                $(
                    if $code + 1 > count {
                        count = $code + 1;
                    }
                )+
                count
            }

            fn code(&self) -> u64 {
                match self {
                    $( $name::$variant { .. } => $code, )+
                }
            }

            fn encode_payload(&self) -> $crate::bytes::Bytes {
                match self {
                    $(
                        $name::$variant { $($field),* } => {
                            let fields = 0usize $( + { let _ = stringify!($field); 1 } )*;
                            // `mut` is unused for a message without fields.
                            #[allow(unused_mut)]
                            let mut s = $crate::rlp::RlpStream::new_list(fields);
                            $( s.append($field); )*
                            s.out().freeze()
                        }
                    )+
                }
            }

            fn decode(
                version: u32,
                msg: &$crate::Msg,
            ) -> ::core::result::Result<Self, $crate::message::MessageError> {
                let malformed = $crate::message::MessageError::malformed(msg.code);
                $(
                    if msg.code == $code {
                        // Both unused for a message without fields.
                        #[allow(unused_variables)]
                        let rlp = $crate::message::fields(&msg.payload).map_err(malformed)?;
                        #[allow(unused_mut)]
                        let mut index = 0usize;
                        $(
                            let $field: $field_ty = rlp.val_at(index).map_err(malformed)?;
                            index += 1;
                        )*
                        let _ = index;
                        return Ok($name::$variant { $($field),* });
                    }
                )+
                Err($crate::message::MessageError::UnknownCode {
                    code: msg.code,
                    capability: format!("{} version {}", stringify!($name), version),
                })
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use rlp::RlpStream;

    use super::*;

    crate::capability_messages! {
        /// Gaps in the codes are allowed.
        #[derive(Clone, Debug, PartialEq, Eq)]
        enum Sparse {
            First { nonce: u64 } = 0,
            Fourth { nonce: u64, items: List<u32> } = 3,
            Empty {} = 5,
        }
    }

    #[test]
    fn count_is_the_highest_code_plus_one() {
        assert_eq!(Sparse::count(1), 6);
        assert_eq!(Sparse::First { nonce: 1 }.code(), 0);
        assert_eq!(Sparse::Empty {}.to_msg(), Msg::new(5, vec![0xc0]));
    }

    #[test]
    fn decoding_is_strict() {
        let fourth = Sparse::Fourth {
            nonce: 9,
            items: vec![1, 2].into(),
        };
        let msg = fourth.to_msg();
        assert_eq!(msg.payload[..], [0xc4, 0x09, 0xc2, 0x01, 0x02]);
        assert_eq!(Sparse::decode(1, &msg), Ok(fourth));
        // A field more, from a later version: accepted.
        let first = Sparse::decode(1, &Msg::new(0, vec![0xc2, 0x07, 0x08]));
        assert_eq!(first, Ok(Sparse::First { nonce: 7 }));
        for (code, payload) in [
            (0, vec![0xc1, 0x09, 0x00]),             // trailing byte
            (0, vec![0xc2, 0x09]),                   // truncated
            (0, vec![0x09]),                         // not a list
            (0, vec![0xc0]),                         // a field missing
            (0, vec![]),                             // empty
            (3, vec![0xc2, 0x09, 0x01]),             // a number where the list goes
            (3, vec![0xc4, 0x09, 0xc2, 0x01, 0x82]), // a list with a broken tail
            // A list claiming 2^64 - 1 bytes: refused, no overflow.
            (3, [vec![0xca, 0x09, 0xff], vec![0xff; 8]].concat()),
        ] {
            assert!(
                matches!(
                    Sparse::decode(1, &Msg::new(code, payload.clone())),
                    Err(MessageError::Malformed { .. })
                ),
                "{payload:?}"
            );
        }
        let unknown = Sparse::decode(1, &Msg::new(1, vec![0xc1, 0x09])).unwrap_err();
        assert_eq!(
            unknown.to_string(),
            "message code 0x01 is not defined by Sparse version 1"
        );
        assert!(matches!(unknown, MessageError::UnknownCode { code: 1, .. }));
        assert_eq!(
            unknown.disconnect_reason(),
            DisconnectReason::SubprotocolError
        );
    }

    #[test]
    fn decode_exact_refuses_trailing_bytes() {
        let mut s = RlpStream::new();
        s.append(&7u64);
        let mut bytes = s.out().to_vec();
        assert_eq!(decode_exact::<u64>(&bytes), Ok(7));
        bytes.push(0x01);
        assert_eq!(
            decode_exact::<u64>(&bytes),
            Err(DecoderError::RlpInconsistentLengthAndData)
        );
    }
}
