//! What every capability's message codec shares: strict decoding of a whole
//! payload, bounded lists, and the error a bad message turns into.
//!
//! Capability messages arrive from peers nobody vouches for, so decoding is
//! strict where a lenient decoder would let garbage through: the payload must
//! be exactly one RLP item (bytes after it are an error, not ignored), every
//! list must be filled exactly by its items, and a list a peer sends is
//! refused as soon as it passes the capability's limit. Allocation is therefore bounded by the
//! limits below and by the message size (at most 16 MiB after snappy, checked
//! by the transport), never by a count a peer wrote.

use rlp::{Decodable, DecoderError, Rlp, RlpStream};

pub use p2p_core::message::{
    check_whole, decode_exact, expect_list, items, stream, Items, MessageError,
};

/// The number of items in list `rlp`, checking that they fill its payload
/// exactly (see [`items`]). One pass over the item headers, no allocation.
pub fn strict_count(rlp: &Rlp<'_>) -> Result<usize, DecoderError> {
    let mut count = 0;
    for item in items(rlp)? {
        item?;
        count += 1;
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
/// One pass: items are decoded as they are read, and the list is refused as
/// soon as item `limit + 1` appears, so work and memory stay bounded by the
/// limit whatever count the list's length would allow; a list whose items do
/// not fill it exactly is malformed.
pub fn decode_list_with<'a, T>(
    rlp: &Rlp<'a>,
    code: u64,
    limit: usize,
    mut item: impl FnMut(&Rlp<'a>) -> Result<T, DecoderError>,
) -> Result<Vec<T>, MessageError> {
    let malformed = MessageError::malformed(code);
    let mut list = items(rlp).map_err(malformed)?;
    let mut out = Vec::new();
    while let Some(element) = list.next() {
        let element = element.map_err(malformed)?;
        if out.len() == limit {
            // Only a refused list pays for counting the rest.
            let count = limit + 1 + list.by_ref().take_while(Result::is_ok).count();
            return Err(MessageError::TooManyItems { code, count, limit });
        }
        if out.is_empty() {
            // Lists hold items of one kind: size the vector from the first.
            let guess = list.remaining() / element.as_raw().len().max(1) + 1;
            out.reserve(guess.min(limit));
        }
        out.push(item(&element).map_err(malformed)?);
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

/// Appends the byte string `bytes` as one item, copying it in one piece.
///
/// The `rlp` crate's own `encode_value` extends its buffer one byte at a time,
/// which is most of the cost of encoding hashes, addresses and blooms; this
/// writes the string header and then the bytes with two slice copies.
pub fn append_bytes(s: &mut RlpStream, bytes: &[u8]) {
    let len = bytes.len();
    if len == 1 && bytes[0] < 0x80 {
        s.append_raw(bytes, 1);
        return;
    }
    let mut header = [0u8; 9];
    let header = if len < 56 {
        header[0] = 0x80 + len as u8;
        &header[..1]
    } else {
        let be = (len as u64).to_be_bytes();
        let skip = be.iter().take_while(|b| **b == 0).count();
        header[0] = 0xb7 + (8 - skip) as u8;
        header[1..1 + 8 - skip].copy_from_slice(&be[skip..]);
        &header[..1 + 8 - skip]
    };
    // The header is half an item: counted with the bytes that follow.
    s.append_raw(header, 0);
    s.append_raw(bytes, 1);
}

/// Appends `hashes` as an RLP list of 32-byte strings, each copied in one
/// piece (see [`append_bytes`]).
pub fn append_hashes(s: &mut RlpStream, hashes: &[primitive_types::H256]) {
    s.begin_list(hashes.len());
    for hash in hashes {
        append_bytes(s, hash.as_bytes());
    }
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
    fn append_bytes_writes_what_the_encoder_writes() {
        for len in [0usize, 1, 2, 31, 32, 55, 56, 57, 255, 256, 1024, 70_000] {
            for first in [0u8, 0x7f, 0x80, 0xff] {
                let mut bytes = vec![0xab; len];
                if let Some(b) = bytes.first_mut() {
                    *b = first;
                }
                let mut ours = RlpStream::new_list(2);
                append_bytes(&mut ours, &bytes);
                ours.append(&7u8);
                let mut theirs = RlpStream::new_list(2);
                theirs.append(&bytes.as_slice());
                theirs.append(&7u8);
                assert_eq!(ours.out(), theirs.out(), "len {len} first {first:#x}");
            }
        }
    }

    /// An item header claiming 2^64 - 1 bytes inside a short list: found by
    /// fuzzing, when item lengths were summed unchecked.
    #[test]
    fn an_item_claiming_an_absurd_length_is_an_error() {
        let list = [
            0xca, 0xbf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        ];
        let rlp = Rlp::new(&list);
        assert_eq!(strict_count(&rlp), Err(DecoderError::RlpIsTooShort));
        assert!(decode_list::<Vec<u8>>(&rlp, 1, 10).is_err());
    }

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
