//! `snap/1` messages: round trips, hostile payloads, and serving within the
//! response size limits.

use bytes::Bytes;
use p2p_protocols::codec::MessageError;
use p2p_protocols::snap::{
    self, AccountEntry, AccountRange, ByteCodes, GetAccountRange, GetByteCodes, GetStorageRanges,
    GetTrieNodes, MemorySnapState, SlimAccount, SnapHandler, SnapMessage, StorageRanges,
    StorageSlot, TrieNodePathSet, TrieNodes, MAX_BYTECODE_HASHES, MAX_PROOF_NODES, MAX_RANGE_ITEMS,
    MAX_REQUEST_ITEMS, MAX_RESPONSE_BYTES, MAX_STORAGE_ACCOUNTS, MAX_TRIE_NODE_PATHS,
};
use primitive_types::{H256, U256};
use proptest::prelude::*;
use rlp::RlpStream;

fn hash(n: u64) -> H256 {
    H256::from_low_u64_be(n)
}

fn account(n: u64) -> SlimAccount {
    SlimAccount {
        nonce: n,
        balance: U256::from(n) << 100,
        storage_root: (n % 2 == 0).then(|| hash(n + 1_000_000)),
        code_hash: (n % 3 == 0).then(|| hash(n + 2_000_000)),
    }
}

fn bytes(data: &[u8]) -> Bytes {
    Bytes::copy_from_slice(data)
}

/// One message of every kind, with content in every field.
fn samples() -> Vec<SnapMessage> {
    vec![
        GetAccountRange {
            request_id: 1,
            root_hash: hash(0xaa),
            starting_hash: hash(5),
            limit_hash: H256::repeat_byte(0xff),
            response_bytes: 512 * 1024,
        }
        .into(),
        AccountRange {
            request_id: u64::MAX,
            accounts: (0..5)
                .map(|n| AccountEntry {
                    hash: hash(n),
                    account: account(n),
                })
                .collect(),
            proof: vec![bytes(&[0xc0]), bytes(&[7; 100])],
        }
        .into(),
        GetStorageRanges {
            request_id: 3,
            root_hash: hash(0xaa),
            account_hashes: vec![hash(1), hash(2)],
            starting_hash: Some(hash(9)),
            limit_hash: None,
            response_bytes: 1,
        }
        .into(),
        StorageRanges {
            request_id: 4,
            slots: vec![
                vec![
                    StorageSlot {
                        hash: hash(1),
                        data: bytes(&[0x01]),
                    },
                    StorageSlot {
                        hash: hash(2),
                        data: bytes(&[0x82, 0x01, 0x00]),
                    },
                ],
                vec![],
            ],
            proof: vec![bytes(&[1, 2, 3])],
        }
        .into(),
        GetByteCodes {
            request_id: 5,
            hashes: vec![hash(1), snap::EMPTY_CODE_HASH],
            response_bytes: 0,
        }
        .into(),
        ByteCodes {
            request_id: 6,
            codes: vec![bytes(&[0x60, 0x80]), Bytes::new(), bytes(&[0; 300])],
        }
        .into(),
        GetTrieNodes {
            request_id: 7,
            root_hash: hash(0xaa),
            paths: vec![
                TrieNodePathSet::account(bytes(&[0x00])),
                TrieNodePathSet {
                    account_path: bytes(&[0x11; 32]),
                    storage_paths: vec![bytes(&[0x00]), bytes(&[0x1a, 0xbc])],
                },
            ],
            response_bytes: 1 << 40,
        }
        .into(),
        TrieNodes {
            request_id: 8,
            nodes: vec![bytes(&[0xc2, 0x80, 0x80]), bytes(&[0xaa; 60])],
        }
        .into(),
    ]
}

fn malformed(result: Result<SnapMessage, MessageError>) -> bool {
    matches!(result, Err(MessageError::Malformed { .. }))
}

#[test]
fn every_message_round_trips() {
    let samples = samples();
    for (code, message) in samples.iter().enumerate() {
        assert_eq!(message.code(), code as u64);
        let payload = message.encode();
        assert_eq!(
            SnapMessage::decode(message.code(), &payload).as_ref(),
            Ok(message)
        );
        assert_eq!(
            SnapMessage::from_msg(&message.to_msg()).as_ref(),
            Ok(message)
        );
        assert_eq!(message.is_request(), code % 2 == 0);
        assert_eq!(message.request_id(), [1, u64::MAX, 3, 4, 5, 6, 7, 8][code]);
    }
}

