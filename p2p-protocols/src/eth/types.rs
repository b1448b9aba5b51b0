//! The chain data `eth` messages carry: headers, bodies, transactions,
//! receipts and logs, with their RLP encodings (`caps/eth.md`, "Block
//! Encoding and Validity", "Receipt Encoding and Validity").
//!
//! Headers, bodies, withdrawals, receipts and logs are fully typed, because a
//! node hashes and checks them. Transactions are kept as their encoded bytes
//! ([`Transaction`]): the spec calls a typed transaction's data opaque, and
//! what makes one valid (signature, nonce, balance) is the execution layer's
//! business, not the wire's. A transaction is read without copying: it is a
//! slice of the message buffer.

use bytes::Bytes;
use primitive_types::{H160, H256, U256};
use rlp::{Decodable, DecoderError, Encodable, Rlp, RlpStream};
use sha3::{Digest, Keccak256};

/// A 20-byte account address.
pub type Address = H160;

/// Keccak-256 of `data`.
pub fn keccak256(data: &[u8]) -> H256 {
    H256(Keccak256::digest(data).into())
}

/// Keccak-256 of the RLP of an empty list: the ommers hash of a block without
/// ommers.
pub const EMPTY_OMMERS_HASH: H256 = H256([
    0x1d, 0xcc, 0x4d, 0xe8, 0xde, 0xc7, 0x5d, 0x7a, 0xab, 0x85, 0xb5, 0x67, 0xb6, 0xcc, 0xd4, 0x1a,
    0xd3, 0x12, 0x45, 0x1b, 0x94, 0x8a, 0x74, 0x13, 0xf0, 0xa1, 0x42, 0xfd, 0x40, 0xd4, 0x93, 0x47,
]);

/// The root of an empty Merkle-Patricia trie: the transactions and receipts
/// root of an empty block.
pub const EMPTY_ROOT_HASH: H256 = H256([
    0x56, 0xe8, 0x1f, 0x17, 0x1b, 0xcc, 0x55, 0xa6, 0xff, 0x83, 0x45, 0xe6, 0x92, 0xc0, 0xf8, 0x6e,
    0x5b, 0x48, 0xe0, 0x1b, 0x99, 0x6c, 0xad, 0xc0, 0x01, 0x62, 0x2f, 0xb5, 0xe3, 0x63, 0xb4, 0x21,
]);

/// A 2048-bit log bloom filter.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Bloom(pub [u8; 256]);

impl Default for Bloom {
    fn default() -> Self {
        Bloom([0; 256])
    }
}

impl std::fmt::Debug for Bloom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.iter().all(|b| *b == 0) {
            f.write_str("Bloom(empty)")
        } else {
            write!(
                f,
                "Bloom({} bits set)",
                self.0.iter().map(|b| b.count_ones()).sum::<u32>()
            )
        }
    }
}

impl Bloom {
    /// Adds `data` (an address or a topic) to the filter, as the Yellow
    /// Paper's M3:2048 does: three bits, each chosen by 11 bits of a byte
    /// pair of the data's Keccak-256.
    pub fn accrue(&mut self, data: &[u8]) {
        let hash = keccak256(data);
        for pair in hash.as_bytes()[..6].chunks(2) {
            let bit = (usize::from(pair[0]) << 8 | usize::from(pair[1])) & 2047;
            self.0[255 - bit / 8] |= 1 << (bit % 8);
        }
    }

    /// Whether `data` may have been added (a bloom filter has false
    /// positives, no false negatives).
    pub fn may_contain(&self, data: &[u8]) -> bool {
        let mut probe = Bloom::default();
        probe.accrue(data);
        probe.0.iter().zip(self.0.iter()).all(|(p, s)| p & s == *p)
    }
}

impl Encodable for Bloom {
    fn rlp_append(&self, s: &mut RlpStream) {
        s.encoder().encode_value(&self.0);
    }
}

impl Decodable for Bloom {
    fn decode(rlp: &Rlp<'_>) -> Result<Self, DecoderError> {
        rlp.decoder().decode_value(|bytes| {
            <[u8; 256]>::try_from(bytes)
                .map(Bloom)
                .map_err(|_| DecoderError::Custom("bloom is not 256 bytes"))
        })
    }
}

