//! The eight `snap/1` messages, their RLP encodings and the limits a decoder
//! holds a peer's lists to.
//!
//! Every message is a list whose first field is the request id; responses
//! echo the id of the request they answer. Decoding is strict, as everywhere
//! in this crate (see [`crate::codec`]): the payload is exactly one item, a
//! message list holds exactly the fields its definition names (go-ethereum
//! decodes these messages into fixed structs and refuses extra fields too),
//! the items of every list must fill it exactly, and every list a peer sends
//! is bounded by one of the constants below before it is decoded.

use bytes::Bytes;
use p2p_core::{Capability, CapabilityMessage, Msg};
use primitive_types::{H256, U256};
use rlp::{Decodable, DecoderError, Encodable, Rlp, RlpStream};

use crate::codec::{
    append_list, check_whole, decode_list, decode_list_with, expect_fields, strict_count,
    MessageError,
};

/// The capability's name.
pub const NAME: &str = "snap";
/// The capability's version.
pub const VERSION: u32 = 1;
/// How many message codes `snap/1` uses.
pub const MESSAGE_COUNT: u64 = 8;

/// Code of [`GetAccountRange`].
pub const GET_ACCOUNT_RANGE: u64 = 0x00;
/// Code of [`AccountRange`].
pub const ACCOUNT_RANGE: u64 = 0x01;
/// Code of [`GetStorageRanges`].
pub const GET_STORAGE_RANGES: u64 = 0x02;
/// Code of [`StorageRanges`].
pub const STORAGE_RANGES: u64 = 0x03;
/// Code of [`GetByteCodes`].
pub const GET_BYTE_CODES: u64 = 0x04;
/// Code of [`ByteCodes`].
pub const BYTE_CODES: u64 = 0x05;
/// Code of [`GetTrieNodes`].
pub const GET_TRIE_NODES: u64 = 0x06;
/// Code of [`TrieNodes`].
pub const TRIE_NODES: u64 = 0x07;

/// The capability `snap/1`, as announced in the RLPx hello.
pub fn capability() -> Capability {
    Capability::new(NAME, VERSION)
}

/// Most account hashes a [`GetStorageRanges`] may name, and so most storage
/// lists a [`StorageRanges`] may carry.
///
/// go-ethereum's syncer asks for at most 512 accounts at a time
/// (`maxStorageSetFetchCount`, its 512 KiB request size over 1 KiB); twice
/// that leaves room for other clients while bounding the storage lookups one
/// request can cause.
pub const MAX_STORAGE_ACCOUNTS: usize = 1024;

/// Most code hashes a [`GetByteCodes`] may name, and so most codes a
/// [`ByteCodes`] may carry.
///
/// This is go-ethereum's `maxCodeLookups`, the most codes it looks up for one
/// request (its syncer asks for far fewer, about 84).
pub const MAX_BYTECODE_HASHES: usize = 1024;

/// Most items a request list a peer sends may hold (account hashes of a
/// [`GetStorageRanges`], code hashes of a [`GetByteCodes`], paths of a
/// [`GetTrieNodes`]). Serving looks at no more than its own limits of those
/// ([`MAX_STORAGE_ACCOUNTS`], [`MAX_CODE_LOOKUPS`](super::MAX_CODE_LOOKUPS),
/// [`MAX_TRIE_NODE_LOOKUPS`](super::MAX_TRIE_NODE_LOOKUPS)) and answers the
/// rest as a cut-off tail, as go-ethereum does; this bound, far above them,
/// only keeps a hostile list from being decoded at all.
pub const MAX_REQUEST_ITEMS: usize = 16 * 1024;

/// Most paths a [`GetTrieNodes`] may hold, counted over all its path sets
/// (each set's account path included), and most nodes a [`TrieNodes`] may
/// carry.
///
/// go-ethereum looks up at most 1024 nodes for one request
/// (`maxTrieNodeLookups`, which [`serve`](super::serve()) applies too) and its
/// syncer asks for at most 1024 (`maxTrieRequestCount`). A request for that
/// many storage nodes also repeats one account path per set, so the cap on
/// paths is twice the cap on nodes.
pub const MAX_TRIE_NODE_PATHS: usize = 2048;

/// Most accounts an [`AccountRange`] may carry, and most slots a
/// [`StorageRanges`] may carry over all its lists.
///
/// Generous on purpose: the smallest account entry is 39 bytes and the
/// smallest slot 35, so a response filling go-ethereum's 2 MiB serving limit
/// holds at most about 60 000 of either; 2^18 leaves room for servers that
/// honour larger requests, while keeping a hostile response from turning a
/// 16 MiB message into millions of allocations.
pub const MAX_RANGE_ITEMS: usize = 1 << 18;

