//! Every eth/68 and eth/69 message: encode/decode round trips, and hostile
//! input (truncation, trailing bytes, wrong types, oversized lists, codes the
//! version lacks) refused with an error, never a panic.

use bytes::Bytes;
use p2p_protocols::codec::MessageError;
use p2p_protocols::eth::chain::made_up_transaction;
use p2p_protocols::eth::messages::{
    code, limits, AnnouncedTransaction, BlockAccessLists, BlockBodies, BlockHashNumber,
    BlockHeaders, BlockRange, EthMessage, GetBlockHeaders, GetReceipts70, HashesRequest, NewBlock,
    NewPooledTransactionHashes, PooledTransactions, Receipts68, Receipts69, Receipts70, Status,
    StatusHead,
};
use p2p_protocols::eth::types::{
    Block, BlockBody, BlockHeader, Bloom, HashOrNumber, Log, Receipt, ReceiptOutcome, Transaction,
    Withdrawal,
};
use p2p_protocols::eth::EthVersion;
use p2p_protocols::forkid::ForkId;
use primitive_types::{H160, H256, U256};
use proptest::prelude::*;
use rlp::RlpStream;

fn header(number: u64) -> BlockHeader {
    BlockHeader {
        parent_hash: H256::repeat_byte(1),
        ommers_hash: H256::repeat_byte(2),
        beneficiary: H160::repeat_byte(3),
        state_root: H256::repeat_byte(4),
        transactions_root: H256::repeat_byte(5),
        receipts_root: H256::repeat_byte(6),
        logs_bloom: Bloom([7; 256]),
        difficulty: U256::from(131_072u64),
        number,
        gas_limit: 30_000_000,
        gas_used: 12_345_678,
        timestamp: 1_700_000_000 + number,
        extra_data: Bytes::from_static(b"extra"),
        mix_hash: H256::repeat_byte(8),
        nonce: [9; 8],
        base_fee_per_gas: Some(U256::from(1_000_000_000u64)),
        withdrawals_root: Some(H256::repeat_byte(10)),
        blob_gas_used: Some(131_072),
        excess_blob_gas: Some(0),
        parent_beacon_block_root: Some(H256::repeat_byte(11)),
        requests_hash: None,
        block_access_list_hash: None,
        slot_number: None,
    }
}

fn typed_tx(i: u8) -> Transaction {
    Transaction::typed(2, &rlp::encode_list::<u64, u64>(&[u64::from(i), 2, 3])).unwrap()
}

fn receipt(tx_type: u8) -> Receipt {
    Receipt {
        tx_type,
        outcome: ReceiptOutcome::Status(tx_type != 1),
        cumulative_gas_used: 42_000,
        logs: vec![Log {
            address: H160::repeat_byte(0x42),
            topics: vec![H256::repeat_byte(1), H256::repeat_byte(2)],
            data: Bytes::from_static(b"log data"),
        }],
    }
}

fn fork_id() -> ForkId {
    ForkId {
        hash: [0xfc, 0x64, 0xec, 0x04],
        next: 1_150_000,
    }
}

