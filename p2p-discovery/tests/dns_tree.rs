//! The pure part of DNS discovery (EIP-1459) against the example zone of the
//! EIP (`testdata/enr_dns.json`) and against malformed entries.

use std::collections::HashMap;

use p2p_core::NodeKey;
use p2p_discovery::dns::tree::{
    subdomain_hash, verify_hash, Branch, Entry, Root, Subtree, TreeError, TreeUrl,
    MAX_BRANCH_CHILDREN, MAX_ENTRY_LEN,
};

/// The example zone: the list URL and its TXT records by name ("@" = root).
struct Zone {
    url: String,
    domain: String,
    records: HashMap<String, String>,
}

fn zone() -> Zone {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/enr_dns.json");
    let text = std::fs::read_to_string(path).expect("read testdata/enr_dns.json");
    let json: serde_json::Value = serde_json::from_str(&text).expect("parse enr_dns.json");
    let dns = &json["dns_discovery"];
    let records = dns["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| {
            (
                r["name"].as_str().expect("name").to_string(),
                r["txt"].as_str().expect("txt").to_string(),
            )
        })
        .collect();
    Zone {
        url: dns["url"].as_str().expect("url").to_string(),
        domain: dns["zone"].as_str().expect("zone").to_string(),
        records,
    }
}

fn root_text(zone: &Zone) -> &str {
    &zone.records["@"]
}

/// The key dnsdisc.md states for the example list, uncompressed. It is the
/// key that signed the example root, but it is NOT the key encoded in the
/// example URL (`AM5FCQ...`): the spec's example is inconsistent there.
const SPEC_KEY: &str = "049f88229042fef9200246f49f94d9b77c4e954721442714e85850cb6d9e5daf2d880ea0e53cb3ac1a75f9923c2726a4f941f7d326781baa6380754a360de5c2b6";
/// The URL of [`SPEC_KEY`], as go-ethereum's client tests use for this zone.
const SIGNER_URL: &str =
    "enrtree://AKPYQIUQIL7PSIACI32J7FGZW56E5FKHEFCCOFHILBIMW3M6LWXS2@nodes.example.org";
/// What the example URL's key actually decodes to (compressed).
const URL_KEY: &str = "033a514176466fa815ed481ffad09110a2d344f6c9b78c1d14afc351c3a51be33d";

#[test]
fn url_parses_to_its_key_and_prints_back() {
    let zone = zone();
    let url: TreeUrl = zone.url.parse().expect("url");
    assert_eq!(hex::encode(url.key.serialize()), URL_KEY);
    assert_eq!(url.domain, zone.domain);
    assert_eq!(url.to_string(), zone.url);

    let signer: TreeUrl = SIGNER_URL.parse().expect("signer url");
    assert_eq!(hex::encode(signer.key.serialize_uncompressed()), SPEC_KEY);
    assert_eq!(signer.domain, zone.domain);
    assert_eq!(signer.to_string(), SIGNER_URL);
}

#[test]
fn root_signature_verifies_against_signer_key() {
    let zone = zone();
    let signer: TreeUrl = SIGNER_URL.parse().unwrap();
    let root: Root = root_text(&zone).parse().expect("root");
    assert_eq!(root.seq, 1);
    assert_eq!(root.enr_root, "JWXYDBPXYWG6FX3GMDIBFA6CJ4");
    assert_eq!(root.link_root, "C7HRFPF3BLGF3YR4DY5KX3SMBE");
    root.verify(&signer.key).expect("signature");
    assert_eq!(root.recover_key().expect("recover"), signer.key);
    assert_eq!(root.to_string(), root_text(&zone));
}

/// Pins the spec inconsistency: the example root is not signed by the key of
/// the example URL, so a client given that URL must refuse the zone.
#[test]
fn example_url_key_does_not_sign_example_root() {
    let zone = zone();
    let url: TreeUrl = zone.url.parse().unwrap();
    let root: Root = root_text(&zone).parse().unwrap();
    assert_eq!(root.verify(&url.key), Err(TreeError::BadSignature));
}