/// Most trie nodes the proof of an [`AccountRange`] or [`StorageRanges`] may
/// carry.
///
/// A range proof is the nodes on the paths to its two boundary keys. A path
/// to a 32-byte key crosses at most 64 branch nodes and one leaf (plus
/// extensions, which only shorten it), so a proof needs at most about 130
/// nodes; the cap is generous by a wide margin.
pub const MAX_PROOF_NODES: usize = 1024;

/// The root of an empty trie, which the slim account format leaves out.
pub use crate::eth::types::EMPTY_ROOT_HASH;

/// Keccak-256 of nothing: the code hash of an account without code, which the
/// slim account format leaves out.
pub const EMPTY_CODE_HASH: H256 = H256([
    0xc5, 0xd2, 0x46, 0x01, 0x86, 0xf7, 0x23, 0x3c, 0x92, 0x7e, 0x7d, 0xb2, 0xdc, 0xc7, 0x03, 0xc0,
    0xe5, 0x00, 0xb6, 0x53, 0xca, 0x82, 0x27, 0x3b, 0x7b, 0xfa, 0xd8, 0x04, 0x5d, 0x85, 0xa4, 0x70,
]);

/// Keccak-256, how code hashes and trie node hashes are made.
pub use crate::eth::types::keccak256;

// ---------------------------------------------------------------------------
// Encoded sizes. Serving counts response bytes as they go on the wire, and
// measuring without encoding spares copying every code and node it weighs.

/// Bytes a list or string header takes in front of `payload` bytes.
fn header_len(payload: usize) -> usize {
    if payload < 56 {
        1
    } else {
        1 + (usize::BITS - payload.leading_zeros()).div_ceil(8) as usize
    }
}

/// The encoded size of the byte string `data`.
pub fn encoded_bytes_len(data: &[u8]) -> usize {
    match data {
        [byte] if *byte < 0x80 => 1,
        _ => header_len(data.len()) + data.len(),
    }
}

/// The encoded size of an integer whose big-endian form without leading zeros
/// takes `len` bytes and whose first byte is `first`.
fn encoded_int_len(len: usize, first: u8) -> usize {
    if len == 0 || (len == 1 && first < 0x80) {
        1
    } else {
        1 + len
    }
}

fn encoded_u64_len(value: u64) -> usize {
    let len = (u64::BITS - value.leading_zeros()).div_ceil(8) as usize;
    encoded_int_len(len, value as u8)
}

fn encoded_u256_len(value: &U256) -> usize {
    let len = value.bits().div_ceil(8);
    encoded_int_len(len, value.low_u32() as u8)
}

/// An encoded hash: a 32-byte string behind a one-byte header.
const ENCODED_HASH_LEN: usize = 33;

// ---------------------------------------------------------------------------
// Strict list reading.

/// The list at `index` of `rlp`, at most `limit` items long, each decoded as
/// `T`.
fn list_at<T: Decodable>(
    rlp: &Rlp<'_>,
    index: usize,
    code: u64,
    limit: usize,
) -> Result<Vec<T>, MessageError> {
    let list = rlp.at(index).map_err(MessageError::malformed(code))?;
    strict_count(&list).map_err(MessageError::malformed(code))?;
    decode_list(&list, code, limit)
}

/// The list at `index` of `rlp`, a list of lists: the outer list at most
/// `outer_limit` long and its inner lists together at most `total_limit`,
/// both checked before any inner item is decoded. Returns the inner lists.
fn nested_at<'a>(
    rlp: &Rlp<'a>,
    index: usize,
    code: u64,
    outer_limit: usize,
    total_limit: usize,
) -> Result<Vec<Rlp<'a>>, MessageError> {
    let malformed = MessageError::malformed(code);
    let list = rlp.at(index).map_err(malformed)?;
    strict_count(&list).map_err(MessageError::malformed(code))?;
    let inner = decode_list_with(&list, code, outer_limit, |item| Ok(item.clone()))?;
    let mut total = 0usize;
    for item in &inner {
        total += strict_count(item).map_err(MessageError::malformed(code))?;
    }
    if total > total_limit {
        return Err(MessageError::TooManyItems {
            code,
            count: total,
            limit: total_limit,
        });
    }
    Ok(inner)
}

/// Appends `hash`, or an empty string for `None`.
fn append_optional_hash(s: &mut RlpStream, hash: &Option<H256>) {
    match hash {
        Some(hash) => s.append(hash),
        None => s.append_empty_data(),
    };
}

/// An empty string as `None`, else a 32-byte hash. With `empty_list`, an
/// empty list is read as `None` too.
fn optional_hash(rlp: &Rlp<'_>, empty_list: bool) -> Result<Option<H256>, DecoderError> {
    match rlp.as_raw() {
        [0x80] => Ok(None),
        [0xc0] if empty_list => Ok(None),
        _ => rlp.as_val().map(Some),
    }
}

// ---------------------------------------------------------------------------
// Accounts and slots.