#[test]
fn layouts_are_the_ones_clients_speak() {
    // GetByteCodes: [reqID, [hash], bytes].
    let request = SnapMessage::from(GetByteCodes {
        request_id: 1,
        hashes: vec![H256::repeat_byte(0xab)],
        response_bytes: 0x80,
    });
    let mut expected = vec![0xe5, 0x01, 0xe1, 0xa0];
    expected.extend([0xab; 32]);
    expected.extend([0x81, 0x80]);
    assert_eq!(request.encode()[..], expected[..]);

    // An account is [hash, [nonce, balance, "", ""]]: the body nested as a
    // list, the empty hashes as empty strings.
    let response = SnapMessage::from(AccountRange {
        request_id: 2,
        accounts: vec![AccountEntry {
            hash: H256::zero(),
            account: SlimAccount {
                nonce: 1,
                balance: U256::from(2),
                storage_root: None,
                code_hash: None,
            },
        }],
        proof: vec![],
    });
    let mut expected = vec![0xea, 0x02, 0xe7, 0xe6, 0xa0];
    expected.extend([0; 32]);
    expected.extend([0xc4, 0x01, 0x02, 0x80, 0x80, 0xc0]);
    assert_eq!(response.encode()[..], expected[..]);

    // Storage ranges: empty origin and limit are empty strings.
    let request = SnapMessage::from(GetStorageRanges {
        request_id: 1,
        root_hash: H256::zero(),
        account_hashes: vec![],
        starting_hash: None,
        limit_hash: None,
        response_bytes: 1,
    });
    let mut expected = vec![0xe6, 0x01, 0xa0];
    expected.extend([0; 32]);
    expected.extend([0xc0, 0x80, 0x80, 0x01]);
    assert_eq!(request.encode()[..], expected[..]);
}

#[test]
fn unknown_codes_are_refused() {
    for code in [8, 9, 0x10, u64::MAX] {
        assert_eq!(
            SnapMessage::decode(code, &[0xc1, 0x01]),
            Err(MessageError::UnknownCode {
                code,
                capability: "snap/1".into()
            })
        );
    }
}

#[test]
fn trailing_bytes_are_refused() {
    for message in samples() {
        let mut payload = message.encode().to_vec();
        payload.push(0x00);
        assert!(
            malformed(SnapMessage::decode(message.code(), &payload)),
            "{message:?}"
        );
    }
}

#[test]
fn truncated_payloads_are_refused() {
    for message in samples() {
        let payload = message.encode();
        for len in 0..payload.len() {
            assert!(
                malformed(SnapMessage::decode(message.code(), &payload[..len])),
                "{message:?} cut to {len}"
            );
        }
    }
}

#[test]
fn a_payload_decoded_as_another_message_is_refused() {
    // Each payload read under every other code: the layouts differ enough
    // that none passes for another, but for ByteCodes and TrieNodes, which
    // are both a list of strings.
    let alike =
        |a: u64, b: u64| a == b || (a.min(b), a.max(b)) == (snap::BYTE_CODES, snap::TRIE_NODES);
    for message in samples() {
        let payload = message.encode();
        for code in (0..8).filter(|code| !alike(*code, message.code())) {
            assert!(
                malformed(SnapMessage::decode(code, &payload)),
                "{message:?} as {code}"
            );
        }
    }
}

/// A message list built by hand.
fn list(items: &[&[u8]]) -> Vec<u8> {
    let mut s = RlpStream::new_list(items.len());
    for item in items {
        s.append_raw(item, 1);
    }
    s.out().to_vec()
}

fn enc<T: rlp::Encodable>(value: &T) -> Vec<u8> {
    rlp::encode(value).to_vec()
}

