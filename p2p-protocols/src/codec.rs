//! What every capability's message codec shares: strict decoding of a whole
//! payload, bounded lists, and the error a bad message turns into.
//!
//! Capability messages arrive from peers nobody vouches for, so decoding is
//! strict where a lenient decoder would let garbage through: the payload must
//! be exactly one RLP item (bytes after it are an error, not ignored), and a
//! list a peer sends is checked against the capability's limit before a
//! single element of it is decoded. Allocation is therefore bounded by the
//! limits below and by the message size (at most 16 MiB after snappy, checked
//! by the transport), never by a count a peer wrote.

use p2p_core::DisconnectReason;
use rlp::{Decodable, DecoderError, Rlp, RlpStream};

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

/// Decodes `payload` as exactly one `T`: bytes after the first item are an
/// error.
pub fn decode_exact<T: Decodable>(payload: &[u8]) -> Result<T, DecoderError> {
    let rlp = Rlp::new(payload);
    check_whole(&rlp, payload.len())?;
    T::decode(&rlp)
}

/// Fails unless the item at the start of `rlp` spans exactly `len` bytes.
pub fn check_whole(rlp: &Rlp<'_>, len: usize) -> Result<(), DecoderError> {
    let total = rlp.payload_info()?.total();
    if total != len {
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

/// The number of items in list `rlp`, checking that they fill its payload
/// exactly.
///
/// `Rlp::item_count` stops at the first item it cannot read and counts only
/// those before it, so a list with a broken tail would pass for a shorter
/// list and its tail be ignored. Walking the items costs one pass over their
/// headers and no allocation.
pub fn strict_count(rlp: &Rlp<'_>) -> Result<usize, DecoderError> {
    expect_list(rlp)?;
    let payload = rlp.payload_info()?.value_len;
    let (mut covered, mut count) = (0, 0);
    for item in rlp.iter() {
        covered += item.as_raw().len();
        count += 1;
    }
    if covered != payload {
        return Err(DecoderError::RlpInconsistentLengthAndData);
    }
    Ok(count)
}

/// Fails unless `rlp` is a list of exactly `count` items.
pub fn expect_fields(rlp: &Rlp<'_>, count: usize) -> Result<(), DecoderError> {
    if strict_count(rlp)? != count {
        return Err(DecoderError::RlpIncorrectListLen);
    }
    Ok(())
}

/// A list of at most `limit` items, each decoded by `item`.
///
/// The count is taken from the encoding before anything is decoded, so a list
/// over the limit costs one pass over its headers and no allocation; a list
/// whose items do not fill it exactly is malformed.
pub fn decode_list_with<'a, T>(
    rlp: &Rlp<'a>,
    code: u64,
    limit: usize,
    mut item: impl FnMut(&Rlp<'a>) -> Result<T, DecoderError>,
) -> Result<Vec<T>, MessageError> {
    let count = strict_count(rlp).map_err(MessageError::malformed(code))?;
    if count > limit {
        return Err(MessageError::TooManyItems { code, count, limit });
    }
    let mut out = Vec::with_capacity(count);
    for element in rlp.iter() {
        out.push(item(&element).map_err(MessageError::malformed(code))?);
    }
    Ok(out)
}

/// A list of at most `limit` decodable items.
pub fn decode_list<T: Decodable>(
    rlp: &Rlp<'_>,
    code: u64,
    limit: usize,
) -> Result<Vec<T>, MessageError> {
    decode_list_with(rlp, code, limit, |r| r.as_val())
}

/// Appends `items` as an RLP list.
pub fn append_list<T: rlp::Encodable>(s: &mut RlpStream, items: &[T]) {
    s.begin_list(items.len());
    for item in items {
        s.append(item);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_bytes_are_an_error() {
        let mut bytes = rlp::encode(&7u64).to_vec();
        assert_eq!(decode_exact::<u64>(&bytes), Ok(7));
        bytes.push(0);
        assert_eq!(
            decode_exact::<u64>(&bytes),
            Err(DecoderError::RlpInconsistentLengthAndData)
        );
    }

    #[test]
    fn lists_over_the_limit_are_refused_before_decoding() {
        let encoded = rlp::encode_list::<u64, u64>(&[1, 2, 3]);
        let rlp = Rlp::new(&encoded);
        assert_eq!(decode_list::<u64>(&rlp, 4, 3), Ok(vec![1, 2, 3]));
        assert_eq!(
            decode_list::<u64>(&rlp, 4, 2),
            Err(MessageError::TooManyItems {
                code: 4,
                count: 3,
                limit: 2
            })
        );
        // A readable first item followed by a broken one is not a shorter
        // list.
        let broken_tail = [0xc3, 0x81, 0xff, 0x81];
        assert!(matches!(
            decode_list::<Vec<u8>>(&Rlp::new(&broken_tail), 4, 10),
            Err(MessageError::Malformed { code: 4, .. })
        ));
        let not_a_list = rlp::encode(&5u64);
        assert!(matches!(
            decode_list::<u64>(&Rlp::new(&not_a_list), 4, 2),
            Err(MessageError::Malformed { code: 4, .. })
        ));
    }
}