/// An account as `snap` carries it: the consensus account's fields in the
/// consensus order, with an empty storage root and an empty code hash left
/// out (`caps/snap.md`, "Data format"), which spares 64 bytes for most
/// accounts.
///
/// The body is typed rather than kept as raw bytes so that a malformed body
/// fails when the message is read, not later deep in the syncer, and so that
/// a server can weigh it without re-reading it. The cost is that a body is
/// re-encoded to be sent, which is cheap for four small fields.
///
/// On the wire the body is the account's RLP list itself, nested in the
/// `[accHash, accBody]` pair, not a byte string wrapping it: that is what
/// go-ethereum and the other clients send, although the spec's notation says
/// `accBody: B`. A left-out hash is sent as an empty string, as go-ethereum
/// does; an empty list, which is what the spec's prose says, is accepted on
/// reading. A full empty root or empty code hash sent instead of the short
/// form is accepted and kept as given ([`SlimAccount::from_full`] makes the
/// short form).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SlimAccount {
    /// The account's nonce.
    pub nonce: u64,
    /// The account's balance, in wei.
    pub balance: U256,
    /// The root of the account's storage trie; `None` for an empty trie
    /// ([`EMPTY_ROOT_HASH`]).
    pub storage_root: Option<H256>,
    /// The hash of the account's code; `None` for no code
    /// ([`EMPTY_CODE_HASH`]).
    pub code_hash: Option<H256>,
}

impl SlimAccount {
    /// The slim form of a consensus account: an empty storage root and an
    /// empty code hash become `None`.
    pub fn from_full(nonce: u64, balance: U256, storage_root: H256, code_hash: H256) -> Self {
        SlimAccount {
            nonce,
            balance,
            storage_root: (storage_root != EMPTY_ROOT_HASH).then_some(storage_root),
            code_hash: (code_hash != EMPTY_CODE_HASH).then_some(code_hash),
        }
    }

    /// The storage root in full: [`EMPTY_ROOT_HASH`] when left out.
    pub fn full_storage_root(&self) -> H256 {
        self.storage_root.unwrap_or(EMPTY_ROOT_HASH)
    }

    /// The code hash in full: [`EMPTY_CODE_HASH`] when left out.
    pub fn full_code_hash(&self) -> H256 {
        self.code_hash.unwrap_or(EMPTY_CODE_HASH)
    }

    /// The consensus encoding, with both hashes in full: the value of the
    /// account's leaf in the state trie, which is what a range proof proves.
    pub fn full_rlp(&self) -> Bytes {
        let mut s = RlpStream::new_list(4);
        s.append(&self.nonce)
            .append(&self.balance)
            .append(&self.full_storage_root())
            .append(&self.full_code_hash());
        s.out().freeze()
    }

    /// The size of the slim encoding.
    pub fn encoded_len(&self) -> usize {
        let hash_len = |hash: &Option<H256>| match hash {
            Some(_) => ENCODED_HASH_LEN,
            None => 1,
        };
        let payload = encoded_u64_len(self.nonce)
            + encoded_u256_len(&self.balance)
            + hash_len(&self.storage_root)
            + hash_len(&self.code_hash);
        header_len(payload) + payload
    }
}

impl Encodable for SlimAccount {
    fn rlp_append(&self, s: &mut RlpStream) {
        s.begin_list(4);
        s.append(&self.nonce).append(&self.balance);
        append_optional_hash(s, &self.storage_root);
        append_optional_hash(s, &self.code_hash);
    }
}

impl Decodable for SlimAccount {
    fn decode(rlp: &Rlp<'_>) -> Result<Self, DecoderError> {
        expect_fields(rlp, 4)?;
        Ok(SlimAccount {
            nonce: rlp.val_at(0)?,
            balance: rlp.val_at(1)?,
            storage_root: optional_hash(&rlp.at(2)?, true)?,
            code_hash: optional_hash(&rlp.at(3)?, true)?,
        })
    }
}

/// One account of an [`AccountRange`]: `[accHash, accBody]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct AccountEntry {
    /// The hash of the account's address: its path in the state trie.
    pub hash: H256,
    /// The account.
    pub account: SlimAccount,
}

impl AccountEntry {
    /// The encoded size, which is what an account weighs against a response
    /// budget.
    pub fn encoded_len(&self) -> usize {
        let payload = ENCODED_HASH_LEN + self.account.encoded_len();
        header_len(payload) + payload
    }
}

impl Encodable for AccountEntry {
    fn rlp_append(&self, s: &mut RlpStream) {
        s.begin_list(2).append(&self.hash).append(&self.account);
    }
}

impl Decodable for AccountEntry {
    fn decode(rlp: &Rlp<'_>) -> Result<Self, DecoderError> {
        expect_fields(rlp, 2)?;
        Ok(AccountEntry {
            hash: rlp.val_at(0)?,
            account: rlp.val_at(1)?,
        })
    }
}