#[test]
fn wrong_types_and_field_counts_are_refused() {
    let id = enc(&1u64);
    let root = enc(&hash(1));
    let bytes_limit = enc(&100u64);
    let hashes = rlp::encode_list(&[hash(1)]).to_vec();

    // The well-formed request, then variations of it.
    let good = list(&[&id, &hashes, &bytes_limit]);
    assert!(SnapMessage::decode(snap::GET_BYTE_CODES, &good).is_ok());
    for bad in [
        // A string where the hash list belongs.
        list(&[&id, &enc(&hash(1)), &bytes_limit]),
        // A list where the request id belongs.
        list(&[&hashes, &hashes, &bytes_limit]),
        // A field missing, a field extra.
        list(&[&id, &hashes]),
        list(&[&id, &hashes, &bytes_limit, &bytes_limit]),
        // A short hash in the list.
        list(&[
            &id,
            &rlp::encode_list::<Vec<u8>, Vec<u8>>(&[vec![1u8; 31]]),
            &bytes_limit,
        ]),
        // A request id with a leading zero.
        list(&[&[0x82, 0x00, 0x01], &hashes, &bytes_limit]),
        // Not a list at all.
        enc(&hash(1)),
    ] {
        assert!(
            malformed(SnapMessage::decode(snap::GET_BYTE_CODES, &bad)),
            "{bad:02x?}"
        );
    }

    // An account body as a byte string wrapping its RLP, as the spec's `B`
    // notation might be read: refused, no client sends it.
    let body = enc(&account(1));
    let entry = list(&[&enc(&hash(1)), &enc(&body)]);
    let range = list(&[&id, &list(&[&entry]), &list(&[])]);
    assert!(malformed(SnapMessage::decode(snap::ACCOUNT_RANGE, &range)));
    // The same with the body nested is fine.
    let entry = list(&[&enc(&hash(1)), &body]);
    let range = list(&[&id, &list(&[&entry]), &list(&[])]);
    assert!(SnapMessage::decode(snap::ACCOUNT_RANGE, &range).is_ok());

    // A storage origin neither empty nor 32 bytes.
    let request = list(&[
        &id,
        &root,
        &hashes,
        &enc(&vec![0u8; 31]),
        &[0x80],
        &bytes_limit,
    ]);
    assert!(malformed(SnapMessage::decode(
        snap::GET_STORAGE_RANGES,
        &request
    )));

    // A trie node path set without an account path.
    let request = list(&[&id, &root, &list(&[&list(&[])]), &bytes_limit]);
    assert!(malformed(SnapMessage::decode(
        snap::GET_TRIE_NODES,
        &request
    )));

    // A slim account with five fields.
    let five = list(&[&[0x01], &[0x02], &[0x80], &[0x80], &[0x80]]);
    let entry = list(&[&enc(&hash(1)), &five]);
    let range = list(&[&id, &list(&[&entry]), &list(&[])]);
    assert!(malformed(SnapMessage::decode(snap::ACCOUNT_RANGE, &range)));
}

#[test]
fn a_list_with_a_broken_tail_is_refused() {
    // The code list holds one code and then a string header whose byte is
    // missing; the outer lengths are all consistent.
    let id = enc(&1u64);
    let codes = [0xc3, 0x81, 0xff, 0x81];
    let payload = list(&[&id, &codes]);
    assert!(malformed(SnapMessage::decode(snap::BYTE_CODES, &payload)));
}

fn too_many(result: Result<SnapMessage, MessageError>, code: u64, count: usize, limit: usize) {
    assert_eq!(
        result,
        Err(MessageError::TooManyItems { code, count, limit })
    );
}

#[test]
fn request_lists_over_their_limits_are_refused() {
    let hashes = |n: usize| (0..n as u64).map(hash).collect::<Vec<_>>();

    // Requests for more than is served decode (serving answers a prefix, as
    // go-ethereum does); only lists past MAX_REQUEST_ITEMS are refused.
    let at_limit = GetByteCodes {
        request_id: 1,
        hashes: hashes(MAX_REQUEST_ITEMS),
        response_bytes: 1,
    };
    assert_eq!(
        SnapMessage::decode(snap::GET_BYTE_CODES, &rlp::encode(&at_limit)).unwrap(),
        SnapMessage::from(at_limit.clone())
    );
    let over = GetByteCodes {
        hashes: hashes(MAX_REQUEST_ITEMS + 1),
        ..at_limit
    };
    too_many(
        SnapMessage::decode(snap::GET_BYTE_CODES, &rlp::encode(&over)),
        snap::GET_BYTE_CODES,
        MAX_REQUEST_ITEMS + 1,
        MAX_REQUEST_ITEMS,
    );

    let mut over = GetStorageRanges {
        request_id: 1,
        root_hash: hash(1),
        account_hashes: hashes(MAX_REQUEST_ITEMS + 1),
        starting_hash: None,
        limit_hash: None,
        response_bytes: 1,
    };
    too_many(
        SnapMessage::decode(snap::GET_STORAGE_RANGES, &rlp::encode(&over)),
        snap::GET_STORAGE_RANGES,
        MAX_REQUEST_ITEMS + 1,
        MAX_REQUEST_ITEMS,
    );
    over.account_hashes.truncate(MAX_STORAGE_ACCOUNTS + 1);
    assert_eq!(
        SnapMessage::decode(snap::GET_STORAGE_RANGES, &rlp::encode(&over)).unwrap(),
        SnapMessage::from(over.clone())
    );

    // Trie node paths count over all sets: 4 sets of 4097 paths are 16,388.
    let set = TrieNodePathSet {
        account_path: bytes(&[1]),
        storage_paths: vec![bytes(&[2]); 4096],
    };
    let mut request = GetTrieNodes {
        request_id: 1,
        root_hash: hash(1),
        paths: vec![set.clone(); 4],
        response_bytes: 1,
    };
    too_many(
        SnapMessage::decode(snap::GET_TRIE_NODES, &rlp::encode(&request)),
        snap::GET_TRIE_NODES,
        16_388,
        MAX_REQUEST_ITEMS,
    );
    request.paths[3].storage_paths.truncate(4092);
    assert_eq!(
        SnapMessage::decode(snap::GET_TRIE_NODES, &rlp::encode(&request)).unwrap(),
        SnapMessage::from(request.clone())
    );
}

