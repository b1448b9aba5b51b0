//! DNS discovery (EIP-1459, devp2p `dnsdisc.md`): node lists published as a
//! signed merkle tree of DNS TXT records under one domain.
//!
//! A list is named by an `enrtree://<key>@<domain>` URL. The TXT record of
//! the domain itself holds the signed root; every other entry lives on a
//! subdomain named after the hash of its own text, so one signature over the
//! root authenticates the whole tree.
//!
//! [`tree`] is the pure part: parsing, printing and checking entries and URLs,
//! with no network access, so it can be tested against the EIP's example zone
//! and reused by any resolver.

pub mod tree;