/// One storage slot of a [`StorageRanges`]: `[slotHash, slotData]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct StorageSlot {
    /// The hash of the slot's key: its path in the storage trie.
    pub hash: H256,
    /// The slot's value as the storage trie's leaf holds it (the RLP of the
    /// value without leading zeros), carried as an opaque string.
    pub data: Bytes,
}

impl StorageSlot {
    /// The encoded size, which is what a slot weighs against a response
    /// budget.
    pub fn encoded_len(&self) -> usize {
        let payload = ENCODED_HASH_LEN + encoded_bytes_len(&self.data);
        header_len(payload) + payload
    }
}

impl Encodable for StorageSlot {
    fn rlp_append(&self, s: &mut RlpStream) {
        s.begin_list(2).append(&self.hash).append(&self.data);
    }
}

impl Decodable for StorageSlot {
    fn decode(rlp: &Rlp<'_>) -> Result<Self, DecoderError> {
        expect_fields(rlp, 2)?;
        Ok(StorageSlot {
            hash: rlp.val_at(0)?,
            data: rlp.val_at(1)?,
        })
    }
}

/// The trie nodes a [`GetTrieNodes`] asks for under one account:
/// `[accPath, slotPath1, slotPath2, ...]`.
///
/// With no storage paths the set names the account trie node at
/// `account_path`; otherwise it names the nodes at `storage_paths` in the
/// storage trie of the account at `account_path`, and the account node
/// itself is not asked for. A path shorter than 32 bytes is a partial path in
/// compact (hex-prefix) encoding; a full 32-byte path is plain.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct TrieNodePathSet {
    /// The path in the account trie.
    pub account_path: Bytes,
    /// Paths in that account's storage trie.
    pub storage_paths: Vec<Bytes>,
}

impl TrieNodePathSet {
    /// A set asking for the account trie node at `path`.
    pub fn account(path: impl Into<Bytes>) -> Self {
        TrieNodePathSet {
            account_path: path.into(),
            storage_paths: Vec::new(),
        }
    }

    /// How many trie nodes the set asks for.
    pub fn node_count(&self) -> usize {
        self.storage_paths.len().max(1)
    }

    /// How many paths the set holds on the wire.
    pub fn path_count(&self) -> usize {
        1 + self.storage_paths.len()
    }
}

impl Encodable for TrieNodePathSet {
    fn rlp_append(&self, s: &mut RlpStream) {
        s.begin_list(self.path_count());
        s.append(&self.account_path);
        for path in &self.storage_paths {
            s.append(path);
        }
    }
}

// ---------------------------------------------------------------------------
// The messages.

/// `GetAccountRange` (0x00): `[reqID, rootHash, startingHash, limitHash,
/// responseBytes]`.
///
/// Asks for the accounts of the state `root_hash` from `starting_hash` on, in
/// hash order, until `limit_hash` or until `response_bytes` are filled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct GetAccountRange {
    /// Chosen by the requester; echoed in the response.
    pub request_id: u64,
    /// The state root whose account trie to serve.
    pub root_hash: H256,
    /// The hash of the first account to return, whether it exists or not.
    pub starting_hash: H256,
    /// The hash after which to stop. The first account at or past it is still
    /// returned, so that the range's proof covers everything up to it.
    pub limit_hash: H256,
    /// A soft limit on the response size; servers cap it at their own.
    pub response_bytes: u64,
}

/// `AccountRange` (0x01): `[reqID, [[accHash, accBody], ...], [proofNode,
/// ...]]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct AccountRange {
    /// The id of the request answered.
    pub request_id: u64,
    /// Consecutive accounts of the trie, in hash order.
    pub accounts: Vec<AccountEntry>,
    /// Trie nodes proving the range: the paths to the starting hash and to
    /// the last account. Empty when the range is the whole state.
    pub proof: Vec<Bytes>,
}

/// `GetStorageRanges` (0x02): `[reqID, rootHash, [accHash, ...],
/// startingHash, limitHash, responseBytes]`.
///
/// Asks for the storage slots of several accounts, in slot-hash order. The
/// starting and limit hashes bound the first account's range only (as in
/// go-ethereum): they are meant for fetching one large contract in pieces,
/// while many small contracts are fetched whole.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct GetStorageRanges {
    /// Chosen by the requester; echoed in the response.
    pub request_id: u64,
    /// The state root whose storage tries to serve.
    pub root_hash: H256,
    /// The hashes of the accounts whose storage to serve, at most
    /// [`MAX_STORAGE_ACCOUNTS`].
    pub account_hashes: Vec<H256>,
    /// The hash of the first slot to return; `None` (an empty string on the
    /// wire) for the start of the trie. Any other length than 0 or 32 bytes
    /// is refused: no client sends one, although go-ethereum pads or cuts it.
    pub starting_hash: Option<H256>,
    /// The hash after which to stop; `None` (an empty string on the wire) for
    /// no limit.
    pub limit_hash: Option<H256>,
    /// A soft limit on the response size; servers cap it at their own.
    pub response_bytes: u64,
}