#[test]
fn root_signature_fails_when_text_changes() {
    let zone = zone();
    let url: TreeUrl = SIGNER_URL.parse().unwrap();
    let text = root_text(&zone);
    let altered = [
        text.replace("seq=1", "seq=2"),
        text.replace("e=JWXY", "e=AWXY"),
        text.replace("l=C7HR", "l=D7HR"),
        // A byte of r inside the signature.
        text.replace("sig=o908", "sig=o909"),
    ];
    for changed in altered {
        assert_ne!(changed, text);
        let root: Root = changed.parse().expect("still well formed");
        assert_eq!(
            root.verify(&url.key),
            Err(TreeError::BadSignature),
            "{changed}"
        );
    }
    // Another key does not verify the genuine root.
    let other = *NodeKey::random().public();
    let root: Root = text.parse().unwrap();
    assert_eq!(root.verify(&other), Err(TreeError::BadSignature));
}

#[test]
fn every_entry_is_on_its_hash() {
    let zone = zone();
    let mut checked = 0;
    for (name, text) in &zone.records {
        if name == "@" {
            continue;
        }
        assert_eq!(&subdomain_hash(text), name, "{text}");
        verify_hash(name, text).expect("hash");
        // DNS names are case-insensitive.
        verify_hash(&name.to_lowercase(), text).expect("lowercase name");
        let entry = Entry::parse(text).expect("entry");
        assert_eq!(entry.to_string(), *text, "prints back");
        checked += 1;
    }
    assert_eq!(checked, 5);
}

#[test]
fn example_tree_walks_from_the_root() {
    let zone = zone();
    let root: Root = root_text(&zone).parse().unwrap();

    // Link subtree: a single link leaf.
    let link = &zone.records[&root.link_root];
    match Entry::parse_subtree_entry(&root.link_root, link, Subtree::Link).unwrap() {
        Entry::Link(url) => {
            assert_eq!(url.domain, "morenodes.example.org");
            assert_eq!(url.key, zone.url.parse::<TreeUrl>().unwrap().key);
        }
        other => panic!("expected link, got {}", other.kind()),
    }

    // Node subtree: one branch with three verified records.
    let branch = &zone.records[&root.enr_root];
    let Entry::Branch(Branch { children }) =
        Entry::parse_subtree_entry(&root.enr_root, branch, Subtree::Enr).unwrap()
    else {
        panic!("expected branch");
    };
    assert_eq!(children.len(), 3);
    for child in children {
        let text = &zone.records[&child];
        match Entry::parse_subtree_entry(&child, text, Subtree::Enr).unwrap() {
            Entry::Enr(record) => {
                assert!(record.verify());
            }
            other => panic!("expected enr, got {}", other.kind()),
        }
    }
}

#[test]
fn leaves_are_refused_in_the_wrong_subtree() {
    let zone = zone();
    let root: Root = root_text(&zone).parse().unwrap();
    let link = &zone.records[&root.link_root];
    assert_eq!(
        Entry::parse_subtree_entry(&root.link_root, link, Subtree::Enr),
        Err(TreeError::UnexpectedEntry {
            kind: "link",
            subtree: Subtree::Enr
        })
    );
    let enr = "2XS2367YHAXJFGLZHVAWLQD4ZY";
    assert!(matches!(
        Entry::parse_subtree_entry(enr, &zone.records[enr], Subtree::Link),
        Err(TreeError::UnexpectedEntry { kind: "enr", .. })
    ));
    let root_txt = root_text(&zone);
    assert!(matches!(
        Entry::parse_subtree_entry(&subdomain_hash(root_txt), root_txt, Subtree::Enr),
        Err(TreeError::UnexpectedEntry { kind: "root", .. })
    ));
}

#[test]
fn entry_on_the_wrong_name_is_refused() {
    let zone = zone();
    let text = &zone.records["2XS2367YHAXJFGLZHVAWLQD4ZY"];
    let err =
        Entry::parse_subtree_entry("H4FHT4B454P6UXFD7JCYQ5PWDY", text, Subtree::Enr).unwrap_err();
    assert_eq!(
        err,
        TreeError::HashMismatch {
            subdomain: "H4FHT4B454P6UXFD7JCYQ5PWDY".into(),
            actual: "2XS2367YHAXJFGLZHVAWLQD4ZY".into()
        }
    );
}

