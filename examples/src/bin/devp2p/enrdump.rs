//! `devp2p enrdump`: every key of a node record, decoded, in go-ethereum's
//! layout (so that the two tools' dumps of one record are the same text).
//!
//! The record is read twice: once as raw RLP pairs, so that a record whose
//! signature fails still shows what it holds (marked `INVALID`), and once
//! through the record type, which checks the signature and gives the id.

use std::fmt::Write as _;
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use clap::Args;
use p2p_core::record;

use crate::node_arg::record_bytes;
use crate::Failure;

/// The arguments of `devp2p enrdump`.
#[derive(Args, Debug)]
pub struct EnrdumpArgs {
    /// The record: `enr:` text or hex RLP.
    #[arg(required_unless_present = "file", conflicts_with = "file")]
    record: Option<String>,
    /// Reads the record from this file instead (`-` for standard input).
    #[arg(long)]
    file: Option<PathBuf>,
}

/// Runs `devp2p enrdump`.
pub fn run(args: EnrdumpArgs) -> Result<(), Failure> {
    let text = match (args.record, args.file) {
        (Some(text), _) => text,
        (None, Some(path)) if path.as_os_str() == "-" => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| format!("standard input: {e}"))?;
            text
        }
        (None, Some(path)) => {
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?
        }
        (None, None) => unreachable!("clap requires one of them"),
    };
    let raw = record_bytes(&text)?;
    print!("{}", dump(&raw)?);
    Ok(())
}

/// The dump of a record's RLP, or why it is not a record at all.
pub fn dump(raw: &[u8]) -> Result<String, Failure> {
    let pairs = RawRecord::parse(raw).map_err(|e| format!("INVALID: {e}"))?;
    let mut out = String::new();
    match record::from_rlp(raw) {
        Ok(record) => {
            let _ = writeln!(out, "Node ID: {}", record::peer_id(&record).node_id());
            let _ = writeln!(out, "URLv4:   {}", crate::key::url(&record));
        }
        Err(e) => {
            let _ = writeln!(out, "INVALID: {e}");
        }
    }
    let _ = writeln!(
        out,
        "Record has sequence number {} and {} key/value pairs.",
        pairs.seq,
        pairs.pairs.len()
    );
    let width = pairs.pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (key, value) in &pairs.pairs {
        let pad = " ".repeat(width - key.len() + 1);
        let _ = writeln!(out, "  {}{pad}{}", quote(key), format_value(key, value));
    }
    Ok(out)
}

/// A record's sequence number and key/value pairs, values as raw RLP.
struct RawRecord<'a> {
    seq: u64,
    pairs: Vec<(&'a [u8], &'a [u8])>,
}

impl<'a> RawRecord<'a> {
    fn parse(raw: &'a [u8]) -> Result<Self, String> {
        let list = rlp::Rlp::new(raw);
        if !list.is_list() {
            return Err("the record is not an RLP list".into());
        }
        let items: Vec<rlp::Rlp<'a>> = list.iter().collect();
        if items.len() < 2 || items.len() % 2 != 0 {
            return Err(format!(
                "a record is [signature, seq, key, value, …]; this list has {} items",
                items.len()
            ));
        }
        let seq = items[1]
            .as_val::<u64>()
            .map_err(|e| format!("sequence number: {e}"))?;
        let pairs = items[2..]
            .chunks(2)
            .map(|pair| {
                let key = pair[0].data().map_err(|e| format!("key: {e}"))?;
                Ok((key, pair[1].as_raw()))
            })
            .collect::<Result<_, String>>()?;
        Ok(RawRecord { seq, pairs })
    }
}

/// A value as go-ethereum's dump shows it: known keys decoded, others as the
/// hex of their bytes, and anything that does not decode (a list, a bad
/// length) as the hex of its whole RLP marked `(!)`.
fn format_value(key: &[u8], raw: &[u8]) -> String {
    let decoded = match key {
        b"id" => rlp_string(raw).map(quote),
        b"ip" | b"ip6" => rlp_string(raw).and_then(format_ip),
        b"tcp" | b"tcp6" | b"udp" | b"udp6" => rlp_string(raw)
            .and_then(canonical_uint)
            .map(|n| n.to_string()),
        _ => rlp_string(raw).map(hex::encode),
    };
    decoded.unwrap_or_else(|| format!("{} (!)", hex::encode(raw)))
}

/// The bytes of an RLP string in canonical form; `None` for a list or a
/// string with a longer header than it needs.
fn rlp_string(raw: &[u8]) -> Option<&[u8]> {
    let (&first, rest) = raw.split_first()?;
    match first {
        0x00..=0x7f => Some(&raw[..1]),
        0x80..=0xb7 => {
            let len = usize::from(first - 0x80);
            let payload = rest.get(..len)?;
            // One byte below 0x80 is its own encoding.
            (len != 1 || payload[0] >= 0x80).then_some(payload)
        }
        0xb8..=0xbf => {
            let len_len = usize::from(first - 0xb7);
            let len_bytes = rest.get(..len_len)?;
            let len = len_bytes
                .iter()
                .try_fold(0usize, |n, &b| n.checked_mul(256)?.checked_add(b.into()))?;
            (len > 55 && len_bytes[0] != 0).then_some(())?;
            rest.get(len_len..len_len + len)
        }
        _ => None,
    }
}