/// One sample of every message the version defines.
fn samples(version: EthVersion) -> Vec<EthMessage> {
    let body = BlockBody {
        transactions: vec![made_up_transaction(1, 0), typed_tx(1)],
        ommers: vec![header(3)],
        withdrawals: Some(vec![Withdrawal {
            index: 1,
            validator_index: 2,
            address: H160::repeat_byte(5),
            amount: 32_000_000_000,
        }]),
    };
    let hashes = HashesRequest {
        request_id: 7,
        hashes: vec![H256::repeat_byte(1), H256::repeat_byte(2)],
    };
    let mut all = vec![
        EthMessage::Transactions(vec![made_up_transaction(2, 1), typed_tx(2)]),
        EthMessage::GetBlockHeaders(GetBlockHeaders {
            request_id: u64::MAX,
            start: HashOrNumber::Hash(H256::repeat_byte(9)),
            limit: 192,
            skip: 0,
            reverse: true,
        }),
        EthMessage::GetBlockHeaders(GetBlockHeaders {
            request_id: 0,
            start: HashOrNumber::Number(17_000_000),
            limit: 1,
            skip: 5,
            reverse: false,
        }),
        EthMessage::BlockHeaders(BlockHeaders {
            request_id: 1,
            headers: vec![header(1), header(2)],
        }),
        EthMessage::BlockHeaders(BlockHeaders {
            request_id: 2,
            headers: vec![],
        }),
        EthMessage::GetBlockBodies(hashes.clone()),
        EthMessage::BlockBodies(BlockBodies {
            request_id: 3,
            bodies: vec![body.clone(), BlockBody::default()],
        }),
        EthMessage::NewPooledTransactionHashes(NewPooledTransactionHashes {
            entries: vec![
                AnnouncedTransaction {
                    tx_type: 0,
                    size: 110,
                    hash: H256::repeat_byte(1),
                },
                AnnouncedTransaction {
                    tx_type: 3,
                    size: 131_300,
                    hash: H256::repeat_byte(2),
                },
            ],
        }),
        EthMessage::GetPooledTransactions(hashes.clone()),
        EthMessage::PooledTransactions(PooledTransactions {
            request_id: 4,
            transactions: vec![typed_tx(3), made_up_transaction(3, 3)],
        }),
    ];
    let status69 = |version: u32| {
        EthMessage::Status(Status {
            version,
            network_id: 11_155_111,
            genesis: H256::repeat_byte(0xd4),
            fork_id: fork_id(),
            head: StatusHead::Range(BlockRange {
                earliest: 0,
                latest: 22_000_000,
                latest_hash: H256::repeat_byte(0x22),
            }),
        })
    };
    let range_update = EthMessage::BlockRangeUpdate(BlockRange {
        earliest: 100,
        latest: 200,
        latest_hash: H256::repeat_byte(0x20),
    });
    if version.has_partial_receipts() {
        all.extend([
            EthMessage::GetReceipts70(GetReceipts70 {
                request_id: 8,
                first_block_receipt_index: 3,
                hashes: hashes.hashes.clone(),
            }),
            EthMessage::Receipts70(Receipts70 {
                request_id: 8,
                last_block_incomplete: true,
                receipts: vec![vec![receipt(1)], vec![receipt(0), receipt(3)]],
            }),
            EthMessage::Receipts70(Receipts70 {
                request_id: 9,
                last_block_incomplete: false,
                receipts: vec![],
            }),
        ]);
    } else {
        all.push(EthMessage::GetReceipts(hashes.clone()));
    }
    if version.has_block_access_lists() {
        all.extend([
            EthMessage::GetBlockAccessLists(hashes.clone()),
            EthMessage::BlockAccessLists(BlockAccessLists {
                request_id: 10,
                lists: vec![
                    Some(Bytes::from_static(&[0xc0])),
                    None,
                    Some(Bytes::from(
                        rlp::encode_list::<u64, u64>(&[1, 2, 3]).to_vec(),
                    )),
                ],
            }),
        ]);
    }
    match version {
        EthVersion::Eth68 => all.extend([
            EthMessage::Status(Status {
                version: 68,
                network_id: 1,
                genesis: H256::repeat_byte(0xd4),
                fork_id: fork_id(),
                head: StatusHead::TotalDifficulty {
                    total_difficulty: U256::from(17_179_869_184u64) << 40,
                    best_hash: H256::repeat_byte(0xbe),
                },
            }),
            EthMessage::NewBlockHashes(vec![BlockHashNumber {
                hash: H256::repeat_byte(1),
                number: 10,
            }]),
            EthMessage::NewBlock(Box::new(NewBlock {
                block: Block {
                    header: header(4),
                    body,
                },
                total_difficulty: U256::from(1_000_000u64),
            })),
            EthMessage::Receipts68(Receipts68 {
                request_id: 5,
                receipts: vec![
                    vec![receipt(0).with_bloom(), receipt(2).with_bloom()],
                    vec![],
                ],
            }),
        ]),
        EthVersion::Eth69 => all.extend([
            status69(69),
            EthMessage::Receipts69(Receipts69 {
                request_id: 6,
                receipts: vec![vec![receipt(0), receipt(1), receipt(3)], vec![]],
            }),
            range_update,
        ]),
        EthVersion::Eth70 | EthVersion::Eth71 => {
            all.extend([status69(version.number()), range_update])
        }
    }
    all
}

fn decode(version: EthVersion, code: u64, payload: &[u8]) -> Result<EthMessage, MessageError> {
    EthMessage::decode(version, code, &Bytes::copy_from_slice(payload))
}

#[test]
fn every_message_round_trips_in_every_version() {
    for version in EthVersion::ALL {
        let samples = samples(version);
        let codes: std::collections::BTreeSet<u64> = samples.iter().map(EthMessage::code).collect();
        let expected = match version {
            EthVersion::Eth68 => 13,
            EthVersion::Eth69 | EthVersion::Eth70 => 12,
            EthVersion::Eth71 => 14,
        };
        assert_eq!(codes.len(), expected, "{version:?} covers every message");
        for message in samples {
            assert!(message.is_defined_in(version));
            let payload = message.encode_payload();
            assert_eq!(
                EthMessage::decode(version, message.code(), &payload).as_ref(),
                Ok(&message),
                "{version:?} {message:?}"
            );
        }
    }
}

