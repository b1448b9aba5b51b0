//! Answering `snap/1` requests: the [`SnapHandler`] an application implements
//! over its state, and [`serve`], which turns a request into its response
//! within the size limits.
//!
//! The split keeps every rule about response size in one place. The handler
//! only knows how to read state: it is asked for the items of one range (or
//! one batch of codes or nodes) with a byte budget, and for the proof of the
//! range once its end is known. [`serve`] clamps the requester's budget,
//! drops whatever the handler returned past it, decides whether a proof is
//! owed, and echoes the request id. Asking for the proof only after the range
//! is cut is what keeps proof and range consistent, however many items the
//! handler returned.
//!
//! # Budgets
//!
//! The spec makes `responseBytes` a soft limit, and obliges a server to
//! return at least one item whenever one exists, even if it alone is over the
//! limit. Items are therefore added until the response reaches the budget,
//! not while the next one still fits: the item that crosses the budget is the
//! last one. Every item weighs its encoded size (for example
//! [`AccountEntry::encoded_len`]); proofs are not weighed, as in go-ethereum.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use primitive_types::H256;

use super::messages::{
    encoded_bytes_len, keccak256, AccountEntry, AccountRange, ByteCodes, GetAccountRange,
    GetByteCodes, GetStorageRanges, GetTrieNodes, SlimAccount, SnapMessage, StorageRanges,
    StorageSlot, TrieNodePathSet, TrieNodes, MAX_BYTECODE_HASHES,
};

/// The largest response budget served: a larger `responseBytes` is clamped to
/// it.
///
/// This is go-ethereum's `softResponseLimit` (2 MiB). It keeps a response
/// well under the largest message go-ethereum accepts on `snap` (10 MiB,
/// its `maxMessageSize`) and under this crate's 16 MiB transport limit, even
/// with the slack below and the one item allowed past the budget.
pub const MAX_RESPONSE_BYTES: usize = 2 * 1024 * 1024;

/// How far, in percent of the budget, a storage response may run over to
/// finish an account's storage rather than cut it and prove it.
///
/// The spec suggests forcing the limit slightly when adding the last
/// contract; go-ethereum allows 10 % (`stateLookupSlack`). A new account's
/// storage is only started while the response is under the budget proper.
pub const STORAGE_SLACK_PERCENT: usize = 10;

/// Most codes looked up for one request: go-ethereum's `maxCodeLookups`.
/// Hashes past it are not looked at, and the requester sees them as a
/// cut-off tail. The decoder accepts up to
/// [`MAX_REQUEST_ITEMS`](super::messages::MAX_REQUEST_ITEMS).
pub const MAX_CODE_LOOKUPS: usize = MAX_BYTECODE_HASHES;

/// Most trie nodes looked up for one request: go-ethereum's
/// `maxTrieNodeLookups`. Paths past it are not looked at, and the requester
/// sees them as a cut-off tail.
pub const MAX_TRIE_NODE_LOOKUPS: usize = 1024;

/// The budget a request's `responseBytes` grants: the value, clamped to
/// [`MAX_RESPONSE_BYTES`].
pub fn response_budget(response_bytes: u64) -> usize {
    usize::try_from(response_bytes)
        .map_or(MAX_RESPONSE_BYTES, |bytes| bytes.min(MAX_RESPONSE_BYTES))
}

