//! Entries of an EIP-1459 node tree and the `enrtree://` URL, parsed, printed
//! and checked without any network access.
//!
//! The text forms are:
//!
//! ```text
//! enrtree://<base32 compressed public key>@<domain>              (URL and link leaf)
//! enrtree-root:v1 e=<enr-root> l=<link-root> seq=<n> sig=<sig>   (root, on <domain>)
//! enrtree-branch:<h1>,<h2>,...,<hn>                               (branch)
//! enr:<base64url node record>                                     (node leaf)
//! ```
//!
//! Hashes are base32 (RFC 4648, no padding) of the first [`HASH_LEN`] bytes of
//! keccak256 of an entry's text; the signature is base64url (no padding) of
//! 65 bytes `r || s || v`, made by the tree key over keccak256 of the root text
//! before ` sig=`.
//!
//! Parsing is strict: an accepted entry prints back to exactly the text it
//! came from. That matters because both the root signature and the subdomain
//! hashes are computed over the text, so a lenient parser would accept texts
//! whose canonical form is not what was signed or hashed.

use std::fmt;
use std::str::FromStr;

use data_encoding::{BASE32_NOPAD, BASE64URL_NOPAD};
use p2p_core::keccak256;
use p2p_core::record::NodeRecord;
use secp256k1::ecdsa::{RecoverableSignature, RecoveryId, Signature};
use secp256k1::{Message, PublicKey, SecretKey};

/// Prefix of a root entry, including its version.
pub const ROOT_PREFIX: &str = "enrtree-root:v1";
/// Prefix of a branch entry.
pub const BRANCH_PREFIX: &str = "enrtree-branch:";
/// Prefix of a link leaf and of a tree URL.
pub const LINK_PREFIX: &str = "enrtree://";
/// Prefix of a node record leaf (the canonical ENR text form).
pub const ENR_PREFIX: &str = "enr:";

/// Bytes of keccak256 kept in a subdomain hash (26 base32 characters).
pub const HASH_LEN: usize = 16;
/// Length of the root signature: `r || s || v`.
pub const SIGNATURE_LEN: usize = 65;
/// Largest entry text accepted, in bytes.
///
/// The spec asks entries to fit a 512-byte UDP DNS answer and published ones
/// stay under 400 bytes; 1024 leaves room for TXT records split into several
/// strings while still bounding what a hostile server can make us parse.
pub const MAX_ENTRY_LEN: usize = 1024;
/// Most children accepted in one branch.
///
/// go-ethereum writes at most 13 (what fits its 370-byte budget); 32 is well
/// above that yet below the 37 hashes a [`MAX_ENTRY_LEN`] text could carry,
/// so this bound on a resolver's fan-out is a real limit of its own rather
/// than a consequence of the text limit (64 would never be reached).
pub const MAX_BRANCH_CHILDREN: usize = 32;
/// Longest domain name (RFC 1035, textual form without trailing dot).
pub const MAX_DOMAIN_LEN: usize = 253;

