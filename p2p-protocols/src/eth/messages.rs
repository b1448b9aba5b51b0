//! Every message of eth/68 to eth/71 as a typed codec (`caps/eth.md`;
//! EIP-7642 for eth/69, EIP-7975 for eth/70, EIP-8159 for eth/71).
//!
//! | code | message                    | eth/68 | eth/69 | eth/70, eth/71 |
//! |------|----------------------------|--------|--------|--------|
//! | 0x00 | Status                     | with TD and best hash | with block range | as eth/69 |
//! | 0x01 | NewBlockHashes             | yes    | removed | - |
//! | 0x02 | Transactions               | yes    | yes    | yes |
//! | 0x03 | GetBlockHeaders            | yes    | yes    | yes |
//! | 0x04 | BlockHeaders               | yes    | yes    | yes |
//! | 0x05 | GetBlockBodies             | yes    | yes    | yes |
//! | 0x06 | BlockBodies                | yes    | yes    | yes |
//! | 0x07 | NewBlock                   | yes    | removed | - |
//! | 0x08 | NewPooledTransactionHashes | yes    | yes    | yes |
//! | 0x09 | GetPooledTransactions      | yes    | yes    | yes |
//! | 0x0a | PooledTransactions         | yes    | yes    | yes |
//! | 0x0f | GetReceipts                | yes    | yes    | with the first block's first receipt index |
//! | 0x10 | Receipts                   | with bloom | without bloom | without bloom, with a last-block-incomplete flag |
//! | 0x11 | BlockRangeUpdate           | -      | yes    | yes |
//! | 0x12 | GetBlockAccessLists        | -      | -      | eth/71 |
//! | 0x13 | BlockAccessLists           | -      | -      | eth/71 |
//!
//! Decoding takes the message buffer as [`Bytes`] so that transactions are
//! slices of it rather than copies, and checks every list a peer sends
//! against the limits below before decoding its elements.

use bytes::Bytes;
use p2p_core::{CapabilityMessage, Msg};
use primitive_types::{H256, U256};
use rlp::{DecoderError, Encodable, Rlp, RlpStream};

use super::types::{
    expect_fields, Block, BlockBody, BlockHeader, HashOrNumber, Receipt, ReceiptWithBloom,
    Transaction,
};
use super::EthVersion;
use crate::codec::{self, MessageError};
use crate::forkid::ForkId;

/// Message codes, relative to the capability.
pub mod code {
    /// Status.
    pub const STATUS: u64 = 0x00;
    /// NewBlockHashes (eth/68 only).
    pub const NEW_BLOCK_HASHES: u64 = 0x01;
    /// Transactions.
    pub const TRANSACTIONS: u64 = 0x02;
    /// GetBlockHeaders.
    pub const GET_BLOCK_HEADERS: u64 = 0x03;
    /// BlockHeaders.
    pub const BLOCK_HEADERS: u64 = 0x04;
    /// GetBlockBodies.
    pub const GET_BLOCK_BODIES: u64 = 0x05;
    /// BlockBodies.
    pub const BLOCK_BODIES: u64 = 0x06;
    /// NewBlock (eth/68 only).
    pub const NEW_BLOCK: u64 = 0x07;
    /// NewPooledTransactionHashes.
    pub const NEW_POOLED_TRANSACTION_HASHES: u64 = 0x08;
    /// GetPooledTransactions.
    pub const GET_POOLED_TRANSACTIONS: u64 = 0x09;
    /// PooledTransactions.
    pub const POOLED_TRANSACTIONS: u64 = 0x0a;
    /// GetReceipts.
    pub const GET_RECEIPTS: u64 = 0x0f;
    /// Receipts.
    pub const RECEIPTS: u64 = 0x10;
    /// BlockRangeUpdate (eth/69).
    pub const BLOCK_RANGE_UPDATE: u64 = 0x11;
    /// GetBlockAccessLists (eth/71).
    pub const GET_BLOCK_ACCESS_LISTS: u64 = 0x12;
    /// BlockAccessLists (eth/71).
    pub const BLOCK_ACCESS_LISTS: u64 = 0x13;
}