/// The state a node serves over `snap`, implemented by the application.
///
/// The range methods share one contract for `budget`: return items in order,
/// at least one if any exists, and keep going until their encoded sizes sum
/// to at least `budget` (or the range ends). Returning fewer is taken to mean
/// that there are no more, which decides whether a range is complete and so
/// whether a proof is sent (a range that reaches the budget counts as cut,
/// even if it happens to end there too: a proof too many is allowed, one too
/// few is not). Returning more is harmless: [`serve`] drops the excess before
/// asking for the proof.
///
/// `None` means the node does not have the requested state (the root is not
/// one it keeps, or, for storage, the account is unknown): the spec then asks
/// for an empty response.
pub trait SnapHandler: Send + Sync + 'static {
    /// The accounts of the state `root` with hashes from `origin` on, in hash
    /// order, stopping after the first at or past `limit`, or once they weigh
    /// `budget` ([`AccountEntry::encoded_len`]).
    fn account_range(
        &self,
        root: H256,
        origin: H256,
        limit: H256,
        budget: usize,
    ) -> Option<Vec<AccountEntry>>;

    /// The trie nodes proving an account range of the state `root`: the path
    /// to `origin` (whether an account is there or not) and the path to
    /// `last`, the last account returned, if any.
    fn account_proof(&self, root: H256, origin: H256, last: Option<H256>) -> Vec<Bytes>;

    /// The storage slots of `account` in the state `root` with hashes from
    /// `origin` on, in hash order, stopping after the first at or past
    /// `limit`, or once they weigh `budget` ([`StorageSlot::encoded_len`]).
    /// An account without storage has an empty range; `None` is for an
    /// unknown root or account.
    fn storage_range(
        &self,
        root: H256,
        account: H256,
        origin: H256,
        limit: H256,
        budget: usize,
    ) -> Option<Vec<StorageSlot>>;

    /// The trie nodes proving a storage range of `account` in the state
    /// `root`: the paths to `origin` and to `last`, the last slot returned,
    /// if any.
    fn storage_proof(
        &self,
        root: H256,
        account: H256,
        origin: H256,
        last: Option<H256>,
    ) -> Vec<Bytes>;

    /// The codes with the given hashes, in the order given, unknown ones left
    /// out, stopping once they weigh `budget` (their encoded sizes).
    fn bytecodes(&self, hashes: &[H256], budget: usize) -> Vec<Bytes>;

    /// The trie nodes at the given paths of the state `root`, in the order
    /// given, unknown ones left out, stopping once they weigh `budget` (their
    /// encoded sizes). `None` for an unknown root.
    fn trie_nodes(
        &self,
        root: H256,
        paths: &[TrieNodePathSet],
        budget: usize,
    ) -> Option<Vec<Bytes>>;
}

/// The response to `request`, or `None` if it is a response itself.
pub fn serve<H: SnapHandler + ?Sized>(handler: &H, request: &SnapMessage) -> Option<SnapMessage> {
    Some(match request {
        SnapMessage::GetAccountRange(request) => {
            SnapMessage::AccountRange(serve_account_range(handler, request))
        }
        SnapMessage::GetStorageRanges(request) => {
            SnapMessage::StorageRanges(serve_storage_ranges(handler, request))
        }
        SnapMessage::GetByteCodes(request) => {
            SnapMessage::ByteCodes(serve_bytecodes(handler, request))
        }
        SnapMessage::GetTrieNodes(request) => {
            SnapMessage::TrieNodes(serve_trie_nodes(handler, request))
        }
        SnapMessage::AccountRange(_)
        | SnapMessage::StorageRanges(_)
        | SnapMessage::ByteCodes(_)
        | SnapMessage::TrieNodes(_) => return None,
    })
}

/// How a range was cut to its budget.
struct Cut {
    /// How many items to keep.
    kept: usize,
    /// What they weigh.
    size: usize,
    /// Whether the range may go on past the items kept.
    partial: bool,
}

/// Keeps items of a range from the start until they weigh `budget` or one
/// reaches `limit`.
fn cut_range<T>(
    items: &[T],
    start_size: usize,
    budget: usize,
    limit: H256,
    hash: impl Fn(&T) -> H256,
    weight: impl Fn(&T) -> usize,
) -> Cut {
    let mut size = start_size;
    for (index, item) in items.iter().enumerate() {
        size += weight(item);
        let item_hash = hash(item);
        if size >= budget || item_hash >= limit {
            // Past the limit there may be more; at the very last hash of the
            // trie there cannot be.
            let at_end = item_hash == H256::repeat_byte(0xff);
            return Cut {
                kept: index + 1,
                size,
                partial: !at_end,
            };
        }
    }
    Cut {
        kept: items.len(),
        size,
        partial: false,
    }
}

/// Answers a [`GetAccountRange`].
///
/// The proof is left out only when the range is the whole state: it starts
/// at the zero hash and nothing was cut. An unknown root gets an empty
/// response; a known one with no accounts past the origin gets just the proof
/// that there are none.
pub fn serve_account_range<H: SnapHandler + ?Sized>(
    handler: &H,
    request: &GetAccountRange,
) -> AccountRange {
    let mut response = AccountRange {
        request_id: request.request_id,
        ..AccountRange::default()
    };
    let budget = response_budget(request.response_bytes);
    let (root, origin, limit) = (request.root_hash, request.starting_hash, request.limit_hash);
    let Some(mut accounts) = handler.account_range(root, origin, limit, budget) else {
        return response;
    };
    let cut = cut_range(
        &accounts,
        0,
        budget,
        limit,
        |entry| entry.hash,
        AccountEntry::encoded_len,
    );
    accounts.truncate(cut.kept);
    if !origin.is_zero() || cut.partial {
        let last = accounts.last().map(|entry| entry.hash);
        response.proof = handler.account_proof(root, origin, last);
    }
    response.accounts = accounts;
    response
}