/// Why an entry, URL or hash was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    /// The text is longer than [`MAX_ENTRY_LEN`].
    #[error("entry is {len} bytes, more than the {max} allowed")]
    TooLong {
        /// Length of the refused text.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The text starts with none of the known prefixes.
    #[error("unknown entry type: {start:?}")]
    UnknownType {
        /// The first characters of the text, for the message.
        start: String,
    },
    /// A root with another version than `v1`.
    #[error("unsupported root version: {0:?}")]
    UnsupportedVersion(String),
    /// A root whose fields are missing, misnamed, out of order or followed
    /// by more text.
    #[error("malformed root: {0}")]
    RootSyntax(String),
    /// A root without its `sig=` field.
    #[error("root has no sig= field")]
    MissingSignature,
    /// The root's `seq=` is not a canonical decimal `u64`.
    #[error("invalid seq {0:?}: not a decimal 64-bit number")]
    InvalidSeq(String),
    /// A hash that is not base32 (no padding) of [`HASH_LEN`] bytes.
    #[error("invalid hash {0:?}: not base32 of {HASH_LEN} bytes")]
    InvalidHash(String),
    /// The root signature is not base64url (no padding).
    #[error("signature is not url-safe base64 without padding")]
    SignatureEncoding,
    /// The root signature does not have [`SIGNATURE_LEN`] bytes.
    #[error("signature is {0} bytes, expected {SIGNATURE_LEN}")]
    SignatureLength(usize),
    /// The root signature is not made by the tree key over the root text.
    #[error("root signature does not verify against the tree key")]
    BadSignature,
    /// A branch with more than [`MAX_BRANCH_CHILDREN`] children.
    #[error("branch has {count} children, more than the {max} allowed")]
    TooManyChildren {
        /// Children in the refused branch.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A URL or link without the `<key>@<domain>` shape.
    #[error("malformed enrtree URL: {0}")]
    UrlSyntax(&'static str),
    /// The URL key is not base32 of a compressed secp256k1 public key.
    #[error("invalid tree public key: {0}")]
    InvalidPublicKey(String),
    /// The URL domain is not a plausible DNS name.
    #[error("invalid domain {0:?}")]
    InvalidDomain(String),
    /// A node record leaf that does not decode or whose signature fails.
    #[error("invalid node record: {0}")]
    InvalidRecord(String),
    /// An entry found on a subdomain that is not the hash of its text.
    #[error("entry on subdomain {subdomain} hashes to {actual}")]
    HashMismatch {
        /// The name the entry was found on.
        subdomain: String,
        /// The hash of the text actually found.
        actual: String,
    },
    /// An entry of a kind not allowed where it was found (a root below the
    /// top, a link in the node subtree, a record in the link subtree).
    #[error("{kind} entry not allowed in the {subtree} subtree")]
    UnexpectedEntry {
        /// Kind of the refused entry (`root`, `branch`, `link`, `enr`).
        kind: &'static str,
        /// Subtree it was found in.
        subtree: Subtree,
    },
}

/// The subdomain name of an entry: base32 of the first [`HASH_LEN`] bytes of
/// keccak256 of its text.
pub fn subdomain_hash(entry_text: &str) -> String {
    BASE32_NOPAD.encode(&keccak256(entry_text.as_bytes())[..HASH_LEN])
}

/// Checks that `entry_text` is the entry that belongs on `subdomain`, so a
/// resolver refuses whatever a DNS server returns in place of the hashed entry.
///
/// `subdomain` is the first label only (the hash). The comparison ignores
/// ASCII case because DNS names are case-insensitive and some resolvers
/// randomise case (the "0x20" defence); the hash itself is still exact.
pub fn verify_hash(subdomain: &str, entry_text: &str) -> Result<(), TreeError> {
    let actual = subdomain_hash(entry_text);
    if actual.eq_ignore_ascii_case(subdomain) {
        Ok(())
    } else {
        Err(TreeError::HashMismatch {
            subdomain: subdomain.to_string(),
            actual,
        })
    }
}

/// Whether `s` is a hash as found in roots and branches.
fn check_hash(s: &str) -> Result<(), TreeError> {
    // Wrong length and bad alphabet are one error: either way the name can
    // not be an entry of this tree. The decoder also refuses non-zero
    // trailing bits, so each hash has exactly one spelling.
    match BASE32_NOPAD.decode(s.as_bytes()) {
        Ok(bytes) if bytes.len() == HASH_LEN => Ok(()),
        _ => Err(TreeError::InvalidHash(s.to_string())),
    }
}

/// Refuses texts over [`MAX_ENTRY_LEN`] before any decoding.
fn check_len(text: &str) -> Result<(), TreeError> {
    if text.len() > MAX_ENTRY_LEN {
        return Err(TreeError::TooLong {
            len: text.len(),
            max: MAX_ENTRY_LEN,
        });
    }
    Ok(())
}

/// The address of a node list: `enrtree://<key>@<domain>`, where `key` is the
/// base32 (no padding) compressed public key that signs the list's root.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TreeUrl {
    /// The key the list's root must be signed with.
    pub key: PublicKey,
    /// The domain whose TXT record holds the root.
    pub domain: String,
}

impl TreeUrl {
    /// A URL for `domain` signed by `key`; the domain is checked as in parsing.
    pub fn new(key: PublicKey, domain: &str) -> Result<Self, TreeError> {
        check_domain(domain)?;
        Ok(TreeUrl {
            key,
            domain: domain.to_string(),
        })
    }
}

/// A DNS name as a list may be published on: ASCII labels of letters, digits,
/// `-` and `_` (the latter is common in TXT-only names), none empty, none
/// over 63 bytes, at most [`MAX_DOMAIN_LEN`] in all. A trailing dot is
/// refused so that one list has one spelling.
fn check_domain(domain: &str) -> Result<(), TreeError> {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if domain.len() > MAX_DOMAIN_LEN || !domain.split('.').all(label_ok) {
        return Err(TreeError::InvalidDomain(domain.to_string()));
    }
    Ok(())
}

impl FromStr for TreeUrl {
    type Err = TreeError;

    fn from_str(s: &str) -> Result<Self, TreeError> {
        check_len(s)?;
        let rest = s
            .strip_prefix(LINK_PREFIX)
            .ok_or(TreeError::UrlSyntax("missing enrtree:// scheme"))?;
        let (key, domain) = rest
            .split_once('@')
            .ok_or(TreeError::UrlSyntax("missing '@' between key and domain"))?;
        if key.is_empty() {
            return Err(TreeError::UrlSyntax("missing public key"));
        }
        let bytes = BASE32_NOPAD
            .decode(key.as_bytes())
            .map_err(|_| TreeError::InvalidPublicKey("not base32 without padding".into()))?;
        // Only the compressed form: it is what the spec and publishers use,
        // and accepting the 65-byte form would give one key two URLs.
        if bytes.len() != 33 {
            return Err(TreeError::InvalidPublicKey(format!(
                "{} bytes, expected 33 (compressed)",
                bytes.len()
            )));
        }
        let key = PublicKey::from_slice(&bytes)
            .map_err(|_| TreeError::InvalidPublicKey("not a point on secp256k1".into()))?;
        TreeUrl::new(key, domain)
    }
}

impl fmt::Display for TreeUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{LINK_PREFIX}{}@{}",
            BASE32_NOPAD.encode(&self.key.serialize()),
            self.domain
        )
    }
}