#[test]
fn signed_root_round_trips() {
    let key = NodeKey::random();
    let root = Root::sign(
        "JWXYDBPXYWG6FX3GMDIBFA6CJ4",
        "C7HRFPF3BLGF3YR4DY5KX3SMBE",
        u64::MAX,
        key.secret(),
    )
    .unwrap();
    let text = root.to_string();
    let parsed: Root = text.parse().unwrap();
    assert_eq!(parsed, root);
    parsed.verify(key.public()).unwrap();
    assert_eq!(parsed.recover_key().unwrap(), *key.public());
    assert!(matches!(
        Root::sign("nothash", "C7HRFPF3BLGF3YR4DY5KX3SMBE", 1, key.secret()),
        Err(TreeError::InvalidHash(_))
    ));
}

const E: &str = "JWXYDBPXYWG6FX3GMDIBFA6CJ4";
const L: &str = "C7HRFPF3BLGF3YR4DY5KX3SMBE";
const SIG: &str =
    "o908WmNp7LibOfPsr4btQwatZJ5URBr2ZAuxvK4UWHlsB9sUOTJQaGAlLPVAhM__XJesCHxLISo94z5Z2a463gA";

fn root_with(e: &str, l: &str, seq: &str, sig: &str) -> String {
    format!("enrtree-root:v1 e={e} l={l} seq={seq} sig={sig}")
}

#[test]
fn malformed_roots_give_clear_errors() {
    let parse = |s: &str| Entry::parse(s).unwrap_err();
    assert_eq!(
        parse(&format!("enrtree-root:v2 e={E} l={L} seq=1 sig={SIG}")),
        TreeError::UnsupportedVersion("v2".into())
    );
    assert_eq!(
        parse(&format!("enrtree-root:v1 e={E} l={L} seq=1")),
        TreeError::MissingSignature
    );
    assert!(matches!(
        parse(&format!("enrtree-root:v1 l={L} e={E} seq=1 sig={SIG}")),
        TreeError::RootSyntax(_)
    ));
    assert!(matches!(
        parse(&format!("enrtree-root:v1  e={E} l={L} seq=1 sig={SIG}")),
        TreeError::RootSyntax(_)
    ));
    assert!(matches!(
        parse(&format!("{} extra", root_with(E, L, "1", SIG))),
        TreeError::RootSyntax(_)
    ));
    for seq in ["", "-1", "+1", "01", "x", "1.0", "18446744073709551616"] {
        assert_eq!(
            parse(&root_with(E, L, seq, SIG)),
            TreeError::InvalidSeq(seq.into()),
            "seq={seq:?}"
        );
    }
    // Bad base32: lowercase, a digit outside the alphabet, wrong length.
    for hash in [
        "jwxydbpxywg6fx3gmdibfa6cj4",
        "JWXYDBPXYWG6FX3GMDIBFA6CJ1",
        "JWXYDBPXYWG6FX3GMDIBFA6C",
    ] {
        assert_eq!(
            parse(&root_with(hash, L, "1", SIG)),
            TreeError::InvalidHash(hash.into())
        );
    }
    // 64 bytes of signature (v missing).
    let short = data_encoding::BASE64URL_NOPAD.encode(&[7u8; 64]);
    assert_eq!(
        parse(&root_with(E, L, "1", &short)),
        TreeError::SignatureLength(64)
    );
    let long = data_encoding::BASE64URL_NOPAD.encode(&[7u8; 66]);
    assert_eq!(
        parse(&root_with(E, L, "1", &long)),
        TreeError::SignatureLength(66)
    );
    // Standard (not url-safe) alphabet and padding are refused.
    assert_eq!(
        parse(&root_with(E, L, "1", &SIG.replace('_', "/"))),
        TreeError::SignatureEncoding
    );
    assert_eq!(
        parse(&root_with(E, L, "1", &format!("{SIG}=="))),
        TreeError::SignatureEncoding
    );
}