#[test]
fn response_lists_over_their_limits_are_refused() {
    let over = ByteCodes {
        request_id: 1,
        codes: vec![Bytes::new(); MAX_BYTECODE_HASHES + 1],
    };
    too_many(
        SnapMessage::decode(snap::BYTE_CODES, &rlp::encode(&over)),
        snap::BYTE_CODES,
        MAX_BYTECODE_HASHES + 1,
        MAX_BYTECODE_HASHES,
    );

    let over = TrieNodes {
        request_id: 1,
        nodes: vec![Bytes::new(); MAX_TRIE_NODE_PATHS + 1],
    };
    too_many(
        SnapMessage::decode(snap::TRIE_NODES, &rlp::encode(&over)),
        snap::TRIE_NODES,
        MAX_TRIE_NODE_PATHS + 1,
        MAX_TRIE_NODE_PATHS,
    );

    let over = AccountRange {
        request_id: 1,
        accounts: vec![],
        proof: vec![Bytes::new(); MAX_PROOF_NODES + 1],
    };
    too_many(
        SnapMessage::decode(snap::ACCOUNT_RANGE, &rlp::encode(&over)),
        snap::ACCOUNT_RANGE,
        MAX_PROOF_NODES + 1,
        MAX_PROOF_NODES,
    );

    // Slots count over all lists: two lists of half the limit and one more.
    let slot = StorageSlot {
        hash: hash(1),
        data: bytes(&[1]),
    };
    let mut over = StorageRanges {
        request_id: 1,
        slots: vec![
            vec![slot.clone(); MAX_RANGE_ITEMS / 2],
            vec![slot.clone(); MAX_RANGE_ITEMS / 2 + 1],
        ],
        proof: vec![],
    };
    too_many(
        SnapMessage::decode(snap::STORAGE_RANGES, &rlp::encode(&over)),
        snap::STORAGE_RANGES,
        MAX_RANGE_ITEMS + 1,
        MAX_RANGE_ITEMS,
    );
    over.slots[1].pop();
    assert_eq!(
        SnapMessage::decode(snap::STORAGE_RANGES, &rlp::encode(&over)).unwrap(),
        SnapMessage::from(over.clone())
    );

    let over = StorageRanges {
        request_id: 1,
        slots: vec![vec![]; MAX_STORAGE_ACCOUNTS + 1],
        proof: vec![],
    };
    too_many(
        SnapMessage::decode(snap::STORAGE_RANGES, &rlp::encode(&over)),
        snap::STORAGE_RANGES,
        MAX_STORAGE_ACCOUNTS + 1,
        MAX_STORAGE_ACCOUNTS,
    );
}

fn arb_hash() -> impl Strategy<Value = H256> {
    any::<[u8; 32]>().prop_map(H256)
}

fn arb_bytes(max: usize) -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 0..max).prop_map(Bytes::from)
}

fn arb_account() -> impl Strategy<Value = SlimAccount> {
    (
        any::<u64>(),
        any::<[u8; 32]>(),
        proptest::option::of(arb_hash()),
        proptest::option::of(arb_hash()),
    )
        .prop_map(|(nonce, balance, storage_root, code_hash)| SlimAccount {
            nonce,
            balance: U256::from_big_endian(&balance),
            storage_root,
            code_hash,
        })
}