impl GetStorageRanges {
    /// The starting hash, all zeros when none is given.
    pub fn origin(&self) -> H256 {
        self.starting_hash.unwrap_or_else(H256::zero)
    }

    /// The limit hash, all ones when none is given.
    pub fn limit(&self) -> H256 {
        self.limit_hash.unwrap_or(H256::repeat_byte(0xff))
    }
}

/// `StorageRanges` (0x03): `[reqID, [[[slotHash, slotData], ...], ...],
/// [proofNode, ...]]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct StorageRanges {
    /// The id of the request answered.
    pub request_id: u64,
    /// One list of consecutive slots per account served, in the order asked.
    pub slots: Vec<Vec<StorageSlot>>,
    /// Trie nodes proving the last list when it is not its account's whole
    /// storage; empty otherwise.
    pub proof: Vec<Bytes>,
}

/// `GetByteCodes` (0x04): `[reqID, [codeHash, ...], responseBytes]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct GetByteCodes {
    /// Chosen by the requester; echoed in the response.
    pub request_id: u64,
    /// The hashes of the codes wanted, at most [`MAX_BYTECODE_HASHES`].
    pub hashes: Vec<H256>,
    /// A soft limit on the response size; servers cap it at their own.
    pub response_bytes: u64,
}

/// `ByteCodes` (0x05): `[reqID, [code, ...]]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ByteCodes {
    /// The id of the request answered.
    pub request_id: u64,
    /// The codes found, in the order asked, unknown ones left out: a
    /// requester tells gaps (missing codes) from a cut-off tail (the size
    /// limit) by hashing each code.
    pub codes: Vec<Bytes>,
}

/// `GetTrieNodes` (0x06): `[reqID, rootHash, [[accPath, slotPath, ...],
/// ...], responseBytes]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct GetTrieNodes {
    /// Chosen by the requester; echoed in the response.
    pub request_id: u64,
    /// The state root whose tries to serve.
    pub root_hash: H256,
    /// The nodes wanted, grouped by account; at most [`MAX_TRIE_NODE_PATHS`]
    /// paths in all.
    pub paths: Vec<TrieNodePathSet>,
    /// A soft limit on the response size; servers cap it at their own.
    pub response_bytes: u64,
}

/// `TrieNodes` (0x07): `[reqID, [node, ...]]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct TrieNodes {
    /// The id of the request answered.
    pub request_id: u64,
    /// The nodes found, in the order asked.
    pub nodes: Vec<Bytes>,
}

impl Encodable for GetAccountRange {
    fn rlp_append(&self, s: &mut RlpStream) {
        s.begin_list(5)
            .append(&self.request_id)
            .append(&self.root_hash)
            .append(&self.starting_hash)
            .append(&self.limit_hash)
            .append(&self.response_bytes);
    }
}

impl Encodable for AccountRange {
    fn rlp_append(&self, s: &mut RlpStream) {
        s.begin_list(3).append(&self.request_id);
        append_list(s, &self.accounts);
        append_list(s, &self.proof);
    }
}

impl Encodable for GetStorageRanges {
    fn rlp_append(&self, s: &mut RlpStream) {
        s.begin_list(6)
            .append(&self.request_id)
            .append(&self.root_hash);
        append_list(s, &self.account_hashes);
        append_optional_hash(s, &self.starting_hash);
        append_optional_hash(s, &self.limit_hash);
        s.append(&self.response_bytes);
    }
}

impl Encodable for StorageRanges {
    fn rlp_append(&self, s: &mut RlpStream) {
        s.begin_list(3).append(&self.request_id);
        s.begin_list(self.slots.len());
        for slots in &self.slots {
            append_list(s, slots);
        }
        append_list(s, &self.proof);
    }
}

impl Encodable for GetByteCodes {
    fn rlp_append(&self, s: &mut RlpStream) {
        s.begin_list(3).append(&self.request_id);
        append_list(s, &self.hashes);
        s.append(&self.response_bytes);
    }
}

impl Encodable for ByteCodes {
    fn rlp_append(&self, s: &mut RlpStream) {
        s.begin_list(2).append(&self.request_id);
        append_list(s, &self.codes);
    }
}

impl Encodable for GetTrieNodes {
    fn rlp_append(&self, s: &mut RlpStream) {
        s.begin_list(4)
            .append(&self.request_id)
            .append(&self.root_hash);
        append_list(s, &self.paths);
        s.append(&self.response_bytes);
    }
}

impl Encodable for TrieNodes {
    fn rlp_append(&self, s: &mut RlpStream) {
        s.begin_list(2).append(&self.request_id);
        append_list(s, &self.nodes);
    }
}