/// The limits the spec and the clients that define practice set. Requests
/// over a serving limit are answered with a prefix, as the spec asks ("the
/// recommended soft limit"); lists over a decoding limit end the peer.
pub mod limits {
    /// Largest eth message accepted: the spec's "typically 10 MiB"
    /// practical limit, which go-ethereum enforces too.
    pub const MAX_MESSAGE_SIZE: usize = 10 * 1024 * 1024;
    /// Soft limit on the size of a response we build: 2 MiB, the spec's
    /// recommendation for headers, bodies, receipts and pooled transactions.
    pub const SOFT_RESPONSE_SIZE: usize = 2 * 1024 * 1024;
    /// Most headers served for one request (go-ethereum's `maxHeadersServe`).
    pub const MAX_HEADERS_SERVE: usize = 1024;
    /// Most bodies served for one request.
    pub const MAX_BODIES_SERVE: usize = 1024;
    /// Most blocks' receipts served for one request.
    pub const MAX_RECEIPTS_SERVE: usize = 1024;
    /// Most block access lists served for one request (go-ethereum's
    /// `maxBALsServe`).
    pub const MAX_ACCESS_LISTS_SERVE: usize = 1024;
    /// Most bytes of receipts an eth/70 response carries, its framing
    /// aside: a block's receipts are cut here (and the response marked
    /// incomplete) so that the message stays under [`MAX_MESSAGE_SIZE`].
    pub const MAX_RECEIPTS_BYTES: usize = MAX_MESSAGE_SIZE - 64 * 1024;
    /// Most pooled transactions served for one request: the spec's soft limit
    /// of 256 hashes per GetPooledTransactions.
    pub const MAX_POOLED_TRANSACTIONS_SERVE: usize = 256;
    /// Most hashes in one NewPooledTransactionHashes: the spec's
    /// recommended 4096 (128 KiB). Larger announcements end the peer.
    pub const MAX_ANNOUNCED_HASHES: usize = 4096;
    /// Most hashes in one request message, whatever is served of them. Far
    /// above every serving limit, so an honest peer never meets it.
    pub const MAX_REQUEST_HASHES: usize = 16 * 1024;
    /// Most items in a headers, bodies or receipts response: a response
    /// longer than anything we ask for is a misbehaving peer.
    pub const MAX_RESPONSE_ITEMS: usize = 1024;
}

/// The chain position a Status declares; eth/68 and eth/69 differ here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusHead {
    /// eth/68 and earlier: total difficulty and best block hash.
    TotalDifficulty {
        /// Total difficulty of the best chain.
        total_difficulty: U256,
        /// Hash of the best block.
        best_hash: H256,
    },
    /// eth/69 (EIP-7642): the range of blocks the node serves.
    Range(BlockRange),
}

/// The blocks a node can serve (eth/69): from `earliest` to `latest`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct BlockRange {
    /// Earliest block whose bodies and receipts are served.
    pub earliest: u64,
    /// Latest block.
    pub latest: u64,
    /// Hash of the latest block.
    pub latest_hash: H256,
}

impl BlockRange {
    fn append_fields(&self, s: &mut RlpStream) {
        s.append(&self.earliest);
        s.append(&self.latest);
        s.append(&self.latest_hash);
    }

    fn decode_at(rlp: &Rlp<'_>, first: usize) -> Result<Self, DecoderError> {
        Ok(BlockRange {
            earliest: rlp.val_at(first)?,
            latest: rlp.val_at(first + 1)?,
            latest_hash: rlp.val_at(first + 2)?,
        })
    }
}

/// Status (0x00): what a peer is, sent first on both sides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status {
    /// The protocol version; must be the negotiated one.
    pub version: u32,
    /// The network id.
    pub network_id: u64,
    /// Genesis block hash.
    pub genesis: H256,
    /// EIP-2124 fork id.
    pub fork_id: ForkId,
    /// Where the chain stands (the version decides the form).
    pub head: StatusHead,
}