/// A block header, with every field up to the Amsterdam fork's `slot_number`.
///
/// Fields added by later forks are `Option`s and must be set as a prefix:
/// a field may only be present if all fields before it are (the encoding is a
/// list that simply grows). A header with fields this type does not know is
/// refused rather than silently re-encoded to a different hash.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct BlockHeader {
    /// Hash of the parent block's header.
    pub parent_hash: H256,
    /// Hash of the ommers list.
    pub ommers_hash: H256,
    /// Recipient of the block's fees.
    pub beneficiary: Address,
    /// State trie root after the block.
    pub state_root: H256,
    /// Transactions trie root.
    pub transactions_root: H256,
    /// Receipts trie root.
    pub receipts_root: H256,
    /// Bloom over the logs of all receipts.
    pub logs_bloom: Bloom,
    /// Proof-of-work difficulty (0 after the merge).
    pub difficulty: U256,
    /// Block number.
    pub number: u64,
    /// Gas limit.
    pub gas_limit: u64,
    /// Gas used.
    pub gas_used: u64,
    /// Unix time.
    pub timestamp: u64,
    /// Up to 32 bytes of anything (the limit is a consensus rule, not a wire
    /// rule, so it is not checked here).
    pub extra_data: Bytes,
    /// Proof-of-work mix digest (`prevRandao` after the merge).
    pub mix_hash: H256,
    /// Proof-of-work nonce (zero after the merge).
    pub nonce: [u8; 8],
    /// EIP-1559 base fee (London).
    pub base_fee_per_gas: Option<U256>,
    /// Withdrawals trie root (Shanghai).
    pub withdrawals_root: Option<H256>,
    /// Blob gas used (Cancun).
    pub blob_gas_used: Option<u64>,
    /// Excess blob gas (Cancun).
    pub excess_blob_gas: Option<u64>,
    /// Parent beacon block root (Cancun).
    pub parent_beacon_block_root: Option<H256>,
    /// Execution requests hash (Prague).
    pub requests_hash: Option<H256>,
    /// Block access list hash (Amsterdam, EIP-7928).
    pub block_access_list_hash: Option<H256>,
    /// Beacon chain slot of the block (Amsterdam, EIP-7843).
    pub slot_number: Option<u64>,
}

/// Number of fields every header has.
const HEADER_BASE_FIELDS: usize = 15;
/// Number of fields the newest header this type knows has.
const HEADER_MAX_FIELDS: usize = 23;

impl BlockHeader {
    /// Keccak-256 of the header's RLP: the block hash.
    pub fn hash(&self) -> H256 {
        keccak256(&rlp::encode(self))
    }

    /// How many optional fields are present, checking they form a prefix.
    fn optional_fields(&self) -> usize {
        let present = [
            self.base_fee_per_gas.is_some(),
            self.withdrawals_root.is_some(),
            self.blob_gas_used.is_some(),
            self.excess_blob_gas.is_some(),
            self.parent_beacon_block_root.is_some(),
            self.requests_hash.is_some(),
            self.block_access_list_hash.is_some(),
            self.slot_number.is_some(),
        ];
        // Encoding stops at the first absent field: a later field without
        // the ones before it has no place in the list.
        present.iter().take_while(|p| **p).count()
    }
}

impl Encodable for BlockHeader {
    fn rlp_append(&self, s: &mut RlpStream) {
        let optional = self.optional_fields();
        s.begin_list(HEADER_BASE_FIELDS + optional);
        // Fixed-size byte strings are copied in one piece (see
        // `codec::append_bytes`): they are most of a header's bytes.
        let bytes = crate::codec::append_bytes;
        bytes(s, self.parent_hash.as_bytes());
        bytes(s, self.ommers_hash.as_bytes());
        bytes(s, self.beneficiary.as_bytes());
        bytes(s, self.state_root.as_bytes());
        bytes(s, self.transactions_root.as_bytes());
        bytes(s, self.receipts_root.as_bytes());
        bytes(s, &self.logs_bloom.0);
        s.append(&self.difficulty);
        s.append(&self.number);
        s.append(&self.gas_limit);
        s.append(&self.gas_used);
        s.append(&self.timestamp);
        bytes(s, &self.extra_data);
        bytes(s, self.mix_hash.as_bytes());
        bytes(s, &self.nonce);
        let mut left = optional;
        let mut next = |s: &mut RlpStream, f: &dyn Fn(&mut RlpStream)| {
            if left > 0 {
                f(s);
                left -= 1;
            }
        };
        next(s, &|s| {
            s.append(self.base_fee_per_gas.as_ref().expect("counted"));
        });
        next(s, &|s| {
            s.append(self.withdrawals_root.as_ref().expect("counted"));
        });
        next(s, &|s| {
            s.append(self.blob_gas_used.as_ref().expect("counted"));
        });
        next(s, &|s| {
            s.append(self.excess_blob_gas.as_ref().expect("counted"));
        });
        next(s, &|s| {
            s.append(self.parent_beacon_block_root.as_ref().expect("counted"));
        });
        next(s, &|s| {
            s.append(self.requests_hash.as_ref().expect("counted"));
        });
        next(s, &|s| {
            s.append(self.block_access_list_hash.as_ref().expect("counted"));
        });
        next(s, &|s| {
            s.append(self.slot_number.as_ref().expect("counted"));
        });
    }
}

