//! Making a node list to publish: the tree of TXT records a DNS discovery
//! client walks, with its root signed by the list's key.
//!
//! The layout is the one go-ethereum's `devp2p dns sign` writes, so either
//! tool's tree can replace the other's: records sorted by node id, links in
//! the order given, grouped at most [`MAX_PUBLISHED_CHILDREN`] to a branch,
//! level by level, a single entry standing for itself instead of a branch
//! of one; an empty subtree is an empty branch.
//!
//! [`TreeLayout`] is the tree before it is signed: built from the same
//! records and links, it is the same tree, which is how a signature made
//! elsewhere (a tree definition's `enrtree-info.json`) is checked.
//!
//! ```
//! use p2p_core::NodeKey;
//! use p2p_discovery::dns::publish::SignedTree;
//!
//! let list_key = NodeKey::random();
//! let tree = SignedTree::build(list_key.secret(), "nodes.example.org", 1, &[], &[]).unwrap();
//! let records = tree.txt_records();
//! assert_eq!(records["nodes.example.org"], tree.root().to_string());
//! assert_eq!(tree.url().domain, "nodes.example.org");
//! ```

use std::collections::BTreeMap;

use p2p_core::record::NodeRecord;
use secp256k1::{PublicKey, SecretKey};

use super::tree::{subdomain_hash, Root, TreeError, TreeUrl, BRANCH_PREFIX};

/// Most children a published branch has: as many 26-character hashes as
/// fit go-ethereum's 370-byte budget for an entry.
pub const MAX_PUBLISHED_CHILDREN: usize = 13;

/// A signed tree: its root and every other entry, by subdomain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedTree {
    url: TreeUrl,
    root: Root,
    /// Entry text by subdomain hash.
    entries: BTreeMap<String, String>,
}

impl SignedTree {
    /// The tree of `records` and `links`, to be published at `domain`,
    /// signed with `key` at sequence number `seq` (raise it with every
    /// change, or clients keep the old list).
    pub fn build(
        key: &SecretKey,
        domain: &str,
        seq: u64,
        records: &[NodeRecord],
        links: &[TreeUrl],
    ) -> Result<Self, TreeError> {
        Self::build_with_width(key, domain, seq, records, links, MAX_PUBLISHED_CHILDREN)
    }

    /// As [`SignedTree::build`], with at most `width` (at least 2) children
    /// per branch: narrow trees are deep, which tests of clients want.
    pub fn build_with_width(
        key: &SecretKey,
        domain: &str,
        seq: u64,
        records: &[NodeRecord],
        links: &[TreeUrl],
        width: usize,
    ) -> Result<Self, TreeError> {
        TreeLayout::with_width(records, links, width).sign(key, domain, seq)
    }

    /// The URL clients are given: the list's key and domain.
    pub fn url(&self) -> &TreeUrl {
        &self.url
    }

    /// The signed root.
    pub fn root(&self) -> &Root {
        &self.root
    }

    /// Every entry but the root, by subdomain hash (relative to the domain).
    pub fn entries(&self) -> &BTreeMap<String, String> {
        &self.entries
    }

    /// The TXT records to publish, by fully qualified name (without the
    /// trailing dot): the root on the domain, each entry on
    /// `<hash>.<domain>`. This is the JSON object `devp2p dns to-txt` writes.
    pub fn txt_records(&self) -> BTreeMap<String, String> {
        let domain = &self.url.domain;
        let mut records: BTreeMap<String, String> = self
            .entries
            .iter()
            .map(|(hash, text)| (format!("{hash}.{domain}"), text.clone()))
            .collect();
        records.insert(domain.clone(), self.root.to_string());
        records
    }
}

/// A tree's entries and subtree tops, before its root is signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeLayout {
    enr_root: String,
    link_root: String,
    entries: BTreeMap<String, String>,
}

impl TreeLayout {
    /// The layout of `records` and `links`, as [`SignedTree::build`] makes it.
    pub fn new(records: &[NodeRecord], links: &[TreeUrl]) -> Self {
        Self::with_width(records, links, MAX_PUBLISHED_CHILDREN)
    }

    /// As [`TreeLayout::new`], with at most `width` (at least 2) children
    /// per branch.
    pub fn with_width(records: &[NodeRecord], links: &[TreeUrl], width: usize) -> Self {
        let width = width.max(2);
        let mut sorted: Vec<&NodeRecord> = records.iter().collect();
        // The key is a keccak of the public key: computed once per record.
        sorted.sort_by_cached_key(|r| p2p_core::record::peer_id(r).node_id());
        let record_texts: Vec<String> = sorted.iter().map(|r| r.to_base64()).collect();
        let mut link_texts: Vec<String> = Vec::with_capacity(links.len());
        for text in links.iter().map(TreeUrl::to_string) {
            if !link_texts.contains(&text) {
                link_texts.push(text);
            }
        }
        let mut entries = BTreeMap::new();
        let enr_root = subtree(&record_texts, width, &mut entries);
        let link_root = subtree(&link_texts, width, &mut entries);
        TreeLayout {
            enr_root,
            link_root,
            entries,
        }
    }