/// The signed root of a tree, found on the list's domain itself.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Root {
    /// Hash of the top entry of the node record subtree.
    pub enr_root: String,
    /// Hash of the top entry of the link subtree.
    pub link_root: String,
    /// Update counter; clients refuse a root older than one already seen.
    pub seq: u64,
    /// `r || s || v` over keccak256 of [`Root::signed_text`].
    pub signature: [u8; SIGNATURE_LEN],
}

impl Root {
    /// A root over the given subtree hashes, signed with `key` (the secret of
    /// the list's URL key). Fails only if a hash is malformed.
    pub fn sign(
        enr_root: &str,
        link_root: &str,
        seq: u64,
        key: &SecretKey,
    ) -> Result<Self, TreeError> {
        check_hash(enr_root)?;
        check_hash(link_root)?;
        let mut root = Root {
            enr_root: enr_root.to_string(),
            link_root: link_root.to_string(),
            seq,
            signature: [0; SIGNATURE_LEN],
        };
        let msg = Message::from_digest(root.signed_hash());
        let (recid, compact) =
            RecoverableSignature::sign_ecdsa_recoverable(msg, key).serialize_compact();
        root.signature[..64].copy_from_slice(&compact);
        // v as go-ethereum writes it: the bare recovery id, 0 or 1.
        root.signature[64] = recid.to_u8();
        Ok(root)
    }

    /// The text the signature covers: the root up to, not including, ` sig=`.
    pub fn signed_text(&self) -> String {
        format!(
            "{ROOT_PREFIX} e={} l={} seq={}",
            self.enr_root, self.link_root, self.seq
        )
    }

    fn signed_hash(&self) -> [u8; 32] {
        keccak256(self.signed_text().as_bytes())
    }