impl Decodable for BlockHeader {
    fn decode(rlp: &Rlp<'_>) -> Result<Self, DecoderError> {
        // One pass over the fields: a missing field or an unreadable one is
        // an error where it occurs, fields past the known ones after them.
        let mut fields = crate::codec::items(rlp)?;
        let mut next = || {
            fields
                .next()
                .unwrap_or(Err(DecoderError::RlpIncorrectListLen))
        };
        let mut header = BlockHeader {
            parent_hash: next()?.as_val()?,
            ommers_hash: next()?.as_val()?,
            beneficiary: next()?.as_val()?,
            state_root: next()?.as_val()?,
            transactions_root: next()?.as_val()?,
            receipts_root: next()?.as_val()?,
            logs_bloom: next()?.as_val()?,
            difficulty: next()?.as_val()?,
            number: next()?.as_val()?,
            gas_limit: next()?.as_val()?,
            gas_used: next()?.as_val()?,
            timestamp: next()?.as_val()?,
            extra_data: Bytes::copy_from_slice(next()?.data()?),
            mix_hash: next()?.as_val()?,
            nonce: next()?.decoder().decode_value(|b| {
                <[u8; 8]>::try_from(b).map_err(|_| DecoderError::Custom("nonce is not 8 bytes"))
            })?,
            ..BlockHeader::default()
        };
        let mut optional = 0;
        for field in fields {
            let field = field?;
            match optional {
                0 => header.base_fee_per_gas = Some(field.as_val()?),
                1 => header.withdrawals_root = Some(field.as_val()?),
                2 => header.blob_gas_used = Some(field.as_val()?),
                3 => header.excess_blob_gas = Some(field.as_val()?),
                4 => header.parent_beacon_block_root = Some(field.as_val()?),
                5 => header.requests_hash = Some(field.as_val()?),
                6 => header.block_access_list_hash = Some(field.as_val()?),
                7 => header.slot_number = Some(field.as_val()?),
                _ => return Err(DecoderError::RlpIncorrectListLen),
            }
            optional += 1;
        }
        debug_assert!(HEADER_BASE_FIELDS + optional <= HEADER_MAX_FIELDS);
        Ok(header)
    }
}

/// A transaction in its network encoding: an RLP list for a legacy
/// transaction, an RLP byte string `tx-type || tx-data` for an EIP-2718 typed
/// one (for blob transactions, the network form with blobs, as
/// `PooledTransactions` carries them).
///
/// The bytes are kept as received, so re-encoding is a copy and the hash is
/// the one the sender computed.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Transaction {
    /// The RLP item exactly as it sits in a transactions list.
    encoded: Bytes,
}

impl std::fmt::Debug for Transaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction")
            .field("type", &self.tx_type())
            .field("len", &self.encoded.len())
            .finish()
    }
}

impl Transaction {
    /// Reads one transaction item, keeping a slice of `owner` (the buffer
    /// `rlp` points into) instead of copying it.
    ///
    /// Checks the shape only: a list (legacy), or a non-empty byte string
    /// whose first byte is a type below 0x80 (EIP-2718 reserves the rest).
    pub fn decode_in(rlp: &Rlp<'_>, owner: &Bytes) -> Result<Self, DecoderError> {
        if !rlp.is_list() {
            let data = rlp.data()?;
            match data.first() {
                Some(t) if *t < 0x80 => {}
                Some(_) => return Err(DecoderError::Custom("typed transaction type >= 0x80")),
                None => return Err(DecoderError::Custom("empty typed transaction")),
            }
        }
        Ok(Transaction {
            encoded: slice_of(owner, rlp.as_raw()),
        })
    }

    /// A transaction from its encoding as an item of a transactions list.
    pub fn from_encoded(encoded: Bytes) -> Result<Self, DecoderError> {
        let rlp = Rlp::new(&encoded);
        crate::codec::check_whole(&rlp, encoded.len())?;
        Self::decode_in(&rlp, &encoded)
    }

