//! The commitments a header makes to its block's contents: trie roots over
//! the transactions, receipts and withdrawals, and the ommers hash. A node
//! that fetches bodies or receipts from a peer checks them against the
//! header it already trusts; these functions are that check.
//!
//! Each trie is keyed by the RLP of the item's index, holding the item's
//! consensus encoding (`alloy-trie` builds it).

use alloy_trie::root::ordered_trie_root_encoded;
use primitive_types::H256;

use super::types::{keccak256, BlockBody, BlockHeader, Receipt, Transaction, Withdrawal};

fn root_of(leaves: &[Vec<u8>]) -> H256 {
    H256(ordered_trie_root_encoded(leaves).0)
}

/// The `transactions_root` of a block with these transactions.
pub fn transactions_root(transactions: &[Transaction]) -> H256 {
    let leaves: Vec<Vec<u8>> = transactions
        .iter()
        .map(|tx| tx.canonical_bytes().to_vec())
        .collect();
    root_of(&leaves)
}

/// The `receipts_root` of a block with these receipts.
pub fn receipts_root(receipts: &[Receipt]) -> H256 {
    let leaves: Vec<Vec<u8>> = receipts.iter().map(Receipt::consensus_encoding).collect();
    root_of(&leaves)
}

/// The `withdrawals_root` of a block with these withdrawals.
pub fn withdrawals_root(withdrawals: &[Withdrawal]) -> H256 {
    let leaves: Vec<Vec<u8>> = withdrawals
        .iter()
        .map(|w| rlp::encode(w).to_vec())
        .collect();
    root_of(&leaves)
}

/// Whether `body` is the body `header` commits to: its transactions root,
/// ommers hash and (from Shanghai) withdrawals root all match.
pub fn body_matches(header: &BlockHeader, body: &BlockBody) -> bool {
    let withdrawals_match = match (&header.withdrawals_root, &body.withdrawals) {
        (Some(root), Some(withdrawals)) => withdrawals_root(withdrawals) == *root,
        (None, None) => true,
        _ => false,
    };
    withdrawals_match
        && transactions_root(&body.transactions) == header.transactions_root
        && keccak256(&rlp::encode_list(&body.ommers)) == header.ommers_hash
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eth::types::{ReceiptOutcome, EMPTY_ROOT_HASH};

    #[test]
    fn empty_lists_have_the_empty_root() {
        assert_eq!(transactions_root(&[]), EMPTY_ROOT_HASH);
        assert_eq!(receipts_root(&[]), EMPTY_ROOT_HASH);
        assert_eq!(withdrawals_root(&[]), EMPTY_ROOT_HASH);
    }

    #[test]
    fn a_typed_receipt_is_its_type_then_the_consensus_list() {
        let receipt = Receipt {
            tx_type: 2,
            outcome: ReceiptOutcome::Status(true),
            cumulative_gas_used: 21_000,
            logs: vec![],
        };
        let encoded = receipt.consensus_encoding();
        assert_eq!(encoded[0], 2);
        let list = rlp::Rlp::new(&encoded[1..]);
        assert_eq!(list.item_count(), Ok(4));
        let legacy = Receipt {
            tx_type: 0,
            ..receipt
        };
        assert!(rlp::Rlp::new(&legacy.consensus_encoding()).is_list());
    }
}