proptest! {
    #[test]
    fn account_ranges_round_trip(
        request_id in any::<u64>(),
        accounts in proptest::collection::vec((arb_hash(), arb_account()), 0..20),
        proof in proptest::collection::vec(arb_bytes(80), 0..8),
    ) {
        let message = SnapMessage::from(AccountRange {
            request_id,
            accounts: accounts
                .into_iter()
                .map(|(hash, account)| AccountEntry { hash, account })
                .collect(),
            proof,
        });
        let payload = message.encode();
        prop_assert_eq!(SnapMessage::decode(snap::ACCOUNT_RANGE, &payload), Ok(message));
    }

    #[test]
    fn storage_requests_round_trip(
        request_id in any::<u64>(),
        root_hash in arb_hash(),
        account_hashes in proptest::collection::vec(arb_hash(), 0..20),
        starting_hash in proptest::option::of(arb_hash()),
        limit_hash in proptest::option::of(arb_hash()),
        response_bytes in any::<u64>(),
    ) {
        let message = SnapMessage::from(GetStorageRanges {
            request_id,
            root_hash,
            account_hashes,
            starting_hash,
            limit_hash,
            response_bytes,
        });
        let payload = message.encode();
        prop_assert_eq!(SnapMessage::decode(snap::GET_STORAGE_RANGES, &payload), Ok(message));
    }

    #[test]
    fn storage_ranges_round_trip(
        request_id in any::<u64>(),
        slots in proptest::collection::vec(
            proptest::collection::vec((arb_hash(), arb_bytes(40)), 0..6),
            0..6,
        ),
        proof in proptest::collection::vec(arb_bytes(80), 0..4),
    ) {
        let message = SnapMessage::from(StorageRanges {
            request_id,
            slots: slots
                .into_iter()
                .map(|list| {
                    list.into_iter()
                        .map(|(hash, data)| StorageSlot { hash, data })
                        .collect()
                })
                .collect(),
            proof,
        });
        let payload = message.encode();
        prop_assert_eq!(SnapMessage::decode(snap::STORAGE_RANGES, &payload), Ok(message));
    }

    #[test]
    fn trie_node_requests_round_trip(
        request_id in any::<u64>(),
        root_hash in arb_hash(),
        sets in proptest::collection::vec(
            (arb_bytes(33), proptest::collection::vec(arb_bytes(33), 0..5)),
            0..8,
        ),
        response_bytes in any::<u64>(),
    ) {
        let message = SnapMessage::from(GetTrieNodes {
            request_id,
            root_hash,
            paths: sets
                .into_iter()
                .map(|(account_path, storage_paths)| TrieNodePathSet {
                    account_path,
                    storage_paths,
                })
                .collect(),
            response_bytes,
        });
        let payload = message.encode();
        prop_assert_eq!(SnapMessage::decode(snap::GET_TRIE_NODES, &payload), Ok(message));
    }

    #[test]
    fn arbitrary_payloads_never_panic(code in 0u64..9, payload in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = SnapMessage::decode(code, &payload);
    }
}

// ---------------------------------------------------------------------------
// Serving.

const ROOT: H256 = H256([0xaa; 32]);

/// `n` accounts at hashes 1, 2, ..., each with a storage root and a code
/// hash, so about 110 bytes each.
fn state_with_accounts(n: u64) -> MemorySnapState {
    let mut state = MemorySnapState::new(ROOT);
    for i in 1..=n {
        state.insert_account(
            hash(i),
            SlimAccount {
                nonce: i,
                balance: U256::from(i),
                storage_root: Some(hash(i)),
                code_hash: Some(hash(i)),
            },
        );
    }
    state
}

fn account_request(starting_hash: H256, limit_hash: H256, response_bytes: u64) -> GetAccountRange {
    GetAccountRange {
        request_id: 77,
        root_hash: ROOT,
        starting_hash,
        limit_hash,
        response_bytes,
    }
}

fn weight(accounts: &[AccountEntry]) -> usize {
    accounts.iter().map(AccountEntry::encoded_len).sum()
}

/// Wraps a state, returns every item whatever the budget, and proves a range
/// with one node naming its last item, so a test can see which range the
/// proof was asked for.
struct Greedy(MemorySnapState);