    /// A legacy transaction from its RLP list.
    pub fn legacy(rlp_list: Bytes) -> Result<Self, DecoderError> {
        if !Rlp::new(&rlp_list).is_list() {
            return Err(DecoderError::RlpExpectedToBeList);
        }
        Self::from_encoded(rlp_list)
    }

    /// A typed transaction from `tx-type || tx-data`.
    pub fn typed(tx_type: u8, tx_data: &[u8]) -> Result<Self, DecoderError> {
        let mut payload = Vec::with_capacity(1 + tx_data.len());
        payload.push(tx_type);
        payload.extend_from_slice(tx_data);
        Self::from_encoded(rlp::encode(&payload).freeze())
    }

    /// The EIP-2718 type; 0 for a legacy transaction.
    pub fn tx_type(&self) -> u8 {
        let rlp = Rlp::new(&self.encoded);
        if rlp.is_list() {
            0
        } else {
            rlp.data()
                .ok()
                .and_then(|d| d.first().copied())
                .unwrap_or(0)
        }
    }

    /// The bytes the transaction hash is taken over: the list for a legacy
    /// transaction, `tx-type || tx-data` for a typed one.
    pub fn canonical_bytes(&self) -> &[u8] {
        let rlp = Rlp::new(&self.encoded);
        if rlp.is_list() {
            &self.encoded
        } else {
            // Checked at construction.
            rlp.data().unwrap_or(&[])
        }
    }

    /// The transaction hash.
    pub fn hash(&self) -> H256 {
        keccak256(self.canonical_bytes())
    }

    /// The item as it sits in a transactions list.
    pub fn encoded(&self) -> &Bytes {
        &self.encoded
    }

    /// The size `NewPooledTransactionHashes` announces: the length of the
    /// canonical encoding.
    pub fn announced_size(&self) -> u32 {
        u32::try_from(self.canonical_bytes().len()).unwrap_or(u32::MAX)
    }
}

impl Encodable for Transaction {
    fn rlp_append(&self, s: &mut RlpStream) {
        // Counted as one item by the `append` that called us; a count here
        // would count it twice (an `rlp_append` must write exactly one item
        // and leave the counting to its caller).
        s.append_raw(&self.encoded, 0);
    }
}

/// `sub` as a slice of `owner` when it points into it (no copy), else a copy.
pub(crate) fn slice_of(owner: &Bytes, sub: &[u8]) -> Bytes {
    let start = owner.as_ptr() as usize;
    let sub_start = sub.as_ptr() as usize;
    if sub_start >= start && sub_start + sub.len() <= start + owner.len() {
        owner.slice_ref(sub)
    } else {
        Bytes::copy_from_slice(sub)
    }
}

/// A validator withdrawal (EIP-4895).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Withdrawal {
    /// Monotonic withdrawal index.
    pub index: u64,
    /// Validator index.
    pub validator_index: u64,
    /// Recipient.
    pub address: Address,
    /// Amount in Gwei.
    pub amount: u64,
}

impl Encodable for Withdrawal {
    fn rlp_append(&self, s: &mut RlpStream) {
        s.begin_list(4);
        s.append(&self.index);
        s.append(&self.validator_index);
        s.append(&self.address);
        s.append(&self.amount);
    }
}

impl Decodable for Withdrawal {
    fn decode(rlp: &Rlp<'_>) -> Result<Self, DecoderError> {
        expect_fields(rlp, 4)?;
        Ok(Withdrawal {
            index: rlp.val_at(0)?,
            validator_index: rlp.val_at(1)?,
            address: rlp.val_at(2)?,
            amount: rlp.val_at(3)?,
        })
    }
}

pub(crate) use crate::codec::expect_fields;

/// A block body: `[transactions, ommers]`, plus `withdrawals` since
/// Shanghai.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct BlockBody {
    /// The transactions.
    pub transactions: Vec<Transaction>,
    /// The ommer (uncle) headers.
    pub ommers: Vec<BlockHeader>,
    /// The withdrawals, from Shanghai on.
    pub withdrawals: Option<Vec<Withdrawal>>,
}

impl Encodable for BlockBody {
    fn rlp_append(&self, s: &mut RlpStream) {
        s.begin_list(2 + usize::from(self.withdrawals.is_some()));
        crate::codec::append_list(s, &self.transactions);
        crate::codec::append_list(s, &self.ommers);
        if let Some(withdrawals) = &self.withdrawals {
            crate::codec::append_list(s, withdrawals);
        }
    }
}

