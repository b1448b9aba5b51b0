//! The `snap/1` capability (`caps/snap.md`): state snapshot exchange.
//!
//! `snap` lets a joining node download the state of a recent block as
//! contiguous, Merkle-proven ranges of accounts and storage slots, plus
//! contract codes and (to heal what moved while it downloaded) individual
//! trie nodes. It runs beside `eth` and leans on it for chain negotiation;
//! it carries no handshake of its own.
//!
//! | code | message            | payload                                                        |
//! |------|--------------------|----------------------------------------------------------------|
//! | 0x00 | GetAccountRange    | `[reqID, rootHash, startingHash, limitHash, responseBytes]`    |
//! | 0x01 | AccountRange       | `[reqID, [[accHash, accBody], ...], [proofNode, ...]]`         |
//! | 0x02 | GetStorageRanges   | `[reqID, rootHash, [accHash, ...], startingHash, limitHash, responseBytes]` |
//! | 0x03 | StorageRanges      | `[reqID, [[[slotHash, slotData], ...], ...], [proofNode, ...]]` |
//! | 0x04 | GetByteCodes       | `[reqID, [codeHash, ...], responseBytes]`                      |
//! | 0x05 | ByteCodes          | `[reqID, [code, ...]]`                                         |
//! | 0x06 | GetTrieNodes       | `[reqID, rootHash, [[accPath, slotPath, ...], ...], responseBytes]` |
//! | 0x07 | TrieNodes          | `[reqID, [node, ...]]`                                         |
//!
//! [`messages`] has the typed messages and their strict codec;
//! [`serve`](mod@serve) answers requests from a [`SnapHandler`] within the
//! response size limits, and has [`MemorySnapState`] for tests.
//!
//! # Where the wire differs from the spec's text
//!
//! The layouts above are the ones clients speak, which the spec's current
//! text matches except in two places where it reads otherwise and every
//! client follows go-ethereum:
//!
//! - An account body is the slim account's RLP list nested in the
//!   `[accHash, accBody]` pair, not a byte string holding it, and a left-out
//!   storage root or code hash is an empty string rather than the empty list
//!   the prose names (both are accepted; see [`SlimAccount`]).
//! - `GetStorageRanges`' starting and limit hashes may be empty strings,
//!   meaning the start and the end of the trie, and bound only the first
//!   account's range.
//!
//! Earlier drafts of the spec had no `limitHash` and asked for trie nodes by
//! hash rather than by path; `snap/1` as deployed has both changes.
//!
//! # Misbehaving peers
//!
//! A message that does not decode, or a code `snap/1` does not define, is a
//! [`MessageError`](crate::codec::MessageError), which earns the peer
//! `SubprotocolError` ([`MessageError::disconnect_reason`]). That includes a
//! request list over its limit ([`MAX_STORAGE_ACCOUNTS`],
//! [`MAX_BYTECODE_HASHES`], [`MAX_TRIE_NODE_PATHS`]) and a response list over
//! its far more generous one ([`MAX_RANGE_ITEMS`], [`MAX_PROOF_NODES`]).
//!
//! [`MessageError::disconnect_reason`]: crate::codec::MessageError::disconnect_reason

pub mod messages;
pub mod protocol;
pub mod serve;

pub use messages::{
    capability, keccak256, AccountEntry, AccountRange, ByteCodes, GetAccountRange, GetByteCodes,
    GetStorageRanges, GetTrieNodes, SlimAccount, SnapMessage, StorageRanges, StorageSlot,
    TrieNodePathSet, TrieNodes, ACCOUNT_RANGE, BYTE_CODES, EMPTY_CODE_HASH, EMPTY_ROOT_HASH,
    GET_ACCOUNT_RANGE, GET_BYTE_CODES, GET_STORAGE_RANGES, GET_TRIE_NODES, MAX_BYTECODE_HASHES,
    MAX_PROOF_NODES, MAX_RANGE_ITEMS, MAX_REQUEST_ITEMS, MAX_STORAGE_ACCOUNTS, MAX_TRIE_NODE_PATHS,
    MESSAGE_COUNT, NAME, STORAGE_RANGES, TRIE_NODES, VERSION,
};
pub use protocol::{Snap, SnapCheck, SnapConfig, SnapEvent, SnapPeer};
pub use serve::{
    response_budget, serve, serve_account_range, serve_bytecodes, serve_storage_ranges,
    serve_trie_nodes, MemorySnapState, SnapHandler, MAX_CODE_LOOKUPS, MAX_RESPONSE_BYTES,
    MAX_TRIE_NODE_LOOKUPS, STORAGE_SLACK_PERCENT,
};