fn proof_of(origin: H256, last: Option<H256>) -> Vec<Bytes> {
    let mut node = origin.as_bytes().to_vec();
    node.extend(last.unwrap_or_default().as_bytes());
    vec![node.into()]
}

impl SnapHandler for Greedy {
    fn account_range(
        &self,
        root: H256,
        origin: H256,
        _limit: H256,
        _budget: usize,
    ) -> Option<Vec<AccountEntry>> {
        self.0
            .account_range(root, origin, H256::repeat_byte(0xff), usize::MAX)
    }

    fn account_proof(&self, _root: H256, origin: H256, last: Option<H256>) -> Vec<Bytes> {
        proof_of(origin, last)
    }

    fn storage_range(
        &self,
        root: H256,
        account: H256,
        origin: H256,
        _limit: H256,
        _budget: usize,
    ) -> Option<Vec<StorageSlot>> {
        self.0
            .storage_range(root, account, origin, H256::repeat_byte(0xff), usize::MAX)
    }

    fn storage_proof(
        &self,
        _root: H256,
        _account: H256,
        origin: H256,
        last: Option<H256>,
    ) -> Vec<Bytes> {
        proof_of(origin, last)
    }

    fn bytecodes(&self, hashes: &[H256], _budget: usize) -> Vec<Bytes> {
        self.0.bytecodes(hashes, usize::MAX)
    }

    fn trie_nodes(
        &self,
        root: H256,
        paths: &[TrieNodePathSet],
        _budget: usize,
    ) -> Option<Vec<Bytes>> {
        self.0.trie_nodes(root, paths, usize::MAX)
    }
}

#[test]
fn account_ranges_stop_at_the_budget_with_at_least_one_account() {
    let state = state_with_accounts(1000);
    let all = H256::repeat_byte(0xff);
    let one = weight(&state.account_range(ROOT, hash(1), all, 0).unwrap());

    for handler in [&state as &dyn SnapHandler, &Greedy(state.clone())] {
        // Nothing asked: still one account.
        let response = snap::serve_account_range(handler, &account_request(H256::zero(), all, 0));
        assert_eq!(response.request_id, 77);
        assert_eq!(response.accounts.len(), 1);

        // Ten and a half accounts' worth: the eleventh crosses the budget and
        // is the last.
        let budget = one * 10 + one / 2;
        let response =
            snap::serve_account_range(handler, &account_request(H256::zero(), all, budget as u64));
        assert_eq!(response.accounts.len(), 11);
        let hashes: Vec<H256> = response.accounts.iter().map(|a| a.hash).collect();
        assert_eq!(hashes, (1..=11).map(hash).collect::<Vec<_>>());
    }

    // The proof is asked for the range as cut, not as the handler gave it.
    let response = snap::serve_account_range(
        &Greedy(state.clone()),
        &account_request(hash(3), all, (one * 2) as u64),
    );
    assert_eq!(response.accounts.len(), 2);
    assert_eq!(response.proof, proof_of(hash(3), Some(hash(4))));
}

#[test]
fn huge_account_budgets_are_clamped() {
    // About 3 MiB of accounts.
    let state = state_with_accounts(30_000);
    let all = H256::repeat_byte(0xff);
    let response = snap::serve_account_range(&state, &account_request(H256::zero(), all, u64::MAX));
    let size = weight(&response.accounts);
    let largest = response
        .accounts
        .iter()
        .map(AccountEntry::encoded_len)
        .max()
        .unwrap();
    assert!(size >= MAX_RESPONSE_BYTES, "{size}");
    assert!(size < MAX_RESPONSE_BYTES + largest, "{size}");
    assert!(response.accounts.len() < 30_000);
    // And the response is a message a peer accepts.
    let message = SnapMessage::from(response);
    assert_eq!(
        SnapMessage::decode(snap::ACCOUNT_RANGE, &message.encode()).unwrap(),
        message
    );
}