impl Status {
    fn encode(&self, s: &mut RlpStream) {
        match &self.head {
            StatusHead::TotalDifficulty {
                total_difficulty,
                best_hash,
            } => {
                s.begin_list(6);
                s.append(&self.version);
                s.append(&self.network_id);
                s.append(total_difficulty);
                s.append(best_hash);
                s.append(&self.genesis);
                s.append(&self.fork_id);
            }
            StatusHead::Range(range) => {
                s.begin_list(7);
                s.append(&self.version);
                s.append(&self.network_id);
                s.append(&self.genesis);
                s.append(&self.fork_id);
                range.append_fields(s);
            }
        }
    }

    fn decode(version: EthVersion, rlp: &Rlp<'_>) -> Result<Self, DecoderError> {
        let fork_id = |index| -> Result<ForkId, DecoderError> {
            let item = rlp.at(index)?;
            expect_fields(&item, 2)?;
            item.as_val()
        };
        match version {
            EthVersion::Eth68 => {
                expect_fields(rlp, 6)?;
                Ok(Status {
                    version: rlp.val_at(0)?,
                    network_id: rlp.val_at(1)?,
                    head: StatusHead::TotalDifficulty {
                        total_difficulty: rlp.val_at(2)?,
                        best_hash: rlp.val_at(3)?,
                    },
                    genesis: rlp.val_at(4)?,
                    fork_id: fork_id(5)?,
                })
            }
            _ => {
                expect_fields(rlp, 7)?;
                Ok(Status {
                    version: rlp.val_at(0)?,
                    network_id: rlp.val_at(1)?,
                    genesis: rlp.val_at(2)?,
                    fork_id: fork_id(3)?,
                    head: StatusHead::Range(BlockRange::decode_at(rlp, 4)?),
                })
            }
        }
    }
}

/// A block announcement of NewBlockHashes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockHashNumber {
    /// Block hash.
    pub hash: H256,
    /// Block number.
    pub number: u64,
}

impl Encodable for BlockHashNumber {
    fn rlp_append(&self, s: &mut RlpStream) {
        s.begin_list(2).append(&self.hash).append(&self.number);
    }
}

impl rlp::Decodable for BlockHashNumber {
    fn decode(rlp: &Rlp<'_>) -> Result<Self, DecoderError> {
        expect_fields(rlp, 2)?;
        Ok(BlockHashNumber {
            hash: rlp.val_at(0)?,
            number: rlp.val_at(1)?,
        })
    }
}

/// GetBlockHeaders (0x03): `limit` headers from `start`, every `skip + 1`-th,
/// descending if `reverse`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GetBlockHeaders {
    /// Echoed in the response.
    pub request_id: u64,
    /// First block.
    pub start: HashOrNumber,
    /// Most headers wanted.
    pub limit: u64,
    /// Blocks skipped between two headers.
    pub skip: u64,
    /// Towards genesis rather than towards the head.
    pub reverse: bool,
}

/// A request message: a request id and a list of hashes (GetBlockBodies,
/// GetPooledTransactions, GetReceipts).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HashesRequest {
    /// Echoed in the response.
    pub request_id: u64,
    /// The hashes asked for.
    pub hashes: Vec<H256>,
}

/// BlockHeaders (0x04).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockHeaders {
    /// The request answered.
    pub request_id: u64,
    /// The headers, in the order asked for.
    pub headers: Vec<BlockHeader>,
}

/// BlockBodies (0x06).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockBodies {
    /// The request answered.
    pub request_id: u64,
    /// Bodies of the blocks asked for, in order; unknown blocks are skipped.
    pub bodies: Vec<BlockBody>,
}

/// PooledTransactions (0x0a).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PooledTransactions {
    /// The request answered.
    pub request_id: u64,
    /// The transactions found, in the order asked for.
    pub transactions: Vec<Transaction>,
}

/// Receipts (0x10), eth/68 form: each receipt with its bloom.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipts68 {
    /// The request answered.
    pub request_id: u64,
    /// For each block asked for, all its receipts.
    pub receipts: Vec<Vec<ReceiptWithBloom>>,
}

/// Receipts (0x10), eth/69 form: without blooms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipts69 {
    /// The request answered.
    pub request_id: u64,
    /// For each block asked for, all its receipts.
    pub receipts: Vec<Vec<Receipt>>,
}