#[test]
fn wire_layouts_match_the_spec() {
    // GetBlockHeaders by number: [reqid, [origin, amount, skip, reverse]].
    let get = EthMessage::GetBlockHeaders(GetBlockHeaders {
        request_id: 1,
        start: HashOrNumber::Number(0x10),
        limit: 2,
        skip: 0,
        reverse: false,
    });
    assert_eq!(hex::encode(get.encode_payload()), "c601c410028080");
    // eth/69 Status: [version, networkid, genesis, forkid, earliest, latest, latesthash].
    let status = samples(EthVersion::Eth69)
        .into_iter()
        .find(|m| m.code() == code::STATUS)
        .unwrap();
    let payload = status.encode_payload();
    let rlp = rlp::Rlp::new(&payload);
    assert_eq!(rlp.item_count().unwrap(), 7);
    assert_eq!(rlp.val_at::<u32>(0).unwrap(), 69);
    assert_eq!(rlp.at(3).unwrap().item_count().unwrap(), 2);
    // eth/69 receipts carry the type first and no bloom.
    let receipts = rlp::encode(&receipt(2));
    let r = rlp::Rlp::new(&receipts);
    assert_eq!(r.item_count().unwrap(), 4);
    assert_eq!(r.val_at::<u8>(0).unwrap(), 2);
    // eth/68 typed receipts are byte strings starting with the type.
    let typed = rlp::encode(&receipt(2).with_bloom());
    let r = rlp::Rlp::new(&typed);
    assert!(r.is_data());
    assert_eq!(r.data().unwrap()[0], 2);
}

#[test]
fn truncated_and_extended_payloads_are_refused() {
    for version in EthVersion::ALL {
        for message in samples(version) {
            let payload = message.encode_payload();
            for len in 0..payload.len() {
                assert!(
                    decode(version, message.code(), &payload[..len]).is_err(),
                    "{version:?} {message:?} cut at {len}"
                );
            }
            let mut longer = payload.to_vec();
            longer.push(0x80);
            assert!(decode(version, message.code(), &longer).is_err());
        }
    }
}

#[test]
fn wrong_types_are_refused() {
    let string = rlp::encode(&"not a list").to_vec();
    let empty_list = rlp::encode_list::<u8, u8>(&[]).to_vec();
    for version in EthVersion::ALL {
        for code in [
            code::STATUS,
            code::GET_BLOCK_HEADERS,
            code::BLOCK_HEADERS,
            code::GET_BLOCK_BODIES,
            code::BLOCK_BODIES,
            code::NEW_POOLED_TRANSACTION_HASHES,
            code::GET_POOLED_TRANSACTIONS,
            code::POOLED_TRANSACTIONS,
            code::GET_RECEIPTS,
            code::RECEIPTS,
        ] {
            assert!(
                decode(version, code, &string).is_err(),
                "{version:?} {code}"
            );
            assert!(
                decode(version, code, &empty_list).is_err(),
                "{version:?} {code}"
            );
        }
    }
    // A 31-byte hash, a 9-byte request id, a typed transaction of type 0x80.
    let short_hash = {
        let mut s = RlpStream::new_list(2);
        s.append(&1u8);
        s.begin_list(1).append(&vec![0u8; 31]);
        s.out()
    };
    assert!(decode(EthVersion::Eth69, code::GET_BLOCK_BODIES, &short_hash).is_err());
    let big_id = {
        let mut s = RlpStream::new_list(2);
        s.append(&vec![1u8; 9]);
        s.begin_list(0);
        s.out()
    };
    assert!(decode(EthVersion::Eth69, code::GET_RECEIPTS, &big_id).is_err());
    let bad_tx = {
        let mut s = RlpStream::new_list(1);
        s.append(&vec![0x80u8, 1, 2]);
        s.out()
    };
    assert!(decode(EthVersion::Eth69, code::TRANSACTIONS, &bad_tx).is_err());
    // Announcement lists of different lengths.
    let uneven = {
        let mut s = RlpStream::new_list(3);
        s.append(&vec![2u8, 2]);
        s.append_list(&[100u32]);
        s.append_list(&[H256::zero(), H256::zero()]);
        s.out()
    };
    assert!(decode(
        EthVersion::Eth68,
        code::NEW_POOLED_TRANSACTION_HASHES,
        &uneven
    )
    .is_err());
}

