//! What the embedding application provides to the eth capability: its chain
//! to serve from, and a place for what peers announce.
//!
//! The application answers per item ("the header with this number", "the
//! body of this block"); walking a header query, capping the count, keeping a
//! response under the size limit and encoding it are done here, once, for
//! every application. Responses are encoded as they are built, so each item
//! is encoded once and the size check is exact.

use bytes::Bytes;
use p2p_core::{Msg, PeerId};
use primitive_types::H256;
use rlp::{Encodable, RlpStream};

use super::handshake::ChainHead;
use super::messages::{
    code, limits, AccessListEntry, BlockHashNumber, BlockRange, GetBlockHeaders, GetReceipts70,
    HashesRequest, NewBlock, NewPooledTransactionHashes,
};
use super::types::{BlockBody, BlockHeader, Eth68Receipt, HashOrNumber, Receipt, Transaction};
use super::EthVersion;

/// Something a peer told us without being asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Announcement {
    /// NewBlockHashes (eth/68).
    BlockHashes(Vec<BlockHashNumber>),
    /// NewBlock (eth/68).
    NewBlock(Box<NewBlock>),
    /// Transactions.
    Transactions(Vec<Transaction>),
    /// NewPooledTransactionHashes.
    PooledTransactionHashes(NewPooledTransactionHashes),
    /// BlockRangeUpdate (eth/69).
    BlockRange(BlockRange),
}

/// The application side of the eth capability.
///
/// Methods are called from the peer's task, so they should return quickly (a
/// lookup in memory or a local database); an application with slow storage
/// should keep what it serves cached. Every method has `&self`: the same
/// handler serves all peers at once.
pub trait EthHandler: Send + Sync + 'static {
    /// The current head, for our Status, fork-id checks and BlockRangeUpdate.
    fn head(&self) -> ChainHead;

    /// The canonical header with `number`.
    fn header_by_number(&self, number: u64) -> Option<BlockHeader>;

    /// The header with `hash`.
    fn header_by_hash(&self, hash: &H256) -> Option<BlockHeader>;

    /// The body of block `hash`.
    fn block_body(&self, hash: &H256) -> Option<BlockBody>;

    /// The receipts of block `hash`.
    fn receipts(&self, hash: &H256) -> Option<Vec<Receipt>>;

    /// The access list of block `hash` (EIP-7928), as its RLP; served over
    /// eth/71. The default has none.
    fn block_access_list(&self, _hash: &H256) -> Option<Bytes> {
        None
    }

    /// A transaction of the pool, in its network form.
    fn pooled_transaction(&self, _hash: &H256) -> Option<Transaction> {
        None
    }

    /// A peer announced blocks or transactions. Called in the order the
    /// peer sent them.
    fn on_announcement(&self, _peer: PeerId, _announcement: Announcement) {}
}

/// Builds `[request-id, [item, ...]]`, stopping at `max_items` items or as
/// soon as the encoding reaches `budget` bytes (the item that crosses it is
/// kept, as the spec's soft limit means: at least one item is answered
/// whenever one is found).
fn respond<T: Encodable>(
    response_code: u64,
    request_id: u64,
    items: impl Iterator<Item = T>,
    max_items: usize,
    budget: usize,
) -> Msg {
    let mut s = RlpStream::new_list(2);
    s.append(&request_id);
    s.begin_unbounded_list();
    for item in items.take(max_items) {
        s.append(&item);
        if s.len() >= budget {
            break;
        }
    }
    s.finalize_unbounded_list();
    Msg::new(response_code, s.out().freeze())
}

/// The numbers of the headers `query` asks for, capped at `max`, for a chain
/// whose first header is `first`.
fn header_numbers(query: &GetBlockHeaders, first: u64, max: usize) -> impl Iterator<Item = u64> {
    let step = query.skip.saturating_add(1);
    let reverse = query.reverse;
    let count = usize::try_from(query.limit).unwrap_or(usize::MAX).min(max);
    std::iter::successors(Some(first), move |n| {
        if reverse {
            n.checked_sub(step)
        } else {
            n.checked_add(step)
        }
    })
    .take(count)
}

/// Answers GetBlockHeaders.
///
/// A query by hash starts at that header; the rest are read by number along
/// the canonical chain, as go-ethereum does. At most
/// [`limits::MAX_HEADERS_SERVE`] headers and about
/// [`limits::SOFT_RESPONSE_SIZE`] bytes are sent; the answer stops at the
/// first header missing.
pub fn serve_headers(handler: &dyn EthHandler, query: &GetBlockHeaders) -> Msg {
    let max = limits::MAX_HEADERS_SERVE;
    let first = match query.start {
        HashOrNumber::Hash(hash) => handler.header_by_hash(&hash),
        HashOrNumber::Number(number) => handler.header_by_number(number),
    };
    let headers = first.into_iter().flat_map(|first| {
        let start = first.number;
        std::iter::once(first).chain(
            header_numbers(query, start, max)
                .skip(1)
                .map_while(|n| handler.header_by_number(n)),
        )
    });
    respond(
        code::BLOCK_HEADERS,
        query.request_id,
        headers,
        max,
        limits::SOFT_RESPONSE_SIZE,
    )
}