#[test]
fn account_ranges_end_after_the_limit_and_prove_only_partial_ranges() {
    let state = Greedy(state_with_accounts(20));
    let all = H256::repeat_byte(0xff);

    // The whole state from zero: no proof.
    let response = snap::serve_account_range(&state, &account_request(H256::zero(), all, 1 << 20));
    assert_eq!(response.accounts.len(), 20);
    assert!(response.proof.is_empty());

    // Up to a limit at an account: it is the last.
    let response = snap::serve_account_range(&state, &account_request(hash(2), hash(5), 1 << 20));
    let hashes: Vec<H256> = response.accounts.iter().map(|a| a.hash).collect();
    assert_eq!(hashes, (2..=5).map(hash).collect::<Vec<_>>());
    assert_eq!(response.proof, proof_of(hash(2), Some(hash(5))));

    // Up to a limit between accounts: the first account past it is included,
    // so that the proof covers the whole span up to the limit.
    let mut sparse = MemorySnapState::new(ROOT);
    for i in 1..=5 {
        sparse.insert_account(hash(i * 10), account(i));
    }
    let response = snap::serve_account_range(
        &Greedy(sparse),
        &account_request(hash(15), hash(25), 1 << 20),
    );
    let hashes: Vec<H256> = response.accounts.iter().map(|a| a.hash).collect();
    assert_eq!(hashes, vec![hash(20), hash(30)]);
    assert_eq!(response.proof, proof_of(hash(15), Some(hash(30))));

    // Past every account: no accounts, a proof of absence.
    let response = snap::serve_account_range(&state, &account_request(hash(21), all, 1 << 20));
    assert!(response.accounts.is_empty());
    assert_eq!(response.proof, proof_of(hash(21), None));

    // An unknown root: nothing at all.
    let mut request = account_request(H256::zero(), all, 1 << 20);
    request.root_hash = hash(1);
    let response = snap::serve_account_range(&state, &request);
    assert_eq!(
        response,
        AccountRange {
            request_id: 77,
            ..AccountRange::default()
        }
    );
}

fn storage_state() -> MemorySnapState {
    let mut state = state_with_accounts(10);
    // Account 1: 100 slots of 100 bytes; account 2: 3 small slots; account
    // 3: no storage.
    for slot in 1..=100 {
        state.insert_storage(hash(1), hash(slot), vec![0x42; 100]);
    }
    for slot in 1..=3 {
        state.insert_storage(hash(2), hash(slot), vec![slot as u8]);
    }
    state
}

fn storage_request(
    accounts: &[u64],
    origin: Option<H256>,
    response_bytes: u64,
) -> GetStorageRanges {
    GetStorageRanges {
        request_id: 9,
        root_hash: ROOT,
        account_hashes: accounts.iter().copied().map(hash).collect(),
        starting_hash: origin,
        limit_hash: None,
        response_bytes,
    }
}

#[test]
fn storage_ranges_serve_whole_accounts_then_cut_and_prove_the_last() {
    let state = Greedy(storage_state());
    let slot_len = StorageSlot {
        hash: hash(1),
        data: bytes(&[0x42; 100]),
    }
    .encoded_len();

    // Small accounts whole, in the order asked, no proof.
    let response = snap::serve_storage_ranges(&state, &storage_request(&[2, 3], None, 1 << 20));
    assert_eq!(response.request_id, 9);
    assert_eq!(response.slots.len(), 2);
    assert_eq!(response.slots[0].len(), 3);
    assert!(response.slots[1].is_empty());
    assert!(response.proof.is_empty());

    // A large account cut by the budget (with its 10 % slack): a proof for
    // the cut, and nothing after it.
    let budget = 20 * slot_len;
    let response =
        snap::serve_storage_ranges(&state, &storage_request(&[1, 2], None, budget as u64));
    assert_eq!(response.slots.len(), 1);
    assert_eq!(response.slots[0].len(), 22);
    assert_eq!(response.proof, proof_of(H256::zero(), Some(hash(22))));

    // A budget a little short of the first account's three small slots: the
    // slack lets them all in whole, unproven, and the second account is not
    // opened.
    let small = StorageSlot {
        hash: hash(1),
        data: bytes(&[1]),
    }
    .encoded_len();
    let response = snap::serve_storage_ranges(
        &state,
        &storage_request(&[2, 1], None, (3 * small - 5) as u64),
    );
    assert_eq!(response.slots.len(), 1);
    assert_eq!(response.slots[0].len(), 3);
    assert!(response.proof.is_empty());

    // An origin bounds the first account only, and is proven.
    let response =
        snap::serve_storage_ranges(&state, &storage_request(&[1, 2], Some(hash(99)), 1 << 20));
    assert_eq!(response.slots.len(), 1);
    assert_eq!(
        response.slots[0].iter().map(|s| s.hash).collect::<Vec<_>>(),
        vec![hash(99), hash(100)]
    );
    assert_eq!(response.proof, proof_of(hash(99), Some(hash(100))));

    // A zero budget still returns one slot.
    let response = snap::serve_storage_ranges(&state, &storage_request(&[1], None, 0));
    assert_eq!(
        response.slots,
        vec![vec![StorageSlot {
            hash: hash(1),
            data: bytes(&[0x42; 100])
        }]]
    );

    // An unknown account anywhere: an empty response.
    let response = snap::serve_storage_ranges(&state, &storage_request(&[2, 500], None, 1 << 20));
    assert_eq!(
        response,
        StorageRanges {
            request_id: 9,
            ..StorageRanges::default()
        }
    );
}

