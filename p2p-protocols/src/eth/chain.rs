//! A small chain held in memory, implementing [`EthHandler`]: for examples,
//! tests and benchmarks, and as the reference of what a handler does.
//!
//! It keeps one canonical chain (no forks, no state), a transaction pool, and
//! the last announcements received, so a test can see what peers told it.

use std::collections::{HashMap, VecDeque};
use std::sync::RwLock;

use bytes::Bytes;
use p2p_core::PeerId;
use primitive_types::{H256, U256};

use super::handler::{Announcement, EthHandler};
use super::handshake::ChainHead;
use super::types::{
    keccak256, BlockBody, BlockHeader, Log, Receipt, ReceiptOutcome, Transaction,
    EMPTY_OMMERS_HASH, EMPTY_ROOT_HASH,
};

/// How many announcements [`MemoryChain`] remembers (the oldest go first).
pub const ANNOUNCEMENTS_KEPT: usize = 1024;

/// The largest block a chain export may hold, in bytes. Blocks are bounded
/// by gas far below this; a length past it is a corrupt file, and nothing
/// is allocated for it.
pub const MAX_EXPORTED_BLOCK: usize = 64 << 20;

/// Why a block could not be added.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// The block's parent is not the head.
    #[error("block {number} does not extend the head")]
    NotOnHead {
        /// The block's number.
        number: u64,
    },
    /// No block has this hash.
    #[error("no block {hash:?}")]
    UnknownBlock {
        /// The hash asked for.
        hash: H256,
    },
    /// An exported chain held something that is not a block.
    #[error("block {index} of the export is malformed: {error}")]
    Malformed {
        /// Position of the item in the export, from 0.
        index: usize,
        /// What was wrong with it.
        error: rlp::DecoderError,
    },
    /// An exported chain could not be read, or ends inside a block, or
    /// declares a block larger than [`MAX_EXPORTED_BLOCK`].
    #[error("block {index} of the export cannot be read: {error}")]
    Read {
        /// Position of the item in the export, from 0.
        index: usize,
        /// What went wrong.
        error: String,
    },
}

#[derive(Debug, Default)]
struct Inner {
    /// Canonical hashes by number.
    canonical: Vec<H256>,
    headers: HashMap<H256, BlockHeader>,
    bodies: HashMap<H256, BlockBody>,
    receipts: HashMap<H256, Vec<Receipt>>,
    access_lists: HashMap<H256, Bytes>,
    total_difficulty: U256,
    pool: HashMap<H256, Transaction>,
    announcements: VecDeque<(PeerId, Announcement)>,
}

/// A chain in memory. All methods take `&self`; share it in an `Arc`.
#[derive(Debug)]
pub struct MemoryChain {
    inner: RwLock<Inner>,
}

impl MemoryChain {
    /// A chain holding only `genesis`.
    pub fn new(genesis: BlockHeader) -> Self {
        let hash = genesis.hash();
        let inner = Inner {
            canonical: vec![hash],
            total_difficulty: genesis.difficulty,
            headers: HashMap::from([(hash, genesis)]),
            bodies: HashMap::from([(hash, BlockBody::default())]),
            receipts: HashMap::from([(hash, vec![])]),
            ..Inner::default()
        };
        MemoryChain {
            inner: RwLock::new(inner),
        }
    }