/// Answers GetBlockBodies: the bodies found, in the order asked, unknown
/// blocks skipped; at most [`limits::MAX_BODIES_SERVE`] and about
/// [`limits::SOFT_RESPONSE_SIZE`] bytes.
pub fn serve_bodies(handler: &dyn EthHandler, request: &HashesRequest) -> Msg {
    respond(
        code::BLOCK_BODIES,
        request.request_id,
        request.hashes.iter().filter_map(|h| handler.block_body(h)),
        limits::MAX_BODIES_SERVE,
        limits::SOFT_RESPONSE_SIZE,
    )
}

/// Answers GetReceipts in the form of `version` (with blooms for eth/68,
/// without for eth/69; eth/70 and later ask with [`serve_receipts70`]).
pub fn serve_receipts(
    handler: &dyn EthHandler,
    version: EthVersion,
    request: &HashesRequest,
) -> Msg {
    let found = request.hashes.iter().filter_map(|h| handler.receipts(h));
    match version {
        EthVersion::Eth68 => respond(
            code::RECEIPTS,
            request.request_id,
            found.map(Eth68Block),
            limits::MAX_RECEIPTS_SERVE,
            limits::SOFT_RESPONSE_SIZE,
        ),
        _ => respond(
            code::RECEIPTS,
            request.request_id,
            found.map(Eth69Block),
            limits::MAX_RECEIPTS_SERVE,
            limits::SOFT_RESPONSE_SIZE,
        ),
    }
}

/// Answers an eth/70 GetReceipts: blocks in the order asked, stopping at
/// the first one without receipts, at [`limits::MAX_RECEIPTS_SERVE`] blocks,
/// or once [`limits::SOFT_RESPONSE_SIZE`] bytes are reached; the first
/// block's receipts from the index asked for. A block whose receipts would
/// take the response past [`limits::MAX_RECEIPTS_BYTES`] is cut there and
/// the response marked incomplete, for the peer to ask for the rest; if not
/// even its first receipt fits, the response ends before it.
pub fn serve_receipts70(handler: &dyn EthHandler, request: &GetReceipts70) -> Msg {
    // Each receipt is encoded once: its size decides whether it fits, and
    // the same bytes go into the response.
    let mut blocks: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut bytes = 0usize;
    let mut incomplete = false;
    for (position, hash) in request.hashes.iter().enumerate() {
        if bytes >= limits::SOFT_RESPONSE_SIZE || blocks.len() >= limits::MAX_RECEIPTS_SERVE {
            break;
        }
        let Some(receipts) = handler.receipts(hash) else {
            break;
        };
        let first = if position == 0 {
            usize::try_from(request.first_block_receipt_index).unwrap_or(usize::MAX)
        } else {
            0
        };
        let mut block = Vec::new();
        for receipt in receipts.iter().skip(first) {
            let encoded = rlp::encode(receipt);
            if bytes + encoded.len() > limits::MAX_RECEIPTS_BYTES {
                incomplete = true;
                break;
            }
            bytes += encoded.len();
            block.push(encoded.to_vec());
        }
        if block.is_empty() && incomplete {
            // Not even one receipt of this block fits: end before it.
            incomplete = false;
            break;
        }
        blocks.push(block);
        if incomplete {
            break;
        }
    }
    let mut s = RlpStream::new_list(3);
    s.append(&request.request_id);
    s.append(&incomplete);
    s.begin_list(blocks.len());
    for block in &blocks {
        s.begin_list(block.len());
        for receipt in block {
            s.append_raw(receipt, 1);
        }
    }
    Msg::new(code::RECEIPTS, s.out().freeze())
}

/// Answers GetBlockAccessLists (eth/71): one entry per block asked for, in
/// order, the access list or an empty string where there is none; at most
/// [`limits::MAX_ACCESS_LISTS_SERVE`] entries and about
/// [`limits::SOFT_RESPONSE_SIZE`] bytes.
pub fn serve_block_access_lists(handler: &dyn EthHandler, request: &HashesRequest) -> Msg {
    respond(
        code::BLOCK_ACCESS_LISTS,
        request.request_id,
        request
            .hashes
            .iter()
            .map(|h| AccessListEntry(handler.block_access_list(h))),
        limits::MAX_ACCESS_LISTS_SERVE,
        limits::SOFT_RESPONSE_SIZE,
    )
}

/// A block's receipts written in the eth/68 form.
struct Eth68Block(Vec<Receipt>);

impl Encodable for Eth68Block {
    fn rlp_append(&self, s: &mut RlpStream) {
        s.begin_list(self.0.len());
        for receipt in &self.0 {
            s.append(&Eth68Receipt(receipt));
        }
    }
}

/// A block's receipts written in the eth/69 form.
struct Eth69Block(Vec<Receipt>);

impl Encodable for Eth69Block {
    fn rlp_append(&self, s: &mut RlpStream) {
        crate::codec::append_list(s, &self.0);
    }
}

/// Answers GetPooledTransactions: the transactions found, in the order
/// asked; at most [`limits::MAX_POOLED_TRANSACTIONS_SERVE`] looked up and
/// about [`limits::SOFT_RESPONSE_SIZE`] bytes.
pub fn serve_pooled_transactions(handler: &dyn EthHandler, request: &HashesRequest) -> Msg {
    respond(
        code::POOLED_TRANSACTIONS,
        request.request_id,
        request
            .hashes
            .iter()
            .take(limits::MAX_POOLED_TRANSACTIONS_SERVE)
            .filter_map(|h| handler.pooled_transaction(h)),
        limits::MAX_POOLED_TRANSACTIONS_SERVE,
        limits::SOFT_RESPONSE_SIZE,
    )
}