impl BlockBody {
    /// Reads a body; transactions are sliced out of `owner`.
    pub fn decode_in(rlp: &Rlp<'_>, owner: &Bytes) -> Result<Self, DecoderError> {
        let count = crate::codec::strict_count(rlp)?;
        if !(2..=3).contains(&count) {
            return Err(DecoderError::RlpIncorrectListLen);
        }
        let transactions = transactions_in(&rlp.at(0)?, owner)?;
        let ommers = list_of(&rlp.at(1)?)?;
        let withdrawals = if count == 3 {
            Some(list_of(&rlp.at(2)?)?)
        } else {
            None
        };
        Ok(BlockBody {
            transactions,
            ommers,
            withdrawals,
        })
    }
}

/// The transactions of list `rlp`, sliced out of `owner`.
fn transactions_in(rlp: &Rlp<'_>, owner: &Bytes) -> Result<Vec<Transaction>, DecoderError> {
    crate::codec::items(rlp)?
        .map(|tx| Transaction::decode_in(&tx?, owner))
        .collect()
}

/// Decodes a list of `T`, refusing a non-list.
pub(crate) fn list_of<T: Decodable>(rlp: &Rlp<'_>) -> Result<Vec<T>, DecoderError> {
    crate::codec::items(rlp)?
        .map(|item| item?.as_val())
        .collect()
}

/// A whole block, as `NewBlock` carries it: `[header, transactions, ommers]`
/// plus `withdrawals` since Shanghai.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Block {
    /// The header.
    pub header: BlockHeader,
    /// The body.
    pub body: BlockBody,
}

impl Encodable for Block {
    fn rlp_append(&self, s: &mut RlpStream) {
        s.begin_list(3 + usize::from(self.body.withdrawals.is_some()));
        s.append(&self.header);
        crate::codec::append_list(s, &self.body.transactions);
        crate::codec::append_list(s, &self.body.ommers);
        if let Some(withdrawals) = &self.body.withdrawals {
            crate::codec::append_list(s, withdrawals);
        }
    }
}

impl Block {
    /// Reads a block; transactions are sliced out of `owner`.
    pub fn decode_in(rlp: &Rlp<'_>, owner: &Bytes) -> Result<Self, DecoderError> {
        let count = crate::codec::strict_count(rlp)?;
        if !(3..=4).contains(&count) {
            return Err(DecoderError::RlpIncorrectListLen);
        }
        let header = rlp.val_at(0)?;
        let transactions = transactions_in(&rlp.at(1)?, owner)?;
        let ommers = list_of(&rlp.at(2)?)?;
        let withdrawals = if count == 4 {
            Some(list_of(&rlp.at(3)?)?)
        } else {
            None
        };
        Ok(Block {
            header,
            body: BlockBody {
                transactions,
                ommers,
                withdrawals,
            },
        })
    }
}

/// A log entry: `[address, topics, data]`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Log {
    /// The emitting contract.
    pub address: Address,
    /// Indexed topics.
    pub topics: Vec<H256>,
    /// Unindexed data.
    pub data: Bytes,
}

impl Encodable for Log {
    fn rlp_append(&self, s: &mut RlpStream) {
        s.begin_list(3);
        s.append(&self.address);
        crate::codec::append_list(s, &self.topics);
        s.append(&self.data.as_ref());
    }
}

impl Decodable for Log {
    fn decode(rlp: &Rlp<'_>) -> Result<Self, DecoderError> {
        expect_fields(rlp, 3)?;
        Ok(Log {
            address: rlp.val_at(0)?,
            topics: list_of(&rlp.at(1)?)?,
            data: Bytes::copy_from_slice(rlp.at(2)?.data()?),
        })
    }
}

/// What a receipt says about its transaction's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReceiptOutcome {
    /// Since Byzantium: whether the transaction succeeded.
    Status(bool),
    /// Before Byzantium: the state root after the transaction.
    PostState(H256),
}

impl Default for ReceiptOutcome {
    fn default() -> Self {
        ReceiptOutcome::Status(true)
    }
}

impl Encodable for ReceiptOutcome {
    fn rlp_append(&self, s: &mut RlpStream) {
        match self {
            ReceiptOutcome::Status(ok) => u8::from(*ok).rlp_append(s),
            ReceiptOutcome::PostState(root) => root.rlp_append(s),
        }
    }
}

impl Decodable for ReceiptOutcome {
    fn decode(rlp: &Rlp<'_>) -> Result<Self, DecoderError> {
        rlp.decoder().decode_value(|bytes| match bytes {
            [] => Ok(ReceiptOutcome::Status(false)),
            [1] => Ok(ReceiptOutcome::Status(true)),
            b if b.len() == 32 => Ok(ReceiptOutcome::PostState(H256::from_slice(b))),
            _ => Err(DecoderError::Custom(
                "receipt status is neither 0, 1 nor a root",
            )),
        })
    }
}