// Decoding works on the message's field list and reports `MessageError`,
// not `DecoderError`, since a list over its limit is a different failure
// from bad RLP; hence functions rather than `Decodable` impls.

fn field<T: Decodable>(rlp: &Rlp<'_>, index: usize, code: u64) -> Result<T, MessageError> {
    rlp.val_at(index).map_err(MessageError::malformed(code))
}

fn open(rlp: &Rlp<'_>, count: usize, code: u64) -> Result<(), MessageError> {
    expect_fields(rlp, count).map_err(MessageError::malformed(code))
}

fn decode_get_account_range(rlp: &Rlp<'_>) -> Result<GetAccountRange, MessageError> {
    let code = GET_ACCOUNT_RANGE;
    open(rlp, 5, code)?;
    Ok(GetAccountRange {
        request_id: field(rlp, 0, code)?,
        root_hash: field(rlp, 1, code)?,
        starting_hash: field(rlp, 2, code)?,
        limit_hash: field(rlp, 3, code)?,
        response_bytes: field(rlp, 4, code)?,
    })
}

fn decode_account_range(rlp: &Rlp<'_>) -> Result<AccountRange, MessageError> {
    let code = ACCOUNT_RANGE;
    open(rlp, 3, code)?;
    Ok(AccountRange {
        request_id: field(rlp, 0, code)?,
        accounts: list_at(rlp, 1, code, MAX_RANGE_ITEMS)?,
        proof: list_at(rlp, 2, code, MAX_PROOF_NODES)?,
    })
}

fn decode_get_storage_ranges(rlp: &Rlp<'_>) -> Result<GetStorageRanges, MessageError> {
    let code = GET_STORAGE_RANGES;
    let malformed = MessageError::malformed(code);
    open(rlp, 6, code)?;
    Ok(GetStorageRanges {
        request_id: field(rlp, 0, code)?,
        root_hash: field(rlp, 1, code)?,
        account_hashes: list_at(rlp, 2, code, MAX_REQUEST_ITEMS)?,
        starting_hash: rlp
            .at(3)
            .and_then(|item| optional_hash(&item, false))
            .map_err(malformed)?,
        limit_hash: rlp
            .at(4)
            .and_then(|item| optional_hash(&item, false))
            .map_err(MessageError::malformed(code))?,
        response_bytes: field(rlp, 5, code)?,
    })
}

fn decode_storage_ranges(rlp: &Rlp<'_>) -> Result<StorageRanges, MessageError> {
    let code = STORAGE_RANGES;
    open(rlp, 3, code)?;
    let request_id = field(rlp, 0, code)?;
    let lists = nested_at(rlp, 1, code, MAX_STORAGE_ACCOUNTS, MAX_RANGE_ITEMS)?;
    let slots = lists
        .iter()
        .map(|list| decode_list(list, code, MAX_RANGE_ITEMS))
        .collect::<Result<_, _>>()?;
    Ok(StorageRanges {
        request_id,
        slots,
        proof: list_at(rlp, 2, code, MAX_PROOF_NODES)?,
    })
}

fn decode_get_byte_codes(rlp: &Rlp<'_>) -> Result<GetByteCodes, MessageError> {
    let code = GET_BYTE_CODES;
    open(rlp, 3, code)?;
    Ok(GetByteCodes {
        request_id: field(rlp, 0, code)?,
        hashes: list_at(rlp, 1, code, MAX_REQUEST_ITEMS)?,
        response_bytes: field(rlp, 2, code)?,
    })
}

fn decode_byte_codes(rlp: &Rlp<'_>) -> Result<ByteCodes, MessageError> {
    let code = BYTE_CODES;
    open(rlp, 2, code)?;
    Ok(ByteCodes {
        request_id: field(rlp, 0, code)?,
        codes: list_at(rlp, 1, code, MAX_BYTECODE_HASHES)?,
    })
}

fn decode_get_trie_nodes(rlp: &Rlp<'_>) -> Result<GetTrieNodes, MessageError> {
    let code = GET_TRIE_NODES;
    open(rlp, 4, code)?;
    let request_id = field(rlp, 0, code)?;
    let root_hash = field(rlp, 1, code)?;
    let sets = nested_at(rlp, 2, code, MAX_REQUEST_ITEMS, MAX_REQUEST_ITEMS)?;
    let mut paths = Vec::with_capacity(sets.len());
    for set in &sets {
        let mut set: Vec<Bytes> = decode_list(set, code, MAX_REQUEST_ITEMS)?;
        if set.is_empty() {
            // go-ethereum refuses an empty set as a bad request too: it
            // names no trie at all.
            return Err(MessageError::Malformed {
                code,
                error: DecoderError::Custom("empty trie node path set"),
            });
        }
        let storage_paths = set.split_off(1);
        let account_path = set.pop().unwrap_or_default();
        paths.push(TrieNodePathSet {
            account_path,
            storage_paths,
        });
    }
    Ok(GetTrieNodes {
        request_id,
        root_hash,
        paths,
        response_bytes: field(rlp, 3, code)?,
    })
}