    /// Ethereum mainnet's genesis header (hash `d4e56740…cb8fa3`).
    pub fn mainnet_genesis() -> BlockHeader {
        let hex32 = |s: &str| {
            let mut out = [0u8; 32];
            for (i, byte) in out.iter_mut().enumerate() {
                *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("constant hex");
            }
            H256(out)
        };
        BlockHeader {
            ommers_hash: EMPTY_OMMERS_HASH,
            state_root: hex32("d7f8974fb5ac78d9ac099b9ad5018bedc2ce0a72dad1827a1709da30580f0544"),
            transactions_root: EMPTY_ROOT_HASH,
            receipts_root: EMPTY_ROOT_HASH,
            difficulty: U256::from(0x4_0000_0000u64),
            gas_limit: 5000,
            extra_data: Bytes::copy_from_slice(
                hex32("11bbe8db4e347b4e8c937c1c8370e4b5ed33adb3db69cbdb7a38e1e50b1b82fa")
                    .as_bytes(),
            ),
            nonce: 0x42u64.to_be_bytes(),
            ..BlockHeader::default()
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        // A panic while holding the lock leaves plain data behind; keep
        // serving it rather than poisoning every peer.
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends a block on the head.
    pub fn push_block(
        &self,
        header: BlockHeader,
        body: BlockBody,
        receipts: Vec<Receipt>,
    ) -> Result<H256, ChainError> {
        self.insert_block(header, body, Some(receipts))
    }

    fn insert_block(
        &self,
        header: BlockHeader,
        body: BlockBody,
        receipts: Option<Vec<Receipt>>,
    ) -> Result<H256, ChainError> {
        let mut inner = self.write();
        let head = *inner.canonical.last().expect("genesis is always there");
        let head_number = inner.canonical.len() as u64 - 1;
        if header.parent_hash != head || header.number != head_number + 1 {
            return Err(ChainError::NotOnHead {
                number: header.number,
            });
        }
        let hash = header.hash();
        inner.total_difficulty = inner.total_difficulty.saturating_add(header.difficulty);
        inner.canonical.push(hash);
        inner.headers.insert(hash, header);
        inner.bodies.insert(hash, body);
        if let Some(receipts) = receipts {
            inner.receipts.insert(hash, receipts);
        }
        Ok(hash)
    }

    /// Appends the blocks of a chain export: RLP blocks one after another,
    /// from the block after our head on, which is what `geth export` writes
    /// and what go-ethereum's test suites ship as `chain.rlp`. Returns how
    /// many blocks were added.
    ///
    /// Receipts are not part of an export (they come from executing the
    /// blocks, which this chain does not do), so imported blocks have none
    /// to serve. Stops at the first block that does not decode or does not
    /// extend the head; the blocks before it stay.
    pub fn import_export(&self, export: &[u8]) -> Result<usize, ChainError> {
        self.import_reader(export, |_, _| {})
    }

    /// [`import_export`](Self::import_export) from a reader, one block at a
    /// time, so that a chain of any length is imported in the memory of
    /// its largest block. `progress` is told the blocks added and the bytes
    /// read after each block.
    pub fn import_reader(
        &self,
        mut reader: impl std::io::Read,
        mut progress: impl FnMut(usize, u64),
    ) -> Result<usize, ChainError> {
        let mut count = 0;
        let mut read = 0u64;
        loop {
            let index = count;
            let failed = |error: String| ChainError::Read { index, error };
            let mut prefix = [0u8; 9];
            match reader.read(&mut prefix[..1]) {
                Ok(0) => return Ok(count),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(failed(e.to_string())),
            }
            // A block is an RLP list: its header says how long it is.
            let (header_len, payload_len) = match prefix[0] {
                short @ 0xc0..=0xf7 => (1, usize::from(short - 0xc0)),
                long @ 0xf8..=0xff => {
                    let len_of_len = usize::from(long - 0xf7);
                    reader
                        .read_exact(&mut prefix[1..=len_of_len])
                        .map_err(|e| failed(e.to_string()))?;
                    let len = prefix[1..=len_of_len]
                        .iter()
                        .fold(0u64, |len, byte| len << 8 | u64::from(*byte));
                    (1 + len_of_len, usize::try_from(len).unwrap_or(usize::MAX))
                }
                _ => {
                    return Err(ChainError::Malformed {
                        index,
                        error: rlp::DecoderError::RlpExpectedToBeList,
                    })
                }
            };
            if payload_len > MAX_EXPORTED_BLOCK {
                return Err(failed(format!(
                    "{payload_len} bytes, more than {MAX_EXPORTED_BLOCK}"
                )));
            }
            let mut item = vec![0u8; header_len + payload_len];
            item[..header_len].copy_from_slice(&prefix[..header_len]);
            reader
                .read_exact(&mut item[header_len..])
                .map_err(|e| failed(e.to_string()))?;
            read += item.len() as u64;
            let owner = Bytes::from(item);
            let block = super::types::Block::decode_in(&rlp::Rlp::new(&owner), &owner)
                .map_err(|error| ChainError::Malformed { index, error })?;
            self.insert_block(block.header, block.body, None)?;
            count += 1;
            progress(count, read);
        }
    }

    /// Writes the blocks after the genesis, in order, as `geth export` does
    /// (RLP blocks one after another): what [`import_export`] and
    /// [`import_reader`] read. Returns how many blocks were written.
    ///
    /// [`import_export`]: Self::import_export
    /// [`import_reader`]: Self::import_reader
    pub fn export_to(&self, mut writer: impl std::io::Write) -> std::io::Result<u64> {
        let head = self.head_number();
        for number in 1..=head {
            let (Some(header), Some(body)) = (self.header_by_number(number), {
                let hash = self.read().canonical.get(number as usize).copied();
                hash.and_then(|hash| self.block_body(&hash))
            }) else {
                break;
            };
            writer.write_all(&rlp::encode(&super::types::Block { header, body }))?;
        }
        Ok(head)
    }

    /// Sets the receipts of block `hash`, such as ones fetched from a peer
    /// for an imported block (check them against the header's
    /// `receipts_root` first: see [`receipts_root`](super::roots::receipts_root)).
    pub fn set_receipts(&self, hash: H256, receipts: Vec<Receipt>) -> Result<(), ChainError> {
        let mut inner = self.write();
        if !inner.headers.contains_key(&hash) {
            return Err(ChainError::UnknownBlock { hash });
        }
        inner.receipts.insert(hash, receipts);
        Ok(())
    }

    /// Sets the access list of block `hash` (EIP-7928), as its RLP (check
    /// it against the header's `block_access_list_hash`, keccak256 of it).
    pub fn set_block_access_list(&self, hash: H256, access_list: Bytes) -> Result<(), ChainError> {
        let mut inner = self.write();
        if !inner.headers.contains_key(&hash) {
            return Err(ChainError::UnknownBlock { hash });
        }
        inner.access_lists.insert(hash, access_list);
        Ok(())
    }

    /// Appends `count` made-up blocks, each with `txs_per_block` legacy-shaped
    /// transactions and a receipt with one log per transaction. The content
    /// is deterministic, so two chains grown alike are equal. For tests,
    /// examples and benchmarks: the blocks are well-formed on the wire and
    /// their headers commit to their bodies and receipts (a fetched body or
    /// receipt list can be checked against the header), but they are not
    /// valid under consensus rules (the state root is made up).
    pub fn grow(&self, count: u64, txs_per_block: usize) {
        for _ in 0..count {
            let (parent, number, time) = {
                let inner = self.read();
                let parent = *inner.canonical.last().expect("genesis");
                let header = &inner.headers[&parent];
                (parent, header.number + 1, header.timestamp)
            };
            let transactions: Vec<Transaction> = (0..txs_per_block)
                .map(|i| made_up_transaction(number, i))
                .collect();
            let receipts: Vec<Receipt> = (0..txs_per_block)
                .map(|i| Receipt {
                    tx_type: 0,
                    outcome: ReceiptOutcome::Status(true),
                    cumulative_gas_used: 21_000 * (i as u64 + 1),
                    logs: vec![Log {
                        address: keccak256(&number.to_be_bytes()).into(),
                        topics: vec![keccak256(&(i as u64).to_be_bytes())],
                        data: Bytes::from(vec![0xab; 32]),
                    }],
                })
                .collect();
            let mut bloom = super::types::Bloom::default();
            for receipt in &receipts {
                for (a, b) in bloom.0.iter_mut().zip(receipt.bloom().0) {
                    *a |= b;
                }
            }
            let header = BlockHeader {
                parent_hash: parent,
                ommers_hash: EMPTY_OMMERS_HASH,
                state_root: keccak256(&number.to_le_bytes()),
                transactions_root: super::roots::transactions_root(&transactions),
                receipts_root: super::roots::receipts_root(&receipts),
                logs_bloom: bloom,
                difficulty: U256::from(131_072u64),
                number,
                gas_limit: 30_000_000,
                gas_used: 21_000 * txs_per_block as u64,
                timestamp: time + 12,
                extra_data: Bytes::from_static(b"p2p-protocols memory chain"),
                base_fee_per_gas: Some(U256::from(7u64)),
                ..BlockHeader::default()
            };
            let body = BlockBody {
                transactions,
                ommers: vec![],
                withdrawals: None,
            };
            self.push_block(header, body, receipts)
                .expect("grown on the head");
        }
    }

    /// Adds a transaction to the pool; returns its hash.
    pub fn add_pooled_transaction(&self, tx: Transaction) -> H256 {
        let hash = tx.hash();
        self.write().pool.insert(hash, tx);
        hash
    }

    /// The head block number.
    pub fn head_number(&self) -> u64 {
        self.read().canonical.len() as u64 - 1
    }

    /// The genesis hash.
    pub fn genesis_hash(&self) -> H256 {
        self.read().canonical[0]
    }

    /// The announcements received, oldest first (at most
    /// [`ANNOUNCEMENTS_KEPT`]).
    pub fn announcements(&self) -> Vec<(PeerId, Announcement)> {
        self.read().announcements.iter().cloned().collect()
    }
}

/// A legacy-shaped transaction unique to `(number, index)`.
pub fn made_up_transaction(number: u64, index: usize) -> Transaction {
    let mut s = rlp::RlpStream::new_list(9);
    s.append(&(index as u64)); // nonce
    s.append(&1_000_000_000u64); // gas price
    s.append(&21_000u64); // gas limit
    s.append(&keccak256(&number.to_be_bytes()).as_bytes()[..20].to_vec()); // to
    s.append(&number); // value
    s.append(&Vec::<u8>::new()); // data
    s.append(&27u8); // v
    s.append(&keccak256(&[number.to_be_bytes(), (index as u64).to_be_bytes()].concat()).as_bytes()); // r
    s.append(&keccak256(&(index as u64).to_be_bytes()).as_bytes()); // s
    Transaction::legacy(s.out().freeze()).expect("a list")
}

impl EthHandler for MemoryChain {
    fn head(&self) -> ChainHead {
        let inner = self.read();
        let hash = *inner.canonical.last().expect("genesis");
        let header = &inner.headers[&hash];
        ChainHead {
            number: header.number,
            hash,
            timestamp: header.timestamp,
            total_difficulty: inner.total_difficulty,
            earliest: 0,
        }
    }

    fn header_by_number(&self, number: u64) -> Option<BlockHeader> {
        let inner = self.read();
        let hash = inner.canonical.get(usize::try_from(number).ok()?)?;
        inner.headers.get(hash).cloned()
    }

    fn header_by_hash(&self, hash: &H256) -> Option<BlockHeader> {
        self.read().headers.get(hash).cloned()
    }

    fn block_body(&self, hash: &H256) -> Option<BlockBody> {
        self.read().bodies.get(hash).cloned()
    }

    fn receipts(&self, hash: &H256) -> Option<Vec<Receipt>> {
        self.read().receipts.get(hash).cloned()
    }

    fn pooled_transaction(&self, hash: &H256) -> Option<Transaction> {
        self.read().pool.get(hash).cloned()
    }

    fn block_access_list(&self, hash: &H256) -> Option<Bytes> {
        self.read().access_lists.get(hash).cloned()
    }

    fn on_announcement(&self, peer: PeerId, announcement: Announcement) {
        let mut inner = self.write();
        if inner.announcements.len() == ANNOUNCEMENTS_KEPT {
            inner.announcements.pop_front();
        }
        inner.announcements.push_back((peer, announcement));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eth::handler::{serve_bodies, serve_headers, serve_receipts};
    use crate::eth::messages::{limits, EthMessage, GetBlockHeaders, HashesRequest};
    use crate::eth::types::HashOrNumber;
    use crate::eth::EthVersion;

    fn decode(version: EthVersion, msg: p2p_core::Msg) -> EthMessage {
        EthMessage::decode(version, msg.code, &msg.payload).unwrap()
    }

    fn numbers(msg: EthMessage) -> Vec<u64> {
        match msg {
            EthMessage::BlockHeaders(res) => res.headers.iter().map(|h| h.number).collect(),
            other => panic!("not headers: {other:?}"),
        }
    }

    fn query(start: HashOrNumber, limit: u64, skip: u64, reverse: bool) -> GetBlockHeaders {
        GetBlockHeaders {
            request_id: 9,
            start,
            limit,
            skip,
            reverse,
        }
    }

    #[test]
    fn header_queries_walk_the_chain_as_asked() {
        let chain = MemoryChain::new(MemoryChain::mainnet_genesis());
        chain.grow(20, 1);
        let v = EthVersion::Eth68;
        let n = HashOrNumber::Number;
        assert_eq!(
            numbers(decode(v, serve_headers(&chain, &query(n(3), 4, 0, false)))),
            vec![3, 4, 5, 6]
        );
        assert_eq!(
            numbers(decode(v, serve_headers(&chain, &query(n(10), 4, 2, true)))),
            vec![10, 7, 4, 1]
        );
        // Stops at genesis and at the head.
        assert_eq!(
            numbers(decode(v, serve_headers(&chain, &query(n(1), 5, 0, true)))),
            vec![1, 0]
        );
        assert_eq!(
            numbers(decode(v, serve_headers(&chain, &query(n(19), 5, 0, false)))),
            vec![19, 20]
        );
        // A huge skip neither overflows nor loops.
        assert_eq!(
            numbers(decode(
                v,
                serve_headers(&chain, &query(n(5), 3, u64::MAX, false))
            )),
            vec![5]
        );
        let hash = chain.header_by_number(8).unwrap().hash();
        assert_eq!(
            numbers(decode(
                v,
                serve_headers(&chain, &query(HashOrNumber::Hash(hash), 2, 0, false))
            )),
            vec![8, 9]
        );
        assert!(numbers(decode(v, serve_headers(&chain, &query(n(21), 1, 0, false)))).is_empty());
    }

    #[test]
    fn serving_caps_counts_and_bytes() {
        let chain = MemoryChain::new(MemoryChain::mainnet_genesis());
        chain.grow(1100, 0);
        let headers = numbers(decode(
            EthVersion::Eth69,
            serve_headers(&chain, &query(HashOrNumber::Number(0), u64::MAX, 0, false)),
        ));
        assert_eq!(headers.len(), limits::MAX_HEADERS_SERVE);

        // Bodies of ~80 KiB each: the 2 MiB soft limit cuts the answer just
        // after crossing it.
        let chain = MemoryChain::new(MemoryChain::mainnet_genesis());
        chain.grow(40, 700);
        let hashes: Vec<H256> = (1..=40)
            .map(|n| chain.header_by_number(n).unwrap().hash())
            .collect();
        let msg = serve_bodies(
            &chain,
            &HashesRequest {
                request_id: 1,
                hashes: hashes.clone(),
            },
        );
        let one = rlp::encode(&chain.block_body(&hashes[0]).unwrap()).len();
        let EthMessage::BlockBodies(res) = decode(EthVersion::Eth68, msg.clone()) else {
            panic!("not bodies")
        };
        assert_eq!(res.bodies.len(), limits::SOFT_RESPONSE_SIZE.div_ceil(one));
        assert!(msg.payload.len() >= limits::SOFT_RESPONSE_SIZE);
        assert!(msg.payload.len() < limits::SOFT_RESPONSE_SIZE + one + 16);
        assert_eq!(res.bodies[0], chain.block_body(&hashes[0]).unwrap());

        // Receipts in both forms; unknown blocks are skipped.
        let mut asked = hashes[..2].to_vec();
        asked.insert(1, H256::repeat_byte(0xee));
        let request = HashesRequest {
            request_id: 2,
            hashes: asked,
        };
        let EthMessage::Receipts68(r68) = decode(
            EthVersion::Eth68,
            serve_receipts(&chain, EthVersion::Eth68, &request),
        ) else {
            panic!("not eth/68 receipts")
        };
        let EthMessage::Receipts69(r69) = decode(
            EthVersion::Eth69,
            serve_receipts(&chain, EthVersion::Eth69, &request),
        ) else {
            panic!("not eth/69 receipts")
        };
        assert_eq!(r69.receipts.len(), 2);
        assert_eq!(r69.receipts[0], chain.receipts(&hashes[0]).unwrap());
        let with_blooms: Vec<Receipt> = r68.receipts[1].iter().map(|r| r.receipt.clone()).collect();
        assert_eq!(with_blooms, chain.receipts(&hashes[1]).unwrap());
        assert!(r68.receipts[1].iter().all(|r| r.bloom == r.receipt.bloom()));
    }

    /// The chain's blocks after genesis, as `geth export` writes them.
    fn export(chain: &MemoryChain) -> Vec<u8> {
        let mut out = Vec::new();
        chain.export_to(&mut out).unwrap();
        out
    }

    #[test]
    fn an_export_imports_into_a_chain_of_the_same_genesis() {
        let source = MemoryChain::new(MemoryChain::mainnet_genesis());
        source.grow(30, 3);
        let copy = MemoryChain::new(MemoryChain::mainnet_genesis());
        assert_eq!(copy.import_export(&export(&source)), Ok(30));
        assert_eq!(copy.head(), source.head());
        let hash = source.header_by_number(17).unwrap().hash();
        assert_eq!(copy.block_body(&hash), source.block_body(&hash));
        // An export has no receipts: none are made up for it. They can be
        // set afterwards, for known blocks only.
        assert_eq!(copy.receipts(&hash), None);
        let receipts = source.receipts(&hash).unwrap();
        copy.set_receipts(hash, receipts.clone()).unwrap();
        assert_eq!(copy.receipts(&hash), Some(receipts.clone()));
        assert_eq!(
            copy.set_receipts(H256::repeat_byte(1), receipts),
            Err(ChainError::UnknownBlock {
                hash: H256::repeat_byte(1)
            })
        );
    }

    #[test]
    fn an_export_streams_in_with_progress_after_each_block() {
        let source = MemoryChain::new(MemoryChain::mainnet_genesis());
        source.grow(7, 2);
        let bytes = export(&source);
        let copy = MemoryChain::new(MemoryChain::mainnet_genesis());
        let mut seen = Vec::new();
        // A reader that hands out a few bytes at a time, as a pipe might.
        struct Trickle<'a>(&'a [u8]);
        impl std::io::Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = buf.len().min(self.0.len()).min(5);
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let count = copy
            .import_reader(Trickle(&bytes), |blocks, read| seen.push((blocks, read)))
            .unwrap();
        assert_eq!(count, 7);
        assert_eq!(copy.head(), source.head());
        assert_eq!(seen.len(), 7);
        assert_eq!(seen.last(), Some(&(7, bytes.len() as u64)));
    }

    #[test]
    fn a_broken_export_stops_at_the_broken_block() {
        let source = MemoryChain::new(MemoryChain::mainnet_genesis());
        source.grow(5, 1);
        let bytes = export(&source);
        // Cut inside the last block: four blocks are in, the fifth is short.
        let copy = MemoryChain::new(MemoryChain::mainnet_genesis());
        let err = copy.import_export(&bytes[..bytes.len() - 3]).unwrap_err();
        assert!(matches!(err, ChainError::Read { index: 4, .. }), "{err}");
        assert_eq!(copy.head_number(), 4);
        // A block declaring more than any block holds is refused before
        // anything is allocated for it.
        let huge = [0xfb, 0x7f, 0xff, 0xff, 0xff];
        let empty = MemoryChain::new(MemoryChain::mainnet_genesis());
        assert!(matches!(
            empty.import_export(&huge),
            Err(ChainError::Read { index: 0, .. })
        ));
        // Something that is not a list is not a block.
        assert!(matches!(
            empty.import_export(&[0x83, 1, 2, 3]),
            Err(ChainError::Malformed { index: 0, .. })
        ));
        // Blocks of another chain do not extend ours.
        let other = MemoryChain::new(BlockHeader {
            number: 0,
            ..BlockHeader::default()
        });
        assert_eq!(
            other.import_export(&bytes),
            Err(ChainError::NotOnHead { number: 1 })
        );
        // A header claiming more bytes than there are is refused, not read past.
        let short = [0xf9, 0xff, 0xff, 0xc0];
        assert!(matches!(
            copy.import_export(&short),
            Err(ChainError::Read { index: 0, .. })
        ));
    }

    #[test]
    fn eth70_receipts_continue_from_an_index_and_stop_where_the_message_is_full() {
        use crate::eth::handler::serve_receipts70;
        use crate::eth::messages::GetReceipts70;
        let chain = MemoryChain::new(MemoryChain::mainnet_genesis());
        chain.grow(3, 4);
        let hash = |n| chain.header_by_number(n).unwrap().hash();
        let ask = |first, hashes: Vec<H256>| {
            let msg = serve_receipts70(
                &chain,
                &GetReceipts70 {
                    request_id: 5,
                    first_block_receipt_index: first,
                    hashes,
                },
            );
            match decode(EthVersion::Eth70, msg) {
                EthMessage::Receipts70(res) => res,
                other => panic!("{other:?}"),
            }
        };
        // From index 3 of the first block, the next block whole.
        let res = ask(3, vec![hash(1), hash(2)]);
        assert!(!res.last_block_incomplete);
        assert_eq!(res.receipts[0], chain.receipts(&hash(1)).unwrap()[3..]);
        assert_eq!(res.receipts[1], chain.receipts(&hash(2)).unwrap());
        // An unknown block ends the answer (positions must stay aligned).
        let res = ask(0, vec![hash(1), H256::repeat_byte(9), hash(3)]);
        assert_eq!(res.receipts.len(), 1);

        // A block of 3 MiB receipts after one of 9 MiB: the second is cut.
        let big = |count: usize, size: usize| -> Vec<Receipt> {
            (0..count)
                .map(|i| Receipt {
                    tx_type: 2,
                    outcome: ReceiptOutcome::Status(true),
                    cumulative_gas_used: i as u64,
                    logs: vec![Log {
                        address: Default::default(),
                        topics: vec![],
                        data: Bytes::from(vec![1u8; size]),
                    }],
                })
                .collect()
        };
        chain.set_receipts(hash(1), big(9, 1 << 20)).unwrap();
        chain.set_receipts(hash(2), big(3, 1 << 20)).unwrap();
        let res = ask(0, vec![hash(1), hash(2)]);
        // The soft limit is passed after the first block, so it ends there
        // whole; asked alone, the second comes after it.
        assert_eq!(res.receipts.len(), 1);
        assert!(!res.last_block_incomplete);
        chain.set_receipts(hash(1), big(12, 1 << 20)).unwrap();
        let res = ask(0, vec![hash(1), hash(2)]);
        assert!(res.last_block_incomplete);
        assert_eq!(res.receipts.len(), 1);
        let sent = res.receipts[0].len();
        assert!((1..12).contains(&sent), "{sent}");
        let rest = ask(sent as u64, vec![hash(1), hash(2)]);
        assert!(!rest.last_block_incomplete);
        assert_eq!(rest.receipts[0].len(), 12 - sent);
        // A single receipt over the limit cannot be sent at all.
        chain
            .set_receipts(hash(3), big(1, limits::MAX_MESSAGE_SIZE))
            .unwrap();
        let res = ask(0, vec![hash(3)]);
        assert!(res.receipts.is_empty() && !res.last_block_incomplete);
    }
}