    /// The hash of the record subtree's top entry.
    pub fn enr_root(&self) -> &str {
        &self.enr_root
    }

    /// The hash of the link subtree's top entry.
    pub fn link_root(&self) -> &str {
        &self.link_root
    }

    /// The tree signed with `key`, to be published at `domain` with
    /// sequence number `seq`.
    pub fn sign(self, key: &SecretKey, domain: &str, seq: u64) -> Result<SignedTree, TreeError> {
        let url = TreeUrl::new(PublicKey::from_secret_key(key), domain)?;
        let root = Root::sign(&self.enr_root, &self.link_root, seq, key)?;
        Ok(SignedTree {
            url,
            root,
            entries: self.entries,
        })
    }

    /// The tree with a root signed elsewhere: `root` must cover this
    /// layout's subtrees and be signed by `url`'s key.
    pub fn with_root(self, url: TreeUrl, root: Root) -> Result<SignedTree, TreeError> {
        if root.enr_root != self.enr_root || root.link_root != self.link_root {
            return Err(TreeError::BadSignature);
        }
        root.verify(&url.key)?;
        Ok(SignedTree {
            url,
            root,
            entries: self.entries,
        })
    }
}

/// Adds the subtree over `leaves` to `entries`; returns its top's hash.
fn subtree(leaves: &[String], width: usize, entries: &mut BTreeMap<String, String>) -> String {
    let mut add = |text: String| {
        let hash = subdomain_hash(&text);
        entries.insert(hash.clone(), text);
        hash
    };
    let mut level: Vec<String> = leaves.iter().map(|text| add(text.clone())).collect();
    if level.is_empty() {
        return add(BRANCH_PREFIX.to_string());
    }
    while level.len() > 1 {
        level = level
            .chunks(width)
            .map(|children| {
                if children.len() == 1 {
                    children[0].clone()
                } else {
                    add(format!("{BRANCH_PREFIX}{}", children.join(",")))
                }
            })
            .collect();
    }
    level.remove(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::client::{DnsClient, DnsConfig, MapResolver};
    use p2p_core::record::{Endpoint, LocalRecord};
    use p2p_core::NodeKey;

    fn records(n: u16) -> Vec<NodeRecord> {
        (0..n)
            .map(|i| {
                let ip = [10, 0, (i >> 8) as u8, i as u8];
                LocalRecord::new(NodeKey::random(), Endpoint::new(ip, 30303), 1)
                    .unwrap()
                    .record()
                    .clone()
            })
            .collect()
    }

    fn resolver_of(tree: &SignedTree) -> MapResolver {
        let resolver = MapResolver::new();
        for (name, text) in tree.txt_records() {
            resolver.insert(&name, &text);
        }
        resolver
    }

    #[tokio::test]
    async fn a_built_tree_syncs_back_to_its_records_and_links() {
        let key = NodeKey::random();
        let nodes = records(40);
        let link = TreeUrl::new(*NodeKey::random().public(), "other.example.org").unwrap();
        for width in [2, 3, MAX_PUBLISHED_CHILDREN] {
            let tree = SignedTree::build_with_width(
                key.secret(),
                "nodes.example.org",
                7,
                &nodes,
                std::slice::from_ref(&link),
                width,
            )
            .unwrap();
            let client = DnsClient::new(resolver_of(&tree), DnsConfig::default());
            let synced = client.sync_tree(tree.url()).await.unwrap();
            assert_eq!(synced.root.seq, 7);
            let mut got: Vec<String> = synced.records.iter().map(|r| r.to_base64()).collect();
            let mut want: Vec<String> = nodes.iter().map(|r| r.to_base64()).collect();
            got.sort();
            want.sort();
            assert_eq!(got, want, "width {width}");
            assert_eq!(synced.links, vec![link.clone()]);
            // No branch is wider than asked.
            for text in tree.entries().values() {
                if let Some(children) = text.strip_prefix(BRANCH_PREFIX) {
                    assert!(children.split(',').count() <= width, "{text}");
                }
            }
        }
    }

    #[test]
    fn the_root_is_signed_by_the_list_key_and_the_layout_is_deterministic() {
        let key = NodeKey::random();
        let nodes = records(5);
        let tree = SignedTree::build(key.secret(), "n.example.org", 1, &nodes, &[]).unwrap();
        tree.root().verify(key.public()).unwrap();
        // Record order does not change the tree: leaves are sorted by id.
        let mut reversed = nodes.clone();
        reversed.reverse();
        let again = SignedTree::build(key.secret(), "n.example.org", 1, &reversed, &[]).unwrap();
        assert_eq!(tree.entries(), again.entries());
        assert_eq!(tree.root().enr_root, again.root().enr_root);
        // Five records fit one branch; the link subtree is an empty branch.
        assert_eq!(tree.entries().len(), 5 + 1 + 1);
        assert_eq!(tree.entries()[&tree.root().link_root], BRANCH_PREFIX);
    }
}