/// GetReceipts (0x0f), eth/70 form: receipts of `hashes`, those of the first
/// block from its `first_block_receipt_index`-th on (to continue a block
/// whose receipts came in part).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GetReceipts70 {
    /// Echoed in the response.
    pub request_id: u64,
    /// Receipts of the first block before this index are left out.
    pub first_block_receipt_index: u64,
    /// The blocks asked for.
    pub hashes: Vec<H256>,
}

/// Receipts (0x10), eth/70 form: without blooms; the last block's list may
/// be a part only, which `last_block_incomplete` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipts70 {
    /// The request answered.
    pub request_id: u64,
    /// The last list holds only part of its block's receipts.
    pub last_block_incomplete: bool,
    /// For each block answered, its receipts (the first block's from the
    /// index asked for).
    pub receipts: Vec<Vec<Receipt>>,
}

/// BlockAccessLists (0x13, eth/71): per block asked for, in order, its
/// access list as raw RLP (EIP-7928), or `None` where the peer has none (an
/// RLP empty string on the wire; an empty list is a valid access list).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockAccessLists {
    /// The request answered.
    pub request_id: u64,
    /// The access lists, raw, in the order asked for.
    pub lists: Vec<Option<Bytes>>,
}

/// One entry of BlockAccessLists as written: the raw access list, or the
/// RLP empty string for none.
pub(crate) struct AccessListEntry(pub(crate) Option<Bytes>);

impl Encodable for AccessListEntry {
    fn rlp_append(&self, s: &mut RlpStream) {
        // One raw item; the `append` that called us counts it.
        match &self.0 {
            Some(raw) => s.append_raw(raw, 0),
            // 0x80: the empty string.
            None => s.append_raw(&[0x80], 0),
        };
    }
}

/// NewBlock (0x07, eth/68 only): a whole new block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewBlock {
    /// The block.
    pub block: Block,
    /// Total difficulty including the block.
    pub total_difficulty: U256,
}

/// One entry of NewPooledTransactionHashes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnnouncedTransaction {
    /// EIP-2718 type.
    pub tx_type: u8,
    /// Size of the canonical encoding.
    pub size: u32,
    /// Transaction hash.
    pub hash: H256,
}

/// NewPooledTransactionHashes (0x08, eth/68 form): three parallel lists on
/// the wire, one entry each here.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct NewPooledTransactionHashes {
    /// The announced transactions.
    pub entries: Vec<AnnouncedTransaction>,
}

/// An eth message of any version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EthMessage {
    /// 0x00.
    Status(Status),
    /// 0x01 (eth/68).
    NewBlockHashes(Vec<BlockHashNumber>),
    /// 0x02.
    Transactions(Vec<Transaction>),
    /// 0x03.
    GetBlockHeaders(GetBlockHeaders),
    /// 0x04.
    BlockHeaders(BlockHeaders),
    /// 0x05.
    GetBlockBodies(HashesRequest),
    /// 0x06.
    BlockBodies(BlockBodies),
    /// 0x07 (eth/68).
    NewBlock(Box<NewBlock>),
    /// 0x08.
    NewPooledTransactionHashes(NewPooledTransactionHashes),
    /// 0x09.
    GetPooledTransactions(HashesRequest),
    /// 0x0a.
    PooledTransactions(PooledTransactions),
    /// 0x0f.
    GetReceipts(HashesRequest),
    /// 0x10, eth/68.
    Receipts68(Receipts68),
    /// 0x10, eth/69.
    Receipts69(Receipts69),
    /// 0x11 (eth/69 on).
    BlockRangeUpdate(BlockRange),
    /// 0x0f, eth/70 on.
    GetReceipts70(GetReceipts70),
    /// 0x10, eth/70 on.
    Receipts70(Receipts70),
    /// 0x12 (eth/71).
    GetBlockAccessLists(HashesRequest),
    /// 0x13 (eth/71).
    BlockAccessLists(BlockAccessLists),
}