fn decode_trie_nodes(rlp: &Rlp<'_>) -> Result<TrieNodes, MessageError> {
    let code = TRIE_NODES;
    open(rlp, 2, code)?;
    Ok(TrieNodes {
        request_id: field(rlp, 0, code)?,
        nodes: list_at(rlp, 1, code, MAX_TRIE_NODE_PATHS)?,
    })
}

/// A `snap/1` message.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SnapMessage {
    /// Code 0x00.
    GetAccountRange(GetAccountRange),
    /// Code 0x01.
    AccountRange(AccountRange),
    /// Code 0x02.
    GetStorageRanges(GetStorageRanges),
    /// Code 0x03.
    StorageRanges(StorageRanges),
    /// Code 0x04.
    GetByteCodes(GetByteCodes),
    /// Code 0x05.
    ByteCodes(ByteCodes),
    /// Code 0x06.
    GetTrieNodes(GetTrieNodes),
    /// Code 0x07.
    TrieNodes(TrieNodes),
}

impl SnapMessage {
    /// The message's code, relative to the capability.
    pub fn code(&self) -> u64 {
        match self {
            SnapMessage::GetAccountRange(_) => GET_ACCOUNT_RANGE,
            SnapMessage::AccountRange(_) => ACCOUNT_RANGE,
            SnapMessage::GetStorageRanges(_) => GET_STORAGE_RANGES,
            SnapMessage::StorageRanges(_) => STORAGE_RANGES,
            SnapMessage::GetByteCodes(_) => GET_BYTE_CODES,
            SnapMessage::ByteCodes(_) => BYTE_CODES,
            SnapMessage::GetTrieNodes(_) => GET_TRIE_NODES,
            SnapMessage::TrieNodes(_) => TRIE_NODES,
        }
    }

    /// The request id: chosen by the requester in a request, echoed in a
    /// response.
    pub fn request_id(&self) -> u64 {
        match self {
            SnapMessage::GetAccountRange(m) => m.request_id,
            SnapMessage::AccountRange(m) => m.request_id,
            SnapMessage::GetStorageRanges(m) => m.request_id,
            SnapMessage::StorageRanges(m) => m.request_id,
            SnapMessage::GetByteCodes(m) => m.request_id,
            SnapMessage::ByteCodes(m) => m.request_id,
            SnapMessage::GetTrieNodes(m) => m.request_id,
            SnapMessage::TrieNodes(m) => m.request_id,
        }
    }

    /// Whether the message is a request (even codes) rather than a response.
    pub fn is_request(&self) -> bool {
        self.code() % 2 == 0
    }

    /// The payload: the message's RLP.
    pub fn encode(&self) -> Bytes {
        let encoded = match self {
            SnapMessage::GetAccountRange(m) => rlp::encode(m),
            SnapMessage::AccountRange(m) => rlp::encode(m),
            SnapMessage::GetStorageRanges(m) => rlp::encode(m),
            SnapMessage::StorageRanges(m) => rlp::encode(m),
            SnapMessage::GetByteCodes(m) => rlp::encode(m),
            SnapMessage::ByteCodes(m) => rlp::encode(m),
            SnapMessage::GetTrieNodes(m) => rlp::encode(m),
            SnapMessage::TrieNodes(m) => rlp::encode(m),
        };
        encoded.freeze()
    }

    /// The message to send: code and payload.
    pub fn to_msg(&self) -> Msg {
        Msg::new(self.code(), self.encode())
    }

    /// Reads a message from its code (relative to the capability) and
    /// payload.
    ///
    /// The payload must be exactly one RLP item holding exactly the message's
    /// fields, and every list in it must be within its limit; an unknown code
    /// is refused before the payload is looked at.
    pub fn decode(code: u64, payload: &[u8]) -> Result<SnapMessage, MessageError> {
        if code >= MESSAGE_COUNT {
            return Err(MessageError::UnknownCode {
                code,
                capability: format!("{NAME}/{VERSION}"),
            });
        }
        let rlp = Rlp::new(payload);
        check_whole(&rlp, payload.len()).map_err(MessageError::malformed(code))?;
        Ok(match code {
            GET_ACCOUNT_RANGE => SnapMessage::GetAccountRange(decode_get_account_range(&rlp)?),
            ACCOUNT_RANGE => SnapMessage::AccountRange(decode_account_range(&rlp)?),
            GET_STORAGE_RANGES => SnapMessage::GetStorageRanges(decode_get_storage_ranges(&rlp)?),
            STORAGE_RANGES => SnapMessage::StorageRanges(decode_storage_ranges(&rlp)?),
            GET_BYTE_CODES => SnapMessage::GetByteCodes(decode_get_byte_codes(&rlp)?),
            BYTE_CODES => SnapMessage::ByteCodes(decode_byte_codes(&rlp)?),
            GET_TRIE_NODES => SnapMessage::GetTrieNodes(decode_get_trie_nodes(&rlp)?),
            _ => SnapMessage::TrieNodes(decode_trie_nodes(&rlp)?),
        })
    }