#[test]
fn codes_a_version_lacks_are_unknown() {
    let payload = rlp::encode_list::<u8, u8>(&[]).to_vec();
    for (version, code) in [
        (EthVersion::Eth69, code::NEW_BLOCK_HASHES),
        (EthVersion::Eth69, code::NEW_BLOCK),
        (EthVersion::Eth68, code::BLOCK_RANGE_UPDATE),
        (EthVersion::Eth68, 0x0d),
        (EthVersion::Eth69, 0x0e),
        (EthVersion::Eth69, 0x12),
        (EthVersion::Eth70, code::GET_BLOCK_ACCESS_LISTS),
        (EthVersion::Eth70, code::BLOCK_ACCESS_LISTS),
        (EthVersion::Eth71, 0x14),
        (EthVersion::Eth71, code::NEW_BLOCK),
    ] {
        assert!(
            matches!(
                decode(version, code, &payload),
                Err(MessageError::UnknownCode { .. })
            ),
            "{version:?} {code:#x}"
        );
    }
}

#[test]
fn eth70_receipts_and_eth71_access_lists_are_read_strictly() {
    // An eth/69 GetReceipts (two fields) is not an eth/70 one (three).
    let eth69_request = EthMessage::GetReceipts(HashesRequest {
        request_id: 1,
        hashes: vec![H256::repeat_byte(1)],
    })
    .encode_payload();
    assert!(decode(EthVersion::Eth70, code::GET_RECEIPTS, &eth69_request).is_err());
    let eth69 = decode(EthVersion::Eth69, code::GET_RECEIPTS, &eth69_request).unwrap();
    assert_eq!(eth69.encode_payload(), eth69_request);
    // The incomplete flag is a boolean: 2 is not one.
    let mut s = RlpStream::new_list(3);
    s.append(&1u64).append(&2u8).begin_list(0);
    assert!(decode(EthVersion::Eth70, code::RECEIPTS, &s.out()).is_err());
    // An access list entry is a list or the empty string; a non-empty
    // string is neither.
    let mut s = RlpStream::new_list(2);
    s.append(&1u64).begin_list(2);
    s.append_empty_data().append(&b"not a list".to_vec());
    assert!(matches!(
        decode(EthVersion::Eth71, code::BLOCK_ACCESS_LISTS, &s.out()),
        Err(MessageError::Malformed { .. })
    ));
    // More entries than any response holds end the peer.
    let mut s = RlpStream::new_list(2);
    s.append(&1u64).begin_list(limits::MAX_RESPONSE_ITEMS + 1);
    for _ in 0..=limits::MAX_RESPONSE_ITEMS {
        s.append_empty_data();
    }
    assert!(matches!(
        decode(EthVersion::Eth71, code::BLOCK_ACCESS_LISTS, &s.out()),
        Err(MessageError::TooManyItems { .. })
    ));
    // An access list is kept as the bytes sent, a slice of the message.
    let list = rlp::encode_list::<u64, u64>(&[5, 6]);
    let mut s = RlpStream::new_list(2);
    s.append(&1u64).begin_list(1);
    s.append_raw(&list, 1);
    let payload = Bytes::from(s.out().to_vec());
    let Ok(EthMessage::BlockAccessLists(res)) =
        EthMessage::decode(EthVersion::Eth71, code::BLOCK_ACCESS_LISTS, &payload)
    else {
        panic!("access lists");
    };
    let kept = res.lists[0].as_ref().unwrap();
    assert_eq!(&kept[..], &list[..]);
    assert!(payload.as_ptr_range().contains(&kept.as_ptr()));
}

fn hash_list(request_id: u64, count: usize) -> Vec<u8> {
    let mut s = RlpStream::new_list(2);
    s.append(&request_id);
    s.begin_list(count);
    for i in 0..count {
        s.append(&H256::from_low_u64_be(i as u64));
    }
    s.out().to_vec()
}