impl EthMessage {
    /// The message code, relative to the capability.
    pub fn code(&self) -> u64 {
        match self {
            EthMessage::Status(_) => code::STATUS,
            EthMessage::NewBlockHashes(_) => code::NEW_BLOCK_HASHES,
            EthMessage::Transactions(_) => code::TRANSACTIONS,
            EthMessage::GetBlockHeaders(_) => code::GET_BLOCK_HEADERS,
            EthMessage::BlockHeaders(_) => code::BLOCK_HEADERS,
            EthMessage::GetBlockBodies(_) => code::GET_BLOCK_BODIES,
            EthMessage::BlockBodies(_) => code::BLOCK_BODIES,
            EthMessage::NewBlock(_) => code::NEW_BLOCK,
            EthMessage::NewPooledTransactionHashes(_) => code::NEW_POOLED_TRANSACTION_HASHES,
            EthMessage::GetPooledTransactions(_) => code::GET_POOLED_TRANSACTIONS,
            EthMessage::PooledTransactions(_) => code::POOLED_TRANSACTIONS,
            EthMessage::GetReceipts(_) | EthMessage::GetReceipts70(_) => code::GET_RECEIPTS,
            EthMessage::Receipts68(_) | EthMessage::Receipts69(_) | EthMessage::Receipts70(_) => {
                code::RECEIPTS
            }
            EthMessage::BlockRangeUpdate(_) => code::BLOCK_RANGE_UPDATE,
            EthMessage::GetBlockAccessLists(_) => code::GET_BLOCK_ACCESS_LISTS,
            EthMessage::BlockAccessLists(_) => code::BLOCK_ACCESS_LISTS,
        }
    }

    /// Whether `version` defines this message.
    pub fn is_defined_in(&self, version: EthVersion) -> bool {
        match self {
            EthMessage::NewBlockHashes(_) | EthMessage::NewBlock(_) | EthMessage::Receipts68(_) => {
                version == EthVersion::Eth68
            }
            EthMessage::Receipts69(_) => version == EthVersion::Eth69,
            EthMessage::GetReceipts(_) => !version.has_partial_receipts(),
            EthMessage::GetReceipts70(_) | EthMessage::Receipts70(_) => {
                version.has_partial_receipts()
            }
            EthMessage::BlockRangeUpdate(_) => version.has_block_range(),
            EthMessage::GetBlockAccessLists(_) | EthMessage::BlockAccessLists(_) => {
                version.has_block_access_lists()
            }
            EthMessage::Status(status) => match status.head {
                StatusHead::TotalDifficulty { .. } => !version.has_block_range(),
                StatusHead::Range(_) => version.has_block_range(),
            },
            _ => true,
        }
    }

    /// The RLP payload.
    pub fn encode_payload(&self) -> Bytes {
        let mut s = RlpStream::new();
        match self {
            EthMessage::Status(status) => status.encode(&mut s),
            EthMessage::NewBlockHashes(blocks) => codec::append_list(&mut s, blocks),
            EthMessage::Transactions(txs) => codec::append_list(&mut s, txs),
            EthMessage::GetBlockHeaders(req) => {
                s.begin_list(2);
                s.append(&req.request_id);
                s.begin_list(4);
                s.append(&req.start);
                s.append(&req.limit);
                s.append(&req.skip);
                s.append(&req.reverse);
            }
            EthMessage::BlockHeaders(res) => append_response(&mut s, res.request_id, &res.headers),
            EthMessage::GetBlockBodies(req)
            | EthMessage::GetPooledTransactions(req)
            | EthMessage::GetReceipts(req)
            | EthMessage::GetBlockAccessLists(req) => {
                s.begin_list(2);
                s.append(&req.request_id);
                codec::append_hashes(&mut s, &req.hashes);
            }
            EthMessage::BlockBodies(res) => append_response(&mut s, res.request_id, &res.bodies),
            EthMessage::NewBlock(new) => {
                s.begin_list(2);
                s.append(&new.block);
                s.append(&new.total_difficulty);
            }
            EthMessage::NewPooledTransactionHashes(ann) => {
                s.begin_list(3);
                let types: Vec<u8> = ann.entries.iter().map(|e| e.tx_type).collect();
                s.append(&types);
                s.begin_list(ann.entries.len());
                for entry in &ann.entries {
                    s.append(&entry.size);
                }
                s.begin_list(ann.entries.len());
                for entry in &ann.entries {
                    codec::append_bytes(&mut s, entry.hash.as_bytes());
                }
            }
            EthMessage::PooledTransactions(res) => {
                append_response(&mut s, res.request_id, &res.transactions)
            }
            EthMessage::Receipts68(res) => append_receipts(&mut s, res.request_id, &res.receipts),
            EthMessage::Receipts69(res) => append_receipts(&mut s, res.request_id, &res.receipts),
            EthMessage::GetReceipts70(req) => {
                s.begin_list(3);
                s.append(&req.request_id);
                s.append(&req.first_block_receipt_index);
                codec::append_hashes(&mut s, &req.hashes);
            }
            EthMessage::Receipts70(res) => {
                s.begin_list(3);
                s.append(&res.request_id);
                s.append(&res.last_block_incomplete);
                s.begin_list(res.receipts.len());
                for block in &res.receipts {
                    codec::append_list(&mut s, block);
                }
            }
            EthMessage::BlockAccessLists(res) => {
                s.begin_list(2);
                s.append(&res.request_id);
                s.begin_list(res.lists.len());
                for list in &res.lists {
                    s.append(&AccessListEntry(list.clone()));
                }
            }
            EthMessage::BlockRangeUpdate(range) => {
                s.begin_list(3);
                range.append_fields(&mut s);
            }
        }
        s.out().freeze()
    }