/// A transaction receipt.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Receipt {
    /// The EIP-2718 type of the transaction (0 for legacy).
    pub tx_type: u8,
    /// Status or post-state root.
    pub outcome: ReceiptOutcome,
    /// Gas used in the block up to and including this transaction.
    pub cumulative_gas_used: u64,
    /// The logs emitted.
    pub logs: Vec<Log>,
}

impl Receipt {
    /// The bloom over this receipt's logs.
    pub fn bloom(&self) -> Bloom {
        let mut bloom = Bloom::default();
        for log in &self.logs {
            bloom.accrue(log.address.as_bytes());
            for topic in &log.topics {
                bloom.accrue(topic.as_bytes());
            }
        }
        bloom
    }

    /// The receipt with its bloom, as eth/68 sends it.
    pub fn with_bloom(self) -> ReceiptWithBloom {
        let bloom = self.bloom();
        ReceiptWithBloom {
            receipt: self,
            bloom,
        }
    }

    /// The receipt as the receipts trie holds it (and as it hashes into a
    /// header's `receipts_root`): `rlp([status, cumulative-gas, bloom,
    /// logs])`, preceded by the type byte for a typed transaction.
    pub fn consensus_encoding(&self) -> Vec<u8> {
        let mut s = RlpStream::new();
        self.append_consensus(&mut s, &self.bloom());
        let body = s.out();
        if self.tx_type == 0 {
            body.to_vec()
        } else {
            let mut out = Vec::with_capacity(1 + body.len());
            out.push(self.tx_type);
            out.extend_from_slice(&body);
            out
        }
    }

    /// The consensus body `[status, cumulative-gas, bloom, logs]`.
    fn append_consensus(&self, s: &mut RlpStream, bloom: &Bloom) {
        s.begin_list(4);
        s.append(&self.outcome);
        s.append(&self.cumulative_gas_used);
        s.append(bloom);
        crate::codec::append_list(s, &self.logs);
    }
}

/// An eth/69 receipt: `[tx-type, post-state-or-status, cumulative-gas,
/// logs]`, without bloom (EIP-7642: the receiver recomputes it).
impl Encodable for Receipt {
    fn rlp_append(&self, s: &mut RlpStream) {
        s.begin_list(4);
        s.append(&self.tx_type);
        s.append(&self.outcome);
        s.append(&self.cumulative_gas_used);
        crate::codec::append_list(s, &self.logs);
    }
}

impl Decodable for Receipt {
    fn decode(rlp: &Rlp<'_>) -> Result<Self, DecoderError> {
        expect_fields(rlp, 4)?;
        Ok(Receipt {
            tx_type: rlp.val_at(0)?,
            outcome: rlp.val_at(1)?,
            cumulative_gas_used: rlp.val_at(2)?,
            logs: list_of(&rlp.at(3)?)?,
        })
    }
}

/// An eth/68 receipt: a legacy RLP list, or `tx-type || rlp(list)` as a byte
/// string for a typed transaction's receipt, each carrying its bloom.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ReceiptWithBloom {
    /// The receipt.
    pub receipt: Receipt,
    /// The bloom as sent (a receiver checks it against the logs if it cares).
    pub bloom: Bloom,
}

impl Encodable for ReceiptWithBloom {
    fn rlp_append(&self, s: &mut RlpStream) {
        self.receipt.append_with_bloom(s, &self.bloom);
    }
}

impl Receipt {
    /// Writes the eth/68 form (with `bloom`) as one item: a list for a legacy
    /// receipt, `tx-type || rlp(list)` as a byte string for a typed one.
    pub(crate) fn append_with_bloom(&self, s: &mut RlpStream, bloom: &Bloom) {
        if self.tx_type == 0 {
            self.append_consensus(s, bloom);
        } else {
            let mut inner = RlpStream::new();
            self.append_consensus(&mut inner, bloom);
            let inner = inner.out();
            let mut typed = Vec::with_capacity(1 + inner.len());
            typed.push(self.tx_type);
            typed.extend_from_slice(&inner);
            s.encoder().encode_value(&typed);
        }
    }
}

/// A receipt written in the eth/68 form with its bloom computed on the way,
/// without cloning it into a [`ReceiptWithBloom`].
pub(crate) struct Eth68Receipt<'a>(pub &'a Receipt);