    /// Checks the signature against the list's key.
    ///
    /// Only `r || s` is used, as go-ethereum does: given the key, `v` adds
    /// nothing, and publishers differ in how they write it (0/1 or 27/28).
    /// A high-`s` signature is refused, as libsecp256k1 and go-ethereum do.
    pub fn verify(&self, key: &PublicKey) -> Result<(), TreeError> {
        let sig =
            Signature::from_compact(&self.signature[..64]).map_err(|_| TreeError::BadSignature)?;
        let msg = Message::from_digest(self.signed_hash());
        sig.verify(msg, key).map_err(|_| TreeError::BadSignature)
    }

    /// The key that made the signature, from `v`; for tools that learn a
    /// list's key from its root. Accepts `v` as 0/1 or 27/28.
    pub fn recover_key(&self) -> Result<PublicKey, TreeError> {
        let v = match self.signature[64] {
            v @ (0 | 1) => v,
            v @ (27 | 28) => v - 27,
            _ => return Err(TreeError::BadSignature),
        };
        let recid = RecoveryId::from_u8_masked(v);
        let sig = RecoverableSignature::from_compact(&self.signature[..64], recid)
            .map_err(|_| TreeError::BadSignature)?;
        let msg = Message::from_digest(self.signed_hash());
        sig.recover_ecdsa(msg).map_err(|_| TreeError::BadSignature)
    }
}

/// A decimal `u64` in canonical form: digits only, no sign, no leading zero.
/// `u64::from_str` alone would take `+1`, and `01` would not print back to
/// the signed text.
fn parse_seq(s: &str) -> Result<u64, TreeError> {
    let canonical =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    match s.parse() {
        Ok(n) if canonical => Ok(n),
        _ => Err(TreeError::InvalidSeq(s.to_string())),
    }
}

impl FromStr for Root {
    type Err = TreeError;

    fn from_str(s: &str) -> Result<Self, TreeError> {
        check_len(s)?;
        // Fields are separated by exactly one space, in the spec's order: any
        // other spelling would not be the text that was signed.
        let mut fields = s.split(' ');
        let head = fields.next().unwrap_or_default();
        if head != ROOT_PREFIX {
            return match head.strip_prefix("enrtree-root:") {
                Some(version) => Err(TreeError::UnsupportedVersion(version.to_string())),
                None => Err(TreeError::RootSyntax(format!("expected {ROOT_PREFIX}"))),
            };
        }
        let mut values = [""; 4];
        for (value, name) in values.iter_mut().zip(["e=", "l=", "seq=", "sig="]) {
            let field = match fields.next() {
                Some(field) => field,
                None if name == "sig=" => return Err(TreeError::MissingSignature),
                None => return Err(TreeError::RootSyntax(format!("missing {name}"))),
            };
            *value = field.strip_prefix(name).ok_or_else(|| {
                TreeError::RootSyntax(format!("expected {name}, found {field:?}"))
            })?;
        }
        if fields.next().is_some() {
            return Err(TreeError::RootSyntax("text after sig=".into()));
        }
        let [enr_root, link_root, seq, sig] = values;
        check_hash(enr_root)?;
        check_hash(link_root)?;
        let seq = parse_seq(seq)?;
        let sig = BASE64URL_NOPAD
            .decode(sig.as_bytes())
            .map_err(|_| TreeError::SignatureEncoding)?;
        let signature = sig
            .as_slice()
            .try_into()
            .map_err(|_| TreeError::SignatureLength(sig.len()))?;
        Ok(Root {
            enr_root: enr_root.to_string(),
            link_root: link_root.to_string(),
            seq,
            signature,
        })
    }
}

impl fmt::Display for Root {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} sig={}",
            self.signed_text(),
            BASE64URL_NOPAD.encode(&self.signature)
        )
    }
}

/// An inner entry: the hashes of its children.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Branch {
    /// Subdomain hashes of the children, in published order.
    pub children: Vec<String>,
}

impl FromStr for Branch {
    type Err = TreeError;