    /// The message as sent on the capability.
    pub fn to_msg(&self) -> Msg {
        Msg::new(self.code(), self.encode_payload())
    }

    /// Reads message `code` of `version` from `payload`.
    pub fn decode(version: EthVersion, code: u64, payload: &Bytes) -> Result<Self, MessageError> {
        let malformed = MessageError::malformed(code);
        let rlp = Rlp::new(payload);
        codec::check_whole(&rlp, payload.len()).map_err(malformed)?;
        let unknown = || MessageError::UnknownCode {
            code,
            capability: format!("eth/{}", version as u8),
        };
        let message = match code {
            code::STATUS => EthMessage::Status(Status::decode(version, &rlp).map_err(malformed)?),
            code::NEW_BLOCK_HASHES if version == EthVersion::Eth68 => EthMessage::NewBlockHashes(
                codec::decode_list(&rlp, code, limits::MAX_ANNOUNCED_HASHES)?,
            ),
            code::TRANSACTIONS => {
                EthMessage::Transactions(codec::decode_list_with(&rlp, code, usize::MAX, |tx| {
                    Transaction::decode_in(tx, payload)
                })?)
            }
            code::GET_BLOCK_HEADERS => {
                expect_fields(&rlp, 2).map_err(malformed)?;
                let query = rlp.at(1).map_err(malformed)?;
                expect_fields(&query, 4).map_err(malformed)?;
                let read = || -> Result<GetBlockHeaders, DecoderError> {
                    Ok(GetBlockHeaders {
                        request_id: rlp.val_at(0)?,
                        start: query.val_at(0)?,
                        limit: query.val_at(1)?,
                        skip: query.val_at(2)?,
                        reverse: query.val_at(3)?,
                    })
                };
                EthMessage::GetBlockHeaders(read().map_err(malformed)?)
            }
            code::BLOCK_HEADERS => {
                let (request_id, list) = response(&rlp, code)?;
                EthMessage::BlockHeaders(BlockHeaders {
                    request_id,
                    headers: codec::decode_list(&list, code, limits::MAX_RESPONSE_ITEMS)?,
                })
            }
            code::GET_BLOCK_BODIES => EthMessage::GetBlockBodies(hashes_request(&rlp, code)?),
            code::BLOCK_BODIES => {
                let (request_id, list) = response(&rlp, code)?;
                EthMessage::BlockBodies(BlockBodies {
                    request_id,
                    bodies: codec::decode_list_with(
                        &list,
                        code,
                        limits::MAX_RESPONSE_ITEMS,
                        |b| BlockBody::decode_in(b, payload),
                    )?,
                })
            }
            code::NEW_BLOCK if version == EthVersion::Eth68 => {
                expect_fields(&rlp, 2).map_err(malformed)?;
                let read = || -> Result<NewBlock, DecoderError> {
                    Ok(NewBlock {
                        block: Block::decode_in(&rlp.at(0)?, payload)?,
                        total_difficulty: rlp.val_at(1)?,
                    })
                };
                EthMessage::NewBlock(Box::new(read().map_err(malformed)?))
            }
            code::NEW_POOLED_TRANSACTION_HASHES => {
                EthMessage::NewPooledTransactionHashes(announcement(&rlp, code)?)
            }
            code::GET_POOLED_TRANSACTIONS => {
                EthMessage::GetPooledTransactions(hashes_request(&rlp, code)?)
            }
            code::POOLED_TRANSACTIONS => {
                let (request_id, list) = response(&rlp, code)?;
                EthMessage::PooledTransactions(PooledTransactions {
                    request_id,
                    transactions: codec::decode_list_with(&list, code, usize::MAX, |tx| {
                        Transaction::decode_in(tx, payload)
                    })?,
                })
            }
            code::GET_RECEIPTS if version.has_partial_receipts() => {
                expect_fields(&rlp, 3).map_err(malformed)?;
                let read =
                    || -> Result<(u64, u64), DecoderError> { Ok((rlp.val_at(0)?, rlp.val_at(1)?)) };
                let (request_id, first_block_receipt_index) = read().map_err(malformed)?;
                let list = rlp.at(2).map_err(malformed)?;
                EthMessage::GetReceipts70(GetReceipts70 {
                    request_id,
                    first_block_receipt_index,
                    hashes: codec::decode_list(&list, code, limits::MAX_REQUEST_HASHES)?,
                })
            }
            code::GET_RECEIPTS => EthMessage::GetReceipts(hashes_request(&rlp, code)?),
            code::RECEIPTS if version.has_partial_receipts() => {
                expect_fields(&rlp, 3).map_err(malformed)?;
                let read = || -> Result<(u64, bool), DecoderError> {
                    Ok((rlp.val_at(0)?, rlp.val_at(1)?))
                };
                let (request_id, last_block_incomplete) = read().map_err(malformed)?;
                let list = rlp.at(2).map_err(malformed)?;
                EthMessage::Receipts70(Receipts70 {
                    request_id,
                    last_block_incomplete,
                    receipts: codec::decode_list_with(
                        &list,
                        code,
                        limits::MAX_RESPONSE_ITEMS,
                        crate::eth::types::list_of,
                    )?,
                })
            }
            code::RECEIPTS => {
                let (request_id, list) = response(&rlp, code)?;
                match version {
                    EthVersion::Eth68 => EthMessage::Receipts68(Receipts68 {
                        request_id,
                        receipts: codec::decode_list_with(
                            &list,
                            code,
                            limits::MAX_RESPONSE_ITEMS,
                            crate::eth::types::list_of,
                        )?,
                    }),
                    _ => EthMessage::Receipts69(Receipts69 {
                        request_id,
                        receipts: codec::decode_list_with(
                            &list,
                            code,
                            limits::MAX_RESPONSE_ITEMS,
                            crate::eth::types::list_of,
                        )?,
                    }),
                }
            }
            code::BLOCK_RANGE_UPDATE if version.has_block_range() => {
                expect_fields(&rlp, 3).map_err(malformed)?;
                EthMessage::BlockRangeUpdate(BlockRange::decode_at(&rlp, 0).map_err(malformed)?)
            }
            code::GET_BLOCK_ACCESS_LISTS if version.has_block_access_lists() => {
                EthMessage::GetBlockAccessLists(hashes_request(&rlp, code)?)
            }
            code::BLOCK_ACCESS_LISTS if version.has_block_access_lists() => {
                let (request_id, list) = response(&rlp, code)?;
                EthMessage::BlockAccessLists(BlockAccessLists {
                    request_id,
                    lists: codec::decode_list_with(
                        &list,
                        code,
                        limits::MAX_RESPONSE_ITEMS,
                        |item| access_list_entry(item, payload),
                    )?,
                })
            }
            _ => return Err(unknown()),
        };
        Ok(message)
    }
}