#[test]
fn malformed_entries_give_clear_errors() {
    let parse = |s: &str| Entry::parse(s).unwrap_err();
    assert!(matches!(
        parse("enrtree-leaf:x"),
        TreeError::UnknownType { .. }
    ));
    assert!(matches!(
        parse("v=spf1 -all"),
        TreeError::UnknownType { .. }
    ));
    assert!(matches!(parse(""), TreeError::UnknownType { .. }));
    assert_eq!(
        parse(&format!("enrtree-branch:{E},nothash")),
        TreeError::InvalidHash("nothash".into())
    );
    assert_eq!(
        parse(&format!("enrtree-branch:{E},")),
        TreeError::InvalidHash(String::new())
    );
    let too_many = vec![E; MAX_BRANCH_CHILDREN + 1].join(",");
    assert_eq!(
        parse(&format!("enrtree-branch:{too_many}")),
        TreeError::TooManyChildren {
            count: MAX_BRANCH_CHILDREN + 1,
            max: MAX_BRANCH_CHILDREN
        }
    );
    let long = format!("enrtree-branch:{}", "A".repeat(MAX_ENTRY_LEN));
    assert_eq!(
        parse(&long),
        TreeError::TooLong {
            len: long.len(),
            max: MAX_ENTRY_LEN
        }
    );
    assert!(matches!(
        parse("enr:-HW4QOFzoVLa"),
        TreeError::InvalidRecord(_)
    ));
    assert!(matches!(parse("enr:!!!"), TreeError::InvalidRecord(_)));
}

#[test]
fn tampered_record_leaf_is_refused() {
    let zone = zone();
    let text = &zone.records["2XS2367YHAXJFGLZHVAWLQD4ZY"];
    // Flip one bit of the record's content (the last byte of the key) so it
    // still decodes but its signature no longer matches.
    let mut raw = data_encoding::BASE64URL_NOPAD
        .decode(text.strip_prefix("enr:").unwrap().as_bytes())
        .unwrap();
    *raw.last_mut().unwrap() ^= 1;
    let tampered = format!("enr:{}", data_encoding::BASE64URL_NOPAD.encode(&raw));
    assert!(matches!(
        Entry::parse(&tampered),
        Err(TreeError::InvalidRecord(_))
    ));
}

#[test]
fn empty_branch_is_allowed() {
    let entry = Entry::parse("enrtree-branch:").unwrap();
    assert_eq!(entry, Entry::Branch(Branch::default()));
    assert_eq!(entry.to_string(), "enrtree-branch:");
}

#[test]
fn malformed_urls_give_clear_errors() {
    let zone = zone();
    let (key, _) = zone
        .url
        .strip_prefix("enrtree://")
        .unwrap()
        .split_once('@')
        .unwrap();
    let parse = |s: &str| s.parse::<TreeUrl>().unwrap_err();
    assert!(matches!(
        parse("https://example.org"),
        TreeError::UrlSyntax(_)
    ));
    assert!(matches!(
        parse(&format!("enrtree://{key}")),
        TreeError::UrlSyntax(_)
    ));
    assert!(matches!(
        parse("enrtree://@example.org"),
        TreeError::UrlSyntax(_)
    ));
    assert!(matches!(
        parse(&format!("enrtree://{}@x.org", key.to_lowercase())),
        TreeError::InvalidPublicKey(_)
    ));
    // 32 bytes: an uncompressed-length or x-only key is not accepted.
    let short = data_encoding::BASE32_NOPAD.encode(&[2u8; 32]);
    assert!(matches!(
        parse(&format!("enrtree://{short}@x.org")),
        TreeError::InvalidPublicKey(_)
    ));
    // 33 bytes with a bad prefix byte is not a point.
    let bad_point = data_encoding::BASE32_NOPAD.encode(&[5u8; 33]);
    assert!(matches!(
        parse(&format!("enrtree://{bad_point}@x.org")),
        TreeError::InvalidPublicKey(_)
    ));
    for domain in [
        "",
        "a..org",
        "nodes.example.org.",
        "bad domain.org",
        "ex@mple.org",
    ] {
        assert_eq!(
            parse(&format!("enrtree://{key}@{domain}")),
            TreeError::InvalidDomain(domain.into()),
            "{domain:?}"
        );
    }
    // Errors print something a log reader understands.
    assert_eq!(
        TreeError::MissingSignature.to_string(),
        "root has no sig= field"
    );
    assert_eq!(
        TreeError::SignatureLength(64).to_string(),
        "signature is 64 bytes, expected 65"
    );
}