/// An integer written without leading zeros in at most eight bytes.
fn canonical_uint(bytes: &[u8]) -> Option<u64> {
    if bytes.len() > 8 || bytes.first() == Some(&0) {
        return None;
    }
    Some(bytes.iter().fold(0, |n, &b| (n << 8) | u64::from(b)))
}

/// An address of four or sixteen bytes, printed as Go prints it (an
/// IPv4-mapped IPv6 address as IPv4).
fn format_ip(bytes: &[u8]) -> Option<String> {
    let ip: IpAddr = match bytes.len() {
        4 => Ipv4Addr::from(<[u8; 4]>::try_from(bytes).ok()?).into(),
        16 => Ipv6Addr::from(<[u8; 16]>::try_from(bytes).ok()?).to_canonical(),
        _ => return None,
    };
    Some(ip.to_string())
}

/// A byte string in double quotes with Go's escapes, as `strconv.Quote`
/// writes it.
fn quote(bytes: &[u8]) -> String {
    let mut out = String::from("\"");
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\x07' => out.push_str("\\a"),
                '\x08' => out.push_str("\\b"),
                '\x0c' => out.push_str("\\f"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\x0b' => out.push_str("\\v"),
                c if (c as u32) < 0x20 || c == '\x7f' => {
                    let _ = write!(out, "\\x{:02x}", c as u32);
                }
                c if c.is_control() => {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// EIP-778's example record.
    const EIP778: &str = "enr:-IS4QHCYrYZbAKWCBRlAy5zzaDZXJBGkcnh4MHcBFZntXNFrdvJjX04jRzjzCBOonrkTfj499SZuOh8R33Ls8RRcy5wBgmlkgnY0gmlwhH8AAAGJc2VjcDI1NmsxoQPKY0yuDUmstAHYpMa2_oxVtw0RW_QAdpzBQA8yWM0xOIN1ZHCCdl8";

    #[test]
    fn the_eip_778_record_dumps_as_go_ethereum_dumps_it() {
        let raw = record_bytes(EIP778).unwrap();
        let expected = "\
Node ID: a448f24c6d18e575453db13171562b71999873db5b286df957af199ec94617f7
URLv4:   enode://ca634cae0d49acb401d8a4c6b6fe8c55b70d115bf400769cc1400f3258cd31387574077f301b421bc84df7266c44e9e6d569fc56be00812904767bf5ccd1fc7f@127.0.0.1:0?discport=30303
Record has sequence number 1 and 4 key/value pairs.
  \"id\"        \"v4\"
  \"ip\"        127.0.0.1
  \"secp256k1\" 03ca634cae0d49acb401d8a4c6b6fe8c55b70d115bf400769cc1400f3258cd3138
  \"udp\"       30303
";
        assert_eq!(dump(&raw).unwrap(), expected);
    }

    #[test]
    fn lists_and_bad_values_are_marked() {
        // eth: [[forkhash, next]] is a list.
        assert_eq!(
            format_value(b"eth", &hex::decode("c7c684fc64ec0480").unwrap()),
            "c7c684fc64ec0480 (!)"
        );
        // A port with a leading zero is not canonical.
        assert_eq!(format_value(b"tcp", &[0x82, 0x00, 0x01]), "820001 (!)");
        // A three-byte address is no address.
        assert_eq!(format_value(b"ip", &[0x83, 1, 2, 3]), "83010203 (!)");
        assert_eq!(format_value(b"quic", &[0x82, 0x23, 0x28]), "2328");
        assert_eq!(format_value(b"udp", &[0x82, 0x76, 0x5f]), "30303");
    }

    #[test]
    fn keys_are_quoted_as_go_quotes_them() {
        assert_eq!(quote(b"eth"), "\"eth\"");
        assert_eq!(quote(b"a\"b\n\x01\xff"), "\"a\\\"b\\n\\x01\\xff\"");
    }

    #[test]
    fn a_record_with_a_bad_signature_is_dumped_and_marked_invalid() {
        let mut raw = record_bytes(EIP778).unwrap();
        // The signature's first byte, after the list header (f8 84) and
        // the signature's string header (b8 40).
        raw[4] ^= 1;
        let out = dump(&raw).unwrap();
        assert!(out.starts_with("INVALID: "), "{out}");
        assert!(out.contains("\"udp\"       30303"), "{out}");
    }

    #[test]
    fn what_is_not_a_record_is_an_error() {
        assert!(dump(&[0x80]).unwrap_err().starts_with("INVALID: "));
        assert!(dump(&[0xc1, 0x80]).unwrap_err().contains("1 items"));
    }
}