impl Encodable for Eth68Receipt<'_> {
    fn rlp_append(&self, s: &mut RlpStream) {
        self.0.append_with_bloom(s, &self.0.bloom());
    }
}

impl Decodable for ReceiptWithBloom {
    fn decode(rlp: &Rlp<'_>) -> Result<Self, DecoderError> {
        let (tx_type, body) = if rlp.is_list() {
            (0, rlp.clone())
        } else {
            let data = rlp.data()?;
            match data.split_first() {
                Some((t, rest)) if *t < 0x80 && *t != 0 => {
                    let inner = Rlp::new(rest);
                    crate::codec::check_whole(&inner, rest.len())?;
                    (*t, inner)
                }
                _ => return Err(DecoderError::Custom("bad typed receipt")),
            }
        };
        expect_fields(&body, 4)?;
        Ok(ReceiptWithBloom {
            receipt: Receipt {
                tx_type,
                outcome: body.val_at(0)?,
                cumulative_gas_used: body.val_at(1)?,
                logs: list_of(&body.at(3)?)?,
            },
            bloom: body.val_at(2)?,
        })
    }
}

/// The start of a header query: a block hash or a block number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HashOrNumber {
    /// By hash.
    Hash(H256),
    /// By number.
    Number(u64),
}

impl Encodable for HashOrNumber {
    fn rlp_append(&self, s: &mut RlpStream) {
        match self {
            HashOrNumber::Hash(hash) => hash.rlp_append(s),
            HashOrNumber::Number(n) => n.rlp_append(s),
        }
    }
}