    /// Reads a received message.
    pub fn from_msg(msg: &Msg) -> Result<SnapMessage, MessageError> {
        SnapMessage::decode(msg.code, &msg.payload)
    }
}

/// snap/1's messages through p2p-core's one definition of a capability's
/// messages: what the protocol's code count and the serving loop's decoding
/// come from.
impl CapabilityMessage for SnapMessage {
    fn count(_version: u32) -> u64 {
        MESSAGE_COUNT
    }

    fn code(&self) -> u64 {
        SnapMessage::code(self)
    }

    fn encode_payload(&self) -> Bytes {
        self.encode()
    }

    fn decode(version: u32, msg: &Msg) -> Result<Self, MessageError> {
        if version != VERSION {
            return Err(MessageError::UnknownCode {
                code: msg.code,
                capability: format!("{NAME}/{version}"),
            });
        }
        SnapMessage::decode(msg.code, &msg.payload)
    }
}

macro_rules! from_message {
    ($($variant:ident),*) => {
        $(impl From<$variant> for SnapMessage {
            fn from(message: $variant) -> Self {
                SnapMessage::$variant(message)
            }
        })*
    };
}

from_message!(
    GetAccountRange,
    AccountRange,
    GetStorageRanges,
    StorageRanges,
    GetByteCodes,
    ByteCodes,
    GetTrieNodes,
    TrieNodes
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_hashes_are_what_their_names_say() {
        assert_eq!(keccak256(&[]), EMPTY_CODE_HASH);
        assert_eq!(keccak256(&[0x80]), EMPTY_ROOT_HASH);
    }

    #[test]
    fn encoded_sizes_match_the_encoder() {
        for len in [0, 1, 2, 55, 56, 57, 255, 256, 70_000] {
            for first in [0x00, 0x7f, 0x80, 0xff] {
                let mut data = vec![0xab; len];
                if let Some(byte) = data.first_mut() {
                    *byte = first;
                }
                assert_eq!(encoded_bytes_len(&data), rlp::encode(&data).len(), "{len}");
                let slot = StorageSlot {
                    hash: H256::repeat_byte(1),
                    data: data.into(),
                };
                assert_eq!(slot.encoded_len(), rlp::encode(&slot).len());
            }
        }
        for nonce in [0, 1, 0x7f, 0x80, 0xff, 0x100, u64::MAX] {
            for balance in [U256::zero(), U256::from(0x7f), U256::from(0x80), U256::MAX] {
                for hashes in [None, Some(H256::repeat_byte(9))] {
                    let entry = AccountEntry {
                        hash: H256::zero(),
                        account: SlimAccount {
                            nonce,
                            balance,
                            storage_root: hashes,
                            code_hash: hashes,
                        },
                    };
                    assert_eq!(
                        entry.account.encoded_len(),
                        rlp::encode(&entry.account).len()
                    );
                    assert_eq!(entry.encoded_len(), rlp::encode(&entry).len());
                }
            }
        }
    }

    #[test]
    fn a_list_with_a_broken_tail_is_not_a_shorter_list() {
        // [0x01, <0x81 without its byte>]: `item_count` alone says 1.
        let broken = [0xc2, 0x01, 0x81];
        let rlp = Rlp::new(&broken);
        assert_eq!(rlp.item_count(), Ok(1));
        assert_eq!(strict_count(&rlp), Err(DecoderError::RlpIsTooShort));
    }

    #[test]
    fn slim_accounts_leave_empty_hashes_out() {
        let plain = SlimAccount::from_full(1, U256::from(2), EMPTY_ROOT_HASH, EMPTY_CODE_HASH);
        assert_eq!(plain.storage_root, None);
        assert_eq!(plain.code_hash, None);
        assert_eq!(rlp::encode(&plain)[..], [0xc4, 0x01, 0x02, 0x80, 0x80]);
        assert_eq!(plain.full_storage_root(), EMPTY_ROOT_HASH);
        assert_eq!(plain.full_code_hash(), EMPTY_CODE_HASH);
        // The full encoding carries both hashes: 4 + 2 * 33 bytes of payload.
        assert_eq!(plain.full_rlp().len(), 2 + 2 + 2 * 33);
        // The spec's "empty list" is read as the short form too.
        assert_eq!(
            rlp::decode::<SlimAccount>(&[0xc4, 0x01, 0x02, 0xc0, 0xc0]),
            Ok(plain)
        );
    }
}