#[test]
fn bytecodes_keep_order_skip_unknown_and_stop_at_the_budget() {
    let mut state = MemorySnapState::new(ROOT);
    let codes: Vec<Bytes> = (0..5u8)
        .map(|i| Bytes::from(vec![0x60 + i; 1000]))
        .collect();
    let hashes: Vec<H256> = codes
        .iter()
        .map(|code| state.insert_code(code.clone()))
        .collect();
    assert_eq!(hashes[0], snap::keccak256(&codes[0]));

    let request = |hashes: Vec<H256>, response_bytes| GetByteCodes {
        request_id: 5,
        hashes,
        response_bytes,
    };
    for handler in [&state as &dyn SnapHandler, &Greedy(state.clone())] {
        let asked = vec![hashes[3], hash(1), hashes[0], hashes[4]];
        let response = snap::serve_bytecodes(handler, &request(asked.clone(), 1 << 20));
        assert_eq!(response.request_id, 5);
        assert_eq!(
            response.codes,
            vec![codes[3].clone(), codes[0].clone(), codes[4].clone()]
        );

        // One and a bit codes' worth: two codes.
        let response = snap::serve_bytecodes(handler, &request(asked.clone(), 1100));
        assert_eq!(response.codes, vec![codes[3].clone(), codes[0].clone()]);
        let response = snap::serve_bytecodes(handler, &request(asked, 0));
        assert_eq!(response.codes, vec![codes[3].clone()]);

        let response = snap::serve_bytecodes(handler, &request(vec![hash(1)], 1 << 20));
        assert!(response.codes.is_empty());
    }
}

#[test]
fn trie_nodes_keep_order_skip_unknown_and_stop_at_the_budget() {
    let mut state = MemorySnapState::new(ROOT);
    state.insert_trie_node(bytes(&[0x00]), None, vec![1; 100]);
    state.insert_trie_node(bytes(&[0x11; 32]), Some(bytes(&[0x00])), vec![2; 100]);
    state.insert_trie_node(bytes(&[0x11; 32]), Some(bytes(&[0x1a])), vec![3; 100]);

    let paths = vec![
        TrieNodePathSet {
            account_path: bytes(&[0x11; 32]),
            storage_paths: vec![bytes(&[0x1a]), bytes(&[0x1b]), bytes(&[0x00])],
        },
        TrieNodePathSet::account(bytes(&[0x00])),
        TrieNodePathSet::account(bytes(&[0x01])),
    ];
    let request = |root_hash, response_bytes| GetTrieNodes {
        request_id: 6,
        root_hash,
        paths: paths.clone(),
        response_bytes,
    };
    for handler in [&state as &dyn SnapHandler, &Greedy(state.clone())] {
        let response = snap::serve_trie_nodes(handler, &request(ROOT, 1 << 20));
        assert_eq!(response.request_id, 6);
        assert_eq!(
            response.nodes,
            vec![bytes(&[3; 100]), bytes(&[2; 100]), bytes(&[1; 100])]
        );
        let response = snap::serve_trie_nodes(handler, &request(ROOT, 150));
        assert_eq!(response.nodes, vec![bytes(&[3; 100]), bytes(&[2; 100])]);
        let response = snap::serve_trie_nodes(handler, &request(hash(1), 1 << 20));
        assert!(response.nodes.is_empty());
    }
}

#[test]
fn serve_answers_requests_and_ignores_responses() {
    let state = storage_state();
    for message in samples() {
        let response = snap::serve(&state, &message);
        if message.is_request() {
            let response = response.expect("a request is answered");
            assert_eq!(response.code(), message.code() + 1);
            assert_eq!(response.request_id(), message.request_id());
        } else {
            assert_eq!(response, None);
        }
    }
}