impl Decodable for HashOrNumber {
    fn decode(rlp: &Rlp<'_>) -> Result<Self, DecoderError> {
        // A 32-byte string is a hash; anything up to 8 bytes a number.
        let len = rlp.data()?.len();
        if len == 32 {
            rlp.as_val().map(HashOrNumber::Hash)
        } else {
            rlp.as_val().map(HashOrNumber::Number)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex32(s: &str) -> H256 {
        H256::from_slice(&hex::decode(s).unwrap())
    }

    /// The mainnet genesis header, whose hash every client knows.
    pub(crate) fn mainnet_genesis() -> BlockHeader {
        BlockHeader {
            ommers_hash: EMPTY_OMMERS_HASH,
            state_root: hex32("d7f8974fb5ac78d9ac099b9ad5018bedc2ce0a72dad1827a1709da30580f0544"),
            transactions_root: EMPTY_ROOT_HASH,
            receipts_root: EMPTY_ROOT_HASH,
            difficulty: U256::from(0x4_0000_0000u64),
            gas_limit: 5000,
            extra_data: Bytes::from(
                hex::decode("11bbe8db4e347b4e8c937c1c8370e4b5ed33adb3db69cbdb7a38e1e50b1b82fa")
                    .unwrap(),
            ),
            nonce: 0x42u64.to_be_bytes(),
            ..BlockHeader::default()
        }
    }

    #[test]
    fn mainnet_genesis_hash() {
        assert_eq!(
            mainnet_genesis().hash(),
            hex32("d4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3")
        );
        assert_eq!(
            keccak256(&rlp::encode_list::<u8, u8>(&[])),
            EMPTY_OMMERS_HASH
        );
        assert_eq!(keccak256(&[0x80]), EMPTY_ROOT_HASH);
    }

    #[test]
    fn headers_of_every_fork_round_trip_and_gaps_are_not_encoded() {
        let mut header = mainnet_genesis();
        let mut lens = vec![];
        for step in 0..=8 {
            match step {
                1 => header.base_fee_per_gas = Some(U256::from(7)),
                2 => header.withdrawals_root = Some(EMPTY_ROOT_HASH),
                3 => header.blob_gas_used = Some(131072),
                4 => header.excess_blob_gas = Some(0),
                5 => header.parent_beacon_block_root = Some(H256::repeat_byte(9)),
                6 => header.requests_hash = Some(H256::repeat_byte(3)),
                7 => header.block_access_list_hash = Some(H256::repeat_byte(4)),
                8 => header.slot_number = Some(564),
                _ => {}
            }
            let bytes = rlp::encode(&header);
            lens.push(Rlp::new(&bytes).item_count().unwrap());
            assert_eq!(
                crate::codec::decode_exact::<BlockHeader>(&bytes),
                Ok(header.clone())
            );
        }
        assert_eq!(lens, vec![15, 16, 17, 18, 19, 20, 21, 22, 23]);
        // A later field without an earlier one cannot be encoded; it is cut.
        let mut gap = mainnet_genesis();
        gap.withdrawals_root = Some(EMPTY_ROOT_HASH);
        assert_eq!(Rlp::new(&rlp::encode(&gap)).item_count().unwrap(), 15);
    }

    #[test]
    fn headers_with_unknown_or_missing_fields_are_refused() {
        let header = mainnet_genesis();
        let mut s = RlpStream::new_list(24);
        for item in Rlp::new(&rlp::encode(&header)).iter() {
            s.append_raw(item.as_raw(), 1);
        }
        for _ in 15..24 {
            s.append(&0u8);
        }
        assert!(crate::codec::decode_exact::<BlockHeader>(&s.out()).is_err());
        let mut short = RlpStream::new_list(14);
        for item in Rlp::new(&rlp::encode(&header)).iter().take(14) {
            short.append_raw(item.as_raw(), 1);
        }
        assert!(crate::codec::decode_exact::<BlockHeader>(&short.out()).is_err());
    }

    #[test]
    fn transactions_keep_their_bytes_and_hash_their_canonical_form() {
        let legacy_list = rlp::encode_list::<u64, u64>(&[1, 2, 3, 4, 5, 6, 7, 8, 9]).freeze();
        let legacy = Transaction::legacy(legacy_list.clone()).unwrap();
        assert_eq!(legacy.tx_type(), 0);
        assert_eq!(legacy.hash(), keccak256(&legacy_list));
        let typed = Transaction::typed(2, &legacy_list).unwrap();
        assert_eq!(typed.tx_type(), 2);
        let mut canonical = vec![2];
        canonical.extend_from_slice(&legacy_list);
        assert_eq!(typed.hash(), keccak256(&canonical));
        assert_eq!(typed.announced_size() as usize, canonical.len());
        // Type bytes of 0x80 and above are not transactions (EIP-2718).
        assert!(Transaction::typed(0x80, b"x").is_err());
        assert!(Transaction::from_encoded(rlp::encode(&"").freeze()).is_err());
        // Decoding slices the owner's buffer instead of copying.
        let list = {
            let mut s = RlpStream::new_list(2);
            s.append(&legacy).append(&typed);
            s.out().freeze()
        };
        let first = Rlp::new(&list).at(0).unwrap();
        let tx = Transaction::decode_in(&first, &list).unwrap();
        assert_eq!(tx, legacy);
        assert_eq!(tx.encoded().as_ptr(), list[first_offset(&list)..].as_ptr());
    }

    fn first_offset(list: &[u8]) -> usize {
        Rlp::new(list).payload_info().unwrap().header_len
    }

    #[test]
    fn receipts_in_both_encodings() {
        let receipt = Receipt {
            tx_type: 2,
            outcome: ReceiptOutcome::Status(true),
            cumulative_gas_used: 21000,
            logs: vec![Log {
                address: Address::repeat_byte(0x11),
                topics: vec![H256::repeat_byte(0x22)],
                data: Bytes::from_static(b"data"),
            }],
        };
        let bloom = receipt.bloom();
        assert!(bloom.may_contain(Address::repeat_byte(0x11).as_bytes()));
        assert!(bloom.may_contain(H256::repeat_byte(0x22).as_bytes()));
        assert!(!bloom.may_contain(b"absent"));
        for r in [
            receipt.clone(),
            Receipt {
                tx_type: 0,
                ..receipt.clone()
            },
        ] {
            let with_bloom = r.clone().with_bloom();
            let bytes = rlp::encode(&with_bloom);
            assert_eq!(Rlp::new(&bytes).is_list(), r.tx_type == 0);
            assert_eq!(crate::codec::decode_exact(&bytes), Ok(with_bloom));
            assert_eq!(crate::codec::decode_exact(&rlp::encode(&r)), Ok(r));
        }
        let pre_byzantium = Receipt {
            outcome: ReceiptOutcome::PostState(H256::repeat_byte(1)),
            ..Receipt::default()
        };
        assert_eq!(
            crate::codec::decode_exact(&rlp::encode(&pre_byzantium)),
            Ok(pre_byzantium)
        );
    }

    #[test]
    fn hash_or_number_tells_them_apart_by_length() {
        for v in [
            HashOrNumber::Number(0),
            HashOrNumber::Number(u64::MAX),
            HashOrNumber::Hash(H256::repeat_byte(5)),
        ] {
            assert_eq!(crate::codec::decode_exact(&rlp::encode(&v)), Ok(v));
        }
        assert!(crate::codec::decode_exact::<HashOrNumber>(&rlp::encode(&vec![0u8; 9])).is_err());
    }
}