/// `[request-id, [[receipt, ...], ...]]` (eth/68 and eth/69 forms alike).
fn append_receipts<T: Encodable>(s: &mut RlpStream, request_id: u64, blocks: &[Vec<T>]) {
    s.begin_list(2);
    s.append(&request_id);
    s.begin_list(blocks.len());
    for block in blocks {
        codec::append_list(s, block);
    }
}

/// One entry of BlockAccessLists: a list (the access list, kept raw as a
/// slice of the message) or the empty string (none).
fn access_list_entry(item: &Rlp<'_>, payload: &Bytes) -> Result<Option<Bytes>, DecoderError> {
    if item.is_list() {
        Ok(Some(crate::eth::types::slice_of(payload, item.as_raw())))
    } else if item.is_empty() {
        Ok(None)
    } else {
        Err(DecoderError::Custom(
            "access list entry is neither a list nor empty",
        ))
    }
}

/// `[request-id, [item, ...]]`.
fn append_response<T: Encodable>(s: &mut RlpStream, request_id: u64, items: &[T]) {
    s.begin_list(2);
    s.append(&request_id);
    codec::append_list(s, items);
}

/// Splits `[request-id, list]`.
fn response<'a>(rlp: &Rlp<'a>, code: u64) -> Result<(u64, Rlp<'a>), MessageError> {
    let malformed = MessageError::malformed(code);
    expect_fields(rlp, 2).map_err(malformed)?;
    let request_id = rlp.val_at(0).map_err(malformed)?;
    let list = rlp.at(1).map_err(malformed)?;
    Ok((request_id, list))
}