/// Answers a [`GetStorageRanges`].
///
/// Accounts are served in the order asked, each whole, until the budget is
/// reached; the starting and limit hashes bound the first account only. A
/// range that is not its account's whole storage (it starts past zero, or it
/// was cut) gets a proof and ends the response, since the proof can only be
/// for the last list. An account's storage may run [`STORAGE_SLACK_PERCENT`]
/// over the budget rather than be cut. If the root or any account served is
/// unknown, the response is empty.
pub fn serve_storage_ranges<H: SnapHandler + ?Sized>(
    handler: &H,
    request: &GetStorageRanges,
) -> StorageRanges {
    let mut response = StorageRanges {
        request_id: request.request_id,
        ..StorageRanges::default()
    };
    let budget = response_budget(request.response_bytes);
    let hard_budget = budget + budget * STORAGE_SLACK_PERCENT / 100;
    let root = request.root_hash;
    let mut size = 0;
    let accounts = &request.account_hashes;
    let accounts = &accounts[..accounts.len().min(super::messages::MAX_STORAGE_ACCOUNTS)];
    for (index, &account) in accounts.iter().enumerate() {
        // A new account is only opened under the budget; the first always
        // is, so that something is returned.
        if index > 0 && size >= budget {
            break;
        }
        let (origin, limit) = if index == 0 {
            (request.origin(), request.limit())
        } else {
            (H256::zero(), H256::repeat_byte(0xff))
        };
        let Some(mut slots) = handler.storage_range(
            root,
            account,
            origin,
            limit,
            hard_budget.saturating_sub(size),
        ) else {
            return StorageRanges {
                request_id: request.request_id,
                ..StorageRanges::default()
            };
        };
        let cut = cut_range(
            &slots,
            size,
            hard_budget,
            limit,
            |slot| slot.hash,
            StorageSlot::encoded_len,
        );
        slots.truncate(cut.kept);
        size = cut.size;
        let proven = !origin.is_zero() || cut.partial;
        if proven {
            let last = slots.last().map(|slot| slot.hash);
            response.proof = handler.storage_proof(root, account, origin, last);
        }
        response.slots.push(slots);
        if proven {
            break;
        }
    }
    response
}

/// Keeps items from the start until they weigh `budget`.
fn cut_to_budget(items: &mut Vec<Bytes>, budget: usize) {
    let mut size = 0;
    for (index, item) in items.iter().enumerate() {
        size += encoded_bytes_len(item);
        if size >= budget {
            items.truncate(index + 1);
            return;
        }
    }
}

/// Answers a [`GetByteCodes`]: the codes known among the first
/// [`MAX_CODE_LOOKUPS`] hashes, in the order asked, until the budget is
/// reached.
pub fn serve_bytecodes<H: SnapHandler + ?Sized>(handler: &H, request: &GetByteCodes) -> ByteCodes {
    let budget = response_budget(request.response_bytes);
    let hashes = &request.hashes[..request.hashes.len().min(MAX_CODE_LOOKUPS)];
    let mut codes = if hashes.is_empty() {
        Vec::new()
    } else {
        handler.bytecodes(hashes, budget)
    };
    cut_to_budget(&mut codes, budget);
    ByteCodes {
        request_id: request.request_id,
        codes,
    }
}

/// The first [`MAX_TRIE_NODE_LOOKUPS`] nodes of `paths`, cutting a set in
/// two if it straddles the cap. Borrows `paths` when nothing is cut.
fn cap_lookups(paths: &[TrieNodePathSet]) -> std::borrow::Cow<'_, [TrieNodePathSet]> {
    let mut nodes = 0;
    for (index, set) in paths.iter().enumerate() {
        if nodes + set.node_count() > MAX_TRIE_NODE_LOOKUPS {
            let mut capped = paths[..index].to_vec();
            let room = MAX_TRIE_NODE_LOOKUPS - nodes;
            // A set's node count exceeds one only when it names storage
            // nodes, so `room` storage paths of it still fit.
            if room > 0 {
                capped.push(TrieNodePathSet {
                    account_path: set.account_path.clone(),
                    storage_paths: set.storage_paths[..room].to_vec(),
                });
            }
            return capped.into();
        }
        nodes += set.node_count();
    }
    paths.into()
}