#[test]
fn lists_over_the_limits_are_refused() {
    let v = EthVersion::Eth69;
    // At each limit the whole list is read, every item as sent.
    let at_limit = hash_list(1, limits::MAX_REQUEST_HASHES);
    let expected = EthMessage::GetBlockBodies(HashesRequest {
        request_id: 1,
        hashes: (0..limits::MAX_REQUEST_HASHES)
            .map(|i| H256::from_low_u64_be(i as u64))
            .collect(),
    });
    assert_eq!(
        decode(v, code::GET_BLOCK_BODIES, &at_limit).unwrap(),
        expected
    );
    let over = hash_list(1, limits::MAX_REQUEST_HASHES + 1);
    assert!(matches!(
        decode(v, code::GET_BLOCK_BODIES, &over),
        Err(MessageError::TooManyItems { .. })
    ));

    let announce = |n: usize| {
        EthMessage::NewPooledTransactionHashes(NewPooledTransactionHashes {
            entries: (0..n)
                .map(|i| AnnouncedTransaction {
                    tx_type: (i % 3) as u8,
                    size: 200 + i as u32,
                    hash: H256::from_low_u64_be(i as u64),
                })
                .collect(),
        })
    };
    let full = announce(4096);
    assert_eq!(
        decode(
            v,
            code::NEW_POOLED_TRANSACTION_HASHES,
            &full.encode_payload()
        )
        .unwrap(),
        full
    );
    assert!(matches!(
        decode(
            v,
            code::NEW_POOLED_TRANSACTION_HASHES,
            &announce(4097).encode_payload()
        ),
        Err(MessageError::TooManyItems { .. })
    ));

    let headers = |n: u64| {
        EthMessage::BlockHeaders(BlockHeaders {
            request_id: 1,
            headers: (0..n).map(header).collect(),
        })
    };
    let full = headers(1024);
    assert_eq!(
        decode(v, code::BLOCK_HEADERS, &full.encode_payload()).unwrap(),
        full
    );
    assert!(matches!(
        decode(v, code::BLOCK_HEADERS, &headers(1025).encode_payload()),
        Err(MessageError::TooManyItems { .. })
    ));
}

#[test]
fn decoded_transactions_share_the_message_buffer() {
    let message = EthMessage::Transactions((0..100).map(typed_tx).collect());
    let payload = message.encode_payload();
    let EthMessage::Transactions(txs) =
        EthMessage::decode(EthVersion::Eth68, code::TRANSACTIONS, &payload).unwrap()
    else {
        panic!("not transactions")
    };
    let range = payload.as_ptr() as usize..payload.as_ptr() as usize + payload.len();
    assert!(txs
        .iter()
        .all(|tx| range.contains(&(tx.encoded().as_ptr() as usize))));
}

proptest! {
    #[test]
    fn header_queries_round_trip(id: u64, start_hash: bool, n: u64, limit: u64, skip: u64, reverse: bool) {
        let start = if start_hash { HashOrNumber::Hash(H256::from_low_u64_be(n)) } else { HashOrNumber::Number(n) };
        let message = EthMessage::GetBlockHeaders(GetBlockHeaders { request_id: id, start, limit, skip, reverse });
        let payload = message.encode_payload();
        prop_assert_eq!(EthMessage::decode(EthVersion::Eth69, code::GET_BLOCK_HEADERS, &payload), Ok(message));
    }

    #[test]
    fn announcements_round_trip(entries in proptest::collection::vec((0u8..0x80, any::<u32>(), any::<[u8; 32]>()), 0..64)) {
        let message = EthMessage::NewPooledTransactionHashes(NewPooledTransactionHashes {
            entries: entries.into_iter().map(|(tx_type, size, hash)| AnnouncedTransaction { tx_type, size, hash: H256(hash) }).collect(),
        });
        let payload = message.encode_payload();
        prop_assert_eq!(EthMessage::decode(EthVersion::Eth68, code::NEW_POOLED_TRANSACTION_HASHES, &payload), Ok(message));
    }

    #[test]
    fn headers_of_any_content_round_trip(number: u64, gas: u64, extra in proptest::collection::vec(any::<u8>(), 0..40), forks in 0usize..=8, difficulty: [u8; 32]) {
        let mut h = header(number);
        h.gas_used = gas;
        h.extra_data = Bytes::from(extra);
        h.difficulty = U256::from_big_endian(&difficulty);
        if forks >= 7 { h.block_access_list_hash = Some(H256::repeat_byte(13)); }
        if forks >= 8 { h.slot_number = Some(number / 2); }
        if forks < 6 { h.requests_hash = None; } else { h.requests_hash = Some(H256::repeat_byte(12)); }
        if forks < 5 { h.parent_beacon_block_root = None; }
        if forks < 4 { h.excess_blob_gas = None; }
        if forks < 3 { h.blob_gas_used = None; }
        if forks < 2 { h.withdrawals_root = None; }
        if forks < 1 { h.base_fee_per_gas = None; }
        let message = EthMessage::BlockHeaders(BlockHeaders { request_id: number, headers: vec![h] });
        let payload = message.encode_payload();
        prop_assert_eq!(EthMessage::decode(EthVersion::Eth69, code::BLOCK_HEADERS, &payload), Ok(message));
    }

    /// Arbitrary bytes under every code: an error or a message, never a panic.
    #[test]
    fn arbitrary_payloads_never_panic(code in 0u64..0x13, bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        for version in EthVersion::ALL {
            let _ = decode(version, code, &bytes);
        }
    }
}