fn hashes_request(rlp: &Rlp<'_>, code: u64) -> Result<HashesRequest, MessageError> {
    let (request_id, list) = response(rlp, code)?;
    Ok(HashesRequest {
        request_id,
        hashes: codec::decode_list(&list, code, limits::MAX_REQUEST_HASHES)?,
    })
}

fn announcement(rlp: &Rlp<'_>, code: u64) -> Result<NewPooledTransactionHashes, MessageError> {
    let malformed = MessageError::malformed(code);
    expect_fields(rlp, 3).map_err(malformed)?;
    let types_item = rlp.at(0).map_err(malformed)?;
    let types = types_item.data().map_err(malformed)?;
    if types_item.is_list() {
        return Err(malformed(DecoderError::RlpExpectedToBeData));
    }
    let limit = limits::MAX_ANNOUNCED_HASHES;
    if types.len() > limit {
        return Err(MessageError::TooManyItems {
            code,
            count: types.len(),
            limit,
        });
    }
    let sizes: Vec<u32> = codec::decode_list(&rlp.at(1).map_err(malformed)?, code, limit)?;
    let hashes: Vec<H256> = codec::decode_list(&rlp.at(2).map_err(malformed)?, code, limit)?;
    if sizes.len() != types.len() || hashes.len() != types.len() {
        return Err(malformed(DecoderError::Custom(
            "announcement lists differ in length",
        )));
    }
    Ok(NewPooledTransactionHashes {
        entries: types
            .iter()
            .zip(sizes)
            .zip(hashes)
            .map(|((tx_type, size), hash)| AnnouncedTransaction {
                tx_type: *tx_type,
                size,
                hash,
            })
            .collect(),
    })
}
/// eth's messages through p2p-core's one definition of a capability's
/// messages: what each version's code count and the peer loop's decoding
/// come from.
impl CapabilityMessage for EthMessage {
    fn count(version: u32) -> u64 {
        EthVersion::from_number(version).map_or(0, EthVersion::message_count)
    }

    fn code(&self) -> u64 {
        EthMessage::code(self)
    }

    fn encode_payload(&self) -> Bytes {
        EthMessage::encode_payload(self)
    }

    fn decode(version: u32, msg: &Msg) -> Result<Self, MessageError> {
        let spoken = EthVersion::from_number(version).ok_or(MessageError::UnknownCode {
            code: msg.code,
            capability: format!("eth/{version}"),
        })?;
        EthMessage::decode(spoken, msg.code, &msg.payload)
    }
}