/// Answers a [`GetTrieNodes`]: the nodes known among the first
/// [`MAX_TRIE_NODE_LOOKUPS`] asked, in the order asked, until the budget is
/// reached. An unknown root gets an empty response.
pub fn serve_trie_nodes<H: SnapHandler + ?Sized>(handler: &H, request: &GetTrieNodes) -> TrieNodes {
    let budget = response_budget(request.response_bytes);
    let paths = cap_lookups(&request.paths);
    let mut nodes = if paths.is_empty() {
        Vec::new()
    } else {
        handler
            .trie_nodes(request.root_hash, &paths, budget)
            .unwrap_or_default()
    };
    cut_to_budget(&mut nodes, budget);
    TrieNodes {
        request_id: request.request_id,
        nodes,
    }
}

/// A trie node's place: its account trie path, and its storage trie path for
/// a storage trie node.
type NodeKey = (Bytes, Option<Bytes>);

/// A [`SnapHandler`] over state held in memory, for tests and examples.
///
/// It serves one state root, given at creation, and knows nothing of tries:
/// it does not compute the root from the accounts, and its proofs are always
/// empty, so its ranges do not verify against a real root. A syncing peer
/// that checks proofs will refuse its partial ranges; only whole ranges (from
/// the zero hash, not cut) are answered as a real node would. Trie nodes are
/// whatever was inserted at each path, unchecked.
#[derive(Clone, Debug, Default)]
pub struct MemorySnapState {
    root: H256,
    accounts: BTreeMap<H256, SlimAccount>,
    storage: BTreeMap<H256, BTreeMap<H256, Bytes>>,
    codes: HashMap<H256, Bytes>,
    trie_nodes: HashMap<NodeKey, Bytes>,
}

impl MemorySnapState {
    /// An empty state served under `root`.
    pub fn new(root: H256) -> Self {
        MemorySnapState {
            root,
            ..MemorySnapState::default()
        }
    }

    /// The root the state is served under.
    pub fn root(&self) -> H256 {
        self.root
    }

    /// Adds (or replaces) the account whose address hashes to `hash`.
    pub fn insert_account(&mut self, hash: H256, account: SlimAccount) {
        self.accounts.insert(hash, account);
    }

    /// Sets the slot whose key hashes to `slot` in the storage of the account
    /// `account`. The account must be inserted too for its storage to be
    /// served.
    pub fn insert_storage(&mut self, account: H256, slot: H256, data: impl Into<Bytes>) {
        self.storage
            .entry(account)
            .or_default()
            .insert(slot, data.into());
    }

    /// Adds a code and returns its hash.
    pub fn insert_code(&mut self, code: impl Into<Bytes>) -> H256 {
        let code = code.into();
        let hash = keccak256(&code);
        self.codes.insert(hash, code);
        hash
    }

    /// Adds the trie node at `account_path` in the account trie, or, with a
    /// `storage_path`, at that path in the storage trie of the account at
    /// `account_path`.
    pub fn insert_trie_node(
        &mut self,
        account_path: impl Into<Bytes>,
        storage_path: Option<Bytes>,
        node: impl Into<Bytes>,
    ) {
        self.trie_nodes
            .insert((account_path.into(), storage_path), node.into());
    }
}

/// Takes items from `range` as the [`SnapHandler`] contract asks: at least
/// one, until they weigh `budget` or one reaches `limit`.
fn take_range<K: Copy + Ord, V, T>(
    range: impl Iterator<Item = (K, V)>,
    limit: K,
    budget: usize,
    make: impl Fn(K, V) -> T,
    weight: impl Fn(&T) -> usize,
) -> Vec<T> {
    let mut out = Vec::new();
    let mut size = 0;
    for (key, value) in range {
        let item = make(key, value);
        size += weight(&item);
        out.push(item);
        if size >= budget || key >= limit {
            break;
        }
    }
    out
}

impl SnapHandler for MemorySnapState {
    fn account_range(
        &self,
        root: H256,
        origin: H256,
        limit: H256,
        budget: usize,
    ) -> Option<Vec<AccountEntry>> {
        (root == self.root).then(|| {
            take_range(
                self.accounts.range(origin..).map(|(h, a)| (*h, *a)),
                limit,
                budget,
                |hash, account| AccountEntry { hash, account },
                AccountEntry::encoded_len,
            )
        })
    }