    fn from_str(s: &str) -> Result<Self, TreeError> {
        check_len(s)?;
        let rest = s
            .strip_prefix(BRANCH_PREFIX)
            .ok_or_else(|| TreeError::UnknownType {
                start: s.chars().take(16).collect(),
            })?;
        // An empty branch is what an empty list's subtree root looks like.
        if rest.is_empty() {
            return Ok(Branch::default());
        }
        let count = rest.split(',').count();
        if count > MAX_BRANCH_CHILDREN {
            return Err(TreeError::TooManyChildren {
                count,
                max: MAX_BRANCH_CHILDREN,
            });
        }
        let children = rest
            .split(',')
            .map(|h| check_hash(h).map(|()| h.to_string()))
            .collect::<Result<_, _>>()?;
        Ok(Branch { children })
    }
}

impl fmt::Display for Branch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{BRANCH_PREFIX}{}", self.children.join(","))
    }
}

/// The two subtrees below a root; each allows one kind of leaf.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Subtree {
    /// Below `e=`: branches and node records.
    Enr,
    /// Below `l=`: branches and links to other lists.
    Link,
}

impl fmt::Display for Subtree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Subtree::Enr => "enr",
            Subtree::Link => "link",
        })
    }
}

/// Any entry of a tree, as found in one TXT record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    /// The signed root (on the list's domain).
    Root(Root),
    /// An inner entry.
    Branch(Branch),
    /// A leaf pointing to another list.
    Link(TreeUrl),
    /// A leaf holding a node record, whose signature has been verified.
    /// Boxed because a record is much larger than the other entries.
    Enr(Box<NodeRecord>),
}

impl Entry {
    /// Parses any entry by its prefix. Records are checked for a valid
    /// signature; the root signature is not (that needs the URL's key, see
    /// [`Root::verify`]).
    pub fn parse(text: &str) -> Result<Self, TreeError> {
        check_len(text)?;
        if text.starts_with("enrtree-root:") {
            text.parse().map(Entry::Root)
        } else if text.starts_with(BRANCH_PREFIX) {
            text.parse().map(Entry::Branch)
        } else if text.starts_with(LINK_PREFIX) {
            text.parse().map(Entry::Link)
        } else if text.starts_with(ENR_PREFIX) {
            let record = NodeRecord::from_str(text).map_err(TreeError::InvalidRecord)?;
            // Decoding already checks the signature; checking again keeps
            // this promise independent of the enr crate's internals.
            if !record.verify() {
                return Err(TreeError::InvalidRecord("bad signature".into()));
            }
            Ok(Entry::Enr(Box::new(record)))
        } else {
            Err(TreeError::UnknownType {
                start: text.chars().take(16).collect(),
            })
        }
    }

    /// Parses an entry found below a root in `subtree`, on the subdomain
    /// `hash`: checks the hash first (so nothing unauthenticated is decoded),
    /// then refuses roots and the other subtree's leaf kind.
    pub fn parse_subtree_entry(
        hash: &str,
        text: &str,
        subtree: Subtree,
    ) -> Result<Self, TreeError> {
        check_len(text)?;
        verify_hash(hash, text)?;
        let entry = Entry::parse(text)?;
        let allowed = matches!(
            (&entry, subtree),
            (Entry::Branch(_), _) | (Entry::Enr(_), Subtree::Enr) | (Entry::Link(_), Subtree::Link)
        );
        if allowed {
            Ok(entry)
        } else {
            Err(TreeError::UnexpectedEntry {
                kind: entry.kind(),
                subtree,
            })
        }
    }

    /// A short name of the entry's kind: `root`, `branch`, `link` or `enr`.
    pub fn kind(&self) -> &'static str {
        match self {
            Entry::Root(_) => "root",
            Entry::Branch(_) => "branch",
            Entry::Link(_) => "link",
            Entry::Enr(_) => "enr",
        }
    }
}

impl FromStr for Entry {
    type Err = TreeError;

    fn from_str(s: &str) -> Result<Self, TreeError> {
        Entry::parse(s)
    }
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Entry::Root(root) => root.fmt(f),
            Entry::Branch(branch) => branch.fmt(f),
            Entry::Link(url) => url.fmt(f),
            Entry::Enr(record) => f.write_str(&record.to_base64()),
        }
    }
}