    fn account_proof(&self, _root: H256, _origin: H256, _last: Option<H256>) -> Vec<Bytes> {
        // No trie to prove anything with; see the type's documentation.
        Vec::new()
    }

    fn storage_range(
        &self,
        root: H256,
        account: H256,
        origin: H256,
        limit: H256,
        budget: usize,
    ) -> Option<Vec<StorageSlot>> {
        if root != self.root || !self.accounts.contains_key(&account) {
            return None;
        }
        let Some(storage) = self.storage.get(&account) else {
            return Some(Vec::new());
        };
        Some(take_range(
            storage.range(origin..).map(|(h, d)| (*h, d.clone())),
            limit,
            budget,
            |hash, data| StorageSlot { hash, data },
            StorageSlot::encoded_len,
        ))
    }

    fn storage_proof(
        &self,
        _root: H256,
        _account: H256,
        _origin: H256,
        _last: Option<H256>,
    ) -> Vec<Bytes> {
        Vec::new()
    }

    fn bytecodes(&self, hashes: &[H256], budget: usize) -> Vec<Bytes> {
        let mut codes = Vec::new();
        let mut size = 0;
        for code in hashes.iter().filter_map(|hash| self.codes.get(hash)) {
            size += encoded_bytes_len(code);
            codes.push(code.clone());
            if size >= budget {
                break;
            }
        }
        codes
    }

    fn trie_nodes(
        &self,
        root: H256,
        paths: &[TrieNodePathSet],
        budget: usize,
    ) -> Option<Vec<Bytes>> {
        if root != self.root {
            return None;
        }
        let mut nodes = Vec::new();
        let mut size = 0;
        'sets: for set in paths {
            let keys: Vec<NodeKey> = if set.storage_paths.is_empty() {
                vec![(set.account_path.clone(), None)]
            } else {
                set.storage_paths
                    .iter()
                    .map(|path| (set.account_path.clone(), Some(path.clone())))
                    .collect()
            };
            for node in keys.iter().filter_map(|key| self.trie_nodes.get(key)) {
                size += encoded_bytes_len(node);
                nodes.push(node.clone());
                if size >= budget {
                    break 'sets;
                }
            }
        }
        Some(nodes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(storage: usize) -> TrieNodePathSet {
        TrieNodePathSet {
            account_path: Bytes::from_static(&[0x01]),
            storage_paths: (0..storage).map(|i| Bytes::from(vec![i as u8])).collect(),
        }
    }

    #[test]
    fn lookups_are_capped_at_the_node_count() {
        let under = vec![set(0); MAX_TRIE_NODE_LOOKUPS];
        assert!(matches!(cap_lookups(&under), std::borrow::Cow::Borrowed(_)));

        // 1000 account nodes, then a set of 100 storage nodes: 24 of them fit.
        let mut over = vec![set(0); 1000];
        over.push(set(100));
        over.push(set(0));
        let capped = cap_lookups(&over);
        assert_eq!(capped.len(), 1001);
        assert_eq!(capped[1000].storage_paths.len(), 24);
        let total: usize = capped.iter().map(TrieNodePathSet::node_count).sum();
        assert_eq!(total, MAX_TRIE_NODE_LOOKUPS);
    }

    #[test]
    fn budgets_are_clamped() {
        assert_eq!(response_budget(0), 0);
        assert_eq!(response_budget(1000), 1000);
        assert_eq!(response_budget(u64::MAX), MAX_RESPONSE_BYTES);
    }

    #[test]
    fn a_cut_at_the_last_hash_is_complete() {
        let hashes = [H256::repeat_byte(0x10), H256::repeat_byte(0xff)];
        let max = H256::repeat_byte(0xff);
        let cut = cut_range(&hashes, 0, usize::MAX, max, |h| *h, |_| 1);
        assert_eq!((cut.kept, cut.partial), (2, false));
        let cut = cut_range(&hashes, 0, usize::MAX, hashes[0], |h| *h, |_| 1);
        assert_eq!((cut.kept, cut.partial), (1, true));
        let cut = cut_range(&hashes, 0, 1, max, |h| *h, |_| 1);
        assert_eq!((cut.kept, cut.partial), (1, true));
    }
}
